"""One check of an exported artifact against the PyTorch model it came from."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from shufflenet.complexity import check_input_fits
from shufflenet.layers.deploy import traceable

__all__ = ["check_close", "compare_outputs", "exportable", "verify_artifact"]


def exportable(model: nn.Module, input_shape: Sequence[int]) -> nn.Module:
    """``model`` as every exporter traces and verifies it (:func:`~shufflenet.layers.traceable`: float32 on
    the CPU, NCHW; eval mode), checked before any conversion: an image of ``input_shape`` fits it, and it
    returns one tensor of logits (a ``features_only`` backbone returns several maps)."""
    model = traceable(model).eval()
    out = check_input_fits(model, input_shape)
    if not isinstance(out, torch.Tensor):
        raise ValueError(
            f"{type(model).__name__} returns {type(out).__name__}, not one tensor of logits (a features_only "
            "backbone?): export the classifier, or a detector with `shufflenet detect export`"
        )
    return model


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


def verify_artifact(
    reference: nn.Module,
    run: Callable[[np.ndarray], np.ndarray],
    inputs: Sequence[torch.Tensor],
    runtime: str,
    *,
    images: np.ndarray | None = None,
    calibration: Sequence[np.ndarray] | None = None,
    atol: float = 1e-3,
) -> tuple[float, float | None]:
    """An export's check of its artifact's runtime ``run`` against ``reference``: :func:`compare_outputs`
    on ``inputs`` and the real ``images``. A float artifact above ``atol`` is an error
    (:func:`check_close`); an int8 one (``calibration`` given) is lossy, so it is compared on its
    calibration images and its difference and top-1 agreement are reported, not bounded."""
    if calibration is not None:
        images = np.concatenate(list(calibration))
    diff, agreement = compare_outputs(reference, run, inputs, images)
    if calibration is None:
        check_close(diff, atol, runtime)
    return diff, agreement
