"""The ``pretrained_cfg`` beside an artifact whose format has no room for metadata (ncnn, ExecuTorch, LiteRT):
``MODEL.json`` next to ``MODEL.pte``, ``MODEL.ncnn.json`` next to ``MODEL.ncnn.param``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from shufflenet.utils.files import atomic_write

__all__ = ["cfg_sidecar", "read_cfg_sidecar", "write_cfg_sidecar"]


def cfg_sidecar(artifact: str | os.PathLike[str]) -> Path:
    """Where an artifact's ``pretrained_cfg`` is kept: the artifact's path with the suffix ``.json``."""
    return Path(artifact).with_suffix(".json")


def read_cfg_sidecar(artifact: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The ``pretrained_cfg`` kept beside ``artifact``, or None when there is none."""
    sidecar = cfg_sidecar(artifact)
    return json.loads(sidecar.read_text(encoding="utf-8")) if sidecar.is_file() else None


def write_cfg_sidecar(artifact: str | os.PathLike[str], cfg: dict[str, Any] | None) -> None:
    """Write ``cfg`` beside ``artifact`` (atomically); nothing for a model without one."""
    if cfg:
        atomic_write(cfg_sidecar(artifact), lambda t: t.write_text(json.dumps(cfg), encoding="utf-8"))
