"""train --init: starting from trained weights, with a reset classifier, frozen stages and a faster head."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from shufflenet import create_model
from shufflenet.data import load_fashion_mnist
from shufflenet.data.folders import write_image_folder
from shufflenet.train import TrainConfig, load_checkpoint, resume_training, train
from shufflenet.train.init import freeze_stages

SUPERCLASSES = {"tops": [0, 2, 4, 6], "footwear": [5, 7, 9], "bags+trousers": [1, 8]}
SOURCE = "shufflenet_v2_x1_0:fashion-mnist"


@pytest.fixture
def superclass_folder(fake_fmnist: Path, tmp_path: Path) -> Path:
    return _folder(fake_fmnist, tmp_path / "three")


def _folder(fmnist: Path, out: Path) -> Path:
    write_image_folder(load_fashion_mnist(fmnist, train=True), out, groups=SUPERCLASSES, per_class=40)
    return out


def _cfg(folder: Path, out: Path, **kw: object) -> TrainConfig:
    base = dict(model="shufflenet_v2_x1_0", dataset="imagefolder", data_dir=str(folder), val_split=0.25, epochs=2,
                batch_size=16, lr=0.5, threads=1, init=SOURCE, out_dir=str(out))  # fmt: skip
    return TrainConfig(**{**base, **kw})  # type: ignore[arg-type]


def test_init_keeps_the_source_and_resets_its_classifier(superclass_folder: Path, tmp_path: Path) -> None:
    notes: list[str] = []
    cfg = _cfg(superclass_folder, tmp_path / "run", freeze_stages=2, head_lr_mult=10.0)
    train(cfg, progress=lambda e: notes.append(e["text"]) if e["event"] == "note" else None)
    assert notes == [f"--init {SOURCE}: classifier reset from 10 to 3 classes (bags+trousers, footwear, tops)"]
    state = load_checkpoint(tmp_path / "run" / "last.pt")
    source = create_model("shufflenet_v2_x1_0", pretrained="fashion-mnist")
    # the source's input and normalisation became the run's (grey, 28 px, small-input stem)
    assert state["arch"] == {"model": "shufflenet_v2_x1_0", "num_classes": 3, "in_chans": 1, "small_input": True,
                             "options": {}}  # fmt: skip
    assert state["data"]["mean"] == source.pretrained_cfg["mean"] and state["data"]["input_size"] == [1, 28, 28]
    theirs = source.state_dict()
    for key, value in state["model"].items():  # stem and stages 1-2 frozen (BN statistics too), stage 3 learnt
        if key.startswith(("stem.", "stages.0.", "stages.1.")):
            assert torch.equal(value, theirs[key]), key
    moved = [k for k in state["model"] if k.startswith("stages.2.") and not torch.equal(state["model"][k], theirs[k])]
    assert moved
    lrs = {g["lr_mult"] for g in state["optimizer"]["param_groups"]}
    assert lrs == {1.0, 10.0}


@pytest.mark.parametrize("workers", [0, 2])  # images decoded and augmented in the process, or in two others
def test_an_init_run_resumes_exactly(superclass_folder: Path, tmp_path: Path, workers: int) -> None:
    train(_cfg(superclass_folder, tmp_path / "straight", workers=workers))

    def interrupt(event: dict) -> None:
        if event["event"] == "step" and event["epoch"] == 1 and event["step"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(_cfg(superclass_folder, tmp_path / "cut", workers=workers), progress=interrupt)
    resume_training(str(tmp_path / "cut" / "last.pt"))
    straight, after = (load_checkpoint(tmp_path / d / "last.pt") for d in ("straight", "cut"))
    assert straight["config"]["workers"] == after["config"]["workers"] == workers
    for key, value in straight["model"].items():
        assert torch.equal(after["model"][key], value), key


def test_init_errors(superclass_folder: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="is a shufflenet_v2_x1_0, but --model is shufflenet_v2_x0_5"):
        train(_cfg(superclass_folder, tmp_path / "a", model="shufflenet_v2_x0_5"))
    with pytest.raises(ValueError, match="takes 1-channel images but the data has 3"):
        train(_cfg(superclass_folder, tmp_path / "b", in_chans=3))
    with pytest.raises(FileNotFoundError, match="not a file, MODEL:TAG or 'imagenet'"):
        train(_cfg(superclass_folder, tmp_path / "c", init="nowhere.pt"))
    with pytest.raises(ValueError, match="--freeze-stages 9: the network has 3 stages"):
        train(_cfg(superclass_folder, tmp_path / "d", freeze_stages=9))
    with pytest.raises(ValueError, match="needs --init"):
        TrainConfig(freeze_stages=1)
    with pytest.raises(ValueError, match="--mean and --std go together"):
        TrainConfig(mean=(0.5,))
    with pytest.raises(ValueError, match="--workers 2: only for --dataset imagefolder"):
        TrainConfig(workers=2)
    with pytest.raises(ValueError, match="needs a network built of stem and stages"):
        freeze_stages(create_model("resnet18"), 1)


def test_workers_default_to_none_on_a_cpu_and_leave_cores_on_a_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    from shufflenet.train.data import default_workers

    assert default_workers(torch.device("cpu")) == 0  # the CPU's cores compute the step
    gpu = torch.device("cuda", 0)
    monkeypatch.setattr("os.cpu_count", lambda: 64)
    assert default_workers(gpu) == 8
    assert default_workers(gpu, processes=8) == 7  # eight GPUs share 64 cores: 7 each, one left for the step
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert default_workers(gpu) == 1


def test_val_split_is_stratified() -> None:
    from shufflenet.train.data import stratified_split

    labels = torch.tensor([0] * 90 + [1] * 9 + [2] * 1)
    tr, va = stratified_split(labels, 0.1, seed=0)
    assert torch.bincount(labels[va], minlength=3).tolist() == [9, 1, 0]  # a lone image stays in training
    assert sorted(torch.cat([tr, va]).tolist()) == list(range(100))
    assert torch.equal(stratified_split(labels, 0.1, seed=0)[1], va)  # the same split every time


@pytest.mark.slow  # needs the real Fashion-MNIST (CI installs it); benchmarks/finetune.py is the full experiment
def test_fine_tuning_beats_training_from_scratch(tmp_path: Path) -> None:
    """The acceptance experiment in small: 3 super-classes, 60 training images each, same budget."""
    from shufflenet.data import FASHION_MNIST_DIR

    if not Path(FASHION_MNIST_DIR).is_dir():
        pytest.skip(f"needs the real Fashion-MNIST in {FASHION_MNIST_DIR} (make data)")
    write_image_folder(load_fashion_mnist(FASHION_MNIST_DIR, train=True), tmp_path / "train", groups=SUPERCLASSES,
                       per_class=60, seed=1)  # fmt: skip
    write_image_folder(load_fashion_mnist(FASHION_MNIST_DIR, train=False), tmp_path / "held", groups=SUPERCLASSES,
                       per_class=100, seed=2)  # fmt: skip
    scores = {}
    for init in (SOURCE, None):
        cfg = _cfg(tmp_path / "train", tmp_path / f"run-{init is None}", init=init, val_split=0.0, in_chans=1,
                   img_size=28, val_dir=str(tmp_path / "held"), epochs=2, lr=2.0)  # fmt: skip
        scores[init] = train(cfg).last["val_top1"]
    assert scores[SOURCE] > scores[None] + 0.10, scores
