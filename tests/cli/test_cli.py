import csv
import io
import json
import statistics
import subprocess
import sys
import warnings

import pytest

from shufflenet.cli.main import main


def test_models_lists_registry_with_paper_figures(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "shufflenet_v2_x*", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["model"] for r in rows] == [
        "shufflenet_v2_x0_5",
        "shufflenet_v2_x1_0",
        "shufflenet_v2_x1_5",
        "shufflenet_v2_x2_0",
    ]
    assert rows[1]["paper_flops"] == 146e6 and abs(rows[1]["flops"] - 146e6) < 0.02 * 146e6


def test_models_pretrained_lists_tags_with_their_sizes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "--pretrained", "shufflenet_v2_x0_5", "--format", "json"]) == 0
    rows = {r["tag"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["fashion-mnist-hires-wider"]["top1"] == 95.41 and rows["imagenet"]["params"] == 1_366_792
    assert rows["fashion-mnist-hires-wider"]["params"] < 1_000_000 < rows["imagenet"]["params"]  # 10 classes, wider
    assert main(["models", "--pretrained", "shufflenet_v2_x0_5"]) == 0
    assert "0.94M" in capsys.readouterr().out
    assert main(["models", "--pretrained", "zzz*"]) == 2
    assert "no pretrained weights for a model matching 'zzz*'" in capsys.readouterr().err


@pytest.mark.parametrize("fmt", ["table", "md", "csv"])
def test_models_formats(fmt: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "shufflenet_v1_g3*", "--format", fmt]) == 0
    out = capsys.readouterr().out
    assert "shufflenet_v1_g3_x1_0" in out
    if fmt == "csv":
        assert len(list(csv.DictReader(io.StringIO(out)))) == 5


def test_profile_json_and_csv(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "profile",
                "shufflenet_v2_x0_5",
                "--img-size",
                "28",
                "--in-chans",
                "1",
                "--small-input",
                "--format",
                "json",
            ]
        )
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert data["input_shape"] == [1, 1, 28, 28] and data["flops"] > 0 and "data_movement" in data["by_type"]
    assert main(["profile", "shufflenet_v1_g3_x0_5", "--format", "csv"]) == 0
    assert capsys.readouterr().out.startswith("module,op,type,output_shape,params,flops,mac")
    assert main(["profile", "shufflenet_v1_g3_x0_5", "--summary"]) == 0
    assert "total" in capsys.readouterr().out


def test_console_script_has_no_traceback() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "shufflenet.cli.main", "profile", "nope_model"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and proc.stderr.strip().startswith("error: unknown model")


