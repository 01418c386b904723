"""Image files as a model's input: finding them and turning them into a normalised batch.

Prediction and int8 calibration both read user images; both go through here so a file
is decoded, resized and normalised one way only.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

__all__ = ["IMAGE_SUFFIXES", "find_images", "preprocess"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


def find_images(items: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Files as given, folders expanded (recursively, sorted) to the image files they hold."""
    paths: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            paths += sorted(f for f in p.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES)
        else:
            paths.append(p)
    return paths


def preprocess(paths: Sequence[str | os.PathLike[str]], cfg: dict[str, Any]) -> Tensor:
    """Images -> the model's input: grey or RGB, resized to its input size, normalised."""
    from PIL import Image, UnidentifiedImageError
    from torchvision.transforms.functional import pil_to_tensor

    chans, h, w = cfg["input_size"]
    batch = []
    for p in paths:
        try:
            with Image.open(p) as raw:
                img = raw.convert("L" if chans == 1 else "RGB").resize((w, h), Image.Resampling.BILINEAR)
        except FileNotFoundError:
            raise FileNotFoundError(f"image {str(p)!r} not found") from None
        except (UnidentifiedImageError, OSError) as exc:
            raise ValueError(f"cannot decode image {p}: {exc}") from None
        batch.append(pil_to_tensor(img))
    x = torch.stack(batch).float().div_(255)
    mean = torch.tensor(cfg["mean"]).view(1, -1, 1, 1)
    std = torch.tensor(cfg["std"]).view(1, -1, 1, 1)
    return (x - mean) / std
