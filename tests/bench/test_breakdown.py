import pytest

import shufflenet
from shufflenet.bench.breakdown import BREAKDOWN_RUNTIMES, GROUPS, _ort_group, _ov_group, _torch_group, breakdown


def test_operator_classes() -> None:
    assert _torch_group("aten::mkldnn_convolution", [[1, 58, 28, 28], [58, 1, 3, 3]]) == "depthwise"
    assert _torch_group("aten::mkldnn_convolution", [[1, 58, 28, 28], [58, 58, 1, 1]]) == "conv"
    assert _torch_group("aten::relu_", []) == "elementwise"
    assert _torch_group("aten::cat", []) == "data_movement"
    assert _torch_group("aten::max_pool2d_with_indices", []) == "pooling"
    assert _ort_group("FusedConv", [[1, 24, 56, 56], [24, 1, 3, 3]]) == "depthwise"
    assert _ort_group("Transpose", []) == "data_movement" and _ort_group("Relu", []) == "elementwise"
    assert _ov_group("GroupConvolution", "brgconv_avx512_dw_f32") == "depthwise"
    assert _ov_group("GroupConvolution", "brgconv_avx512_1x1_f32") == "conv"  # V1's grouped 1x1 conv
    assert _ov_group("ShuffleChannels", "jit_avx512_f32") == "data_movement"
    assert _ov_group("Subgraph", "jit_avx512_f32") == "elementwise" and _ov_group("Roll", "ref") == "other"


@pytest.mark.parametrize("runtime", BREAKDOWN_RUNTIMES)
def test_breakdown_of_v2(runtime: str) -> None:
    if runtime.startswith("openvino"):
        pytest.importorskip("openvino", reason="OpenVINO is not installed (make setup installs it)")
    model = shufflenet.create_model("shufflenet_v2_x0_5", small_input=True)
    b = breakdown(model, runtime=runtime, img_size=32, threads=1, iters=3)
    shares = b.shares()
    assert b.runtime == runtime
    assert set(shares) == set(GROUPS) and sum(shares.values()) == pytest.approx(1.0)
    assert b.total_ms > 0 and shares["conv"] > 0 and shares["depthwise"] > 0
    if runtime in ("onnxruntime", "openvino"):  # the standard graphs shuffle: their profilers see it
        assert shares["data_movement"] > 0


def test_breakdown_bad_runtime() -> None:
    with pytest.raises(ValueError, match="breakdown reads the profilers of"):
        breakdown(shufflenet.create_model("shufflenet_v2_x0_5"), runtime="compile")
