"""One declaration of each option's type and range, checked the same way for the CLI and the API."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from shufflenet.utils.validate import check_type, option, validate


@dataclass
class _Config:
    count: int = option(1, ge=1)
    rate: float = option(0.5, gt=0, lt=1)
    flag: bool = option(True, flag="--no-flag")
    mode: str = option("a", choices=("a", "b"))
    size: int | None = option(None, ge=8)
    widths: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        validate(self)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"count": 0}, r"count \(--count\) must be >= 1, got 0"),
        ({"count": 1.5}, r"count \(--count\) must be int, got 1.5 \(float\)"),
        ({"count": True}, r"must be int, got True \(bool\)"),
        ({"rate": 1}, r"rate \(--rate\) must be < 1, got 1"),
        ({"flag": "false"}, r"flag \(--no-flag\) must be bool, got 'false' \(str\)"),
        ({"mode": "c"}, r"must be one of a, b, got 'c'"),
        ({"size": 4}, r"size \(--size\) must be >= 8, got 4"),
        ({"size": "64"}, r"must be int or None, got '64' \(str\)"),
        ({"widths": [8, "x"]}, r"must be a list of int or None"),
    ],
)
def test_bad_values_are_named(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _Config(**kwargs)


def test_good_values_pass() -> None:
    _Config(count=3, rate=0.1, flag=False, mode="b", size=None, widths=[8, 16])  # a JSON list for a tuple
    _Config(rate=1 / 3, size=8, widths=(1,))
    check_type({"se": True}, dict[str, object], "options")
    with pytest.raises(ValueError, match="options must be a JSON object"):
        check_type([1, 2], dict[str, object], "options")
