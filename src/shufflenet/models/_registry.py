"""The single model registry used by the CLI, the benchmarks and the tests."""

from __future__ import annotations

import difflib
import fnmatch
import functools
import inspect
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from shufflenet.models._features import FeatureExtractor
from shufflenet.models._pretrained import PRETRAINED_DIR, pretrained_path, read_metadata
from shufflenet.models._weights import load_matching_state_dict, load_state_dict_file
from shufflenet.utils.validate import check_type

__all__ = [
    "ModelEntry",
    "PaperReference",
    "check_options",
    "create_from_arch",
    "create_model",
    "get_entry",
    "list_models",
    "load_pretrained",
    "load_weights_file",
    "register_model",
    "register_pretrained_source",
    "width_tag",
]


@dataclass(frozen=True)
class PaperReference:
    """What a paper reports for a model: ImageNet, 224x224 input, batch 1.

    ``flops`` are multiply-adds; ``top1`` is ImageNet top-1 accuracy in percent
    (100 - the paper's classification error). ``None`` where the paper is silent.
    """

    source: str
    flops: float | None = None
    params: float | None = None
    top1: float | None = None


@dataclass(frozen=True)
class ModelEntry:
    name: str
    builder: Callable[..., nn.Module]
    family: str
    reference: PaperReference | None = None


_ENTRIES: dict[str, ModelEntry] = {}
#: pretrained tags whose weights live outside the package -> loader(name, path=None); the loader
#: registered with ``files=True`` also reads a local file given as ``pretrained="PATH"``
_SOURCES: dict[str, Callable[..., nn.Module]] = {}
_FILE_SOURCE: list[Callable[..., nn.Module]] = []


def width_tag(width: float) -> str:
    """Registry spelling of a width multiplier: 0.25 -> '0_25', 1 -> '1_0'."""
    tag = f"{width:g}"
    return (tag if "." in tag else tag + ".0").replace(".", "_")


def register_model(
    name: str,
    builder: Callable[..., nn.Module],
    *,
    family: str,
    reference: PaperReference | None = None,
) -> None:
    """Register ``builder`` under ``name``; a name can be registered only once."""
    if name in _ENTRIES:
        raise ValueError(f"model name {name!r} is already registered")
    _ENTRIES[name] = ModelEntry(name, builder, family, reference)


def register_pretrained_source(tag: str, loader: Callable[..., nn.Module], *, files: bool = False) -> None:
    """Let ``create_model(name, pretrained=tag)`` call ``loader(name)`` (e.g. torchvision's ImageNet
    weights); with ``files``, ``pretrained="PATH"`` calls ``loader(name, path=PATH)``."""
    _SOURCES[tag] = loader
    if files:
        _FILE_SOURCE[:] = [loader]


def _is_path(pretrained: str) -> bool:
    """Tags are letters, digits, '-' and '_'; anything with a dot or a slash is a file."""
    return any(c in pretrained for c in "./\\")


def list_models(pattern: str = "*") -> list[str]:
    """Sorted names of registered models matching the shell-style ``pattern``."""
    return sorted(n for n in _ENTRIES if fnmatch.fnmatchcase(n, pattern))


