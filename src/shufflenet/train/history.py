"""A run's per-epoch log: written beside its checkpoints, read back to compare runs.

``history.json`` (a list of one record per epoch) is what the tools read; ``history.csv`` the same
rows for a spreadsheet. A checkpoint holds the same list, so a run is found from either.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal, overload

from shufflenet.models._weights import safe_torch_load
from shufflenet.utils.files import atomic_write
from shufflenet.utils.tables import csv_table

__all__ = ["History", "best_and_last", "read_history", "score_key", "write_history"]

History = list[dict[str, Any]]

#: the score a run is judged by, in the order looked for: a classifier's top-1 on its validation
#: set (``test_top1``, ``val_top1``), a detector's COCO AP at IoU 0.5
_SCORES = ("_top1", "_map_50")


def write_history(out: Path, history: History) -> None:
    """``history.json`` and ``history.csv`` in ``out``, each written atomically."""
    atomic_write(out / "history.json", lambda t: t.write_text(json.dumps(history, indent=2), encoding="utf-8"))
    headers = list(dict.fromkeys(k for h in history for k in h))  # a resumed older run may lack newer columns
    rows = [[h.get(k, "") for k in headers] for h in history]
    atomic_write(out / "history.csv", lambda t: t.write_text(csv_table(headers, rows)))


def read_history(ref: str | os.PathLike[str]) -> History:
    """The per-epoch records of a run: ``ref`` is its folder, its ``history.json``, a checkpoint
    (``.pt``), or ``MODEL:TAG`` of shipped weights (the log of the run that made them)."""
    path = Path(ref)
    if ":" in str(ref) and not path.exists():
        from shufflenet.models._pretrained import pretrained_path, read_record

        name, tag = str(ref).split(":", 1)
        pretrained_path(name, tag)  # an unknown pair names what is shipped
        history = read_record(name, tag).get("history")
        if not history:
            raise ValueError(f"{ref} was shipped without its training log")
        return list(history)
    if path.is_dir():
        if not (path / "history.json").is_file():
            raise FileNotFoundError(f"{path} holds no history.json; give a training run's --out folder or a checkpoint")
        path = path / "history.json"
    elif not path.is_file():
        raise FileNotFoundError(
            f"{path} not found; give a training run's --out folder, its history.json or a checkpoint"
        )
    if path.suffix == ".json":
        try:
            history = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path} is not readable JSON ({exc}); is it truncated?") from None
    else:
        state = safe_torch_load(path, "a checkpoint")
        history = state.get("history") if isinstance(state, dict) else None
        if history is None:
            raise ValueError(
                f"{path} holds no training history (not a checkpoint of `shufflenet train` or `detect train`)"
            )
    if not isinstance(history, list) or not all(isinstance(h, dict) and "epoch" in h for h in history):
        raise ValueError(f"{path} is not a training history (a list of per-epoch records with an 'epoch')")
    return history


@overload
def score_key(history: History, *, fallback: Literal[True]) -> str: ...
@overload
def score_key(history: History, *, fallback: bool = False) -> str | None: ...
def score_key(history: History, *, fallback: bool = False) -> str | None:
    """The record key of the run's score (``test_top1``, ``val_map_50``, ...), or None if it has none;
    with ``fallback`` the training accuracy then (``train_acc``: what a figure of an unscored run shows)."""
    keys = dict.fromkeys(k for h in history for k in h)
    return next((k for suffix in _SCORES for k in keys if k.endswith(suffix)), "train_acc" if fallback else None)


def best_and_last(history: History, score: str) -> tuple[tuple[int, float] | None, float | None]:
    """(epoch, value) of the run's best ``score``, and its last value; None where it was never scored."""
    scored = [(h["epoch"], h[score]) for h in history if h.get(score) is not None]
    return max(scored, key=lambda p: p[1], default=None), (scored[-1][1] if scored else None)
