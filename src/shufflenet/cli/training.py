"""``shufflenet train``, ``ablate`` and ``save-pretrained``: thin layers over shufflenet.train."""

from __future__ import annotations

import argparse
import contextlib
import os
import time
from pathlib import Path
from typing import cast

import torch
from rich.console import Console
from rich.progress import BarColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from shufflenet.cli.common import CliError, CurvesWriter, json_object, progress_bar, reject_with_resume, stderr_console
from shufflenet.cli.render import FORMATS, render
from shufflenet.utils.durations import parse_duration
from shufflenet.utils.files import check_output_dir, check_output_file
from shufflenet.utils.optional import MissingExtra

__all__ = ["add_commands"]

#: in a log file or a pipe, where no bar is drawn, a training step's line at most this often, so that a long epoch
#: shows it is alive and how fast it goes (on a terminal the bar does that)
LOG_EVERY_S = 60.0


def _cmd_train(args: argparse.Namespace, console: Console) -> int:
    from shufflenet.train import recipe, resume_training, train

    err = stderr_console()
    quiet = int(os.environ.get("RANK", "0")) != 0  # under torchrun only rank 0 reports
    given = _given_fields(args)
    if args.resume:
        reject_with_resume(
            args, f"to change them, start a new run from its weights (--init {args.resume} --out elsewhere)"
        )
    name = getattr(args, "recipe", "paper")
    cfg = None if args.resume else recipe(name, **given)  # bad flags fail before the bar
    if cfg is not None and "device" not in given and cfg.device.startswith("cuda") and not torch.cuda.is_available():
        raise CliError(f"--recipe {name} trains on a GPU, but PyTorch sees none on this machine; add --device "
                       "cpu to run it here (its arithmetic, slowly)")  # fmt: skip
    columns = (TextColumn("epoch {task.fields[epoch]}"), BarColumn(), TextColumn("{task.fields[info]}"),
               TimeElapsedColumn(), TimeRemainingColumn())  # fmt: skip
    with progress_bar(*columns, console=err, quiet=quiet) as bar:  # the epoch lines stay
        task = bar.add_task("train", total=None, epoch="-", info="loading data")

        out = Path(args.resume).parent if cfg is None else Path(cfg.out_dir)
        curves = CurvesWriter(out / "curves.png", err)

        logged_at = [time.monotonic()]  # without a bar (a log file, a pipe) a step line now and then instead

        def on_event(e: dict) -> None:
            if e["event"] == "step":
                info = f"loss {e['loss']:.3f} acc {100 * e['acc']:.1f}% {e['images_per_s']:.0f} img/s"
                if e["budget_left_s"] is not None:
                    info += f" {e['budget_left_s'] / 60:.1f} min left"
                epoch = f"{e['epoch'] + 1}" + (f"/{e['epochs']}" if e["epochs"] else "")
                bar.update(task, total=e["steps"], completed=e["step"], epoch=epoch, info=info)
                if bar.disable and not quiet and time.monotonic() - logged_at[0] >= LOG_EVERY_S:
                    logged_at[0] = time.monotonic()
                    bar.console.print(f"epoch {epoch} step {e['step']}/{e['steps']}: {info}", highlight=False)
            elif e["event"] == "note":
                if not quiet:
                    bar.console.print(e["text"], highlight=False)
            elif not quiet:
                val = next(k for k in e if k.endswith("_top1"))
                scored = f"{val} {100 * e[val]:.2f}%  " if e[val] is not None else ""
                bar.console.print(
                    f"epoch {e['epoch']} ({e['train_size']}px): train loss {e['train_loss']:.4f} acc {100 * e['train_acc']:.2f}%  "
                    f"{scored}{e['images_per_s']:.0f} img/s  {e['epoch_s']:.0f} s",
                    highlight=False,
                )
                curves.update()

        try:
            if cfg is None:
                result = resume_training(args.resume, progress=on_event)
            else:
                result = train(cfg, overwrite=getattr(args, "overwrite", False), progress=on_event)
        except KeyboardInterrupt:
            if not quiet:
                curves.update(final=True)
            err.print(f"interrupted; resume with: shufflenet train --resume {out / 'last.pt'}", highlight=False)
            return 130
    if not quiet:
        curves.update(final=True)
        val = next(k for k in result.last if k.endswith("_top1"))
        console.print(f"done: {val} {100 * cast(float, result.last[val]):.2f}% (best {100 * result.best_top1:.2f}%); "
                      f"checkpoints{' and curves.png' if curves.drawn else ''} in {result.out_dir}", highlight=False)  # fmt: skip
    return 0


