"""``shufflenet detect make-data | train | eval | predict``: thin layers over shufflenet.detection."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from shufflenet.cli.common import (
    CliError,
    CurvesWriter,
    json_object,
    positive_int,
    progress_bar,
    reject_with_resume,
    stderr_console,
    unit_float,
)
from shufflenet.cli.render import FORMATS, render
from shufflenet.utils.files import check_output_dir

if TYPE_CHECKING:
    from shufflenet.detection import CocoDetectionData

__all__ = ["add_commands"]


def _bar(err: Console, quiet: bool = False) -> Progress:
    return progress_bar(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[info]}"),
                        TimeElapsedColumn(), TimeRemainingColumn(), console=err, quiet=quiet)  # fmt: skip


def _cmd_make_data(args: argparse.Namespace, console: Console) -> int:
    from shufflenet.detection import make_detection_set

    with _bar(stderr_console()) as bar:
        task = bar.add_task("writing images", total=None, info="")
        counts = make_detection_set(
            args.out, train_images=args.train_images, val_images=args.val_images, img_size=args.img_size,
            max_objects=args.max_objects, seed=args.seed, data_dir=args.data_dir,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )  # fmt: skip
    console.print(f"{args.out}: {args.train_images} training images ({counts['train']} boxes), {args.val_images} "
                  f"validation images ({counts['val']} boxes), {args.img_size} px, COCO format", highlight=False)  # fmt: skip
    return 0


def _cmd_train(args: argparse.Namespace, console: Console) -> int:
    from shufflenet.detection import DetectConfig, load_detector_checkpoint, train_detector

    err = stderr_console()
    quiet = int(os.environ.get("RANK", "0")) != 0  # under torchrun only rank 0 reports
    if args.resume:
        reject_with_resume(args, "to change them, start a new run in another --out")
        cfg = DetectConfig.from_dict(load_detector_checkpoint(args.resume)["config"])
    else:
        if "data_dir" not in args:
            raise CliError("detect train needs --data-dir DIR (COCO layout; `shufflenet detect make-data` writes one)")
        fields = {k: v for k, v in vars(args).items() if k in DetectConfig.__dataclass_fields__}
        if "backbone_options" in args:
            fields["backbone_options"] = json_object(args.backbone_options, "--backbone-options")
        cfg = DetectConfig(**fields, hflip="no_hflip" not in args, out_dir=getattr(args, "out", DetectConfig.out_dir))
        if (Path(cfg.out_dir) / "last.pt").exists() and "overwrite" not in args:
            raise CliError(f"{cfg.out_dir} holds another run; continue it with --resume {cfg.out_dir}/last.pt, "
                           "replace it with --overwrite, or choose another --out")  # fmt: skip
    curves = CurvesWriter(Path(cfg.out_dir) / "curves.png", err)
    with _bar(err, quiet) as bar:
        task = bar.add_task("epoch -", total=None, info="loading data")

        def on_event(e: dict) -> None:
            if e["event"] == "step":
                bar.update(task, description=f"epoch {e['epoch'] + 1}/{e['epochs']}", total=e["steps"],
                           completed=e["step"], info=f"loss {e['loss']:.3f} {e['images_per_s']:.1f} img/s")  # fmt: skip
            elif not quiet:
                scored = f"  mAP@.5 {e['val_map_50']:.3f}  mAP {e['val_map']:.3f}" if "val_map" in e else ""
                bar.console.print(f"epoch {e['epoch']}: loss {e['train_loss']:.3f}{scored}  "
                                  f"{e['images_per_s']:.1f} img/s  {e['epoch_s']:.0f} s", highlight=False)  # fmt: skip
                curves.update()

        try:
            history = train_detector(cfg, resume=args.resume, progress=on_event)
        except KeyboardInterrupt:
            if not quiet:
                curves.update(final=True)
            err.print(f"interrupted; resume with: shufflenet detect train --resume {cfg.out_dir}/last.pt")
            return 130
    last = history[-1]
    if quiet:
        return 0
    curves.update(final=True)
    console.print(f"done: mAP@.5 {last.get('val_map_50', 0):.3f}, mAP@[.5:.95] {last.get('val_map', 0):.3f}; "
                  f"checkpoints{' and curves.png' if curves.drawn else ''} in {cfg.out_dir}", highlight=False)  # fmt: skip
    return 0


def _load(path: str):
    from shufflenet.detection import detector_from_checkpoint, load_detector_checkpoint

    state = load_detector_checkpoint(path)
    return state, detector_from_checkpoint(state)


def _images(args: argparse.Namespace, state: dict) -> tuple[Path, str, CocoDetectionData]:
    """The COCO set ``--data-dir`` / ``--split`` name, by default the run's validation set."""
    from shufflenet.detection import CocoDetectionData

    root = Path(args.data_dir or state["config"]["data_dir"])
    split = args.split or state["config"]["val_split"]
    if not args.data_dir and not (root / split).is_dir():
        raise CliError(f"{root / split}, the images {args.checkpoint} was trained beside, is not there; give "
                       "--data-dir DIR (COCO layout: SPLIT/ and annotations/instances_SPLIT.json)")  # fmt: skip
    return root, split, CocoDetectionData(root / split, root / "annotations" / f"instances_{split}.json")


