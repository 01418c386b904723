"""COCO-format detection data: one reader for real COCO, a user's labelled boxes and our synthetic set,
and COCO's own metrics (pycocotools).

Bad annotations are named, not silently trained on: a box reaching outside its image is clipped and
one with no area dropped (a warning names the images and counts them), a category id the file does
not declare is an error naming the image, and a file without images is an error.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from shufflenet.data.images import image_folder, name_a_few, open_image, unreadable_headers
from shufflenet.utils.optional import require

__all__ = ["CocoDetectionData", "DetectionMetrics", "collate", "evaluate_detector", "read_coco"]


def read_coco(ann_file: str | os.PathLike[str]) -> dict[str, Any]:
    """A COCO instances file, checked for the parts a detector needs."""
    path = Path(ann_file)
    if not path.is_file():
        raise FileNotFoundError(f"annotation file {str(path)!r} not found")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}); is it truncated?") from None
    if not isinstance(record, dict) or not {"images", "annotations", "categories"} <= set(record):
        raise ValueError(f"{path} is not a COCO instances file: it needs 'images', 'annotations' and 'categories'")
    if not record["images"]:
        raise ValueError(f"{path} lists no images")
    if not record["categories"]:
        raise ValueError(f"{path} declares no categories")
    return record


def _note(problems: list[str], what: str, source: Path) -> None:
    if problems:
        shown = name_a_few(problems, ", ")
        warnings.warn(f"{source}: {what} in {len(problems)} image(s): {shown}", stacklevel=3)


@dataclass
class _Item:
    file: Path
    image_id: int
    boxes: list[list[float]]  # x0, y0, x1, y1 in pixels
    labels: list[int]  # 1..K (contiguous; 0 is the background)


class CocoDetectionData(Dataset):
    """``images_dir`` + ``ann_file`` (COCO instances) as (image in [0, 1], target) pairs; ``target``
    holds ``boxes`` (x0, y0, x1, y1), ``labels`` (1..K, in the order of the category ids) and
    ``image_id``. ``transform(image, target)`` runs on each pair (augmentation)."""

    def __init__(
        self,
        images_dir: str | os.PathLike[str],
        ann_file: str | os.PathLike[str],
        transform: Callable[[Tensor, dict[str, Tensor]], tuple[Tensor, dict[str, Tensor]]] | None = None,
    ) -> None:
        self.root, self.ann_file = image_folder(images_dir), Path(ann_file)
        self.coco = read_coco(self.ann_file)
        cats = sorted(c["id"] for c in self.coco["categories"])
        self.category_ids = cats  # label k (1-based) is category cats[k - 1]
        self.classes = [next(c["name"] for c in self.coco["categories"] if c["id"] == i) for i in cats]
        label_of = {cid: k + 1 for k, cid in enumerate(cats)}
        images = {im["id"]: im for im in self.coco["images"]}
        per_image: dict[int, list[dict[str, Any]]] = {i: [] for i in images}
        for ann in self.coco["annotations"]:
            im = images.get(ann.get("image_id"))
            if im is None:
                raise ValueError(f"{self.ann_file}: annotation {ann.get('id')} refers to image id "
                                 f"{ann.get('image_id')}, which the file does not list")  # fmt: skip
            if ann.get("category_id") not in label_of:
                raise ValueError(f"{self.ann_file}: image {im['file_name']} has a box of category "
                                 f"{ann.get('category_id')}, which is not among the file's categories "
                                 f"({', '.join(map(str, cats))})")  # fmt: skip
            per_image[im["id"]].append(ann)
        clipped, dropped, missing = [], [], []
        self.items: list[_Item] = []
        for image_id, im in images.items():
            file = self.root / im["file_name"]
            if not file.is_file():
                missing.append(im["file_name"])
                continue
            w, h = float(im["width"]), float(im["height"])
            boxes, labels = [], []
            for ann in per_image[image_id]:
                if ann.get("iscrowd", 0):
                    continue  # crowd regions are scored by COCO's metric, not trained on
                x, y, bw, bh = (float(v) for v in ann["bbox"])
                x0, y0, x1, y1 = max(0.0, x), max(0.0, y), min(w, x + bw), min(h, y + bh)
                if (x0, y0, x1, y1) != (x, y, x + bw, y + bh):
                    clipped.append(im["file_name"])
                if x1 - x0 < 1 or y1 - y0 < 1:
                    dropped.append(im["file_name"])
                    continue
                boxes.append([x0, y0, x1, y1])
                labels.append(label_of[ann["category_id"]])
            self.items.append(_Item(file, int(image_id), boxes, labels))
        _note(sorted(set(clipped)), "boxes reaching outside the image were clipped", self.ann_file)
        _note(sorted(set(dropped)), "boxes with no area were dropped", self.ann_file)
        _note(missing, "image files are missing (skipped)", self.ann_file)
        unreadable = unreadable_headers(item.file for item in self.items)
        _note([f"{Path(f).name} ({why})" for f, why in unreadable.items()], "image files are unreadable (skipped)",
              self.ann_file)  # fmt: skip
        self.items = [item for item in self.items if str(item.file) not in unreadable]
        if not self.items:
            raise ValueError(f"{self.ann_file}: none of its {len(images)} images is a readable image in {self.root}")
        self.transform = transform

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[Tensor, dict[str, Tensor]]:
        from torchvision.transforms.functional import pil_to_tensor

        for j in range(len(self.items)):
            item = self.items[(i + j) % len(self.items)]
            try:
                image = pil_to_tensor(open_image(item.file, "RGB")).float().div_(255)
                break
            except ValueError as exc:  # a readable header, broken data: name it, use the next image
                warnings.warn(f"skipped an unreadable image ({exc})", stacklevel=2)
        else:
            raise ValueError(f"no image of {len(self.items)} in {self.root} could be decoded")
        target = {
            "boxes": torch.tensor(item.boxes, dtype=torch.float32).reshape(-1, 4),
            "labels": torch.tensor(item.labels, dtype=torch.int64),
            "image_id": torch.tensor(item.image_id),
        }
        if self.transform is not None:
            image, target = self.transform(image, target)
        return image, target


def collate(batch: Sequence[tuple[Tensor, dict[str, Tensor]]]) -> tuple[list[Tensor], list[dict[str, Tensor]]]:
    """Detection batches are lists: images may differ in size and hold different numbers of boxes."""
    return [b[0] for b in batch], [b[1] for b in batch]


@dataclass(frozen=True)
class DetectionMetrics:
    """COCO's box metrics (pycocotools): mAP over IoU 0.5:0.95, at 0.5 and 0.75, by object size
    (small < 32², medium < 96² px² of area, large above; ``None`` where the set has no such objects)."""

    map: float
    map_50: float
    map_75: float
    map_small: float | None
    map_medium: float | None
    map_large: float | None
    images: int

    def to_dict(self) -> dict[str, float | None]:
        return dict(self.__dict__)


@torch.no_grad()
def evaluate_detector(
    model: nn.Module, data: CocoDetectionData, batch_size: int = 8, batches: Iterable[Any] | None = None
) -> DetectionMetrics:
    """Score ``model`` on ``data`` with pycocotools (COCOeval, bbox), against the file's own boxes."""
    require("pycocotools", "detection")
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    model.eval()
    loader = batches if batches is not None else torch.utils.data.DataLoader(
        data, batch_size=batch_size, collate_fn=collate)  # fmt: skip
    results = []
    scored: set[int] = set()  # the images scored: one that failed to decode was replaced by the next (once)
    device = next(model.parameters(), torch.empty(0)).device  # a model without weights: the CPU
    for images, targets in loader:
        for out, target in zip(model([im.to(device) for im in images]), targets):
            image_id = int(target["image_id"])
            if image_id in scored:
                continue
            scored.add(image_id)
            for box, score, label in zip(out["boxes"].tolist(), out["scores"].tolist(), out["labels"].tolist()):
                x0, y0, x1, y1 = box
                results.append({"image_id": image_id, "category_id": data.category_ids[label - 1],
                                "bbox": [x0, y0, x1 - x0, y1 - y0], "score": score})  # fmt: skip
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools reports by printing; the caller reports here
        gt = COCO()
        gt.dataset = {**data.coco, "images": [im for im in data.coco["images"] if im["id"] in scored]}
        gt.createIndex()
        if results:
            evaluator = COCOeval(gt, gt.loadRes(results), "bbox")
            evaluator.evaluate()
            evaluator.accumulate()
            evaluator.summarize()
    s = [max(0.0, float(v)) for v in evaluator.stats[:6]] if results else [0.0] * 6  # stats: -1 where no objects
    areas = [a["area"] for a in gt.dataset["annotations"] if not a.get("iscrowd", 0) and a["image_id"] in scored]
    small, medium, large = (s[3 + k] if any(lo <= a < hi for a in areas) else None
                            for k, (lo, hi) in enumerate([(0, 32**2), (32**2, 96**2), (96**2, float("inf"))]))  # fmt: skip
    return DetectionMetrics(s[0], s[1], s[2], small, medium, large, images=len(scored))
