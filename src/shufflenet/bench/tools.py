"""Exported files timed by each runtime's own benchmark program, on this machine or on an Android device.

Our other timings call the runtime from Python. The programs the runtimes ship for this job --
OpenVINO's ``benchmark_app``, LiteRT's ``litert-benchmark`` (Python) and ``benchmark_model`` (the
native binary Google builds for Android), ncnn's ``benchncnn`` and ExecuTorch's ``executor_runner`` --
load the file with the runtime's plain API and time it with no code of ours in the loop, and the native
ones run where the app will: on a phone, over ``adb``. This is the V2 paper's direct metric on the
target platform.

Each program reports one figure per run: its median per call where it reports one (``benchmark_app``,
``litert-benchmark``, ``executor_runner``), else its mean (``benchncnn``, ``benchmark_model``). Files
compared are raced as :func:`~shufflenet.bench.timing.race_stats` races contenders: one run of the
program per file per round, in rotating order, after a pause; a record's median is the median over
rounds, its p10/p90 the spread over rounds.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from shufflenet.bench.engine import BenchResult
from shufflenet.bench.guidelines import INPUT_SIZE, GuidelineResult, get_experiment
from shufflenet.bench.machine import machine_info
from shufflenet.bench.timing import percentile, rotating_rounds
from shufflenet.complexity import analyze
from shufflenet.export.formats import FORMATS, artifact_precision, export_artifact

__all__ = [
    "TOOLS",
    "TOOL_RUNS",
    "TOOL_RUNTIMES",
    "Adb",
    "Artifact",
    "BenchTool",
    "Host",
    "Target",
    "ToolJob",
    "ToolRun",
    "benchmark_with_tool",
    "check_tool_paths",
    "check_tool_runtimes",
    "export_for_tools",
    "run_guideline_with_tool",
    "tool_for",
]


@dataclass(frozen=True)
class ToolRun:
    """What one run of a benchmark program reported: its figure per call (``statistic``: "median" or
    "mean"), the fastest and slowest call, and how many calls it timed."""

    center_ms: float
    min_ms: float
    max_ms: float
    runs: int
    statistic: str


@dataclass(frozen=True)
class ToolJob:
    """One run of a program: the model file as the program sees it, and how to run it."""

    model: str
    input_shape: tuple[int, int, int, int]  # (N, C, H, W)
    threads: int
    runs: int
    warmup: int


def _run(argv: Sequence[str], timeout_s: float) -> subprocess.CompletedProcess[str]:
    """``argv`` run to its end, its output kept; a ValueError if it runs past ``timeout_s`` (a hung phone or program)."""
    try:
        return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        raise ValueError(f"{Path(argv[0]).name} ran past {timeout_s:g} s ({shlex.join(argv)[:200]}); is the "
                         "device awake and the program right for it?") from None  # fmt: skip


def _last_line(text: str) -> str:
    """A program's last words: the last non-blank line of its output (what a one-line error quotes)."""
    return next((ln.strip() for ln in reversed(text.splitlines()) if ln.strip()), "no output")


def _number(pattern: str, text: str, what: str) -> float:
    """The last number ``pattern``'s group matches in ``text``; a ValueError naming ``what`` if none does."""
    found = re.findall(pattern, text)
    if not found:
        raise ValueError(what)
    return float(found[-1])


def _benchmark_app_args(job: ToolJob) -> list[str]:
    n, c, h, w = job.input_shape  # one stream, one request, synchronous: latency, as an app calls it
    return ["-m", job.model, "-d", "CPU", "-hint", "none", "-nstreams", "1", "-nireq", "1", "-api", "sync",
            "-nthreads", str(job.threads), "-niter", str(job.runs), "-infer_precision", "f32",
            "-shape", f"[{n},{c},{h},{w}]"]  # fmt: skip


_TO_MS = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}


def _benchmark_app_parse(text: str, job: ToolJob) -> ToolRun:
    def ms(label: str) -> float:  # benchmark_app prints ms, or us below a millisecond
        found = re.findall(rf"\b{label}:\s+([0-9.]+) (ns|us|ms|s)\b", text)
        if not found:
            raise ValueError(f"no '{label}:' latency line")
        value, unit = found[-1]
        return float(value) * _TO_MS[unit]

    count = _number(r"Count:\s+(\d+) iterations", text, "no 'Count:' line")
    return ToolRun(ms("Median"), ms("Min"), ms("Max"), int(count), "median")


