"""``shufflenet bench`` and ``guidelines``: the direct metric on this machine."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import warnings
from pathlib import Path
from typing import Any

from rich.console import Console

from shufflenet.bench import RUNTIMES, BenchResult, benchmark_many, get_runtime, machine_info, speedups_over_torchvision
from shufflenet.bench.breakdown import BREAKDOWN_RUNTIMES, GROUPS, breakdown
from shufflenet.bench.engine import (
    DTYPES,
    TORCHVISION_PREFIX,
    artifact_input,
    benchmark_artifacts,
    build_model,
    torchvision_round_ratios,
)
from shufflenet.bench.guidelines import (
    EXPERIMENTS,
    GuidelineResult,
    Variant,
    get_experiment,
    platform_of,
    run_guideline,
)
from shufflenet.bench.tools import (
    TOOL_RUNS,
    TOOL_RUNTIMES,
    Adb,
    Artifact,
    Host,
    Target,
    benchmark_with_tool,
    check_tool_paths,
    check_tool_runtimes,
    export_for_tools,
    run_guideline_with_tool,
    tool_for,
)
from shufflenet.cli.common import (
    CliError,
    add_shape_args,
    check_memory,
    input_shape,
    positive_float,
    positive_int,
    stderr_console,
)
from shufflenet.cli.render import FORMATS, records_csv, render
from shufflenet.complexity import human
from shufflenet.export.formats import artifact_files
from shufflenet.models import get_entry
from shufflenet.utils.devices import torch_device
from shufflenet.utils.durations import parse_duration
from shufflenet.utils.files import atomic_write, check_output_dir, check_output_file

__all__ = ["add_commands"]


def int_list(text: str) -> list[int]:
    values = [positive_int(v) for v in text.split(",") if v.strip()]
    if not values:
        raise argparse.ArgumentTypeError("expected at least one integer")
    return values


def duration_arg(text: str) -> float:
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


def str_list(text: str) -> list[str]:
    values = [v.strip() for v in text.split(",") if v.strip()]
    if not values:
        raise argparse.ArgumentTypeError(f"expected one or more comma-separated names, got {text!r}")
    return values


#: what ``bench --out`` writes, by the file's suffix
RECORD_SUFFIXES = (".csv", ".json")


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
            human(r.flops) if r.flops else "-",  # an exported file does not say
            human(r.params) if r.params else "-",
            human(r.mac) if r.mac else "-",
            f"{r.latency_ms_median:.2f}",
            f"{r.latency_ms_p10:.2f}",
            f"{r.latency_ms_p90:.2f}",
            f"{r.images_per_s:.1f}",
            f"{r.gmac_per_s:.1f}" if r.flops else "-",
        )  # fmt: skip
        for r in results
    ]


def _write_output(path: str, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _cmd_bench(args: argparse.Namespace, console: Console) -> int:
    from shufflenet.export.predictor import ARTIFACT_SUFFIXES, artifact_runtime
    from shufflenet.predict import is_trained_ref, load_trained

    files = [m for m in args.models if Path(m).suffix in ARTIFACT_SUFFIXES]
    theirs = [m for m in args.models if m.startswith(TORCHVISION_PREFIX)]  # built (and checked) by the engine
    trained = [m for m in args.models if m not in files and m not in theirs and is_trained_ref(m)]
    names = [m for m in args.models if m not in files and m not in trained]
    for name in names:
        if name not in theirs:
            get_entry(name)
    for f in files:
        if not Path(f).is_file():
            raise FileNotFoundError(f"{f} not found (bench takes registered names, trained models and exported files)")
    if (files or trained) and args.breakdown:
        raise CliError("--breakdown profiles registered models by name; give the model's name instead")
    models = {ref: load_trained(ref) for ref in trained}  # a bad checkpoint fails before any timing
    with_tool, runtimes = args.tool or args.adb is not None, args.runtime
    _check_tool_flags(args, with_tool)
    if with_tool:
        for flag, given in (("--breakdown", args.breakdown), ("--plot", args.plot), ("--time-budget",
                            args.time_budget), ("--device", args.device != "cpu"), ("--precision",
                            args.precision != "float32")):  # fmt: skip
            if given:
                raise CliError(
                    f"{flag} does not apply to --tool/--adb: the runtimes' programs time exported files on "
                    "the device's CPU"
                )
    if args.runtime is not None and files and not (names or trained):
        raise CliError(f"--runtime names the runtimes of registered and trained models; an exported file runs in its "
                       f"own ({', '.join(f'{f}: {artifact_runtime(f)}' for f in files)}): leave --runtime out")  # fmt: skip
    args.runtime = args.runtime or ["eager"]
    for runtime in args.runtime:
        get_runtime(runtime)
        if args.breakdown and runtime not in BREAKDOWN_RUNTIMES:
            raise CliError(f"--breakdown reads the profilers of {', '.join(BREAKDOWN_RUNTIMES)}; {runtime} has "
                           "none that Python can read (time it without --breakdown)")  # fmt: skip
    if args.time_budget is not None and not args.time_budget > 0:
        raise CliError("--time-budget must be a positive duration (leave it out to measure every point)")
    input_shape(args, batch=1)  # sizes checked before any work
    device, most = torch_device(args.device), max(args.batch)
    for name in names:
        if name not in theirs:
            check_memory(name, input_shape(args, batch=most), device, len(args.runtime), in_chans=args.in_chans,
                         small_input=args.small_input)  # fmt: skip
    for ref, model in models.items():
        check_memory(model, (most, *model.pretrained_cfg["input_size"]), device, len(args.runtime), ref)  # type: ignore[index]
    if args.output:
        if not args.output.endswith(RECORD_SUFFIXES):
            raise CliError(
                f"--out {args.output}: records are written as {' or '.join(RECORD_SUFFIXES)}; name the file so"
            )
        check_output_file(args.output, "--out")
    if args.plot:
        from shufflenet.bench.plots import check_figure_path  # matplotlib: only when plotting

        check_output_file(args.plot, "--plot")
        check_figure_path(args.plot)
    if with_tool:
        return _bench_with_tool(args, console, files, names, models, runtimes or [])
    err = stderr_console()
    if args.breakdown:
        return _bench_breakdown(args, console, err)
    with err.status("benchmarking...") as status:
        suite = benchmark_many(
            names, batches=args.batch, runtimes=args.runtime, img_size=args.img_size,
            in_chans=args.in_chans, small_input=args.small_input, threads=args.threads, device=args.device,
            precision=args.precision, min_time_s=args.min_time, time_budget_s=args.time_budget, rounds=args.rounds,
            progress=lambda what: status.update(f"benchmarking {what}"),
        )  # fmt: skip
        for ref, model in models.items():  # at the input it was trained for, as an exported file is
            chans, _, side = (int(v) for v in model.pretrained_cfg["input_size"])  # type: ignore[index]
            one = benchmark_many(
                [model], batches=args.batch, runtimes=args.runtime, img_size=side, in_chans=chans,
                threads=args.threads, device=args.device, min_time_s=args.min_time, rounds=args.rounds,
                progress=lambda what: status.update(f"benchmarking {ref} {what.split(' ', 1)[1]}"),
            )  # fmt: skip
            suite.results.extend(dataclasses.replace(r, model=ref) for r in one.results)
        if files:  # raced together, each in its own runtime
            status.update(f"benchmarking {', '.join(files)}")
            suite.results.extend(benchmark_artifacts(files, batches=args.batch, img_size=args.img_size,
                                                     in_chans=args.in_chans, threads=args.threads,
                                                     min_time_s=args.min_time, rounds=args.rounds))  # fmt: skip
    _report_bench(args, console, suite.results, BENCH_HEADERS, _bench_rows(suite.results),
                  _where(machine_info(), args.device))  # fmt: skip
    if args.plot and suite.results:
        _plot_bench(suite.results, args.plot, err)
    if suite.skipped:
        err.print(f"time budget spent: {len(suite.skipped)} point(s) not measured", highlight=False)
    return 0


def _tool_paths(specs: list[str]) -> dict[str, str]:
    paths = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise CliError(f"--tool-path {spec}: give NAME=PATH (e.g. benchncnn=build/benchmark/benchncnn)")
        paths[name] = path
    return check_tool_paths(paths)


def _bench_with_tool(
    args: argparse.Namespace,
    console: Console,
    files: list[str],
    names: list[str],
    models: dict[str, Any],
    runtimes: list[str],
) -> int:
    """``bench --tool`` / ``--adb``: files (and models exported for --runtime) timed by the runtimes' own programs."""
    import tempfile

    from shufflenet.export.predictor import Predictor

    if (names or models) and not runtimes:
        raise CliError(f"--tool times exported files: give --runtime ({', '.join(TOOL_RUNTIMES)}) to export "
                       f"{', '.join([*names, *models])} for it, or give exported files")  # fmt: skip
    for f in files:
        tool_for(f)  # a file no program times fails before any work
    target, tool_paths = _tool_target(args, runtimes)
    err = stderr_console()
    results = []
    with tempfile.TemporaryDirectory() as tmp, err.status("preparing...") as status:
        nets: dict[str, tuple] = {}
        for name in names:
            nets[name] = (build_model(name, args.in_chans, args.small_input)[1], (args.in_chans, args.img_size,
                          args.img_size))  # fmt: skip
        for ref, model in models.items():
            nets[ref] = (model, tuple(int(v) for v in model.pretrained_cfg["input_size"]))
        shapes = {f: artifact_input(Predictor(f), args.in_chans, args.img_size) for f in files}
        exported = export_for_tools(nets, runtimes, tmp, progress=status.update) if nets else []
        for batch in args.batch:
            artifacts: list[Artifact] = [(n, p, (batch, *s[1:])) for n, p, s in exported]
            artifacts += [(f, artifact_files(f), (batch, *shapes[f])) for f in files]
            results += benchmark_with_tool(
                artifacts, target=target, tool_paths=tool_paths, threads=args.threads, runs=args.tool_runs or TOOL_RUNS,
                rounds=args.rounds, progress=lambda what, r: status.update(f"timing {what} (round {r}/{args.rounds})"),
            )  # fmt: skip
    headers = ("model", "runtime (program)", "batch", "threads", "precision", "median_ms", "p10_ms",
                                "p90_ms", "images_per_s", "per_call")  # fmt: skip
    rows: list[tuple] = [
        (r.model, r.runtime, r.batch, r.threads, r.dtype, f"{r.latency_ms_median:.2f}", f"{r.latency_ms_p10:.2f}",
         f"{r.latency_ms_p90:.2f}", f"{r.images_per_s:.1f}", r.machine["statistic"])
        for r in results
    ]  # fmt: skip
    _report_bench(args, console, results, headers, rows, _where(results[0].machine, results[0].device))
    return 0


