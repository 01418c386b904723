"""``shufflenet eval``, ``predict``, ``samples`` and ``info``: a trained model (any reference) on images, and what a reference holds."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import TYPE_CHECKING

from rich.console import Console

from shufflenet.cli.common import CliError, non_negative_int, positive_int, progress_bar, stderr_console
from shufflenet.cli.render import FORMATS, render
from shufflenet.utils.files import check_output_dir, check_output_file
from shufflenet.utils.tables import byte_size

if TYPE_CHECKING:
    from torch import Tensor

__all__ = ["add_commands"]

#: a test set of more classes shows only its HARDEST in the table
MAX_CLASS_ROWS, HARDEST = 50, 10

REF_HELP = "a training checkpoint, MODEL:TAG of pretrained weights, or an exported model (.onnx, .xml, .ncnn.param, .pte, .tflite)"


def _cmd_eval(args: argparse.Namespace, console: Console) -> int:
    from shufflenet.predict import load_predictor
    from shufflenet.train import evaluate
    from shufflenet.train.data import default_workers, evaluation_data

    if args.workers is not None and args.dataset != "imagefolder":  # else silently unused
        raise CliError(f"--workers: processes that decode an image folder's images; {args.dataset} is read at once, "
                       "so drop --workers (or use --dataset imagefolder --data-dir DIR)")  # fmt: skip
    if args.confusion:
        from shufflenet.bench.plots import check_figure_path  # matplotlib: only when plotting

        check_output_file(args.confusion, "--confusion")
        check_figure_path(args.confusion)
    predictor = load_predictor(args.checkpoint, runtime=args.runtime, threads=args.threads, use_ema=not args.no_ema,
                               device=args.device, precision=args.precision)  # fmt: skip
    cfg = predictor.trained_cfg
    workers = args.workers if args.workers is not None else default_workers(predictor.device)
    batches, count = evaluation_data(cfg, args.dataset, args.data_dir, class_map=args.class_map, workers=workers)
    names = cfg["class_names"]
    with progress_bar() as bar:
        task = bar.add_task("evaluating", total=count)

        def tracked() -> Iterator[tuple[Tensor, Tensor]]:
            for x, y in batches:
                yield x, y
                bar.advance(task, len(y))

        result = evaluate(predictor, tracked(), len(names), flip_tta=args.tta)
    # a class the test set has no image of has no accuracy (a folder may hold some of the model's classes)
    accuracy = {n: a if seen else None for n, a, seen in zip(names, result.per_class, result.confusion.sum(1).tolist())}
    rows = [(n, "-" if a is None else f"{100 * a:.2f}") for n, a in accuracy.items()]
    title, after = "per-class accuracy", []
    if args.format == "table" and len(rows) > MAX_CLASS_ROWS:  # ImageNet's 1000 would bury the scores
        scored = sorted((a, n) for n, a in accuracy.items() if a is not None)
        rows = [(n, f"{100 * a:.2f}") for a, n in scored[:HARDEST]]
        title, after = (
            "hardest classes",
            [f"the {len(rows)} hardest of {len(scored)} classes with test images; --format csv lists every class"],
        )
    summary = {"checkpoint": str(args.checkpoint), "runtime": predictor.runtime, "device": str(predictor.device),
               "precision": args.precision, "dataset": args.dataset,
               "data_dir": args.data_dir, "tta": args.tta, "images": result.count, "top1": result.top1,
               "top5": result.top5, "loss": result.loss, "per_class": accuracy}  # fmt: skip
    how = " (with its mirror image, --tta)" if args.tta else ""
    k = min(5, len(names))
    scores = (f"{args.checkpoint}: top-1 {100 * result.top1:.2f}%, top-{k} {100 * result.top5:.2f}% "
              f"on {result.count} test images{how}")  # fmt: skip
    # the name goes in the score line: as the title of a two-column table rich would wrap it
    render(console, args.format, ("class", "accuracy %"), rows, title=title, records=summary,
           before=scores, after=after)  # fmt: skip
    if args.confusion:
        from shufflenet.bench.plots import plot_confusion

        plot_confusion(result.confusion, names, args.confusion)
        stderr_console().print(f"confusion matrix written to {args.confusion}", highlight=False)
    return 0


def _cmd_predict(args: argparse.Namespace, console: Console) -> int:
    from shufflenet.data.images import find_images
    from shufflenet.predict import load_predictor, predict_files

    predictor = load_predictor(args.checkpoint, runtime=args.runtime, threads=args.threads, device=args.device,
                               precision=args.precision)  # fmt: skip
    paths = find_images(args.images)
    if not paths:
        raise ValueError("no images given (pass image files or folders of .png/.jpg images)")
    with progress_bar() as bar:
        task = bar.add_task("predicting", total=len(paths))
        results = predict_files(predictor, paths, topk=args.topk, skip_unreadable=True,  # a warning names any skipped
                                progress=lambda done, total: bar.update(task, completed=done))  # fmt: skip
    scored = [(p, top) for p, top in zip(paths, results) if top]
    rows = [(str(p), ", ".join(f"{c} {100 * prob:.1f}%" for c, prob in top)) for p, top in scored]
    records = [{"image": str(p), "top": top} for p, top in scored]
    render(console, args.format, ("image", f"top-{args.topk}"), rows, records=records)
    return 0


def _cmd_samples(args: argparse.Namespace, console: Console) -> int:
    from PIL import Image

    from shufflenet.data import FASHION_MNIST_DIR, load_fashion_mnist

    out = check_output_dir(args.out, "--out")
    test = load_fashion_mnist(args.data_dir or FASHION_MNIST_DIR, train=False)
    out.mkdir(parents=True, exist_ok=True)
    for i in range(min(args.count, len(test))):
        name = test.classes[int(test.labels[i])].replace("/", "-").replace(" ", "-").lower()
        Image.fromarray(test.images[i, 0].numpy()).save(out / f"{i:03d}_{name}.png")
    console.print(f"wrote {min(args.count, len(test))} test images to {out}", highlight=False)
    return 0


def _cmd_info(args: argparse.Namespace, console: Console) -> int:
    from shufflenet.predict import describe

    info = describe(args.ref)
    render(console, args.format, ["field", "value"], [[k, _shown(v)] for k, v in info.items()], records=info)
    return 0


def _shown(value: object) -> str:
    """A value of :func:`~shufflenet.predict.describe` as one table cell."""
    if value is None:
        return "-"
    if isinstance(value, dict):
        if value and all(isinstance(v, int) for v in value.values()):  # files: sizes in bytes
            return ", ".join(f"{k} ({byte_size(v)})" for k, v in value.items())
        return ", ".join(f"{k}={_shown(v)}" for k, v in value.items()) or "-"
    if isinstance(value, list):
        return "[" + ", ".join(_shown(v) for v in value) + "]"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, int) and not isinstance(value, bool) and value >= 10**4:  # counts: 351,610 params
        return f"{value:,}"
    return str(value)


def add_runtime_args(p: argparse.ArgumentParser) -> None:
    from shufflenet.predict import RUNTIME_ALIASES, RUNTIMES
    from shufflenet.runtimes.cuda_graphs import PRECISIONS

    p.add_argument(
        "--runtime",
        choices=(*RUNTIMES, *RUNTIME_ALIASES),
        default=None,
        help=f"run a trained model in PyTorch (our fused form, the default: {RUNTIMES[0]}) or export it first to "
        "that runtime's verified artifact (an exported file runs in its own runtime: leave this out); torch and "
        "onnxruntime are the old names",
    )
    p.add_argument("--threads", type=positive_int, help="intra-op threads (default: the runtime's)")
    p.add_argument(
        "--device",
        default="cpu",
        help="cpu (default), cuda or cuda:N: on a GPU the trained model runs in PyTorch, replayed from one CUDA "
        "graph per batch shape (the exported runtimes run on the CPU)",
    )
    p.add_argument(
        "--precision",
        choices=tuple(PRECISIONS),
        default="float32",
        help="the PyTorch runtime's arithmetic (default float32; float16 and bfloat16 for a GPU)",
    )


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="top-1/top-5, per-class accuracy and confusion matrix on a test set")
    p.add_argument("checkpoint", help=REF_HELP)
    p.add_argument(
        "--dataset",
        choices=("fashion-mnist", "imagefolder"),
        default="fashion-mnist",
        help="Fashion-MNIST's test set (default) or class folders of images (--data-dir), matched to the "
        "model's classes by name (ImageNet's WordNet-id folders too; see --class-map)",
    )
    p.add_argument(
        "--class-map",
        metavar="FILE",
        help="a text file whose line i begins with the folder name of the model's class i (ImageNet's "
        "LOC_synset_mapping.txt as it is): needed where the folders are not named as the model's classes, "
        "e.g. a few of ImageNet's WordNet-id folders (all 1000 are numbered in sorted order without it)",
    )
    p.add_argument(
        "--data-dir", help="the dataset's directory (Fashion-MNIST default: /usr/share/datasets/fashion-mnist)"
    )
    p.add_argument("--no-ema", action="store_true", help="use the raw weights even if the checkpoint has an EMA")
    p.add_argument(
        "--tta",
        action="store_true",
        help="test-time augmentation: average each image's class probabilities with its mirror image's",
    )
    add_runtime_args(p)
    p.add_argument(
        "--workers",
        type=non_negative_int,
        help="imagefolder: processes decoding images (default: 0 on the CPU, up to 8 with --device cuda)",
    )
    p.add_argument("--confusion", help="write the confusion matrix as a figure (.png, .svg or .pdf)")
    p.add_argument("--format", choices=FORMATS, default="table", help="output format (default table)")
    p.set_defaults(func=_cmd_eval)

    p = sub.add_parser("predict", help="top-k classes of images (files or folders)")
    p.add_argument("checkpoint", help=REF_HELP)
    p.add_argument("images", nargs="+")
    add_runtime_args(p)
    p.add_argument("--topk", type=positive_int, default=3, help="classes per image (default 3)")
    p.add_argument("--format", choices=FORMATS, default="table", help="output format (default table)")
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser("info", help="what a model, checkpoint, weights file or exported artifact holds")
    p.add_argument("ref", metavar="REF", help="a model name, " + REF_HELP)
    p.add_argument("--format", choices=FORMATS, default="table", help="output format (default table)")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("samples", help="write the first Fashion-MNIST test images as PNG files (to try predict)")
    p.add_argument("--count", type=positive_int, default=8)
    p.add_argument("--out", default="runs/samples")
    p.add_argument("--data-dir")
    p.set_defaults(func=_cmd_samples)
