"""A record of the machine a measurement was taken on (measurements mean nothing without it)."""

from __future__ import annotations

import os
import platform
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from shufflenet.bench.timing import measure
from shufflenet.runtimes import num_threads, ort_session
from shufflenet.utils import host
from shufflenet.utils.host import cpu_flags, cpu_name
from shufflenet.utils.optional import MissingExtra, require

__all__ = [
    "ComputePeak",
    "compute_peak",
    "cpu_flags",
    "cpu_name",
    "machine_info",
    "sgemm_peak_gflops",
]


@lru_cache(maxsize=1)
def machine_info() -> dict[str, object]:
    """CPU model, core count, GPU (if any) and library versions (None for ONNX Runtime if not installed)."""
    try:
        import onnxruntime

        ort_version: str | None = onnxruntime.__version__
    except ImportError:
        ort_version = None
    return {
        **host.host_facts(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "onnxruntime": ort_version,
        **_gpu_state(),
    }


def _gpu_state() -> dict[str, str | None]:
    """The GPU's driver and SM clocks now / at most (``nvidia-smi``), which a GPU figure depends on; None without."""
    keys = ("gpu_driver", "gpu_sm_clock_mhz", "gpu_sm_clock_max_mhz")
    if not torch.cuda.is_available():
        return dict.fromkeys(keys)
    out = host.output(["nvidia-smi", "--query-gpu=driver_version,clocks.sm,clocks.max.sm", "--format=csv,noheader,nounits",
                   "--id=0"])  # fmt: skip
    values = [v.strip() for v in out.strip().split(",")]
    return dict(zip(keys, values)) if len(values) == len(keys) else dict.fromkeys(keys)


def sgemm_peak_gflops(threads: int | None = None, size: int = 1024, seconds: float = 1.0) -> float:
    """This CPU's float32 matrix-multiply rate (GFLOP/s, 2 per multiply-add): the faster of PyTorch's
    (oneDNN/MKL) and, where installed, ONNX Runtime's own kernels. MKL takes its AVX2 path on AMD CPUs: on
    a 2-core AVX-512 Zen 5 PyTorch reached 205-211 GFLOP/s and ONNX Runtime 464-499.

    The compute floor of a network is its multiply-adds at this rate: no
    runtime can do better, so ``latency / floor`` says how much is left to win.
    """
    a, b = torch.randn(size, size), torch.randn(size, size)
    calls: list[Callable[[], object]] = [lambda: torch.mm(a, b)]
    ort_mm = _ort_matmul(b.numpy(), threads)
    if ort_mm is not None:
        x = a.numpy()
        calls.append(lambda: ort_mm(x))
    with num_threads(threads):  # the fastest call of each: the peak
        best_ms = min(measure(call, min_time_s=seconds / len(calls)).min_ms for call in calls)
    return 2 * size**3 / best_ms / 1e6


def parallel_speedup(threads: int = 2, reps: int = 10) -> float:
    """How much faster ``threads`` threads run a cache-resident chain of elementwise ops than one: a few ms that
    say whether this host's cores work together at full speed right now.

    Cloud VMs switch between regimes within minutes: on a 2-vCPU Zen 5 this chain ran 1.7-1.9x faster on two
    threads in one and 1.4-1.6x in the other, where every 2-thread runtime slowed ~1.7x (V2 1x: 1.27 -> 2.11 ms
    in ONNX Runtime) and ours' lead over torchvision's graph grew (1.28x -> 1.39x), while one thread ran as fast
    as ever (``docs/measuring.md``).
    """
    x = torch.randn(64, 56, 56)

    def best_ms(n: int) -> float:
        with num_threads(n):
            chain = measure(lambda: [torch.relu(x) for _ in range(10)], warmup=2, warmup_s=0, min_iters=reps,
                            min_time_s=0)  # fmt: skip
            return chain.min_ms

    return best_ms(1) / best_ms(threads)


def _ort_matmul(b: np.ndarray, threads: int | None) -> Callable[[np.ndarray], object] | None:
    """``x @ b`` (``x`` square) in an ONNX Runtime session; None where onnx or onnxruntime is not installed."""
    try:
        onnx = require("onnx", "onnx")
        helper = onnx.helper
        n, m = b.shape
        graph = helper.make_graph(
            [helper.make_node("MatMul", ["x", "b"], ["y"])],
            "sgemm",
            [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [n, n])],
            [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [n, m])],
            [onnx.numpy_helper.from_array(b, "b")],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
        run = ort_session(model.SerializeToString(), threads, torch.device("cpu")).run
    except MissingExtra:
        return None
    return lambda x: run(None, {"x": x})


