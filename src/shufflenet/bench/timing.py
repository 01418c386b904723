"""Wall-clock timing with warm-up and outlier-robust statistics.

Machines are noisy: we report the median and the 10th/90th percentiles of
per-call latencies (not the mean, which one preempted call can ruin), and we
run until both a minimum number of calls and a minimum time have passed, so
fast models get many samples and slow ones still finish.

Contenders compared with each other are *raced* (:func:`race`): short blocks of calls, every
contender once per round in a rotating order, a pause before each block. On a noisy host, two
sessions of the same file timed so differ by 1-4%; timed in long blocks one after the other, by up
to 15% (docs/results/deployment.md, "ninth session").
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = [
    "LatencyStats",
    "Timer",
    "cuda_events",
    "device_timer",
    "measure",
    "percentile",
    "race",
    "race_stats",
    "rotating_rounds",
    "round_ratio",
    "wall_clock",
]

K = TypeVar("K", bound=Hashable)
#: times one call of a function: seconds
Timer = Callable[[Callable[[], object]], float]


def wall_clock(sync: Callable[[], None] | None = None) -> Timer:
    """The host's clock around the call, ``sync`` (e.g. ``torch.cuda.synchronize``) called before it stops."""

    def time_call(fn: Callable[[], object]) -> float:
        t0 = time.perf_counter()
        fn()
        if sync is not None:
            sync()
        return time.perf_counter() - t0

    return time_call


def cuda_events() -> Timer:
    """The GPU's own clock: CUDA events recorded before and after the call's launches, read once the second has
    passed (the time the GPU took, its waits for launches included, without the host's synchronisation latency)."""
    import torch

    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)

    def time_call(fn: Callable[[], object]) -> float:
        start.record()
        fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1e3

    return time_call


def percentile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolated percentile (q in [0, 100]) of an already sorted list."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    pos = (len(sorted_values) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


@dataclass(frozen=True)
class LatencyStats:
    """Per-call latencies in milliseconds; ``truncated`` when ``max_time`` cut the run short."""

    median_ms: float
    p10_ms: float
    p90_ms: float
    min_ms: float
    iterations: int
    truncated: bool

    @classmethod
    def from_samples(cls, samples_s: list[float], truncated: bool = False) -> LatencyStats:
        ms = sorted(s * 1e3 for s in samples_s)
        return cls(statistics.median(ms), percentile(ms, 10), percentile(ms, 90), ms[0], len(ms), truncated)

    @classmethod
    def combine(cls, rounds: Sequence[LatencyStats]) -> LatencyStats:
        """One record of a contender's blocks in a :func:`race`: the median over rounds of each block's
        median and p10/p90 (a per-call spread, as in one block), the least call, every call counted."""
        if not rounds:
            raise ValueError("no rounds to combine")
        return cls(
            statistics.median(r.median_ms for r in rounds), statistics.median(r.p10_ms for r in rounds),
            statistics.median(r.p90_ms for r in rounds), min(r.min_ms for r in rounds),
            sum(r.iterations for r in rounds), any(r.truncated for r in rounds),
        )  # fmt: skip


def device_timer(device_type: str) -> Timer:
    """How a call on a device is timed: by CUDA events on a GPU, else by the host's clock."""
    return cuda_events() if device_type == "cuda" else wall_clock()


def measure(
    fn: Callable[[], object],
    *,
    warmup: int = 3,
    warmup_s: float = 0.1,
    min_iters: int = 10,
    min_time_s: float = 1.0,
    max_time_s: float = 30.0,
    sync: Callable[[], None] | None = None,
    timer: Timer | None = None,
) -> LatencyStats:
    """Time ``fn()`` after at least ``warmup`` untimed calls and ``warmup_s`` seconds
    (thread pools, caches and allocators settle before timing starts).

    Runs at least ``min_iters`` calls and ``min_time_s`` seconds, and stops at
    ``max_time_s`` whatever the count (``truncated`` then says so, if fewer
    than ``min_iters`` calls fit). Each call is timed by ``timer`` (default: :func:`wall_clock` with
    ``sync``, e.g. ``torch.cuda.synchronize``, called around each call for an asynchronous device;
    :func:`cuda_events` times a GPU by its own clock).
    """
    if min_iters < 1 or max_time_s <= 0:
        raise ValueError("min_iters must be >= 1 and max_time_s > 0")
    timer = timer or wall_clock(sync)
    sync = sync or (lambda: None)
    start = time.perf_counter()
    calls = 0
    while calls < warmup or time.perf_counter() - start < warmup_s:
        fn()
        calls += 1
        if time.perf_counter() - start > max_time_s / 2:
            break
    sync()
    samples: list[float] = []
    begin = time.perf_counter()
    while True:
        samples.append(timer(fn))
        t1 = time.perf_counter()
        elapsed = t1 - begin
        if len(samples) >= min_iters and elapsed >= min_time_s:
            return LatencyStats.from_samples(samples)
        if t1 - start >= max_time_s:
            return LatencyStats.from_samples(samples, truncated=len(samples) < min_iters)