def _run_refs(refs: list[str]) -> dict[str, str]:
    """Label -> run for ``curves``: a folder without a history.json but with runs in it (an ablation's
    ``--out``) stands for those runs."""
    runs: dict[str, str] = {}
    for ref in refs:
        p = Path(ref)
        inner = (
            sorted(q.parent for q in p.glob("*/history.json"))
            if p.is_dir() and not (p / "history.json").exists()
            else []
        )
        for run in inner or [p]:
            label = str(run.parent if run.name == "history.json" else run)
            runs[label] = str(run)
    return runs


def _cmd_curves(args: argparse.Namespace, console: Console) -> int:
    from shufflenet.bench.plots import check_figure_path, plot_history  # matplotlib: the plot extra
    from shufflenet.train.history import best_and_last, read_history, score_key

    check_output_file(args.out, "--out")
    check_figure_path(args.out)
    histories = {label: read_history(ref) for label, ref in _run_refs(args.runs).items()}
    scores = {label: score_key(h) for label, h in histories.items()}
    if len(set(scores.values())) > 1:
        named = ", ".join(f"{label}: {key or 'none'}" for label, key in scores.items())
        raise CliError(f"the runs are scored differently ({named}); compare runs of one kind")
    score = score_key(next(iter(histories.values())), fallback=True)
    rows, records = [], []
    for label, history in histories.items():
        best, last = best_and_last(history, score)
        loss = history[-1].get("train_loss") if history else None
        records.append({"run": label, "epochs": len(history), "score": score, "best": best and best[1],
                        "best_epoch": best and best[0], "last": last, "last_train_loss": loss})  # fmt: skip
        rows.append([label, len(history), f"{100 * best[1]:.2f}% ({best[0]})" if best else "-",
                     "-" if last is None else f"{100 * last:.2f}%", "-" if loss is None else f"{loss:.4f}"])  # fmt: skip
    plot_history(histories, score, args.out, x=args.x)
    headers = ["run", "epochs", f"best {score} (epoch)", f"last {score}", "last train loss"]
    render(console, args.format, headers, rows, records=records)
    stderr_console().print(f"curves written to {args.out}", highlight=False)
    return 0


def _cmd_ablate(args: argparse.Namespace, console: Console) -> int:
    from shufflenet.models.shufflenet_v1 import WIDTHS
    from shufflenet.train import TrainConfig
    from shufflenet.train.ablate import run_ablation

    check_output_dir(args.out, "--out")
    if args.width not in WIDTHS:
        raise ValueError(f"--width must be one of {', '.join(map(str, WIDTHS))}, got {args.width}")
    base = TrainConfig(
        data_dir=args.data_dir, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
        warmup_epochs=args.warmup_epochs, train_subset=args.train_subset, threads=args.threads, out_dir=args.out,
    )  # fmt: skip
    err = stderr_console()
    with err.status("ablation") as status:
        result = run_ablation(
            args.kind, base, width=args.width, groups=tuple(args.groups) if args.groups else None,
            progress=lambda what: status.update(f"training {what}"),
        )  # fmt: skip
    headers, rows = result.rows()
    title = f"Fashion-MNIST test error, {args.epochs} epoch(s) (paper: ImageNet top-1 error)"
    render(console, args.format, headers, rows, title=title)
    with contextlib.suppress(MissingExtra):  # the figure is a bonus: the table above is the result
        from shufflenet.bench.plots import plot_history
        from shufflenet.train.history import score_key

        score = score_key(next(iter(result.histories.values())), fallback=True)
        path = plot_history(result.histories, score, Path(args.out) / f"curves-{args.kind}.png")
        err.print(f"curves written to {path}", highlight=False)
    return 0


def _cmd_ship(args: argparse.Namespace, console: Console) -> int:
    from shufflenet.models._pretrained import PRETRAINED_DIR
    from shufflenet.train import ship_checkpoint

    directory = PRETRAINED_DIR if args.into_package else check_output_dir(args.out, "--out")
    path = ship_checkpoint(args.checkpoint, args.tag, directory, half=args.half)
    console.print(f"wrote {path} and its record {path.name.removesuffix('.safetensors')}.json", highlight=False)
    return 0


