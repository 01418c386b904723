"""Figures for measurements, where a picture says more than a table: PNG, or SVG / PDF for papers."""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from shufflenet.bench.engine import BenchResult
from shufflenet.bench.guidelines import GuidelineResult
from shufflenet.bench.timing import percentile
from shufflenet.utils.files import atomic_write
from shufflenet.utils.optional import require

require("matplotlib", "plot").use("Agg")  # files only: no display needed (CI, servers)
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

__all__ = [
    "SUFFIXES",
    "check_figure_path",
    "plot_breakdown",
    "plot_confusion",
    "plot_guideline",
    "plot_history",
    "plot_speed_vs_flops",
    "plot_speedups",
]

#: the most classes a confusion matrix labels every cell and tick of
MAX_LABELLED = 30

#: the file types a figure is written as, told by the name's suffix
SUFFIXES = (".png", ".svg", ".pdf")


def check_figure_path(path: str | os.PathLike[str]) -> str:
    """The format ``path`` names (``png``, ``svg``, ``pdf``), or a ValueError; called before the work a figure shows."""
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIXES:
        raise ValueError(f"{path}: figures are written as {', '.join(SUFFIXES)}; name the file so")
    return suffix[1:]


def _save(fig: Figure, path: str | os.PathLike[str]) -> Path:
    try:
        fmt = check_figure_path(path)
        return atomic_write(path, lambda tmp: fig.savefig(tmp, format=fmt, dpi=120, bbox_inches="tight"))
    finally:
        plt.close(fig)


def plot_guideline(result: GuidelineResult, path: str | os.PathLike[str]) -> Path:
    """Grouped bars: images/s of each variant relative to the first, one group per scale."""
    exp = result.experiment
    fig, ax = plt.subplots(figsize=(8, 4))
    n = len(exp.variants)
    width = 0.8 / n
    for i, v in enumerate(exp.variants):
        rel = [
            result.images_per_s[(v.label, s)] / result.images_per_s[(exp.variants[0].label, s)] for s in result.scales
        ]
        ax.bar([j + i * width for j in range(len(result.scales))], rel, width, label=v.label)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(result.scales))])
    ax.set_xticklabels([f"{exp.scale_label}={s}" if exp.scale_label == "c" else f"x{s}" for s in result.scales])
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.set_ylabel(f"speed relative to {exp.variants[0].label}")
    ax.set_title(f"{exp.name}: {exp.title}", fontsize=9)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_speed_vs_flops(results: Sequence[BenchResult], path: str | os.PathLike[str]) -> Path:
    """The V2 paper's Figure 1 style: measured images/s against FLOPs, one point per model."""
    fig, ax = plt.subplots(figsize=(7, 5))
    uniform = len({(r.runtime, r.batch) for r in results}) == 1
    for r in results:
        ax.scatter(r.flops / 1e6, r.images_per_s)
        label = r.model if uniform else f"{r.model} ({r.runtime}, b{r.batch})"
        ax.annotate(label, (r.flops / 1e6, r.images_per_s), fontsize=7, xytext=(3, 3), textcoords="offset points")
    if uniform and results:
        ax.set_title(f"speed vs FLOPs on this machine ({results[0].runtime}, batch {results[0].batch})", fontsize=9)
    else:
        ax.set_title("speed vs FLOPs on this machine", fontsize=9)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("MFLOPs (multiply-adds, per image)")
    ax.set_ylabel("images/s (measured)")
    ax.grid(True, which="both", lw=0.3)
    return _save(fig, path)


def plot_speedups(
    groups: Mapping[str, Mapping[str, Sequence[float]]], path: str | os.PathLike[str], *, title: str
) -> Path:
    """Ours against a baseline side by side: one bar per series (e.g. a batch size) in each group (e.g. a runtime)
    at the median of its per-round speed-ups, with a whisker over their 10th-90th percentile, the median written
    above; the line at 1 is parity."""
    fig, ax = plt.subplots(figsize=(max(6.0, 1.3 * len(groups) + 2), 4))
    series = list(dict.fromkeys(s for g in groups.values() for s in g))
    width = 0.8 / max(len(series), 1)
    for i, name in enumerate(series):
        xs, mids, lows, highs = [], [], [], []
        for j, g in enumerate(groups.values()):
            if name not in g:
                continue
            ratios = sorted(g[name])
            mid, lo, hi = (percentile(ratios, q) for q in (50, 10, 90))
            xs.append(j + (i - (len(series) - 1) / 2) * width)
            mids.append(mid)
            lows.append(mid - lo)
            highs.append(hi - mid)
        bars = ax.bar(xs, mids, width, yerr=[lows, highs], capsize=3, label=name)
        ax.bar_label(bars, labels=[f"{m:.2f}x" for m in mids], fontsize=7, padding=2)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(list(groups), fontsize=8)
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.set_ylabel("speed-up (median per round, p10-p90)")
    ax.set_title(title, fontsize=9)
    if len(series) > 1:
        ax.legend(fontsize=8)
    return _save(fig, path)


