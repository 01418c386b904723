"""LiteRT export (litert_torch): verified against PyTorch, cfg beside it, opened by Predictor and bench."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import shufflenet
from shufflenet.export import Predictor

pytest.importorskip("litert_torch", reason="LiteRT is not installed (pip install 'shufflenet[litert]')")

from shufflenet.export.litert import export_litert  # noqa: E402  (after the skip)


@pytest.mark.slow  # a conversion takes ~15 s even for V2 0.5x at 28x28: CI's slow set
def test_export_verify_load_and_bad_files(tmp_path: Path) -> None:
    model = shufflenet.create_model("shufflenet_v2_x0_5", pretrained="fashion-mnist")
    tflite = tmp_path / "w.tflite"
    images = np.random.default_rng(0).standard_normal((4, 1, 28, 28)).astype(np.float32)
    result = export_litert(model, tflite, input_shape=(1, 1, 28, 28), images=images)
    assert result.max_abs_diff <= 1e-3 and result.top1_agreement == 1.0
    assert "DELEGATE" in result.nodes  # XNNPACK runs it
    assert json.loads((tmp_path / "w.json").read_text()) == model.pretrained_cfg
    predictor = shufflenet.load(tflite)
    assert predictor.runtime == "litert" and predictor.pretrained_cfg == model.pretrained_cfg
    assert predictor.input_shape == (None, 1, 28, 28)
    x = torch.from_numpy(images)
    with torch.no_grad():
        np.testing.assert_allclose(predictor(x).numpy(), model(x).numpy(), atol=1e-3)
    with pytest.raises(ValueError, match=r"does not match the model's input Nx1x28x28"):
        predictor(torch.zeros(1, 1, 32, 32))
    from shufflenet.bench.engine import benchmark_artifact

    (record,) = benchmark_artifact(tflite, min_time_s=0.01, max_time_s=0.1)  # the file's own shape, not 224
    assert (record.runtime, record.img_size, record.in_chans) == ("litert", 28, 1)
    tflite.write_bytes(tflite.read_bytes()[:5000])
    with pytest.raises(ValueError, match=r"w.tflite is not a loadable LiteRT model .*is it truncated"):
        Predictor(tflite)
    onnx_in_disguise = tmp_path / "o.tflite"
    shufflenet.export_onnx(model, tmp_path / "o.onnx", input_shape=(1, 1, 28, 28))
    onnx_in_disguise.write_bytes((tmp_path / "o.onnx").read_bytes())
    with pytest.raises(ValueError, match=r"o.tflite is not a loadable LiteRT model"):
        Predictor(onnx_in_disguise)
    with pytest.raises(ValueError, match="a LiteRT model is MODEL.tflite"):
        export_litert(model, tmp_path / "w.tfl", input_shape=(1, 1, 28, 28))


@pytest.mark.slow
def test_cli_export_eval_and_predict(tmp_path: Path, fake_fmnist: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from shufflenet.cli.main import main

    tflite = tmp_path / "w.tflite"
    argv = ["export", "shufflenet_v2_x0_5:fashion-mnist", "--format", "litert", "-o", str(tflite),
            "--data-dir", str(fake_fmnist), "--calib-images", "32"]  # fmt: skip
    assert main(argv) == 0
    assert "LiteRT vs PyTorch max |diff|" in capsys.readouterr().out
    for ref, runtime in ((str(tflite), []), (str(tflite), ["--runtime", "litert"]),
                         ("shufflenet_v2_x0_5:fashion-mnist", ["--runtime", "litert"])):  # fmt: skip
        assert main(["eval", ref, *runtime, "--data-dir", str(fake_fmnist), "--format", "json"]) == 0
        assert '"runtime": "litert"' in capsys.readouterr().out
    assert main(["eval", str(tflite), "--runtime", "torch-fused", "--data-dir", str(fake_fmnist)]) == 2
    assert "w.tflite is an exported litert file and runs in litert only, not torch-fused" in capsys.readouterr().err
