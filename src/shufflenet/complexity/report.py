"""The analysis result and its renderings (rich table, markdown, JSON, CSV)."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field

from rich.table import Table

from shufflenet.complexity.costs import OpType
from shufflenet.utils.tables import csv_table, markdown_table, rich_table

__all__ = ["ComplexityReport", "LayerRow", "TypeTotals", "human"]


@dataclass(frozen=True)
class LayerRow:
    """One executed operator: the module that ran it and what it cost."""

    module: str
    op: str
    type: OpType
    output_shape: tuple[int, ...]
    params: int
    flops: int
    mac: int


@dataclass
class TypeTotals:
    count: int = 0
    params: int = 0
    flops: int = 0
    mac: int = 0


def human(n: float) -> str:
    """1234567 -> '1.23M' (SI-style, for tables)."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.2f}{unit}"
    return f"{n:g}"


def _shape(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape))


_LAYER_HEADERS = ("module", "op", "type", "output_shape", "params", "flops", "mac")
_TYPE_HEADERS = ("type", "ops", "params", "flops", "mac")


@dataclass
class ComplexityReport:
    """Per-operator rows plus totals. ``flops`` are multiply-adds (see costs.py)."""

    model: str
    input_shape: tuple[int, ...]
    params: int
    rows: list[LayerRow] = field(default_factory=list)

    @property
    def flops(self) -> int:
        return sum(r.flops for r in self.rows)

    @property
    def mac(self) -> int:
        return sum(r.mac for r in self.rows)

    def activation_bytes(self, dtype_bytes: int = 4) -> int:
        """About the memory one eager forward pass holds at its peak: its input, and the largest layer output
        beside the one the next layer writes from it (conv, BN and ReLU each write a new tensor)."""
        largest = max((math.prod(r.output_shape) for r in self.rows), default=0)
        return (math.prod(self.input_shape) + 2 * largest) * dtype_bytes

    @property
    def title(self) -> str:
        return f"{self.model} @ {_shape(self.input_shape)}"

    def by_type(self) -> dict[OpType, TypeTotals]:
        """Totals per operator class, in :class:`OpType` order, classes that ran only."""
        totals = {t: TypeTotals() for t in OpType}
        for r in self.rows:
            t = totals[r.type]
            t.count += 1
            t.params += r.params
            t.flops += r.flops
            t.mac += r.mac
        return {k: v for k, v in totals.items() if v.count}

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "input_shape": list(self.input_shape),
            "params": self.params,
            "flops": self.flops,
            "mac": self.mac,
            "by_type": {k.value: asdict(v) for k, v in self.by_type().items()},
            "rows": [{**asdict(r), "type": r.type.value, "output_shape": list(r.output_shape)} for r in self.rows],
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def _layer_rows(self, fmt: type = str) -> list[tuple]:
        num = (lambda n: n) if fmt is int else human
        return [
            (r.module or "(root)", r.op, r.type.value, _shape(r.output_shape), num(r.params), num(r.flops), num(r.mac))
            for r in self.rows
        ]

    def _type_rows(self) -> list[tuple]:
        rows = [(k.value, v.count, human(v.params), human(v.flops), human(v.mac)) for k, v in self.by_type().items()]
        rows.append(("total", len(self.rows), human(self.params), human(self.flops), human(self.mac)))
        return rows

    def to_csv(self) -> str:
        """Per-operator rows with exact integer counts, one per line, with a header."""
        return csv_table(_LAYER_HEADERS, self._layer_rows(int))

    def to_markdown(self, per_layer: bool = True) -> str:
        parts = [f"### {self.title}\n"]
        if per_layer:
            parts.append(markdown_table(_LAYER_HEADERS, self._layer_rows(int)))
        parts.append(markdown_table(_TYPE_HEADERS, self._type_rows()))
        return "\n".join(parts)

    def to_rich(self, per_layer: bool = True) -> list[Table]:
        """Rich tables (per-operator rows, then totals by type) for a console to print."""
        tables = [rich_table(_LAYER_HEADERS, self._layer_rows(), title=self.title)] if per_layer else []
        tables.append(
            rich_table(_TYPE_HEADERS, self._type_rows(), title="totals by type (FLOPs = multiply-adds, MAC = elements)")
        )
        return tables
