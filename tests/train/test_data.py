"""What the training loop is fed: whole batches for a compiled or captured step (the short last batch of an epoch is
left out), and an image folder decoded once and held in memory (``--in-memory``) as the decoding path feeds it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from shufflenet.train import TrainConfig, train
from shufflenet.train.checkpoint import load_checkpoint
from shufflenet.train.data import crop_padding, prepare_data
from shufflenet.train.distributed import DistEnv


def _sizes(cfg: TrainConfig, env: DistEnv | None = None) -> tuple[int, list[int]]:
    data = prepare_data(cfg, env or DistEnv())
    return data.steps_per_epoch(), [len(y) for _, y in data.train_batches(0)]


def test_a_compiled_step_trains_on_whole_batches_of_the_in_memory_set(fake_fmnist: Path) -> None:
    cfg = TrainConfig(data_dir=str(fake_fmnist), batch_size=96)  # 512 images: 5 x 96 + 32
    assert _sizes(cfg) == (6, [96] * 5 + [32])
    assert _sizes(TrainConfig(**{**cfg.to_dict(), "compile": "default"})) == (5, [96] * 5)
    two = DistEnv(rank=1, world_size=2)  # 256 images per process: 2 x 96 + 64
    assert _sizes(TrainConfig(**{**cfg.to_dict(), "compile": "reduce-overhead"}), two) == (2, [96, 96])
    assert _sizes(TrainConfig(**{**cfg.to_dict(), "cuda_graph": True})) == (5, [96] * 5)


def test_a_compiled_step_trains_on_whole_batches_of_an_image_folder(tmp_path: Path) -> None:
    for c in ("cat", "dog"):
        (tmp_path / c).mkdir()
        for i in range(5):
            Image.fromarray(np.full((20, 20, 3), 20 * i, np.uint8)).save(tmp_path / c / f"{i}.png")
    cfg = TrainConfig(dataset="imagefolder", data_dir=str(tmp_path), img_size=16, batch_size=3, workers=0,
                      val_split=0.2)  # 8 training images: 3 + 3 + 2  # fmt: skip
    assert _sizes(cfg) == (3, [3, 3, 2])
    assert _sizes(TrainConfig(**{**cfg.to_dict(), "compile": "default"})) == (2, [3, 3])


def test_a_compiled_step_with_a_batch_larger_than_the_set_is_refused(fake_fmnist: Path, tmp_path: Path) -> None:
    cfg = TrainConfig(data_dir=str(fake_fmnist), batch_size=600, compile="default", out_dir=str(tmp_path / "run"))
    with pytest.raises(ValueError, match="--compile trains on whole batches only, and --batch-size 600 exceeds"):
        train(cfg)
    assert not (tmp_path / "run").exists()


def _folder(root: Path, per_class: int = 6) -> Path:
    rng = np.random.default_rng(0)
    for c in ("cat", "dog", "emu"):
        (root / c).mkdir(parents=True)
        for i in range(per_class):  # sizes and aspect ratios vary, as a user's photos do
            Image.fromarray(rng.integers(0, 256, (20 + i, 24, 3), np.uint8)).save(root / c / f"{i}.png")
    return root


def test_an_in_memory_folder_feeds_what_the_decoding_path_feeds(tmp_path: Path) -> None:
    kw = dict(dataset="imagefolder", data_dir=str(_folder(tmp_path / "imgs")), img_size=16, batch_size=4, workers=0,
              val_split=0.25, crop_padding=0, hflip=False)  # fmt: skip
    decoding, held = (prepare_data(TrainConfig(**kw, in_memory=m), DistEnv()) for m in (False, True))
    assert held.train_tensors is not None and held.train_tensors.images.dtype == torch.uint8
    assert (held.train_len, held.val_len, held.mean, held.std) == (decoding.train_len, decoding.val_len,
                                                                   decoding.mean, decoding.std)  # fmt: skip
    for epoch in (0, 1):  # the same images in the same order, and the same pixels to a float's rounding
        for (x, y), (hx, hy) in zip(decoding.train_batches(epoch), held.train_batches(epoch), strict=True):
            assert torch.equal(y, hy)
            torch.testing.assert_close(hx, x, rtol=0, atol=1e-5)
    for (x, y), (hx, hy) in zip(decoding.val_batches(5), held.val_batches(5), strict=True):
        assert torch.equal(y, hy) and torch.equal(hx, x)  # evaluation: bit for bit
    augmented = TrainConfig(**{**kw, "crop_padding": 4, "hflip": True, "random_erasing": 0.5}, in_memory=True)
    assert crop_padding(augmented, 16) == 2  # the padding grows with the side, as the decoding path's does
    x, _ = next(prepare_data(augmented, DistEnv()).train_batches(0))
    assert x.shape == (4, 3, 16, 16) and x.dtype == torch.float32


def test_a_train_subset_of_a_folder_draws_from_every_class(tmp_path: Path) -> None:
    """A folder lists its classes in turn: its first N images would be one class; the draw takes each in proportion,
    the same images held in memory or decoded each epoch."""
    kw = dict(dataset="imagefolder", data_dir=str(_folder(tmp_path / "imgs")), img_size=16, workers=0, batch_size=64,
              train_subset=9, crop_padding=0, hflip=False)  # fmt: skip
    with pytest.warns(UserWarning, match="no --val-dir or --val-split"):
        decoding, held = (prepare_data(TrainConfig(**kw, in_memory=m), DistEnv()) for m in (False, True))
    ((x, y),), ((hx, hy),) = decoding.train_batches(0), held.train_batches(0)
    assert sorted(y.tolist()) == [0, 0, 0, 1, 1, 1, 2, 2, 2] and torch.equal(y, hy)
    torch.testing.assert_close(hx, x, rtol=0, atol=1e-5)
    assert decoding.val_len == held.val_len == 18  # scored on all the images, as without a subset
    with pytest.warns(UserWarning, match="no --val-dir"):
        assert prepare_data(TrainConfig(**{**kw, "train_subset": 100}), DistEnv()).train_len == 18  # all there are


def test_in_memory_refusals_and_a_broken_image(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="--in-memory is for --dataset imagefolder: Fashion-MNIST is always held"):
        TrainConfig(in_memory=True)
    root = _folder(tmp_path / "imgs")
    cfg = TrainConfig(dataset="imagefolder", data_dir=str(root), img_size=16, workers=0, val_split=0.25,
                      in_memory=True)  # fmt: skip
    with monkeypatch.context() as m:
        m.setattr("shufflenet.train.data.available_memory", lambda device=None: 20_000)
        with pytest.raises(ValueError, match=r"--in-memory: the decoded images take 13.8 kB, more than half of the "
                           r"20.0 kB free in memory; use a smaller --img-size or drop --in-memory"):  # fmt: skip
            prepare_data(cfg, DistEnv())  # 18 images x 3 x 16 x 16 bytes, against 20 kB free
    broken = root / "dog" / "0.png"
    broken.write_bytes(broken.read_bytes()[:200])  # its header reads; its pixels do not
    with pytest.warns(UserWarning, match=r"skipped an unreadable image .*dog/0\.png"):
        data = prepare_data(cfg, DistEnv())
    assert data.train_len + data.val_len == 17  # left out, not stored twice


def test_train_in_memory_from_the_command_line(tmp_path: Path) -> None:
    from shufflenet.cli.main import main

    root, out = _folder(tmp_path / "imgs"), tmp_path / "run"
    argv = ["train", "--dataset", "imagefolder", "--data-dir", str(root), "--img-size", "16", "--in-memory",
            "--val-split", "0.25", "--epochs", "1", "--batch-size", "4", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    state = load_checkpoint(out / "last.pt")
    assert state["config"]["in_memory"] is True and state["history"][0]["val_top1"] is not None


@pytest.mark.gpu
def test_an_in_memory_folder_lives_on_the_gpu_and_trains_with_the_step_captured(tmp_path: Path) -> None:
    root = _folder(tmp_path / "imgs", per_class=12)
    kw = dict(dataset="imagefolder", data_dir=str(root), img_size=32, batch_size=8, val_split=0.25, in_memory=True,
              device="cuda", precision="bfloat16", channels_last=True, epochs=2)  # fmt: skip
    data = prepare_data(TrainConfig(**kw), DistEnv(device=torch.device("cuda")))
    assert data.train_tensors is not None and data.train_tensors.images.is_cuda  # moved once, augmented there
    x, y = next(data.train_batches(0))
    assert x.is_cuda and y.is_cuda and x.shape == (8, 3, 32, 32)
    result = train(TrainConfig(**kw, cuda_graph=True, out_dir=str(tmp_path / "run")))
    assert result.history[-1]["train_images"] == 24  # 27 training images: 3 whole batches of 8
    assert result.history[-1]["val_top1"] is not None
