"""The analysis engine: run a model once and price every tensor operator it executes.

A ``TorchDispatchMode`` sees each ATen operator the model really runs, functional
calls (``torch.cat``, ``chunk``, a functional channel shuffle) included, so any
``nn.Module`` can be analysed, not only ours. Module hooks record which module
was running, so each operator row carries the module's qualified name. Views
(reshape, transpose, split) move no data and produce no row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from shufflenet.complexity.costs import OpCost, OpType, classify_conv, classify_op, conv_cost, matmul_cost, memory_cost
from shufflenet.complexity.report import ComplexityReport, LayerRow
from shufflenet.utils.deprecation import renamed_kwargs

__all__ = ["analyze", "check_input_fits", "smallest_side"]

aten = torch.ops.aten

_CONV_OPS = {aten.convolution.default, aten._convolution.default, aten.convolution_overrideable.default}
_MATMUL_OPS = {aten.mm.default, aten.addmm.default, aten.bmm.default, aten.baddbmm.default}
_FREE_OPS = {aten._unsafe_view.default, aten.detach.default, aten.lift_fresh.default, aten.alias.default}
#: BatchNorm at inference; on the meta device its shape function is a Python decomposition that took half of
#: `shufflenet models` (the output is the input's shape, the saved statistics are empty at inference)
_BN_OPS = {aten.native_batch_norm.default, aten._native_batch_norm_legit_no_training.default}


def _tensors(tree: object) -> list[Tensor]:
    return [t for t in tree_flatten(tree)[0] if isinstance(t, Tensor)]


def _price(func: torch._ops.OpOverload, args: tuple, outs: list[Tensor]) -> tuple[OpType, OpCost]:
    """Type and cost of one executed operator (``outs``: its output tensors): the only place that reads ATen
    schemas."""
    outputs = [t.shape for t in outs]
    if func in _CONV_OPS:
        x, w, b = args[0], args[1], args[2]
        transposed = bool(args[6])
        groups = int(args[8])
        in_chs = x.shape[1]
        out_chs = w.shape[1] * groups if transposed else w.shape[0]
        kind = classify_conv(in_chs, out_chs, w.shape[2:], groups)
        return kind, conv_cost(x.shape, w.shape, outputs[0], bias=b is not None, transposed=transposed)
    if func in _MATMUL_OPS:
        has_bias = func in (aten.addmm.default, aten.baddbmm.default)
        bias, a, b = (args[0], args[1], args[2]) if has_bias else (None, args[0], args[1])
        bias_numel = bias.numel() if bias is not None else 0
        return OpType.LINEAR, matmul_cost(a.shape, b.shape, bias_numel)
    kind = classify_op(func.overloadpacket.__name__, torch.Tag.pointwise in func.tags)
    reads = _tensors(args[1:]) if func is aten.copy_.default else _tensors(args)
    # Only the primary output is written at inference: BN's saved statistics and
    # max-pool's indices exist for the backward pass (and differ by backend).
    return kind, memory_cost([t.shape for t in reads], outputs[:1])


class _Recorder(TorchDispatchMode):
    def __init__(self, param_ids: set[int]) -> None:
        super().__init__()
        self.param_ids = param_ids
        self.module_stack: list[str] = [""]
        self.rows: list[LayerRow] = []

    def _is_param(self, t: Tensor) -> bool:
        # A linear layer's weight arrives transposed: a view whose base is the parameter.
        return id(t) in self.param_ids or (t._base is not None and id(t._base) in self.param_ids)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _BN_OPS and args[0].is_meta:
            x = args[0]
            out = (torch.empty_like(x), x.new_empty(0), x.new_empty(0))
        else:
            out = func(*args, **kwargs)
        inputs = _tensors((args, kwargs))
        if not inputs or func.is_view or func in _FREE_OPS:
            return out
        outs = _tensors(out)
        kind, cost = _price(func, args, outs)
        self.rows.append(
            LayerRow(
                module=self.module_stack[-1],
                op=func.overloadpacket.__name__,
                type=kind,
                output_shape=tuple(outs[0].shape) if outs else (),
                params=sum(t.numel() for t in inputs if self._is_param(t)),
                flops=cost.flops,
                mac=cost.mac,
            )
        )
        return out


@contextmanager
def _track_modules(model: nn.Module, stack: list[str]) -> Iterator[None]:
    def enter(name: str) -> Callable[..., None]:
        return lambda module, args: stack.append(name)

    def leave(module: nn.Module, args: object, output: object) -> None:
        stack.pop()

    handles = []
    for name, module in model.named_modules():
        if name:
            handles.append(module.register_forward_pre_hook(enter(name)))
            handles.append(module.register_forward_hook(leave))
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def _input_for(model: nn.Module, *shape: int, device: torch.device | None = None) -> torch.Tensor:
    """A random input of ``shape`` that ``model`` can take: on its device and in its weights' floating
    dtype (a bfloat16 model needs a bfloat16 input; the counts do not depend on the dtype)."""
    t = next((p for p in model.parameters() if p.is_floating_point()), None)
    dev = device or (t.device if t is not None else torch.device("cpu"))
    return torch.randn(*shape, device=dev, dtype=t.dtype if t is not None else torch.float32)


#: what PyTorch's convs and pools say when an input is smaller than their kernel
_TOO_SMALL = ("output size is too small", "kernel size can't be greater", "smaller than kernel size")


def _too_small(exc: RuntimeError) -> bool:
    return any(t in str(exc).lower() for t in _TOO_SMALL)


@contextmanager
def _fits(model: nn.Module, input_shape: Sequence[int], name: str | None) -> Iterator[None]:
    """Turn PyTorch's "output size is too small" from inside ``model`` into a ValueError that says
    the smallest input side the model takes."""
    try:
        yield
    except RuntimeError as exc:
        if not _too_small(exc):
            raise
        side = smallest_side(model, int(input_shape[1]))
        raise ValueError(
            f"{name or type(model).__name__} cannot take a {input_shape[-2]}x{input_shape[-1]} input: its convolutions "
            f"and pooling shrink it to nothing; the smallest side it takes is {side} (--img-size {side} or more)"
        ) from None


@torch.no_grad()
def check_input_fits(model: nn.Module, input_shape: Sequence[int], name: str | None = None) -> Any:
    """Run ``model`` on one random image of ``input_shape``'s size and return its output: a ValueError
    naming the smallest side it takes if the image is too small for its convolutions and pooling."""
    was_training = model.training
    model.eval()
    try:
        with _fits(model, input_shape, name):
            return model(_input_for(model, 1, *(int(d) for d in input_shape[1:])))
    finally:
        model.train(was_training)


@torch.no_grad()
def smallest_side(model: nn.Module, in_chans: int = 3, device: torch.device | None = None, limit: int = 1024) -> int:
    """The smallest square input side ``model`` runs on (a bisection of single-image forwards; on
    ``device``, by default the model's)."""
    was_training = model.training
    model.eval()

    def runs(side: int) -> bool:
        try:
            model(_input_for(model, 1, in_chans, side, side, device=device))
        except RuntimeError as exc:
            if _too_small(exc):
                return False
            raise
        return True

    try:
        lo, hi = 1, limit  # runs(hi) is assumed; the network's strides only shrink an input
        while lo < hi:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if runs(mid) else (mid + 1, hi)
        return lo
    finally:
        model.train(was_training)


@renamed_kwargs(input_size="input_shape")
def analyze(
    model: nn.Module,
    input_shape: Sequence[int] = (1, 3, 224, 224),
    *,
    name: str | None = None,
) -> ComplexityReport:
    """Count params, FLOPs (multiply-adds) and MAC of ``model`` for one input.

    The model runs once in eval mode under ``torch.no_grad`` (its mode is
    restored afterwards) on a random input of ``input_shape`` on the model's
    device, in its dtype. A model on the ``meta`` device is analysed without any arithmetic,
    which makes even multi-GFLOP networks instant.
    """
    if any(int(d) < 1 for d in input_shape):
        raise ValueError(f"input_shape must be positive, got {tuple(input_shape)}")
    params = {id(p): p for p in model.parameters()}
    recorder = _Recorder(set(params))
    x = _input_for(model, *(int(d) for d in input_shape))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), _track_modules(model, recorder.module_stack), recorder, _fits(model, input_shape, name):
            model(x)
    finally:
        model.train(was_training)
    return ComplexityReport(
        model=name or type(model).__name__,
        input_shape=tuple(int(d) for d in input_shape),
        params=sum(p.numel() for p in params.values()),
        rows=recorder.rows,
    )
