"""One way to render a table of rows as rich, markdown or CSV, used everywhere."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence

from rich.table import Table

__all__ = ["byte_size", "csv_table", "markdown_table", "rich_table"]

Row = Sequence[object]


_NUMBER = re.compile(r"^-?[\d,]*\.?\d+(e[+-]?\d+)?[KMG%x]?$")


def _numeric(rows: Sequence[Row], col: int) -> bool:
    """A column is numeric when every non-empty cell looks like a number (1.2M, 3,400, 95%)."""
    cells = [str(r[col]) for r in rows if str(r[col]) != ""]
    return bool(cells) and all(_NUMBER.match(c) for c in cells)


def rich_table(headers: Sequence[str], rows: Sequence[Row], title: str | None = None) -> Table:
    """A rich Table; numeric-looking columns are right-aligned."""
    table = Table(title=title)
    for i, h in enumerate(headers):
        table.add_column(h, justify="right" if _numeric(rows, i) else "left")
    for r in rows:
        table.add_row(*(str(c) for c in r))
    return table


def markdown_table(headers: Sequence[str], rows: Sequence[Row]) -> str:
    """A GitHub-flavoured markdown table; numeric-looking columns are right-aligned."""
    align = ["---:" if _numeric(rows, i) else "---" for i in range(len(headers))]
    lines = [f"| {' | '.join(headers)} |", f"|{'|'.join(align)}|"]
    lines += [f"| {' | '.join(str(c) for c in r)} |" for r in rows]
    return "\n".join(lines) + "\n"


def csv_table(headers: Sequence[str], rows: Sequence[Row]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(headers)
    writer.writerows(rows)
    return buf.getvalue()


def byte_size(nbytes: float) -> str:
    """``nbytes`` for a reader, in decimal units with three figures at least: ``1.37 MB`` (a file that int8 shrinks
    to a quarter stays readable), ``37.5 MB``, ``301.1 GB``, ``512 B``. Every size the library and CLI print."""
    scale, unit = next((s, u) for s, u in ((1e9, "GB"), (1e6, "MB"), (1e3, "kB"), (1, "B")) if nbytes >= s or s == 1)
    value = nbytes / scale
    return f"{value:.0f} B" if scale == 1 else f"{value:.{2 if value < 10 else 1}f} {unit}"
