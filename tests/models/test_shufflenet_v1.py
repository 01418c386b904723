import pytest
import torch

from shufflenet.layers import ChannelShuffle
from shufflenet.models import ShuffleNetV1, ShuffleV1Unit, create_model
from shufflenet.models.shufflenet_v1 import v1_stage_widths, v1_stem_chs


def test_table1_widths_at_1x() -> None:
    assert v1_stage_widths(3, 1.0) == (240, 480, 960)
    assert v1_stage_widths(8, 1.0) == (384, 768, 1536)


@pytest.mark.parametrize("g", [1, 2, 3, 4, 8])
@pytest.mark.parametrize("s", [0.25, 0.5, 0.75, 1.0, 1.5, 2.0])
def test_every_width_and_group_is_valid(g: int, s: float) -> None:
    widths = v1_stage_widths(g, s)
    stem = v1_stem_chs(g, s)
    assert all(w % (4 * g) == 0 for w in widths) and stem % g == 0
    ShuffleNetV1(g, s)  # builds: every group conv divides its channels


def test_unit_structure() -> None:
    unit = ShuffleV1Unit(240, 240, stride=1, groups=3)
    assert unit.conv1.conv.groups == 3 and unit.conv2.conv.groups == 3
    assert unit.conv3x3.conv.groups == unit.conv3x3.conv.in_channels == 60  # bottleneck = out / 4
    assert not hasattr(unit.conv3x3, "act")  # no ReLU after the depthwise conv
    assert isinstance(unit.shuffle, ChannelShuffle)
    down = ShuffleV1Unit(240, 480, stride=2, groups=3)
    assert down.conv2.conv.out_channels == 240  # out - in, concatenated with the pooled shortcut
    assert down(torch.randn(1, 240, 8, 8)).shape == (1, 480, 4, 4)


def test_first_unit_of_stage2_is_not_grouped() -> None:
    model = create_model("shufflenet_v1_g3_x1_0")
    first = model.stages[0][0]
    assert first.conv1.conv.groups == 1 and first.conv2.conv.groups == 3
    assert model.stages[0][1].conv1.conv.groups == 3


def test_options_shuffle_shallow_se() -> None:
    no_shuffle = create_model("shufflenet_v1_g8_x0_5", shuffle=False)
    assert not any(isinstance(m, ChannelShuffle) for m in no_shuffle.modules())
    shallow = create_model("shufflenet_v1_g3_x0_5", shallow=True)
    assert [len(s) for s in shallow.stages] == [2, 4, 2]
    se = create_model("shufflenet_v1_g3_x1_0", se=True)
    assert se(torch.randn(1, 3, 64, 64)).shape == (1, 1000)


def test_bad_configuration() -> None:
    with pytest.raises(ValueError, match="groups must be one of"):
        ShuffleNetV1(groups=5)
    with pytest.raises(ValueError, match="not divisible by groups"):
        ShuffleNetV1(groups=3, stage_widths=(100, 200, 400))
    with pytest.raises(ValueError, match="width multiplier must be > 0"):
        ShuffleNetV1(groups=3, width=0)