def _litert_benchmark_args(job: ToolJob) -> list[str]:
    return ["--model", job.model, "--num_runs", str(job.runs), "--warmup_runs", str(job.warmup),
            "--num_threads", str(job.threads)]  # fmt: skip


def _litert_benchmark_parse(text: str, job: ToolJob) -> ToolRun:
    def ms(label: str) -> float:
        return _number(rf"Inference \({label}\):\s+([0-9.]+) ms", text, f"no 'Inference ({label}):' line")

    runs = _number(r"Inference \(avg\):\s+[0-9.]+ ms \((\d+) runs\)", text, "no 'Inference (avg):' line")
    return ToolRun(ms("median"), ms("min"), ms("max"), int(runs), "median")


def _benchmark_model_args(job: ToolJob) -> list[str]:
    return [f"--graph={job.model}", f"--num_threads={job.threads}", f"--num_runs={job.runs}",
            f"--warmup_runs={job.warmup}"]  # fmt: skip


def _benchmark_model_parse(text: str, job: ToolJob) -> ToolRun:
    """TFLite's ``benchmark_model`` prints a ``count=.. min=.. max=.. avg=..`` line (microseconds) for its
    warm-up and then for its timed runs: the last one is the timed runs'."""
    lines = [ln for ln in text.splitlines() if re.search(r"\bcount=\d+.*\bavg=", ln)]
    if not lines:
        raise ValueError("no 'count=... avg=...' line of timed runs")
    fields = dict(re.findall(r"\b(\w+)=([0-9.e+-]+)", lines[-1]))
    has_median = "median" in fields
    center = float(fields["median" if has_median else "avg"]) / 1e3
    return ToolRun(center, float(fields["min"]) / 1e3, float(fields["max"]) / 1e3, int(float(fields["count"])),
                   "median" if has_median else "mean")  # fmt: skip


def _benchncnn_args(job: ToolJob) -> list[str]:
    _, c, h, w = job.input_shape  # loop count, threads, powersave 0 (any core), CPU (-1), no 10 s cooling down
    return [str(job.runs), str(job.threads), "0", "-1", "0", f"param={job.model}", f"shape=[{w},{h},{c}]"]


def _benchncnn_parse(text: str, job: ToolJob) -> ToolRun:
    found = re.findall(r"min =\s*([0-9.]+)\s+max =\s*([0-9.]+)\s+avg =\s*([0-9.]+)", text)
    if not found:
        raise ValueError("no 'min = .. max = .. avg = ..' line")
    lo, hi, avg = (float(v) for v in found[-1])
    loops = re.findall(r"loop_count = (\d+)", text)
    return ToolRun(avg, lo, hi, int(loops[-1]) if loops else 0, "mean")


def _executor_runner_args(job: ToolJob) -> list[str]:
    # no separate warm-up in the runner: the first ``warmup`` executions are dropped when parsing
    return [f"--model_path={job.model}", f"--num_executions={job.runs + job.warmup}", f"--cpu_threads={job.threads}"]


def _executor_runner_parse(text: str, job: ToolJob) -> ToolRun:
    """Per-execution lines (``Iteration i of n: x ms``) where the runner prints them, less the warm-up
    executions; an older runner's one total (``executed successfully n time(s) in x ms``) as a mean."""
    times = [float(t) for t in re.findall(r"Iteration \d+ of \d+: ([0-9.]+) ms", text)]
    if times:
        timed = times[job.warmup :] or times
        return ToolRun(statistics.median(timed), min(timed), max(timed), len(timed), "median")
    total = re.findall(r"executed successfully (\d+) time\(s\) in ([0-9.]+) ms", text)
    if not total:
        raise ValueError("no 'Iteration i of n: x ms' or 'executed successfully' line")
    n, ms = int(total[-1][0]), float(total[-1][1])
    return ToolRun(ms / n, ms / n, ms / n, n, "mean")


@dataclass(frozen=True)
class BenchTool:
    """A runtime's own benchmark program: what it is called, what it times, how it is run and read."""

    name: str
    runtime: str  # the runtime, as bench names it
    suffix: str  # the artifact it times (the file's suffix)
    args: Callable[[ToolJob], list[str]]
    parse: Callable[[str, ToolJob], ToolRun]
    where: str  # where to get it (for the message when it is missing)
    single_image: bool = True  # the file holds one input shape; batches of one only
    python: bool = False  # a Python program: not for a phone

    def read(self, text: str, job: ToolJob) -> ToolRun:
        """The run's figures from the program's output; a ValueError naming the program if none is there."""
        try:
            return self.parse(text, job)
        except (ValueError, KeyError) as exc:
            last = _last_line(text)
            raise ValueError(f"{self.name}'s output on {job.model} has {exc} (it ended: {last[:160]!r}); "
                             f"is it {self.where}?") from None  # fmt: skip


