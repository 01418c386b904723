"""train --teacher: the distillation loss, the teacher's targets, and what a run with a teacher learns from."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from shufflenet import create_model
from shufflenet.data import FASHION_MNIST_CLASSES
from shufflenet.data.idx import read_idx, write_idx
from shufflenet.train import TrainConfig, load_checkpoint, resume_training, train
from shufflenet.train.distill import Teacher, distill_loss, load_teacher

SHIPPED = "shufflenet_v2_x0_5:fashion-mnist"  # a real teacher: the fake images are 28 px grey, as Fashion-MNIST's


@pytest.mark.parametrize("temperature", [1.0, 4.0])
def test_the_loss_is_the_kl_divergence_with_hintons_gradient(temperature: float) -> None:
    logits = torch.randn(6, 10, requires_grad=True)
    target = torch.randn(6, 10).softmax(1)
    loss = distill_loss(logits, target, temperature)
    loss.backward()
    # d/dlogits of T^2 KL(target || softmax(logits / T)), averaged over the batch: T (softmax(logits / T) - target) / N
    expected = temperature * ((logits.detach() / temperature).softmax(1) - target) / len(logits)
    torch.testing.assert_close(logits.grad, expected)
    assert loss > 0
    assert distill_loss(logits.detach(), (logits.detach() / temperature).softmax(1), temperature).abs() < 1e-6


def test_the_target_is_the_mean_over_teachers_and_mirror_images() -> None:
    nets = [create_model("shufflenet_v2_x0_5", num_classes=10, in_chans=1, small_input=True).eval() for _ in range(2)]
    x = torch.randn(3, 1, 28, 28)
    with torch.no_grad():
        each = [[(net(v) / 2.0).softmax(1) for v in (x, x.flip(-1))] for net in nets]
    target = Teacher(nets, temperature=2.0)(x)
    torch.testing.assert_close(target, (each[0][0] + each[1][0]) / 2)
    mirrored = Teacher(nets, temperature=2.0, tta=True)(x)
    torch.testing.assert_close(mirrored, sum(p for pair in each for p in pair) / 4)
    torch.testing.assert_close(Teacher(nets, temperature=2.0, tta=True, one_call=True)(x), mirrored)  # a GPU's way
    torch.testing.assert_close(mirrored.sum(1), torch.ones(3))
    assert not any(p.requires_grad for net in nets for p in net.parameters())  # frozen


def test_a_teacher_normalised_otherwise_sees_the_input_it_was_trained_on() -> None:
    teacher = load_teacher(
        [SHIPPED], classes=_classes(), in_chans=1, mean=[0.5], std=[0.25], device=torch.device("cpu")
    )
    net = teacher.nets[0]
    raw = torch.rand(2, 1, 28, 28)
    theirs = (raw - net.pretrained_cfg["mean"][0]) / net.pretrained_cfg["std"][0]
    with torch.no_grad():
        expected = net(theirs).softmax(1)
    torch.testing.assert_close(teacher((raw - 0.5) / 0.25), expected)
    same = load_teacher([SHIPPED], classes=_classes(), in_chans=1, mean=net.pretrained_cfg["mean"],
                        std=net.pretrained_cfg["std"], device=torch.device("cpu"))  # fmt: skip
    assert same.renorm == [None]


def test_a_teacher_must_know_the_runs_classes_and_channels() -> None:
    cpu = torch.device("cpu")
    with pytest.raises(ValueError, match="not this run's 3 classes .* trained on the same classes, in the same order"):
        load_teacher([SHIPPED], classes=["a", "b", "c"], in_chans=1, mean=[0.5], std=[0.5], device=cpu)
    reordered = _classes()[::-1]
    with pytest.raises(ValueError, match="in the same order"):
        load_teacher([SHIPPED], classes=reordered, in_chans=1, mean=[0.5], std=[0.5], device=cpu)
    with pytest.raises(ValueError, match="takes 1-channel images, this run's have 3"):
        load_teacher([SHIPPED], classes=_classes(), in_chans=3, mean=[0.5] * 3, std=[0.5] * 3, device=cpu)
    with pytest.raises(FileNotFoundError, match="--teacher nowhere.pt: not a file"):
        load_teacher(["nowhere.pt"], classes=_classes(), in_chans=1, mean=[0.5], std=[0.5], device=cpu)
    with pytest.raises(ValueError, match="--teacher-tta .* needs --teacher"):
        TrainConfig(teacher_tta=True)
    assert TrainConfig(teacher=SHIPPED).teacher == (SHIPPED,)  # one name, or a list from a JSON record
    assert TrainConfig.from_dict(TrainConfig(teacher=[SHIPPED, "b:c"]).to_dict()).teacher == (SHIPPED, "b:c")


def test_the_teachers_share_of_the_loss_decides_what_a_run_learns(fake_fmnist: Path, tmp_path: Path) -> None:
    """Weight 1: the labels do not matter (a run on wrong labels ends bit for bit where the right ones do);
    weight 0: the teacher does not; in between, both do."""
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    for name in ("train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (wrong / name).write_bytes((fake_fmnist / name).read_bytes())
    write_idx(wrong / "train-labels-idx1-ubyte.gz", ((read_idx(fake_fmnist / "train-labels-idx1-ubyte.gz") + 1) % 10))

    def weights(data: Path, out: str, **kw: object) -> dict[str, torch.Tensor]:
        cfg = TrainConfig(model="shufflenet_v2_x0_5", data_dir=str(data), train_subset=96, epochs=1, batch_size=32,
                          lr=0.5, threads=1, random_erasing=0.5, out_dir=str(tmp_path / out), **kw)  # type: ignore[arg-type]  # fmt: skip
        train(cfg)
        return load_checkpoint(tmp_path / out / "last.pt")["model"]

    def same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
        return all(torch.equal(a[k], b[k]) for k in a)

    taught = dict(teacher=(SHIPPED,), teacher_tta=True)
    only_teacher = weights(fake_fmnist, "t1", distill_weight=1.0, **taught)
    assert same(only_teacher, weights(wrong, "t1-wrong", distill_weight=1.0, **taught))
    plain = weights(fake_fmnist, "plain")
    assert same(plain, weights(fake_fmnist, "t0", distill_weight=0.0, **taught))
    half = weights(fake_fmnist, "half", **taught)
    assert not same(half, plain) and not same(half, only_teacher)
    assert not same(half, weights(wrong, "half-wrong", **taught))


def test_a_run_with_a_teacher_resumes_exactly(fake_fmnist: Path, tmp_path: Path) -> None:
    def cfg(out: str) -> TrainConfig:
        return TrainConfig(model="shufflenet_v2_x0_5", data_dir=str(fake_fmnist), train_subset=96, epochs=2,
                           batch_size=32, lr=0.5, threads=1, teacher=(SHIPPED,), out_dir=str(tmp_path / out))  # fmt: skip

    train(cfg("straight"))

    def interrupt(event: dict) -> None:
        if event["event"] == "step" and event["epoch"] == 1 and event["step"] == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(cfg("cut"), progress=interrupt)
    resume_training(str(tmp_path / "cut" / "last.pt"))
    straight, after = (load_checkpoint(tmp_path / d / "last.pt") for d in ("straight", "cut"))
    assert after["config"]["teacher"] == (SHIPPED,)
    for key, value in straight["model"].items():
        assert torch.equal(after["model"][key], value), key


def _classes() -> list[str]:
    return list(FASHION_MNIST_CLASSES)
