import json
import subprocess
import sys
import warnings
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
import torch

import shufflenet
from shufflenet.train import (
    TrainConfig,
    evaluate,
    load_checkpoint,
    lr_at,
    model_from_checkpoint,
    resume_training,
    train,
    train_size_at,
)
from shufflenet.train.checkpoint import save_checkpoint
from shufflenet.utils import host


def _cfg(data: Path, out: Path, **kw) -> TrainConfig:
    base = dict(model="shufflenet_v2_x0_5", data_dir=str(data), epochs=2, batch_size=64, lr=2.0,
                warmup_epochs=0.5, threads=1, out_dir=str(out))  # fmt: skip
    return TrainConfig(**{**base, **kw})


def test_lr_schedules() -> None:
    assert lr_at(0, 100, 10, "linear", 1.0) == pytest.approx(0.1)
    assert lr_at(10, 100, 10, "linear", 1.0) == pytest.approx(1.0)
    assert lr_at(100, 100, 10, "linear", 1.0) == 0.0
    assert lr_at(55, 100, 10, "cosine", 1.0) == pytest.approx(0.5)
    peak = max(lr_at(s, 100, 0, "onecycle", 1.0) for s in range(100))
    assert peak == pytest.approx(1.0, abs=0.01) and lr_at(0, 100, 0, "onecycle", 1.0) < 0.1
    with pytest.raises(ValueError, match="schedule .--schedule. must be one of linear, cosine, onecycle"):
        TrainConfig(schedule="step")


def test_img_size_keeps_its_old_name_for_one_release() -> None:
    """The image side was ``input_size`` (a name timm gives the (C, H, W) triple): old checkpoints
    load silently, an old keyword works with a note."""
    old = {**TrainConfig(dataset="imagefolder", img_size=64).to_dict(), "input_size": 96}
    del old["img_size"]
    assert TrainConfig.from_dict(old).img_size == 96
    with pytest.warns(FutureWarning, match="input_size= is now img_size="):
        assert TrainConfig(dataset="imagefolder", input_size=48).img_size == 48
    with pytest.raises(TypeError, match="got both input_size= and img_size="):
        TrainConfig(dataset="imagefolder", input_size=48, img_size=48)


def test_progressive_resizing_schedule() -> None:
    sizes = [train_size_at(e, 28, 28, 20, 0.7) for e in range(28)]
    assert [sizes.count(s) for s in (20, 24, 28)] == [10, 9, 9]
    assert sizes == sorted(sizes) and sizes[0] == 20 and sizes[-1] == 28
    assert {train_size_at(e, 10, 28, 0, 0.7) for e in range(10)} == {28}  # off
    assert train_size_at(0, 10, 28, 32, 0.7) == 28  # never larger than the native side
    assert train_size_at(0, 10, 30, 22, 1.0) == 22 and train_size_at(9, 10, 30, 22, 1.0) == 28
    with pytest.raises(ValueError, match=r"min_train_size \(--min-train-size\) must be 0 \(off\) or >= 4"):
        TrainConfig(min_train_size=2)
    with pytest.raises(ValueError, match=r"resize_ramp \(--resize-ramp\) must be > 0"):
        TrainConfig(resize_ramp=0)


