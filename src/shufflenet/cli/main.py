"""Entry point of the ``shufflenet`` command.

Every sub-command parses its arguments, calls typed library functions and
renders their results. Errors a user can fix (bad names, shapes, files) are
reported on one line on stderr with a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from shufflenet.bench import RUNTIMES, BenchResult, benchmark_many, get_runtime, machine_info
from shufflenet.bench.breakdown import GROUPS, breakdown
from shufflenet.bench.guidelines import EXPERIMENTS, get_experiment, run_guideline
from shufflenet.cli import stderr_console
from shufflenet.cli.render import FORMATS, render
from shufflenet.cli.train_cmds import add_train_commands
from shufflenet.complexity import analyze, human
from shufflenet.export.graph import LAYOUTS, TARGETS
from shufflenet.models import create_model, get_entry, list_models
from shufflenet.models.zoo import SUMMARY_HEADERS, summarize_models
from shufflenet.utils.durations import parse_duration
from shufflenet.utils.files import atomic_write
from shufflenet.utils.optional import MissingExtra
from shufflenet.utils.tables import csv_table
from shufflenet.version import __version__

EXIT_USAGE = 2
#: old spellings of export's --channel-block and --layout, kept for one release
_OLD_CHANNEL_BLOCKS = {16: "avx512", 8: "avx2"}
_OLD_LAYOUTS = {"auto": "paired"}


def _export_target_layout(args: argparse.Namespace) -> tuple[str, str]:
    """--target and --layout, with the old --channel-block and --layout auto|blocks mapped onto them."""
    target, layout = args.target, args.layout
    if args.channel_block is not None:
        if args.channel_block not in _OLD_CHANNEL_BLOCKS:
            raise CliError(f"--channel-block {args.channel_block} is gone; use --target {'|'.join(TARGETS)}")
        target = _OLD_CHANNEL_BLOCKS[args.channel_block]
        warnings.warn(f"--channel-block {args.channel_block} is now --target {target}; the old flag goes in the next "
                      "release", FutureWarning, stacklevel=2)  # fmt: skip
    if layout == "blocks":
        raise CliError("--layout blocks was removed: block rows did not pay in a plain ONNX Runtime session on any "
                       "host measured (docs/deployment.md); use --layout paired or pieces")  # fmt: skip
    return target, _OLD_LAYOUTS.get(layout, layout)


class CliError(Exception):
    """A user error detected by the CLI itself."""


def _input_size(args: argparse.Namespace) -> tuple[int, int, int, int]:
    if args.batch < 1 or args.input_size < 1 or args.in_chans < 1:
        raise CliError("--batch, --input-size and --in-chans must be positive integers")
    return (args.batch, args.in_chans, args.input_size, args.input_size)


def _print_summaries(names: list[str], args: argparse.Namespace, console: Console, title: str) -> None:
    summaries = summarize_models(names, _input_size(args), small_input=args.small_input)
    rows = [s.as_row() for s in summaries]
    records = [dict(zip(SUMMARY_HEADERS, s.as_row(exact=True))) for s in summaries]
    render(console, args.format, SUMMARY_HEADERS, rows, title=title, records=records)


def _cmd_models(args: argparse.Namespace, console: Console) -> int:
    names = list_models(args.pattern)
    if not names:
        raise CliError(f"no model matches {args.pattern!r}; run `shufflenet models` to list them all")
    title = f"{len(names)} models @ {args.input_size}x{args.input_size} (FLOPs = multiply-adds; paper: ImageNet)"
    _print_summaries(names, args, console, title)
    return 0


def _cmd_compare(args: argparse.Namespace, console: Console) -> int:
    for name in args.models:
        get_entry(name)  # unknown names fail before any work
    _print_summaries(args.models, args, console, f"side by side @ {args.input_size}x{args.input_size}")
    return 0


def _cmd_profile(args: argparse.Namespace, console: Console) -> int:
    size = _input_size(args)
    model = create_model(args.model, in_chans=args.in_chans, small_input=args.small_input)
    report = analyze(model, size, name=args.model)
    if args.format == "json":
        console.out(report.to_json(), end="\n")
    elif args.format == "csv":
        console.out(report.to_csv(), end="")
    elif args.format == "md":
        console.out(report.to_markdown(per_layer=not args.summary), end="")
    else:
        console.print(*report.to_rich(per_layer=not args.summary))
    return 0


def _int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError("expected at least one integer")
    return values


def _duration(text: str) -> float:
    """Seconds of a duration with its unit; a bare number (the old spelling of bench) is seconds, with a note."""
    try:
        return parse_duration(text, "--time-budget")
    except ValueError:
        try:
            seconds = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a duration such as 90s or 5m, got {text!r}") from None
        warnings.warn(f"--time-budget {text}: give the unit ({text}s); a bare number goes in the next release",
                      FutureWarning, stacklevel=2)  # fmt: skip
        return seconds


def _str_list(text: str) -> list[str]:
    return [v.strip() for v in text.split(",") if v.strip()]


BENCH_HEADERS = (
    "model", "runtime", "batch", "threads", "flops", "params", "mac",
    "median_ms", "p10_ms", "p90_ms", "images_per_s", "gmac_per_s",
)  # fmt: skip


def _bench_rows(results: list[BenchResult]) -> list[tuple]:
    return [
        (
            r.model,
            r.runtime,
            r.batch,
            r.threads,
            human(r.flops),
            human(r.params),
            human(r.mac),
            f"{r.latency_ms_median:.2f}",
            f"{r.latency_ms_p10:.2f}",
            f"{r.latency_ms_p90:.2f}",
            f"{r.images_per_s:.1f}",
            f"{r.gmac_per_s:.1f}",
        )  # fmt: skip
        for r in results
    ]


def _write_output(path: str, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _cmd_bench(args: argparse.Namespace, console: Console) -> int:
    for name in args.models:
        get_entry(name)
    for runtime in args.runtime:
        get_runtime(runtime)
    if any(b < 1 for b in args.batch):
        raise CliError(f"--batch values must be >= 1, got {','.join(map(str, args.batch))}")
    if args.threads is not None and args.threads < 1:
        raise CliError(f"--threads must be >= 1, got {args.threads}")
    err = stderr_console()
    if args.breakdown:
        return _bench_breakdown(args, console, err)
    with err.status("benchmarking...") as status:
        suite = benchmark_many(
            args.models, batches=args.batch, runtimes=args.runtime, input_size=args.input_size,
            in_chans=args.in_chans, small_input=args.small_input, threads=args.threads, device=args.device,
            min_time_s=args.min_time, time_budget_s=args.time_budget,
            progress=lambda what: status.update(f"benchmarking {what}"),
        )  # fmt: skip
    records = [r.to_dict() for r in suite.results]
    if args.output:
        flat = [{k: v for k, v in rec.items() if k != "machine"} for rec in records]
        as_csv = csv_table(list(flat[0]) if flat else [], [list(f.values()) for f in flat])
        _write_output(args.output, json.dumps(records, indent=2) if args.output.endswith(".json") else as_csv)
    m = machine_info()
    render(console, args.format, BENCH_HEADERS, _bench_rows(suite.results), records=records,
           title=f"{m['cpu']} ({m['cores']} cores, {m['cpu_flags']})")  # fmt: skip
    if args.plot and suite.results:
        from shufflenet.bench.plots import plot_speed_vs_flops  # matplotlib: only when plotting

        plot_speed_vs_flops(suite.results, args.plot)
        err.print(f"speed-vs-FLOPs plot written to {args.plot}", highlight=False)
    if suite.skipped:
        err.print(f"time budget spent: {len(suite.skipped)} point(s) not measured", highlight=False)
    return 0


def _bench_breakdown(args: argparse.Namespace, console: Console, err: Console) -> int:
    shares: dict[str, dict[str, float]] = {}
    for name in args.models:
        model = create_model(name, in_chans=args.in_chans, small_input=args.small_input)
        parts = []
        for runtime in args.runtime:
            with err.status(f"profiling {name} in {runtime}"):
                b = breakdown(
                    model, runtime=runtime, batch=args.batch[0], input_size=args.input_size,
                    in_chans=args.in_chans, threads=args.threads,
                )  # fmt: skip
            shares[f"{name}\n{runtime}"] = b.shares()
            parts.append(b)
        rows = [(g, *(f"{b.ms.get(g, 0.0):.2f} ms ({100 * b.shares()[g]:.0f}%)" for b in parts)) for g in GROUPS]
        rows.append(("total", *(f"{b.total_ms:.2f} ms" for b in parts)))
        headers = ("operator class", *(b.runtime for b in parts))
        title = f"{name}: time per forward pass (batch {args.batch[0]})"
        render(console, args.format, headers, rows, title=title, before=f"### {title}" if args.format == "md" else "")
    from shufflenet.bench.plots import plot_breakdown  # matplotlib: only when plotting

    path = args.plot or "shufflenet-breakdown.png"
    plot_breakdown(shares, path)
    err.print(f"bar chart written to {path}", highlight=False)
    return 0


def _cmd_guidelines(args: argparse.Namespace, console: Console) -> int:
    names = args.experiments or list(EXPERIMENTS)
    experiments = [get_experiment(n) for n in names]
    err = stderr_console()
    out = []
    for exp in experiments:
        with err.status(f"measuring {exp.name}") as status:
            result = run_guideline(
                exp.name, runtime=args.runtime, threads=args.threads, min_time_s=args.min_time,
                progress=lambda what: status.update(f"measuring {what}"),
            )  # fmt: skip
        out.append(result.to_dict())
        if args.plot_dir:
            from shufflenet.bench.plots import plot_guideline  # matplotlib: only when plotting

            path = plot_guideline(result, os.path.join(args.plot_dir, f"guideline_{exp.name}.png"))
            err.print(f"plot written to {path}", highlight=False)
        if args.format == "json":
            continue
        headers = ("variant", "paper GPU (b/s)", *(f"{exp.scale_label}={s}: MFLOPs / img/s" for s in result.scales))
        rows = [
            (
                v.label,
                "" if v.paper_gpu is None else f"{v.paper_gpu:g}",
                *(
                    f"{result.flops[(v.label, s)] / 1e6:.0f} / {result.images_per_s[(v.label, s)]:.0f}"
                    for s in result.scales
                ),
            )
            for v in exp.variants
        ]
        claims = [
            f"paper: {f} faster than {sl}; here: "
            + ", ".join(f"{exp.scale_label}={s} {result.verdict(f, sl, s)}" for s in result.scales)
            for f, sl in exp.claims
        ]
        title = f"{exp.name}: {exp.title}"
        render(console, args.format, headers, rows, title=title, after=claims,
               before=f"### {title}" if args.format == "md" else "")  # fmt: skip
    if args.format == "json":
        console.out(json.dumps(out, indent=2))
    return 0


def _cmd_export(args: argparse.Namespace, console: Console) -> int:
    from shufflenet.export import export_onnx, export_onnx_int8
    from shufflenet.export.quantize import calibration_batches
    from shufflenet.predict import is_trained_ref, load_trained

    ref = args.model
    if is_trained_ref(ref):
        model = load_trained(ref)
        trained_cfg: dict[str, Any] = getattr(model, "pretrained_cfg", {})
        chans, size = int(trained_cfg["input_size"][0]), int(trained_cfg["input_size"][1])
        name = Path(ref).stem if Path(ref).is_file() else ref.replace(":", ".")
    else:
        chans, size, name = args.in_chans, args.input_size, ref
        model = create_model(ref, in_chans=chans, small_input=args.small_input)
    target, layout = _export_target_layout(args)
    suffix = "-int8.onnx" if args.format == "onnx-int8" else ".onnx"
    output = args.output or f"{name}{suffix}"
    shape = (1, chans, size, size)
    if args.format == "onnx-int8":
        cfg = getattr(model, "pretrained_cfg", None)
        if not cfg:
            raise ValueError("int8 calibration needs a trained model: pass a checkpoint or MODEL:TAG")
        calibration = calibration_batches(cfg, args.calib_images, image_dir=args.calib_dir, data_dir=args.data_dir)
        result = export_onnx_int8(model, output, calibration, input_size=shape, opset=args.opset)
    else:
        result = export_onnx(
            model, output, input_size=shape, optimize=not args.no_optimize, opset=args.opset,
            target=target, layout=layout,
        )  # fmt: skip
    ops = ", ".join(f"{k} {v}" for k, v in sorted(result.nodes.items(), key=lambda kv: -kv[1]))
    size_mb = Path(result.path).stat().st_size / 1e6
    check = (
        f"int8 vs float: max |diff| {result.max_abs_diff:.2e}, same top-1 on {100 * result.top1_agreement:.1f}% "
        "of the calibration images"
        if result.top1_agreement is not None
        else f"ONNX Runtime vs PyTorch max |diff| {result.max_abs_diff:.2e}"
    )
    console.print(f"wrote {result.path} ({size_mb:.2f} MB, opset {args.opset}, {result.writer} graph); {check}; "
                  f"nodes: {ops}", highlight=False)  # fmt: skip
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shufflenet",
        description="Build, analyse and measure ShuffleNet and other compact CNNs.",
    )
    parser.add_argument("--version", action="version", version=f"shufflenet {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add_shape_args(p: argparse.ArgumentParser, batch: bool = True) -> None:
        p.add_argument("--input-size", type=int, default=224, help="image side in pixels (default 224)")
        p.add_argument("--in-chans", type=int, default=3, help="input channels (default 3)")
        if batch:
            p.add_argument("--batch", type=int, default=1, help="batch size (default 1, as in the papers)")
        p.add_argument("--small-input", action="store_true", help="stride-1 stem without max-pool (28/32 px)")
        p.add_argument("--format", choices=FORMATS, default="table", help="output format (default table)")

    p = sub.add_parser("models", help="list registered models with params, FLOPs, MAC and paper figures")
    p.add_argument("pattern", nargs="?", default="*", help="shell-style filter, e.g. 'shufflenet_v2*'")
    add_shape_args(p)
    p.set_defaults(func=_cmd_models)

    p = sub.add_parser("bench", help="measure latency and throughput on this machine")
    p.add_argument("models", nargs="+", metavar="MODEL", help="registered model names")
    p.add_argument("--batch", type=_int_list, default=[1], help="comma-separated batch sizes (default 1)")
    p.add_argument("--runtime", type=_str_list, default=["eager"], help=f"comma-separated: {', '.join(RUNTIMES)}")
    p.add_argument("--threads", type=int, default=None, help="intra-op threads (default: PyTorch's)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--min-time", type=float, default=1.0, help="seconds of timed calls per point (default 1)")
    p.add_argument(
        "--time-budget",
        type=_duration,
        default=None,
        metavar="DURATION",
        help="stop starting new points after this long (90s, 5m; a bare number is the old spelling: seconds)",
    )
    p.add_argument("--out", "-o", "--output", dest="output", help="also write the records to FILE.csv or FILE.json "
                   "(--output is the old spelling)")  # fmt: skip
    p.add_argument("--breakdown", action="store_true", help="time per operator class instead (profilers)")
    p.add_argument(
        "--plot", help="PNG: speed vs FLOPs, or with --breakdown the bar chart (default shufflenet-breakdown.png)"
    )
    add_shape_args(p, batch=False)
    p.set_defaults(func=_cmd_bench)

    p = sub.add_parser("guidelines", help="the V2 paper's G1-G4 experiments on this machine")
    p.add_argument("experiments", nargs="*", metavar="G", help="G1, G2, G3 and/or G4 (default: all)")
    p.add_argument("--runtime", default="eager", help="eager, compile or onnxruntime (default eager)")
    p.add_argument("--threads", type=int, default=None, help="intra-op threads (default: PyTorch's)")
    p.add_argument("--min-time", type=float, default=0.5, help="seconds of timed calls per point (default 0.5)")
    p.add_argument(
        "--out",
        "-o",
        "--plot-dir",
        dest="plot_dir",
        help="write guideline_G*.png bar charts to this directory (--plot-dir is the old spelling)",
    )
    p.add_argument("--format", choices=FORMATS, default="table", help="output format (default table)")
    p.set_defaults(func=_cmd_guidelines)

    p = sub.add_parser("compare", help="side-by-side params, FLOPs and MAC of several models")
    p.add_argument("models", nargs="+", metavar="MODEL", help="registered model names")
    add_shape_args(p)
    p.set_defaults(func=_cmd_compare)

    p = sub.add_parser("profile", help="per-layer params, FLOPs and MAC of one model")
    p.add_argument("model", help="registered model name (see `shufflenet models`)")
    p.add_argument("--summary", action="store_true", help="totals by operator type only")
    add_shape_args(p)
    p.set_defaults(func=_cmd_profile)
    p = sub.add_parser("export", help="export a model or checkpoint to ONNX, verified in ONNX Runtime")
    p.add_argument("model", help="registered model name, a training checkpoint (.pt) or MODEL:TAG of shipped weights")
    p.add_argument(
        "--format",
        choices=("onnx", "onnx-int8"),
        default="onnx",
        help="onnx (float, BN folded, shuffle-aware) or onnx-int8 (calibrated on real images)",
    )
    p.add_argument("--out", "-o", "--output", dest="output", help="output file (default MODEL.onnx)")
    p.add_argument("--input-size", type=int, default=224)
    p.add_argument("--in-chans", type=int, default=3)
    p.add_argument("--small-input", action="store_true")
    p.add_argument("--opset", type=int, default=18)
    p.add_argument("--no-optimize", action="store_true", help="keep BatchNorm layers (no folding)")
    p.add_argument(
        "--target",
        choices=tuple(TARGETS),
        default="portable",
        help="CPU class the V2 graph's channels are padded for: portable (default: runs blocked on AVX2 "
        "and AVX-512 alike; the same file whatever host writes it), avx512, avx2 (less padding)",
    )
    p.add_argument(
        "--layout",
        choices=(*LAYOUTS, *_OLD_LAYOUTS, "blocks"),
        default="paired",
        help="plain V2 units: paired (default; one Concat + Split per unit) or pieces (no copies, more "
        "padding: faster at batch 8 on AVX2, slower at batch 1 on AVX-512; docs/deployment.md)",
    )
    p.add_argument("--channel-block", type=int, default=None, help=argparse.SUPPRESS)  # old spelling of --target
    p.add_argument("--calib-dir", help="int8: calibrate on these images (default: Fashion-MNIST training images)")
    p.add_argument("--calib-images", type=int, default=512, help="int8: number of calibration images (default 512)")
    p.add_argument("--data-dir", help="int8: Fashion-MNIST directory for calibration")
    p.set_defaults(func=_cmd_export)

    add_train_commands(sub)
    return parser


#: what the library raises for bad input or a missing piece of set-up: a one-line message, not a traceback
_EXPECTED = (CliError, ValueError, MissingExtra, FileNotFoundError, FileExistsError, IsADirectoryError,
             NotADirectoryError, PermissionError)  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Tables are wide: off a terminal (pipes, CI logs) do not squeeze them to 80 columns.
    console = Console(soft_wrap=getattr(args, "format", "table") != "table", width=None if sys.stdout.isatty() else 200)
    err = stderr_console()
    try:
        return args.func(args, console)
    except _EXPECTED as exc:  # bad input or set-up; anything else is a bug and shows its traceback
        message = str(exc) if isinstance(exc, OSError) and exc.filename else (exc.args[0] if exc.args else str(exc))
        err.print(f"[bold red]error:[/] {message}", highlight=False, markup=True)
        return EXIT_USAGE
    except KeyboardInterrupt:
        err.print("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
