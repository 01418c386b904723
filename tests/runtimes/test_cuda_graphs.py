"""CUDA-graph inference: the capture cache and its buffers (on the CPU, where the module runs directly, and on a
GPU when there is one), the precisions, and the errors for a machine without a GPU."""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable

import numpy as np
import pytest
import torch

import shufflenet
from helpers import lively_model, load_benchmark
from shufflenet.bench import get_runtime
from shufflenet.runtimes.cuda_graphs import GraphedModule, inference_form

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)]


@pytest.mark.parametrize("device", DEVICES)
def test_each_shape_is_captured_once_and_replayed_on_new_inputs(device: str) -> None:
    model = lively_model("shufflenet_v2_x0_5")
    graphed = GraphedModule(inference_form(model, device), max_shapes=2)
    assert graphed.captured == (device == "cuda")
    xs = [torch.randn(2, 3, 64, 64) for _ in range(3)]
    outs = [graphed(x) for x in xs]  # one capture, then two replays on new data
    with torch.no_grad():
        for x, out in zip(xs, outs):  # each result is its own input's, not the last replay's buffer
            torch.testing.assert_close(out.cpu(), model(x), atol=1e-4, rtol=1e-4)
    graphed(torch.randn(3, 3, 64, 64))
    graphed(torch.randn(2, 3, 64, 64))  # used again: now the most recent
    graphed(torch.randn(1, 3, 64, 64))  # a third shape evicts the least recently used (batch 3)
    assert graphed.shapes == [(2, 3, 64, 64), (1, 3, 64, 64)]


@pytest.mark.parametrize(("precision", "atol"), [("float16", 5e-2), ("bfloat16", 2e-1)])
def test_half_precisions_stay_within_their_tolerance(precision: str, atol: float) -> None:
    model = lively_model("shufflenet_v2_x0_5")
    x = torch.randn(2, 3, 64, 64)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    form = inference_form(model, device, precision)
    assert next(form.parameters()).dtype == getattr(torch, precision)
    assert next(model.parameters()).dtype == torch.float32  # the caller's model is left as it was
    with torch.no_grad():
        torch.testing.assert_close(GraphedModule(form)(x).float().cpu(), model(x), atol=atol, rtol=0.05)


def test_predictor_on_a_device_and_its_errors() -> None:
    model = lively_model("shufflenet_v2_x0_5")
    x = np.random.default_rng(0).standard_normal((2, 3, 64, 64)).astype(np.float32)
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    bf16 = shufflenet.Predictor(model, precision="bfloat16")
    assert bf16.runtime == "torch-fused" and bf16.predict(x).dtype == np.float32
    np.testing.assert_allclose(bf16.predict(x), want, atol=0.2)
    with pytest.raises(ValueError, match="unknown precision 'int4'"):
        shufflenet.Predictor(model, precision="int4")
    if torch.cuda.is_available():
        on_gpu = shufflenet.Predictor(model, device="cuda")
        assert on_gpu.runtime == "cudagraph"
        np.testing.assert_allclose(on_gpu.predict(x), want, atol=1e-3)
    else:
        with pytest.raises(ValueError, match="sees no GPU on this machine; use device 'cpu'"):
            shufflenet.Predictor(model, device="cuda")


def test_cudagraph_runtime_needs_a_gpu() -> None:
    from shufflenet.bench import benchmark

    assert get_runtime("cudagraph").cuda_only
    with pytest.raises(ValueError, match="the cudagraph runtime needs a GPU; use --device cuda"):
        benchmark("shufflenet_v2_x0_5", runtime="cudagraph", img_size=32, small_input=True, min_time_s=0.01)


