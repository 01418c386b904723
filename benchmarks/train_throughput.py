"""Training throughput on Fashion-MNIST-sized input: our ShuffleNet V2 0.5x vs torchvision's,
both with the same small-input stem (stride-1 3x3 conv, no max-pool), measured side by side.

    .venv/bin/python benchmarks/train_throughput.py [--threads 2] [--batch 128] [--rounds 5] [--no-bf16]

Prints images/s of a full SGD step (forward, backward, update) for each in NCHW, in
channels-last and in channels-last with bfloat16 autocast (the `--precision bfloat16`
of `shufflenet train`), and the ratios (median per-round ratio; the steps are raced, ``shufflenet.bench.race``).
"""

from __future__ import annotations

import argparse
import statistics
import sys

import torch
import torchvision
from torch import nn

import shufflenet
from shufflenet.bench import machine_info, race, round_ratio


def torchvision_small_input(num_classes: int = 10) -> nn.Module:
    """torchvision's shufflenet_v2_x0_5 with our small-input stem: 1 channel, stride 1, no max-pool."""
    model = torchvision.models.shufflenet_v2_x0_5(num_classes=num_classes)
    model.conv1[0] = nn.Conv2d(1, 24, 3, 1, 1, bias=False)
    model.maxpool = nn.Identity()
    return model


def step_fn(model: nn.Module, batch: int, channels_last: bool, bf16: bool = False):  # type: ignore[no-untyped-def]
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    x, y = torch.randn(batch, 1, 28, 28), torch.randint(0, 10, (batch,))
    if channels_last:
        model, x = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    model.train()

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(x)
        loss = nn.functional.cross_entropy(logits.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--no-bf16", action="store_true", help="leave out the bfloat16 autocast rows")
    ap.add_argument("--seconds", type=float, default=2.0, help="timed seconds per model per round")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    def ours() -> nn.Module:
        return shufflenet.create_model("shufflenet_v2_x0_5", num_classes=10, in_chans=1, small_input=True)

    assert sum(p.numel() for p in ours().parameters()) == sum(p.numel() for p in torchvision_small_input().parameters())
    settings = {"": (False, False), " (channels-last)": (True, False)}
    if not args.no_bf16:
        settings[" (channels-last, bf16)"] = (True, True)
    steps = {
        f"{who}{setting}": step_fn(make(), args.batch, *flags)
        for setting, flags in settings.items()
        for who, make in (("ours", ours), ("torchvision", torchvision_small_input))
    }
    medians = race(steps, rounds=args.rounds, block_s=args.seconds)  # drifts of the machine hit all alike
    m = machine_info()
    print(f"# training throughput, batch {args.batch}, 28x28x1, {args.threads} threads, {m['cpu']}, torch {m['torch']}")
    ips = {k: args.batch * 1e3 / statistics.median(v) for k, v in medians.items()}
    for name, value in ips.items():
        print(
            f"{name:34s} {value:8.1f} images/s   (rounds: {', '.join(f'{args.batch * 1e3 / v:.0f}' for v in medians[name])})"
        )
    ratios = ", ".join(
        f"{round_ratio(medians['torchvision' + k], medians['ours' + k]):.3f}{k or ' (NCHW)'}" for k in settings
    )  # per round
    best = max(v for k, v in ips.items() if k.startswith("ours"))
    theirs_best = max(v for k, v in ips.items() if k.startswith("torchvision"))
    print(f"ratio ours / torchvision: {ratios}, {best / theirs_best:.3f} (best setting of each)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
