"""Inference replayed from CUDA graphs: one capture per input shape, one launch per call.

A ShuffleNet is ~150 small kernels. On a GPU, PyTorch eager pays a launch for each of them, so V2 1x
at batch 1 takes longer in eager mode on an H200 (3.3 ms, issue #35) than on two CPU cores; a CUDA
graph records the kernels once for an input shape and replays them all with one launch (0.53 ms).

:class:`GraphedModule` keeps, per (shape, dtype) of its input, a static input buffer, the captured
graph and its static output. A call copies the batch into the input buffer, replays the graph and
returns a copy of the output (the next replay overwrites the buffer). On a device without CUDA
graphs (the CPU) the same buffers and cache run the module directly, so that protocol is tested
everywhere; :attr:`GraphedModule.captured` says which ran.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from shufflenet.layers.deploy import deploy
from shufflenet.utils.devices import torch_device

__all__ = ["PRECISIONS", "GraphedModule", "inference_form", "precision_dtype"]

#: the precisions a GPU inference form runs in
PRECISIONS = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def precision_dtype(precision: str) -> torch.dtype:
    """The dtype of ``precision`` (a name in :data:`PRECISIONS`); a one-line error naming the choices otherwise."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose from {', '.join(PRECISIONS)}")
    return PRECISIONS[precision]


def inference_form(model: nn.Module, device: str | torch.device = "cpu", precision: str = "float32") -> nn.Module:
    """Our inference form (:func:`~shufflenet.layers.deploy.deploy`: BN folded in float32, channels-last,
    no autograd) moved to ``device`` in ``precision``."""
    dtype, dev = precision_dtype(precision), torch_device(device)
    form = deploy(copy.deepcopy(model).float())  # folded in float32 (the caller's model stays as it is)
    return form.to(dev, dtype)


@dataclass
class _Entry:
    input: Tensor
    output: Tensor
    replay: Callable[[], object]


class GraphedModule:
    """``module`` (in eval mode, on one device) called through one captured CUDA graph per input shape.

    Up to ``max_shapes`` captures are kept (the least recently used goes first); each holds its
    input and output buffers on the device. ``warmup`` eager calls on a side stream precede a
    capture, as CUDA graphs require (cuDNN and cuBLAS pick their algorithms there).
    """

    def __init__(self, module: nn.Module, *, warmup: int = 3, max_shapes: int = 8) -> None:
        if warmup < 1 or max_shapes < 1:
            raise ValueError("warmup and max_shapes must be >= 1")
        self.module = module.eval()
        self.warmup, self.max_shapes = warmup, max_shapes
        param = next(iter(module.parameters()), None)
        self.device = param.device if param is not None else torch.device("cpu")
        self.dtype = param.dtype if param is not None else torch.float32
        self.captured = self.device.type == "cuda"
        self._entries: OrderedDict[tuple[tuple[int, ...], torch.dtype], _Entry] = OrderedDict()
        self._pool = torch.cuda.graph_pool_handle() if self.captured else None  # captures share one memory pool

    def __call__(self, x: Tensor) -> Tensor:
        x = x.to(self.device, self.dtype, non_blocking=True)
        key = (tuple(x.shape), x.dtype)
        entry = self._entries.get(key)
        if entry is None:
            entry = self._capture(x)
            self._entries[key] = entry
            if len(self._entries) > self.max_shapes:
                self._entries.popitem(last=False)
        else:
            self._entries.move_to_end(key)
            entry.input.copy_(x)
        entry.replay()
        return entry.output.clone()

    @property
    def shapes(self) -> list[tuple[int, ...]]:
        """The input shapes captured so far, least recently used first."""
        return [shape for shape, _ in self._entries]

    def _capture(self, x: Tensor) -> _Entry:
        static = x.clone()
        if not self.captured:
            with torch.inference_mode():
                out = self.module(static)

            def run() -> None:
                with torch.inference_mode():
                    out.copy_(self.module(static))

            return _Entry(static, out, run)
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.inference_mode(), torch.cuda.stream(side):
            for _ in range(self.warmup):
                self.module(static)
        torch.cuda.current_stream(self.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        # thread-local: a DataLoader's pin-memory thread may call CUDA (cudaHostAlloc) while this thread captures,
        # which in the default global mode breaks the capture and poisons that thread
        with torch.inference_mode(), torch.cuda.graph(graph, pool=self._pool, capture_error_mode="thread_local"):
            out = self.module(static)
        return _Entry(static, out, graph.replay)
