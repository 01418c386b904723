import pytest
import torch

from shufflenet.layers import ConvBnAct, SqueezeExcite, make_divisible, pw_group_conv


def test_conv_bn_act_layout_and_shape() -> None:
    m = ConvBnAct(8, 16, 3, stride=2, groups=2)
    assert [n for n, _ in m.named_children()] == ["conv", "bn", "act"]
    assert m.conv.bias is None and m.out_chs == 16
    assert m(torch.randn(2, 8, 9, 9)).shape == (2, 16, 5, 5)
    assert [n for n, _ in ConvBnAct(4, 4, act=None).named_children()] == ["conv", "bn"]


@pytest.mark.parametrize(("cin", "cout", "g", "what"), [(10, 12, 3, "input channels \\(10\\)"), (12, 10, 3, "output")])
def test_group_divisibility_is_a_clear_error(cin: int, cout: int, g: int, what: str) -> None:
    with pytest.raises(ValueError, match=f"{what}.*not divisible by groups"):
        pw_group_conv(cin, cout, g)


def test_squeeze_excite_gates_channels() -> None:
    se = SqueezeExcite(32)
    x = torch.randn(2, 32, 4, 4)
    y = se(x)
    assert y.shape == x.shape
    ratio = y / x
    # one gate per (sample, channel), in (0, 1), shared over space
    assert torch.allclose(ratio, ratio[:, :, :1, :1].expand_as(ratio), atol=1e-5)
    assert ((ratio > 0) & (ratio < 1)).all()


def test_make_divisible() -> None:
    assert make_divisible(29) == 32 and make_divisible(3) == 8 and make_divisible(100, 8) == 104


def test_depthwise_stays_float32_under_cpu_autocast() -> None:
    # oneDNN's bf16 depthwise backward is slow on CPU: those convs opt out of autocast, pointwise ones do not
    torch.manual_seed(0)
    dw, pw = ConvBnAct(8, 8, 3, groups=8, act=None).eval(), ConvBnAct(8, 16).eval()
    x = torch.randn(2, 8, 6, 6)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y_dw, y_pw = dw(x.bfloat16()), pw(x)
    assert y_dw.dtype == torch.float32 and y_pw.dtype == torch.bfloat16
    torch.testing.assert_close(y_dw, dw(x.bfloat16().float()))  # computed in float32 from the bf16 input
