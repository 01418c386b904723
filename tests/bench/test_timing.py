import time

import pytest
import torch

from shufflenet.bench import LatencyStats, measure, race, round_ratio, round_ratios
from shufflenet.bench.timing import (
    cuda_events,
    device_timer,
    pair_rounds,
    percentile,
    probed_race,
    round_slowdowns,
    steady_ratios,
    steady_rounds,
    wall_clock,
)


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


def test_each_call_is_timed_by_the_timer_given_and_a_gpu_by_its_events() -> None:
    calls: list[int] = []
    fake = lambda fn: (fn(), 0.004)[1]  # noqa: E731  # a device clock that says 4 ms whatever the host saw
    stats = measure(lambda: calls.append(1), warmup=2, warmup_s=0.0, min_iters=6, min_time_s=0.0, timer=fake)
    assert stats.median_ms == pytest.approx(4.0) and stats.iterations == len(calls) - 2 >= 6
    synced: list[int] = []
    slept = wall_clock(sync=lambda: (time.sleep(0.003), synced.append(1)))(lambda: None)
    assert slept >= 0.003 and synced == [1]  # the host's clock stops after the sync
    assert device_timer("cpu").__qualname__ == wall_clock().__qualname__


@pytest.mark.gpu
def test_cuda_events_time_what_the_gpu_spent() -> None:
    a = torch.randn(2048, 2048, device="cuda")
    on_gpu = measure(lambda: a @ a, min_iters=20, min_time_s=0.1, timer=cuda_events()).median_ms
    on_host = measure(lambda: a @ a, min_iters=20, min_time_s=0.1, sync=torch.cuda.synchronize).median_ms
    assert 0 < on_gpu <= on_host * 1.1


def test_measure_stops_at_max_time_with_partial_results() -> None:
    stats = measure(lambda: time.sleep(0.05), warmup=0, min_iters=1000, min_time_s=10, max_time_s=0.2)
    assert 1 <= stats.iterations < 1000 and stats.truncated


def test_race_rotates_the_order_and_pauses_before_each_block() -> None:
    blocks: list[str] = []  # the contender of each block, in the order the blocks ran

    def call(name: str) -> None:
        if not blocks or blocks[-1] != name:
            blocks.append(name)

    times = race({k: (lambda k=k: call(k)) for k in "abc"}, rounds=3, block_s=0.0, pause_s=0.0, min_iters=1)
    assert blocks == [*"abc", *"bca", *"cab"]  # one place later each round
    assert {k: len(v) for k, v in times.items()} == {"a": 3, "b": 3, "c": 3}
    slept = time.perf_counter()
    race({"a": lambda: None}, rounds=2, block_s=0.0, pause_s=0.15, min_iters=1)
    assert time.perf_counter() - slept >= 0.3
    with pytest.raises(ValueError):
        race({}, rounds=1)


def test_race_and_round_ratio_tell_a_slow_contender_from_a_fast_one() -> None:
    times = race({"fast": lambda: time.sleep(0.001), "slow": lambda: time.sleep(0.01)},
                 rounds=3, block_s=0.01, pause_s=0.0)  # fmt: skip
    assert round_ratio(times["slow"], times["fast"]) > 1.5  # 10x the sleep: holds unless wake-ups run 17 ms late
    assert round_ratio([2.0, 4.0, 9.0], [1.0, 1.0, 3.0]) == 3.0
    with pytest.raises(ValueError):
        round_ratio([1.0], [])
    assert round_ratios([2.0, 4.0, 9.0], [1.0, 1.0, 3.0]) == [2.0, 3.0, 4.0]  # each round's ratio, sorted


def test_probed_race_probes_once_as_each_round_starts() -> None:
    calls: list[str] = []
    count = iter(range(100))
    times, probes = probed_race({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")},
                                lambda: calls.append("probe") or float(next(count)), rounds=3, block_s=0.0,
                                pause_s=0.0, min_iters=1)  # fmt: skip
    assert probes == [0.0, 1.0, 2.0] and len(times["a"]) == len(times["b"]) == 3
    starts = [i for i, c in enumerate(calls) if c == "probe"]
    assert len(starts) == 3 and starts[0] == 0 and all(calls[i + 1] != "probe" for i in starts)


def test_steady_rounds_drops_rounds_where_every_contender_slowed() -> None:
    """Rounds 1 and 3: the host's slow regime (both contenders ~1.7x); round 2 only one contender hiccuped."""
    times = {"tv": [1.3, 2.2, 1.3, 2.1, 1.25], "ours": [1.05, 1.55, 1.4, 1.5, 1.0]}
    assert steady_rounds(times) == [True, False, True, False, True]
    assert round_slowdowns({"a": [1.0, 2.0], "b": [2.0, 2.0]}) == [1.0, 1.5]  # median of 2/1 and 2/2
    assert steady_rounds({"a": [2.1, 2.2, 2.0]}) == [True, True, True]  # one regime throughout: every round
    assert steady_rounds({"a": [1.0, 2.0], "b": [2.0, 1.0]}) == [True, True]  # no round at 1: the least slowed
    with pytest.raises(ValueError):
        steady_rounds({})


def test_pair_rounds_drop_a_round_where_either_side_slowed() -> None:
    # round 2: only the first side slowed (a regime switch inside the round); round 3: both, ~1.7x
    assert pair_rounds([1.0, 1.7, 1.7, 1.05], [2.0, 2.0, 3.4, 2.1]) == [True, False, False, True]
    assert pair_rounds([2.0, 2.1], [4.0, 4.1]) == [True, True]  # one regime throughout: every round
    assert pair_rounds([1.0, 2.0], [2.0, 1.0]) == [True, True]  # never both at their best: the least slowed
    with pytest.raises(ValueError, match="equally long"):
        pair_rounds([1.0], [1.0, 2.0])


def test_steady_ratios_are_the_ratios_of_the_pairs_rounds() -> None:
    # round 2 caught one side slow: its 3.0x is left out; rounds 1 and 3 give 2.0x and 2.1x
    assert steady_ratios([2.0, 3.0, 2.1], [1.0, 1.0, 1.0]) == [pytest.approx(2.0), pytest.approx(2.1)]
