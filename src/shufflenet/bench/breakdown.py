"""Where the time goes: run time per operator class (the V2 paper's Figure 2).

Each runtime's own profiler: PyTorch's (self time of every ATen operator), ONNX Runtime's (every
graph node) and OpenVINO's (every node of the compiled graph, ``PERF_COUNT``), for the model as built or
converted by the runtime (``eager``, ``onnxruntime``, ``openvino``) and for our inference form or export of it
(``torch-fused``, ``onnxruntime-shufflenet``, ``openvino-shufflenet``), so a shuffle's cost is seen where the
runtime spends it. Operators are classed with the analyser's classes, merged into the figure's groups:
convolution, depthwise convolution, element-wise, data movement (concat, shuffle, split, reshape and
layout reorders), pooling, other.
"""

from __future__ import annotations

import bisect
import json
import os
import statistics
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from shufflenet.bench.runtimes import ONNX_WRITERS, OPENVINO_IRS
from shufflenet.complexity import OpType, classify_conv, classify_op
from shufflenet.layers import deploy
from shufflenet.runtimes import num_threads, ort_session, ov_compile
from shufflenet.utils.deprecation import renamed_kwargs
from shufflenet.utils.quiet import quiet_fds

__all__ = ["BREAKDOWN_RUNTIMES", "GROUPS", "Breakdown", "breakdown"]

#: the runtimes whose profilers are read
BREAKDOWN_RUNTIMES = (
    "eager", "torch-fused", "onnxruntime", "onnxruntime-shufflenet", "openvino", "openvino-shufflenet",
)  # fmt: skip

#: the profiler's label of one forward pass (PyTorch's)
_PASS = "shufflenet.breakdown.pass"

GROUPS = ("conv", "depthwise", "elementwise", "data_movement", "pooling", "other")
_GROUP = {
    OpType.CONV1X1: "conv", OpType.GROUP_CONV: "conv", OpType.DENSE_CONV: "conv", OpType.LINEAR: "conv",
    OpType.DEPTHWISE: "depthwise", OpType.ELEMENTWISE: "elementwise", OpType.DATA_MOVEMENT: "data_movement",
    OpType.POOLING: "pooling", OpType.OTHER: "other",
}  # fmt: skip

