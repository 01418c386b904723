"""A detection set we can make here: Fashion-MNIST items pasted onto textured canvases, in COCO format.

COCO cannot be downloaded on this machine, so the papers' detection experiments run in miniature
on data that has what matters — objects of several classes at several scales, overlapping, on a
cluttered background — written exactly as COCO is (images + ``annotations/instances_SPLIT.json``),
so the same commands run on real COCO or a user's labelled boxes. Training images come from
Fashion-MNIST's training split, validation images from its test split; everything is drawn from
one seeded generator, so a seed gives the same files.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable

import numpy as np

from shufflenet.data import FASHION_MNIST_CLASSES, FASHION_MNIST_DIR, load_fashion_mnist
from shufflenet.utils.files import atomic_dir

__all__ = ["make_detection_set"]


def _canvas(rng: np.random.Generator, side: int) -> np.ndarray:
    """A cluttered RGB background: a colour gradient, stripes at a random angle, and blurred noise."""
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32) / side
    base = rng.uniform(30, 140, 3) + rng.uniform(-40, 40, 3) * (xx[..., None] * rng.uniform(-1, 1) + yy[..., None])
    angle, period = rng.uniform(0, np.pi), rng.uniform(6, 24)
    stripes = 18 * np.sin(2 * np.pi * (xx * np.cos(angle) + yy * np.sin(angle)) * side / period)
    grain = rng.normal(0, 14, (side // 4 + 1, side // 4 + 1))
    noise = np.kron(grain, np.ones((4, 4)))[:side, :side]  # coarse grain, like texture rather than pixel noise
    return np.clip(base + (stripes + noise)[..., None], 0, 255)


def _scaled(item: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(item).resize((size, size), Image.Resampling.BILINEAR), dtype=np.float32)


def _render(rng: np.random.Generator, items: np.ndarray, labels: np.ndarray, side: int, max_objects: int,
            min_scale: float, max_scale: float) -> tuple[np.ndarray, list[tuple[list[float], int]]]:  # fmt: skip
    img = _canvas(rng, side)
    objects: list[tuple[list[float], int]] = []
    for _ in range(int(rng.integers(1, max_objects + 1))):
        i = int(rng.integers(len(items)))
        size = int(round(28 * rng.uniform(min_scale, max_scale)))
        size = min(size, side)
        alpha = _scaled(items[i], size) / 255.0  # Fashion-MNIST items are bright on black: brightness is the mask
        x0, y0 = int(rng.integers(0, side - size + 1)), int(rng.integers(0, side - size + 1))
        colour = rng.uniform(120, 255, 3)
        region = img[y0 : y0 + size, x0 : x0 + size]
        img[y0 : y0 + size, x0 : x0 + size] = region * (1 - alpha[..., None]) + colour * alpha[..., None]
        ys, xs = np.nonzero(alpha > 0.1)
        if len(xs) == 0:
            continue
        box = [
            float(x0 + xs.min()),
            float(y0 + ys.min()),
            float(xs.max() - xs.min() + 1),
            float(ys.max() - ys.min() + 1),
        ]
        objects.append((box, int(labels[i]) + 1))  # COCO category ids start at 1
    # a later item may hide an earlier one: drop boxes that are mostly covered by the items pasted after them
    return img.astype(np.uint8), _visible(objects)


def _visible(objects: list[tuple[list[float], int]]) -> list[tuple[list[float], int]]:
    kept = []
    for k, (box, cat) in enumerate(objects):
        x, y, w, h = box
        covered = 0.0
        for later, _ in objects[k + 1 :]:
            lx, ly, lw, lh = later
            ix = max(0.0, min(x + w, lx + lw) - max(x, lx))
            iy = max(0.0, min(y + h, ly + lh) - max(y, ly))
            covered = max(covered, ix * iy / (w * h))
        if covered < 0.6:
            kept.append((box, cat))
    return kept


def make_detection_set(
    out: str | os.PathLike[str],
    *,
    train_images: int = 2000,
    val_images: int = 500,
    img_size: int = 128,
    max_objects: int = 4,
    min_scale: float = 1.0,
    max_scale: float = 3.0,
    seed: int = 0,
    data_dir: str = FASHION_MNIST_DIR,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, int]:
    """Write ``out/{train,val}/*.png`` and ``out/annotations/instances_{train,val}.json`` (COCO).

    Each image holds 1 to ``max_objects`` items, each scaled to ``min_scale``-``max_scale`` times its
    28 px, at a random place (overlaps allowed; a box mostly hidden by a later item is dropped). The
    folder appears whole or not at all. Returns the number of boxes per split.
    """
    from PIL import Image

    if not 0 < min_scale <= max_scale or 28 * min_scale > img_size:
        raise ValueError(f"scales {min_scale}-{max_scale} of 28 px items must fit {img_size} px images")
    rng = np.random.default_rng(seed)
    categories = [
        {"id": k + 1, "name": name, "supercategory": "fashion"} for k, name in enumerate(FASHION_MNIST_CLASSES)
    ]
    counts = {}
    done, total = 0, train_images + val_images
    with atomic_dir(out) as tmp:
        (tmp / "annotations").mkdir()
        for split, n, train in (("train", train_images, True), ("val", val_images, False)):
            source = load_fashion_mnist(data_dir, train=train)
            items, labels = source.images[:, 0].numpy(), source.labels.numpy()
            (tmp / split).mkdir()
            images: list[dict[str, object]] = []
            annotations: list[dict[str, object]] = []
            for i in range(n):
                img, objects = _render(rng, items, labels, img_size, max_objects, min_scale, max_scale)
                name = f"{i:06d}.png"
                Image.fromarray(img).save(tmp / split / name)
                images.append({"id": i + 1, "file_name": name, "width": img_size, "height": img_size})
                for box, cat in objects:
                    annotations.append({"id": len(annotations) + 1, "image_id": i + 1, "category_id": cat,
                                        "bbox": box, "area": box[2] * box[3], "iscrowd": 0})  # fmt: skip
                done += 1
                if progress:
                    progress(done, total)
            record = {"info": {"description": "Fashion-MNIST items on textured canvases (shufflenet detect make-data)",
                               "seed": seed, "img_size": img_size},
                      "images": images, "annotations": annotations, "categories": categories}  # fmt: skip
            (tmp / "annotations" / f"instances_{split}.json").write_text(json.dumps(record))
            counts[split] = len(annotations)
    return counts
