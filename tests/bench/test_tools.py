"""The runtimes' own benchmark programs (``bench --tool`` / ``--adb``).

OpenVINO's ``benchmark_app`` is installed with ``make setup``, so it is run for real: on this machine and
through ``adb`` (a stand-in ``adb`` here runs the device's shell commands in a folder standing for the
phone). The native programs (``benchncnn``, ``benchmark_model``, ``executor_runner``) cannot be built here:
their parsers are checked on output in the format their sources print, and a stand-in ``benchncnn`` checks
what the plumbing hands a program (its argument list, the pushed files).
"""

from __future__ import annotations

import json
import os
import stat
import sys
import textwrap
from pathlib import Path

import pytest

from shufflenet.bench.tools import (
    TOOLS,
    Adb,
    Host,
    ToolJob,
    benchmark_with_tool,
    tool_for,
)
from shufflenet.cli.main import main
from shufflenet.export.formats import artifact_files
from shufflenet.models import create_model

pytest.importorskip("openvino")

JOB = ToolJob("m", (1, 3, 224, 224), 2, 50, 5)


def _script(path: Path, body: str) -> Path:
    """An executable Python script at ``path``."""
    path.write_text(f"#!{sys.executable}\n" + textwrap.dedent(body))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture(scope="module")
def ir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small OpenVINO IR (V2 0.5x at 64 px), as ``shufflenet export`` writes it."""
    from shufflenet.export import export_artifact

    path = tmp_path_factory.mktemp("ir") / "v2.xml"
    export_artifact(create_model("shufflenet_v2_x0_5", num_classes=10), path, "openvino", input_shape=(1, 3, 64, 64))
    return path


# --- parsers: the programs' own output formats ---------------------------------------------------------


def test_benchmark_app_reads_its_latency_block() -> None:
    text = """[ INFO ] First inference took 5.61 ms
[ INFO ] Count:            50 iterations
[ INFO ] Latency:
[ INFO ]    Median:        1.44 ms
[ INFO ]    Average:       1.47 ms
[ INFO ]    Min:           1.16 ms
[ INFO ]    Max:           2.17 ms
"""
    run = TOOLS["benchmark_app"].read(text, JOB)
    assert (run.center_ms, run.min_ms, run.max_ms, run.runs, run.statistic) == (1.44, 1.16, 2.17, 50, "median")
    fast = TOOLS["benchmark_app"].read(text.replace("1.44 ms", "460.5 us"), JOB)  # under a millisecond: us
    assert fast.center_ms == pytest.approx(0.4605) and fast.min_ms == 1.16


def test_litert_benchmark_reads_its_results_block() -> None:
    text = """Warmup (avg):          1.69 ms (5 runs)
Inference (avg):       1.19 ms (50 runs)
Inference (min):       1.05 ms
Inference (max):       1.43 ms
Inference (median):    1.17 ms
"""
    run = TOOLS["litert-benchmark"].read(text, JOB)
    assert (run.center_ms, run.min_ms, run.max_ms, run.runs) == (1.17, 1.05, 1.43, 50)


def test_benchmark_model_takes_the_timed_runs_line_not_the_warmup_one() -> None:
    text = """count=2 first=339304 curr=266325 min=266325 max=339304 avg=302814 std=36489