#: timed calls per run of a runtime's program, unless told otherwise
TOOL_RUNS = 50

TOOLS: dict[str, BenchTool] = {
    t.name: t
    for t in (
        BenchTool("benchmark_app", "openvino", ".xml", _benchmark_app_args, _benchmark_app_parse,
                  "OpenVINO's benchmark_app (pip install openvino)", single_image=False),
        BenchTool("benchncnn", "ncnn", ".param", _benchncnn_args, _benchncnn_parse,
                  "ncnn's benchncnn (built from ncnn's benchmark/ folder)"),
        BenchTool("litert-benchmark", "litert", ".tflite", _litert_benchmark_args, _litert_benchmark_parse,
                  "LiteRT's litert-benchmark (pip install ai-edge-litert)", python=True),
        BenchTool("benchmark_model", "litert", ".tflite", _benchmark_model_args, _benchmark_model_parse,
                  "LiteRT's (TensorFlow Lite's) native benchmark_model, as Google builds it for Android and Linux"),
        BenchTool("executor_runner", "executorch", ".pte", _executor_runner_args, _executor_runner_parse,
                  "ExecuTorch's executor_runner, built with the XNNPACK backend"),
    )
}  # fmt: skip

#: the programs that time each suffix, in order of preference (the first found is used)
_BY_SUFFIX = {".xml": ("benchmark_app",), ".tflite": ("litert-benchmark", "benchmark_model"),
              ".param": ("benchncnn",), ".pte": ("executor_runner",)}  # fmt: skip


class Target:
    """Where the programs run: :class:`Host` (this machine) or :class:`Adb` (an Android device)."""

    device: str  # the record's device field

    def stage(self, files: Sequence[Path], tag: str) -> str:
        """Make ``files`` (an artifact and the files beside it) visible to the programs; the first one's path there."""
        raise NotImplementedError

    def program(self, tool: BenchTool, local: str | None) -> list[str]:
        """The command that starts ``tool`` (``local``: a path to it on this machine, else it is looked for)."""
        raise NotImplementedError

    def run(self, argv: Sequence[str], timeout_s: float) -> tuple[int, str]:
        """Run ``argv``: its exit status and its output (stdout and stderr together)."""
        raise NotImplementedError

    def describe(self) -> dict[str, object]:
        """What the measurement ran on (it means nothing without)."""
        raise NotImplementedError


class Host(Target):
    """This machine: files are used where they are; a program is found on ``PATH`` or beside this Python
    (a virtual environment's scripts) unless a path is given."""

    device = "cpu"

    def stage(self, files: Sequence[Path], tag: str) -> str:
        return str(files[0])

    def program(self, tool: BenchTool, local: str | None) -> list[str]:
        if local:
            if not os.access(local, os.X_OK) or not Path(local).is_file():
                raise FileNotFoundError(f"{tool.name}: {local} is not an executable file")
            return [str(Path(local).resolve())]  # a bare name would be looked up on PATH
        beside = Path(sys.executable).parent / tool.name
        found = shutil.which(tool.name) or (str(beside) if os.access(beside, os.X_OK) else None)
        if found is None:
            raise FileNotFoundError(f"{tool.name} not found on this machine (PATH or {beside.parent}): install "
                                    f"{tool.where}, or give --tool-path {tool.name}=PATH")  # fmt: skip
        return [found]

    def run(self, argv: Sequence[str], timeout_s: float) -> tuple[int, str]:
        done = _run(argv, timeout_s)
        return done.returncode, done.stdout + done.stderr

    def describe(self) -> dict[str, object]:
        return machine_info()


#: the Android properties a record keeps: what the phone is, its chip and its system
_PROPS = {"manufacturer": "ro.product.manufacturer", "model": "ro.product.model", "soc": "ro.soc.model",
          "platform": "ro.board.platform", "abi": "ro.product.cpu.abi", "android": "ro.build.version.release"}  # fmt: skip


