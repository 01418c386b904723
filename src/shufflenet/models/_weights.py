"""Saving and loading weights without unpickling arbitrary objects.

Weights are stored with safetensors (a flat, pickle-free tensor format).
PyTorch ``.pt``/``.pth`` files are read with ``torch.load(weights_only=True)``,
which refuses anything but tensors and plain containers.
"""

from __future__ import annotations

import os
import pickle
import pickletools
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from shufflenet.utils.files import atomic_write

__all__ = ["load_matching_state_dict", "load_state_dict_file", "load_weights", "save_weights"]


def save_weights(
    model: nn.Module,
    path: str | os.PathLike[str],
    metadata: Mapping[str, str] | None = None,
    dtype: torch.dtype | None = None,
) -> Path:
    """Write ``model``'s state dict to a safetensors file, atomically; ``dtype`` (e.g.
    ``torch.float16``, half the size) stores the floating-point tensors in that type —
    loading copies them into the model's own parameters, so they come back as float32."""
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    if dtype is not None:
        state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
    return atomic_write(path, lambda tmp: save_file(state, str(tmp), metadata=dict(metadata or {})))


#: the globals a weights-only file may name (how torch.save stores tensors and ordered dicts)
_TENSOR_GLOBALS = ("torch.", "collections.OrderedDict", "_codecs.encode")


def _pickled_code(path: Path) -> str | None:
    """The first global (class or function) other than torch's tensor plumbing that the pickle in
    ``path`` names, read with :mod:`pickletools` (which never executes anything); None if none
    or if ``path`` holds no readable pickle."""
    try:
        if zipfile.is_zipfile(path):  # torch.save's format: the pickle is the archive's data.pkl
            with zipfile.ZipFile(path) as z:
                data = z.read(next(n for n in z.namelist() if n.endswith("data.pkl")))
        else:
            data = path.read_bytes()
        strings: list[str] = []
        for op, arg, _ in pickletools.genops(data):
            if isinstance(arg, str):
                strings.append(arg)
            name = arg.replace(" ", ".") if op.name == "GLOBAL" and isinstance(arg, str) else None
            if op.name == "STACK_GLOBAL" and len(strings) >= 2:
                name = ".".join(strings[-2:])
            if name and not name.startswith(_TENSOR_GLOBALS):
                return name
    except Exception:  # truncated or not a pickle: no code to report
        return None
    return None


#: what a file that is not a PyTorch file most likely is, by its suffix: named in the error that refuses it
_FOREIGN = {
    ".safetensors": "a safetensors weights file",
    ".onnx": "an ONNX model",
    ".xml": "an OpenVINO IR",
    ".param": "an ncnn model",
    ".pte": "an ExecuTorch program",
    ".tflite": "a LiteRT model",
    ".json": "a JSON file",
    ".bin": "the weights of an OpenVINO IR or ncnn net; give its .xml or .ncnn.param",
}


def safe_torch_load(path: Path, what: str) -> Any:
    """``torch.load(weights_only=True)``: tensors and plain containers only, never code.

    A file that holds pickled code or objects (classes, functions) is refused with a message
    that says so; a truncated or foreign file with one that says that instead.
    """
    with open(path, "rb") as f:
        head = f.read(4)
    if not (head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"):  # a zip (torch.save) or a pickle
        # a truncated PyTorch file keeps its first bytes: this is a file of another kind
        kind = _FOREIGN.get(Path(path).suffix.lower(), "neither a zip nor a pickle")
        raise ValueError(f"{path} is not a readable {what} (not a PyTorch file: {kind})")
    try:
        with warnings.catch_warnings():  # torch's notes on pickle protocols: the error below says what matters
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # weights_only refused it: code, or not a pickle at all?
        code = _pickled_code(path)
        if code is not None:
            raise ValueError(
                f"{path} holds pickled code or objects ({code}), which are never loaded (unpickling could run "
                "anything); save plain tensors instead (a state dict, or safetensors)"
            ) from None
        raise ValueError(f"{path} is not a readable {what} (not a PyTorch file); is it truncated?") from None
    except Exception as exc:  # a truncated zip, a file of another kind
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0].split(". ")[0]
        raise ValueError(f"{path} is not a readable {what} ({first[:160]}); is it truncated?") from None


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
    obj = safe_torch_load(p, "weights file")
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
    shapes = [
        f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}"
        for k, v in own.items()
        if k in state and state[k].shape != v.shape
    ]
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
