"""MobileNet V1/V2 and SqueezeNet against the figures the seeds print."""

import pytest
import torch

from helpers import meta_report
from shufflenet import create_model
from shufflenet.models import MobileNetV1, MobileNetV2


@pytest.mark.parametrize(
    ("alpha", "mflops", "mparams"), [("1_0", 569, 4.2), ("0_75", 325, 2.6), ("0_5", 149, 1.3), ("0_25", 41, 0.5)]
)
def test_mobilenet_v1_width(alpha: str, mflops: float, mparams: float) -> None:
    r = meta_report(f"mobilenet_v1_x{alpha}")
    assert abs(r.flops - mflops * 1e6) <= 0.02 * mflops * 1e6
    assert abs(r.params - mparams * 1e6) <= max(0.02 * mparams * 1e6, 0.05e6)  # printed to 0.1M


@pytest.mark.parametrize(("size", "mflops"), [(192, 418), (160, 290), (128, 186)])
def test_mobilenet_v1_resolution(size: int, mflops: float) -> None:
    assert abs(meta_report("mobilenet_v1_x1_0", size).flops - mflops * 1e6) <= 0.02 * mflops * 1e6


def test_mobilenet_v1_any_alpha() -> None:
    with torch.device("meta"):
        f = [meta_report(MobileNetV1(a)).flops for a in (0.3, 0.6, 0.9)]
    assert f[0] < f[1] < f[2]
    with pytest.raises(ValueError, match="alpha must be > 0"):
        MobileNetV1(0)


def test_mobilenet_v2() -> None:
    r = meta_report("mobilenet_v2_x1_0")
    assert abs(r.flops - 300e6) <= 0.02 * 300e6
    assert 3.4e6 <= r.params <= 3.55e6  # the seeds say 3.4M, torchvision's count is 3.50M
    block = create_model("mobilenet_v2_x1_0").stages[1]
    assert block.conv[0].conv.out_channels == 16 * 6  # expansion t = 6
    assert isinstance(block.conv[0].act, torch.nn.ReLU6) and not hasattr(block.conv[-1], "act")  # linear bottleneck
    with pytest.raises(ValueError, match="alpha must be > 0"):
        MobileNetV2(-1)


def test_squeezenet_params() -> None:
    assert meta_report("squeezenet1_0").params == 1_248_424
    assert meta_report("squeezenet1_1").params < 1_248_424