_ORT_OPS = {
    "conv": {"Conv", "FusedConv", "Gemm", "FusedGemm", "MatMul", "QLinearConv", "ConvInteger", "QLinearMatMul"},
    "data_movement": {
        "Concat", "Transpose", "Reshape", "Split", "Slice", "ReorderInput", "ReorderOutput", "Gather",
        "Flatten", "Squeeze", "Unsqueeze", "Identity", "Expand", "Tile", "Shape", "QuantizeLinear",
        "DequantizeLinear", "DynamicQuantizeLinear",
    },
    "pooling": {"MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "ReduceMean", "QLinearGlobalAveragePool"},
    "elementwise": {
        "Relu", "Add", "Mul", "Sigmoid", "Clip", "BatchNormalization", "Sum", "Div", "Sub", "HardSigmoid",
        "HardSwish", "QLinearAdd", "QLinearMul", "QLinearSigmoid",
    },
}  # fmt: skip

#: OpenVINO's CPU node types (its profiler's ``node_type``); "Subgraph" is its fused element-wise code
_OV_OPS = {
    "conv": {"Convolution", "GroupConvolution", "FullyConnected", "MatMul", "Deconvolution"},
    "data_movement": {
        "Concat", "ShuffleChannels", "Transpose", "Reshape", "Split", "VariadicSplit", "Reorder", "Gather",
        "StridedSlice", "Slice", "Squeeze", "Unsqueeze", "DepthToSpace", "SpaceToDepth", "Convert", "Pad",
        "Broadcast", "Tile",
    },
    "pooling": {"MaxPool", "AvgPool", "ReduceMean", "ReduceMax", "AdaptiveAvgPool", "AdaptiveMaxPool"},
    "elementwise": {
        "Eltwise", "Subgraph", "Multiply", "Add", "Relu", "Sigmoid", "Clamp", "Swish", "HSwish", "HSigmoid",
        "FakeQuantize",
    },
}  # fmt: skip


@dataclass(frozen=True)
class Breakdown:
    """Milliseconds per forward pass in each group, and the total."""

    runtime: str
    ms: dict[str, float]

    @property
    def total_ms(self) -> float:
        return sum(self.ms.values())

    def shares(self) -> dict[str, float]:
        total = self.total_ms or 1.0
        return {g: self.ms.get(g, 0.0) / total for g in GROUPS}


def _conv_group(shapes: Sequence[Sequence[int]]) -> str:
    """Conv or depthwise from (input, weight) shapes: groups = C_in / weight.shape[1]."""
    if len(shapes) >= 2 and len(shapes[0]) == 4 and len(shapes[1]) == 4 and shapes[1][1]:
        c_in, weight = shapes[0][1], shapes[1]
        return _GROUP[classify_conv(c_in, weight[0], weight[2:], c_in // weight[1])]
    return "conv"


def _torch_group(name: str, shapes: Sequence[Sequence[int]]) -> str:
    op = name.removeprefix("aten::")
    if "conv" in op:
        return _conv_group(shapes)
    if op in ("addmm", "mm", "bmm", "linear", "matmul"):
        return "conv"
    packet = getattr(torch.ops.aten, op, None)
    overload = getattr(packet, "default", None)
    pointwise = overload is not None and torch.Tag.pointwise in overload.tags
    return _GROUP[classify_op(op, pointwise)]


def _ort_group(op: str, shapes: Sequence[Sequence[int]]) -> str:
    if op in ("Conv", "FusedConv"):
        return _conv_group(shapes)
    return next((g for g, ops in _ORT_OPS.items() if op in ops), "other")


def _ov_group(node_type: str, exec_type: str) -> str:
    """OpenVINO names its depthwise kernels ``*_dw_*`` (``brgconv_avx512_dw_f32``); a grouped 1x1 conv
    is the same node type with another kernel."""
    if node_type == "GroupConvolution" and "_dw" in exec_type:
        return "depthwise"
    return next((g for g, ops in _OV_OPS.items() if node_type in ops), "other")


def _torch_breakdown(model: nn.Module, x: torch.Tensor, iters: int, runtime: str) -> Breakdown:
    from torch.profiler import ProfilerActivity, profile, record_function

    with torch.inference_mode():
        model(x)
        with quiet_fds():  # its tracer logs each start and stop, and an "ERROR" line where no GPU is
            with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
                for _ in range(iters):
                    with record_function(_PASS):
                        model(x)
            events = prof.events()
    starts = sorted(e.time_range.start for e in events if e.name == _PASS)
    timed = ((e.time_range.start, _torch_group(e.name, e.input_shapes or []), e.self_cpu_time_total / 1e3)
             for e in events if e.name != _PASS)  # fmt: skip
    return Breakdown(runtime, _median_pass(_by_pass(starts, timed)))


def _by_pass(starts: Sequence[float], timed: Iterable[tuple[float, str, float]]) -> list[dict[str, float]]:
    """ms per group in each profiled pass: each ``(start, group, ms)`` goes to the pass that began last before it
    (``starts``: the passes' start times, sorted; a profiler lists its events, not the passes they belong to)."""
    passes: list[dict[str, float]] = [defaultdict(float) for _ in starts]
    for start, group, ms in timed:
        passes[max(bisect.bisect_right(starts, start) - 1, 0)][group] += ms
    return passes


def _median_pass(passes: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Each group's median over the profiled passes: a pass the host slowed (a cloud VM's regime switch, another
    process) moves a mean, not the median."""
    groups = {g for p in passes for g in p}
    return {g: statistics.median(p.get(g, 0.0) for p in passes) for g in groups}


def _ort_breakdown(model: nn.Module, x: torch.Tensor, iters: int, threads: int | None, ours: bool) -> Breakdown:
    runtime = "onnxruntime-shufflenet" if ours else "onnxruntime"
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.onnx")
        ONNX_WRITERS[runtime](model, x, path)
        session = ort_session(path, threads, x.device, profile=os.path.join(tmp, "profile"))
        feed = {session.get_inputs()[0].name: x.numpy()}
        for _ in range(iters + 1):  # the first is a warm-up
            session.run(None, feed)
        with open(session.end_profiling(), encoding="utf-8") as f:
            events = json.load(f)
    starts = sorted(e["ts"] for e in events if e.get("cat") == "Session" and e["name"] == "model_run")
    nodes = [e for e in events if e.get("cat") == "Node" and e["name"].endswith("_kernel_time")]
    shapes = [[next(iter(t.values())) for t in e["args"].get("input_type_shape", [])] for e in nodes]
    timed = ((e["ts"], _ort_group(e["args"]["op_name"], s), e["dur"] / 1e3) for e, s in zip(nodes, shapes))
    return Breakdown(runtime, _median_pass(_by_pass(starts, timed)[1:]))


def _ov_breakdown(model: nn.Module, x: torch.Tensor, iters: int, threads: int | None, runtime: str) -> Breakdown:
    request = ov_compile(OPENVINO_IRS[runtime](model, x), threads, profile=True).create_infer_request()
    feed = [x.numpy()]
    request.infer(feed)  # warm-up: its first run's times are not the steady state's
    passes: list[dict[str, float]] = []
    for _ in range(iters):
        request.infer(feed)
        passes.append(defaultdict(float))
        for node in request.get_profiling_info():  # the last run's times
            if node.status == node.Status.EXECUTED:
                passes[-1][_ov_group(node.node_type, node.exec_type)] += node.real_time.total_seconds() * 1e3
    return Breakdown(runtime, _median_pass(passes))


@renamed_kwargs(input_size="img_size")
def breakdown(
    model: nn.Module,
    *,
    runtime: str = "eager",
    batch: int = 1,
    img_size: int = 224,
    in_chans: int = 3,
    threads: int | None = None,
    iters: int | None = None,
) -> Breakdown:
    """Profile ``iters`` forward passes in ``runtime`` (one of :data:`BREAKDOWN_RUNTIMES`) and sum
    operator time per group: each group's median over the passes, in ms. ``iters`` defaults to 100, and to
    20 in PyTorch, whose profiler reads back one Python object per operator call (100 passes of V2 1x:
    133k objects, 11 s)."""
    if runtime not in BREAKDOWN_RUNTIMES:
        raise ValueError(f"breakdown reads the profilers of {', '.join(BREAKDOWN_RUNTIMES)}, not {runtime!r}")
    x = torch.randn(batch, in_chans, img_size, img_size)
    model = model.eval()
    with num_threads(threads):
        if runtime in ("eager", "torch-fused"):
            return _torch_breakdown(deploy(model) if runtime == "torch-fused" else model, x, iters or 20, runtime)
        iters = iters or 100
        if runtime.startswith("openvino"):
            return _ov_breakdown(model, x, iters, threads, runtime)
        return _ort_breakdown(model, x, iters, threads, ours=runtime == "onnxruntime-shufflenet")
