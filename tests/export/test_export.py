from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import randomise_bn

import shufflenet
from shufflenet.cli.main import main
from shufflenet.export import Predictor, export_onnx, fuse_conv_bn


def _lively(name: str, **kw) -> torch.nn.Module:
    """A model with non-trivial BN statistics and logits, so a wrong fold or export shows."""
    model = randomise_bn(shufflenet.create_model(name, num_classes=10, **kw))
    for m in model.modules():
        if isinstance(m, torch.nn.Linear):
            torch.nn.init.normal_(m.weight, 0, 0.5)
    return model.eval()


@pytest.mark.parametrize("name", ["shufflenet_v2_x0_5", "mobilenet_v2_x0_5", "squeezenet1_1", "resnet18"])
def test_fuse_conv_bn_keeps_outputs(name: str) -> None:
    model = _lively(name)
    keys = set(model.state_dict())
    fused = fuse_conv_bn(model)
    if name != "resnet18":  # torchvision's ResNet keeps conv and BN as attributes, not in a Sequential
        assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(fused(x), model(x), rtol=1e-4, atol=1e-4)
    assert set(model.state_dict()) == keys  # the original is untouched


@pytest.mark.parametrize(
    "name",
    ["shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5", "shufflenet_v2_x2_0", "shufflenet_v1_g1_x0_5",
     "shufflenet_v1_g3_x1_0", "shufflenet_v1_g8_x0_5", "shufflenet_v1_g4_x0_25", "shufflenet_v1_g2_x1_5"],
)  # fmt: skip
def test_export_and_verify(name: str, tmp_path: Path) -> None:
    model = _lively(name)
    result = export_onnx(model, tmp_path / "m.onnx", input_size=(1, 3, 64, 64))
    assert result.max_abs_diff <= 1e-4 and "BatchNormalization" not in result.nodes
    x = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        expected = model(x).numpy()
    assert np.abs(expected).max() > 0.1  # the comparison is not between near-zeros
    np.testing.assert_allclose(Predictor(tmp_path / "m.onnx", threads=1).predict(x), expected, atol=1e-4)


def test_failed_verification_leaves_no_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="differs from PyTorch"):
        export_onnx(_lively("shufflenet_v2_x0_5"), tmp_path / "m.onnx", input_size=(1, 3, 32, 32), atol=-1.0)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="opset must be >= 17"):
        export_onnx(_lively("shufflenet_v2_x0_5"), tmp_path / "m.onnx", opset=13)


def test_predictor_errors_and_torch_fallback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"this is not onnx")
    with pytest.raises(ValueError, match="is not a valid ONNX model"):
        Predictor(bad)
    with pytest.raises(FileNotFoundError):
        Predictor(tmp_path / "missing.onnx")
    model = _lively("shufflenet_v2_x0_5")
    export_onnx(model, tmp_path / "m.onnx", input_size=(1, 3, 32, 32))
    with pytest.raises(ValueError, match=r"does not match the model's input Nx3x32x32"):
        Predictor(tmp_path / "m.onnx").predict(np.zeros((1, 1, 32, 32), np.float32))
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        np.testing.assert_allclose(Predictor(model).predict(x), model(x).numpy(), atol=1e-4)


def test_export_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "v2.onnx"
    assert main(["export", "shufflenet_v2_x0_5", "--input-size", "32", "--small-input", "-o", str(out)]) == 0
    assert out.is_file() and "max |diff|" in capsys.readouterr().out
    assert main(["export", "nope_model"]) == 2