Running benchmark for at least 50 iterations and at least 1 seconds but terminate if exceeding 150 seconds.
count=50 first=266601 curr=266931 min=265837 max=268116 avg=266473 std=419
Inference timings in us: Init: 20283, First inference: 339304, Warmup (avg): 302814, Inference (avg): 266473
"""
    run = TOOLS["benchmark_model"].read(text, JOB)
    assert (run.center_ms, run.min_ms, run.max_ms, run.runs, run.statistic) == (266.473, 265.837, 268.116, 50, "mean")
    with_median = text.replace("std=419", "std=419 p5=265900 median=266400 p95=267900")
    assert TOOLS["benchmark_model"].read(with_median, JOB).center_ms == 266.4


def test_benchncnn_reads_its_line() -> None:
    text = "loop_count = 50\nnum_threads = 2\n     ours.ncnn  min =    3.51  max =    4.20  avg =    3.73\n"
    run = TOOLS["benchncnn"].read(text, JOB)
    assert (run.center_ms, run.min_ms, run.max_ms, run.runs, run.statistic) == (3.73, 3.51, 4.2, 50, "mean")


def test_executor_runner_drops_the_warmup_executions() -> None:
    lines = [f"I 00:00:00.1 executorch:executor_runner.cpp:1] Iteration {i + 1} of 7: {t} ms"
             for i, t in enumerate([30.0, 9.0, 4.0, 3.0, 5.0, 4.5, 3.5])]  # fmt: skip
    run = TOOLS["executor_runner"].read("\n".join(lines), ToolJob("m", (1, 3, 224, 224), 1, 5, 2))
    assert (run.center_ms, run.min_ms, run.max_ms, run.runs, run.statistic) == (4.0, 3.0, 5.0, 5, "median")
    old = "Model executed successfully 10 time(s) in 42.0 ms."  # a runner without per-execution lines
    assert TOOLS["executor_runner"].read(old, JOB).center_ms == pytest.approx(4.2)


def test_output_without_figures_names_the_program_and_its_last_line() -> None:
    with pytest.raises(ValueError, match=r"benchncnn's output on m has no 'min = .*it ended: 'Segmentation fault'"):
        TOOLS["benchncnn"].read("loop_count = 4\nSegmentation fault\n", JOB)


def test_programs_are_chosen_by_suffix(tmp_path: Path) -> None:
    assert tool_for("a.xml").name == "benchmark_app"
    assert tool_for("a.ncnn.param").name == "benchncnn"
    assert tool_for("a.tflite").name == "litert-benchmark"
    assert tool_for("a.pte").name == "executor_runner"
    with pytest.raises(ValueError, match="a plain ONNX Runtime session"):
        tool_for("a.onnx")
    assert artifact_files("d/a.ncnn.param") == [Path("d/a.ncnn.param"), Path("d/a.ncnn.bin")]
    assert artifact_files("d/a-int8.xml") == [Path("d/a-int8.xml"), Path("d/a-int8.bin")]
    assert artifact_files("d/a.pte") == [Path("d/a.pte")]


def test_programs_get_the_job_as_their_flags() -> None:
    assert TOOLS["benchncnn"].args(JOB) == ["50", "2", "0", "-1", "0", "param=m", "shape=[224,224,3]"]
    assert "--num_executions=55" in TOOLS["executor_runner"].args(JOB)
    app = TOOLS["benchmark_app"].args(ToolJob("m.xml", (8, 3, 64, 64), 2, 50, 5))
    assert app[app.index("-shape") + 1] == "[8,3,64,64]" and app[app.index("-nthreads") + 1] == "2"


# --- on this machine -------------------------------------------------------------------------------------


def test_benchmark_app_times_two_files_in_rounds(ir: Path) -> None:
    results = benchmark_with_tool([("a", artifact_files(ir), (1, 3, 64, 64)), ("b", artifact_files(ir), (2, 3, 64, 64))],
                                  threads=1, runs=5, rounds=2, pause_s=0.0)  # fmt: skip
    assert [(r.model, r.runtime, r.batch, r.dtype, r.device) for r in results] == [
        ("a", "openvino (benchmark_app)", 1, "float32", "cpu"),
        ("b", "openvino (benchmark_app)", 2, "float32", "cpu"),
    ]
    for r in results:
        assert 0 < r.latency_ms_min <= r.latency_ms_median and r.iterations == 10
        assert r.machine["tool"] == "benchmark_app" and r.machine["statistic"] == "median" and r.machine["cpu"]


def test_a_missing_program_says_how_to_give_it(ir: Path, tmp_path: Path) -> None:
    job = [("a", [tmp_path / "m.ncnn.param"], (1, 3, 64, 64))]
    (tmp_path / "m.ncnn.param").write_text("7767517\n")
    with pytest.raises(FileNotFoundError, match=r"benchncnn not found on this machine .*--tool-path benchncnn=PATH"):
        benchmark_with_tool(job, pause_s=0.0)
    with pytest.raises(FileNotFoundError, match="is not an executable file"):
        benchmark_with_tool(job, tool_paths={"benchncnn": str(tmp_path / "nope")}, pause_s=0.0)


def test_a_failing_program_is_one_error_with_its_last_line(tmp_path: Path) -> None:
    crash = _script(tmp_path / "benchncnn", "import sys; print('loop_count = 4'); print('bad param'); sys.exit(3)\n")
    (tmp_path / "m.ncnn.param").write_text("7767517\n")
    with pytest.raises(ValueError, match=r"benchncnn failed on .*m.ncnn.param \(exit 3\): bad param"):
        benchmark_with_tool([("a", [tmp_path / "m.ncnn.param"], (1, 3, 8, 8))], tool_paths={"benchncnn": str(crash)},
                            pause_s=0.0)  # fmt: skip


def test_a_program_given_by_path_wins_over_one_found(ir: Path, tmp_path: Path) -> None:
    """litert-benchmark is installed here, yet --tool-path benchmark_model=... means that program."""
    mine = _script(tmp_path / "bm", "print('count=5 first=9 curr=9 min=1000 max=3000 avg=2000 std=1')\n")
    tflite = tmp_path / "m.tflite"
    tflite.write_bytes(b"")
    (r,) = benchmark_with_tool([("m", [tflite], (1, 3, 8, 8))], tool_paths={"benchmark_model": str(mine)}, rounds=1,
                               pause_s=0.0)  # fmt: skip
    assert r.runtime == "litert (benchmark_model)" and r.latency_ms_median == 2.0 and r.machine["statistic"] == "mean"


def test_a_hung_program_is_one_error(tmp_path: Path) -> None:
    hang = _script(tmp_path / "benchncnn", "import time; time.sleep(30)\n")
    (tmp_path / "m.ncnn.param").write_text("7767517\n")
    with pytest.raises(ValueError, match=r"benchncnn ran past 0.5 s .*is the device awake"):
        benchmark_with_tool([("a", [tmp_path / "m.ncnn.param"], (1, 3, 8, 8))], tool_paths={"benchncnn": str(hang)},
                            pause_s=0.0, timeout_s=0.5)  # fmt: skip


def test_single_image_files_refuse_a_batch(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"converted for one image .*times batch 1, not 8"):
        benchmark_with_tool([("a", [tmp_path / "m.tflite"], (8, 3, 64, 64))], pause_s=0.0)


def test_cli_times_a_file_with_its_program(ir: Path, capsys) -> None:
    assert main(["bench", str(ir), "--tool", "--threads", "1", "--tool-runs", "3", "--rounds", "1"]) == 0
    out = capsys.readouterr().out
    assert "openvino (benchmark_app)" in out and "float32" in out and "median" in out


@pytest.mark.slow
def test_litert_benchmark_times_a_tflite_file(tmp_path: Path) -> None:
    pytest.importorskip("litert_torch")
    from shufflenet.export import export_artifact

    path = tmp_path / "v2.tflite"
    export_artifact(create_model("shufflenet_v2_x0_5", num_classes=10), path, "litert", input_shape=(1, 3, 64, 64))
    (r,) = benchmark_with_tool([("v2", [path], (1, 3, 64, 64))], threads=1, runs=5, rounds=2, pause_s=0.0)
    assert r.runtime == "litert (litert-benchmark)" and r.iterations == 10 and r.machine["statistic"] == "median"
    assert 0 < r.latency_ms_min <= r.latency_ms_median


@pytest.mark.slow
def test_cli_races_ours_against_torchvision_with_the_program(tmp_path: Path, capsys) -> None:
    out = tmp_path / "r.json"
    argv = ["bench", "shufflenet_v2_x0_5", "torchvision:shufflenet_v2_x0_5", "--runtime", "openvino", "--tool",
            "--img-size", "64", "--threads", "1", "--tool-runs", "5", "--rounds", "2", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    table = capsys.readouterr().out
    assert "openvino (benchmark_app)" in table and "vs_torchvision" in table
    records = json.loads(out.read_text())
    assert [r["model"] for r in records] == ["shufflenet_v2_x0_5", "torchvision:shufflenet_v2_x0_5"]
    assert all(r["img_size"] == 64 and r["iterations"] == 10 for r in records)


# --- on an Android device, through adb ------------------------------------------------------------------

_FAKE_ADB = """\
import os, re, shutil, subprocess, sys
root = os.environ["FAKE_PHONE"]  # the folder standing for the phone's file system
props = {"ro.product.manufacturer": "Acme", "ro.product.model": "Phone 1", "ro.soc.model": "AC100",
         "ro.product.cpu.abi": "arm64-v8a", "ro.build.version.release": "15"}
