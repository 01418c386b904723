"""Complexity of registered models side by side, with the papers' figures beside ours."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch

from shufflenet.complexity import analyze, human
from shufflenet.models._registry import PaperReference, create_model, get_entry
from shufflenet.utils.deprecation import renamed_kwargs

__all__ = ["SUMMARY_HEADERS", "ModelSummary", "summarize_models"]

SUMMARY_HEADERS = ("model", "params", "flops", "mac", "paper_flops", "paper_params", "paper_top1", "source")


@dataclass(frozen=True)
class ModelSummary:
    name: str
    params: int
    flops: int
    mac: int
    reference: PaperReference | None

    def as_row(self, exact: bool = False) -> tuple:
        """One table row; ``exact`` keeps integers (CSV/JSON) instead of 1.23M."""
        ref = self.reference or PaperReference("")
        num = (lambda n: n) if exact else (lambda n: "" if n is None else human(n))
        top1 = ref.top1 if exact else ("" if ref.top1 is None else f"{ref.top1:.1f}")
        return (
            self.name,
            num(self.params),
            num(self.flops),
            num(self.mac),
            num(ref.flops),
            num(ref.params),
            top1,
            ref.source,
        )


@renamed_kwargs(input_size="input_shape")
def summarize_models(
    names: Iterable[str], input_shape: Sequence[int] = (1, 3, 224, 224), **create_kwargs: object
) -> list[ModelSummary]:
    """Analyse each model on the ``meta`` device (shapes only, no arithmetic: fast)."""
    out = []
    for name in names:
        with torch.device("meta"):
            model = create_model(name, in_chans=int(input_shape[1]), **create_kwargs)  # type: ignore[arg-type]
        report = analyze(model, input_shape, name=name)
        out.append(ModelSummary(name, report.params, report.flops, report.mac, get_entry(name).reference))
    return out
