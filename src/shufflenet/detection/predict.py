"""Detections on image files, drawn as boxes with class and score on PNG copies of the images."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from shufflenet.data.images import open_image, report_unreadable
from shufflenet.utils.files import atomic_write

__all__ = ["Detection", "detect_files"]


@dataclass(frozen=True)
class Detection:
    image: str
    label: str
    score: float
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels


@torch.no_grad()
def detect_files(
    model: nn.Module,
    paths: list[Path],
    classes: list[str],
    *,
    score_thresh: float = 0.3,
    iou_thresh: float = 0.5,
    out_dir: str | os.PathLike[str] | None = None,
    skip_unreadable: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> list[Detection]:
    """The detections above ``score_thresh`` in each image, the best class per object (boxes of other
    classes overlapping it by IoU > ``iou_thresh`` dropped); with ``out_dir``, a PNG per image with its
    boxes drawn (``NAME.png``, written atomically). With ``skip_unreadable`` an image that cannot be
    decoded is left out and a warning names it (else it raises); ``progress(done, total)`` follows each.
    Two images of one name (``a/1.png``, ``b/1.jpg``) are drawn as ``1.png`` and ``1-2.png``, never one
    over the other."""
    for name, value in (("score_thresh", score_thresh), ("iou_thresh", iou_thresh)):
        if not 0 <= value <= 1:
            raise ValueError(f"{name} must be between 0 and 1, got {value}")
    from torchvision.ops import nms
    from torchvision.transforms.functional import pil_to_tensor, to_pil_image
    from torchvision.utils import draw_bounding_boxes

    model.eval()
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
    found: list[Detection] = []
    bad: list[str] = []
    for done, (path, drawn_name) in enumerate(zip(paths, _drawn_names(paths)), 1):
        if progress:
            progress(done - 1, len(paths))
        try:
            pixels = pil_to_tensor(open_image(path, "RGB"))
        except ValueError as exc:
            if not skip_unreadable:
                raise
            bad.append(str(exc))
            continue
        out = model([pixels.float().div(255)])[0]
        keep = out["scores"] >= score_thresh
        boxes, scores, labels = out["boxes"][keep], out["scores"][keep], out["labels"][keep]
        # one label per object: the detector suppresses overlaps within a class (as COCO's metric wants);
        # a reader wants the best class of each object, so overlaps across classes are suppressed too
        best = nms(boxes, scores, iou_thresh)
        boxes, scores, labels = boxes[best], scores[best], labels[best]
        names = [classes[int(k) - 1] for k in labels]
        found += [Detection(str(path), n, float(s), tuple(b.tolist())) for n, s, b in zip(names, scores, boxes)]
        if out_dir is not None:
            drawn = (
                pixels
                if not len(boxes)
                else draw_bounding_boxes(  # (it warns when given no box)
                    pixels, boxes, [f"{n} {s:.2f}" for n, s in zip(names, scores.tolist())], colors="yellow", width=2
                )
            )
            target = Path(out_dir) / drawn_name
            atomic_write(target, lambda tmp: to_pil_image(drawn).save(tmp, format="PNG"))
    if progress:
        progress(len(paths), len(paths))
    report_unreadable(bad, len(paths))
    return found


def _drawn_names(paths: list[Path]) -> list[str]:
    """A PNG name per image: its stem, with -2, -3, ... where an earlier image took that name."""
    taken: set[str] = set()
    names = []
    for path in paths:
        stem, k = Path(path).stem, 1
        name = f"{stem}.png"
        while name in taken:
            k += 1
            name = f"{stem}-{k}.png"
        taken.add(name)
        names.append(name)
    return names
