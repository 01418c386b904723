"""Measured speed on this machine: the direct metric."""

from shufflenet.bench.engine import BenchResult, BenchSuite, benchmark, benchmark_many, speedups_over_torchvision
from shufflenet.bench.machine import machine_info
from shufflenet.bench.runtimes import RUNTIMES, get_runtime
from shufflenet.bench.timing import LatencyStats, measure, race, round_ratio, round_ratios

__all__ = [
    "RUNTIMES",
    "BenchResult",
    "BenchSuite",
    "LatencyStats",
    "benchmark",
    "benchmark_many",
    "get_runtime",
    "machine_info",
    "measure",
    "race",
    "round_ratio",
    "round_ratios",
    "speedups_over_torchvision",
]
