"""``shufflenet.predict.describe`` / ``shufflenet info``: what any reference holds, read from its metadata."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import shufflenet
from shufflenet.cli.main import main
from shufflenet.export import FORMATS, export_artifact
from shufflenet.export.formats import artifact_precision
from shufflenet.models._pretrained import PRETRAINED_DIR
from shufflenet.predict import describe
from shufflenet.train.checkpoint import DETECTOR_FORMAT, save_checkpoint

CLASSES = ["a", "b", "c"]


def test_a_checkpoint_says_its_network_scores_and_recipe(tmp_path: Path) -> None:
    history = [{"epoch": 1, "test_top1": 0.4}, {"epoch": 2, "test_top1": 0.7}, {"epoch": 3, "test_top1": 0.6}]
    state = {"config": {"dataset": "imagefolder", "epochs": 3, "lr": 0.5, "img_size": None}, "epoch": 3,
             "arch": {"model": "shufflenet_v2_x0_5", "options": {"se": True}, "num_classes": 3, "in_chans": 3,
                      "small_input": False}, "history": history, "ema": None,
             "data": {"input_size": [3, 64, 64], "mean": [0.5] * 3, "std": [0.25] * 3, "class_names": CLASSES}}  # fmt: skip
    info = describe(save_checkpoint(state, tmp_path / "c.pt"))
    assert info["kind"] == "a classifier's training checkpoint" and info["options"] == {"se": True}
    assert (info["best test_top1 %"], info["last test_top1 %"], info["epochs"]) == (70.0, 60.0, 3)
    assert info["classes"] == 3 and info["class names"] == "a, b, c" and info["input size"] == [3, 64, 64]
    assert info["recipe"] == {"dataset": "imagefolder", "epochs": 3, "lr": 0.5}  # unset fields left out
    report = shufflenet.analyze(shufflenet.create_model("shufflenet_v2_x0_5", num_classes=3, se=True), (1, 3, 64, 64))
    assert (info["params"], info["FLOPs"]) == (report.params, report.flops)  # counted at the trained input size
    detector = {"config": {"backbone": "shufflenet_v2_x1_0", "backbone_options": {}, "kind": "fcos", "mean": [0.4] * 3,
                           "std": [0.2] * 3}, "epoch": 1, "history": [{"epoch": 1, "val_map_50": 0.3}], "classes": CLASSES}  # fmt: skip
    info = describe(save_checkpoint(detector, tmp_path / "d.pt", DETECTOR_FORMAT))
    assert info["kind"] == "a detector's checkpoint" and info["backbone"] == "shufflenet_v2_x1_0"
    assert info["best val_map_50"] == 0.3 and info["recipe"] == {"kind": "fcos"} and info["classes"] == 3
    torch.save({"model": {}}, tmp_path / "bare.pt")
    with pytest.raises(ValueError, match="bare.pt is not a shufflenet checkpoint"):
        describe(tmp_path / "bare.pt")


def test_names_and_tags_describe_the_network_and_where_its_weights_come_from() -> None:
    fresh = describe("shufflenet_v1_g3_x1_0")
    assert fresh["kind"] == "registered architecture (fresh weights)" and fresh["paper top-1 %"] == 67.4
    assert abs(fresh["FLOPs at 224"] / fresh["paper FLOPs"] - 1) < 0.02
    shipped = describe("shufflenet_v2_x0_5:fashion-mnist-hires-wide")
    assert shipped["top1 %"] == 95.06 and shipped["options"]["stage_widths"] == [64, 128, 256, 1024]
    assert shipped["command"].startswith("torchrun") and shipped["input size"] == [1, 28, 28]
    report = shufflenet.analyze(shufflenet.load("shufflenet_v2_x0_5:fashion-mnist-hires-wide"), (1, 1, 28, 28))
    assert (shipped["params"], shipped["FLOPs"]) == (report.params, report.flops) and report.params < 600_000
    weights = describe(PRETRAINED_DIR / "shufflenet_v2_x1_5.fashion-mnist.safetensors")  # a file, its record beside it
    assert weights["kind"] == "trained weights (safetensors)" and weights["test top-1 %"] == 94.67
    assert weights["epochs"] == 21 and "--model shufflenet_v2_x1_5" in weights["command"]
    assert 2.4e6 < weights["params"] < 2.6e6  # the shipped 1.5x Fashion-MNIST network: 2.49M
    imagenet = describe("shufflenet_v2_x1_0:imagenet")  # torchvision's: no download needed to describe it
    assert imagenet["dataset"] == "imagenet" and "command" not in imagenet
    assert (imagenet["params"], imagenet["classes"], imagenet["input size"]) == (2_278_604, 1000, [3, 224, 224])
    assert abs(imagenet["FLOPs"] / 146e6 - 1) < 0.02  # the V2 paper's 146M multiply-adds
    with pytest.raises(ValueError, match="no pretrained weights"):
        describe("shufflenet_v2_x1_0:nope")


@pytest.mark.parametrize("fmt", ["onnx", "openvino", "ncnn"])
def test_an_artifact_says_its_runtime_files_and_precision(fmt: str, tmp_path: Path) -> None:
    if fmt != "onnx" and importlib.util.find_spec({"openvino": "openvino", "ncnn": "pnnx"}[fmt]) is None:
        pytest.skip(f"{fmt} is not installed (pip install 'shufflenet[{fmt}]')")
    model = shufflenet.create_model("shufflenet_v2_x0_5", pretrained="fashion-mnist")
    calibration = [np.random.default_rng(0).standard_normal((8, 1, 28, 28)).astype(np.float32)]
    paths = {}
    for kind in (fmt, f"{fmt}-int8"):
        out = tmp_path / f"m{FORMATS[kind].suffix}"
        paths[kind] = export_artifact(model, out, kind, input_shape=(1, 1, 28, 28),
                                      calibration=calibration if kind.endswith("int8") else None).path  # fmt: skip
    assert artifact_precision(paths[fmt]) == "float32" and artifact_precision(paths[f"{fmt}-int8"]) == "int8"
    info = describe(paths[f"{fmt}-int8"])
    assert info["precision"] == "int8" and info["tag"] == "fashion-mnist" and info["classes"] == 10
    report = shufflenet.analyze(model, (1, 1, 28, 28))  # the file names the network it holds, and its counts
    assert (info["model"], info["FLOPs"], info["params"]) == ("shufflenet_v2_x0_5", report.flops, report.params)
    files = {"onnx": ["m-int8.onnx"], "openvino": ["m-int8.xml", "m-int8.bin"],
             "ncnn": ["m-int8.ncnn.param", "m-int8.ncnn.bin", "m-int8.ncnn.json"]}[fmt]  # fmt: skip
    for other in ("m-int8.bin", "m-int8.json"):  # another artifact's files of the same stem are not its own
        (tmp_path / other).touch()
    assert list(describe(paths[f"{fmt}-int8"])["files"]) == files
    assert all(size > 0 for size in info["files"].values())


def test_info_command_prints_a_table_or_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "shufflenet_v2_x1_0:fashion-mnist", "--format", "json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["model"] == "shufflenet_v2_x1_0" and record["classes"] == 10
    assert main(["info", "shufflenet_v2_x1_0:fashion-mnist"]) == 0
    assert "T-shirt/top, Trouser" in capsys.readouterr().out
    assert main(["info", str(tmp_path / "gone.pt")]) == 2
    assert capsys.readouterr().err.strip() == f"error: checkpoint '{tmp_path / 'gone.pt'}' not found"
