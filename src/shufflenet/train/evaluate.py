"""Top-1, top-5, confusion matrix and per-class accuracy of a classifier."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor, nn

from shufflenet.train.distributed import DistEnv

__all__ = ["EvalResult", "evaluate", "reduce_eval"]


@dataclass(frozen=True)
class EvalResult:
    """Scores of a classifier on a labelled set."""

    top1: float  # fraction in [0, 1]
    top5: float
    loss: float
    confusion: Tensor  # (true class, predicted class) counts

    @property
    def per_class(self) -> list[float]:
        totals = self.confusion.sum(1).clamp_min(1)
        return (self.confusion.diag() / totals).tolist()

    @property
    def count(self) -> int:
        return int(self.confusion.sum())


@torch.no_grad()
def evaluate(
    model: nn.Module | Callable[[Tensor], Tensor],
    batches: Iterable[tuple[Tensor, Tensor]],
    num_classes: int,
    flip_tta: bool = False,
) -> EvalResult:
    """Evaluate a module in eval mode (its mode is restored afterwards), or any
    callable returning logits (a :class:`shufflenet.Predictor` over an ONNX file).

    ``flip_tta`` scores each image by the mean of the class probabilities of the
    image and its mirror image (test-time augmentation, twice the inference cost);
    its loss is the cross-entropy of those averaged probabilities."""
    module = model if isinstance(model, nn.Module) else None
    was_training = module is not None and module.training
    device = next(module.parameters()).device if module is not None else torch.device("cpu")
    if module is not None:
        module.eval()
    confusion = torch.zeros(num_classes, num_classes, dtype=torch.int64)
    top5 = loss = 0.0
    try:
        for x, y in batches:
            x, y = x.to(device), y.to(device)
            logits = _flip_averaged(model, x) if flip_tta else model(x)
            loss += nn.functional.cross_entropy(logits, y, reduction="sum").item()
            k = min(5, num_classes)
            top5 += (logits.topk(k, 1).indices == y[:, None]).any(1).sum().item()
            pairs = (y * num_classes + logits.argmax(1)).cpu()
            confusion += torch.bincount(pairs, minlength=num_classes**2).view(num_classes, num_classes)
    finally:
        if module is not None:
            module.train(was_training)
    n = max(1, int(confusion.sum()))
    return EvalResult(float(confusion.diag().sum()) / n, top5 / n, loss / n, confusion)


def _flip_averaged(model: nn.Module | Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """Log of the mean softmax over ``x`` and ``x`` mirrored left-right: logits for argmax and cross-entropy."""
    pair = model(torch.cat([x, x.flip(-1)])).float().log_softmax(1)  # one call: fixed per-call costs paid once
    return pair.unflatten(0, (2, len(x))).logsumexp(0) - math.log(2)


def reduce_eval(result: EvalResult, env: DistEnv) -> EvalResult:
    """Combine the results of ranks that each scored a share of the set (sums of counts)."""
    if not env.enabled:
        return result
    n = result.count
    sums = torch.cat([result.confusion.flatten().double(), torch.tensor([result.top5 * n, result.loss * n])])
    sums = sums.to(env.device)
    dist.all_reduce(sums, op=dist.ReduceOp.SUM)
    sums = sums.cpu()
    k = result.confusion.shape[0]
    confusion = sums[: k * k].round().long().view(k, k)
    total = max(1, int(confusion.sum()))
    return EvalResult(
        float(confusion.diag().sum()) / total, float(sums[-2]) / total, float(sums[-1]) / total, confusion
    )