def _report_bench(
    args: argparse.Namespace,
    console: Console,
    results: list[BenchResult],
    headers: tuple[str, ...],
    rows: list[tuple],
    title: str,
) -> None:
    """Write the records (--out), add ours against torchvision's namesakes where both were timed, render."""
    records = [r.to_dict() for r in results]
    if args.output:
        text = json.dumps(records, indent=2) if args.output.endswith(".json") else records_csv(records)
        _write_output(args.output, text)
    ratios = speedups_over_torchvision(results)
    if ratios:  # torchvision's namesakes were timed too: ours against them, side by side
        headers = (*headers, "vs_torchvision")
        rows = [(*row, f"{ratios[i]:.2f}x" if i in ratios else "-") for i, row in enumerate(rows)]
    render(console, args.format, headers, rows, records=records, title=title)
    if ratios and args.format == "table":
        kept = torchvision_round_ratios(results)
        for batch in sorted({results[i].batch for i in kept}):
            counts = sorted(len(k) for i, k in kept.items() if results[i].batch == batch)
            rounds = max(len(results[i].round_ms) for i in kept if results[i].batch == batch)
            if counts[0] < rounds:
                span = f"{counts[0]}" if counts[0] == counts[-1] else f"{counts[0]}-{counts[-1]}"
                console.print(f"vs_torchvision at batch {batch}: {span} of {rounds} rounds, those in which both "
                              "sides ran near their best; in the others one side ran slower (a regime; "
                              "docs/measuring.md, 'Host regimes')", style="dim")  # fmt: skip


