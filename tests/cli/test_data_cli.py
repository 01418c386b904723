"""shufflenet data stats, and every command on a folder with a corrupt image, an empty class folder
and a non-image file: one-line warnings or errors, never a traceback, nothing half-written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import fake_checkpoint
from shufflenet.cli.main import main
from shufflenet.data import load_fashion_mnist
from shufflenet.data.folders import folder_stats, write_image_folder


def _messy(root: Path) -> Path:
    """Two classes of 28x28 grey images, one corrupt PNG (a name with brackets), a text file, and a stray file at the root."""
    for c, value in (("cat", 40), ("dog", 200)):
        (root / c).mkdir(parents=True)
        for i in range(4):
            Image.fromarray(np.full((28, 28), value + i, np.uint8)).save(root / c / f"{i}.png")
    (root / "cat" / "broken[red].png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")  # brackets: not rich markup
    (root / "dog" / "notes.txt").write_text("not an image")
    (root / "README").write_text("stray")
    return root


def test_data_stats_reports_counts_sizes_norm_and_every_problem(tmp_path: Path, capsys) -> None:
    root = _messy(tmp_path / "messy")
    assert main(["data", "stats", str(root), "--in-chans", "1", "--format", "json"]) == 0
    out, err = capsys.readouterr()
    record = json.loads(out)
    assert record["class_counts"] == {"cat": 4, "dog": 4} and record["sizes"] == {"28x28": 8}
    assert record["mean"] == [pytest.approx((41.5 + 201.5) / 2 / 255, abs=1e-4)]
    assert [u.split(" (")[0] for u in record["unreadable"]] == [f"{root}/cat/broken[red].png"]
    assert record["other_files"] == [f"{root}/dog/notes.txt"] and record["loose_files"] == [f"{root}/README"]
    # what `train --in-memory` would hold: 8 readable grey images, one byte a pixel
    assert record["in_memory_bytes"] == {"64": 8 * 64**2, "128": 8 * 128**2, "224": 8 * 224**2}
    assert len([line for line in err.splitlines() if line.startswith("warning:")]) == 3
    assert f"warning: unreadable: {root}/cat/broken[red].png (" in err  # named as it is on disk
    (root / "empty").mkdir()
    assert folder_stats(root).empty_classes == ["empty"]


def test_commands_on_a_messy_folder(tmp_path: Path, capsys) -> None:
    root = _messy(tmp_path / "messy")
    ckpt = fake_checkpoint(tmp_path / "m.pt", ["cat", "dog"])
    with pytest.warns(UserWarning, match="skipped 1 unreadable file"):
        assert main(["eval", str(ckpt), "--dataset", "imagefolder", "--data-dir", str(root), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["images"] == 8
    (root / "empty").mkdir()
    argv = ["train", "--dataset", "imagefolder", "--data-dir", str(root), "--epochs", "1", "--out", str(tmp_path / "r")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "1 class folder(s) hold no images (empty)" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "r").exists()
    assert main(["data", "stats", str(tmp_path / "missing")]) == 2
    assert "not found" in capsys.readouterr().err


def test_write_image_folder_is_whole_or_absent(fake_fmnist: Path, tmp_path: Path) -> None:
    data = load_fashion_mnist(fake_fmnist, train=True)
    with pytest.raises(ValueError, match="images of label"):
        write_image_folder(data, tmp_path / "out", groups={"a": [0], "b": [1]}, per_class=10_000)
    assert [p.name for p in tmp_path.iterdir()] == ["fmnist"]  # no partial tree, no temporary folder
    counts = write_image_folder(data, tmp_path / "out", groups={"ab": [0, 1], "c": [2]}, per_class=5)
    assert counts == {"ab": 5, "c": 5} and len(list((tmp_path / "out" / "ab").glob("*.png"))) == 5
    with pytest.raises(FileExistsError):
        write_image_folder(data, tmp_path / "out")


def test_samples_writes_the_first_test_images_named_by_class(fake_fmnist: Path, tmp_path: Path, capsys) -> None:
    assert main(["samples", "--data-dir", str(fake_fmnist), "--count", "3", "--out", str(tmp_path / "s")]) == 0
    test = load_fashion_mnist(fake_fmnist, train=False)
    names = [
        f"{i:03d}_{test.classes[int(test.labels[i])].replace('/', '-').replace(' ', '-').lower()}.png" for i in range(3)
    ]
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == names  # e.g. 000_t-shirt-top.png: a valid file name
    for i, name in enumerate(names):  # the test images themselves, pixel for pixel
        assert np.array_equal(np.asarray(Image.open(tmp_path / "s" / name)), test.images[i, 0].numpy())
    assert f"wrote 3 test images to {tmp_path / 's'}" in capsys.readouterr().out
