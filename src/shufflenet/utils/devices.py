"""Device names checked once, with errors that say what to do."""

from __future__ import annotations

import torch

__all__ = ["torch_device"]


def torch_device(device: str | torch.device) -> torch.device:
    """``device`` (``cpu``, ``cuda`` or ``cuda:N``) as a ``torch.device``; a one-line ValueError for an unknown
    name, another device type, or CUDA where PyTorch sees no GPU."""
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ValueError(f"unknown device {str(device)!r}; use cpu, cuda or cuda:N") from None
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device {str(device)!r}: shufflenet runs on cpu or cuda")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {str(device)!r}, but PyTorch sees no GPU on this machine; use device 'cpu'")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(f"device {str(device)!r}: PyTorch sees {torch.cuda.device_count()} GPU(s), cuda:0 and on")
    return dev
