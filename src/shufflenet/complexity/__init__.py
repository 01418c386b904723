"""Params, FLOPs (multiply-adds) and memory access cost of any nn.Module."""

from shufflenet.complexity.costs import (
    OpCost,
    OpType,
    classify_conv,
    classify_op,
    conv_cost,
    matmul_cost,
    memory_cost,
)
from shufflenet.complexity.engine import analyze, check_input_fits, smallest_side
from shufflenet.complexity.report import ComplexityReport, LayerRow, TypeTotals, human

__all__ = [
    "ComplexityReport",
    "LayerRow",
    "OpCost",
    "OpType",
    "TypeTotals",
    "analyze",
    "check_input_fits",
    "classify_conv",
    "classify_op",
    "conv_cost",
    "human",
    "matmul_cost",
    "memory_cost",
    "smallest_side",
]
