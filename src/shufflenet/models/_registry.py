"""The single model registry used by the CLI, the benchmarks and the tests."""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from shufflenet.models._pretrained import PRETRAINED_DIR, pretrained_path, read_metadata
from shufflenet.models._weights import load_matching_state_dict, load_state_dict_file

__all__ = [
    "ModelEntry",
    "PaperReference",
    "create_from_arch",
    "create_model",
    "get_entry",
    "list_models",
    "load_pretrained",
    "register_model",
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


def list_models(pattern: str = "*") -> list[str]:
    """Sorted names of registered models matching the shell-style ``pattern``."""
    return sorted(n for n in _ENTRIES if fnmatch.fnmatchcase(n, pattern))


def get_entry(name: str) -> ModelEntry:
    """The registry entry for ``name``; unknown names raise with close matches."""
    try:
        return _ENTRIES[name]
    except KeyError:
        close = difflib.get_close_matches(name, _ENTRIES, n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else "; run `shufflenet models` to list them"
        raise ValueError(f"unknown model {name!r}{hint}") from None


def create_model(
    name: str,
    *,
    num_classes: int = 1000,
    in_chans: int = 3,
    small_input: bool = False,
    pretrained: str | None = None,
    **options: object,
) -> nn.Module:
    """Build a registered model.

    ``small_input`` swaps the stride-2 stem and max-pool for a stride-1 stem so
    that 28x28 or 32x32 images keep a usable spatial size. ``options`` are the
    family's own switches (e.g. ``shuffle=False`` for V1, ``se=True``).
    ``pretrained="fashion-mnist"`` returns shipped trained weights (see
    ``list_pretrained()``), with the architecture they were trained with.
    """
    entry = get_entry(name)
    if pretrained is not None:
        return load_pretrained(name, pretrained)
    if num_classes < 0:
        raise ValueError(f"num_classes must be >= 0 (0 removes the classifier), got {num_classes}")
    if in_chans < 1:
        raise ValueError(f"in_chans must be >= 1, got {in_chans}")
    try:
        return entry.builder(num_classes=num_classes, in_chans=in_chans, small_input=small_input, **options)
    except TypeError as exc:  # an option the family does not have
        raise ValueError(f"{name}: {exc}") from None


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
    path = pretrained_path(name, tag, directory)
    meta = read_metadata(path)
    model = create_from_arch({**meta["arch"], "model": name})
    load_matching_state_dict(model, load_state_dict_file(path), source=str(path))
    model.pretrained_cfg = {**meta["pretrained_cfg"], "tag": tag}  # type: ignore[assignment]
    return model.eval()
