"""SqueezeNet 1.0 and 1.1 (Iandola et al., 2016): Fire modules, late down-sampling."""

from __future__ import annotations

from functools import partial

import torch
from torch import Tensor, nn

from shufflenet.models._base import Classifier
from shufflenet.models._registry import PaperReference, register_model

__all__ = ["Fire", "SqueezeNet"]

#: version -> (stem conv (channels, kernel), stages of Fire (squeeze, expand) pairs).
#: Every stage opens with a 3x3/2 max-pool; the papers' table in seed 004.
VERSIONS: dict[str, tuple[tuple[int, int], tuple[tuple[tuple[int, int], ...], ...]]] = {
    "1_0": ((96, 7), (((16, 64), (16, 64), (32, 128)), ((32, 128), (48, 192), (48, 192), (64, 256)), ((64, 256),))),
    "1_1": ((64, 3), (((16, 64), (16, 64)), ((32, 128), (32, 128)), ((48, 192), (48, 192), (64, 256), (64, 256)))),
}


class Fire(nn.Module):
    """1x1 squeeze -> ReLU -> concat(1x1 expand, 3x3 expand) -> ReLU (biases, no BN)."""

    def __init__(self, in_chs: int, squeeze: int, expand: int) -> None:
        super().__init__()
        self.squeeze = nn.Conv2d(in_chs, squeeze, 1)
        self.expand1x1 = nn.Conv2d(squeeze, expand, 1)
        self.expand3x3 = nn.Conv2d(squeeze, expand, 3, padding=1)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        x = self.act(self.squeeze(x))
        return self.act(torch.cat((self.expand1x1(x), self.expand3x3(x)), 1))


class SqueezeNet(Classifier):
    """SqueezeNet; its classifier ``fc`` is a 1x1 conv followed by ReLU and global pooling."""

    def __init__(
        self,
        version: str = "1_0",
        *,
        num_classes: int = 1000,
        in_chans: int = 3,
        small_input: bool = False,
        drop_rate: float = 0.5,
    ) -> None:
        super().__init__(in_chans, num_classes)
        if version not in VERSIONS:
            raise ValueError(f"SqueezeNet version must be one of {sorted(VERSIONS)}, got {version!r}")
        (stem_chs, kernel), stages = VERSIONS[version]
        self.stem = nn.Sequential(
            nn.Conv2d(in_chans, stem_chs, kernel, stride=1 if small_input else 2), nn.ReLU(inplace=True)
        )
        in_chs, blocks = stem_chs, []
        for fires in stages:
            stage: list[nn.Module] = [nn.MaxPool2d(3, 2, ceil_mode=True)]
            for squeeze, expand in fires:
                stage.append(Fire(in_chs, squeeze, expand))
                in_chs = 2 * expand
            blocks.append(nn.Sequential(*stage))
        self.stages = nn.Sequential(*blocks)
        self.head_conv = nn.Identity()
        self.num_features = in_chs
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(drop_rate)
        self.reset_classifier(num_classes)
        self._init_weights()

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        x = self.drop(x)
        if not pre_logits:
            x = self.fc(x)
        return torch.flatten(self.global_pool(x), 1)

    def reset_classifier(self, num_classes: int) -> None:
        if num_classes < 0:
            raise ValueError(f"num_classes must be >= 0, got {num_classes}")
        self.num_classes = num_classes
        self.fc = (
            nn.Sequential(nn.Conv2d(self.num_features, num_classes, 1), nn.ReLU(inplace=True))
            if num_classes > 0
            else nn.Identity()
        )


REFERENCES = {"1_0": PaperReference("SqueezeNet; SPEC §3", params=1_248_424, top1=57.5)}

for _version in VERSIONS:
    register_model(
        f"squeezenet{_version}",
        partial(SqueezeNet, _version),
        family="squeezenet",
        reference=REFERENCES.get(_version),
    )
