"""The V1 paper's ablations, retrained here: channel shuffle on/off (Table 3) and the
group count at equal FLOPs (Table 2), on Fashion-MNIST instead of ImageNet."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

from shufflenet.models._registry import width_tag
from shufflenet.train.config import TrainConfig
from shufflenet.train.loop import Progress, train

__all__ = ["PAPER_SHUFFLE_ERRORS", "AblationResult", "run_ablation"]

#: Table 3, ImageNet top-1 error % (no shuffle, shuffle) per (width, g).
PAPER_SHUFFLE_ERRORS: dict[tuple[float, int], tuple[float, float]] = {
    (1.0, 3): (34.5, 32.6), (1.0, 8): (37.6, 32.4),
    (0.5, 3): (45.7, 43.2), (0.5, 8): (48.1, 42.3),
    (0.25, 3): (56.3, 55.0), (0.25, 8): (56.5, 52.7),
}  # fmt: skip
GROUPS = (1, 2, 3, 4, 8)


@dataclass
class AblationResult:
    kind: str
    width: float
    errors: dict[tuple[int, bool], float]  # (groups, shuffle) -> test error %
    histories: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # each run's, by its folder's name

    def rows(self) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
        """Table rows in the paper's layout (Table 3 for shuffle, Table 2 for groups)."""
        name = f"ShuffleNet {self.width:g}x"
        headers: tuple[str, ...]
        if self.kind == "shuffle":
            headers = ("model", "no shuffle err %", "shuffle err %", "delta", "paper (ImageNet)")
            rows: list[tuple[str, ...]] = []
            for g in sorted({g for g, _ in self.errors}):
                off, on = self.errors[(g, False)], self.errors[(g, True)]
                paper = PAPER_SHUFFLE_ERRORS.get((self.width, g))
                rows.append((f"{name} (g = {g})", f"{off:.2f}", f"{on:.2f}", f"{off - on:+.2f}",
                             "" if paper is None else f"{paper[0]} / {paper[1]}"))  # fmt: skip
            return headers, rows
        headers = ("model", *(f"g = {g}" for g in GROUPS if (g, True) in self.errors))
        return headers, [(name, *(f"{self.errors[(g, True)]:.2f}" for g in GROUPS if (g, True) in self.errors))]


def run_ablation(
    kind: str,
    base: TrainConfig,
    *,
    width: float = 0.5,
    groups: tuple[int, ...] | None = None,
    progress: Callable[[str], None] | None = None,
    step_progress: Progress | None = None,
) -> AblationResult:
    """Train each variant with ``base``'s recipe (its own ``out_dir`` under base.out_dir)."""
    if kind not in ("shuffle", "groups"):
        raise ValueError(f"unknown ablation {kind!r}; choose shuffle or groups")
    if kind == "shuffle":
        variants = [(g, s) for g in (groups or (3, 8)) for s in (False, True)]
    else:
        variants = [(g, True) for g in (groups or GROUPS)]
    errors, histories = {}, {}
    for g, shuffle in variants:
        name = f"shufflenet_v1_g{g}_x{width_tag(width)}"
        if progress:
            progress(f"{name} shuffle={'on' if shuffle else 'off'}")
        cfg = replace(
            base, model=name, model_options={**base.model_options, "shuffle": shuffle},
            out_dir=str(Path(base.out_dir) / f"{name}{'' if shuffle else '_noshuffle'}"),
        )  # fmt: skip
        result = train(cfg, progress=step_progress)
        key = next(k for k in result.last if k.endswith("_top1"))
        errors[(g, shuffle)] = 100 * (1 - cast(float, result.last[key]))  # the last epoch is always scored
        histories[Path(cfg.out_dir).name] = result.history
    return AblationResult(kind, width, errors, histories)
