"""PyTorch's own distributed engine: the same command works alone or under ``torchrun``."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

__all__ = ["DistEnv", "all_reduce_sum", "setup_distributed"]


@dataclass(frozen=True)
class DistEnv:
    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def setup_distributed() -> DistEnv:
    """Join the process group that ``torchrun`` describes.

    gloo, because the training loop runs on the CPU: NCCL would need the model
    and batches on each rank's GPU, which the loop does not do yet.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistEnv()
    env = DistEnv(int(os.environ["RANK"]), world)
    if not dist.is_initialized():
        dist.init_process_group("gloo")
    return env


def all_reduce_sum(values: list[float], env: DistEnv) -> list[float]:
    """Sum metrics over ranks (counts, summed losses); a no-op for one process."""
    if not env.enabled:
        return values
    t = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.tolist()