def race_stats(
    contenders: Mapping[K, Callable[[], object]],
    *,
    rounds: int = 25,
    block_s: float = 0.2,
    pause_s: float = 0.1,
    min_iters: int = 5,
    max_time_s: float = 30.0,
    sync: Callable[[], None] | None = None,
    timer: Timer | None = None,
    progress: Callable[[K, int], None] | None = None,
) -> dict[K, list[LatencyStats]]:
    """The timing of each contender's block in each of ``rounds`` rounds.

    A round times every contender once, as one :func:`measure` block of at least ``block_s``
    seconds (at most ``max_time_s``), starting one place later in the order each round (none always
    follows the same neighbour), after ``pause_s`` seconds of rest: ONNX Runtime's worker threads
    spin for a while after a call and would take the next block's cores. Drift of the host then hits
    all contenders alike.
    """
    if rounds < 1 or not contenders:
        raise ValueError("a race needs at least one round and one contender")
    stats: dict[K, list[LatencyStats]] = {k: [] for k in contenders}
    for r, k in rotating_rounds(list(contenders), rounds):
        if progress:
            progress(k, r + 1)  # the contender and round about to run
        time.sleep(pause_s)
        stats[k].append(
            measure(
                contenders[k], min_time_s=block_s, min_iters=min_iters, max_time_s=max_time_s, sync=sync, timer=timer
            )  # fmt: skip
        )
    return stats


def rotating_rounds(keys: Sequence[K], rounds: int) -> Iterator[tuple[int, K]]:
    """(round, key) for ``rounds`` rounds over ``keys``, each round starting one place later in the order,
    so none always follows the same neighbour (the order of every race here)."""
    for r in range(rounds):
        shift = r % len(keys)
        for k in [*keys[shift:], *keys[:shift]]:
            yield r, k


def race(contenders: Mapping[K, Callable[[], object]], **kwargs: Any) -> dict[K, list[float]]:
    """The median latency (ms) of each contender in each round of :func:`race_stats` (same arguments);
    compare contenders with :func:`round_ratio`."""
    return {k: [s.median_ms for s in rounds] for k, rounds in race_stats(contenders, **kwargs).items()}


def probed_race(
    contenders: Mapping[K, Callable[[], object]], probe: Callable[[], float], **kwargs: Any
) -> tuple[dict[K, list[float]], list[float]]:
    """:func:`race` (same arguments), with ``probe()`` called as each round starts: the round times and the
    probe's value per round (e.g. :func:`~shufflenet.bench.machine.parallel_speedup`, a witness of the host's
    regime beside :func:`steady_rounds`). The probe, too, runs after a pause: the last block's threads may
    still spin."""
    values: list[float] = []

    def progress(key: K, round_: int) -> None:
        if len(values) < round_:
            time.sleep(kwargs.get("pause_s", 0.1))
            values.append(probe())

    return race(contenders, progress=progress, **kwargs), values


def steady_rounds(
    times: Mapping[K, Sequence[float]],
    slack: float = 1.25,
    combine: Callable[[list[float]], float] = statistics.median,
) -> list[bool]:
    """Which rounds ran in the host's best regime: those where the contenders' median slowdown (or ``combine``'s)
    against their own fastest round stays within ``slack`` of the least slowed round's (~1). Cloud hosts switch
    regimes within minutes, in which every multi-threaded runtime slowed ~1.7x at once, and a ratio differs
    between them (``docs/measuring.md``). A run that never left one regime keeps every round, even the slow one:
    the times themselves then say which."""
    slowdowns = round_slowdowns(times, combine)
    return [slowdown <= slack * min(slowdowns) for slowdown in slowdowns]  # the least slowed round always counts


def pair_rounds(base: Sequence[float], other: Sequence[float], slack: float = 1.25) -> list[bool]:
    """The rounds a ratio of two contenders should count: :func:`steady_rounds` judged by the slower of the two,
    so that *both* ran near their best. A race's round lasts seconds and a host can switch regime inside one, so a
    round where the race as a whole ran near its best can still hold one side's slow block: ratios of 0.60x and
    0.75x beside 1.13-1.20x in a 5-round race on a Zen 5 (``docs/measuring.md``)."""
    if len(base) != len(other) or not base:
        raise ValueError("pair_rounds needs two equally long, non-empty series")
    return steady_rounds({0: base, 1: other}, slack, combine=max)


def round_slowdowns(
    times: Mapping[K, Sequence[float]], combine: Callable[[list[float]], float] = statistics.median
) -> list[float]:
    """Each round's median (or ``combine``) over contenders of its time / that contender's fastest round (1.0: all
    at their best)."""
    if not times or not all(times.values()):
        raise ValueError("no rounds to judge")
    best = {k: min(v) for k, v in times.items()}
    rounds = len(next(iter(times.values())))
    return [combine([times[k][r] / best[k] for k in times]) for r in range(rounds)]


def round_ratio(base: Sequence[float], other: Sequence[float]) -> float:
    """Median over rounds of ``base / other`` (a speed-up of ``other`` when both are latencies): each
    round's two blocks ran seconds apart, so the ratio is the least touched by the host's swings."""
    return statistics.median(round_ratios(base, other))


def steady_ratios(base: Sequence[float], other: Sequence[float]) -> list[float]:
    """:func:`round_ratios` over the rounds in which both ran near their best (:func:`pair_rounds`): a ratio in the
    host's best regime, its median the figure to claim (``docs/measuring.md``, "Host regimes")."""
    keep = pair_rounds(base, other)
    return round_ratios([b for b, k in zip(base, keep) if k], [o for o, k in zip(other, keep) if k])


def round_ratios(base: Sequence[float], other: Sequence[float]) -> list[float]:
    """``base / other`` in each round, sorted. Their spread shows what a median hides: a cloud host can switch
    between regimes that change the ratio itself, not only the times (``docs/measuring.md``)."""
    if len(base) != len(other) or not base:
        raise ValueError("round_ratio needs two equally long, non-empty series")
    return sorted(b / o for b, o in zip(base, other))