#: CLI flags whose TrainConfig field has another name (or meaning: the --no-* switches)
_FLAG_FIELDS = {"ema": "ema_decay", "out": "out_dir", "no_nesterov": "nesterov", "no_hflip": "hflip"}


def _given_fields(args: argparse.Namespace) -> dict[str, object]:
    """The TrainConfig fields set on the command line; the rest come from ``--recipe``
    (the train parser leaves flags that were not given out of the namespace)."""
    from shufflenet.train import TrainConfig

    fields = set(TrainConfig.__dataclass_fields__)
    given: dict[str, object] = {}
    for flag, value in vars(args).items():
        name = _FLAG_FIELDS.get(flag, flag)
        if name in fields:
            given[name] = not value if flag.startswith("no_") else value
    if "model_options" in given:
        given["model_options"] = json_object(str(given["model_options"]), "--model-options")
    if "time_budget" in given:
        given["time_budget"] = _minutes(str(given["time_budget"]))
        if given["time_budget"] and "epochs" in given:  # else one of the two would be silently ignored
            raise CliError("--epochs and --time-budget both say how long to train; give one of them")
    if "init" in given and "model" not in given:  # the source names its network (ImageNet: --model's default)
        from shufflenet.train.init import source_arch

        given["model"] = source_arch(str(given["init"]), TrainConfig.model)["model"]
    if "teacher" in given:  # a teacher that is not there fails now, not after the data is loaded
        from shufflenet.train.init import source_arch

        for ref in cast(list, given["teacher"]):
            source_arch(ref, TrainConfig.model, flag="--teacher")
    else:
        lone = [f"--{n.replace('_', '-')}" for n in ("distill_weight", "distill_temperature") if n in given]
        if lone and not getattr(args, "resume", None):
            raise CliError(f"{' and '.join(lone)}: only with --teacher, whose answers it weighs; add --teacher "
                           "MODEL:TAG or drop it")  # fmt: skip
    return given


def _floats(text: str) -> tuple[float, ...]:
    """An argparse type: ``0.5`` or ``0.485,0.456,0.406``."""
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, got {text!r}") from None


def _minutes(text: str) -> float:
    """``88m``, ``1.5h`` or ``5280s`` in minutes (what ``TrainConfig.time_budget`` holds); ``off``: 0."""
    if text == "off":
        return 0.0
    seconds = parse_duration(text, "--time-budget")
    if seconds <= 0:
        raise CliError(f"--time-budget {text}: give a positive duration, or off to train for --epochs")
    return seconds / 60


