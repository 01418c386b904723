"""``--cuda-graph``: the training step's forward and backward captured in CUDA graphs (a GPU only)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from shufflenet.cli.main import main
from shufflenet.train import TrainConfig, train
from shufflenet.train.checkpoint import load_checkpoint
from shufflenet.train.graphs import check_capturable, kept_buffers


def test_kept_buffers_undo_the_warm_up_calls_in_place() -> None:
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4)).train()
    before = {k: v.clone() for k, v in net.named_buffers()}
    addresses = [b.data_ptr() for b in net.buffers()]
    with kept_buffers(net):
        net(torch.randn(8, 1, 6, 6))
        assert not torch.equal(net[1].running_mean, before["1.running_mean"])  # the call did move them
    for key, value in net.named_buffers():
        assert torch.equal(value, before[key]), key
    assert [b.data_ptr() for b in net.buffers()] == addresses  # a captured graph's addresses stay valid


def test_where_a_step_cannot_be_captured_is_a_one_line_error() -> None:
    with pytest.raises(ValueError, match="need a GPU .this run is on cpu.; drop --cuda-graph"):
        check_capturable(torch.device("cpu"), distributed=False)
    with pytest.raises(ValueError, match="under torchrun use --compile reduce-overhead"):
        check_capturable(torch.device("cuda"), distributed=True)
    check_capturable(torch.device("cuda"), distributed=False)
    with pytest.raises(ValueError, match="--cuda-graph and --compile default both remove the step's launches"):
        TrainConfig(cuda_graph=True, compile="default")
    with pytest.raises(ValueError, match="progressive resizing .--min-train-size. changes it"):
        TrainConfig(cuda_graph=True, min_train_size=16)


def test_the_loop_captures_once_at_the_first_step_and_trains_as_the_eager_loop(
    fake_fmnist: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loop's side of the capture, on the CPU: torch's capture (a GPU's) replaced by its warm-up calls alone."""
    samples = []

    def warm_up_only(step: nn.Module, sample_args: tuple[torch.Tensor, ...], capture_error_mode: str) -> nn.Module:
        assert not torch.is_autocast_cache_enabled()  # torch refuses a capture with autocast's cache on
        assert capture_error_mode == "thread_local"  # a pin-memory thread's CUDA calls must not break the capture
        samples.append(sample_args[0])
        for _ in range(3):  # as make_graphed_callables does, moving BatchNorm's statistics
            step(*sample_args)
        return step

    kw = dict(model="shufflenet_v2_x0_5", data_dir=str(fake_fmnist), epochs=2, batch_size=64, lr=2.0,
              warmup_epochs=0.5, threads=1, channels_last=True, ema_decay=0.9)  # fmt: skip
    eager = train(TrainConfig(**kw, out_dir=str(tmp_path / "eager")))
    monkeypatch.setattr("shufflenet.train.loop.check_capturable", lambda device, distributed: None)
    monkeypatch.setattr(torch.cuda, "make_graphed_callables", warm_up_only)
    captured = train(TrainConfig(**kw, cuda_graph=True, out_dir=str(tmp_path / "captured")))
    (sample,) = samples  # once, for the run
    assert sample.shape == (64, 1, 28, 28) and sample.is_contiguous(memory_format=torch.channels_last)
    assert not sample.any()  # a zero batch: the capture draws nothing from the run's random numbers
    assert captured.history == [{**h, **{k: captured.history[i][k] for k in ("images_per_s", "epoch_s")}}
                                for i, h in enumerate(eager.history)]  # fmt: skip
    want, got = (load_checkpoint(tmp_path / run / "last.pt") for run in ("eager", "captured"))
    for key, value in want["model"].items():  # the warm-up's BatchNorm updates were undone
        assert torch.equal(got["model"][key], value), key


@pytest.mark.skipif(torch.cuda.is_available(), reason="the refusal is for a machine without a GPU")
def test_cuda_graph_on_the_cpu_is_refused_before_any_work(
    fake_fmnist: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    argv = ["train", "--cuda-graph", "--device", "cpu", "--data-dir", str(fake_fmnist), "--out", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --cuda-graph captures the training step") and err.count("\n") == 1
    assert not out.exists()


@pytest.mark.gpu
@pytest.mark.parametrize("precision", ["bfloat16", "float16"])  # float16: the loss scaled around the captured backward
def test_a_captured_step_learns_like_the_eager_one(fake_fmnist: Path, tmp_path: Path, precision: str) -> None:
    kw = dict(model="shufflenet_v2_x0_5", data_dir=str(fake_fmnist), epochs=2, batch_size=64, lr=2.0,
              warmup_epochs=0.5, crop_padding=0, seed=1, device="cuda", precision=precision, channels_last=True,
              ema_decay=0.99)  # fmt: skip
    eager = train(TrainConfig(**kw, out_dir=str(tmp_path / "eager")))
    captured = train(TrainConfig(**kw, cuda_graph=True, out_dir=str(tmp_path / "captured")))
    assert captured.history[-1]["train_images"] == 512  # 8 whole batches of 64
    assert captured.history[-1]["train_loss"] < captured.history[0]["train_loss"]
    assert captured.history[0]["train_loss"] == pytest.approx(eager.history[0]["train_loss"], abs=0.05)
    state = load_checkpoint(tmp_path / "captured" / "last.pt")
    assert not any(k.startswith("model.") for k in state["model"])  # the model is saved, not the capture's shell
    # every epoch was scored (on an eager copy of the model with the EMA's weights, beside the graphs)
    assert state["ema"] is not None and all(h["test_top1"] is not None for h in captured.history)
