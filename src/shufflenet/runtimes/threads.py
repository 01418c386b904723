"""PyTorch's intra-op thread count, set for a block and restored after it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

__all__ = ["num_threads"]


@contextmanager
def num_threads(threads: int | None) -> Iterator[int]:
    """Set PyTorch's intra-op thread count for the block, then restore it (``None`` leaves it)."""
    before = torch.get_num_threads()
    if threads is not None:
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        torch.set_num_threads(threads)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
