"""What torchvision's channel shuffle costs in each runtime: its ShuffleNet V2 as the runtime's own
converter writes it, against the same network with the shuffle made the identity (wrong logits, the
same convs, concats and splits), measured side by side.

    .venv/bin/python benchmarks/shuffle_cost.py [--model shufflenet_v2_x1_0] [--runtimes litert ncnn ...]

The share is the most any rewrite of the shuffle alone can win in that runtime (LiteRT's converter then
also drops each unit's concat and the split that undoes it, so there it overstates): where it is small
the runtime already pays little for torchvision's shuffle, and a faster file has to save elsewhere
(the split's and concat's copies, or the convs). Files are made and opened as in
``benchmarks/runtimes.py`` ("standard"); 2 threads, batch 1, raced (``shufflenet.bench.race``).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
from pathlib import Path

import torch

from common import add_race_args, kept_ratio, regime_race, shuffle_deleted
from runtimes import RUNTIMES, TORCHVISION, models, standard
from shufflenet.bench import machine_info, round_ratio


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="shufflenet_v2_x1_0", choices=sorted(m for m in TORCHVISION if "shuffle" in m))
    ap.add_argument("--runtimes", nargs="+", default=list(RUNTIMES), choices=RUNTIMES)
    add_race_args(ap, batches=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    info = machine_info()
    print(f"# {args.model}, batch 1; {info['cpu']} ({info['cpu_flags']}), {args.threads} threads")
    tv, _ = models(args.model)
    x = torch.randn(1, 3, 224, 224)
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for rt in args.runtimes:
            for variant in ("shuffle", "identity"):
                folder = Path(tmp) / f"{rt}-{variant}"
                folder.mkdir()
                with shuffle_deleted() if variant == "identity" else contextlib.nullcontext():
                    runs[(rt, variant)] = standard(rt, tv, x, folder, args.threads)
    xn = x.numpy()
    times, note = regime_race({k: (lambda f=f: f(xn)) for k, f in runs.items()}, args, min_iters=3)
    print("| runtime | torchvision's V2 ms | shuffle as identity ms | shuffle's share | best-regime rounds |")
    print("|---|---:|---:|---:|---:|")
    for rt in args.runtimes:
        with_ms, without_ms = statistics.median(times[(rt, "shuffle")]), statistics.median(times[(rt, "identity")])
        share = 1 - round_ratio(times[(rt, "identity")], times[(rt, "shuffle")])
        best, kept = kept_ratio(times[(rt, "identity")], times[(rt, "shuffle")])
        print(f"| {rt} | {with_ms:.2f} | {without_ms:.2f} | {100 * share:.0f}% | {100 * (1 - best):.0f}% ({kept}) |")
    print(note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
