from shufflenet.complexity import OpType, classify_conv, conv_cost, matmul_cost, memory_cost


def test_pointwise_conv_is_g1_formula() -> None:
    h = w = 7
    c1, c2 = 16, 32
    cost = conv_cost((1, c1, h, w), (c2, c1, 1, 1), (1, c2, h, w))
    assert cost.flops == h * w * c1 * c2  # B = hw c1 c2
    assert cost.mac == h * w * (c1 + c2) + c1 * c2  # G1
    assert conv_cost((1, c1, h, w), (c2, c1, 1, 1), (1, c2, h, w), bias=True).mac == cost.mac + c2


def test_group_conv_is_g2_formula() -> None:
    h = w = 5
    c, g = 24, 4
    cost = conv_cost((1, c, h, w), (c, c // g, 1, 1), (1, c, h, w))
    b = h * w * c * c // g
    assert cost.flops == b
    assert cost.mac == h * w * 2 * c + c * c // g  # hw(c1 + c2) + c1 c2 / g


def test_depthwise_and_transposed() -> None:
    cost = conv_cost((2, 8, 10, 10), (8, 1, 3, 3), (2, 8, 5, 5))
    assert cost.flops == 2 * 8 * 5 * 5 * 9
    t = conv_cost((1, 4, 3, 3), (4, 2, 2, 2), (1, 2, 6, 6), transposed=True)
    assert t.flops == 4 * 9 * 2 * 4  # every input element through C_out/g * k*k weights


def test_matmul_and_memory() -> None:
    assert matmul_cost((3, 5), (5, 7), bias_numel=7) == type(matmul_cost((1, 1), (1, 1)))(105, 15 + 35 + 7 + 21)
    assert memory_cost([(2, 3)], [(2, 3)]).mac == 12 and memory_cost([(4,)], [(4,)]).flops == 0


def test_classify_conv() -> None:
    assert classify_conv(32, 32, (3, 3), 32) is OpType.DEPTHWISE
    assert classify_conv(32, 64, (1, 1), 4) is OpType.GROUP_CONV
    assert classify_conv(32, 64, (3, 3), 16) is OpType.GROUP_CONV
    assert classify_conv(32, 64, (1, 1), 1) is OpType.CONV1X1
    assert classify_conv(3, 24, (3, 3), 1) is OpType.DENSE_CONV