def _plot_bench(results: list[BenchResult], path: str, err: Console) -> None:
    """Ours' speed-up over torchvision's namesakes per runtime where they were raced, else speed vs FLOPs."""
    from shufflenet.bench.plots import plot_speed_vs_flops, plot_speedups  # matplotlib: only when plotting

    per_round = torchvision_round_ratios(results)
    if not per_round:
        plot_speed_vs_flops(results, path)
        err.print(f"speed-vs-FLOPs plot written to {path}", highlight=False)
        return
    models = {results[i].model for i in per_round}
    groups: dict[str, dict[str, list[float]]] = {}
    for i, ratios in per_round.items():
        r = results[i]
        group = r.runtime if len(models) == 1 else f"{r.model}\n{r.runtime}"
        groups.setdefault(group, {})[f"batch {r.batch}"] = ratios
    what = next(iter(models)) if len(models) == 1 else "ours"
    where = _where(machine_info(), results[0].device)
    plot_speedups(groups, path, title=f"{what} against torchvision's, the same weights, raced ({where})")
    err.print(f"speed-up plot written to {path}", highlight=False)


def _where(machine: dict[str, object], device: str) -> str:
    """A measurement's title: the GPU, the phone or this machine's CPU."""
    if device.startswith("cuda"):
        return f"{machine['gpu']} ({machine['gpu_driver']})"
    if "device" in machine:
        soc = machine.get("soc") or machine.get("platform")
        return (f"{machine.get('manufacturer')} {machine.get('model')} ({soc}, {machine.get('abi')}, Android "
                f"{machine.get('android')}, {machine.get('cores')} cores) over adb")  # fmt: skip
    return f"{machine['cpu']} ({machine['cores']} cores, {machine['cpu_flags']})"


