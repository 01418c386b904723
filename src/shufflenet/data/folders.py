"""ImageFolder trees: what one holds (``shufflenet data stats``) and writing one from tensors.

A user's folder is checked before an hour of training is spent on it: images per class, sizes and
modes, the mean/std to normalise with, and every file that is not a readable image, named.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from shufflenet.data.datasets import TensorData
from shufflenet.data.images import IMAGE_SUFFIXES, image_folder, open_image
from shufflenet.utils.files import atomic_dir

__all__ = ["FolderStats", "folder_stats", "match_classes", "write_image_folder"]


@dataclass
class FolderStats:
    """What an ImageFolder tree (ROOT/CLASS/IMAGE) holds."""

    root: str
    class_counts: dict[str, int]  # readable images per class folder
    sizes: Counter[tuple[int, int]] = field(default_factory=Counter)  # (width, height) -> images
    modes: Counter[str] = field(default_factory=Counter)  # PIL mode -> images
    mean: list[float] = field(default_factory=list)  # per channel, pixels in [0, 1]
    std: list[float] = field(default_factory=list)
    sampled: int = 0  # images decoded for mean/std
    unreadable: list[str] = field(default_factory=list)  # "path (reason)"
    other_files: list[str] = field(default_factory=list)  # files without an image suffix
    loose_files: list[str] = field(default_factory=list)  # files directly in ROOT (not in a class folder)

    @property
    def empty_classes(self) -> list[str]:
        return [c for c, n in self.class_counts.items() if n == 0]

    @property
    def images(self) -> int:
        return sum(self.class_counts.values())


def folder_stats(
    root: str | os.PathLike[str],
    in_chans: int = 3,
    max_sampled: int = 2000,
    progress: Callable[[int, int], None] | None = None,
) -> FolderStats:
    """Scan ``root``: every image's header (size, mode; an unreadable one is listed, not raised) and
    an evenly spaced sample of up to ``max_sampled`` images decoded (``in_chans`` 1: grey, 3: RGB) for
    the mean and std. ``progress(done, total)`` is called as files are read."""
    from PIL import Image

    base = image_folder(root)
    stats = FolderStats(str(base), {})
    files: list[tuple[str, Path]] = []
    for entry in sorted(base.iterdir()):
        if entry.is_dir():
            stats.class_counts[entry.name] = 0
            for f in sorted(p for p in entry.rglob("*") if p.is_file()):
                if f.suffix.lower() in IMAGE_SUFFIXES:
                    files.append((entry.name, f))
                else:
                    stats.other_files.append(str(f))
        elif entry.is_file():
            stats.loose_files.append(str(entry))
    if not stats.class_counts:
        raise ValueError(f"{base} holds no class folders; expected ROOT/CLASS_NAME/IMAGE.png")
    readable: list[Path] = []
    for i, (cls, f) in enumerate(files):
        try:
            with Image.open(f) as img:
                stats.sizes[img.size] += 1
                stats.modes[img.mode] += 1
        except Exception as exc:  # PIL raises many kinds for a bad file; all mean "unreadable" here
            stats.unreadable.append(f"{f} ({type(exc).__name__})")
        else:
            stats.class_counts[cls] += 1
            readable.append(f)
        if progress:
            progress(i + 1, len(files))
    picks = torch.linspace(0, len(readable) - 1, min(len(readable), max_sampled)).long().tolist() if readable else []
    total = torch.zeros(in_chans, dtype=torch.float64)
    square = torch.zeros(in_chans, dtype=torch.float64)
    pixels = 0
    for i in picks:
        try:
            img = open_image(readable[i], "L" if in_chans == 1 else "RGB")
        except ValueError as exc:  # a readable header over broken data
            stats.unreadable.append(f"{readable[i]} ({exc})")
            continue
        x = torch.frombuffer(bytearray(img.tobytes()), dtype=torch.uint8).double().div(255).view(-1, in_chans)
        total += x.sum(0)
        square += x.square().sum(0)
        pixels += len(x)
        stats.sampled += 1
    if pixels:
        mean = total / pixels
        stats.mean = [round(v, 4) for v in mean.tolist()]
        stats.std = [round(v, 4) for v in (square / pixels - mean.square()).clamp_min(0).sqrt().tolist()]
    return stats


def write_image_folder(
    data: TensorData,
    out: str | os.PathLike[str],
    *,
    groups: Mapping[str, Sequence[int]] | None = None,
    per_class: int | None = None,
    seed: int = 0,
) -> dict[str, int]:
    """Write ``data``'s images as PNG files in an ImageFolder tree ``out/CLASS/NNNNN.png``.

    ``groups`` maps a new class name to the labels it gathers (e.g. ``{"footwear": [5, 7, 9]}``;
    labels in no group are left out); ``per_class`` draws that many images of each class at random
    (seeded), balanced over the labels it gathers. The tree appears whole or not at all (it is
    written beside ``out`` and renamed). Returns the images written per class.
    """
    from PIL import Image

    groups = groups or {name: [k] for k, name in enumerate(data.classes)}
    gen = torch.Generator().manual_seed(seed)
    counts: dict[str, int] = {}
    with atomic_dir(out) as tmp:
        for name, labels in groups.items():
            chosen: list[int] = []
            for j, k in enumerate(labels):
                idx = (data.labels == k).nonzero().flatten()
                idx = idx[torch.randperm(len(idx), generator=gen)]
                if per_class is not None:  # spread per_class over the labels as evenly as it divides
                    share = per_class // len(labels) + (1 if j < per_class % len(labels) else 0)
                    if share > len(idx):
                        raise ValueError(f"class {name!r}: {share} images of label {k} asked, {len(idx)} exist")
                    idx = idx[:share]
                chosen += idx.tolist()
            folder = tmp / name.replace("/", "_")
            folder.mkdir()
            for i in chosen:
                img = data.images[i]  # (C, H, W) uint8
                Image.fromarray((img[0] if len(img) == 1 else img.permute(1, 2, 0)).numpy()).save(
                    folder / f"{i:05d}.png"
                )
            counts[name] = len(chosen)
    return counts


#: ImageNet's class folders are WordNet ids (``n01440764``); a model trained on all 1000 numbers them in sorted order
_WNID = re.compile(r"n\d{8}")


def match_classes(
    folders: Sequence[str], class_names: Sequence[str], class_map: str | os.PathLike[str] | None = None
) -> list[int]:
    """The model's class index of each class folder, so a folder is scored against the class it holds.

    Folders are matched to ``class_names`` by name; ``class_map`` is a text file whose line ``i`` begins with
    the folder name of the model's class ``i`` (ImageNet's ``LOC_synset_mapping.txt`` as it is). Without one,
    all 1000 ImageNet folders (WordNet ids) of a 1000-class model are numbered in sorted order, the order
    torchvision's and timm's ImageNet weights use. Anything else is refused rather than scored against
    labels that mean something else."""
    if class_map is not None:
        path = Path(class_map)
        try:
            lines = [line.replace(",", " ").split() for line in path.read_text(encoding="utf-8-sig").splitlines()]
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"--class-map {path}: cannot read it as text ({exc.__class__.__name__})") from None
        keys = [words[0] for words in lines if words]
        if len(keys) != len(class_names):
            raise ValueError(f"--class-map {path} names {len(keys)} classes, one per line; the model has "
                             f"{len(class_names)}: give the map it was trained with")  # fmt: skip
        index = {key: i for i, key in enumerate(keys)}
        if len(index) < len(keys):
            twice = sorted({k for k in keys if keys.count(k) > 1})
            raise ValueError(f"--class-map {path} names {', '.join(twice[:3])} on more than one line")
        where = f"not in --class-map {path}"
    elif not set(folders) <= set(class_names) and len(class_names) == 1000 and all(map(_WNID.fullmatch, folders)):
        if len(folders) != 1000:
            raise ValueError(f"{len(folders)} ImageNet class folders (WordNet ids) of 1000: with fewer, which class "
                             "each is cannot be told from its name; give ImageNet's map: --class-map "
                             "LOC_synset_mapping.txt (a line per class, its WordNet id first)")  # fmt: skip
        order = {f: i for i, f in enumerate(sorted(folders))}
        return [order[f] for f in folders]
    else:
        index = {name: i for i, name in enumerate(class_names)}
        where = "the model does not know"
    unknown = [f for f in folders if f not in index]
    if unknown:
        known = list(index)
        raise ValueError(f"class folders {where}: {', '.join(unknown[:5])}"
                         f"{f' and {len(unknown) - 5} more' if len(unknown) > 5 else ''}; its classes are "
                         f"{', '.join(known[:10])}{', ...' if len(known) > 10 else ''}")  # fmt: skip
    return [index[f] for f in folders]
