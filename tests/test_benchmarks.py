"""The side-by-side benchmark scripts run end to end on tiny settings (their figures are not checked:
speed claims live in the scripts' runs, docs/results/)."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).parents[1] / "benchmarks"
TINY = ["--rounds", "1", "--seconds", "0.01", "--pause", "0"]
#: runtimes.py races two runtimes where OpenVINO is installed (make setup), ONNX Runtime alone where not
RACED = ["onnxruntime", "openvino"] if importlib.util.find_spec("openvino") else ["onnxruntime"]


@pytest.mark.slow  # each exports torchvision's V2 with the dynamo exporter: ~10-30 s
@pytest.mark.parametrize(
    ("script", "args", "row"),
    [
        ("deploy.py", ["--model", "shufflenet_v2_x0_5", "--batches", "2"], "| onnxruntime | 2 |"),
        ("layouts.py", ["--model", "shufflenet_v2_x0_5", "--batches", "1"], "| pieces, avx2 | off | 1 |"),
        (
            "teacher.py",
            ["--teacher", "shufflenet_v2_x0_5:fashion-mnist", "--batch", "4"],
            "| inference form (deploy) |",
        ),
        ("shuffle_cost.py", ["--model", "shufflenet_v2_x0_5", "--runtimes", "onnxruntime"], "| onnxruntime |"),
        (
            "runtimes.py",
            ["--models", "shufflenet_v2_x0_5", "--runtimes", *RACED, "--batches", "1", "--plot", "{tmp}/r.png"],
            "fastest for ours (shufflenet_v2_x0_5, batch 1): ",
        ),
    ],
)
def test_script_prints_its_table(script: str, args: list[str], row: str, tmp_path: Path) -> None:
    args = [a.format(tmp=tmp_path) for a in args]
    # CI=true: OpenVINO's converter sends no telemetry then (tests/conftest.py declines it in this process); offline,
    # its send waits for the network (runtimes.py: 22 s instead of 25 s here). These scripts compile nothing, the
    # one use torch makes of CI
    run = subprocess.run([sys.executable, str(BENCHMARKS / script), *args, *TINY], capture_output=True, text=True,
                         timeout=600, cwd=BENCHMARKS.parent, env={**os.environ, "CI": "true"})  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.startswith("# ") and "threads" in run.stdout.splitlines()[0]  # the host, first
    assert row in run.stdout
    for figure in (a for a in args if a.endswith(".png")):
        assert Path(figure).read_bytes().startswith(b"\x89PNG")


@pytest.mark.slow  # writes a folder and trains two epochs of it: ~10 s
def test_folder_data_times_both_paths(tmp_path: Path) -> None:
    argv = [sys.executable, str(BENCHMARKS / "folder_data.py"), "--images", "40", "--size", "32", "--rounds", "1"]
    run = subprocess.run(argv, capture_output=True, text=True, timeout=600, cwd=BENCHMARKS.parent)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.startswith("# ") and "threads" in run.stdout.splitlines()[0]  # the host, first
    for row in ("| decoding, training |", "| in memory, training |", "in memory vs decoding, training: "):
        assert row in run.stdout


@pytest.mark.slow  # converts and exports a V2 0.5x: ~10 s
def test_runtimes_compiles_both_sides_for_the_same_static_shape(tmp_path: Path, monkeypatch) -> None:
    """An app compiles its input shape; OpenVINO's converter leaves torchvision's IR at [?,3,?,?], and a
    dynamic compile ran it ~17% slower, which once inflated ours' lead (docs/results/deployment.md,
    fourteenth session). Both sides of the race must be compiled static."""
    pytest.importorskip("openvino")
    import torch
    import torchvision

    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import runtimes

    x = torch.randn(1, 3, 64, 64)
    model = torchvision.models.shufflenet_v2_x0_5().eval()
    for side in (runtimes.standard, runtimes.ours):
        run = side("openvino", model, x, tmp_path, 1)
        assert run.__self__.compiled.inputs[0].get_partial_shape().is_static, side.__name__
