import warnings
from pathlib import Path

import pytest

pytest.importorskip("matplotlib", reason="matplotlib is not installed (pip install 'shufflenet[plot]')")

from shufflenet.bench.plots import plot_history  # noqa: E402


def test_curves_before_the_first_score_are_drawn_without_a_warning(tmp_path: Path) -> None:
    """A run's curves.png is redrawn after epoch 1, before its first evaluation (--eval-every 5): the score's
    panel has no line yet, and matplotlib's empty-legend warning used to reach the training log."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        path = plot_history({"run": [{"epoch": 1, "train_loss": 1.3, "train_acc": 0.6, "test_top1": None}]},
                            "test_top1", tmp_path / "curves.png")  # fmt: skip
    assert path.read_bytes()[:4] == b"\x89PNG"
