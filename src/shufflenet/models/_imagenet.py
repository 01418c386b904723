"""ImageNet weights through torchvision's weights API: ``create_model(name, pretrained="imagenet")``.

torchvision publishes ImageNet weights for ShuffleNet V2 0.5x-2x, MobileNet V2, SqueezeNet and the
reference networks. Its weights enums carry what must travel with them (the URL, the class names,
mean/std, crop and resize sizes, the measured top-1), so nothing here is copied by hand. The file
comes from torch's hub cache when it is there and is downloaded when online; offline and absent,
the error names the file and where to put it. A local torchvision state-dict file works as well
(``pretrained="path/to/shufflenetv2_x1-5666bf0f80.pth"``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
from torch import nn

from shufflenet.models._pretrained import list_shipped, pretrained_path, read_metadata, read_record
from shufflenet.models._registry import create_from_arch, get_entry, plain_arch, register_pretrained_source
from shufflenet.models._torchvision import from_torchvision
from shufflenet.models._weights import load_state_dict_file

__all__ = ["IMAGENET_WEIGHTS", "PretrainedTag", "imagenet_cfg", "list_pretrained", "load_imagenet"]

#: registered model -> torchvision's ImageNet weights for it (its best, as torchvision's DEFAULT)
IMAGENET_WEIGHTS: dict[str, str] = {
    "shufflenet_v2_x0_5": "ShuffleNet_V2_X0_5_Weights.DEFAULT",
    "shufflenet_v2_x1_0": "ShuffleNet_V2_X1_0_Weights.DEFAULT",
    "shufflenet_v2_x1_5": "ShuffleNet_V2_X1_5_Weights.DEFAULT",
    "shufflenet_v2_x2_0": "ShuffleNet_V2_X2_0_Weights.DEFAULT",
    "mobilenet_v2_x1_0": "MobileNet_V2_Weights.DEFAULT",
    "squeezenet1_0": "SqueezeNet1_0_Weights.DEFAULT",
    "squeezenet1_1": "SqueezeNet1_1_Weights.DEFAULT",
    "alexnet": "AlexNet_Weights.DEFAULT",
    "vgg16": "VGG16_Weights.DEFAULT",
    "vgg19": "VGG19_Weights.DEFAULT",
    "googlenet": "GoogLeNet_Weights.DEFAULT",
    "resnet18": "ResNet18_Weights.DEFAULT",
    "resnet34": "ResNet34_Weights.DEFAULT",
    "resnet50": "ResNet50_Weights.DEFAULT",
    "densenet121": "DenseNet121_Weights.DEFAULT",
}


@dataclass(frozen=True)
class PretrainedTag:
    """One set of weights ``create_model(model, pretrained=tag)`` can load."""

    model: str
    tag: str
    dataset: str
    top1: float | None  # on the dataset's test set, in percent
    params: int  # the network's learnable parameters, as torchvision's weights record ``num_params``
    source: str


def _weights(name: str) -> Any:
    """torchvision's weights enum member for ``name``; a model without ImageNet weights raises."""
    get_entry(name)  # an unknown name fails first, with close matches
    if name not in IMAGENET_WEIGHTS:
        raise ValueError(f"torchvision has no ImageNet weights for {name}; models that have them: "
                         f"{', '.join(IMAGENET_WEIGHTS)}")  # fmt: skip
    from torchvision.models import get_weight

    return get_weight(IMAGENET_WEIGHTS[name])


def imagenet_cfg(name: str) -> dict[str, Any]:
    """The ``pretrained_cfg`` of ``name``'s ImageNet weights: normalisation, input size, crop, classes."""
    w = _weights(name)
    t = w.transforms()
    crop, resize = int(t.crop_size[0]), int(t.resize_size[0])
    return {
        "mean": list(t.mean), "std": list(t.std), "input_size": [3, crop, crop], "crop_pct": round(crop / resize, 4),
        "class_names": list(w.meta["categories"]), "dataset": "imagenet", "tag": "imagenet",
        "top1": w.meta["_metrics"]["ImageNet-1K"]["acc@1"], "source": f"torchvision {w}",
    }  # fmt: skip


