"""Budgeted training: a run measured in minutes of wall clock instead of epochs.

A fixed number of epochs takes a different time on every machine (the shipped
Fashion-MNIST recipe runs 5x slower on an AVX2 EPYC than on a Zen4 one), and a
fixed-epoch schedule cut short by a deadline ends with a high learning rate. Li,
Yumer and Ramanan ("Budgeted training", ICLR 2020) show that decaying the
learning rate to 0 over whatever budget is given is the better use of a deadline;
here that budget is wall-clock time, so one command fills "90 minutes on this
machine" on any host: a fast one trains more epochs, a slow one fewer.
"""

from __future__ import annotations

import time
from typing import Any

import torch
import torch.distributed as dist

from shufflenet.train.distributed import DistEnv

__all__ = ["TimeBudget"]

_clock = time.perf_counter  # looked up at each reading, so tests can give the loop a clock of their own


class TimeBudget:
    """The clock of a budgeted run, and how far through its learning-rate decay it is.

    The budget covers the run from the start of training (data loading, evaluations
    and checkpoints included). The decay starts when warm-up ends and is aimed at the
    budget less ``reserve_s``, the longest evaluation so far (guessed from the training
    speed until one is timed), kept free for the final evaluation, so that the command
    ends within the budget. Under DDP every rank follows
    rank 0's reading, so all ranks take the same learning rate and stop at the same step.
    Not reproducible step for step: where the schedule stands depends on the machine's
    speed. A resumed run continues the clock from its last checkpoint (the time lost
    in the interrupted epoch is not counted).
    """

    def __init__(self, minutes: float, env: DistEnv) -> None:
        self.seconds = 60.0 * minutes
        self.env = env
        self.origin = _clock()
        self.decay_start_s: float | None = None
        self.eval_s: float | None = None  # the longest evaluation timed so far
        self.eval_guess_s = 0.0  # until one is timed: a guess from the training speed
        self.over = False  # the budget is spent: the run stops after the current step

    def restore(self, state: dict[str, Any]) -> None:
        """Continue the clock and decay of a checkpoint (this process's start-up time counts on top)."""
        self.origin -= state["spent_s"]
        self.decay_start_s, self.over = state["decay_start_s"], state["over"]
        self.eval_s, self.eval_guess_s = state["eval_s"], state["eval_guess_s"]

    @property
    def reserve_s(self) -> float:
        """Time kept free for the final evaluation."""
        return self.eval_s if self.eval_s is not None else self.eval_guess_s

    def elapsed(self) -> float:
        """Seconds since the run started."""
        return _clock() - self.origin

    def progress(self, warmed_up: bool = True) -> float:
        """Fraction of the learning-rate decay done: 0 during warm-up, >= 1 once the budget is spent.

        Rank 0's figure on every rank (a broadcast per call under DDP): clocks and
        evaluation times differ a little between processes.
        """
        frac = 0.0
        if warmed_up:
            now = self.elapsed()
            if self.decay_start_s is None:
                self.decay_start_s = now
            end = self.seconds - self.reserve_s
            frac = (now - self.decay_start_s) / max(1e-9, end - self.decay_start_s)
        if self.env.enabled:
            t = torch.tensor([frac], dtype=torch.float64, device=self.env.device)
            dist.broadcast(t, 0)
            frac = float(t.item())
        self.over = self.over or frac >= 1.0
        return frac

    def note_evaluation(self, seconds: float) -> None:
        """Keep time for the final evaluation: as long as the longest one so far."""
        self.eval_s = max(self.eval_s or 0.0, seconds)

    def guess_evaluation(self, images: int, train_images_per_s: float) -> None:
        """Before any evaluation is timed, guess one at half the training speed per image: a
        forward pass costs about a third of a training step, so the guess errs long."""
        self.eval_guess_s = images / (train_images_per_s / 2)

    def state(self) -> dict[str, Any]:
        """What a checkpoint keeps, so that a resumed run continues the same clock and decay."""
        return {"spent_s": self.elapsed(), "decay_start_s": self.decay_start_s, "eval_s": self.eval_s,
                "eval_guess_s": self.eval_guess_s, "over": self.over}  # fmt: skip
