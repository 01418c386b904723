"""PyTorch's own distributed engine: the same command works alone or under ``torchrun``."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from shufflenet.utils.devices import torch_device

__all__ = ["DistEnv", "all_reduce_sum", "broadcast_state", "resolve_device", "setup_distributed"]


@dataclass(frozen=True)
class DistEnv:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def local_processes(self) -> int:
        """The run's processes on this machine (torchrun's LOCAL_WORLD_SIZE; else all of them): what share this
        machine's cores and memory."""
        return int(os.environ.get("LOCAL_WORLD_SIZE", self.world_size))


def resolve_device(device: str, local_rank: int = 0, world_size: int = 1) -> torch.device:
    """``auto`` is this process's GPU (``cuda:LOCAL_RANK``) when there is one, else the CPU; ``cuda:N`` one GPU of
    several for a single process."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise ValueError(f"unknown device {device!r}; choose auto, cpu, cuda or cuda:N")
    if device.startswith("cuda:") and world_size > 1:
        raise ValueError(f"--device {device}: under torchrun each process takes the GPU of its LOCAL_RANK; give "
                         "--device cuda (CUDA_VISIBLE_DEVICES picks which GPUs)")  # fmt: skip
    dev = torch_device(device)  # the one parser: no GPU, or an index past them, is named there
    if dev.type == "cuda":
        dev = torch.device("cuda", local_rank if dev.index is None else dev.index)
        torch.cuda.set_device(dev)
    return dev


def setup_distributed(device: str = "cpu") -> DistEnv:
    """Join the process group that ``torchrun`` describes: NCCL between GPUs, gloo on CPUs.

    Each process drives the GPU of its ``LOCAL_RANK`` (``device`` ``auto`` or ``cuda``).
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device, local, world)
    if world <= 1:
        return DistEnv(device=dev)
    env = DistEnv(int(os.environ["RANK"]), world, local, dev)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return env


def all_reduce_sum(values: list[float], env: DistEnv) -> list[float]:
    """Sum metrics over ranks (counts, summed losses); a no-op for one process."""
    if not env.enabled:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=env.device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.tolist()


def broadcast_state(model: torch.nn.Module, env: DistEnv) -> None:
    """Give every rank rank 0's weights and buffers (BN statistics drift apart per rank)."""
    if env.enabled:
        for t in model.state_dict().values():
            dist.broadcast(t, 0)