def test_progressive_resizing_trains_on_smaller_images(
    fake_fmnist: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shufflenet.train import loop

    seen: list[int] = []
    real = loop.create_from_arch

    def spy(*args, **kw):  # type: ignore[no-untyped-def]
        model = real(*args, **kw)
        model.register_forward_pre_hook(lambda m, inp: seen.append(inp[0].shape[-1]) if m.training else None)
        return model

    monkeypatch.setattr(loop, "create_from_arch", spy)
    result = train(_cfg(fake_fmnist, tmp_path / "run", epochs=3, batch_size=128, train_subset=256,
                        min_train_size=16, resize_ramp=1.0))  # fmt: skip
    assert [h["train_size"] for h in result.history] == [16, 20, 28]
    assert seen == [16, 16, 20, 20, 28, 28]
    assert result.history[-1]["test_top1"] is not None  # scored at the native side


def test_training_decreases_loss_and_writes_logs(fake_fmnist: Path, tmp_path: Path) -> None:
    # the class is the row of a bar: no random crop, which would move it to another class's row
    result = train(_cfg(fake_fmnist, tmp_path / "run", epochs=3, batch_size=32, crop_padding=0))
    losses = [h["train_loss"] for h in result.history]
    assert losses[-1] < losses[0]
    assert result.last["test_top1"] > 0.3  # the bars are easy: well above chance (0.1)
    assert {p.name for p in (tmp_path / "run").iterdir()} >= {"last.pt", "best.pt", "history.csv", "history.json"}
    model = model_from_checkpoint(load_checkpoint(tmp_path / "run" / "last.pt"))
    assert model.pretrained_cfg["input_size"] == [1, 28, 28] and len(model.pretrained_cfg["class_names"]) == 10


def test_progress_reads_the_running_loss_at_most_every_report_s(
    fake_fmnist: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # each reading waits for the device (a GPU's queue runs dry): within REPORT_S the report repeats the last one,
    # and the epoch's record still sums every step
    from shufflenet.train import loop

    monkeypatch.setattr(loop, "REPORT_S", 1e9)
    steps: list[dict] = []
    result = train(_cfg(fake_fmnist, tmp_path / "run", epochs=2, batch_size=32, train_subset=128),
                   progress=lambda e: steps.append(e) if e["event"] == "step" else None)  # fmt: skip
    for epoch, record in enumerate(result.history):
        shown = {(e["loss"], e["acc"]) for e in steps if e["epoch"] == epoch}
        assert len(shown) == 1 and [e["step"] for e in steps if e["epoch"] == epoch] == [1, 2, 3, 4]
        assert next(iter(shown))[0] != record["train_loss"]  # the first step's loss, not the epoch's mean


@pytest.mark.slow  # 17 s where bfloat16 is emulated (CPUs without AVX-512 BF16/AMX): CI's slow set
def test_bfloat16_mixed_precision_trains_float32_weights(
    fake_fmnist: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(host, "cpu_native", lambda precision: True)  # emulated where it is not: slower, same math
    result = train(_cfg(fake_fmnist, tmp_path / "run", epochs=2, batch_size=32, crop_padding=0, precision="bfloat16",
                        channels_last=True, train_subset=512))  # fmt: skip
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    state = load_checkpoint(tmp_path / "run" / "last.pt")
    assert all(v.dtype == torch.float32 for k, v in state["model"].items() if "num_batches" not in k)
    with pytest.raises(
        ValueError, match=r"precision \(--precision\) must be one of float32, bfloat16, float16, auto, got 'fp8'"
    ):
        TrainConfig(precision="fp8")


@pytest.mark.slow  # float16 is emulated on CPUs without AVX-512 FP16/AMX-FP16 (most): CI's slow set
def test_float16_trains_with_the_loss_scaled_and_resumes_exactly(
    fake_fmnist: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A GPU before Ampere's precision (--precision auto there), its arithmetic run on the CPU: autocast to float16,
    the loss scaled by torch.amp.GradScaler, whose scale a checkpoint keeps so that a resumed run repeats it."""
    monkeypatch.setattr(host, "cpu_native", lambda precision: True)  # emulated where it is not native: same math
    options = dict(epochs=2, batch_size=32, train_subset=128, precision="float16", grad_clip=5.0)
    straight = train(_cfg(fake_fmnist, tmp_path / "straight", **options))
    assert straight.history[-1]["train_loss"] < straight.history[0]["train_loss"]

    def interrupt(event: dict) -> None:
        if event["event"] == "step" and event["epoch"] == 1 and event["step"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(_cfg(fake_fmnist, tmp_path / "cut", **options), progress=interrupt)
    resume_training(str(tmp_path / "cut" / "last.pt"))
    want, got = (load_checkpoint(tmp_path / run / "last.pt") for run in ("straight", "cut"))
    assert want["scaler"]["scale"] > 0 and got["scaler"] == want["scaler"]
    for key, value in want["model"].items():
        assert value.dtype != torch.float16 and torch.equal(got["model"][key], value), key


@pytest.mark.parametrize(("precision", "units"), [("float16", "AVX-512 FP16 or AMX-FP16"),
                                                ("bfloat16", "AVX-512 BF16 or AMX")])  # fmt: skip
def test_a_precision_the_cpu_would_emulate_is_a_clear_error(
    fake_fmnist: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, precision: str, units: str
) -> None:
    monkeypatch.setattr(host, "cpu_native", lambda p: False)
    with pytest.raises(ValueError, match=rf"^{precision} on this CPU \(it has no {units} instructions\) is emulated by "
                       r"PyTorch, slower than float32: train with --precision float32 \(or auto\)$"):  # fmt: skip
        train(_cfg(fake_fmnist, tmp_path / "run", precision=precision, device="cpu"))
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("native", [True, False])
def test_auto_precision_is_bfloat16_only_where_native(
    fake_fmnist: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, native: bool
) -> None:
    monkeypatch.setattr(host, "cpu_native", lambda p: native)
    train(_cfg(fake_fmnist, tmp_path / "run", epochs=1, precision="auto", device="cpu", train_subset=64))
    # the checkpoint records what ran, so that a resume on another CPU repeats it
    assert load_checkpoint(tmp_path / "run" / "last.pt")["config"]["precision"] == ("bfloat16" if native else "float32")


def test_eval_every_scores_only_those_epochs_and_the_last(fake_fmnist: Path, tmp_path: Path) -> None:
    result = train(_cfg(fake_fmnist, tmp_path / "run", epochs=3, eval_every=2, train_subset=256))
    assert [h["test_top1"] is not None for h in result.history] == [False, True, True]
    assert result.best_top1 == max(h["test_top1"] for h in result.history[1:])
    csv_rows = (tmp_path / "run" / "history.csv").read_text().splitlines()
    assert csv_rows[1].split(",")[list(result.history[0]).index("test_top1")] == ""  # unscored epochs: empty cells
    with pytest.raises(ValueError, match="eval_every"):
        TrainConfig(eval_every=0)
    with pytest.raises(ValueError, match=r"cutmix \(--cutmix\) must be <= 1"):
        TrainConfig(cutmix=1.5)


def test_a_warm_up_as_long_as_the_run_is_noted_once_when_it_starts(fake_fmnist: Path, tmp_path: Path) -> None:
    cfg = _cfg(fake_fmnist, tmp_path / "run", epochs=1, warmup_epochs=1, train_subset=128)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        replace(cfg, lr=1.0)  # a config, built or rebuilt as a run resolves it, says nothing
        assert not caught
        train(cfg)
    notes = [str(w.message) for w in caught if "warm-up" in str(w.message)]
    assert notes == ["--warmup-epochs 1 spans the whole run (--epochs 1): the learning rate never leaves its warm-up"]


def test_resume_after_interruption_gives_the_same_weights(
    fake_fmnist: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shufflenet.predict import describe
    from shufflenet.train import loop
    from shufflenet.train.checkpoint import ship_checkpoint
    from shufflenet.utils.host import describe_host

    options = dict(epochs=2, ema_decay=0.9, random_erasing=0.5, cutmix=0.5)
    train(_cfg(fake_fmnist, tmp_path / "straight", **options))

    def interrupt(event: dict) -> None:  # Ctrl-C early in epoch 2
        if event["event"] == "step" and event["epoch"] == 1 and event["step"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(_cfg(fake_fmnist, tmp_path / "cut", **options), progress=interrupt)
    assert load_checkpoint(tmp_path / "cut" / "last.pt")["epoch"] == 1
    monkeypatch.setattr(loop, "describe_host", lambda: "another host")  # resumed on another machine
    resumed = resume_training(str(tmp_path / "cut" / "last.pt"))
    straight = load_checkpoint(tmp_path / "straight" / "last.pt")
    after = load_checkpoint(tmp_path / "cut" / "last.pt")
    for part in ("model", "ema"):
        for key, value in straight[part].items():
            assert torch.equal(after[part][key], value), (part, key)
    assert [h["train_loss"] for h in resumed.history] == [h["train_loss"] for h in straight["history"]]
    # the checkpoint, the shipped record and `shufflenet info` say where the epochs ran
    here = describe_host()
    assert straight["hosts"] == [{"from_epoch": 1, "host": here}]
    assert after["hosts"] == [{"from_epoch": 1, "host": here}, {"from_epoch": 2, "host": "another host"}]
    records = {}
    for run in ("straight", "cut"):
        ship_checkpoint(tmp_path / run / "last.pt", "t", tmp_path / f"ship-{run}")
        records[run] = json.loads(next((tmp_path / f"ship-{run}").glob("*.json")).read_text())["machine"]
    assert records == {"straight": here, "cut": f"epochs 1-1: {here}; epochs 2-2: another host"}
    assert describe(str(tmp_path / "cut" / "last.pt"))["trained on"] == records["cut"]


def test_crash_mid_save_keeps_previous_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "last.pt"
    save_checkpoint({"epoch": 1}, path)
    before = path.read_bytes()

    def boom(obj, f, *a, **k):
        Path(f).write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint({"epoch": 2}, path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_bad_checkpoints(tmp_path: Path, fake_fmnist: Path) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        load_checkpoint(bad)
    torch.save({"format": "shufflenet-checkpoint/1", "model": {"w": print}}, bad)  # a function: pickled code
    with pytest.raises(ValueError, match=r"holds pickled code or objects \((__builtin__|builtins)\.print\)"):
        load_checkpoint(bad)
    train(_cfg(fake_fmnist, tmp_path / "run", epochs=1))
    state = load_checkpoint(tmp_path / "run" / "last.pt")
    state["arch"]["model"] = "shufflenet_v2_x1_0"
    with pytest.raises(ValueError, match="checkpoint for shufflenet_v2_x1_0 does not fit"):
        model_from_checkpoint(state)
    with pytest.raises(ValueError, match="is a checkpoint for shufflenet_v2_x0_5, not mobilenet_v2_x0_5"):
        train(
            _cfg(fake_fmnist, tmp_path / "other", model="mobilenet_v2_x0_5"), resume=str(tmp_path / "run" / "last.pt")
        )


@pytest.mark.slow
def test_torchrun_two_processes(fake_fmnist: Path, tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "shufflenet.cli.main", "train", "--model", "shufflenet_v2_x0_5", "--data-dir", str(fake_fmnist),
           "--epochs", "1", "--batch-size", "32", "--threads", "1", "--channels-last", "--out", str(out)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Grad strides do not match bucket view strides" not in proc.stderr  # gradients land in DDP's buckets as is
    state = load_checkpoint(out / "last.pt")  # the run checks that both ranks end with equal weights
    assert state["epoch"] == 1 and state["history"][0]["train_images"] == 512  # both shards counted
    assert (proc.stdout + proc.stderr).count("epoch 1 (28px): train loss") == 1  # only rank 0 reports
    # each rank scored half of the test set; reduced, that is the whole set scored in one process
    from shufflenet.data import load_fashion_mnist

    test = load_fashion_mnist(fake_fmnist, train=False)
    whole = evaluate(model_from_checkpoint(state), test.batches(state["data"]["mean"], state["data"]["std"]), 10)
    assert whole.top1 == pytest.approx(state["history"][0]["test_top1"], abs=1e-9)


@pytest.mark.gpu
def test_torchrun_on_a_gpu_trains_over_nccl(fake_fmnist: Path, tmp_path: Path) -> None:
    """The GPU path under torchrun: one process per GPU, NCCL's process group, autocast and channels-last."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "1",
           "-m", "shufflenet.cli.main", "train", "--model", "shufflenet_v2_x0_5", "--data-dir", str(fake_fmnist),
           "--device", "cuda", "--precision", "auto", "--channels-last", "--epochs", "1", "--batch-size", "64",
           "--out", str(tmp_path / "ddp")]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    state = load_checkpoint(tmp_path / "ddp" / "last.pt")
    assert state["epoch"] == 1 and state["history"][0]["train_images"] == 512
    assert state["config"]["precision"] in ("bfloat16", "float16", "float32")  # resolved and recorded


def test_device_choice() -> None:
    from shufflenet.train.distributed import resolve_device

    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="sees no GPU"):
            resolve_device("cuda")
        with pytest.raises(ValueError, match="sees no GPU"):
            resolve_device("cuda:1")
    with pytest.raises(ValueError, match="under torchrun each process takes the GPU of its LOCAL_RANK"):
        resolve_device("cuda:1", local_rank=0, world_size=2)
    with pytest.raises(ValueError, match="PyTorch sees .* GPU"):
        resolve_device(f"cuda:{max(1, torch.cuda.device_count())}")


@pytest.mark.gpu
def test_training_on_a_gpu(fake_fmnist: Path, tmp_path: Path) -> None:
    result = train(_cfg(fake_fmnist, tmp_path / "gpu", device="cuda"))
    assert result.last["train_images"] == 512 and (tmp_path / "gpu" / "last.pt").is_file()


@pytest.mark.slow  # the compilation of a forward and backward pass takes a while on two CPU cores
def test_a_compiled_training_step_learns_like_the_eager_one(fake_fmnist: Path, tmp_path: Path) -> None:
    # the family compiled at another shape first, as a bench in the same process does: dynamo then made the step's
    # sizes symbolic, and inductor failed on them (torch 2.14)
    torch._dynamo.reset()
    seen = shufflenet.create_model("shufflenet_v2_x0_5", num_classes=10, in_chans=1, stage_repeats=[1, 1, 1]).eval()
    torch.compile(seen, dynamic=False)(torch.randn(3, 1, 40, 40))
    kw = dict(epochs=2, batch_size=32, crop_padding=0, seed=1)
    first: dict[str, float] = {}

    def first_step(run: str) -> Callable[[dict], None]:
        return lambda e: first.setdefault(run, e["loss"]) if e["event"] == "step" else None

    train(_cfg(fake_fmnist, tmp_path / "eager", **kw), progress=first_step("eager"))
    compiled = train(_cfg(fake_fmnist, tmp_path / "compiled", compile="default", **kw), progress=first_step("compiled"))
    # the same weights and batch give the same loss; the epochs' means are not compared: at this learning rate on
    # random images the runs' rounding differences grow within an epoch (epoch 1: 2.886 vs 3.073 on an Intel Xeon)
    assert first["compiled"] == pytest.approx(first["eager"], rel=1e-4)
    assert compiled.history[-1]["train_loss"] < compiled.history[0]["train_loss"]
    state = load_checkpoint(tmp_path / "compiled" / "last.pt")
    assert all(not k.startswith("_orig_mod") for k in state["model"])  # the plain model is saved, not the wrapper
    assert model_from_checkpoint(state) is not None


def test_flip_tta_scores_the_mean_probabilities_of_an_image_and_its_mirror() -> None:
    x = torch.zeros(4, 1, 2, 2)
    x[..., 0] = 1.0  # bright on the left
    y = torch.ones(4, dtype=torch.long)

    def model(t: torch.Tensor) -> torch.Tensor:  # class 0 scores the left column, class 1 thrice the right one
        return torch.stack([t[..., 0].mean((1, 2)), 3 * t[..., 1].mean((1, 2))], 1)

    plain = evaluate(model, [(x, y)], 2)
    tta = evaluate(model, [(x, y)], 2, flip_tta=True)
    assert plain.top1 == 0.0 and tta.top1 == 1.0  # p(1) = 0.27 alone, (0.27 + 0.95) / 2 = 0.61 with the mirror
    p1 = (torch.tensor([1.0, 0.0]).softmax(0)[1] + torch.tensor([0.0, 3.0]).softmax(0)[1]) / 2
    assert tta.loss == pytest.approx(-p1.log().item(), rel=1e-6)


def test_ddp_is_freed_before_the_process_group_is_destroyed(
    fake_fmnist: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DDP's module sits in a reference cycle; if the process group is destroyed while it lives, its teardown
    is left to interpreter exit, where a gloo thread still holding a tensor aborts the process (SIGABRT)."""
    import gc
    import socket

    import torch.distributed as dist

    from shufflenet.train import loop
    from shufflenet.train.distributed import DistEnv

    def one_process_group(device: str) -> DistEnv:  # a real gloo group of one process; DDP wraps the model
        monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
        with socket.socket() as s:  # a port no other test (an xdist worker beside this one) holds
            s.bind(("127.0.0.1", 0))
            monkeypatch.setenv("MASTER_PORT", str(s.getsockname()[1]))
        dist.init_process_group("gloo", rank=0, world_size=1)
        return DistEnv(rank=0, world_size=2, local_rank=0, device=torch.device("cpu"))

    alive_at_destroy: list[bool] = []
    destroy = dist.destroy_process_group

    def checked_destroy() -> None:
        # type(), not isinstance(): isinstance reads each object's __class__, and torch's deprecated reduce_op warns then
        alive_at_destroy.append(any(type(o) is torch.nn.parallel.DistributedDataParallel for o in gc.get_objects()))
        destroy()

    monkeypatch.setattr(loop, "setup_distributed", one_process_group)
    monkeypatch.setattr(dist, "destroy_process_group", checked_destroy)
    gc.disable()  # only the loop's own collection may free the cycle
    try:
        loop.train(_cfg(fake_fmnist, tmp_path / "run", epochs=1, train_subset=128))
    finally:
        gc.enable()
    assert alive_at_destroy == [False] and not dist.is_initialized()


@pytest.mark.slow
def test_two_runs_on_one_out_and_a_killed_owner(fake_fmnist: Path, tmp_path: Path, capsys) -> None:
    """Issue #33's acceptance: the second run on an --out fails at start naming the first's pid; after
    ``kill -9`` of the first, the stale lock is detected and a run starts there (with --overwrite, as the
    directory holds the killed run's checkpoint)."""
    import signal
    import time

    from shufflenet.cli.main import main

    out = tmp_path / "run"
    args = ["train", "--model", "shufflenet_v2_x0_5", "--data-dir", str(fake_fmnist), "--batch-size", "32",
            "--threads", "1", "--out", str(out)]  # fmt: skip
    first = subprocess.Popen([sys.executable, "-m", "shufflenet.cli.main", *args, "--epochs", "200"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not (out / "last.pt").exists():  # the first epoch is checkpointed: a run to resume
            assert first.poll() is None and time.monotonic() < deadline, "the first run did not get going"
            time.sleep(0.2)
        assert main([*args, "--epochs", "2"]) == 2
        assert f"is in use by a run with pid {first.pid}" in capsys.readouterr().err
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    assert (out / ".lock").exists()  # what kill -9 leaves
    with pytest.warns(UserWarning, match=f"removed the stale lock of pid {first.pid}"):
        assert main([*args, "--epochs", "1"]) == 2  # the lock is stale, but the directory holds that run
    assert "holds another run" in capsys.readouterr().err
    assert main([*args, "--epochs", "1", "--overwrite"]) == 0
    assert load_checkpoint(out / "last.pt")["config"]["epochs"] == 1 and not (out / ".lock").exists()
