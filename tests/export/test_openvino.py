"""OpenVINO IR export: verified against PyTorch, self-describing, opened by the one Predictor, timed by bench."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import shufflenet
from helpers import lively_model
from shufflenet.cli.main import main
from shufflenet.export import Predictor

pytest.importorskip("openvino", reason="OpenVINO is not installed (pip install 'shufflenet[openvino]')")

from shufflenet.export.openvino import export_openvino  # noqa: E402  (after the skip)

_lively = lively_model


def test_the_ir_carries_its_cfg_and_real_images_are_checked(tmp_path: Path) -> None:
    model = shufflenet.create_model("shufflenet_v2_x0_5", pretrained="fashion-mnist")
    images = np.random.default_rng(0).standard_normal((16, 1, 28, 28)).astype(np.float32)
    result = export_openvino(model, tmp_path / "w.xml", input_shape=(1, 1, 28, 28), images=images)
    assert result.top1_agreement == 1.0
    assert result.writer == "shuffle-free V2 (via ONNX)" and "Concat" in result.nodes
    predictor = shufflenet.load(tmp_path / "w.xml")
    assert isinstance(predictor, Predictor) and predictor.runtime == "openvino"
    assert predictor.pretrained_cfg == model.pretrained_cfg and predictor.input_shape == (None, 1, 28, 28)


def test_failed_verification_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="OpenVINO differs from PyTorch"):
        export_openvino(_lively("shufflenet_v2_x0_5"), tmp_path / "m.xml", input_shape=(1, 3, 32, 32), atol=-1.0)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="an OpenVINO IR is MODEL.xml"):
        export_openvino(_lively("shufflenet_v2_x0_5"), tmp_path / "m.ir", input_shape=(1, 3, 32, 32))


def test_a_named_layout_or_another_model_goes_through_our_onnx_graph(tmp_path: Path) -> None:
    paired = export_openvino(_lively("shufflenet_v2_x0_5"), tmp_path / "p.xml", input_shape=(1, 3, 32, 32),
                             layout="paired")  # fmt: skip
    se = export_openvino(_lively("shufflenet_v2_x0_5", se=True), tmp_path / "s.xml", input_shape=(1, 3, 32, 32))
    assert paired.writer == se.writer == "shuffle-aware (via ONNX)"


def test_bad_artifacts_are_one_line_errors(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    export_openvino(_lively("shufflenet_v2_x0_5"), tmp_path / "m.xml", input_shape=(1, 3, 32, 32))
    with pytest.raises(ValueError, match=r"does not match the model's input Nx3x32x32"):
        Predictor(tmp_path / "m.xml")(torch.zeros(1, 1, 32, 32))
    (tmp_path / "m.bin").write_bytes((tmp_path / "m.bin").read_bytes()[:1000])
    with pytest.raises(ValueError, match=r"m.xml is not a valid OpenVINO IR .*is its .bin truncated"):
        Predictor(tmp_path / "m.xml")
    (tmp_path / "m.bin").unlink()
    with pytest.raises(FileNotFoundError, match=r"weights .*m.bin are missing"):
        Predictor(tmp_path / "m.xml")
    (tmp_path / "x.xml").write_text("<html>not an IR</html>")
    (tmp_path / "x.bin").write_bytes(b"")
    capfd.readouterr()
    with pytest.raises(ValueError, match=r"x.xml is not a valid OpenVINO IR \(Unable to read the model"):
        Predictor(tmp_path / "x.xml")
    (tmp_path / "x.xml").write_bytes(bytes(range(256)))
    with pytest.raises(ValueError, match=r"x.xml is not an OpenVINO IR \(not an XML file\)"):
        Predictor(tmp_path / "x.xml")
    assert capfd.readouterr().err == ""  # one-line errors: no frontend's complaints before them
    with pytest.raises(ValueError, match="not an artifact shufflenet runs"):
        Predictor(tmp_path / "m.mlmodel")


def test_cli_export_eval_and_bench(tmp_path: Path, fake_fmnist: Path, capsys: pytest.CaptureFixture[str]) -> None:
    xml = tmp_path / "w.xml"
    argv = ["export", "shufflenet_v2_x0_5:fashion-mnist", "--format", "openvino", "-o", str(xml),
            "--data-dir", str(fake_fmnist), "--calib-images", "32"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "OpenVINO vs PyTorch max |diff|" in out and "same top-1 on 100.0% of 32 real images" in out
    assert main(["eval", str(xml), "--data-dir", str(fake_fmnist), "--format", "json"]) == 0
    assert '"runtime": "openvino"' in capsys.readouterr().out
    assert main(["bench", str(xml), "--batch", "1,2", "--min-time", "0.02", "--format", "json"]) == 0
    assert [(r["runtime"], r["batch"]) for r in __import__("json").loads(capsys.readouterr().out)] == [
        ("openvino", 1),
        ("openvino", 2),
    ]
    argv = ["bench", "shufflenet_v2_x0_5", "--runtime", "openvino,openvino-shufflenet", "--img-size", "32",
            "--min-time", "0.05", "--threads", "1", "--format", "json"]  # fmt: skip
    assert main(argv) == 0
    assert [r["runtime"] for r in __import__("json").loads(capsys.readouterr().out)] == [
        "openvino",
        "openvino-shufflenet",
    ]


def test_bench_runtimes_compute_the_model() -> None:
    from shufflenet.bench import get_runtime

    model = _lively("shufflenet_v2_x0_5")
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        want = model(x)
    for name in ("openvino", "openvino-shufflenet"):
        got = get_runtime(name).prepare(model, x, 1)(x)
        torch.testing.assert_close(got, want, atol=1e-3, rtol=1e-3)


def test_int8_ir_is_smaller_and_agrees(tmp_path: Path) -> None:
    """int8 through the quantised ONNX graph: OpenVINO runs its quantize-dequantize pairs as int8."""
    model = shufflenet.create_model("shufflenet_v2_x0_5", pretrained="fashion-mnist")
    rng = np.random.default_rng(0)
    calibration = [rng.standard_normal((16, 1, 28, 28)).astype(np.float32) for _ in range(2)]
    result = export_openvino(model, tmp_path / "q.xml", input_shape=(1, 1, 28, 28), calibration=calibration)
    export_openvino(model, tmp_path / "f.xml", input_shape=(1, 1, 28, 28))
    assert result.nodes["FakeQuantize"] > 50 and result.top1_agreement is not None and result.top1_agreement >= 0.8
    assert result.writer == "shuffle-free V2, int8 (via ONNX)"
    paired = export_openvino(model, tmp_path / "p.xml", input_shape=(1, 1, 28, 28), calibration=calibration,
                             layout="paired")  # fmt: skip
    assert paired.writer.startswith("shuffle-aware") and paired.nodes["FakeQuantize"] > 50
    assert (tmp_path / "q.bin").stat().st_size < 0.6 * (tmp_path / "f.bin").stat().st_size
    assert Predictor(tmp_path / "q.xml")(torch.from_numpy(calibration[0])).shape == (16, 10)