def cache_path(name: str) -> Path:
    """Where torch's hub cache keeps ``name``'s ImageNet file (``$TORCH_HOME/hub/checkpoints``)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(_weights(name).url).path)


def _cached_file(name: str) -> Path:
    """``name``'s ImageNet file in torch's cache, downloaded there first when absent.

    The download is ours, not torch's: torch writes a 'Downloading: ...' line to stdout (into a command's
    JSON, and before the error when offline). Offline, the one-line error names the file and where to put it.
    """
    path, url = cache_path(name), _weights(name).url
    if path.is_file():
        return path
    sha = torch.hub.HASH_REGEX.search(path.name)  # torchvision's file names carry their hash's first digits
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(url, str(path), sha[1] if sha else None, progress=False)  # via a temp file
    except OSError as exc:  # URLError, HTTPError, a refused connection, a full disk
        raise FileNotFoundError(
            f"ImageNet weights of {name} are not in torch's cache ({path}) and could not be downloaded "
            f"({str(exc)[:120]}); fetch {url} on a machine that is online and put it at that path, or pass "
            "the file itself (--init PATH.pth; pretrained='PATH.pth' in Python)"
        ) from None
    except RuntimeError as exc:  # the hash check: a proxy's page, a cut connection
        raise ValueError(f"{url} downloaded, but it is not the file torchvision publishes ({exc}); try again") from None
    return path


def load_imagenet(name: str, path: str | os.PathLike[str] | None = None) -> nn.Module:
    """``name`` with torchvision's ImageNet weights (``path``: a local torchvision state-dict file
    instead of the cache), ``pretrained_cfg`` attached, in eval mode."""
    cfg = imagenet_cfg(name)
    if get_entry(name).family == "reference":  # torchvision's own network: its builder knows its files' quirks
        if path is not None:
            raise ValueError(f"a local file for {name} (torchvision's own network): put it at {cache_path(name)} "
                             "and use pretrained='imagenet'")  # fmt: skip
        model = _reference(name)
    else:
        if path is not None:
            state = load_state_dict_file(path)
            cfg["source"] = str(path)
        else:
            state = load_state_dict_file(_cached_file(name))  # a truncated file: a one-line error naming it
        model = from_torchvision(state, name)
        classes = int(model.num_classes)  # type: ignore[arg-type]
        if classes != len(cfg["class_names"]):  # a fine-tuned file: not ImageNet's classes
            cfg.update(class_names=[f"class_{i}" for i in range(classes)], dataset=None, top1=None)
    cfg["arch"] = plain_arch(name, len(cfg["class_names"]))
    model.pretrained_cfg = cfg  # type: ignore[assignment]
    return model.eval()


def _reference(name: str) -> nn.Module:
    import torchvision.models as tvm

    from shufflenet.models.reference import TorchvisionClassifier

    path = _cached_file(name)
    try:
        net = getattr(tvm, name)(weights=_weights(name))  # reads the cached file
    except (RuntimeError, EOFError, OSError) as exc:  # a cut or foreign file: torch's reader says little
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ValueError(f"{path} is not a readable {name} file ({first}; is it truncated?); delete it to download "
                         "it again") from None  # fmt: skip
    fc = [m for m in net.modules() if isinstance(m, nn.Linear)][-1]
    head = {k: v.clone() for k, v in fc.state_dict().items()}
    model = TorchvisionClassifier(lambda: net)  # its fc is the network's last linear layer, re-made: reload it
    model.fc.load_state_dict(head)
    return model


def list_pretrained() -> list[PretrainedTag]:
    """Every pretrained tag: the weights shipped in the package, then torchvision's ImageNet weights
    (``top1`` from torchvision's metadata)."""
    found = []
    for model, tag in list_shipped():
        record = read_record(model, tag)
        with torch.device("meta"):  # the file's own architecture, counted without reading its weights
            params = sum(
                p.numel() for p in create_from_arch(read_metadata(pretrained_path(model, tag))["arch"]).parameters()
            )
        found.append(PretrainedTag(model, tag, record.get("dataset") or "fashion-mnist", record.get("test_top1"),
                                   params, "shipped with shufflenet"))  # fmt: skip
    for model in IMAGENET_WEIGHTS:
        cfg, w = imagenet_cfg(model), _weights(model)
        found.append(PretrainedTag(model, "imagenet", "imagenet", cfg["top1"], w.meta["num_params"], cfg["source"]))
    return found


register_pretrained_source("imagenet", load_imagenet, files=True)
