import json
from pathlib import Path

import pytest
import torch

from shufflenet.train.history import read_history, score_key, write_history

HISTORY = [
    {"epoch": 1, "train_loss": 2.0, "test_top1": None},
    {"epoch": 2, "train_loss": 1.5, "test_top1": 0.5, "elapsed_s": 3.0},  # a newer column from the second epoch on
]


def test_written_history_reads_back_from_the_folder_the_json_or_a_checkpoint(tmp_path: Path) -> None:
    write_history(tmp_path, HISTORY)
    assert read_history(tmp_path) == read_history(tmp_path / "history.json") == HISTORY
    assert (tmp_path / "history.csv").read_text().splitlines() == [
        "epoch,train_loss,test_top1,elapsed_s",
        "1,2.0,,",
        "2,1.5,0.5,3.0",
    ]
    torch.save({"format": "shufflenet-detector/1", "history": [{"epoch": 1, "val_map_50": 0.25}]}, tmp_path / "d.pt")
    assert read_history(tmp_path / "d.pt") == [{"epoch": 1, "val_map_50": 0.25}]


def test_score_key_is_the_validation_top1_or_a_detectors_ap() -> None:
    assert score_key(HISTORY) == "test_top1"
    assert score_key([{"epoch": 1, "train_loss": 1.0, "val_map": 0.1, "val_map_50": 0.2}]) == "val_map_50"
    assert score_key([{"epoch": 1, "train_loss": 1.0}]) is None


def test_what_is_not_a_history_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="holds no history.json"):
        read_history(tmp_path)
    with pytest.raises(FileNotFoundError, match="nope not found"):
        read_history(tmp_path / "nope")
    (tmp_path / "cut.json").write_text('[{"epoch": 1, "train_lo')
    with pytest.raises(ValueError, match="cut.json is not readable JSON .*; is it truncated"):
        read_history(tmp_path / "cut.json")
    (tmp_path / "other.json").write_text(json.dumps({"epoch": 1}))
    with pytest.raises(ValueError, match="other.json is not a training history"):
        read_history(tmp_path / "other.json")
    torch.save({"model": {}}, tmp_path / "w.pt")
    with pytest.raises(ValueError, match="w.pt holds no training history"):
        read_history(tmp_path / "w.pt")


def test_shipped_weights_bring_the_log_of_the_run_that_made_them() -> None:
    history = read_history("shufflenet_v2_x0_5:fashion-mnist-hires-wide")
    assert len(history) == 28 and round(100 * history[-1]["test_top1"], 2) == 95.06
    history = read_history("shufflenet_v2_x0_5:fashion-mnist-hires-wider")  # a run of 50 epochs in two sittings
    assert [e["epoch"] for e in history] == list(range(1, 51)) and round(100 * history[-1]["test_top1"], 2) == 95.41
    with pytest.raises(ValueError, match="no pretrained weights 'shufflenet_v2_x0_5' with tag 'nope'"):
        read_history("shufflenet_v2_x0_5:nope")
