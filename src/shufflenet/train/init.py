"""Start a run from trained weights (``train --init``): ImageNet, shipped tags, checkpoints, files.

Fine-tuning keeps what the source network learnt and how it sees images: its architecture (options,
stem), its input channels, side and normalisation become the run's defaults, the classifier is
reset when the class count differs, and ``freeze_stages`` / ``head_lr_mult`` say how much of the
network moves. Everything is resolved into the run's config before the first step, so a resumed
run needs the source no more.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from torch import nn

from shufflenet.models import create_model, get_entry
from shufflenet.models._pretrained import pretrained_path, read_metadata
from shufflenet.models._registry import load_weights_file, plain_arch
from shufflenet.train.checkpoint import load_checkpoint, model_from_checkpoint
from shufflenet.train.config import TrainConfig

__all__ = ["InitSource", "freeze_stages", "load_init", "resolve_init", "source_arch"]

InitSource = tuple[nn.Module, dict[str, Any]]  # the network (pretrained_cfg attached) and its architecture


def _kind(ref: str, flag: str = "--init") -> str:
    path = Path(ref)
    if ref == "imagenet":
        return "imagenet"
    if path.is_file():
        return {".pt": "checkpoint", ".safetensors": "weights"}.get(path.suffix, "torchvision")
    if ":" in ref and not any(c in ref for c in "/\\"):
        return "tag"
    raise FileNotFoundError(f"{flag} {ref}: not a file, MODEL:TAG or 'imagenet'; give a training checkpoint (.pt), "
                            "a weights file (.safetensors), a torchvision state dict (.pth), MODEL:TAG "
                            "(`shufflenet models --pretrained`) or imagenet")  # fmt: skip


def _plain_arch(model: str, net: nn.Module) -> dict[str, Any]:
    return plain_arch(model, int(net.num_classes), int(net.in_chans))  # type: ignore[arg-type]


def source_arch(ref: str, model: str, *, flag: str = "--init") -> dict[str, Any]:
    """The architecture ``ref`` holds, read without loading its weights where it can be (``model``
    is the network ImageNet or torchvision-file weights are for; ``flag``: the option errors name)."""
    kind = _kind(ref, flag)
    if kind == "checkpoint":
        return dict(load_checkpoint(ref)["arch"])
    if kind == "tag" and ref.endswith(":imagenet"):
        model = ref.split(":", 1)[0]
    elif kind in ("weights", "tag"):
        name, _, tag = ref.partition(":")
        path = pretrained_path(name, tag) if kind == "tag" else Path(ref)
        return dict(read_metadata(path)["arch"])
    get_entry(model)
    return plain_arch(model)


def load_init(ref: str, model: str, *, flag: str = "--init") -> InitSource:
    """The network ``ref`` names, with its architecture; ``model`` is used for ImageNet and
    torchvision-file weights, which do not say which network they are for (``flag``: the option errors name)."""
    kind = _kind(ref, flag)
    if kind == "checkpoint":
        state = load_checkpoint(ref)
        return model_from_checkpoint(state), dict(state["arch"])
    if kind == "weights":
        return load_weights_file(ref), source_arch(ref, model)
    if kind == "tag":
        name, tag = ref.split(":", 1)
        net = create_model(name, pretrained=tag)
        return net, source_arch(ref, model) if tag != "imagenet" else _plain_arch(name, net)
    net = create_model(model, pretrained=ref)  # "imagenet" or a torchvision state-dict file
    return net, _plain_arch(model, net)


def resolve_init(cfg: TrainConfig, arch: dict[str, Any], pretrained_cfg: dict[str, Any]) -> TrainConfig:
    """``cfg`` with the source's architecture and, where the run does not set them, its input
    channels, side and normalisation; a contradiction is a ValueError naming both."""
    if cfg.model != arch["model"]:
        raise ValueError(f"--init {cfg.init} is a {arch['model']}, but --model is {cfg.model}; leave --model out "
                         "or give the same model")  # fmt: skip
    if cfg.model_options and cfg.model_options != arch.get("options", {}):
        raise ValueError(f"--model-options {cfg.model_options} differ from those --init {cfg.init} was trained "
                         f"with ({arch.get('options', {})}); leave --model-options out")  # fmt: skip
    chans, side = int(pretrained_cfg["input_size"][0]), int(pretrained_cfg["input_size"][-1])
    changes: dict[str, Any] = {"model_options": dict(arch.get("options", {}))}
    if cfg.dataset == "imagefolder":
        changes["in_chans"] = cfg.in_chans or chans
        changes["img_size"] = cfg.img_size or side
        chans = changes["in_chans"]
    if chans != arch["in_chans"]:
        raise ValueError(f"--init {cfg.init} takes {arch['in_chans']}-channel images but the data has {chans} "
                         f"(Fashion-MNIST is grey); use --dataset imagefolder with --in-chans {arch['in_chans']}")  # fmt: skip
    if cfg.mean is None:
        changes.update(mean=tuple(pretrained_cfg["mean"]), std=tuple(pretrained_cfg["std"]))
    return replace(cfg, **changes)


def freeze_stages(model: nn.Module, n: int) -> list[nn.Module]:
    """Stop the stem and the first ``n`` stages learning (fine-tuning a small set); the frozen
    modules, which the loop keeps in eval mode so their BatchNorm statistics stay the source's."""
    stages = getattr(model, "stages", None)
    if not isinstance(stages, nn.Sequential) or not hasattr(model, "stem"):
        raise ValueError(f"--freeze-stages needs a network built of stem and stages (ShuffleNet, MobileNet, "
                         f"SqueezeNet); {type(model).__name__} is not")  # fmt: skip
    if n > len(stages):
        raise ValueError(f"--freeze-stages {n}: the network has {len(stages)} stages")
    frozen: list[nn.Module] = [model.get_submodule("stem"), *list(stages)[:n]]
    for module in frozen:
        module.requires_grad_(False)
    return frozen
