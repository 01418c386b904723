"""A compiled or captured training step sees one batch shape: the short last batch of an epoch is left out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from shufflenet.train import TrainConfig, train
from shufflenet.train.data import prepare_data
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
