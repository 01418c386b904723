"""Which V2 graph layout pays, on this host: our ONNX files against torchvision's export, same weights.

    .venv/bin/python benchmarks/layouts.py [--model shufflenet_v2_x1_0] [--rounds 25] [--batches 1 8]

Every contender is a file in a *plain* ONNX Runtime session (the user's deployment: the file
alone), with ONNX Runtime's worker threads spinning after each call (its default) and not
spinning. Contenders are raced (``shufflenet.bench.race``): *blocks* of calls with a pause before
each, rotated every round, so spinning threads of one session never steal the cores of the next. The table gives each contender's median latency over rounds and
the median of its per-round ratio to torchvision's export (``speed-up``), with the host and
its vector flags. torchvision's file also runs in a second session of its own ("again"): its
speed-up, ideally 1.00x, is the run's noise floor, the least difference this run can tell.
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
from common import add_race_args, full_ratio, regime_race
from shufflenet.bench import machine_info, round_ratio
from shufflenet.runtimes import ort_session

Run = Callable[[np.ndarray], np.ndarray]

#: (label, export_onnx keyword arguments): every layout for every target padding
LAYOUTS = [
    (f"{layout}, {target}", {"layout": layout, "target": target}) for layout in ("paired", "pieces")
    for target in ("portable", "avx2")
]  # fmt: skip


def session_run(path: Path, threads: int, spin: bool) -> Run:
    session = ort_session(str(path), threads, torch.device("cpu"), spin=spin)
    name = session.get_inputs()[0].name
    return lambda x: session.run(None, {name: x})[0]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="shufflenet_v2_x1_0")
    add_race_args(ap)
    args = ap.parse_args()
    torch.manual_seed(0)
    theirs = getattr(torchvision.models, args.model)().eval()
    ours = shufflenet.from_torchvision(theirs).eval()
    info = machine_info()
    print(f"# {info['cpu']} ({info['cpu_flags']}), {info['cores']} cores, {args.threads} threads; "
          f"torch {info['torch']}, onnxruntime {info['onnxruntime']}; {args.model}")  # fmt: skip
    print("| contender | spinning | batch | ms | speed-up vs torchvision (per round) | best-regime rounds |")
    print("|---|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for batch in args.batches:
            x = torch.randn(batch, 3, 224, 224)
            xn = x.numpy()
            tv = Path(tmp) / "tv.onnx"
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                warnings.simplefilter("ignore")
                torch.onnx.export(theirs, (x,), str(tv))
            files = {"torchvision export": tv, "torchvision export, again": tv}
            for label, kw in LAYOUTS:
                path = Path(tmp) / f"{label.replace(', ', '_').replace(' ', '')}.onnx"
                files[label] = shufflenet.export_onnx(ours, path, input_shape=tuple(x.shape), **kw).path
            for spin in (True, False):
                runs: dict[str, Run] = {k: session_run(p, args.threads, spin) for k, p in files.items()}
                want = runs["torchvision export"](xn)
                for k, fn in runs.items():
                    diff = float(np.abs(fn(xn) - want).max())
                    if diff > 1e-4:
                        print(f"{k}: logits differ by {diff:.2g}", file=sys.stderr)
                        return 1
                times, note = regime_race({k: (lambda fn=fn: fn(xn)) for k, fn in runs.items()}, args)
                base = times["torchvision export"]
                for k, ts in times.items():
                    print(f"| {k} | {'on' if spin else 'off'} | {batch} | {statistics.median(ts):.2f} | "
                          f"{round_ratio(base, ts):.2f}x | {full_ratio(base, ts)} |")  # fmt: skip
                print(note, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