def _bench_breakdown(args: argparse.Namespace, console: Console, err: Console) -> int:
    shares: dict[str, dict[str, float]] = {}
    for name in args.models:
        _, model = build_model(name, args.in_chans, args.small_input)
        parts = []
        for runtime in args.runtime:
            with err.status(f"profiling {name} in {runtime}"):
                b = breakdown(
                    model, runtime=runtime, batch=args.batch[0], img_size=args.img_size,
                    in_chans=args.in_chans, threads=args.threads,
                )  # fmt: skip
            shares[f"{name}\n{runtime}"] = b.shares()
            parts.append(b)
        rows = [(g, *(f"{b.ms.get(g, 0.0):.2f} ms ({100 * b.shares()[g]:.0f}%)" for b in parts)) for g in GROUPS]
        rows.append(("total", *(f"{b.total_ms:.2f} ms" for b in parts)))
        headers = ("operator class", *(b.runtime for b in parts))
        title = f"{name}: time per forward pass (batch {args.batch[0]})"
        render(console, args.format, headers, rows, title=title, heading=True)
    from shufflenet.bench.plots import plot_breakdown  # matplotlib: only when plotting

    path = args.plot or "shufflenet-breakdown.png"
    plot_breakdown(shares, path)
    err.print(f"bar chart written to {path}", highlight=False)
    return 0


def _cmd_guidelines(args: argparse.Namespace, console: Console) -> int:
    names = args.experiments or list(EXPERIMENTS)
    experiments = [get_experiment(n, platform_of(torch_device(args.device))) for n in names]
    with_tool = args.tool or args.adb is not None
    _check_tool_flags(args, with_tool)
    if with_tool:
        if args.device != "cpu" or (args.batch or 1) != 1:
            raise CliError("--device and --batch do not apply to --tool/--adb: the programs time the paper's "
                           "CPU/ARM widths at batch 1")  # fmt: skip
        if not args.runtime:
            raise CliError(f"--tool: give --runtime ({', '.join(TOOL_RUNTIMES)}): each block is exported to it")
        target, tool_paths = _tool_target(args, args.runtime)
        runtimes = args.runtime
    else:
        runtimes = [get_runtime(r).name for r in args.runtime or ["eager"]]
    if args.plot_dir:
        check_output_dir(args.plot_dir, "--out")
        os.makedirs(args.plot_dir, exist_ok=True)
    err = stderr_console()
    if with_tool and isinstance(target, Adb) and args.format != "json":
        console.print(f"on {_where(target.describe(), target.device)}", highlight=False)
    out = []
    for exp in experiments:
        results = []
        for runtime in runtimes:
            with err.status(f"measuring {exp.name} in {runtime}") as status:
                if with_tool:
                    result = run_guideline_with_tool(
                        exp.name, runtime, target=target, tool_paths=tool_paths, threads=args.threads,
                        runs=args.tool_runs or TOOL_RUNS, rounds=args.rounds,
                        progress=lambda what: status.update(f"{what} ({runtime})"),
                    )  # fmt: skip
                else:
                    result = run_guideline(
                        exp.name, runtime=runtime, threads=args.threads, min_time_s=args.min_time,
                        device=args.device, batch=args.batch, rounds=args.rounds,
                        progress=lambda what: status.update(f"measuring {what} ({runtime})"),
                    )  # fmt: skip
            results.append(result)
            out.append(result.to_dict())
            if args.plot_dir:
                from shufflenet.bench.plots import plot_guideline  # matplotlib: only when plotting

                suffix = "" if len(runtimes) == 1 else f"_{runtime}"
                path = plot_guideline(result, os.path.join(args.plot_dir, f"guideline_{exp.name}{suffix}.png"))
                err.print(f"plot written to {path}", highlight=False)
            if args.format != "json":
                _render_guideline(console, args.format, result, titled_runtime=len(runtimes) > 1 or with_tool)
        if len(runtimes) > 1 and args.format != "json":  # the orderings per runtime, side by side
            rows = [
                (f"{f} faster than {sl}", *(", ".join(r.verdict(f, sl, s) for s in r.scales) for r in results))
                for f, sl in exp.claims
            ]
            scales = f"{exp.scale_label}={','.join(map(str, results[0].scales))}"
            render(console, args.format, ("paper's claim", *runtimes), rows, heading=True,
                   title=f"{exp.name} in every runtime (verdicts at {scales})")  # fmt: skip
    if args.format == "json":
        console.out(json.dumps(out, indent=2))
    return 0


