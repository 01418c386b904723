from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import make_fake_fashion_mnist, write_idx
from shufflenet.data import (
    FASHION_MNIST_CLASSES,
    TensorData,
    augment_batch,
    cutmix,
    load_fashion_mnist,
    load_image_folder,
    read_idx,
)


@pytest.mark.parametrize("gz", [True, False])
def test_idx_roundtrip(tmp_path: Path, gz: bool) -> None:
    a = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    assert np.array_equal(read_idx(write_idx(tmp_path / ("a.gz" if gz else "a"), a, gz)), a)


def test_truncated_and_corrupt_idx(tmp_path: Path) -> None:
    path = write_idx(tmp_path / "x", np.zeros((10, 28, 28), np.uint8), gz=False)
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(ValueError, match="is truncated: expected"):
        read_idx(path)
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x12\x34\x56\x78rest")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(bad)
    gz = tmp_path / "broken.gz"
    gz.write_bytes(b"\x1f\x8b\x08garbage")
    with pytest.raises(ValueError, match="not a readable gzip file"):
        read_idx(gz)


def test_fashion_mnist_from_files(tmp_path: Path) -> None:
    root = make_fake_fashion_mnist(tmp_path, n_train=64, n_test=32)
    train, test = load_fashion_mnist(root, True), load_fashion_mnist(root, False)
    assert train.images.shape == (64, 1, 28, 28) and train.images.dtype == torch.uint8
    assert len(test) == 32 and train.classes == FASHION_MNIST_CLASSES


def test_missing_dataset_says_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="dataset-fashion-mnist"):
        load_fashion_mnist(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        load_fashion_mnist(tmp_path / "empty")


def test_augment_is_deterministic_and_shape_preserving() -> None:
    x = torch.randint(0, 255, (16, 1, 28, 28), dtype=torch.uint8)
    run = lambda: augment_batch(x, [0.5], [0.25], torch.Generator().manual_seed(3), erasing=0.5)  # noqa: E731
    a, b = run(), run()
    assert a.shape == (16, 1, 28, 28) and torch.equal(a, b)
    plain = augment_batch(x, [0.5], [0.25], torch.Generator(), crop_padding=0, hflip=False)
    assert torch.allclose(plain, (x.float() / 255 - 0.5) / 0.25)


@pytest.mark.parametrize(
    "device",
    ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)],
)
def test_augment_runs_where_the_images_are(device: str) -> None:
    """A GPU keeps the training set and augments it there, with a generator of its own."""
    x = torch.randint(0, 255, (16, 1, 28, 28), dtype=torch.uint8, device=device)
    g = torch.Generator(device).manual_seed(3)
    out = augment_batch(x, [0.5], [0.25], g, erasing=0.5)
    assert out.device.type == device and out.shape == x.shape and out.dtype == torch.float32
    data = TensorData(x, torch.zeros(16, dtype=torch.int64, device=device), ("a",))
    assert data.to(torch.device(device)) is data  # already there: no copy


def test_random_crop_translates_content() -> None:
    x = torch.zeros(64, 1, 28, 28, dtype=torch.uint8)
    x[:, :, 14, 14] = 255
    out = augment_batch(x, [0.0], [1.0], torch.Generator().manual_seed(0), crop_padding=4, hflip=False)
    ys, xs = (out[:, 0] > 0.5).nonzero(as_tuple=True)[1:]
    assert len(ys) == 64 and (ys - 14).abs().max() <= 4 and len(set(ys.tolist())) > 1


def test_cutmix_pastes_a_box_and_mixes_targets_by_its_area() -> None:
    # image i is filled with the value i, so the pasted share of each image can be counted
    n = 8
    x = torch.arange(n, dtype=torch.float32)[:, None, None, None].expand(n, 1, 28, 28)
    y = torch.arange(n) % 10
    mixed, target = cutmix(x, y, 10, 1.0, torch.Generator().manual_seed(1))
    assert target.shape == (n, 10) and torch.allclose(target.sum(1), torch.ones(n))
    for i in range(n):
        pasted = (mixed[i] == (i - 1) % n).float().mean()
        assert 0 < pasted < 1 and torch.isclose(target[i, (i - 1) % n], pasted)
        assert torch.isclose(target[i, i], 1 - pasted)
    again = cutmix(x, y, 10, 1.0, torch.Generator().manual_seed(1))
    assert torch.equal(again[0], mixed) and torch.equal(again[1], target)
    same, one_hot = cutmix(x, y, 10, 0.0, torch.Generator().manual_seed(1))
    assert torch.equal(same, x) and torch.equal(one_hot.argmax(1), y) and torch.equal(one_hot.sum(1), torch.ones(n))


def test_image_folder_errors(tmp_path: Path) -> None:
    from PIL import Image

    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no images"):
        load_image_folder(tmp_path / "empty")
    root = tmp_path / "imgs"
    (root / "cat").mkdir(parents=True)
    Image.new("RGB", (8, 8), (255, 0, 0)).save(root / "cat" / "ok.png")
    (root / "cat" / "broken.png").write_bytes(b"not a png")
    with pytest.warns(UserWarning, match="skipped 1 unreadable"):  # named and skipped: tests/data/test_images.py
        data = load_image_folder(root)
    assert data.classes == ("cat",) and len(data) == 1