@pytest.mark.slow  # 45 s on a 2-core AVX2 host (a training subprocess and ~20 models); CI runs it
def test_the_prepared_gpu_script_runs(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    """benchmarks/gpu.py is run whenever a GPU is lent: its plumbing is checked here on tiny CPU sizes."""
    script = load_benchmark("gpu")
    out = tmp_path / "gpu.md"
    assert script.main(["--device", "cpu", "--smoke", "--out", str(out)]) == 0
    table = out.read_text()
    assert table.count("| ours cudagraph |") == 6 and "batch 1 float16:" in table
    rounding = re.search(r"- float16 logits: ours captured within \S+ of float32, .* ([\d.]+)x its rounding", table)
    assert rounding and 0.1 < float(rounding[1]) <= 2  # BN folded rounds differently, not by more than half precision
    assert "| 32 | off |" in table and table.count("| G4 |") == 4  # the training step and the guidelines ran too
    if not torch.cuda.is_available():  # a step that fails is a row saying why; the other steps' rows stay
        assert "| 32 | cuda-graph | ValueError: --cuda-graph captures the training step in CUDA graphs" in table
    assert table.count("| 40M |") == 4 and "1.58x the speed of MobileNet V2; here at 40M" in table  # Figure 1's
    assert (tmp_path / "gpu_speed_vs_flops.png").stat().st_size > 0
    assert "`shufflenet train --recipe fashion-mnist-gpu --data-dir DIR`:" in table  # the one-command recipe ran
    assert "; never >= 95%" in table  # 3 seconds on 256 images: the line says so rather than "epoch None"
    assert "second device call (the recipe missed and no step fits its epochs: the eager alternative):" in table
    if not torch.cuda.is_available():
        assert script.main(["--out", str(tmp_path / "no.md")]) == 2
        assert "sees no GPU here" in capsys.readouterr().out and not (tmp_path / "no.md").exists()


def test_the_gpu_script_keeps_the_other_contenders_when_a_capture_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """A capture that fails on the lent GPU (an older torch there, say) is a row saying why: torchvision's and our
    eager rows are still timed, and their logits are compared with ours in float32 (the same weights); a precision
    that cannot be built costs its own rows only."""
    script = load_benchmark("gpu")

    def broken(module: torch.nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
        def run(x: torch.Tensor) -> torch.Tensor:
            raise RuntimeError("operation not permitted when stream is capturing\nsecond line")

        return run

    monkeypatch.setattr(script, "GraphedModule", broken)
    args = argparse.Namespace(model="shufflenet_v2_x0_5", smoke=True, block_s=0.01)
    lines = script.inference_table(args, torch.device("cpu"))
    failed = [line for line in lines if "| ours cudagraph | RuntimeError: operation not permitted" in line]
    assert len(failed) == 6 and not any("second line" in line for line in lines)  # 3 precisions x 2 batches
    rows = [[c.strip() for c in line.split("|")[1:-1]] for line in lines if line.startswith("| ")]
    timed = {tuple(row[:3]): row[-1] for row in rows if "eager" in row[2]}
    assert {contender for _, _, contender in timed} == {"torchvision eager", "ours eager (fuse)"} and len(timed) == 12
    for (precision, _, _), diff in timed.items():  # float32: the same weights; half precisions: their rounding
        assert float(diff) < (1e-4 if precision == "float32" else 0.1)
    # no captured figure, no verdict on it
    assert not any("batch 1 float16:" in line or "logits: ours captured" in line for line in lines)
    assert not any("not the same network" in line for line in lines)

    real = script.inference_form
    monkeypatch.setattr(script, "inference_form", lambda m, d, p: real(m, d, p) if p != "bfloat16" else 1 / 0)
    lines = script.inference_table(args, torch.device("cpu"))
    assert "| bfloat16 | | all | ZeroDivisionError: division by zero | | | |" in lines

    # float32 logits that are not the reference's are called out (the script once stopped on them; now it says so)
    monkeypatch.setattr(script, "GraphedModule", lambda module: lambda x: module(x) + 1)
    lines = script.inference_table(args, torch.device("cpu"))
    wrong = [line for line in lines if "not the same network" in line]
    assert len(wrong) == 2 and all("ours cudagraph's logits differ from ours in eager by 1.0e+00" in w for w in wrong)
    assert sum("| float16 |" in line for line in lines) == 6  # the other precisions' rows stay


def test_the_gpu_script_judges_the_captured_and_compiled_training_steps() -> None:
    """Its verdicts: speed-up over eager here and over the issue's figure, and the epochs batch 256 fits in the
    recipe's 95 s once the capture or compilation (epoch 1's time beyond epoch 2's pace) is paid."""
    runs = {(256, "off"): (10_000.0, 7.0, 59_904), (256, "reduce-overhead"): (30_000.0, 32.9968, 59_904),
            (256, "cuda-graph"): (40_000.0, 3.4976, 59_904),
            (1024, "reduce-overhead"): (90_000.0, 30.0, 59_392)}  # fmt: skip
    compiled, captured = load_benchmark("gpu").training_verdicts(runs)  # 1024 has no eager run beside it: no verdict
    assert compiled.startswith("- batch 256, step reduce-overhead: 3.00x eager here, 3.06x the issue's eager 9,800")
    assert "compilation ~31 s; 32 epochs would fit in the recipe's 95 s (46 reached 95.0% on a CPU)" in compiled
    assert captured.startswith("- batch 256, step cuda-graph: 4.00x eager here, 4.08x the issue's eager 9,800")
    assert "capture ~2 s; 62 epochs would fit" in captured


def test_the_gpu_script_chooses_the_second_device_call_from_its_figures() -> None:
    """The lease runs while its first call's figures are read: the script prints the second call's command itself,
    the recipe again with the step that fits the most epochs where it missed, else the attempt at 95.5%."""
    script = load_benchmark("gpu")
    eager, n = (10_000.0, 7.0, 59_904), 59_904
    fast_capture, slow_capture = (40_000.0, 3.4976, n), (20_000.0, 4.0, n)  # 62 and ~31 epochs in the 95 s
    compiled = (35_000.0, 20.0, n)  # ~43 epochs once its ~18 s compilation is paid

    def call(met: bool | None, **steps: tuple[float, float, int]) -> str:
        runs = {(256, mode.replace("_", "-")): run for mode, run in steps.items()}
        return "\n".join(script.second_call(script.Found(recipe_met=met, steps=runs)))

    assert "none chosen" in call(None, off=eager) and "$OUT" not in call(None, off=eager)
    met = call(True, off=eager, cuda_graph=slow_capture)
    assert "--recipe fashion-mnist-gpu-wide --data-dir data/fashion-mnist --out $OUT/wide" in met
    assert "--recipe fashion-mnist-gpu --batch-size 1024 --ema 0.992 --no-cuda-graph --data-dir" in call(
        False, off=eager, cuda_graph=slow_capture, reduce_overhead=compiled
    )  # neither fits the 46 epochs
    assert "--no-cuda-graph" in call(False, off=eager)  # the capture failed and nothing was compiled
    faster = call(False, off=eager, cuda_graph=slow_capture, reduce_overhead=(60_000.0, 20.0, n))  # ~76 epochs
    assert (
        "step reduce-overhead fits the most epochs" in faster
        and "fashion-mnist-gpu --compile reduce-overhead" in faster
    )
    own = call(False, off=eager, cuda_graph=fast_capture, reduce_overhead=compiled)
    assert "its own captured step fits the most epochs: read its log" in own and "$OUT/wide" in own
