import pytest
import torch
import torchvision

import shufflenet
from helpers import randomise_bn
from shufflenet.models import ShuffleNetV2


@pytest.mark.parametrize("width", ["0_5", "1_0", "1_5", "2_0"])
def test_same_logits_as_torchvision(width: str) -> None:
    tv = getattr(torchvision.models, f"shufflenet_v2_x{width}")().eval()
    randomise_bn(tv)
    ours = shufflenet.from_torchvision(tv).eval()
    assert (
        isinstance(ours, ShuffleNetV2)
        and ours.stage_widths == shufflenet.create_model(f"shufflenet_v2_x{width}").stage_widths
    )
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), tv(x), rtol=0, atol=1e-5)


def test_state_dict_with_other_classes_and_channels_and_name() -> None:
    tv = torchvision.models.shufflenet_v2_x1_0(num_classes=10).eval()
    ours = shufflenet.from_torchvision(tv.state_dict(), name="shufflenet_v2_x1_0").eval()
    assert ours.num_classes == 10
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), tv(x), rtol=0, atol=1e-5)


@pytest.mark.parametrize(
    ("tv_name", "ours"),
    [("mobilenet_v2", "MobileNetV2"), ("squeezenet1_0", "SqueezeNet"), ("squeezenet1_1", "SqueezeNet")],
)
def test_mobilenet_v2_and_squeezenet_same_logits(tv_name: str, ours: str) -> None:
    tv = getattr(torchvision.models, tv_name)().eval()
    randomise_bn(tv)
    model = shufflenet.from_torchvision(tv).eval()
    assert type(model).__name__ == ours
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(model(x), tv(x), rtol=0, atol=1e-5)


def test_squeezenet_version_is_detected() -> None:
    model = shufflenet.from_torchvision(torchvision.models.squeezenet1_1(num_classes=5))
    assert model.stem[0].out_channels == 64 and model.num_classes == 5


def test_mismatching_name_or_unknown_dict_is_a_clear_error() -> None:
    sd = torchvision.models.shufflenet_v2_x0_5().state_dict()
    with pytest.raises(ValueError, match="does not line up with ShuffleNetV2"):
        shufflenet.from_torchvision(sd, name="shufflenet_v2_x1_0")
    with pytest.raises(ValueError, match="shufflenet_v1_g3_x1_0 is not a shufflenet_v2 model"):
        shufflenet.from_torchvision(sd, name="shufflenet_v1_g3_x1_0")
    with pytest.raises(ValueError, match="unrecognised torchvision state dict"):
        shufflenet.from_torchvision(torchvision.models.resnet18().state_dict())
    del sd["fc.bias"]
    with pytest.raises(ValueError, match="has 1 tensors|has \\d+ tensors but ShuffleNetV2 has"):
        shufflenet.from_torchvision(sd)
