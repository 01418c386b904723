"""One renderer for every command's results: a rich table on a terminal, or markdown, CSV or JSON.

Commands build their rows (human-readable) and, where machine formats need more than the table
shows, their records (exact numbers, nested details); this module decides how each format is
written, so the branching lives in one place.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console

from shufflenet.utils.tables import csv_table, markdown_table, rich_table

__all__ = ["FORMATS", "records_csv", "render"]

#: the report formats every command that prints results accepts
FORMATS = ("table", "md", "json", "csv")

Row = Sequence[object]


def records_csv(records: Sequence[Mapping[str, Any]]) -> str:
    """Records as CSV: the first record's keys as columns, nested values (mappings, lists, tuples) left out."""
    keys = [k for k, v in records[0].items() if not isinstance(v, Mapping | list | tuple)] if records else []
    return csv_table(keys, [[r.get(k, "") for k in keys] for r in records])


def render(
    console: Console,
    fmt: str,
    headers: Sequence[str],
    rows: Sequence[Row],
    *,
    title: str | None = None,
    records: Sequence[Mapping[str, Any]] | Mapping[str, Any] | None = None,
    before: str = "",
    after: Sequence[str] = (),
    heading: bool = False,
) -> None:
    """Write ``rows`` under ``headers`` in ``fmt``.

    ``records`` (exact values) stand in for the rows in JSON, and in CSV where they are a list
    (nested values left out); ``before`` is a line printed first and ``after`` lines printed last
    in the human formats (a score line, verdicts under a table); ``heading`` writes the title as a
    ``###`` heading in markdown, where a page holds several tables.
    """
    if heading and fmt == "md" and title:
        before = f"### {title}"
    if fmt == "json":
        data = records if records is not None else [dict(zip(headers, r)) for r in rows]
        console.out(json.dumps(data, indent=2))
    elif fmt == "csv":
        if isinstance(records, Sequence) and records:
            console.out(records_csv(records), end="")
        else:
            console.out(csv_table(headers, rows), end="")
    elif fmt == "md":
        text = (f"{before}\n\n" if before else "") + markdown_table(headers, rows)
        console.out(text + "".join(f"\n- {line}" for line in after) + ("\n" if after else ""), end="")
    elif fmt == "table":
        if before:
            console.print(before, highlight=False)
        console.print(rich_table(headers, rows, title=title))
        for line in after:
            console.print(f"  {line}", highlight=False)
    else:
        raise ValueError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
