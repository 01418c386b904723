"""Does starting from trained weights help on a user's own folder? Fine-tuning vs training from scratch.

    .venv/bin/python benchmarks/finetune.py [--seeds 0,1,2] [--epochs 8] [--per-class 300]

The task is a user's ImageFolder made from Fashion-MNIST: three super-classes (tops = T-shirt,
pullover, coat, shirt; footwear = sandal, sneaker, ankle boot; bags+trousers), ``--per-class`` PNG
images each from the *training* split, and a held-out folder of ``--held-out`` images per class
from the *test* split. Both runs train the same network (ShuffleNet V2 1x, grey 28 px) with the same
recipe and budget (epochs, batch, lr, augmentation, seed); one starts from the shipped
``shufflenet_v2_x1_0:fashion-mnist`` weights (``--init``, classifier reset to 3 classes), the other
from random weights. Top-1 is scored on the held-out folder after the last epoch.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from shufflenet.bench import machine_info
from shufflenet.data import FASHION_MNIST_DIR, load_fashion_mnist
from shufflenet.data.folders import write_image_folder
from shufflenet.train import TrainConfig, train

SUPERCLASSES = {"tops": [0, 2, 4, 6], "footwear": [5, 7, 9], "bags+trousers": [1, 8]}
SOURCE = "shufflenet_v2_x1_0:fashion-mnist"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--per-class", type=int, default=300)
    p.add_argument("--held-out", type=int, default=500)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--data-dir", default=FASHION_MNIST_DIR)
    p.add_argument("--json", help="also write the runs to this file")
    args = p.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_image_folder(load_fashion_mnist(args.data_dir, train=True), root / "train", groups=SUPERCLASSES,
                           per_class=args.per_class, seed=1)  # fmt: skip
        write_image_folder(load_fashion_mnist(args.data_dir, train=False), root / "held-out", groups=SUPERCLASSES,
                           per_class=args.held_out, seed=2)  # fmt: skip
        for seed in seeds:
            for init in (SOURCE, None):
                cfg = TrainConfig(
                    model="shufflenet_v2_x1_0", dataset="imagefolder", data_dir=str(root / "train"),
                    val_dir=str(root / "held-out"), in_chans=1, img_size=28, init=init, epochs=args.epochs,
                    batch_size=32, lr=2.0, warmup_epochs=0.5, label_smoothing=0.1, seed=seed, threads=args.threads,
                    eval_every=args.epochs, out_dir=str(root / f"run-{seed}-{'init' if init else 'scratch'}"),
                )  # fmt: skip
                t0 = time.perf_counter()
                result = train(cfg)
                top1 = float(result.last["val_top1"] or 0)
                runs.append({"seed": seed, "init": init or "random", "held_out_top1": top1,
                             "seconds": round(time.perf_counter() - t0, 1)})  # fmt: skip
                print(f"seed {seed} {init or 'scratch'}: {100 * top1:.2f}%", file=sys.stderr, flush=True)
    host = machine_info()
    print(f"host: {host.get('cpu')} ({host.get('cpu_flags')}), {args.threads} threads; "
          f"{args.per_class} training and {args.held_out} held-out images per class, {args.epochs} epochs\n")  # fmt: skip
    print("| start | " + " | ".join(f"seed {s}" for s in seeds) + " | mean | spread (max-min) | s/run |")
    print("|---|" + "---|" * (len(seeds) + 3))
    for start in (SOURCE, "random"):
        scores = [100 * r["held_out_top1"] for r in runs if r["init"] == start]
        secs = statistics.mean(r["seconds"] for r in runs if r["init"] == start)
        print(f"| {start} | " + " | ".join(f"{s:.2f}" for s in scores)
              + f" | {statistics.mean(scores):.2f} | {max(scores) - min(scores):.2f} | {secs:.0f} |")  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps({"host": host, "args": vars(args), "runs": runs}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
