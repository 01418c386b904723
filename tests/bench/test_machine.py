import os
from pathlib import Path

import pytest

from shufflenet.bench import machine
from shufflenet.utils import host

XEON = "model name\t: Intel(R) Xeon(R) Gold @ 2.00GHz\ncpu MHz\t\t: 1999.998\nflags\t\t: fpu sse avx2 fma avx512f amx_tile\n"


def test_compute_peak_from_vector_width_fma_units_and_clock(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(host, "read_cpuinfo", lambda: XEON)
    monkeypatch.setattr(machine, "sgemm_peak_gflops", lambda cores: 100.0)
    cores = min(2, os.cpu_count() or 1)
    peak = machine.compute_peak(2, cpufreq_max=tmp_path / "absent")
    assert machine.cpu_flags() == ["avx2", "fma", "avx512f", "amx_tile"]
    assert (peak.lanes, peak.fma_units, peak.clock_ghz, peak.cores) == (16, 2, 2.0, cores)
    assert peak.theoretical_gflops == pytest.approx(2 * 16 * 2 * 2.0 * cores)
    assert peak.gflops == peak.theoretical_gflops  # above the GEMM's rate: the bound is the arithmetic
    assert peak.floor_ms(peak.gflops * 1e6 / 2) == pytest.approx(1.0)
    # a virtual machine stating a base clock below its boost: the measured GEMM is the higher, and bounds it
    monkeypatch.setattr(machine, "sgemm_peak_gflops", lambda cores: 1000.0)
    assert machine.compute_peak(2, cpufreq_max=tmp_path / "absent").gflops == 1000.0
    (tmp_path / "max").write_text("3500000\n")  # cpufreq's maximum, in kHz, wins over the stated MHz
    assert machine.compute_peak(2, cpufreq_max=tmp_path / "max").clock_ghz == pytest.approx(3.5)


def test_sgemm_rate_is_the_faster_of_pytorch_and_onnx_runtime(monkeypatch: pytest.MonkeyPatch) -> None:
    # MKL runs its AVX2 path on AMD CPUs; ONNX Runtime's own kernels may be twice as fast: the floor takes the faster
    import numpy as np

    b = np.eye(64, dtype=np.float32)
    run = machine._ort_matmul(b, 1)
    assert run is not None
    x = np.random.default_rng(0).standard_normal((64, 64)).astype(np.float32)
    np.testing.assert_allclose(run(x)[0], x, rtol=1e-6)  # type: ignore[index]
    real = machine.sgemm_peak_gflops(1, size=256, seconds=0.05)
    monkeypatch.setattr(machine, "_ort_matmul", lambda b, threads: lambda x: None)  # an instant "GEMM"
    assert machine.sgemm_peak_gflops(1, size=256, seconds=0.05) > 10 * real


def test_onnx_target_follows_the_hosts_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    # ONNX Runtime's channel blocks: 16 floats with AVX-512, 8 with AVX2; an ARM core has neither
    for line, target in (("flags\t: fpu avx2 fma avx512f", "avx512"), ("flags\t: fpu avx avx2 fma", "avx2"),
                         ("Features\t: fp asimd", "portable")):  # fmt: skip
        monkeypatch.setattr(host, "read_cpuinfo", lambda line=line: line + "\n")
        assert machine.onnx_target() == target


def test_avx2_host_has_eight_lanes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(host, "read_cpuinfo", lambda: "cpu MHz\t: 2245.780\nflags\t: fpu avx avx2 fma\n")
    monkeypatch.setattr(machine, "sgemm_peak_gflops", lambda cores: 1.0)
    peak = machine.compute_peak(1, cpufreq_max=tmp_path / "absent")
    assert (peak.lanes, peak.clock_ghz) == (8, pytest.approx(2.24578))
    assert peak.theoretical_gflops == pytest.approx(2 * 8 * 2 * 2.24578)


def test_cpu_name_tells_hosts_apart_where_the_model_name_does_not() -> None:
    # a virtual machine says "AMD EPYC" on Zen 2 to Zen 5 alike: family and model tell them apart
    zen3 = "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 1\nmodel name\t: AMD EPYC\n"
    assert machine.cpu_name(zen3) == "AMD EPYC, family 25 model 1"
    assert machine.cpu_name(XEON) == "Intel(R) Xeon(R) Gold @ 2.00GHz"  # no numbers stated: the name alone
    # ARM Linux has no model name: lscpu names the core, and a board its own name
    pi = "processor\t: 0\nBogoMIPS\t: 108.00\nCPU implementer\t: 0x41\nCPU part\t: 0xd0b\n\nModel\t\t: Raspberry Pi 5 Model B Rev 1.0\n"
    lscpu = "Architecture:  aarch64\nVendor ID:     ARM\nModel name:    Cortex-A76\nModel:         1\n"
    assert machine.cpu_name(pi, lscpu) == "Raspberry Pi 5 Model B Rev 1.0, ARM Cortex-A76"
    graviton = "processor\t: 0\nCPU implementer\t: 0x41\nCPU part\t: 0xd40\n"
    assert machine.cpu_name(graviton, "Vendor ID: ARM\nModel name: Neoverse-V1\n") == "ARM Neoverse-V1"


def test_parallel_speedup_is_one_threads_best_time_over_n_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    """The ratio of the best times of the same chain, each timed under its own thread count. Timings are faked: a
    real one-against-one ratio swings with whatever else the host runs (0.45 beside a training run)."""
    from types import SimpleNamespace

    import torch

    seen: list[int] = []

    def fake_measure(fn, **kw) -> SimpleNamespace:
        fn()  # the chain itself runs
        seen.append(torch.get_num_threads())
        return SimpleNamespace(min_ms={1: 3.0, 2: 2.0}[torch.get_num_threads()])

    monkeypatch.setattr(machine, "measure", fake_measure)
    before = torch.get_num_threads()
    assert machine.parallel_speedup(2) == pytest.approx(1.5)
    assert seen == [1, 2] and torch.get_num_threads() == before  # each count set for its timing, then put back
