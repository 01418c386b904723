"""Ours against each runtime's standard path, per runtime, same weights, measured side by side.

    .venv/bin/python benchmarks/runtimes.py [--models shufflenet_v2_x1_0 ...] [--runtimes onnxruntime openvino]
        [--target avx512] [--batches 1 8] [--threads 2] [--rounds 25]

For each model and runtime, two files of the same weights run in that runtime's plain API (no help
from our Python code beyond one call per batch):

* **standard**: what a user of the runtime gets from the PyTorch model with the runtime's own
  converter: ``torch.onnx.export`` (TorchScript exporter) into an ONNX Runtime session,
  ``openvino.convert_model`` (OpenVINO's PyTorch frontend) compiled for the CPU, or ``pnnx.export``
  (float32 weights) into an ncnn net (one image per call: ncnn has no batch axis), or
  ``torch.export`` lowered to XNNPACK into an ExecuTorch program (one image per call), or
  ``litert_torch.convert`` into a LiteRT interpreter (XNNPACK; one image per call). The PyTorch model is
  torchvision's where torchvision has the network (ShuffleNet V2 0.5x-2x, MobileNet V2), else ours.
* **ours**: ``shufflenet export`` (``--format onnx`` / ``openvino`` / ``ncnn`` / ``executorch`` / ``litert``;
  the ONNX file for ``--target``, by default this host's CPU class), opened with the runtime's API. For ExecuTorch and LiteRT both use our exporter (the runtime's own
  converter, verified): the standard path's network is torchvision's, ours is our eager model.

Both are float32, static batch, ``--threads`` threads. Contenders are raced (``shufflenet.bench.race``):
blocks of calls with a pause before each (ONNX Runtime's spinning threads settle), the order rotated
every round. The table
gives the median latency over rounds, the median per-round speed-up (standard / ours) with the 10th-90th
percentile of the rounds' speed-ups, the median speed-up over the rounds in which both sides ran in the host's
best regime (``common.kept_ratio``; a probe as each round starts, ``shufflenet.bench.machine.parallel_speedup``: cloud hosts switch regimes
within minutes, and the ratio differs between them; ``docs/measuring.md``), and ours against the compute floor
(``shufflenet.bench.machine.ComputePeak``). Under each batch's rows: the runtime that ran ours fastest, its
time against ours in ONNX Runtime (per round), and the probe's summary.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import sys
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torchvision

import shufflenet
from common import RUNTIME_PACKAGES, add_race_args, ratio_cell, regime_race, require_runtimes
from shufflenet.bench import machine_info, round_ratio, round_ratios
from shufflenet.bench.machine import compute_peak, onnx_target
from shufflenet.bench.timing import percentile, steady_ratios
from shufflenet.complexity import analyze
from shufflenet.export.executorch import export_executorch
from shufflenet.export.graph import TARGETS
from shufflenet.export.litert import export_litert
from shufflenet.export.ncnn import export_ncnn
from shufflenet.export.openvino import export_openvino
from shufflenet.runtimes import (
    ExecuTorchRunner,
    LiteRtRunner,
    NcnnRunner,
    OpenVinoRunner,
    ort_session,
    ov_compile,
    ov_core,
)
from shufflenet.utils.quiet import quiet_fds

Run = Callable[[np.ndarray], np.ndarray]
#: our registered models that torchvision also has (their weights convert with from_torchvision)
TORCHVISION = {
    "shufflenet_v2_x0_5",
    "shufflenet_v2_x1_0",
    "shufflenet_v2_x1_5",
    "shufflenet_v2_x2_0",
    "mobilenet_v2_x1_0",
}
RUNTIMES = tuple(RUNTIME_PACKAGES)


def _quiet() -> contextlib.ExitStack:
    stack = contextlib.ExitStack()
    stack.enter_context(warnings.catch_warnings())
    warnings.simplefilter("ignore")
    stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
    return stack


def models(name: str) -> tuple[torch.nn.Module, torch.nn.Module]:
    """(the standard path's PyTorch model, ours) with the same weights and non-trivial BN statistics."""
    torch.manual_seed(0)
    if name in TORCHVISION:
        tv = getattr(torchvision.models, name.replace("_x1_0", "") if name.startswith("mobilenet") else name)()
        for m in tv.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
        tv.eval()
        return tv, shufflenet.from_torchvision(tv).eval()
    ours = shufflenet.create_model(name).eval()
    return ours, ours


def standard(runtime: str, model: torch.nn.Module, x: torch.Tensor, tmp: Path, threads: int) -> Run:
    if runtime == "onnxruntime":
        with _quiet():
            torch.onnx.export(model, (x,), str(tmp / "std.onnx"), dynamo=False)
        session = ort_session(str(tmp / "std.onnx"), threads, torch.device("cpu"))
        name = session.get_inputs()[0].name
        return lambda a: session.run(None, {name: a})[0]
    if runtime == "executorch":  # PyTorch's own mobile path: torch.export, lowered to XNNPACK
        path = export_executorch(model, tmp / "std.pte", input_shape=tuple(x.shape)).path
        return ExecuTorchRunner(path).run
    if runtime == "litert":  # LiteRT's own PyTorch converter
        return LiteRtRunner(export_litert(model, tmp / "std.tflite", input_shape=tuple(x.shape)).path, threads).run
    if runtime == "ncnn":
        import pnnx

        with quiet_fds():
            pnnx.export(model, str(tmp / "std.pt"), x[:1], fp16=False)
        return NcnnRunner(tmp / "std.ncnn.param", threads).run
    import openvino as ov

    with _quiet():
        ir = ov.convert_model(model, example_input=x)
    ir.reshape(list(x.shape))  # static, as ours and as an app compiles it: the converter leaves [?,3,?,?], ~17% slower
    return OpenVinoRunner(ov_compile(ir, threads)).run


def ours(
    runtime: str, model: torch.nn.Module, x: torch.Tensor, tmp: Path, threads: int, target: str = "portable"
) -> Run:
    if runtime == "onnxruntime":
        path = shufflenet.export_onnx(model, tmp / "ours.onnx", input_shape=tuple(x.shape), target=target).path
        session = ort_session(str(path), threads, torch.device("cpu"))
        name = session.get_inputs()[0].name
        return lambda a: session.run(None, {name: a})[0]
    if runtime == "executorch":
        return ExecuTorchRunner(export_executorch(model, tmp / "ours.pte", input_shape=tuple(x.shape)).path).run
    if runtime == "litert":
        return LiteRtRunner(export_litert(model, tmp / "ours.tflite", input_shape=tuple(x.shape)).path, threads).run
    if runtime == "ncnn":
        return NcnnRunner(export_ncnn(model, tmp / "ours.ncnn.param", input_shape=tuple(x.shape)).path, threads).run
    export_openvino(model, tmp / "ours.xml", input_shape=tuple(x.shape))
    ir = ov_core().read_model(str(tmp / "ours.xml"))  # the file alone, through OpenVINO's own API
    ir.reshape(list(x.shape))
    return OpenVinoRunner(ov_compile(ir, threads)).run


def fastest(times: dict[tuple[str, int], list[float]], name: str, batch: int) -> str:
    """The line naming the runtime that ran ours fastest (median over rounds), with its per-round speed-up over
    ours in ONNX Runtime when ONNX Runtime ran."""
    best = min((rt for rt, side in times if side == 1), key=lambda rt: statistics.median(times[(rt, 1)]))
    line = f"fastest for ours ({name}, batch {batch}): {best}, {statistics.median(times[(best, 1)]):.2f} ms"
    if ("onnxruntime", 1) in times and best != "onnxruntime":
        line += f", {round_ratio(times[('onnxruntime', 1)], times[(best, 1)]):.2f}x ours in onnxruntime"
    return line


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=["shufflenet_v2_x1_0"])
    ap.add_argument("--runtimes", nargs="+", default=list(RUNTIMES), choices=RUNTIMES)
    ap.add_argument("--target", choices=tuple(TARGETS), default=onnx_target(),
                    help="the CPU class our ONNX file is written for (export --target; default: this host's)")  # fmt: skip
    ap.add_argument("--plot", help="also draw the best-regime speed-ups per runtime and batch to this figure "
                    "(.png, .svg, .pdf)")  # fmt: skip
    add_race_args(ap)
    args = ap.parse_args()
    if args.plot:
        from shufflenet.bench.plots import check_figure_path  # matplotlib: only when plotting

        check_figure_path(args.plot)
    versions = require_runtimes(args.runtimes)
    torch.set_num_threads(args.threads)
    info = machine_info()
    peak = compute_peak(args.threads)
    print(f"# {info['cpu']} ({info['cpu_flags']}), {info['cores']} cores, {args.threads} threads; torch "
          f"{info['torch']}, {versions}; our ONNX file: --target {args.target}")  # fmt: skip
    print("| model | runtime | batch | standard ms | ours ms | speed-up | p10-p90 | best-regime rounds | ours / floor "
          "| max abs diff |")  # fmt: skip
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    worst = 0.0
    speedups: dict[str, dict[str, list[float]]] = {}  # runtime (and model) -> batch -> best-regime per-round ratios
    for name in args.models:
        theirs, mine = models(name)
        macs = analyze(mine, (1, 3, 224, 224)).flops
        for batch in args.batches:
            x = torch.randn(batch, 3, 224, 224)
            xn = x.numpy()
            with tempfile.TemporaryDirectory() as tmp:
                pairs = {rt: (standard(rt, theirs, x, Path(tmp), args.threads), ours(rt, mine, x, Path(tmp),
                         args.threads, args.target)) for rt in args.runtimes}  # fmt: skip
            with torch.no_grad():
                want = mine(x).numpy()
            diffs = {rt: max(float(np.abs(f(xn) - want).max()) for f in fs) for rt, fs in pairs.items()}
            times, note = regime_race({(rt, i): (lambda fn=fn: fn(xn)) for rt, fns in pairs.items()
                                             for i, fn in enumerate(fns)}, args, min_iters=3)  # fmt: skip
            for rt in pairs:
                std_ms, our_ms = statistics.median(times[(rt, 0)]), statistics.median(times[(rt, 1)])
                spread = round_ratios(times[(rt, 0)], times[(rt, 1)])
                ratio = statistics.median(spread)
                worst = max(worst, diffs[rt])
                kept = steady_ratios(times[(rt, 0)], times[(rt, 1)])  # the table's best-regime cell and the plot
                print(f"| {name} | {rt} | {batch} | {std_ms:.2f} | {our_ms:.2f} | {ratio:.2f}x | "
                      f"{percentile(spread, 10):.2f}-{percentile(spread, 90):.2f} | "
                      f"{ratio_cell(kept)} | {our_ms / peak.floor_ms(macs * batch):.2f}x | {diffs[rt]:.1e} |", flush=True)  # fmt: skip
                group = rt if len(args.models) == 1 else f"{name}\n{rt}"
                speedups.setdefault(group, {})[f"batch {batch}"] = kept
            print(fastest(times, name, batch), note, sep="\n", flush=True)
    if args.plot:
        from shufflenet.bench.plots import plot_speedups

        what = args.models[0] if len(args.models) == 1 else "ours"
        plot_speedups(speedups, args.plot, title=f"{what} against each runtime's conversion of torchvision's, best-regime "
                      f"rounds ({info['cpu']}, {args.threads} threads)")  # fmt: skip
        print(f"# plot written to {args.plot}")
    if worst > 1e-3:
        print(f"logits differ by {worst:.2g} (> 1e-3)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
