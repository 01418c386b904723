"""Datasets and augmentation for training and evaluation."""

from shufflenet.data.augment import augment_batch, cutmix, normalize
from shufflenet.data.datasets import (
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_DIR,
    ImageFolderData,
    TensorData,
    load_fashion_mnist,
    load_image_folder,
)
from shufflenet.data.idx import read_idx, write_idx

__all__ = [
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_DIR",
    "ImageFolderData",
    "TensorData",
    "augment_batch",
    "cutmix",
    "load_fashion_mnist",
    "load_image_folder",
    "normalize",
    "read_idx",
    "write_idx",
]