args = sys.argv[1:]
if args == ["devices"]:
    print("List of devices attached")
    for serial in os.environ.get("FAKE_DEVICES", "").split():
        print(f"{serial}\\tdevice")
    sys.exit(0)
assert args[0] == "-s" and args[1] in os.environ["FAKE_DEVICES"].split(), args
verb, rest = args[2], args[3:]
if verb == "push":
    local, remote = rest
    os.makedirs(os.path.dirname(root + remote), exist_ok=True)
    shutil.copy(local, root + remote)
    print(f"{local}: 1 file pushed")
    sys.exit(0)
assert verb == "shell", args
command = " ".join(rest)
if command.startswith("getprop "):
    print(props.get(command.split()[1], ""))
    sys.exit(0)
if command.startswith("ls /sys/"):
    print("cpu0 cpu1 cpu2 cpu3 cpufreq possible")
    sys.exit(0)
sys.exit(subprocess.run(["bash", "-c", command.replace("/data/local/tmp", root + "/data/local/tmp")]).returncode)
"""


@pytest.fixture
def phone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in ``adb`` on PATH with one device, FAKE1, whose files live under the returned folder."""
    bin_dir, root = tmp_path / "bin", tmp_path / "phone"
    bin_dir.mkdir()
    root.mkdir()
    _script(bin_dir / "adb", _FAKE_ADB)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_PHONE", str(root))
    monkeypatch.setenv("FAKE_DEVICES", "FAKE1")
    return root


