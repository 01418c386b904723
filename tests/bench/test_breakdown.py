import pytest

import shufflenet
from shufflenet.bench.breakdown import GROUPS, _ort_group, _torch_group, breakdown


def test_operator_classes() -> None:
    assert _torch_group("aten::mkldnn_convolution", [[1, 58, 28, 28], [58, 1, 3, 3]]) == "depthwise"
    assert _torch_group("aten::mkldnn_convolution", [[1, 58, 28, 28], [58, 58, 1, 1]]) == "conv"
    assert _torch_group("aten::relu_", []) == "elementwise"
    assert _torch_group("aten::cat", []) == "data_movement"
    assert _torch_group("aten::max_pool2d_with_indices", []) == "pooling"
    assert _ort_group("FusedConv", [[1, 24, 56, 56], [24, 1, 3, 3]]) == "depthwise"
    assert _ort_group("Transpose", []) == "data_movement" and _ort_group("Relu", []) == "elementwise"


@pytest.mark.parametrize("runtime", ["eager", "onnxruntime"])
def test_breakdown_of_v2(runtime: str) -> None:
    model = shufflenet.create_model("shufflenet_v2_x0_5", small_input=True)
    b = breakdown(model, runtime=runtime, img_size=32, threads=1, iters=3)
    shares = b.shares()
    assert set(shares) == set(GROUPS) and sum(shares.values()) == pytest.approx(1.0)
    assert b.total_ms > 0 and shares["conv"] > 0 and shares["depthwise"] > 0


def test_breakdown_bad_runtime() -> None:
    with pytest.raises(ValueError, match="breakdown supports"):
        breakdown(shufflenet.create_model("shufflenet_v2_x0_5"), runtime="compile")
