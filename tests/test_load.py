"""``shufflenet.load``: one loader for every kind of reference."""

from pathlib import Path

import pytest
import torch

import shufflenet
from shufflenet.cli.main import main
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
    with pytest.raises(ValueError, match="is an exported artifact, not trained weights"):
        load_trained(str(onnx))
    with pytest.raises(FileNotFoundError, match="checkpoint 'missing.pt' not found"):
        shufflenet.load("missing.pt")
    with pytest.raises(ValueError, match="unknown model 'shufflenet_v9'"):
        shufflenet.load("shufflenet_v9")
    with pytest.warns(FutureWarning, match="load_for_prediction is now load_trained"):
        assert isinstance(load_for_prediction("shufflenet_v2_x0_5:fashion-mnist"), torch.nn.Module)


def test_load_refuses_a_directory(tmp_path: Path, monkeypatch, capsys) -> None:
    with pytest.raises(IsADirectoryError, match="is a directory; give a checkpoint"):
        shufflenet.load(tmp_path)
    run = tmp_path / "run"  # a run's folder names its checkpoints, in every command that reads one
    run.mkdir()
    (run / "last.pt").write_bytes(b"")
    for argv in (["eval", str(run)], ["bench", str(run)], ["export", str(run)], ["train", "--resume", str(run)],
                 ["detect", "eval", str(run)]):  # fmt: skip
        assert main(argv) == 2
        assert f"is a run's directory; give a checkpoint in it: {run / 'last.pt'} (--resume" in capsys.readouterr().err
    monkeypatch.chdir(tmp_path)  # a folder that shares a model's name does not hide the model
    (tmp_path / "shufflenet_v2_x0_5").mkdir()
    assert isinstance(shufflenet.load("shufflenet_v2_x0_5"), torch.nn.Module)


def test_export_of_a_checkpoint_takes_another_side_and_says_so(tmp_path: Path, capsys) -> None:
    """A trained network is fully convolutional: --img-size exports it at that side, and the file's
    metadata says the side it now expects (its channels are fixed: --in-chans is an error)."""
    from helpers import fake_checkpoint
    from shufflenet.cli.main import main

    ckpt = fake_checkpoint(tmp_path / "m.pt", ["a", "b"], in_chans=1, size=28)
    assert main(["export", str(ckpt), "--img-size", "64", "-o", str(tmp_path / "m.onnx")]) == 0
    predictor = shufflenet.Predictor(tmp_path / "m.onnx")
    assert predictor.pretrained_cfg["input_size"] == [1, 64, 64]
    assert predictor(torch.zeros(2, 1, 64, 64)).shape == (2, 2)