def test_adb_pushes_the_files_and_the_program_and_reads_the_phone(phone: Path, tmp_path: Path) -> None:
    # the stand-in benchncnn checks that it runs in the work folder with the pushed net, then prints its line
    fake = _script(tmp_path / "benchncnn", """\
        import os, sys
        param = sys.argv[6].removeprefix("param=")
        assert os.path.isfile(param) and os.path.isfile(param[: -len(".param")] + ".bin"), sys.argv
        assert os.getcwd().endswith("/data/local/tmp/shufflenet") and sys.argv[2] == "1", (os.getcwd(), sys.argv)
        print("loop_count = " + sys.argv[1])
        print(f"{'ours':>20}  min = {2.5:7.2f}  max = {3.5:7.2f}  avg = {3.0:7.2f}")
        """)  # fmt: skip
    net = tmp_path / "m.ncnn.param"
    net.write_text("7767517\n")
    net.with_suffix(".bin").write_bytes(b"\0" * 8)
    target = Adb()
    results = benchmark_with_tool([("ours", artifact_files(net), (1, 3, 32, 32))], target=target,
                                  tool_paths={"benchncnn": str(fake)}, runs=7, rounds=2, pause_s=0.0)  # fmt: skip
    (r,) = results
    assert (r.device, r.threads, r.latency_ms_median, r.latency_ms_min, r.iterations) == ("adb:FAKE1", 1, 3.0, 2.5, 14)
    assert r.machine["model"] == "Phone 1" and r.machine["soc"] == "AC100" and r.machine["cores"] == 4
    assert (phone / "data/local/tmp/shufflenet/0-m.ncnn.param").is_file()
    # the program stays on the phone: a second session finds it there without --tool-path
    again = benchmark_with_tool([("ours", artifact_files(net), (1, 3, 32, 32))], target=target, runs=3, rounds=1,
                                pause_s=0.0)  # fmt: skip
    assert again[0].iterations == 3


