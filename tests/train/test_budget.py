import subprocess
import sys
from pathlib import Path

import pytest

from shufflenet.train import TrainConfig, load_checkpoint, resume_training, train
from shufflenet.train import budget as budget_module
from shufflenet.train.budget import TimeBudget
from shufflenet.train.distributed import DistEnv


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """A clock the test moves by hand: ``clock[0]`` is the time in seconds."""
    now = [0.0]
    monkeypatch.setattr(budget_module, "_clock", lambda: now[0])
    return now


def test_decay_starts_after_warmup_and_aims_before_the_final_evaluation(clock: list[float]) -> None:
    b = TimeBudget(1.0, DistEnv())  # 60 s
    clock[0] = 5.0
    assert b.progress(warmed_up=False) == 0.0 and b.decay_start_s is None
    clock[0] = 10.0
    assert b.progress() == 0.0 and b.decay_start_s == 10.0  # warm-up ended here
    b.guess_evaluation(1000, 500.0)  # no evaluation timed yet: 1000 images at half of 500 images/s
    assert b.reserve_s == pytest.approx(4.0)
    b.note_evaluation(10.0)
    b.note_evaluation(4.0)  # the longest evaluation is kept free: the decay now ends at 50 s
    clock[0] = 30.0
    assert b.progress() == pytest.approx(0.5) and not b.over
    clock[0] = 50.0
    assert b.progress() == pytest.approx(1.0) and b.over
    state = b.state()
    clock[0] = 1000.0  # a new process resumes: the clock goes on from the checkpoint's 50 s
    resumed = TimeBudget(1.0, DistEnv())
    resumed.restore(state)
    assert resumed.elapsed() == pytest.approx(50.0) and resumed.over and resumed.reserve_s == 10.0


def test_budgeted_run_decays_the_lr_to_zero_and_stops_mid_epoch(
    fake_fmnist: Path, tmp_path: Path, clock: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    # the loop guesses the final evaluation's time from real seconds, which would mix with this clock
    monkeypatch.setattr(TimeBudget, "guess_evaluation", lambda *args: None)

    def one_second_per_step(event: dict) -> None:
        if event["event"] == "step":
            assert event["epochs"] is None and event["budget_left_s"] == pytest.approx(20.0 - clock[0])
            clock[0] += 1.0

    # 256 images in batches of 64: 4 steps an epoch; 20 s at 1 s a step is 5 epochs, then one step at lr 0
    cfg = TrainConfig(model="shufflenet_v2_x0_5", data_dir=str(fake_fmnist), train_subset=256, batch_size=64, lr=2.0,
                      threads=1, time_budget=20 / 60, epochs=2, eval_every=100, out_dir=str(tmp_path / "run"))  # fmt: skip
    result = train(cfg, progress=one_second_per_step)
    lrs = [h["lr"] for h in result.history]
    assert len(result.history) == 6  # `epochs` is ignored: the clock decides
    assert result.history[-1]["train_images"] == 64 and lrs[-1] == 0.0
    assert lrs[-2] == pytest.approx(2.0 * 64 / 1024 * (1 - 19 / 20))  # linear decay over the 20 s
    assert [h["test_top1"] is not None for h in result.history] == [False] * 5 + [True]  # the final evaluation
    assert [h["elapsed_s"] for h in result.history] == [4.0, 8.0, 12.0, 16.0, 20.0, 21.0]
    state = load_checkpoint(tmp_path / "run" / "last.pt")
    assert state["budget"]["over"] and state["config"]["time_budget"] == pytest.approx(20 / 60)
    again = resume_training(str(tmp_path / "run" / "last.pt"))  # a finished budget trains no further
    assert again.history == result.history


def test_bad_budgets_are_clear_errors() -> None:
    with pytest.raises(ValueError, match=r"time_budget \(--time-budget\) must be >= 0"):
        TrainConfig(time_budget=-1)
    with pytest.raises(ValueError, match="progressive resizing follows the epochs"):
        TrainConfig(time_budget=5, min_train_size=20)


@pytest.mark.slow
def test_torchrun_ranks_stop_at_the_same_step(fake_fmnist: Path, tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "shufflenet.cli.main", "train", "--model", "shufflenet_v2_x0_5", "--data-dir", str(fake_fmnist),
           "--time-budget", "10s", "--batch-size", "32", "--threads", "1", "--eval-every", "100",
           "--out", str(out)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]  # the run checks that both ranks end with equal weights
    history = load_checkpoint(out / "last.pt")["history"]
    assert history[-1]["lr"] == 0.0 and history[-1]["test_top1"] is not None
    assert history[-1]["elapsed_s"] < 10 + 30  # ends near the budget (generous: a loaded 2-core machine)
