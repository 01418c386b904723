"""The papers' detection comparison in miniature: backbones at matched FLOPs in the same detector.

    .venv/bin/python benchmarks/detection.py --data-dir DIR [--epochs 12] [--seeds 0,1,2]
        [--kind fcos|retinanet|fasterrcnn] [--only 0,1]

V1 (Table 7) and V2 (Table 7) put ShuffleNet into Faster R-CNN / Light-Head R-CNN on COCO and
compare backbones at equal complexity; V2 finds that ShuffleNet v2* (an extra 3x3 depthwise conv
before each first pointwise conv, a larger receptive field) detects better. Here every backbone
trains the same detector (FCOS unless ``--kind``) with the same schedule and seeds on the
synthetic COCO-format set (``shufflenet detect make-data``), one after another on this machine,
and is scored with pycocotools on the validation split. Backbone FLOPs are multiply-adds of the feature extractor
at the training image size; latency is the backbone's and the whole detector's (transform, FPN,
head, box decoding, NMS), batch 1, median of timed calls.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from shufflenet.bench import machine_info
from shufflenet.complexity import analyze
from shufflenet.detection import (
    DETECTORS,
    DetectConfig,
    detector_from_checkpoint,
    load_detector_checkpoint,
    train_detector,
)

#: (label, backbone, options): the V2 paper's four at its ~40M-FLOPs level (ImageNet 224 px)
BACKBONES = [
    ("ShuffleNet v2 0.5x", "shufflenet_v2_x0_5", {}),
    ("ShuffleNet v2* 0.5x", "shufflenet_v2_x0_5", {"extra_dw": True}),
    ("ShuffleNet v1 0.5x (g=3)", "shufflenet_v1_g3_x0_5", {}),
    ("MobileNet v2 0.35x", "mobilenet_v2_x0_35", {}),  # its smallest width: 59M at 224 px, the nearest to 40M
]


def latency_ms(call: Callable[[], object], rounds: int = 50) -> float:
    with torch.no_grad():
        for _ in range(5):
            call()
        times = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            call()
            times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def _mean(values: list[float]) -> str:
    """``0.412`` for one seed, ``0.412 (0.398, 0.419, 0.420)`` for several."""
    head = f"{statistics.mean(values):.3f}"
    return head if len(values) == 1 else f"{head} ({', '.join(f'{v:.3f}' for v in values)})"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", required=True, help="COCO layout, e.g. from `shufflenet detect make-data`")
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--img-size", type=int, default=128)
    p.add_argument("--kind", choices=DETECTORS, default="fcos", help="the detector every backbone goes into")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default="runs/detection-bench", help="a backbone's finished run here is reused")
    p.add_argument("--only", help="comma-separated labels' indices (0-3) to run")
    p.add_argument("--seeds", default="0", help="comma-separated training seeds; the table gives their mean (and each)")
    p.add_argument("--json", help="also write the rows to this file")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    picked = [BACKBONES[int(i)] for i in args.only.split(",")] if args.only else BACKBONES
    seeds = [int(k) for k in args.seeds.split(",")]
    rows = []
    for label, backbone, options in picked:
        runs = []
        for seed in seeds:  # seed 0 keeps the plain folder name, so its runs are reused
            name = backbone + ("_star" if options else "") + (f"_seed{seed}" if seed else "")
            out = Path(args.out) / (name if args.kind == "fcos" else f"{args.kind}_{name}")
            cfg = DetectConfig(data_dir=args.data_dir, backbone=backbone, backbone_options=options, kind=args.kind,
                               epochs=args.epochs, img_size=args.img_size, eval_every=args.epochs,
                               threads=args.threads, seed=seed, out_dir=str(out))  # fmt: skip
            history = train_detector(cfg, resume=str(out / "last.pt") if (out / "last.pt").exists() else None)
            runs.append((out, history))
            print(f"{label}, seed {seed}: mAP@.5 {history[-1]['val_map_50']:.3f}", file=sys.stderr, flush=True)
        model = detector_from_checkpoint(load_detector_checkpoint(runs[0][0] / "last.pt"))
        flops = analyze(model.backbone.body, (1, 3, args.img_size, args.img_size)).flops
        image = torch.rand(1, 3, args.img_size, args.img_size)
        rows.append({"backbone": label, "model": backbone, "options": options, "seeds": seeds,
                     "map_50": [h[-1]["val_map_50"] for _, h in runs], "map": [h[-1]["val_map"] for _, h in runs],
                     "backbone_mflops": flops / 1e6, "latency_ms": latency_ms(lambda: model([image[0]])),
                     "backbone_latency_ms": latency_ms(lambda: model.backbone.body(image)),
                     # evaluations included; a resumed run counts all its epochs
                     "train_min": statistics.mean(sum(e["epoch_s"] for e in h) / 60 for _, h in runs)})  # fmt: skip
    host = machine_info()
    print(f"host: {host['cpu']} ({host['cpu_flags']}), {args.threads} threads; {args.kind}, {args.img_size} px, "
          f"{args.epochs} epochs, seeds {args.seeds}, data {args.data_dir}\n")  # fmt: skip
    print("| backbone | backbone MFLOPs | mAP@.5 | mAP@[.5:.95] | latency (ms): backbone | detector | train (min) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['backbone']} | {r['backbone_mflops']:.1f} | {_mean(r['map_50'])} | {_mean(r['map'])} | "
              f"{r['backbone_latency_ms']:.1f} | {r['latency_ms']:.1f} | {r['train_min']:.0f} |")  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps({"host": host, "args": vars(args), "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