def _vs_paper(result: GuidelineResult, variant: Variant) -> str:
    """Our batches/s at the first scale and, at the paper's batch, their ratio to its GPU figure."""
    ours = result.images_per_s[(variant.label, result.scales[0])] / result.batch
    ratio = result.vs_paper(variant)
    return f"{ours:.0f}" + ("" if ratio is None else f", {ratio:.2f}x")


def _render_guideline(console: Console, fmt: str, result: GuidelineResult, *, titled_runtime: bool) -> None:
    exp = result.experiment
    on_gpu = result.device.startswith("cuda")
    headers = ("variant", "paper GPU (b/s)", *(("here (b/s), vs paper",) if on_gpu else ()),
               *(f"{exp.scale_label}={s}: MFLOPs / img/s" for s in result.scales))  # fmt: skip
    rows = [
        (
            v.label,
            "" if v.paper_gpu is None else f"{v.paper_gpu:g}",
            *((_vs_paper(result, v),) if on_gpu else ()),
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
    title = f"{exp.name}: {exp.title}" + (f" ({result.runtime})" if titled_runtime else "")
    if on_gpu:
        title += f" [{result.device}, batch {result.batch}, the paper's GPU widths]"
    render(console, fmt, headers, rows, title=title, after=claims, heading=True)


def _add_tool_args(p: argparse.ArgumentParser, what: str) -> None:
    """The flags of timing with the runtimes' own programs, here (--tool) or on a phone (--adb)."""
    p.add_argument("--tool", action="store_true",
                   help="time with each runtime's own benchmark program, no Python of ours in the loop: "
                   "benchmark_app (OpenVINO), litert-benchmark or benchmark_model (LiteRT), benchncnn (ncnn), "
                   f"executor_runner (ExecuTorch); {what} (docs/measuring.md)")  # fmt: skip
    p.add_argument("--adb", nargs="?", const="", default=None, metavar="SERIAL",
                   help="run the programs on an Android device over adb (implies --tool; SERIAL when several "
                   "are connected): the files and any --tool-path program are pushed to /data/local/tmp; "
                   "1 thread unless --threads (as both papers timed their ARM phone)")  # fmt: skip
    p.add_argument("--tool-path", action="append", default=[], metavar="NAME=PATH",
                   help="where a program is on this machine (e.g. benchncnn=build/benchmark/benchncnn; an "
                   "Android build with --adb, pushed); repeatable")  # fmt: skip
    p.add_argument(
        "--tool-runs",
        type=positive_int,
        help=f"timed calls per run of a program (default {TOOL_RUNS}; each round runs it once per file)",
    )


def _check_tool_flags(args: argparse.Namespace, with_tool: bool) -> None:
    """--tool-path and --tool-runs without --tool or --adb would do nothing: a one-line error instead."""
    given = [flag for flag, value in (("--tool-path", args.tool_path), ("--tool-runs", args.tool_runs)) if value]
    if given and not with_tool:
        raise CliError(f"{', '.join(given)}: for timing with the runtimes' own programs; add --tool (or --adb), or "
                       "drop it")  # fmt: skip


def _tool_target(args: argparse.Namespace, runtimes: list[str]) -> tuple[Target, dict[str, str]]:
    """The target the programs run on and the programs given by path, checked before any work."""
    check_tool_runtimes(runtimes)
    tool_paths = _tool_paths(args.tool_path)
    return (Adb(args.adb or None) if args.adb is not None else Host()), tool_paths


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="measure latency and throughput on this machine")
    p.add_argument(
        "models",
        nargs="+",
        metavar="MODEL",
        help="registered model names, trained models (checkpoint .pt, weights .safetensors, MODEL:TAG; at the input "
        "size they were trained for), exported files (.onnx, OpenVINO .xml, .ncnn.param, .pte, .tflite; each timed "
        "in its own runtime) and/or torchvision:NAME (torchvision's network, timed beside our namesake with the "
        "ratio)",
    )
    p.add_argument("--batch", type=int_list, default=[1], help="comma-separated batch sizes (default 1)")
    p.add_argument("--runtime", type=str_list, default=None,
                   help=f"comma-separated, for registered and trained models (default eager): {', '.join(RUNTIMES)}; "
                   "an exported file runs in its own")  # fmt: skip
    p.add_argument("--threads", type=positive_int, default=None, help="intra-op threads (default: PyTorch's)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--precision", choices=tuple(DTYPES), default="float32",
                   help="registered models' weights and inputs (default float32; ONNX and mobile runtimes: float32)")  # fmt: skip
    p.add_argument("--min-time", type=positive_float, default=1.0, help="seconds of timed calls per point (default 1)")
    p.add_argument("--rounds", type=positive_int, default=5,
                   help="the registered models and runtimes of a batch (and, apart, the exported files) are raced: "
                   "this many rounds of one short block each, in rotating order (default 5; docs/measuring.md)")  # fmt: skip
    p.add_argument(
        "--time-budget",
        type=duration_arg,
        default=None,
        metavar="DURATION",
        help="stop starting new batch sizes after this long (the points of one are raced together) (90s, 5m; a bare number is the old spelling: seconds)",
    )
    p.add_argument("--out", "-o", "--output", dest="output", help="also write the records to FILE.csv or FILE.json "
                   "(--output is the old spelling)")  # fmt: skip
    p.add_argument("--breakdown", action="store_true", help="time per operator class instead, read from the "
                   f"runtime's own profiler ({', '.join(BREAKDOWN_RUNTIMES)})")  # fmt: skip
    p.add_argument(
        "--plot",
        help="figure (.png, .svg, .pdf): speed vs FLOPs; with torchvision's namesakes (torchvision:NAME) ours' speed-up "
        "over them per runtime; with --breakdown the bar chart (default shufflenet-breakdown.png)",
    )
    _add_tool_args(p, "exported files as they are, registered and trained models exported for each --runtime")
    add_shape_args(p, batch=False)
    p.set_defaults(func=_cmd_bench)

    p = sub.add_parser("guidelines", help="the V2 paper's G1-G4 experiments on this machine")
    p.add_argument("experiments", nargs="*", metavar="G", help="G1, G2, G3 and/or G4 (default: all)")
    p.add_argument(
        "--runtime",
        type=str_list,
        default=None,
        help=f"comma-separated, each measured in turn, verdicts side by side: {', '.join(RUNTIMES)} (default eager; "
        f"with --tool: {', '.join(TOOL_RUNTIMES)})",
    )
    p.add_argument("--threads", type=positive_int, default=None, help="intra-op threads (default: PyTorch's)")
    p.add_argument("--device", default="cpu", help="cpu (the paper's CPU/ARM widths) or cuda (its GPU widths, batch 8, "
                   "our batches/s beside its GTX 1080Ti's)")  # fmt: skip
    p.add_argument("--batch", type=positive_int, default=None, help="images per call (default 1 on cpu, 8 on cuda)")
    p.add_argument(
        "--min-time", type=positive_float, default=0.5, help="seconds of timed calls per point (default 0.5)"
    )
    p.add_argument("--rounds", type=positive_int, default=3,
                   help="the variants of a scale are raced: this many rounds in rotating order (default 3; more "
                   "rounds, steadier verdicts on a noisy host)")  # fmt: skip
    p.add_argument(
        "--out",
        "-o",
        "--plot-dir",
        dest="plot_dir",
        help="write guideline_G*.png bar charts to this directory (--plot-dir is the old spelling)",
    )
    p.add_argument("--format", choices=FORMATS, default="table", help="output format (default table)")
    _add_tool_args(p, "each variant's block exported for each --runtime, the paper's CPU/ARM widths at batch 1")
    p.set_defaults(func=_cmd_guidelines)
