"""``shufflenet.load``: one loader for every kind of reference."""

from pathlib import Path

import pytest
import torch

import shufflenet
from shufflenet.predict import load_for_prediction, load_trained


def test_load_takes_every_reference(tmp_path: Path) -> None:
    shipped = shufflenet.load("shufflenet_v2_x0_5:fashion-mnist")  # weights shipped in the package
    assert isinstance(shipped, torch.nn.Module) and not shipped.training
    assert shipped.pretrained_cfg["input_size"] == [1, 28, 28] and len(shipped.pretrained_cfg["class_names"]) == 10
    fresh = shufflenet.load("shufflenet_v2_x0_5", num_classes=7)  # a registered name: fresh weights
    assert isinstance(fresh, torch.nn.Module) and fresh.num_classes == 7
    onnx = shufflenet.export_onnx(shipped, tmp_path / "m.onnx", input_shape=(1, 1, 28, 28)).path
    predictor = shufflenet.load(onnx)  # an exported artifact: a Predictor, with the model's cfg from the file
    assert isinstance(predictor, shufflenet.Predictor) and predictor.pretrained_cfg == shipped.pretrained_cfg
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(predictor(x), shipped(x), atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError, match="is an exported ONNX file, not trained weights"):
        load_trained(str(onnx))
    with pytest.raises(FileNotFoundError, match="checkpoint 'missing.pt' not found"):
        shufflenet.load("missing.pt")
    with pytest.raises(ValueError, match="unknown model 'shufflenet_v9'"):
        shufflenet.load("shufflenet_v9")
    with pytest.warns(FutureWarning, match="load_for_prediction is now load_trained"):
        assert isinstance(load_for_prediction("shufflenet_v2_x0_5:fashion-mnist"), torch.nn.Module)
