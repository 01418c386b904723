"""Datasets: Fashion-MNIST from its IDX files, and any ImageFolder tree of user images."""

from __future__ import annotations

import copy
import os
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset

from shufflenet.data.augment import normalize
from shufflenet.data.idx import read_idx
from shufflenet.data.images import image_folder, name_a_few, unreadable_headers

__all__ = [
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_DIR",
    "ImageFolderData",
    "TensorData",
    "load_fashion_mnist",
    "load_image_folder",
]

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
_FILES = {
    True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


@dataclass
class TensorData:
    """A whole image set in memory: uint8 images (N, C, H, W) and int64 labels."""

    images: Tensor
    labels: Tensor
    classes: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: Tensor) -> TensorData:
        return TensorData(self.images[index], self.labels[index], self.classes)

    def to(self, device: torch.device) -> TensorData:
        """The set on ``device`` (itself if it is there): a GPU keeps it whole and augments it in place."""
        if self.images.device == device:
            return self
        return TensorData(self.images.to(device), self.labels.to(device), self.classes)

    def batches(
        self, mean: Sequence[float], std: Sequence[float], batch_size: int = 512
    ) -> Iterator[tuple[Tensor, Tensor]]:
        """Normalised (images, labels) batches in order: the evaluation view of the set."""
        for i in range(0, len(self), batch_size):
            yield normalize(self.images[i : i + batch_size], mean, std), self.labels[i : i + batch_size]


def _find(root: Path, stem: str) -> Path:
    for name in (stem + ".gz", stem):
        if (root / name).is_file():
            return root / name
    raise FileNotFoundError(
        f"Fashion-MNIST file {stem}(.gz) not found in {root}; install Debian's dataset-fashion-mnist "
        "(`make data`) or pass --data-dir"
    )


def load_fashion_mnist(root: str | os.PathLike[str] = FASHION_MNIST_DIR, train: bool = True) -> TensorData:
    """The official 60k training or 10k test split, as uint8 tensors."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(
            f"Fashion-MNIST directory {str(root)!r} not found; install Debian's dataset-fashion-mnist "
            "(`make data`) or pass --data-dir"
        )
    image_file, label_file = (_find(root, stem) for stem in _FILES[train])
    images, labels = read_idx(image_file), read_idx(label_file)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(f"{image_file} and {label_file} do not match: images {images.shape}, labels {labels.shape}")
    if labels.max(initial=0) >= len(FASHION_MNIST_CLASSES):
        raise ValueError(f"{label_file} has label {labels.max()}, but Fashion-MNIST has 10 classes")
    return TensorData(
        torch.from_numpy(images.copy()).unsqueeze(1), torch.from_numpy(labels.astype("int64")), FASHION_MNIST_CLASSES
    )


class ImageFolderData(Dataset):
    """Class folders of JPEG/PNG images (torchvision's ImageFolder layout) with clear errors.

    A file that is not a readable image is named and skipped, with a count, instead of stopping a
    run an hour in: headers are checked when the folder is opened (``skipped`` lists the files), and
    an image that fails later, while decoding, is added to ``skipped`` (a warning names it) and
    replaced by the next one, or with ``replace_broken=False`` (evaluation: no image scored twice)
    given as None, which :func:`readable_collate` drops from its batch.
    """

    def __init__(
        self, root: str | os.PathLike[str], transform=None, in_chans: int = 3, *, replace_broken: bool = True
    ) -> None:
        from torchvision.datasets import ImageFolder
        from torchvision.datasets.folder import IMG_EXTENSIONS

        root = image_folder(root)
        classes = [d for d in sorted(root.iterdir()) if d.is_dir()]
        empty = [d.name for d in classes if not any(f.suffix.lower() in IMG_EXTENSIONS for f in d.rglob("*"))]
        if empty and len(empty) < len(classes):
            raise ValueError(f"{root}: {len(empty)} class folder(s) hold no images ({name_a_few(empty, ', ')}); add "
                             "images or remove the folders")  # fmt: skip
        try:
            folder = ImageFolder(str(root), loader=lambda p: p)  # the files, not yet decoded
        except (FileNotFoundError, RuntimeError) as exc:
            raise ValueError(
                f"{root} holds no images in class folders ({str(exc).splitlines()[0]}); "
                "expected ROOT/CLASS_NAME/IMAGE.jpg"
            ) from None
        bad = unreadable_headers(path for path, _ in folder.samples)
        self.skipped = [f"{path} ({reason})" for path, reason in bad.items()]
        self.samples: list[tuple[str, int]] = [(path, label) for path, label in folder.samples if path not in bad]
        if self.skipped:
            warnings.warn(f"{root}: skipped {len(self.skipped)} unreadable file(s) of "
                          f"{len(folder.samples)}: {name_a_few(self.skipped)}", stacklevel=2)  # fmt: skip
        if not self.samples:
            raise ValueError(f"{root} holds no readable images")
        self.classes = tuple(folder.classes)
        self.transform = transform
        self.mode = "L" if in_chans == 1 else "RGB"
        self.replace_broken = replace_broken

    def __len__(self) -> int:
        return len(self.samples)

    def with_transform(self, transform) -> ImageFolderData:
        """The same files (scanned once) under another transform."""
        twin = copy.copy(self)
        twin.transform = transform
        return twin

    def __getitem__(self, i: int) -> tuple[Any, int] | None:  # a tensor once transformed, else the PIL image
        from shufflenet.data.images import open_image

        for j in range(len(self.samples)):
            path, label = self.samples[(i + j) % len(self.samples)]
            try:
                img = open_image(path, self.mode)
            except ValueError as exc:  # decodable header, broken data: name it, use the next image (or none)
                if path not in self.skipped:
                    self.skipped.append(path)
                    warnings.warn(f"skipped an unreadable image ({exc})", stacklevel=2)
                if not self.replace_broken:
                    return None
                continue
            return (self.transform(img) if self.transform else img), label
        raise ValueError(f"no image of {len(self.samples)} in the folder could be decoded")


def readable_collate(items: Sequence[Any]) -> Any:
    """A batch of the items that are not None (images that failed to decode), or None if none is left."""
    from torch.utils.data import default_collate

    kept = [item for item in items if item is not None]
    return default_collate(kept) if kept else None


def load_image_folder(
    root: str | os.PathLike[str], transform=None, in_chans: int = 3, *, replace_broken: bool = True
) -> ImageFolderData:
    return ImageFolderData(root, transform, in_chans, replace_broken=replace_broken)
