"""A record of the machine a measurement was taken on (measurements mean nothing without it)."""

from __future__ import annotations

import os
import platform
from functools import lru_cache

import torch

__all__ = ["machine_info", "sgemm_peak_gflops"]


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@lru_cache(maxsize=1)
def machine_info() -> dict[str, object]:
    """CPU model, core count, GPU (if any) and library versions."""
    import onnxruntime

    info: dict[str, object] = {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    return info


def sgemm_peak_gflops(threads: int | None = None, size: int = 1024, seconds: float = 1.0) -> float:
    """This CPU's float32 matrix-multiply rate (GFLOP/s, 2 per multiply-add).

    The compute floor of a network is its multiply-adds at this rate: no
    runtime can do better, so ``latency / floor`` says how much is left to win.
    """
    from shufflenet.bench.engine import num_threads
    from shufflenet.bench.timing import measure

    a, b = torch.randn(size, size), torch.randn(size, size)
    with num_threads(threads):
        best_ms = measure(lambda: torch.mm(a, b), min_time_s=seconds).min_ms  # the fastest call: the peak
    return 2 * size**3 / best_ms / 1e6