def _cmd_eval(args: argparse.Namespace, console: Console) -> int:
    from shufflenet.detection import evaluate_detector

    state, model = _load(args.checkpoint)
    root, split, data = _images(args, state)
    if data.classes != list(state["classes"]):
        raise CliError(f"{root}/{split} has categories {', '.join(data.classes)}; the detector was trained on "
                       f"{', '.join(state['classes'])}")  # fmt: skip
    with stderr_console().status(f"detecting objects in {len(data)} images"):
        metrics = evaluate_detector(model, data)
    record = {"checkpoint": args.checkpoint, "data": str(root / split), **metrics.to_dict()}
    rows = [[k, "no objects" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v)]
            for k, v in metrics.to_dict().items()]  # fmt: skip
    render(console, args.format, ["metric", "value"], rows, title=f"{args.checkpoint} on {root / split} (COCO bbox)",
           records=record)  # fmt: skip
    return 0


def _cmd_predict(args: argparse.Namespace, console: Console) -> int:
    from shufflenet.data.images import find_images
    from shufflenet.detection.predict import detect_files

    state, model = _load(args.checkpoint)
    paths = find_images(args.images)
    if not paths:
        raise CliError(f"no images in {', '.join(args.images)}")
    out = check_output_dir(args.out, "--out") if args.out else None
    with progress_bar() as bar:
        task = bar.add_task("detecting", total=len(paths))
        found = detect_files(model, paths, list(state["classes"]), score_thresh=args.score_thresh,
                             iou_thresh=args.iou_thresh, out_dir=out, skip_unreadable=True,  # a warning names any skipped
                             progress=lambda done, total: bar.update(task, completed=done))  # fmt: skip
    rows = [[d.image, d.label, f"{d.score:.2f}", ", ".join(f"{v:.0f}" for v in d.box)] for d in found]
    render(console, args.format, ["image", "class", "score", "box (x0, y0, x1, y1)"], rows,
           records=[d.__dict__ for d in found])  # fmt: skip
    if out is not None:
        stderr_console().print(f"each readable image with its boxes drawn in {out}", highlight=False)
    return 0


