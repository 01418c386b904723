import time

import pytest

from shufflenet.bench import LatencyStats, measure
from shufflenet.bench.timing import percentile


def test_percentile_interpolates() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([5.0], 90) == 5.0
    with pytest.raises(ValueError):
        percentile([], 10)


def test_stats_are_ordered_and_robust_to_one_outlier() -> None:
    stats = LatencyStats.from_samples([0.010] * 19 + [1.0])
    assert stats.min_ms <= stats.p10_ms <= stats.median_ms <= stats.p90_ms
    assert stats.median_ms == pytest.approx(10.0) and stats.iterations == 20


def test_measure_sleeps() -> None:
    stats = measure(lambda: time.sleep(0.002), warmup=1, min_iters=5, min_time_s=0.02)
    assert stats.iterations >= 5 and not stats.truncated
    assert 2.0 <= stats.median_ms < 50.0


def test_measure_stops_at_max_time_with_partial_results() -> None:
    stats = measure(lambda: time.sleep(0.05), warmup=0, min_iters=1000, min_time_s=10, max_time_s=0.2)
    assert 1 <= stats.iterations < 1000 and stats.truncated
