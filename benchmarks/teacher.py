"""What a distillation teacher costs per training image (``train --teacher``), and what its form buys.

    .venv/bin/python benchmarks/teacher.py [--teacher MODEL:TAG] [--batch 64] [--threads 1] [--rounds 5]

Races, on Fashion-MNIST-sized input (28x28x1) at the training batch of one process, the teacher's forward pass as
trained (BatchNorm in eval mode, channels-last) against its inference form (``deploy``: BN folded, what
``load_teacher`` runs), and, for ``--teacher-tta``, the batch and its mirror image in one call of twice the batch
against two calls (what ``Teacher`` does on a CPU). Precision: ``auto`` as training resolves it on this host.
"""

from __future__ import annotations

import argparse
import statistics

import torch

from shufflenet.bench import machine_info, race
from shufflenet.layers.deploy import deploy
from shufflenet.models import create_model
from shufflenet.train.config import autocast_to
from shufflenet.train.loop import resolve_precision


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--teacher", default="shufflenet_v2_x0_5:fashion-mnist-hires-wider")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1, help="per training process (torchrun on 2 cores: 1)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=2.0, help="timed seconds per contender per round")
    ap.add_argument("--pause", type=float, default=0.1, help="rest before each block (s)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cpu = torch.device("cpu")
    precision = resolve_precision("auto", cpu)
    name, tag = args.teacher.split(":", 1)
    trained = create_model(name, pretrained=tag).eval().requires_grad_(False).to(memory_format=torch.channels_last)
    folded = deploy(trained)
    x = torch.randn(args.batch, *trained.pretrained_cfg["input_size"]).contiguous(memory_format=torch.channels_last)
    both = torch.cat([x, x.flip(-1)])

    def timed(fn):  # type: ignore[no-untyped-def]
        def call() -> None:
            with torch.no_grad(), autocast_to(precision, cpu):
                fn()

        return call

    contenders = {
        "as trained (BN in eval mode)": timed(lambda: trained(x)),
        "inference form (deploy)": timed(lambda: folded(x)),
        "mirror too: one call of 2x the batch": timed(lambda: folded(both)),
        "mirror too: two calls": timed(lambda: (folded(x), folded(x.flip(-1)))),
    }
    ms = {
        k: statistics.median(v)
        for k, v in race(contenders, rounds=args.rounds, block_s=args.seconds, pause_s=args.pause).items()
    }
    m = machine_info()
    print(f"# teacher {args.teacher}, batch {args.batch}, {args.threads} threads, {precision}, {m['cpu']}, "
          f"torch {m['torch']}")  # fmt: skip
    print("| teacher pass | ms per batch | ms per image |\n|---|---:|---:|")
    for k, v in ms.items():
        print(f"| {k} | {v:.1f} | {v / args.batch:.2f} |")
    one, two = ms["mirror too: one call of 2x the batch"], ms["mirror too: two calls"]
    print(f"\nfolding BN: {ms['as trained (BN in eval mode)'] / ms['inference form (deploy)']:.2f}x faster; "
          f"mirror images in two calls: {one / two:.2f}x the speed of one call")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