def add_commands(sub: argparse._SubParsersAction) -> None:
    from shufflenet.train.config import COMPILE_MODES, PRECISIONS, RECIPES, TrainConfig

    d = TrainConfig()  # the paper recipe: the defaults quoted in the help

    p = sub.add_parser("train", help="train a model on Fashion-MNIST or an ImageFolder tree (torchrun for DDP)",
                       argument_default=argparse.SUPPRESS)  # fmt: skip
    p.add_argument(
        "--recipe",
        choices=tuple(RECIPES),
        help="starting point for every flag not given: 'paper' (default; the V1 paper's SGD recipe), "
        f"'fashion-mnist' (the shipped V2 1.5x run: {RECIPES['fashion-mnist']['epochs']} epochs, channels-last, bfloat16, "
        "EMA, label smoothing ...) or 'fashion-mnist-gpu' (the shipped 95.06%% network for 95 s on one GPU, batch 256, "
        "the step captured in CUDA graphs)",
    )
    p.add_argument("--model", help=f"default {d.model}")
    p.add_argument("--model-options", help="JSON of model options, e.g. '{\"se\": true}'")
    p.add_argument("--dataset", choices=("fashion-mnist", "imagefolder"), help=f"default {d.dataset}")
    p.add_argument("--data-dir", help="dataset root (default /usr/share/datasets/fashion-mnist)")
    p.add_argument("--val-dir", help="imagefolder: a separate validation tree")
    p.add_argument("--val-split", type=float, help="hold out this fraction of the training set")
    p.add_argument("--train-subset", type=int, help="use only N training images: Fashion-MNIST's first N; an image "
                   "folder's drawn in proportion from each class (seeded)")  # fmt: skip
    p.add_argument(
        "--img-size",
        "--input-size",
        dest="img_size",
        type=int,
        help="imagefolder: image side (default 224; --input-size is the old spelling)",
    )
    p.add_argument("--in-chans", type=int, help="imagefolder: 1 (grey) or 3 (RGB)")
    p.add_argument(
        "--mean",
        type=_floats,
        help="input normalisation per channel, e.g. 0.485,0.456,0.406 "
        "(default: the --init source's, else measured on the training images; see `shufflenet data stats`)",
    )
    p.add_argument("--std", type=_floats, help="with --mean: the standard deviation per channel")
    p.add_argument(
        "--init",
        metavar="SOURCE",
        help="start from trained weights: imagenet (torchvision's, for "
        "--model), MODEL:TAG (`shufflenet models --pretrained`), a checkpoint (.pt), weights (.safetensors) "
        "or a torchvision state dict (.pth); its classifier is reset when the class count differs",
    )
    p.add_argument(
        "--freeze-stages",
        type=int,
        metavar="N",
        help="with --init: the stem and the first N stages do not learn (default 0)",
    )
    p.add_argument(
        "--head-lr-mult",
        type=float,
        metavar="X",
        help="the classifier learns X times faster than the rest (fine-tuning; default 1)",
    )
    p.add_argument(
        "--teacher",
        action="append",
        metavar="SOURCE",
        help="knowledge distillation: also learn this trained network's class probabilities on each training batch "
        "(MODEL:TAG, a checkpoint .pt or weights .safetensors trained on the same classes); repeat it for an "
        "ensemble, whose mean probability is the target",
    )
    p.add_argument(
        "--distill-weight",
        type=float,
        metavar="W",
        help=f"with --teacher: the teacher's share of the loss, the labels' cross-entropy the rest (default {d.distill_weight})",
    )
    p.add_argument(
        "--distill-temperature",
        type=float,
        metavar="T",
        help=f"with --teacher: soften both sides' probabilities by T (default {d.distill_temperature:g})",
    )
    p.add_argument(
        "--teacher-tta",
        action="store_true",
        help="with --teacher: each teacher also sees the batch's mirror image, and its two answers are averaged "
        "(a better target for twice the teacher's cost)",
    )
    p.add_argument("--epochs", type=int, help=f"paper recipe: {d.epochs}")
    p.add_argument(
        "--time-budget",
        metavar="DURATION",
        help="train for this long (88m, 1.5h, 5280s; evaluations included) instead of --epochs: the lr "
        "decays to 0 over the time, so the run fills it on any machine; not reproducible step "
        "for step (default: off; off, or --epochs, replaces a recipe's budget)",
    )
    p.add_argument("--batch-size", type=int, help=f"per process (paper recipe: {d.batch_size})")
    p.add_argument("--lr", type=float, help=f"per 1024 images, scaled linearly (paper recipe: {d.lr})")
    p.add_argument("--momentum", type=float, help=f"default {d.momentum}")
    p.add_argument("--no-nesterov", action="store_true")
    p.add_argument("--weight-decay", type=float, help=f"paper recipe: {d.weight_decay}")
    p.add_argument("--schedule", choices=("linear", "cosine", "onecycle"), help=f"default {d.schedule}")
    p.add_argument("--warmup-epochs", type=float)
    p.add_argument("--label-smoothing", type=float)
    p.add_argument("--ema", type=float, help="EMA decay of the weights, e.g. 0.999 (0 = off)")
    p.add_argument("--grad-clip", type=float, help="max gradient norm (0 = off)")
    p.add_argument("--crop-padding", type=int, help=f"default {d.crop_padding}")
    p.add_argument("--no-hflip", action="store_true")
    p.add_argument("--random-erasing", type=float, help="probability per image")
    p.add_argument("--cutmix", type=float, help="CutMix probability per batch (default 0 = off)")
    p.add_argument(
        "--min-train-size",
        type=int,
        metavar="PX",
        help="progressive resizing: train the first epochs on images shrunk to this side, growing to the "
        "native side (V2 1.5x steps at 20x20 take 0.55x the time of 28x28; default 0 = off)",
    )
    p.add_argument(
        "--resize-ramp",
        type=float,
        metavar="FRACTION",
        help=f"fraction of the epochs by which progressive resizing reaches the native side (default {d.resize_ramp})",
    )
    p.add_argument("--seed", type=int, help=f"default {d.seed}")
    p.add_argument(
        "--eval-every",
        type=int,
        metavar="N",
        help=f"score the validation set every N epochs and after the last (default {d.eval_every})",
    )
    p.add_argument("--channels-last", action="store_true", help="NHWC activations (about 1.3x faster on CPU)")
    p.add_argument(
        "--compile",
        choices=COMPILE_MODES,
        help="torch.compile the training step: default, reduce-overhead (CUDA graphs on a GPU) or max-autotune; "
        "each input shape compiles once, and an epoch's short last batch is left out (default off: eager)",
    )
    p.add_argument(
        "--cuda-graph",
        action=argparse.BooleanOptionalAction,
        help="capture the step's forward and backward in CUDA graphs (one GPU): replayed with one launch each, "
        "captured in seconds where --compile takes tens; an epoch's short last batch is left out (fashion-mnist-gpu's "
        "default; --device cpu, --compile or --min-train-size turn a recipe's capture off)",
    )
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        help="bfloat16: mixed precision via autocast (V2 1.5x trains 1.3-1.6x faster on CPUs with "
        "AVX-512 BF16 or AMX); float16: the same with the loss scaled, for GPUs before Ampere (V100, T4); auto: "
        "bfloat16 where the device has it natively, else float16 on a GPU with tensor cores, else float32 "
        "(the recipes' choice); default float32",
    )
    p.add_argument("--threads", type=int)
    p.add_argument(
        "--workers",
        type=int,
        help="imagefolder: processes decoding and augmenting images (default: 0 on a CPU, up to 8 per GPU)",
    )
    p.add_argument(
        "--in-memory",
        action="store_true",
        help="imagefolder: decode every image once, at --img-size, and keep the set in memory (on the GPU for a GPU "
        "run; N x C x side x side bytes), so that each epoch augments whole batches there instead of decoding again",
    )
    p.add_argument(
        "--device",
        help="auto (a GPU when there is one; under torchrun cuda:LOCAL_RANK, NCCL), cpu, cuda or cuda:N (one process)",
    )
    p.add_argument("--out", help=f"checkpoints and logs (default {d.out_dir})")
    p.add_argument("--resume", default=None, help="continue from a checkpoint with its stored settings (no other flag)")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="start afresh in an --out that holds another run's checkpoints (they are replaced)",
    )
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("ablate", help="retrain the V1 paper's ablations: shuffle on/off or group count")
    p.add_argument("kind", choices=("shuffle", "groups"))
    p.add_argument("--width", type=float, default=0.5)
    p.add_argument("--groups", type=int, nargs="+", help="group counts (default 3 8 for shuffle, 1 2 3 4 8)")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2.0)
    p.add_argument("--warmup-epochs", type=float, default=0.5)
    p.add_argument("--train-subset", type=int)
    p.add_argument("--data-dir")
    p.add_argument("--threads", type=int)
    p.add_argument("--out", default="runs/ablate")
    p.add_argument("--format", choices=FORMATS, default="table", help="output format (default table)")
    p.set_defaults(func=_cmd_ablate)

    p = sub.add_parser("curves", help="training curves of runs side by side: loss and top-1 per epoch, as a figure")
    p.add_argument("runs", nargs="+", metavar="RUN",
                   help="a run's --out folder (or its history.json, a checkpoint, or MODEL:TAG of shipped weights); "
                   "a folder of runs, such as ablate's --out, stands for all of them")  # fmt: skip
    p.add_argument("--out", "-o", default="curves.png", help="the figure: .png, .svg or .pdf (default curves.png)")
    p.add_argument("--x", choices=("epoch", "seconds"), default="epoch",
                   help="the horizontal axis: epochs (default) or the wall clock, to compare time to accuracy")  # fmt: skip
    p.add_argument("--format", choices=FORMATS, default="table", help="output format of the summary (default table)")
    p.set_defaults(func=_cmd_curves)

    p = sub.add_parser("save-pretrained", help="turn a training checkpoint into shippable safetensors weights")
    p.add_argument("checkpoint")
    p.add_argument("--tag", default="fashion-mnist", help="the pretrained tag (default fashion-mnist)")
    p.add_argument(
        "--out",
        "-o",
        "--dir",
        dest="out",
        default=".",
        help="output directory (default: the current one; --dir is the old spelling)",
    )
    p.add_argument(
        "--into-package",
        action="store_true",
        help="write into the installed package's pretrained/ folder instead (to ship the weights)",
    )
    p.add_argument(
        "--half",
        action="store_true",
        help="store float16 weights (half the file; they load back as float32 — re-check the accuracy)",
    )
    p.set_defaults(func=_cmd_ship)
