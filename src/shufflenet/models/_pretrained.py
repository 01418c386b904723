"""Weights shipped inside the package (trained with the project's own command).

Each is ``pretrained/<model>.<tag>.safetensors`` carrying, in its metadata, the
architecture and the ``pretrained_cfg`` (mean, std, input size, class names),
plus a ``<model>.<tag>.json`` with the recipe and the training log that
produced it. Nothing is downloaded: these work offline.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from torch import nn

from shufflenet.models._weights import save_weights
from shufflenet.utils.files import atomic_write

__all__ = ["PRETRAINED_DIR", "export_pretrained", "list_shipped", "pretrained_path", "read_metadata", "read_record"]

PRETRAINED_DIR = Path(__file__).resolve().parent.parent / "pretrained"


def list_shipped(directory: Path = PRETRAINED_DIR) -> list[tuple[str, str]]:
    """``[(model_name, tag), ...]`` of the weights shipped with the package."""
    found = []
    for f in sorted(directory.glob("*.safetensors")):
        model, _, tag = f.name.removesuffix(".safetensors").partition(".")
        found.append((model, tag))
    return found


def pretrained_path(name: str, tag: str, directory: Path = PRETRAINED_DIR) -> Path:
    """The shipped file of ``name`` with ``tag``; an unknown pair raises, listing what is shipped."""
    path = directory / f"{name}.{tag}.safetensors"
    if not path.is_file():
        have = ", ".join(f"{m}:{t}" for m, t in list_shipped(directory)) or "none"
        raise ValueError(f"no pretrained weights {name!r} with tag {tag!r}; shipped: {have}")
    return path


def read_record(name: str, tag: str, directory: Path = PRETRAINED_DIR) -> dict[str, Any]:
    """The JSON record shipped beside ``name``'s ``tag`` weights (recipe, command, history), with
    ``dataset`` and ``test_top1`` (percent, of the weights shipped) read from it; {} if there is none."""
    path = directory / f"{name}.{tag}.json"
    if not path.is_file():
        return {}
    record = json.loads(path.read_text(encoding="utf-8"))
    scores = [h["test_top1"] for h in record.get("history", []) if h.get("test_top1") is not None]
    dataset = (record.get("recipe") or {}).get("dataset")
    return {**record, "dataset": dataset, "test_top1": round(100 * scores[-1], 2) if scores else None}


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The architecture and ``pretrained_cfg`` a shipped-format file carries."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"weights file {str(p)!r} not found")
    try:
        with safe_open(str(p), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as exc:  # SafetensorError, OSError: a truncated or foreign file
        raise ValueError(f"{p} is not a valid safetensors file ({str(exc)[:120]}); is it truncated?") from None
    if "arch" not in meta or "pretrained_cfg" not in meta:
        raise ValueError(
            f"{p} holds bare weights without shufflenet's metadata (arch, pretrained_cfg), so the network it fits is "
            "unknown; load it into a model you build: load_weights(create_model(NAME, ...), path)"
        )
    try:
        return {"arch": json.loads(meta["arch"]), "pretrained_cfg": json.loads(meta["pretrained_cfg"])}
    except json.JSONDecodeError as exc:
        raise ValueError(f"{p}: its shufflenet metadata is not valid JSON ({exc})") from None


def export_pretrained(
    model: nn.Module,
    arch: dict[str, Any],
    pretrained_cfg: dict[str, Any],
    record: dict[str, Any],
    tag: str,
    directory: Path = PRETRAINED_DIR,
    dtype: torch.dtype | None = None,
) -> Path:
    """Write ``<model>.<tag>.safetensors`` (+ its JSON record) for shipping; ``dtype``
    as in :func:`~shufflenet.models._weights.save_weights` (noted in the record)."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", tag):
        raise ValueError(f"tag {tag!r}: use letters, digits, '-' and '_' (it becomes part of the file name)")
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"{arch['model']}.{tag}"
    meta = {"arch": json.dumps(arch), "pretrained_cfg": json.dumps(pretrained_cfg)}
    path = save_weights(model, directory / f"{stem}.safetensors", metadata=meta, dtype=dtype)
    if dtype is not None:
        record = {**record, "storage_dtype": str(dtype).removeprefix("torch.")}
    atomic_write(directory / f"{stem}.json", lambda t: t.write_text(json.dumps(record, indent=2), encoding="utf-8"))
    return path