class Adb(Target):
    """An Android device over ``adb``: artifacts and programs are pushed to ``workdir`` (``/data/local/tmp``
    is where shell users may run binaries) and run from there, one ``adb shell`` per run."""

    def __init__(self, serial: str | None = None, *, adb: str = "adb", workdir: str = "/data/local/tmp/shufflenet"):
        found = shutil.which(adb)
        if found is None:
            raise FileNotFoundError(f"{adb} not found: install Android's platform-tools (it has adb) and put it "
                                    "on PATH")  # fmt: skip
        self.adb, self.workdir = found, workdir
        devices = self._devices()
        if serial is None:
            if not devices:
                raise ValueError("no Android device: connect one with USB debugging on (`adb devices` lists none)")
            if len(devices) > 1:
                raise ValueError(f"{len(devices)} Android devices are connected ({', '.join(devices)}): name one, "
                                 "--adb SERIAL")  # fmt: skip
            serial = devices[0]
        elif serial not in devices:
            raise ValueError(f"no Android device {serial!r} ({', '.join(devices) or 'none'} connected and authorised)")
        self.serial = serial
        self.device = f"adb:{serial}"
        self._call(["shell", f"mkdir -p {shlex.quote(workdir)}"])

    def _devices(self) -> list[str]:
        out = _run([self.adb, "devices"], 60).stdout
        return [ln.split()[0] for ln in out.splitlines()[1:] if ln.strip().endswith("\tdevice")]

    def _call(self, args: Sequence[str], timeout_s: float = 300.0) -> str:
        argv = [self.adb, "-s", self.serial, *args]
        done = _run(argv, timeout_s)
        if done.returncode != 0:
            raise ValueError(f"adb {args[0]} on {self.serial} failed: {_last_line(done.stdout + done.stderr)[:200]}")
        return done.stdout

    def stage(self, files: Sequence[Path], tag: str) -> str:
        for f in files:
            self._call(["push", str(f), f"{self.workdir}/{tag}-{f.name}"])
        return f"{self.workdir}/{tag}-{files[0].name}"

    def program(self, tool: BenchTool, local: str | None) -> list[str]:
        there = f"{self.workdir}/{tool.name}"
        if local:
            if not Path(local).is_file():
                raise FileNotFoundError(f"{tool.name}: {local} is not a file (an Android build of it, to push)")
            self._call(["push", local, there])
            self._call(["shell", f"chmod 755 {shlex.quote(there)}"])
        elif self._call(["shell", f"[ -x {shlex.quote(there)} ] && echo yes || echo no"]).strip() != "yes":
            raise FileNotFoundError(f"{tool.name} is not on {self.serial} ({there}): give --tool-path "
                                    f"{tool.name}=PATH to an Android build of {tool.where} to push it")  # fmt: skip
        return [there]

    def run(self, argv: Sequence[str], timeout_s: float) -> tuple[int, str]:
        command = f"cd {shlex.quote(self.workdir)} && {shlex.join(argv)}"
        done = _run([self.adb, "-s", self.serial, "shell", command], timeout_s)
        return done.returncode, done.stdout + done.stderr

    def describe(self) -> dict[str, object]:
        info: dict[str, object] = {"device": self.device}
        for key, prop in _PROPS.items():
            info[key] = self._call(["shell", f"getprop {prop}"]).strip() or None
        cores = self._call(["shell", "ls /sys/devices/system/cpu"]).split()
        info["cores"] = sum(1 for c in cores if re.fullmatch(r"cpu\d+", c)) or None
        return info


def tool_for(path: str | os.PathLike[str]) -> BenchTool:
    """The first program that times ``path`` (a ValueError for a file no program times)."""
    suffix = Path(path).suffix
    if suffix not in _BY_SUFFIX:
        known = ", ".join(f"{s} ({'/'.join(t)})" for s, t in _BY_SUFFIX.items())
        raise ValueError(f"{path}: no runtime benchmark program times this kind of file; they time {known} "
                         "(an ONNX file is timed in a plain ONNX Runtime session: bench FILE without --tool)")  # fmt: skip
    return TOOLS[_BY_SUFFIX[suffix][0]]


def _program(target: Target, suffix: str, paths: Mapping[str, str]) -> tuple[BenchTool, list[str]]:
    """The program for ``suffix`` given in ``paths``, else the first found on ``target`` (a phone runs no
    Python program), and the command that starts it; the first one's error if none is."""
    first: FileNotFoundError | None = None
    names = sorted(_BY_SUFFIX[suffix], key=lambda n: n not in paths)  # a program given by path comes first
    for name in (n for n in names if not (TOOLS[n].python and isinstance(target, Adb))):
        try:
            return TOOLS[name], target.program(TOOLS[name], paths.get(name))
        except FileNotFoundError as exc:
            first = first or exc
    assert first is not None
    raise first


