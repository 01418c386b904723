"""The V1 paper's Table 4: other units on ShuffleNet's skeleton at equal FLOPs."""

import pytest
import torch

from shufflenet import create_model
from shufflenet.models.skeleton import UNITS, DenseUnit, fit_stage_widths, skeleton_flops


@pytest.mark.parametrize("unit", list(UNITS))
@pytest.mark.parametrize("budget", [pytest.param(38e6, marks=pytest.mark.slow), 140e6])  # 5 s each: 38M in CI
def test_fitted_widths_meet_budget_within_3_percent(unit: str, budget: float) -> None:
    widths = fit_stage_widths(unit, budget)
    assert widths[0] < widths[1] < widths[2]
    assert abs(skeleton_flops(unit, widths) - budget) <= 0.03 * budget


@pytest.mark.parametrize("unit", list(UNITS))
def test_default_widths_are_the_140m_fit(unit: str) -> None:
    """The widths kept as data are what fitting gives today (fails if either drifts)."""
    assert UNITS[unit].default_widths == fit_stage_widths(unit, 140e6)
    assert create_model(f"skeleton_{unit}").stage_widths == UNITS[unit].default_widths


@pytest.mark.slow  # four 38M fits, 18 s on a 2-core AVX2 host; CI runs it
def test_stage4_widths_near_paper_at_38m() -> None:
    """Paper: 50 / 192 / 192 / 288 / 576. Ours differ in stem and rounding, not in kind:
    the cheaper the unit, the wider the network it affords at the same budget."""
    ours = {u: fit_stage_widths(u, 38e6)[2] for u in ("vgg", "resnet", "resnext", "xception")}
    assert ours["vgg"] < ours["resnet"] <= ours["xception"] and ours["resnext"] <= ours["xception"]
    for unit, width in ours.items():
        assert abs(width - UNITS[unit].paper_stage4_at_38m) <= 0.15 * UNITS[unit].paper_stage4_at_38m


def test_flops_budget_through_create_model() -> None:
    model = create_model("skeleton_resnet", flops=38e6)
    assert model.stage_widths == fit_stage_widths("resnet", 38e6)
    g8 = create_model("skeleton_shufflenet", flops=38e6, groups=8)
    assert all(w % 32 == 0 for w in g8.stage_widths)


def test_unit_structures() -> None:
    resnext = create_model("skeleton_resnext").stages[1][1]
    assert resnext.conv3x3.conv.groups == 16 and resnext.conv3x3.conv.in_channels % 16 == 0
    resnet = create_model("skeleton_resnet").stages[1][1]
    assert resnet.conv3x3.conv.groups == 1 and resnet.conv1.conv.out_channels == resnet.conv2.conv.out_channels // 4
    xception = create_model("skeleton_xception").stages[1][1]
    assert xception.conv1.conv.groups == 1 and isinstance(xception.shuffle, torch.nn.Identity)
    vgg = create_model("skeleton_vgg").stages[0][0]
    assert [m.conv.kernel_size for m in vgg] == [(3, 3), (3, 3)]


def test_dense_unit_reuses_features() -> None:
    unit = DenseUnit(16, 16, 1).eval()
    x = torch.randn(1, 16, 4, 4)
    out = unit(x)
    assert out.shape == x.shape and torch.equal(out[:, :12], x[:, 4:])  # oldest 4 dropped, rest kept


def test_bad_budget() -> None:
    with pytest.raises(ValueError, match="unknown unit"):
        fit_stage_widths("inception", 38e6)
    with pytest.raises(ValueError, match="must be > 0"):
        fit_stage_widths("vgg", 0)
