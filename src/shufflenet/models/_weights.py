"""Saving and loading weights without unpickling arbitrary objects.

Weights are stored with safetensors (a flat, pickle-free tensor format).
PyTorch ``.pt``/``.pth`` files are read with ``torch.load(weights_only=True)``,
which refuses anything but tensors and plain containers.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from shufflenet.utils.files import atomic_write

__all__ = ["load_state_dict_file", "load_weights", "save_weights", "load_matching_state_dict"]


def save_weights(
    model: nn.Module, path: str | os.PathLike[str], metadata: Mapping[str, str] | None = None,
    dtype: torch.dtype | None = None,
) -> Path:
    """Write ``model``'s state dict to a safetensors file, atomically; ``dtype`` (e.g.
    ``torch.float16``, half the size) stores the floating-point tensors in that type —
    loading copies them into the model's own parameters, so they come back as float32."""
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    if dtype is not None:
        state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
    return atomic_write(path, lambda tmp: save_file(state, str(tmp), metadata=dict(metadata or {})))


def load_state_dict_file(path: str | os.PathLike[str]) -> dict[str, Tensor]:
    """Read a state dict from ``.safetensors`` or a weights-only ``.pt``/``.pth`` file."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"weights file {str(p)!r} not found")
    if p.suffix == ".safetensors":
        try:
            return load_file(str(p))
        except (SafetensorError, OSError, ValueError) as exc:
            raise ValueError(f"{p} is not a valid safetensors file ({exc}); is it truncated?") from None
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt or unsafe files
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"cannot read weights from {p}: {first}") from None
    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not all(isinstance(v, Tensor) for v in obj.values()):
        raise ValueError(f"{p} does not hold a state dict (a mapping of names to tensors)")
    return dict(obj)


def load_matching_state_dict(model: nn.Module, state: Mapping[str, Tensor], source: str = "state dict") -> None:
    """``load_state_dict(strict=True)`` with a one-line error naming what does not match."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}" for k, v in own.items() if k in state and state[k].shape != v.shape]
    problems = []
    for what, items in (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", shapes)):
        if items:
            more = f" (+{len(items) - 3} more)" if len(items) > 3 else ""
            problems.append(f"{what}: {', '.join(items[:3])}{more}")
    if problems:
        raise ValueError(f"{source} does not fit {type(model).__name__}: {'; '.join(problems)}")
    model.load_state_dict(state, strict=True)


def load_weights(model: nn.Module, path: str | os.PathLike[str]) -> nn.Module:
    """Load a weights file saved by :func:`save_weights` (or a weights-only .pt) into ``model``."""
    load_matching_state_dict(model, load_state_dict_file(path), source=str(path))
    return model