def get_entry(name: str) -> ModelEntry:
    """The registry entry for ``name``; unknown names raise with close matches."""
    check_type(name, str, "a model name")
    try:
        return _ENTRIES[name]
    except KeyError:
        close = difflib.get_close_matches(name, _ENTRIES, n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else "; run `shufflenet models` to list them"
        raise ValueError(f"unknown model {name!r}{hint}") from None


#: the arguments every builder takes from create_model itself rather than from ``options``
_COMMON = ("num_classes", "in_chans", "small_input")


def check_options(name: str, options: Mapping[str, object]) -> None:
    """Check a model's ``options`` against its family's constructor before anything is built: an
    option it does not have, one its registered name fixes (``groups`` of ``shufflenet_v1_g3_x1_0``),
    or a value of the wrong type (the string ``"false"`` for a boolean) is a ValueError naming it."""
    entry = get_entry(name)
    builder = entry.builder
    if not isinstance(options, Mapping):
        raise ValueError(f"options of {name} must be a mapping of option names to values, got {options!r}")
    if not isinstance(builder, functools.partial):  # a plain function: the family's signature is not known
        return
    cls = builder.func
    sig = inspect.signature(cls)
    fixed = sig.bind_partial(*builder.args, **builder.keywords).arguments
    hints = typing.get_type_hints(cls.__init__ if isinstance(cls, type) else cls)  # type: ignore[misc]
    free = [p for p in sig.parameters if p not in fixed and p not in _COMMON]
    for key, value in options.items():
        if key in _COMMON:
            raise ValueError(f"{key} is an argument of create_model itself, not an option of {name}")
        if key in fixed:
            raise ValueError(f"{name} fixes {key}={fixed[key]!r} (it is in the name); choose the registered model "
                             f"with the {key} you want (`shufflenet models`)")  # fmt: skip
        if key not in sig.parameters:
            close = difflib.get_close_matches(key, free, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ValueError(f"{name} has no option {key!r}; {hint}its options: {', '.join(free) or 'none'}")
        check_type(value, hints.get(key, typing.Any), f"option {key!r} of {name}")


def create_model(
    name: str,
    *,
    num_classes: int | None = None,
    in_chans: int | None = None,
    small_input: bool = False,
    pretrained: str | None = None,
    features_only: bool = False,
    out_indices: Sequence[int] | None = None,
    **options: object,
) -> nn.Module:
    """Build a registered model.

    ``num_classes`` and ``in_chans`` default to 1000 and 3, or with ``pretrained`` to the weights' (a value
    given must match them). ``small_input`` swaps the stride-2 stem and max-pool for a stride-1 stem so
    that 28x28 or 32x32 images keep a usable spatial size. ``options`` are the
    family's own switches (e.g. ``shuffle=False`` for V1, ``se=True``).
    ``pretrained="fashion-mnist"`` returns shipped trained weights (see
    ``list_pretrained()``), with the architecture they were trained with;
    ``pretrained="imagenet"`` torchvision's ImageNet weights (its cache, or a
    download), ``pretrained="PATH.pth"`` a local torchvision state-dict file.
    ``features_only=True`` returns the backbone: a :class:`FeatureExtractor` whose forward gives the
    feature maps of ``out_indices`` (levels, one per stride; default all) and whose ``feature_info``
    says their channels and strides (timm's convention; pretrained weights load first).
    """
    if features_only:
        net = create_model(name, num_classes=num_classes, in_chans=in_chans, small_input=small_input,
                           pretrained=pretrained, **options)  # type: ignore[arg-type]  # fmt: skip
        return FeatureExtractor(net, out_indices)
    if out_indices is not None:
        raise ValueError("out_indices picks the levels of a backbone; give features_only=True with it")
    entry = get_entry(name)
    given = {k: v for k, v in (("num_classes", num_classes), ("in_chans", in_chans)) if v is not None}
    for key, value in given.items():
        check_type(value, int, key)
    check_type(small_input, bool, "small_input")
    if pretrained is not None:
        if small_input or options:
            raise ValueError(f"pretrained={pretrained!r} builds the network its weights were trained as; leave out "
                             "small_input and options")  # fmt: skip
        if pretrained in _SOURCES:
            model = _SOURCES[pretrained](name)
        elif _is_path(pretrained) and _FILE_SOURCE:
            model = _FILE_SOURCE[0](name, path=pretrained)
        else:
            model = load_pretrained(name, pretrained)
        for key, value in given.items():  # a value given explicitly is checked, not silently ignored
            if getattr(model, key, value) != value:
                raise ValueError(f"pretrained={pretrained!r} was trained with {key}={getattr(model, key)}, not "
                                 f"{value}; leave {key} out (model.reset_classifier(n) changes the class count "
                                 "afterwards)")  # fmt: skip
        return model
    num_classes = 1000 if num_classes is None else num_classes
    in_chans = 3 if in_chans is None else in_chans
    if num_classes < 0:
        raise ValueError(f"num_classes must be >= 0 (0 removes the classifier), got {num_classes}")
    if in_chans < 1:
        raise ValueError(f"in_chans must be >= 1, got {in_chans}")
    check_options(name, options)
    return entry.builder(num_classes=num_classes, in_chans=in_chans, small_input=small_input, **options)


def plain_arch(model: str, num_classes: int = 1000, in_chans: int = 3) -> dict[str, Any]:
    """The architecture record of ``model`` at its standard input with default options (ImageNet-style weights,
    which do not record one)."""
    return {"model": model, "num_classes": num_classes, "in_chans": in_chans, "small_input": False, "options": {}}


def create_from_arch(arch: dict[str, Any]) -> nn.Module:
    """The network an architecture record (``model``, ``num_classes``, ``in_chans``, ``small_input``,
    ``options``) describes, as checkpoints and shipped weights store it."""
    return create_model(
        arch["model"], num_classes=arch["num_classes"], in_chans=arch["in_chans"],
        small_input=arch["small_input"], **arch.get("options", {}),
    )  # fmt: skip


def load_pretrained(name: str, tag: str, directory: Path = PRETRAINED_DIR) -> nn.Module:
    """The shipped network: built from the file's architecture, weights loaded, cfg attached."""
    get_entry(name)  # an unknown name fails before the file is looked for
    return load_weights_file(pretrained_path(name, tag, directory))


def load_weights_file(path: str | Path) -> nn.Module:
    """A weights file in the shipped format (``save-pretrained``'s ``MODEL.TAG.safetensors``): the
    network its metadata describes, weights loaded, ``pretrained_cfg`` (with the ``arch`` record) attached,
    in eval mode."""
    path = Path(path)
    meta = read_metadata(path)
    arch = meta["arch"]
    if not isinstance(arch, dict) or not {"model", "num_classes", "in_chans", "small_input"} <= set(arch):
        raise ValueError(f"{path}: its metadata names no complete architecture (model, num_classes, in_chans, "
                         "small_input); write it with `shufflenet save-pretrained`")  # fmt: skip
    model = create_from_arch(arch)
    load_matching_state_dict(model, load_state_dict_file(path), source=str(path))
    tag = path.name.removesuffix(".safetensors").partition(".")[2]
    model.pretrained_cfg = {**meta["pretrained_cfg"], "tag": tag, "arch": arch}  # type: ignore[assignment]
    return model.eval()
