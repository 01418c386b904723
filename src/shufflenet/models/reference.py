"""torchvision's large reference networks, reachable through the same registry.

The seeds' resource tables measure ShuffleNet against AlexNet, VGG, GoogLeNet,
ResNet and DenseNet. These wrap torchvision's implementations (randomly
initialised: no weights can be downloaded here) behind the common face, so the
analyser, the CLI and the benchmarks treat them like any other model.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from functools import partial
from typing import Any

from torch import Tensor, nn

from shufflenet.models._base import Classifier
from shufflenet.models._registry import PaperReference, register_model

__all__ = ["TorchvisionClassifier"]


def _replace(root: nn.Module, dotted: str, new: nn.Module) -> None:
    parent_name, _, child = dotted.rpartition(".")
    setattr(root.get_submodule(parent_name) if parent_name else root, child, new)


class TorchvisionClassifier(Classifier):
    """A torchvision classifier split at its last linear layer.

    ``forward_features`` returns the pooled pre-logit vector (torchvision's
    networks pool inside ``forward``); ``fc`` is their final linear layer.
    """

    def __init__(
        self,
        builder: Callable[..., nn.Module],
        *,
        num_classes: int = 1000,
        in_chans: int = 3,
        small_input: bool = False,
    ) -> None:
        super().__init__(in_chans, num_classes)
        if small_input:
            raise ValueError(
                "small_input is not available for torchvision reference models (their fixed strides "
                "need inputs of about 64 px or more); use a ShuffleNet, MobileNet or SqueezeNet"
            )
        net = builder()
        if in_chans != 3:
            name, first = next((n, m) for n, m in net.named_modules() if isinstance(m, nn.Conv2d))
            sizes: dict[str, Any] = {"kernel_size": first.kernel_size, "stride": first.stride, "padding": first.padding}
            _replace(net, name, nn.Conv2d(in_chans, first.out_channels, **sizes, bias=first.bias is not None))
        fc_name, fc = [(n, m) for n, m in net.named_modules() if isinstance(m, nn.Linear)][-1]
        _replace(net, fc_name, nn.Identity())
        self.body = net
        self.num_features = fc.in_features
        self.reset_classifier(num_classes)

    def forward_features(self, x: Tensor) -> Tensor:
        self.check_input(x)
        return self.body(x)

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        return x if pre_logits else self.fc(x)


# The seeds' resource table (seed 004: FLOPs to one significant figure) and the
# papers' top-1 figures. torchvision's ResNet-50 is "v1.5" (stride on the 3x3
# conv): 4.1 GFLOPs against the 3.8G of the original that the V2 paper quotes.
# torchvision is imported when a model is built, not when the registry loads
# (it costs a second of start-up).
_MODELS: dict[str, tuple[dict[str, object], PaperReference]] = {
    "alexnet": ({}, PaperReference("V1 Table 8; seed 004", flops=720e6, top1=57.2)),
    "vgg16": ({}, PaperReference("seed 004 resource table", flops=16e9)),
    "vgg19": ({}, PaperReference("seed 004 resource table", flops=20e9)),
    "googlenet": ({"aux_logits": False, "init_weights": True}, PaperReference("seed 004 resource table", flops=2e9)),
    "resnet18": ({}, PaperReference("seed 004 resource table", flops=2e9)),
    "resnet34": ({}, PaperReference("seed 004 resource table", flops=4e9)),
    "resnet50": ({}, PaperReference("V2 Table 9 (ResNet-50 v1)", flops=3.8e9, top1=76.0)),
    "densenet121": ({}, PaperReference("seed 004 resource table", flops=3e9)),
}


def _torchvision_builder(name: str, kwargs: dict[str, object]) -> Callable[..., nn.Module]:
    """The registry's builder for torchvision's ``name``: the network built on call, then wrapped."""

    def build() -> nn.Module:
        return getattr(importlib.import_module("torchvision.models"), name)(**kwargs)

    return partial(TorchvisionClassifier, build)


for _name, (_kwargs, _ref) in _MODELS.items():
    register_model(_name, _torchvision_builder(_name, _kwargs), family="reference", reference=_ref)