#: an artifact to time: the record's name, the artifact's files (the file first, then those beside it, as
#: :meth:`~shufflenet.export.formats.ArtifactFormat.files` lists them) and its input shape (N, C, H, W)
Artifact = tuple[str, Sequence[Path], tuple[int, int, int, int]]


def benchmark_with_tool(
    artifacts: Sequence[Artifact],
    *,
    target: Target | None = None,
    tool_paths: Mapping[str, str] | None = None,
    threads: int | None = None,
    runs: int = TOOL_RUNS,
    warmup: int = 5,
    rounds: int = 5,
    pause_s: float = 0.5,
    timeout_s: float = 600.0,
    progress: Callable[[str, int], None] | None = None,
) -> list[BenchResult]:
    """Time each of ``artifacts`` with its runtime's own program on ``target`` (default: this machine).

    ``tool_paths`` names programs on this machine by name (``{"benchncnn": "build/benchncnn"}``; pushed to
    an Android target); otherwise a program is looked for on the target. ``threads`` defaults to this
    machine's cores here and to 1 on an Android device (both papers timed one thread on their ARM phone).
    Records come in ``artifacts``' order; their ``runtime`` names the runtime and the program, their
    ``dtype`` the file's precision as its operators say (``-`` where a file does not say).
    """
    target = target or Host()
    tool_paths = check_tool_paths(tool_paths or {})
    if rounds < 1 or runs < 1 or warmup < 0:
        raise ValueError(f"rounds and runs must be >= 1 and warm-up >= 0, got {rounds}, {runs}, {warmup}")
    for _, paths, shape in artifacts:
        tool = tool_for(paths[0])
        if tool.single_image and shape[0] != 1:
            kind = FORMATS[tool.runtime].runtime
            raise ValueError(f"{paths[0]}: a {kind} file is converted for one image (an app loops over "
                             f"a batch); {tool.name} times batch 1, not {shape[0]}")  # fmt: skip
    threads = threads or (1 if isinstance(target, Adb) else os.cpu_count() or 1)
    programs: dict[str, tuple[BenchTool, list[str]]] = {}
    jobs: list[tuple[list[str], ToolJob, BenchTool]] = []
    for i, (_, paths, shape) in enumerate(artifacts):
        suffix = Path(paths[0]).suffix
        if suffix not in programs:
            programs[suffix] = _program(target, suffix, tool_paths)
        tool, start = programs[suffix]
        job = ToolJob(target.stage([Path(p) for p in paths], str(i)), shape, threads, runs, warmup)
        jobs.append(([*start, *tool.args(job)], job, tool))
    seen: list[list[ToolRun]] = [[] for _ in artifacts]
    for r, i in rotating_rounds(range(len(artifacts)), rounds):
        argv, job, tool = jobs[i]
        if progress:
            progress(artifacts[i][0], r + 1)
        time.sleep(pause_s)
        status, text = target.run(argv, timeout_s)
        if status != 0:
            raise ValueError(f"{tool.name} failed on {job.model} (exit {status}): {_last_line(text)[:200]}")
        seen[i].append(tool.read(text, job))
    where = target.describe()
    return [
        _record(name, *jobs[i][1:], seen[i], target.device, where, _precision(paths[0]))
        for i, (name, paths, _) in enumerate(artifacts)
    ]


#: the runtimes whose programs time a model (each also names the format ``shufflenet export`` writes for it)
TOOL_RUNTIMES = tuple(dict.fromkeys(t.runtime for t in TOOLS.values()))


def check_tool_runtimes(runtimes: Sequence[str]) -> None:
    """A ValueError for a runtime no benchmark program times (before any export or connection)."""
    for runtime in runtimes:
        if runtime not in TOOL_RUNTIMES:
            raise ValueError(f"--tool: no benchmark program of runtime {runtime!r}; the runtimes' own programs "
                             f"time {', '.join(TOOL_RUNTIMES)} (ONNX Runtime: leave out --tool; a plain session)")  # fmt: skip


def check_tool_paths(paths: Mapping[str, str]) -> dict[str, str]:
    """``paths`` (program name -> its path here), each name one of :data:`TOOLS`'s, else a ValueError."""
    for name in paths:
        if name not in TOOLS:
            raise ValueError(f"--tool-path {name}: unknown program {name!r}; the runtimes' own are {', '.join(TOOLS)}")
    return dict(paths)


