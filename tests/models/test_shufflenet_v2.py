import pytest
import torch

from shufflenet.models import ShuffleNetV2, ShuffleV2Unit, create_model


def test_unit_split_and_downsample() -> None:
    unit = ShuffleV2Unit(116, 116, stride=1)
    x = torch.randn(1, 116, 8, 8)
    assert unit(x).shape == x.shape
    assert unit.branch[0].conv.in_channels == 58  # channel split: half goes through the branch
    assert all(c.conv.groups in (1, 58) for c in unit.branch)  # no group convs (G2)
    down = ShuffleV2Unit(24, 116, stride=2)
    assert down(torch.randn(1, 24, 8, 8)).shape == (1, 116, 4, 4)


def test_identity_half_passes_unchanged() -> None:
    unit = ShuffleV2Unit(8, 8, stride=1).eval()
    x = torch.randn(1, 8, 4, 4)
    out = unit(x)
    # after the interleave, even channels are the untouched first half
    assert torch.equal(out[:, 0::2], x[:, :4])


@pytest.mark.parametrize("opts", [{"se": True}, {"residual": True}, {"extra_dw": True}])
def test_options(opts: dict) -> None:
    model = create_model("shufflenet_v2_x0_5", **opts)
    assert model(torch.randn(2, 3, 64, 64)).shape == (2, 1000)


def test_residual_and_extra_dw_change_structure() -> None:
    plain = create_model("shufflenet_v2_x0_5")
    star = create_model("shufflenet_v2_x0_5", extra_dw=True)
    assert len(star.stages[0][1].branch) == len(plain.stages[0][1].branch) + 1
    assert create_model("shufflenet_v2_x0_5", residual=True).stages[0][1].residual


def test_bad_configuration() -> None:
    with pytest.raises(ValueError, match="width must be one of"):
        ShuffleNetV2(0.75)
    with pytest.raises(ValueError, match="stage_widths needs one width per stage plus Conv5"):
        ShuffleNetV2(stage_widths=(48, 96, 192))
    with pytest.raises(ValueError, match="even number of output channels"):
        ShuffleV2Unit(24, 49, stride=2)
