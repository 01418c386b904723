"""features_only backbones: levels, strides and channels as feature_info says, for every family."""

from __future__ import annotations

import pytest
import torch

from shufflenet import create_model

FAMILIES = [
    ("shufflenet_v1_g3_x0_5", {}),
    ("shufflenet_v1_g8_x0_25", {}),
    ("shufflenet_v2_x0_5", {}),
    ("shufflenet_v2_x0_5", {"extra_dw": True}),  # v2*, the detection variant
    ("shufflenet_v2_x1_0", {"se": True}),
    ("mobilenet_v1_x0_25", {}),
    ("mobilenet_v2_x0_5", {}),
    ("squeezenet1_0", {}),
    ("squeezenet1_1", {}),
    ("skeleton_xception", {}),
]


@pytest.mark.parametrize("name,options", FAMILIES)
@pytest.mark.parametrize("side", [96, 100])
def test_levels_match_feature_info(name: str, options: dict, side: int) -> None:
    backbone = create_model(name, features_only=True, **options).eval()
    info = backbone.feature_info
    assert [f.reduction for f in info] == sorted({f.reduction for f in info})  # one level per stride, shallow first
    with torch.no_grad():
        feats = backbone(torch.randn(2, 3, side, side))
    assert len(feats) == len(info)
    for f, level in zip(feats, info):
        assert f.shape[:2] == (2, level.num_chs)
        assert abs(f.shape[-1] - side / level.reduction) <= 3  # padding rounds a side up or down a little


def test_backbone_carries_the_classifiers_weights_and_picks_levels() -> None:
    model = create_model("shufflenet_v2_x0_5", pretrained="fashion-mnist").eval()
    backbone = create_model("shufflenet_v2_x0_5", pretrained="fashion-mnist", features_only=True,
                            out_indices=(-2, -1)).eval()  # fmt: skip
    assert [(f.num_chs, f.reduction, f.module) for f in backbone.feature_info] == [(96, 4, "stages.1"),
                                                                                  (192, 8, "stages.2")]  # fmt: skip
    x = torch.randn(1, 1, 28, 28)
    with torch.no_grad():
        deepest = model.stages(model.stem(x))
        assert torch.equal(backbone(x)[-1], deepest)
    assert set(backbone.state_dict()) <= set(model.state_dict()) and backbone.pretrained_cfg["tag"] == "fashion-mnist"


def test_bad_backbone_requests() -> None:
    with pytest.raises(ValueError, match=r"has 4 levels \(strides 4, 8, 16, 32\)"):
        create_model("shufflenet_v2_x0_5", features_only=True, out_indices=(5,))
    with pytest.raises(ValueError, match="distinct levels, shallow to deep"):
        create_model("shufflenet_v2_x0_5", features_only=True, out_indices=(2, 1))
    with pytest.raises(ValueError, match="give features_only=True"):
        create_model("shufflenet_v2_x0_5", out_indices=(1,))
    with pytest.raises(ValueError, match="needs a network built of stem and stages"):
        create_model("resnet18", features_only=True)