def onnx_target() -> str:
    """The export target whose channel blocks are ONNX Runtime's on this CPU (``avx512``, ``avx2``, else
    ``portable``): for an ONNX file made and run on this host only (a benchmark, an evaluation), where the
    fastest file for its class is the right one, never for a file a user keeps (that names its target)."""
    flags = cpu_flags()
    return "avx512" if "avx512f" in flags else "avx2" if "avx2" in flags else "portable"


_CPUFREQ_MAX = Path("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")


def _clock_ghz(text: str, cpufreq_max: Path = _CPUFREQ_MAX) -> float | None:
    """The highest clock this host states: cpufreq's maximum, the per-core MHz of ``text``
    (/proc/cpuinfo), or the model name's GHz."""
    found = []
    try:
        found.append(int(cpufreq_max.read_text()) / 1e6)
    except (OSError, ValueError):
        pass
    found += [float(m) / 1e3 for m in re.findall(r"^cpu MHz\s*:\s*([\d.]+)", text, re.M)]
    found += [float(m) for m in re.findall(r"@\s*([\d.]+)\s*GHz", text)]
    return max(found) if found else None


@dataclass(frozen=True)
class ComputePeak:
    """This CPU's float32 peak, from its vector width, FMA units and clock, beside a tuned GEMM's rate.

    ``gflops`` is the larger of the two: a virtual machine often states its base clock, below what
    the cores boost to, and then the GEMM runs above the "peak". A compute floor from ``gflops`` is
    what no runtime can beat, so ``latency / floor`` >= 1 and says how much is left to win."""

    lanes: int  # float32 lanes of the widest FMA vector (16 with AVX-512, 8 with AVX2)
    fma_units: int  # FMA pipes per core assumed (2 on the x86 cores of today: an upper bound)
    clock_ghz: float | None
    cores: int
    theoretical_gflops: float | None  # 2 flops x lanes x fma_units x clock x cores
    sgemm_gflops: float  # a 1024^3 float32 matrix product, the fastest call of PyTorch's and ONNX Runtime's

    @property
    def gflops(self) -> float:
        return max(self.theoretical_gflops or 0.0, self.sgemm_gflops)

    def floor_ms(self, multiply_adds: float) -> float:
        """The time ``multiply_adds`` take at the peak (2 flops each)."""
        return 2 * multiply_adds / self.gflops / 1e6


def compute_peak(threads: int | None = None, cpufreq_max: Path = _CPUFREQ_MAX) -> ComputePeak:
    """The float32 peak of ``threads`` cores of this CPU (default: PyTorch's thread count)."""
    flags = cpu_flags()
    lanes = 16 if "avx512f" in flags else 8 if "avx2" in flags else 4
    fma_units = 2  # an upper bound for x86 cores of today, so the floor stays a floor
    cores = min(threads or torch.get_num_threads(), os.cpu_count() or 1)
    clock = _clock_ghz(host.read_cpuinfo(), cpufreq_max)
    theoretical = 2 * lanes * fma_units * clock * cores if clock else None
    return ComputePeak(lanes, fma_units, clock, cores, theoretical, sgemm_peak_gflops(cores))