def _cmd_export(args: argparse.Namespace, console: Console) -> int:
    from shufflenet.detection import export_detector

    state, model = _load(args.checkpoint)
    root, split, data = _images(args, state)
    images = [data[i][0] for i in range(min(4, len(data)))]  # real images: boxes to compare
    with stderr_console().status("exporting and verifying in ONNX Runtime"):
        cfg = state["config"]
        meta = {"class_names": list(state["classes"]), "category_ids": list(state.get("category_ids") or []),
                "backbone": cfg.get("backbone"), "img_size": cfg.get("img_size")}  # fmt: skip
        path = export_detector(model, args.out, images, metadata=meta)
    console.print(f"wrote {path} (verified on {len(images)} images of {root / split})", highlight=False)
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    from shufflenet.detection import DETECTORS, DetectConfig
    from shufflenet.train.config import PRECISIONS

    d = DetectConfig(data_dir="")
    p = sub.add_parser(
        "detect", help="detection with ShuffleNet backbones: make-data, train (torchrun for DDP), eval, predict"
    )
    cmds = p.add_subparsers(dest="detect_command", required=True, metavar="{make-data,train,eval,predict,export}")

    s = cmds.add_parser("make-data", help="write a COCO-format set of Fashion-MNIST items on textured canvases")
    s.add_argument("--out", "-o", required=True, help="new folder: train/, val/, annotations/instances_*.json")
    s.add_argument("--train-images", type=positive_int, default=2000)
    s.add_argument("--val-images", type=positive_int, default=500)
    s.add_argument("--img-size", type=positive_int, default=128, help="canvas side in pixels (default 128)")
    s.add_argument("--max-objects", type=positive_int, default=4, help="items per image: 1 to this (default 4)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist", help="Fashion-MNIST's IDX files")
    s.set_defaults(func=_cmd_make_data)

    # flags not given stay out of the namespace: the config's defaults fill them, and --resume can tell them apart
    s = cmds.add_parser("train", help="train a detector (checkpoints every epoch, --resume)",
                        argument_default=argparse.SUPPRESS)  # fmt: skip
    s.add_argument("--data-dir", help="COCO layout: SPLIT/ image folders and annotations/instances_SPLIT.json")
    s.add_argument("--backbone", help=f"registered model (default {d.backbone})")
    s.add_argument("--backbone-options", help="JSON, e.g. '{\"extra_dw\": true}' for ShuffleNet v2*")
    s.add_argument("--pretrained", help="backbone weights: imagenet, a shipped tag, a file")
    s.add_argument("--kind", choices=DETECTORS, help=f"detector (default {d.kind})")
    s.add_argument("--img-size", type=positive_int, help=f"longer image side (default {d.img_size})")
    s.add_argument("--fpn-channels", type=positive_int, help=f"default {d.fpn_channels}")
    s.add_argument("--train-split", help=f"default {d.train_split}")
    s.add_argument("--val-split", help=f"default {d.val_split}")
    s.add_argument("--epochs", type=positive_int, help=f"default {d.epochs}")
    s.add_argument("--batch-size", type=positive_int, help=f"default {d.batch_size}")
    s.add_argument("--lr", type=float, help=f"AdamW (default {d.lr})")
    s.add_argument("--weight-decay", type=float, help=f"default {d.weight_decay}")
    s.add_argument("--warmup-epochs", type=float, help=f"default {d.warmup_epochs}")
    s.add_argument("--no-hflip", action="store_true")
    s.add_argument("--seed", type=int)
    s.add_argument("--eval-every", type=positive_int)
    s.add_argument("--threads", type=positive_int)
    s.add_argument("--device", help="cpu (default) or cuda; under torchrun each process takes its LOCAL_RANK's GPU")
    s.add_argument("--precision", choices=PRECISIONS, help="the forward pass's autocast, as train's: bfloat16, float16 "
                   "(the loss scaled) or auto (bfloat16 where native, else float16 on a GPU with tensor cores, else "
                   f"float32); default {d.precision}")  # fmt: skip
    s.add_argument("--workers", type=int, help="processes decoding the images (default: 0 on a CPU, up to 8 per GPU)")
    s.add_argument("--out", "-o", help=f"default {d.out_dir}")
    s.add_argument("--overwrite", action="store_true", help="replace the run in --out")
    s.add_argument(
        "--resume",
        metavar="CKPT",
        default=None,
        help="continue a run from its last.pt with its stored settings (no other flag)",
    )
    s.set_defaults(func=_cmd_train)

    s = cmds.add_parser("eval", help="COCO mAP of a detector checkpoint")
    s.add_argument("checkpoint")
    s.add_argument("--data-dir", help="COCO layout (default: the one it was trained on)")
    s.add_argument("--split", help="default: the run's validation split")
    s.add_argument("--format", choices=FORMATS, default="table")
    s.set_defaults(func=_cmd_eval)

    s = cmds.add_parser("export", help="the detector as one ONNX file, verified in ONNX Runtime")
    s.add_argument("checkpoint")
    s.add_argument("--out", "-o", required=True, help="the .onnx file to write")
    s.add_argument("--data-dir", help="COCO layout whose images verify the file (default: the one it was trained on)")
    s.add_argument("--split", help="default: the run's validation split")
    s.set_defaults(func=_cmd_export)

    s = cmds.add_parser("predict", help="boxes in images, drawn on PNG copies with --out")
    s.add_argument("checkpoint")
    s.add_argument("images", nargs="+", help="image files or folders")
    s.add_argument("--score-thresh", type=unit_float, default=0.3, help="lowest score shown (default 0.3)")
    s.add_argument(
        "--iou-thresh",
        type=unit_float,
        default=0.5,
        help="boxes of other classes overlapping a better one by more are dropped (1 keeps all)",
    )
    s.add_argument("--out", "-o", help="folder for the images with boxes drawn")
    s.add_argument("--format", choices=FORMATS, default="table")
    s.set_defaults(func=_cmd_predict)