def test_compare_side_by_side(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", "shufflenet_v2_x1_0", "mobilenet_v2_x1_0", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["model"] for r in rows] == ["shufflenet_v2_x1_0", "mobilenet_v2_x1_0"]
    assert rows[0]["flops"] < rows[1]["flops"]
    assert main(["compare", "shufflenet_v2_x1_0", "nope"]) == 2
    assert "unknown model 'nope'" in capsys.readouterr().err


def test_bench_json_records(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bench.csv"
    argv = ["bench", "shufflenet_v2_x0_5", "--batch", "1,2", "--img-size", "32", "--small-input",
            "--threads", "1", "--min-time", "0.05", "--format", "json", "--out", str(out), "--time-budget", "5m"]  # fmt: skip
    assert main(argv) == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["batch"] for r in records] == [1, 2]
    assert all(r["latency_ms_p10"] <= r["latency_ms_median"] <= r["latency_ms_p90"] for r in records)
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(rows) == 2 and rows[0]["model"] == "shufflenet_v2_x0_5"
    assert isinstance(records[0]["machine"]["cpu_flags"], str)  # every record names the host's vector flags


def test_bench_times_torchvision_beside_ours_with_the_ratio(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    from shufflenet.bench.timing import steady_ratios

    out = tmp_path / "r.json"
    argv = ["bench", "shufflenet_v2_x0_5", "torchvision:shufflenet_v2_x0_5", "--img-size", "32", "--threads", "1",
            "--min-time", "0.05", "--precision", "bfloat16", "--format", "md", "--out", str(out),
            "--plot", str(tmp_path / "s.png")]  # fmt: skip
    assert main(argv) == 0
    assert (tmp_path / "s.png").read_bytes().startswith(b"\x89PNG")
    printed = capsys.readouterr()
    assert "speed-up plot written" in printed.err  # ours' speed-up per runtime, not speed vs FLOPs
    rows = [line.split("|") for line in printed.out.splitlines() if "shufflenet_v2_x0_5" in line]
    ours, theirs = (next(r for r in rows if r[1].strip() == name) for name in ("shufflenet_v2_x0_5",
                                                                                "torchvision:shufflenet_v2_x0_5"))  # fmt: skip
    mine, tv = json.loads(out.read_text())
    assert len(mine["round_ms"]) == len(tv["round_ms"]) == 5  # the default rounds, raced together
    ratio = float(ours[-2].strip().rstrip("x"))  # the median of the per-round ratios, over the steady rounds
    steady = steady_ratios(tv["round_ms"], mine["round_ms"])  # a busy host's slow rounds are left out
    assert ratio == pytest.approx(statistics.median(steady), abs=0.006)
    assert theirs[-2].strip() == "-"
    assert main(["bench", "torchvision:no_such_net", "--img-size", "32"]) == 2
    assert "torchvision has no model of that name" in capsys.readouterr().err


def test_old_spellings_still_work_for_one_release(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    # --output for --out and a bare number of seconds for --time-budget: accepted, the second with a note
    out = tmp_path / "b.json"
    argv = ["bench", "shufflenet_v2_x0_5", "--img-size", "32", "--small-input", "--threads", "1",
            "--min-time", "0.02", "--output", str(out), "--time-budget", "30"]  # fmt: skip
    with pytest.warns(FutureWarning, match="--time-budget 30: give the unit"):
        assert main(argv) == 0
    assert json.loads(out.read_text())[0]["model"] == "shufflenet_v2_x0_5"
    with pytest.raises(SystemExit) as exit_info:  # not a duration: argparse's usage error, exit 2
        main([*argv[:-1], "soon"])
    assert exit_info.value.code == 2 and "expected a duration such as 90s or 5m" in capsys.readouterr().err


def test_a_note_while_parsing_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    # the old spelling is converted (and noted) before --help exits: the note must not show a source line
    def show(message, category, filename, lineno, file=None, line=None) -> None:  # what Python does unrecorded
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))

    with warnings.catch_warnings(), pytest.raises(SystemExit):
        warnings.simplefilter("always")
        warnings.showwarning = show
        main(["bench", "shufflenet_v2_x0_5", "--time-budget", "5", "--help"])
    note = "warning: --time-budget 5: give the unit (5s); a bare number goes in the next release\n"
    assert capsys.readouterr().err == note


def test_guidelines_json_and_plot(tmp_path, capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    import shufflenet.cli.measure as measure

    rounds, real = [], measure.run_guideline
    monkeypatch.setattr(measure, "run_guideline", lambda *a, **k: rounds.append(k["rounds"]) or real(*a, **k))
    argv = ["guidelines", "G4", "--threads", "1", "--min-time", "0.03", "--format", "json", "--out", str(tmp_path),
            "--rounds", "2"]  # fmt: skip
    assert main(argv) == 0
    assert rounds == [2]
    data = json.loads(capsys.readouterr().out)
    assert data[0]["experiment"] == "G4" and len(data[0]["rows"]) == 12  # 4 variants x 3 widths
    assert (tmp_path / "guideline_G4.png").stat().st_size > 1000
    assert main(["guidelines", "G9"]) == 2


def test_guidelines_on_a_gpu_print_the_papers_figure_beside_ours() -> None:
    """The GPU's table (`guidelines --device cuda`), rendered from measured rates faked as a GPU's: our batches/s
    and their ratio to the paper's GTX 1080Ti figure, in a column only a GPU run has."""
    from rich.console import Console

    from shufflenet.bench.guidelines import GuidelineResult, get_experiment
    from shufflenet.cli.measure import _render_guideline

    g1 = get_experiment("G1", "gpu")
    rates = {(v.label, 1): 8 * 740.0 for v in g1.variants}  # 740 batches/s of 8 images
    fake = GuidelineResult(
        g1, scales=[1], images_per_s=rates, batch=8, device="cuda:0", flops=dict.fromkeys(rates, 2e6)
    )
    console = Console(record=True, width=200)
    _render_guideline(console, "md", fake, titled_runtime=False)
    out = console.export_text()
    assert "[cuda:0, batch 8, the paper's GPU widths]" in out and "| here (b/s), vs paper |" in out
    assert "| 128:128 (1:1) | 1480 | 740, 0.50x | 2 / 5920 |" in out  # the paper's 1480 b/s, ours half of it
    fake.device = "cpu"
    console = Console(record=True, width=200)
    _render_guideline(console, "md", fake, titled_runtime=False)
    assert "vs paper" not in console.export_text()  # a CPU's rates are not the paper's GPU's to compare


@pytest.mark.slow  # two runtimes x 12 blocks, 13 s: CI's slow set
def test_guidelines_in_two_runtimes_side_by_side(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["guidelines", "G4", "--runtime", "eager,torch-fused", "--threads", "1", "--min-time", "0.03",
            "--format", "md", "--out", str(tmp_path)]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "G4: Element-wise operations are not negligible" in out and "(torch-fused)" in out
    summary = out[out.index("G4 in every runtime") :]
    assert "| paper's claim | eager | torch-fused |" in summary and summary.count("faster than") == 3
    assert {p.name for p in tmp_path.iterdir()} == {"guideline_G4_eager.png", "guideline_G4_torch-fused.png"}


def test_bench_breakdown_writes_chart(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    svg = tmp_path / "b.svg"  # the suffix says the format
    argv = ["bench", "--breakdown", "shufflenet_v2_x0_5", "--runtime", "eager", "--img-size", "32",
            "--small-input", "--threads", "1", "--plot", str(svg), "--format", "md"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "data_movement" in out and "| total |" in out
    assert svg.stat().st_size > 1000 and "<svg" in svg.read_text()


def test_bench_breakdown_needs_a_profiler(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    """A runtime whose profiler Python cannot read is refused before any work, and no chart is left."""
    argv = ["bench", "--breakdown", "shufflenet_v2_x0_5", "--runtime", "eager,ncnn", "--plot", str(tmp_path / "b.png")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "ncnn has none that Python can read" in err and "Traceback" not in err
    assert not list(tmp_path.iterdir())


def test_other_libraries_fork_warnings_are_not_shown(monkeypatch, recwarn) -> None:
    """JAX's warning at OpenVINO's telemetry fork is dropped; our own notes still reach the user."""
    import argparse
    import warnings

    import shufflenet.cli.main as cli_main

    def command(args: argparse.Namespace, console: object) -> int:
        warnings.warn_explicit("os.fork() was called. os.fork() is incompatible with multithreaded code, and JAX is "
                               "multithreaded", RuntimeWarning, "popen_fork.py", 66, module="multiprocessing.popen_fork")  # fmt: skip
        warnings.warn("--old: give --new", FutureWarning, stacklevel=1)
        return 0

    parser = argparse.ArgumentParser()
    parser.set_defaults(func=command)
    monkeypatch.setattr(cli_main, "build_parser", lambda: parser)
    assert cli_main.main([]) == 0
    shown = [str(w.message) for w in recwarn]
    assert shown == ["--old: give --new"], shown
