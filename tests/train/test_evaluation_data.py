"""A test set is matched to the model's classes by name: scored right, or refused with the reason."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import fake_checkpoint
from shufflenet.cli.main import main
from shufflenet.data import FASHION_MNIST_CLASSES
from shufflenet.data.images import preprocess
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


def test_folder_images_are_resized_as_torchvision_evaluated_its_weights(tmp_path: Path) -> None:
    # ImageNet weights were scored on the shorter side resized to 256 and the centre 224 cropped: a stretch to
    # 224 x 224 (what training on a folder does) would misreport their accuracy
    from torchvision.models import MobileNet_V2_Weights, ShuffleNet_V2_X1_0_Weights

    from shufflenet.models._imagenet import imagenet_cfg

    x = np.linspace(0, 255, 500)[None, :, None] * np.linspace(0.2, 1, 375)[:, None, None]
    path = _folder(tmp_path, {"cat": 0}) / "cat" / "photo.jpg"
    Image.fromarray(np.repeat(x, 3, 2).astype(np.uint8)).save(path, quality=90)
    for name, weights in (("shufflenet_v2_x1_0", ShuffleNet_V2_X1_0_Weights.IMAGENET1K_V1),
                          ("mobilenet_v2_x1_0", MobileNet_V2_Weights.IMAGENET1K_V2)):  # fmt: skip  # 256 and 232
        cfg = {**imagenet_cfg(name), "class_names": ["cat"]}
        ((batch, _),) = evaluation_data(cfg, "imagefolder", str(tmp_path))[0]
        expected = weights.transforms()(Image.open(path).convert("RGB"))
        torch.testing.assert_close(batch[0], expected, atol=1e-6, rtol=0)
        assert torch.equal(preprocess([path], cfg)[0], batch[0])  # predict sees what eval scores


def test_imagenet_wordnet_folders_are_numbered_in_sorted_order_or_by_the_class_map(tmp_path: Path) -> None:
    wnids = [f"n{7919 * i % 10**8:08d}" for i in range(1000)]  # not created in sorted order
    cfg = {**CFG, "class_names": [f"class {i}" for i in range(1000)]}
    _folder(tmp_path / "all", {w: 1 for w in wnids})
    _folder(tmp_path / "few", {w: 1 for w in wnids[:3]})
    batches, count = evaluation_data(cfg, "imagefolder", str(tmp_path / "all"), batch_size=500)
    assert count == 1000 and [int(v) for _, y in batches for v in y] == list(range(1000))
    with pytest.raises(ValueError, match="3 ImageNet class folders .* of 1000: .* --class-map LOC_synset_mapping.txt"):
        evaluation_data(cfg, "imagefolder", str(tmp_path / "few"))
    shuffled = wnids[2::-1] + wnids[3:]  # a map in another order than sorted (its line order is the truth)
    text = "".join(f"{w} some name, another name\r\n" for w in shuffled)  # as saved on Windows, with a BOM
    (tmp_path / "map.txt").write_text(text, encoding="utf-8-sig")
    batches, _ = evaluation_data(cfg, "imagefolder", str(tmp_path / "few"), class_map=str(tmp_path / "map.txt"))
    assert sorted(int(v) for _, y in batches for v in y) == sorted(shuffled.index(w) for w in wnids[:3])


def test_eval_cli_on_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ckpt = fake_checkpoint(tmp_path / "m.pt", ["cat", "dog", "owl"], in_chans=3, size=32)
    data = _folder(tmp_path / "val", {"cat": 2, "owl": 2})
    assert main(["eval", str(ckpt), "--dataset", "imagefolder", "--data-dir", str(data), "--format", "json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert (
        record["images"] == 4
        and record["dataset"] == "imagefolder"
        and set(record["per_class"]) == {"cat", "dog", "owl"}
        and record["per_class"]["dog"] is None  # no image of it: no accuracy, not 0%
        and record["per_class"]["cat"] is not None
    )
    # decoded in two worker processes: the same scores
    assert main(["eval", str(ckpt), "--dataset", "imagefolder", "--data-dir", str(data), "--format", "json",
                 "--workers", "2"]) == 0  # fmt: skip
    assert json.loads(capsys.readouterr().out) == record


def test_eval_cli_of_many_classes_tables_the_hardest_and_lists_all_in_csv(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    names = [f"k{i:02d}" for i in range(60)]
    ckpt = fake_checkpoint(tmp_path / "m.pt", names, in_chans=3, size=32)
    args = [
        "eval",
        str(ckpt),
        "--dataset",
        "imagefolder",
        "--data-dir",
        str(_folder(tmp_path / "val", {n: 1 for n in names[:30]})),
    ]
    assert main([*args, "--confusion", str(tmp_path / "cm.png")]) == 0  # past 30 classes: an image, no cell text
    out = capsys.readouterr().out
    assert (tmp_path / "cm.png").stat().st_size > 0
    assert "the 10 hardest of 30 classes with test images" in out and "on 30 test images" in out
    assert sum(f"k{i:02d}" in out for i in range(60)) == 10 and "k45" not in out  # only classes with images
    assert main([*args, "--format", "csv"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert len(rows) == 61 and rows[-1] == "k59,-"  # every class; one without images has no accuracy