def plot_breakdown(shares: Mapping[str, Mapping[str, float]], path: str | os.PathLike[str]) -> Path:
    """The V2 paper's Figure 2 style: stacked share of run time per operator class, one bar per run
    (``"MODEL\nRUNTIME"``; one model is named once, in the title)."""
    runs = list(shares)
    models = {r.split("\n")[0] for r in runs}
    single = len(models) == 1 and all("\n" in r for r in runs)
    labels = [r.split("\n", 1)[1] if single else r for r in runs]
    longest = max((len(line) for label in labels for line in label.split("\n")), default=0)
    fig, ax = plt.subplots(figsize=(max(7.0, 1.5 + max(1.4, 0.075 * longest) * len(runs)), 4))  # labels apart
    classes = list(dict.fromkeys(c for s in shares.values() for c in s))  # the caller's order
    bottom = [0.0] * len(runs)
    for cls in classes:
        vals = [100 * shares[r].get(cls, 0.0) for r in runs]
        ax.bar(range(len(runs)), vals, bottom=bottom, label=cls)
        bottom = [b + v for b, v in zip(bottom, vals)]
    ax.set_xticks(range(len(runs)), labels, fontsize=7)
    ax.set_ylabel("% of run time")
    ax.legend(fontsize=7, bbox_to_anchor=(1.0, 1.0))
    ax.set_title("run time by operator class" + (f": {models.pop()}" if single else ""), fontsize=9)
    return _save(fig, path)


def plot_confusion(confusion: torch.Tensor, class_names: Sequence[str], path: str | os.PathLike[str]) -> Path:
    """Row-normalised confusion matrix (true class down, predicted across), counts in cells. Past
    :data:`MAX_LABELLED` classes (ImageNet's 1000) cells and ticks would be unreadable and take minutes
    to draw: the matrix is drawn as an image with a colour bar, about 20 ticks a side."""
    counts = confusion.float()
    rates = counts / counts.sum(1, keepdim=True).clamp_min(1)
    fig, ax = plt.subplots(figsize=(7, 6))
    image = ax.imshow(rates.numpy(), cmap="Blues", vmin=0, vmax=1)
    n = len(class_names)
    if n > MAX_LABELLED:
        ticks = range(0, n, math.ceil(n / 20))
        ax.set_xticks(ticks, [class_names[i] for i in ticks], rotation=90, fontsize=5)
        ax.set_yticks(ticks, [class_names[i] for i in ticks], fontsize=5)
        fig.colorbar(image, ax=ax, label="fraction of the true class")
    else:
        ax.set_xticks(range(n), class_names, rotation=45, ha="right", fontsize=7)
        ax.set_yticks(range(n), class_names, fontsize=7)
        for i in range(n):
            for j in range(n):
                ax.text(j, i, str(int(counts[i, j])), ha="center", va="center", fontsize=6,
                        color="white" if rates[i, j] > 0.5 else "black")  # fmt: skip
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("confusion matrix", fontsize=9)
    return _save(fig, path)


def plot_history(
    runs: Mapping[str, Sequence[Mapping[str, Any]]], score: str, path: str | os.PathLike[str], *, x: str = "epoch"
) -> Path:
    """Training curves of one or more runs, one colour each: the losses (training solid, validation
    dashed) and the ``score`` in % (validation solid, training accuracy dotted), its best point marked.
    Epochs that were not scored (``--eval-every``) are left out of the score's line. ``x="seconds"``
    puts the runs on the wall clock instead of epochs (``elapsed_s``, else the sum of ``epoch_s``):
    time to accuracy, the direct metric of training."""
    if x not in ("epoch", "seconds"):
        raise ValueError(f"x must be 'epoch' or 'seconds', got {x!r}")
    val_loss = score.split("_")[0] + "_loss"  # test_top1 -> test_loss; a detector's val_map_50 has none
    fig, (loss_ax, score_ax) = plt.subplots(1, 2, figsize=(10, 4))
    for (name, history), colour in zip(runs.items(), plt.rcParams["axes.prop_cycle"].by_key()["color"] * len(runs)):
        at = [h["epoch"] for h in history] if x == "epoch" else _wall_clock(name, history)

        def line(ax: Any, key: str, scale: float = 1.0, **style: Any) -> list[tuple[float, float]]:
            points = [(t, scale * h[key]) for t, h in zip(at, history) if h.get(key) is not None]
            if points:
                ax.plot(*zip(*points), color=colour, marker="." if len(points) < 30 else None, **style)
            return points

        line(loss_ax, "train_loss", label=name)
        line(loss_ax, val_loss, linestyle="--")
        scored = line(score_ax, score, 100.0, label=name)
        line(score_ax, "train_acc", 100.0, linestyle=":", alpha=0.7)
        if scored:
            epoch, best = max(scored, key=lambda p: p[1])
            score_ax.annotate(f"{best:.2f}", (epoch, best), textcoords="offset points", xytext=(0, 6),
                              ha="center", fontsize=7, color=colour)  # fmt: skip
    label = "epoch" if x == "epoch" else "wall clock (s)"
    loss_ax.set(xlabel=label, ylabel="loss", title="loss (solid: training, dashed: validation)")
    score_ax.set(xlabel=label, ylabel=f"{score} (%)", title=f"{score} (dotted: training accuracy)")
    for ax in (loss_ax, score_ax):
        ax.xaxis.set_major_locator(MaxNLocator(nbins=8, integer=x == "epoch"))
        ax.title.set_fontsize(9)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:  # the score's panel is empty until the first evaluation
            ax.legend(fontsize=7)
    return _save(fig, path)


def _wall_clock(name: str, history: Sequence[Mapping[str, Any]]) -> list[float]:
    """Seconds from the start of training to the end of each epoch."""
    if all(h.get("elapsed_s") is not None for h in history):
        return [float(h["elapsed_s"]) for h in history]
    if any(h.get("epoch_s") is None for h in history):
        raise ValueError(f"{name}: its history has no epoch times (epoch_s); plot it by epoch")
    return list(itertools.accumulate(float(h["epoch_s"]) for h in history))
