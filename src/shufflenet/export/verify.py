"""One check of an exported artifact against the PyTorch model it came from."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

__all__ = ["check_close", "compare_outputs"]


def check_close(diff: float, atol: float, runtime: str) -> None:
    """The export's verdict: a difference above ``atol`` is an error (the caller has written nothing)."""
    if not diff <= atol:
        raise ValueError(f"{runtime} differs from PyTorch by {diff:.3g} (> {atol:g}); nothing was written")


def compare_outputs(
    reference: nn.Module,
    run: Callable[[np.ndarray], np.ndarray],
    inputs: Sequence[torch.Tensor],
    images: np.ndarray | None = None,
) -> tuple[float, float | None]:
    """The largest |logit difference| between ``run`` (an artifact's runtime) and ``reference`` over
    ``inputs`` and, when given, the real ``images``; and on those images the share whose top-1 class
    agrees (None without images)."""
    diff, agreement = 0.0, None
    batches = [*inputs, *([torch.from_numpy(images)] if images is not None else [])]
    for i, x in enumerate(batches):
        with torch.no_grad():
            expected = reference(x).numpy()
        got = run(x.numpy())
        diff = max(diff, float(np.abs(got - expected).max()))
        if images is not None and i == len(batches) - 1:
            agreement = float((got.argmax(1) == expected.argmax(1)).mean())
    return diff, agreement