def test_adb_runs_benchmark_app_on_the_device(phone: Path, ir: Path) -> None:
    app = Host().program(TOOLS["benchmark_app"], None)[0]  # this machine stands for an ARM Linux board here
    results = benchmark_with_tool([("ours", artifact_files(ir), (1, 3, 64, 64))], target=Adb("FAKE1"),
                                  tool_paths={"benchmark_app": app}, threads=2, runs=5, rounds=1, pause_s=0.0)  # fmt: skip
    assert results[0].runtime == "openvino (benchmark_app)" and results[0].iterations == 5
    assert (phone / "data/local/tmp/shufflenet/0-v2.bin").is_file()


def test_adb_errors_say_what_to_do(phone: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match=r"no Android device 'X9' \(FAKE1 connected"):
        Adb("X9")
    monkeypatch.setenv("FAKE_DEVICES", "")
    with pytest.raises(ValueError, match="no Android device: connect one with USB debugging on"):
        Adb()
    monkeypatch.setenv("FAKE_DEVICES", "A B")
    with pytest.raises(ValueError, match=r"2 Android devices are connected \(A, B\): name one, --adb SERIAL"):
        Adb()
    net = tmp_path / "m.ncnn.param"
    net.write_text("7767517\n")
    with pytest.raises(FileNotFoundError, match=r"benchncnn is not on A .*give --tool-path benchncnn=PATH"):
        benchmark_with_tool([("a", [net], (1, 3, 8, 8))], target=Adb("A"), pause_s=0.0)
    tflite = tmp_path / "m.tflite"  # a phone runs the native benchmark_model, not the Python litert-benchmark
    tflite.write_bytes(b"")
    with pytest.raises(FileNotFoundError, match=r"benchmark_model is not on A "):
        benchmark_with_tool([("a", [tflite], (1, 3, 8, 8))], target=Adb("A"), pause_s=0.0)
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="adb not found: install Android's platform-tools"):
        Adb()


@pytest.mark.slow  # four blocks exported to OpenVINO and timed: ~10 s
def test_guideline_on_the_runtimes_program(phone: Path) -> None:
    """G4's blocks exported for OpenVINO and timed by benchmark_app, through adb (this machine standing for
    an ARM board): every variant measured, FLOPs from the analyser, the program in the result's runtime."""
    from shufflenet.bench.tools import run_guideline_with_tool

    app = Host().program(TOOLS["benchmark_app"], None)[0]
    result = run_guideline_with_tool("G4", "openvino", scales=[32], target=Adb(), tool_paths={"benchmark_app": app},
                                     threads=1, runs=3, rounds=1)  # fmt: skip
    assert result.runtime == "openvino (benchmark_app)" and result.device == "adb:FAKE1" and result.batch == 1
    labels = [v.label for v in result.experiment.variants]
    assert sorted(k[0] for k in result.images_per_s) == sorted(labels)
    assert all(result.images_per_s[(v, 32)] > 0 and result.flops[(v, 32)] > 0 for v in labels)
    assert result.verdict(labels[0], labels[1], 32) in ("holds", "tie", "reversed")
