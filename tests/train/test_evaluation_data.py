"""A test set is matched to the model's classes by name: scored right, or refused with the reason."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import fake_checkpoint
from shufflenet.cli.main import main
from shufflenet.data import FASHION_MNIST_CLASSES
from shufflenet.train.data import evaluation_data

CFG = {"mean": [0.5] * 3, "std": [0.25] * 3, "input_size": [3, 16, 16], "class_names": ["cat", "dog", "owl"]}


def _folder(root: Path, counts: dict[str, int]) -> Path:
    for c, n in counts.items():
        (root / c).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(np.full((20, 20, 3), 10 * i, np.uint8)).save(root / c / f"{i}.png")
    return root


def test_folder_labels_follow_the_model_class_order(tmp_path: Path) -> None:
    # sorted folder order is (dog, owl); the model's is (cat, dog, owl): labels must be 1 and 2, not 0 and 1
    batches, count = evaluation_data(CFG, "imagefolder", str(_folder(tmp_path, {"owl": 2, "dog": 3})), batch_size=4)
    labels = [int(v) for _, y in batches for v in y]
    assert count == 5 and sorted(labels) == [1, 1, 1, 2, 2]


def test_an_image_broken_past_its_header_is_left_out_not_scored_twice(tmp_path: Path) -> None:
    root = _folder(tmp_path, {"dog": 3, "owl": 2})
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (20, 20, 3), np.uint8)).save(root / "owl" / "1.png")
    whole = (root / "owl" / "1.png").read_bytes()
    (root / "owl" / "1.png").write_bytes(whole[: len(whole) // 2])  # its header reads, its pixels do not
    batches, count = evaluation_data(CFG, "imagefolder", str(root), batch_size=2)
    with pytest.warns(UserWarning, match=r"skipped an unreadable image .*owl/1.png"):
        labels = [int(v) for _, y in batches for v in y]
    assert count == 5 and sorted(labels) == [1, 1, 1, 2]  # four scored, each once


def test_other_classes_are_refused(tmp_path: Path, fake_fmnist: Path) -> None:
    with pytest.raises(ValueError, match="class folders the model does not know: bat"):
        evaluation_data(CFG, "imagefolder", str(_folder(tmp_path / "val", {"bat": 1, "cat": 1})))
    with pytest.raises(ValueError, match="not Fashion-MNIST; evaluate it on its own data"):
        evaluation_data(CFG, "fashion-mnist", str(fake_fmnist))
    fashion = {**CFG, "class_names": list(FASHION_MNIST_CLASSES), "input_size": [1, 28, 28]}
    _, count = evaluation_data(fashion, "fashion-mnist", str(fake_fmnist))
    assert count == 200


def test_eval_cli_on_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ckpt = fake_checkpoint(tmp_path / "m.pt", ["cat", "dog", "owl"], in_chans=3, size=32)
    data = _folder(tmp_path / "val", {"cat": 2, "owl": 2})
    assert main(["eval", str(ckpt), "--dataset", "imagefolder", "--data-dir", str(data), "--format", "json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert (
        record["images"] == 4
        and record["dataset"] == "imagefolder"
        and set(record["per_class"]) == {"cat", "dog", "owl"}
    )
