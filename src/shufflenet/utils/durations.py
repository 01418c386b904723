"""Durations as people write them (``88m``, ``1.5h``, ``90s``): one spelling for every command."""

from __future__ import annotations

import re

__all__ = ["parse_duration"]

_SECONDS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}


def parse_duration(text: str, what: str = "duration") -> float:
    """Seconds in ``text``: a number with its unit (s, m or min, h). The unit is required: a bare
    number meant seconds in one command and minutes in another before, so it would be a trap."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d*)?)\s*(s|sec|m|min|h)\s*", text)
    if not match:
        raise ValueError(f"{what} {text!r}: give a duration with its unit, e.g. 90s, 88m or 1.5h")
    return float(match[1]) * _SECONDS[match[2]]
