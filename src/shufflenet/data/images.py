"""Image files as a model's input: finding them and turning them into a normalised batch.

Prediction, int8 calibration, evaluation and training on a folder all read user images; all go
through here so a file is decoded, resized and normalised one way only.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

__all__ = [
    "IMAGE_SUFFIXES",
    "MAX_PIXELS",
    "decode_size",
    "find_images",
    "fit_to_input",
    "image_folder",
    "open_image",
    "name_a_few",
    "preprocess",
    "report_unreadable",
    "to_input",
    "unreadable_headers",
]

#: what a folder's images may be called: torchvision's ImageFolder list (TIFF too: scans, microscopy)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm")

#: the largest image decoded, in pixels (50 MP: a 7000x7000 photo; 8000x8000 took 842 MB to decode).
#: Checked from the header, before decoding; ``SHUFFLENET_MAX_PIXELS`` raises it.
MAX_PIXELS = int(os.environ.get("SHUFFLENET_MAX_PIXELS", 50_000_000))


def _to_8bit(img: Any) -> Any:
    """16- and 32-bit integer and 32-bit float greyscale (16-bit PNGs, float TIFFs) scaled to 8 bits: PIL's
    own conversion clips them. A 32-bit image is read as 8-bit, 16-bit or full range (a float one as
    0-1, 8-bit or full range), whichever its largest value fits."""
    import numpy as np
    from PIL import Image

    a = np.nan_to_num(np.asarray(img, dtype=np.float64))
    peak = float(a.max(initial=0))
    tops = (1.0, 255.0) if img.mode == "F" else (255.0, 65535.0)
    top = 65535.0 if img.mode.startswith("I;16") else next((t for t in tops if peak <= t), peak)
    return Image.fromarray(np.clip(a * (255 / top), 0, 255).round().astype(np.uint8), "L")


def open_image(path: str | os.PathLike[str], mode: str, size: tuple[int, int] | None = None) -> Any:
    """The one guarded reader of image files: ``path`` decoded to ``mode`` ("L" or "RGB").

    Any mode comes in (palette, alpha, 16-bit grey, float, CMYK, bilevel); 16-bit and float images are
    scaled, not clipped. An image over :data:`MAX_PIXELS` is refused from its header; ``size`` (width, height)
    lets JPEG decode straight to about that size. Every failure is a ValueError (FileNotFoundError
    for a missing file) naming the file.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as raw:
            pixels = raw.width * raw.height
            if pixels > MAX_PIXELS:
                raise ValueError(
                    f"image {path} is {raw.width}x{raw.height} ({pixels / 1e6:.0f} MP), over the {MAX_PIXELS / 1e6:.0f} MP "
                    "limit; shrink it, or raise the limit with SHUFFLENET_MAX_PIXELS"
                )
            if size is not None:
                raw.draft(mode, size)  # JPEG: decode at a fraction of the size (no-op for other formats)
            img: Image.Image = raw
            if img.mode.startswith("I") or img.mode == "F":
                img = _to_8bit(img)
            elif img.mode == "P":
                img = img.convert("RGBA")  # palette with transparency: PIL asks for this step
            return img.convert(mode)
    except FileNotFoundError:
        raise FileNotFoundError(f"image {str(path)!r} not found") from None
    except IsADirectoryError:
        raise ValueError(f"{path} is a directory, not an image") from None
    except Image.DecompressionBombError:  # PIL's own limit (179 MP), hit before ours could be checked
        raise ValueError(
            f"image {path} is over {2 * (Image.MAX_IMAGE_PIXELS or 0) / 1e6:.0f} MP, far over the {MAX_PIXELS / 1e6:.0f} MP limit; "
            "shrink it"
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise ValueError(f"cannot decode image {path}: {exc}") from None


def image_folder(path: str | os.PathLike[str]) -> Path:
    """``path`` as a folder of images, or a one-line error saying what it is instead."""
    p = Path(path)
    if p.is_file():
        raise ValueError(f"{str(p)!r} is a file; give the folder that holds the images")
    if not p.is_dir():
        raise FileNotFoundError(f"image folder {str(p)!r} not found")
    return p


def name_a_few(items: Sequence[str], sep: str = "; ") -> str:
    """The first three of ``items`` and how many more: a message about many files names some, counts all."""
    return sep.join(items[:3]) + (f" and {len(items) - 3} more" if len(items) > 3 else "")


def report_unreadable(errors: Sequence[str], total: int) -> None:
    """After reading ``total`` images of which ``errors`` (one message each) could not be decoded: an error
    if none could, else a warning that names them and counts them (pointing at the caller's caller)."""
    if errors and len(errors) == total:
        raise ValueError(errors[0] if total == 1 else f"none of the {total} images could be read: {errors[0]}; ...")
    if errors:
        warnings.warn(f"skipped {len(errors)} of {total} image(s): {name_a_few(errors)}", stacklevel=3)


def unreadable_headers(paths: Iterable[str | os.PathLike[str]]) -> dict[str, str]:
    """The files among ``paths`` whose image header PIL cannot read, each with the reason: checked when a
    dataset is opened (a header costs little), so a bad file is named and skipped, not met mid-epoch."""
    from PIL import Image

    bad = {}
    for path in paths:
        try:
            with Image.open(path):
                pass
        except Exception as exc:  # PIL raises many kinds for a bad header; all mean the same here
            bad[str(path)] = type(exc).__name__
    return bad


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


def fit_to_input(img: Any, cfg: dict[str, Any]) -> Any:
    """A decoded image at the model's input size, resized as its weights were evaluated. With a ``crop_pct``
    in ``cfg`` (ImageNet weights: 224 of 256) the shorter side goes to side / crop_pct and the centre is cropped,
    torchvision's and timm's evaluation, with which their published accuracy was measured; without one the image
    is stretched to the input size, as our training and validation see it."""
    from torchvision.transforms.functional import center_crop, resize

    _, h, w = cfg["input_size"]
    side = _crop_from(cfg)
    return center_crop(resize(img, side), [h, w]) if side else resize(img, [h, w])


def _crop_from(cfg: dict[str, Any]) -> int:
    """The shorter side an image is resized to before its centre is cropped (0: no crop, a stretch)."""
    _, h, w = cfg["input_size"]
    crop_pct = cfg.get("crop_pct")
    return round(min(h, w) / crop_pct) if crop_pct else 0


def decode_size(cfg: dict[str, Any]) -> tuple[int, int]:
    """The smallest (width, height) an image may be decoded at (JPEG's draft mode) before :func:`fit_to_input`
    without being enlarged again: the resize before the crop, not the crop."""
    _, h, w = cfg["input_size"]
    side = _crop_from(cfg)
    return max(w, side), max(h, side)


def to_input(img: Any, cfg: dict[str, Any]) -> Tensor:
    """A decoded image -> the model's normalised (C, H, W) input: :func:`fit_to_input`, then ``cfg``'s mean/std.
    Prediction, calibration and evaluation all go through here, so an image is scored one way only."""
    from torchvision.transforms.functional import pil_to_tensor

    x = pil_to_tensor(fit_to_input(img, cfg)).float().div_(255)
    mean = torch.tensor(cfg["mean"], dtype=torch.float32).view(-1, 1, 1)
    std = torch.tensor(cfg["std"], dtype=torch.float32).view(-1, 1, 1)
    return (x - mean) / std


def preprocess(paths: Sequence[str | os.PathLike[str]], cfg: dict[str, Any]) -> Tensor:
    """Image files -> the model's input batch: grey or RGB, resized as by :func:`fit_to_input`, normalised.
    JPEGs are decoded straight at :func:`decode_size` (draft mode): faster, within a grey level or two."""
    mode = "L" if cfg["input_size"][0] == 1 else "RGB"
    return torch.stack([to_input(open_image(p, mode, decode_size(cfg)), cfg) for p in paths])
