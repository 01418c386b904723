"""The training step's forward and backward captured in CUDA graphs (``--cuda-graph``).

A small network on small images is launch-bound on a GPU: a step of V2 0.5x on 28x28 images is
hundreds of short kernels, and eager PyTorch trains the recipe's network at 9.8k images/s at
batch 256 on an H200 (issue #35), the GPU mostly waiting. torch.compile's reduce-overhead mode
removes the launches but compiles for tens of seconds first, a large share of a two-minute run.
:func:`torch.cuda.make_graphed_callables` records the forward and the backward once (warm-up
and capture: seconds) and replays each with one launch. The loss, the optimiser and the EMA
stay eager (a few fused kernels), so the learning-rate schedule and checkpoints are unchanged.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn

from shufflenet.train.config import autocast_to

__all__ = ["capture_step", "check_capturable", "kept_buffers"]


def check_capturable(device: torch.device, *, distributed: bool) -> None:
    """A one-line error, before any work, where a run cannot capture its step."""
    if device.type != "cuda":
        raise ValueError(f"--cuda-graph captures the training step in CUDA graphs, which need a GPU (this run is on "
                         f"{device}); drop --cuda-graph here (--no-cuda-graph turns a recipe's off)")  # fmt: skip
    if distributed:  # DDP's gradient hooks inside a captured backward: not run here, so not offered
        raise ValueError("--cuda-graph captures one process's step; under torchrun use --compile reduce-overhead "
                         "(torch.compile's own CUDA graphs), which turns a recipe's capture off")  # fmt: skip


@contextmanager
def kept_buffers(module: nn.Module) -> Iterator[None]:
    """Put every buffer of ``module`` (BatchNorm's running statistics and counters) back on exit, in place.

    A capture runs the step a few times on a dummy batch first; those calls must not count as
    training. In place, so that the addresses a graph recorded stay the buffers' own.
    """
    saved = [b.detach().clone() for b in module.buffers()]
    try:
        yield
    finally:
        with torch.no_grad():
            for buffer, value in zip(module.buffers(), saved):
                buffer.copy_(value)


def _thread_local() -> dict[str, Any]:
    """Capture in thread-local error mode, as GraphedModule does: an image folder's pin-memory thread may call CUDA
    while this one captures, which in the default global mode breaks the capture. Before torch 2.14 (2.13 checked;
    the GPU machines here have 2.11) the option is missing: the capture is global there, fine for in-memory data,
    which has no such thread."""
    known = inspect.signature(torch.cuda.make_graphed_callables).parameters
    return {"capture_error_mode": "thread_local"} if "capture_error_mode" in known else {}


class _Step(nn.Module):
    """A shell whose ``forward`` the capture replaces: the model keeps its own, so the copies that
    evaluation and checkpoints make of it run eagerly on their own weights."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)


def capture_step(model: nn.Module, sample: Tensor, *, precision: str) -> nn.Module:
    """``model``'s training forward and backward for batches like ``sample`` (shape, dtype and memory
    format) captured in CUDA graphs: a module to call in the model's place in the training loop.

    The model must already be in the modes the loop trains it in (frozen stages in eval mode):
    the graphs record those. A batch of another shape is an error when called, so the loop trains
    on whole batches only. ``precision``: the run's resolved precision, whose autocast the forward runs under
    (recorded as such).
    A GPU only (:func:`check_capturable`).
    """
    step = _Step(model)
    step.training = model.training  # not step.train(): that would reset the frozen stages' modes
    with kept_buffers(model), autocast_to(precision, sample.device, cache_enabled=False):
        graphed = torch.cuda.make_graphed_callables(step, (sample,), **_thread_local())
    return graphed  # type: ignore[return-value]
