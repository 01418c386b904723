"""Batch-level augmentation of in-memory uint8 images, vectorised over the batch.

For 28x28 images, per-sample transforms cost more than the network's forward
pass on a small CPU; these do the same operations (random crop with padding,
horizontal flip, random erasing as in torchvision's v2 transforms) on the
whole batch at once, drawing every random number from an explicit generator
so that a resumed run repeats the same augmentation exactly. They run where the
images are (a GPU keeps the whole training set and augments it there), with a
generator of that device.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["augment_batch", "cutmix", "normalize"]


def normalize(images: Tensor, mean: Sequence[float], std: Sequence[float]) -> Tensor:
    """uint8 (N, C, H, W) -> float32 in [0, 1] -> (x - mean) / std per channel."""
    x = images.float().div_(255)
    m = torch.tensor(mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    return x.sub_(m).div_(s)


def _random_crop(x: Tensor, padding: int, g: torch.Generator) -> Tensor:
    n, c, h, w = x.shape
    dev = x.device
    padded = torch.nn.functional.pad(x, (padding,) * 4)
    oy = torch.randint(0, 2 * padding + 1, (n,), generator=g, device=dev)
    ox = torch.randint(0, 2 * padding + 1, (n,), generator=g, device=dev)
    rows = (oy[:, None] + torch.arange(h, device=dev))[:, None, :, None].expand(n, c, h, w)
    cols = (ox[:, None] + torch.arange(w, device=dev))[:, None, None, :].expand(n, c, h, w)
    idx_n, idx_c = torch.arange(n, device=dev)[:, None, None, None], torch.arange(c, device=dev)[None, :, None, None]
    return padded[idx_n, idx_c, rows, cols]


def _random_erasing(x: Tensor, p: float, g: torch.Generator) -> Tensor:
    """Per-sample rectangles (2-33% of the area, aspect 0.3-3.3) set to 0, i.e. to the mean."""
    n, _, h, w = x.shape
    dev = x.device
    apply = torch.rand(n, generator=g, device=dev) < p
    area = torch.empty(n, device=dev).uniform_(0.02, 0.33, generator=g) * h * w
    log_ratio = torch.empty(n, device=dev).uniform_(math.log(0.3), math.log(1 / 0.3), generator=g)
    eh = (area * log_ratio.exp()).sqrt().round().clamp(1, h).long()
    ew = (area / log_ratio.exp()).sqrt().round().clamp(1, w).long()
    y0 = (torch.rand(n, generator=g, device=dev) * (h - eh + 1)).long()
    x0 = (torch.rand(n, generator=g, device=dev) * (w - ew + 1)).long()
    ys, xs = torch.arange(h, device=dev)[None, :], torch.arange(w, device=dev)[None, :]
    in_rows = (ys >= y0[:, None]) & (ys < (y0 + eh)[:, None])
    in_cols = (xs >= x0[:, None]) & (xs < (x0 + ew)[:, None])
    mask = (in_rows[:, :, None] & in_cols[:, None, :] & apply[:, None, None])[:, None]
    return x.masked_fill(mask, 0.0)


def augment_batch(
    images: Tensor,
    mean: Sequence[float],
    std: Sequence[float],
    generator: torch.Generator,
    *,
    crop_padding: int = 4,
    hflip: bool = True,
    erasing: float = 0.0,
) -> Tensor:
    """Crop (zero padding), flip, normalise, erase: the training view of a uint8 batch."""
    x = images
    if crop_padding > 0:
        x = _random_crop(x, crop_padding, generator)
    if hflip:
        flip = torch.rand(len(x), generator=generator, device=x.device) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    x = normalize(x, mean, std)
    if erasing > 0:
        x = _random_erasing(x, erasing, generator)
    return x


def cutmix(x: Tensor, y: Tensor, num_classes: int, p: float, g: torch.Generator) -> tuple[Tensor, Tensor]:
    """CutMix (Yun et al., 2019) with probability ``p`` per batch: a box of each image is
    replaced by the same box of the next image in the batch, and the targets become the
    two one-hot labels mixed by area. The box's area ratio is uniform (the paper's
    Beta(1, 1)); the result's targets are soft (N, num_classes) either way."""
    n, _, h, w = x.shape
    target = torch.nn.functional.one_hot(y, num_classes).to(x.dtype)
    draw = torch.rand(4, generator=g)  # always drawn, so the stream does not depend on the outcome
    if n < 2 or draw[0] >= p:
        return x, target
    ratio = (1 - draw[1]).sqrt()  # 1 - lambda = ratio ** 2, uniform
    bh, bw = int(h * ratio), int(w * ratio)
    cy, cx = int(draw[2] * h), int(draw[3] * w)
    y0, y1 = max(cy - bh // 2, 0), min(cy + bh - bh // 2, h)
    x0, x1 = max(cx - bw // 2, 0), min(cx + bw - bw // 2, w)
    x = x.clone()
    x[:, :, y0:y1, x0:x1] = x.roll(1, 0)[:, :, y0:y1, x0:x1]
    lam = 1 - (y1 - y0) * (x1 - x0) / (h * w)  # the area actually pasted (the box may be clipped)
    return x, lam * target + (1 - lam) * target.roll(1, 0)
