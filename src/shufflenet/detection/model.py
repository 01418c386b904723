"""Detectors on our backbones, built from torchvision's detection models.

A backbone's levels (``features_only``) feed a feature pyramid (torchvision's FPN) whose maps a
torchvision head reads: FCOS (anchor-free, one stage), RetinaNet (anchors, one stage) or Faster
R-CNN (two stages, as in the V1 paper). Which suits a small backbone is measured, not assumed
(``benchmarks/detection.py``).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from torch import Tensor, nn

from shufflenet.models import FeatureExtractor, create_model

__all__ = ["DETECTORS", "OUT_INDICES", "FpnBackbone", "create_detector"]

DETECTORS = ("fcos", "retinanet", "fasterrcnn")

#: the backbone levels a detector reads by default: the three deepest (strides 8, 16 and 32 with the standard stem)
OUT_INDICES = (-3, -2, -1)


class FpnBackbone(nn.Module):
    """Our backbone's levels through a feature pyramid: what torchvision's detectors take (an
    ``out_channels`` attribute and an ordered dict of maps, finest first)."""

    def __init__(self, body: FeatureExtractor, out_channels: int, extra: str) -> None:
        from torchvision.ops.feature_pyramid_network import FeaturePyramidNetwork, LastLevelMaxPool, LastLevelP6P7

        super().__init__()
        self.body = body
        blocks = LastLevelP6P7(out_channels, out_channels) if extra == "p6p7" else LastLevelMaxPool()
        self.fpn = FeaturePyramidNetwork([f.num_chs for f in body.feature_info], out_channels, extra_blocks=blocks)
        self.out_channels = out_channels

    def forward(self, x: Tensor) -> OrderedDict[str, Tensor]:
        feats = self.body(x)
        return self.fpn(OrderedDict((str(i), f) for i, f in enumerate(feats)))


def create_detector(
    backbone: str | FeatureExtractor,
    num_classes: int,
    *,
    kind: str = "fcos",
    img_size: int = 320,
    fpn_channels: int = 64,
    out_indices: Sequence[int] = OUT_INDICES,
    pretrained: str | None = None,
    mean: Sequence[float] = (0.485, 0.456, 0.406),
    std: Sequence[float] = (0.229, 0.224, 0.225),
    **options: object,
) -> nn.Module:
    """A ``kind`` detector of ``num_classes`` object classes (background not counted) on ``backbone``
    (a registered name, built with ``options`` and ``pretrained`` weights, or a ready backbone).

    Images are resized so their longer side is ``img_size``; ``mean``/``std`` normalise them inside
    the model (torchvision's transform), so it takes images in [0, 1].
    """
    if kind not in DETECTORS:
        raise ValueError(f"unknown detector {kind!r}; choose from {', '.join(DETECTORS)}")
    if kind == "fcos" and fpn_channels % 32:
        raise ValueError(f"fpn_channels {fpn_channels}: FCOS's head normalises in 32 groups; use a multiple of 32")
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1 (object classes, background not counted), got {num_classes}")
    if img_size < 32:
        raise ValueError(f"img_size must be >= 32 (the backbone's deepest stride), got {img_size}")
    if isinstance(backbone, str):
        body = create_model(backbone, features_only=True, out_indices=out_indices, pretrained=pretrained, **options)  # type: ignore[arg-type]
    else:
        body = backbone
    if not isinstance(body, FeatureExtractor):
        raise TypeError(f"backbone must be a registered model's name or a FeatureExtractor (create_model(name, "
                        f"features_only=True)), got {type(body).__name__}")  # fmt: skip
    if body.in_chans != 3:
        raise ValueError(f"the backbone takes {body.in_chans}-channel images but a detector reads RGB ones; give it "
                         "weights trained on colour images (e.g. imagenet), or none")  # fmt: skip
    common = {"min_size": img_size, "max_size": img_size, "image_mean": list(mean), "image_std": list(std)}
    levels = len(body.feature_info)
    if kind == "fasterrcnn":
        from torchvision.models.detection import FasterRCNN
        from torchvision.models.detection.anchor_utils import AnchorGenerator
        from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
        from torchvision.ops import MultiScaleRoIAlign

        fpn = FpnBackbone(body, fpn_channels, "pool")
        sizes = tuple((16 * 2**i,) for i in range(levels + 1))  # one size per map, the pool level included
        anchors = AnchorGenerator(sizes, ((0.5, 1.0, 2.0),) * len(sizes))
        pooler = MultiScaleRoIAlign([str(i) for i in range(levels)], output_size=7, sampling_ratio=2)
        # sized for a small backbone: a 256-wide box head (torchvision's is 1024 wide, 3.4M weights on
        # 64 FPN channels) and the proposal budget of torchvision's mobile 320 px model
        return FasterRCNN(fpn, box_roi_pool=pooler, rpn_anchor_generator=anchors,
                          box_head=TwoMLPHead(fpn_channels * 7 * 7, 256), box_predictor=FastRCNNPredictor(256, num_classes + 1),
                          rpn_pre_nms_top_n_train=600, rpn_post_nms_top_n_train=300, rpn_pre_nms_top_n_test=150,
                          rpn_post_nms_top_n_test=150, rpn_score_thresh=0.05, box_batch_size_per_image=128,
                          **common)  # fmt: skip
    fpn = FpnBackbone(body, fpn_channels, "p6p7")
    first = body.feature_info[0].reduction
    sizes = tuple((first * 2**i,) for i in range(levels + 2))  # P6, P7 double the stride each
    if kind == "fcos":
        from torchvision.models.detection import FCOS
        from torchvision.models.detection.anchor_utils import AnchorGenerator

        return FCOS(fpn, num_classes + 1, anchor_generator=AnchorGenerator(sizes, ((1.0,),) * len(sizes)), **common)
    from torchvision.models.detection import RetinaNet
    from torchvision.models.detection.anchor_utils import AnchorGenerator

    scales = tuple(tuple(s[0] * 2 ** (k / 3) * 4 for k in range(3)) for s in sizes)  # RetinaNet's 3 scales per level
    anchors = AnchorGenerator(scales, ((0.5, 1.0, 2.0),) * len(sizes))
    return RetinaNet(fpn, num_classes + 1, anchor_generator=anchors, **common)
