"""An image folder's training epoch with ``--in-memory`` (decoded once, batches augmented in memory) against the
decoding path (every image decoded, resized and augmented again each epoch), on the same folder.

    .venv/bin/python benchmarks/folder_data.py [--images 3000] [--photo 160x120] [--size 64] [--threads 2]

Writes a folder of JPEG photos (smooth random content, ``--photo`` pixels, as a phone's thumbnails), then times,
in rounds (each contender once per round, in a rotating order), one epoch of each path's batches with its training steps
(V2 0.5x, batch 64, SGD, channels-last, float32), on one process with ``--threads`` threads and no decoding workers
(``shufflenet train``'s default on a CPU). Also reports the data alone (batches without steps) and the one-off cost
of decoding the folder into memory.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from shufflenet import create_model
from shufflenet.bench.timing import rotating_rounds
from shufflenet.train import TrainConfig
from shufflenet.train.data import prepare_data
from shufflenet.train.distributed import DistEnv
from shufflenet.utils.host import describe_host


def write_photos(root: Path, n: int, width: int, height: int, classes: int = 10) -> None:
    """``n`` JPEGs in ``classes`` folders: low-frequency random colour fields, which compress like photos do."""
    rng = np.random.default_rng(0)
    for i in range(n):
        folder = root / f"c{i % classes}"
        folder.mkdir(parents=True, exist_ok=True)
        coarse = rng.integers(0, 256, (height // 8, width // 8, 3), np.uint8)
        img = Image.fromarray(coarse).resize((width, height), Image.Resampling.BICUBIC)
        img.save(folder / f"{i}.jpg", quality=90)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=3000)
    ap.add_argument("--photo", default="160x120", help="WIDTHxHEIGHT of the JPEG files")
    ap.add_argument("--size", type=int, default=64, help="the training side (--img-size)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", "no --val-dir or --val-split")  # scored on the training images: not scored here
    width, height = map(int, args.photo.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "photos"
        write_photos(root, args.images, width, height)
        base = dict(dataset="imagefolder", data_dir=str(root), img_size=args.size, batch_size=64, workers=0,
                    crop_padding=4, random_erasing=0.1, mean=(0.5,) * 3, std=(0.25,) * 3)  # fmt: skip
        decoding = prepare_data(TrainConfig(**base), DistEnv())
        t0 = time.perf_counter()
        held = prepare_data(TrainConfig(**base, in_memory=True), DistEnv())
        decode_once = time.perf_counter() - t0
        model = create_model("shufflenet_v2_x0_5", num_classes=10).to(memory_format=torch.channels_last).train()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

        def epoch(data, train: bool):  # type: ignore[no-untyped-def]
            def run() -> None:
                for x, y in data.train_batches(0):
                    if train:
                        loss = nn.functional.cross_entropy(model(x.contiguous(memory_format=torch.channels_last)), y)
                        opt.zero_grad(set_to_none=True)
                        loss.backward()
                        opt.step()

            return run

        contenders = {"decoding, data only": epoch(decoding, False), "in memory, data only": epoch(held, False),
                      "decoding, training": epoch(decoding, True), "in memory, training": epoch(held, True)}  # fmt: skip
        epoch(held, True)()  # warm-up: the allocator and oneDNN's kernels for these shapes
        times: dict[str, list[float]] = {k: [] for k in contenders}
        for _, name in rotating_rounds(list(contenders), args.rounds):
            time.sleep(0.5)
            t = time.perf_counter()
            contenders[name]()
            times[name].append(time.perf_counter() - t)
    print(f"# {describe_host()}; {args.threads} threads")
    print(f"{args.images} JPEGs of {width}x{height} px, trained at {args.size} px, {args.rounds} rounds; decoding "
          f"them into memory once: {decode_once:.1f} s\n")  # fmt: skip
    print("| epoch | median s | images/s |\n|---|---:|---:|")
    medians = {}
    for name, runs in times.items():
        medians[name] = statistics.median(runs)
        print(f"| {name} | {medians[name]:.2f} | {args.images / medians[name]:,.0f} |")
    for what in ("data only", "training"):
        print(f"\nin memory vs decoding, {what}: {medians[f'decoding, {what}'] / medians[f'in memory, {what}']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
