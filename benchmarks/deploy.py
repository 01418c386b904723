"""Deployment speed: our ShuffleNet V2 (1x by default) against torchvision's, with the same
weights, in each runtime, measured side by side in one run.

    .venv/bin/python benchmarks/deploy.py [--model shufflenet_v2_x1_0] [--target avx512] [--layout LAYOUT] [--threads 2] [--batches 1 8] [--rounds 25]

torchvision's model runs as its users run it: PyTorch eager in inference mode, and
``torch.onnx.export`` with its defaults (the dynamo exporter) in an ONNX Runtime
session with the same options and threads as ours; a last row uses the older
TorchScript exporter (``dynamo=False``), the default of earlier torch releases, and another
torchvision's export with its shuffle made the identity (wrong logits): what deleting the shuffle
alone would win, the ceiling of any shuffle rewrite. Ours runs as ``model.fuse()`` (eager) and as
``export_onnx`` for ``--target`` + ``Predictor`` (ONNX Runtime; batches of at least ``--threads`` images
split over single-threaded sessions, see ``Predictor``; a row gives ours on one session
with all threads, as torchvision's runs). Rounds are interleaved (every
contender once per round, in blocks of calls with a pause before each block: ``shufflenet.bench.race``) so that
drift of the machine hits all alike; the table
gives the median over rounds of each round's median latency, the ratio
torchvision / ours of those medians, the median of the per-round ratios (each
measured seconds apart, so the least touched by the machine's speed swings), that median over the rounds
in which both sides ran in the host's best regime (``common.kept_ratio``: cloud hosts switch regimes, and the
ratio with them), and
ours against the compute floor (multiply-adds at this CPU's peak: the higher of its vector width x FMA
units x clock and a tuned GEMM's measured rate; see ``shufflenet.bench.machine.ComputePeak``).
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
from common import add_race_args, full_ratio, randomise_bn, regime_race, shuffle_deleted
from shufflenet.bench import machine_info, round_ratio
from shufflenet.bench.machine import compute_peak, onnx_target
from shufflenet.complexity import analyze
from shufflenet.export.graph import LAYOUTS, TARGETS
from shufflenet.runtimes import ort_session

Predict = Callable[[np.ndarray], np.ndarray]
#: the row that puts ours (one session) beside torchvision's export without its shuffle
NO_SHUFFLE = "onnxruntime, torchvision without its shuffle (the ceiling of a shuffle rewrite) vs ours on one session"
TORCHVISION_V2 = ["shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5", "shufflenet_v2_x2_0"]


def torchvision_onnx(model: torch.nn.Module, example: torch.Tensor, path: Path, threads: int, **kw: object) -> Predict:
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (example,), str(path), **kw)  # torchvision users' defaults (+ kw)
    session = ort_session(str(path), threads, torch.device("cpu"))
    name = session.get_inputs()[0].name
    return lambda x: session.run(None, {name: x})[0]


def without_shuffle(model: torch.nn.Module, example: torch.Tensor, path: Path, threads: int) -> Predict:
    """torchvision's export with its channel shuffle made the identity (wrong logits, the same convs,
    splits and concats): the most that any rewrite of the shuffle alone could win in ONNX Runtime."""
    with shuffle_deleted():
        return torchvision_onnx(model, example, path, threads)


def torch_predict(model: torch.nn.Module) -> Predict:
    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return model(torch.from_numpy(x)).numpy()

    return run


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="shufflenet_v2_x1_0", choices=TORCHVISION_V2,
                    help="the ShuffleNet V2 width to compare (torchvision has these four)")  # fmt: skip
    ap.add_argument(
        "--target",
        choices=tuple(TARGETS),
        default=onnx_target(),
        help="the CPU class our file is written for (export --target; default: this host's, as a user exports "
        "for the CPU they ship to)",
    )
    ap.add_argument(
        "--layout", choices=LAYOUTS, help="how our file writes plain V2 units (export --layout; default: the target's)"
    )
    add_race_args(ap)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    theirs = getattr(torchvision.models, args.model)()
    randomise_bn(theirs)
    theirs.eval()
    ours = shufflenet.from_torchvision(theirs).eval()
    macs = analyze(ours, (1, 3, 224, 224)).flops
    peak = compute_peak(args.threads)
    info = machine_info()
    print(f"# {info['cpu']} ({info['cpu_flags']}), {info['cores']} cores, {args.threads} threads; "
          f"torch {info['torch']}, onnxruntime {info['onnxruntime']}")  # fmt: skip
    print(f"# ours: export_onnx(target={args.target!r}, layout={args.layout or 'the target choice'!r})")
    theory = "unknown clock" if peak.theoretical_gflops is None else (
        f"{peak.theoretical_gflops:.0f} GFLOP/s = 2 x {peak.lanes} lanes x {peak.fma_units} FMA units x "
        f"{peak.clock_ghz:.2f} GHz x {peak.cores} cores")  # fmt: skip
    print(f"# {args.model}: {macs / 1e6:.1f}M multiply-adds; peak {theory}; sgemm {peak.sgemm_gflops:.0f} GFLOP/s "
          f"-> compute floor {peak.floor_ms(macs):.2f} ms per image (at the higher of the two)")  # fmt: skip
    print("| runtime | batch | torchvision ms | ours ms | speed-up | per-round speed-up | best-regime rounds | ours / floor "
          "| max abs logit diff |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for batch in args.batches:
            x = torch.randn(batch, 3, 224, 224)
            xn = x.numpy()
            ours_path = shufflenet.export_onnx(
                ours,
                Path(tmp) / f"ours{batch}.onnx",
                input_shape=tuple(x.shape),
                target=args.target,
                layout=args.layout,
            ).path
            ours_ort = shufflenet.Predictor(ours_path, threads=args.threads).predict
            ours_one = shufflenet.Predictor(ours_path, threads=args.threads, split_batch=False).predict
            theirs_ort = torchvision_onnx(theirs, x, Path(tmp) / f"tv{batch}.onnx", args.threads)
            pairs: dict[str, tuple[Predict, Predict]] = {
                "eager": (torch_predict(theirs), torch_predict(ours.fuse())),
                "onnxruntime": (theirs_ort, ours_ort),
                **(
                    {}
                    if batch < args.threads
                    else {  # the same runtime without splitting the batch (see Predictor)
                        "onnxruntime, ours on one session": (theirs_ort, ours_one),
                    }
                ),
                "onnxruntime (torchvision via TorchScript export)": (
                    torchvision_onnx(theirs, x, Path(tmp) / f"tvts{batch}.onnx", args.threads, dynamo=False),
                    ours_ort,
                ),
                NO_SHUFFLE: (without_shuffle(theirs, x, Path(tmp) / f"tvid{batch}.onnx", args.threads), ours_one),
            }
            diffs = {k: float(np.abs(a(xn) - b(xn)).max()) for k, (a, b) in pairs.items() if k != NO_SHUFFLE}
            times, note = regime_race({(k, i): (lambda fn=fn: fn(xn)) for k, fns in pairs.items()
                                             for i, fn in enumerate(fns)}, args)  # fmt: skip
            for k in pairs:
                tv, us = statistics.median(times[(k, 0)]), statistics.median(times[(k, 1)])
                paired = round_ratio(times[(k, 0)], times[(k, 1)])
                floor = peak.floor_ms(macs * batch)
                worst = max(worst, diffs.get(k, 0.0))
                diff = f"{diffs[k]:.1e}" if k in diffs else "(wrong logits)"
                print(f"| {k} | {batch} | {tv:.2f} | {us:.2f} | {tv / us:.2f}x | {paired:.2f}x | "
                      f"{full_ratio(times[(k, 0)], times[(k, 1)])} | {us / floor:.2f}x | {diff} |")  # fmt: skip
            print(note)
    if worst > 1e-4:
        print(f"logits differ by {worst:.2g} (> 1e-4)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