def export_for_tools(
    models: Mapping[str, tuple[nn.Module, tuple[int, int, int]]],
    runtimes: Sequence[str],
    folder: str | os.PathLike[str],
    *,
    progress: Callable[[str], None] | None = None,
) -> list[Artifact]:
    """Each of ``models`` (name -> the network and its input (C, H, W)) written to ``folder`` for each of
    ``runtimes`` as :func:`~shufflenet.export.formats.export_artifact` writes it (verified; a network of
    ours in the form that runtime runs fastest, torchvision's through the runtime's own converter), ready
    for :func:`benchmark_with_tool` at batch 1 (an OpenVINO IR takes any batch: give it in the shape)."""
    check_tool_runtimes(runtimes)
    out: list[Artifact] = []
    for runtime in runtimes:
        fmt = FORMATS[runtime]
        for i, (name, (model, chw)) in enumerate(models.items()):
            if progress:
                progress(f"exporting {name} for {runtime}")
            path = Path(folder) / f"{i}-{runtime}{fmt.suffix}"
            export_artifact(model, path, fmt.name, input_shape=(1, *chw))
            out.append((name, fmt.files(path), (1, *chw)))
    return out


def run_guideline_with_tool(
    name: str,
    runtime: str,
    *,
    scales: Sequence[int] | None = None,
    target: Target | None = None,
    tool_paths: Mapping[str, str] | None = None,
    threads: int | None = None,
    runs: int = TOOL_RUNS,
    rounds: int = 3,
    progress: Callable[[str], None] | None = None,
) -> GuidelineResult:
    """The V2 paper's guideline experiment ``name`` at its CPU/ARM widths, batch 1, every variant's block
    exported for ``runtime`` and timed by that runtime's own program on ``target``: on a phone over
    :class:`Adb`, the paper's ARM column where the user's app runs. The variants of a scale are raced
    (:func:`benchmark_with_tool`); the result's ``runtime`` names the program."""
    exp = get_experiment(name, "cpu")
    result = GuidelineResult(exp, runtime=runtime, scales=list(scales or exp.scales), batch=1,
                             device=(target or Host()).device)  # fmt: skip
    for scale in result.scales:
        blocks: dict[str, tuple[nn.Module, tuple[int, int, int]]] = {}
        for v in exp.variants:
            block, chs = v.build(scale)
            report = analyze(block.eval(), (1, chs, INPUT_SIZE, INPUT_SIZE))
            result.flops[(v.label, scale)], result.mac[(v.label, scale)] = report.flops, report.mac
            blocks[v.label] = (block, (chs, INPUT_SIZE, INPUT_SIZE))

        def say(label: str, r: int, scale: int = scale) -> None:
            if progress:
                progress(f"{exp.name} {label} {exp.scale_label}={scale}: round {r}/{rounds}")

        with tempfile.TemporaryDirectory() as tmp:
            artifacts = export_for_tools(blocks, [runtime], tmp, progress=progress)
            timed = benchmark_with_tool(artifacts, target=target, tool_paths=tool_paths, threads=threads, runs=runs,
                                        rounds=rounds, progress=say)  # fmt: skip
        for r in timed:
            result.images_per_s[(r.model, scale)] = r.images_per_s
        result.runtime = timed[0].runtime
    return result


def _precision(path: str | os.PathLike[str]) -> str:
    try:
        return artifact_precision(path) or "-"
    except (ImportError, ValueError, OSError):  # the runtime is not installed here: the file does not say
        return "-"


def _record(
    name: str, job: ToolJob, tool: BenchTool, runs: list[ToolRun], device: str, where: dict[str, object], dtype: str
) -> BenchResult:
    centers = sorted(r.center_ms for r in runs)
    median = statistics.median(centers)
    n, c, h, _ = job.input_shape
    return BenchResult(
        model=name, runtime=f"{tool.runtime} ({tool.name})", batch=n, img_size=h, in_chans=c, threads=job.threads,
        device=device, dtype=dtype, latency_ms_median=median, latency_ms_p10=percentile(centers, 10),
        latency_ms_p90=percentile(centers, 90), latency_ms_min=min(r.min_ms for r in runs),
        iterations=sum(r.runs for r in runs), truncated=False, images_per_s=n * 1e3 / median, flops=0, params=0,
        mac=0, machine={**where, "tool": tool.name, "statistic": runs[0].statistic},
        round_ms=tuple(r.center_ms for r in runs),
    )  # fmt: skip
