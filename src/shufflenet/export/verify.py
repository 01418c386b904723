"""One check of an exported artifact against the PyTorch model it came from."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

__all__ = ["compare_outputs"]


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
