"""Training and validation batches for Fashion-MNIST (in memory) and ImageFolder trees."""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, cast

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Subset

from shufflenet.data import TensorData, augment_batch, load_fashion_mnist, load_image_folder
from shufflenet.data.datasets import FASHION_MNIST_CLASSES, FASHION_MNIST_DIR, readable_collate
from shufflenet.data.folders import match_classes
from shufflenet.data.images import fit_to_input, to_input
from shufflenet.train.config import TrainConfig
from shufflenet.train.distributed import DistEnv
from shufflenet.utils.host import available_memory
from shufflenet.utils.tables import byte_size

__all__ = [
    "DataBundle",
    "crop_padding",
    "default_workers",
    "evaluation_data",
    "folder_pixels",
    "folder_transforms",
    "prepare_data",
    "seeded_generator",
    "stratified_split",
]

Batches = Iterator[tuple[Tensor, Tensor]]


def seeded_generator(*parts: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A generator on ``device`` seeded from ``parts`` alone (seed, epoch, rank, ...), so that a resumed run draws
    the same."""
    seed = 0
    for p in parts:
        seed = seed * 1_000_003 + p
    return torch.Generator(device).manual_seed(seed % (2**63))


def default_workers(device: torch.device, processes: int = 1) -> int:
    """Image-decoding processes for each of ``processes`` training or evaluating processes on this machine: none on
    a CPU, whose cores compute the model (decoding between batches), else up to 8 each, one core left per process."""
    if device.type == "cpu":
        return 0
    return max(1, min(8, (os.cpu_count() or 1) // processes - 1))


def stratified_split(labels: Tensor, fraction: float, seed: int, stream: int = 7) -> tuple[Tensor, Tensor]:
    """(train, val) indices holding out ``fraction`` of *each class* (at least one image of every class
    with two or more), drawn with a seeded generator (``stream``: which of the seed's draws): the validation
    set has the training set's class balance, and a rare class is not left out of it by chance."""
    n, n_val = len(labels), int(round(len(labels) * fraction))
    if not 0 < n_val < n:
        raise ValueError(f"--val-split {fraction} of {n} training images leaves {n - n_val} for training and {n_val} "
                         "for validation; both need at least one")  # fmt: skip
    gen = seeded_generator(seed, stream)
    train, val = [], []
    for k in labels.unique().tolist():
        idx = (labels == k).nonzero().flatten()
        idx = idx[torch.randperm(len(idx), generator=gen)]
        n_val = min(len(idx) - 1, max(1, int(round(len(idx) * fraction))))
        val.append(idx[:n_val])
        train.append(idx[n_val:])
    return torch.cat(train).sort().values, torch.cat(val).sort().values


@dataclass
class DataBundle:
    """What the loop needs: batches per epoch, sizes, and what a checkpoint must remember."""

    config: TrainConfig
    env: DistEnv
    classes: tuple[str, ...]
    in_chans: int
    img_size: int
    mean: list[float]
    std: list[float]
    train_tensors: TensorData | None = None
    val_tensors: TensorData | None = None
    train_set: object | None = None  # an ImageFolder-like dataset
    val_set: object | None = None
    val_name: str = "val"

    def __post_init__(self) -> None:
        # in-memory sets move to the run's device once: a GPU then gathers, augments and normalises every
        # batch where it computes, with no copy per step; the CPU keeps them where they are
        if self.train_tensors is not None:
            self.train_tensors = self.train_tensors.to(self.env.device)
        if self.val_tensors is not None:
            self.val_tensors = self.val_tensors.to(self.env.device)

    @property
    def small_input(self) -> bool:
        return self.img_size <= 64

    @property
    def train_len(self) -> int:
        return len(self.train_tensors) if self.train_tensors is not None else len(self.train_set)  # type: ignore[arg-type]

    @property
    def val_len(self) -> int:
        return len(self.val_tensors) if self.val_tensors is not None else len(self.val_set)  # type: ignore[arg-type]

    @property
    def whole_batches(self) -> bool:
        """A compiled or captured step trains on whole batches only: the short last batch of an epoch would be a
        second input shape, compiled again (tens of seconds on a GPU) and marked dynamic, the batch size then a
        variable in every kernel, or not replayable by the captured graph. The shuffle differs each epoch, so the
        few images left out differ too."""
        return self.config.compile != "off" or self.config.cuda_graph

    def steps_per_epoch(self) -> int:
        per_rank = math.ceil(self.train_len / self.env.world_size)
        return (math.floor if self.whole_batches else math.ceil)(per_rank / self.config.batch_size)

    def _sampler(self, n: int, shuffle: bool, epoch: int) -> DistributedSampler[int]:
        sampler: DistributedSampler[int] = DistributedSampler(
            range(n),  # type: ignore[arg-type]  # any sized sequence works; the stubs ask for a Dataset
            num_replicas=self.env.world_size,
            rank=self.env.rank,
            shuffle=shuffle,
            seed=self.config.seed,
        )
        sampler.set_epoch(epoch)
        return sampler

    def train_batches(self, epoch: int) -> Batches:
        """This rank's shard of the epoch, shuffled and augmented from (seed, epoch, rank) alone."""
        cfg = self.config
        if self.train_tensors is not None:
            order = torch.tensor(list(self._sampler(self.train_len, True, epoch)), device=self.env.device)
            g = seeded_generator(cfg.seed, epoch, self.env.rank, device=self.env.device)
            for chunk in order.split(cfg.batch_size):
                if self.whole_batches and len(chunk) < cfg.batch_size:
                    return
                x = augment_batch(
                    self.train_tensors.images[chunk], self.mean, self.std, g,
                    crop_padding=crop_padding(cfg, self.img_size), hflip=cfg.hflip, erasing=cfg.random_erasing,
                )  # fmt: skip
                yield x, self.train_tensors.labels[chunk]
            return
        torch.manual_seed(seeded_generator(cfg.seed, epoch, self.env.rank).initial_seed())  # per-sample v2 transforms
        dataset = cast("Dataset[tuple[Tensor, int]]", self.train_set)  # an ImageFolder-like dataset
        # workers draw from seeds the loader takes from the global generator, seeded above: the same each epoch
        loader = DataLoader(dataset, batch_size=cfg.batch_size, sampler=self._sampler(self.train_len, True, epoch),
                            drop_last=self.whole_batches, **self._loading())  # fmt: skip
        yield from loader

    def _loading(self) -> dict[str, Any]:
        """Decoding in ``workers`` processes (not kept between epochs, so a resumed epoch draws as the first did),
        into page-locked memory on a GPU run (its copies then overlap the step)."""
        return {"num_workers": self.config.workers or 0, "pin_memory": self.env.device.type == "cuda"}

    def val_batches(self, batch_size: int = 128) -> Batches:
        """This rank's contiguous share of the validation set (all of it for one process);
        :func:`shufflenet.train.evaluate.reduce_eval` combines the ranks' results."""
        n = self.val_len
        start, end = n * self.env.rank // self.env.world_size, n * (self.env.rank + 1) // self.env.world_size
        if self.val_tensors is not None:
            part = self.val_tensors.subset(torch.arange(start, end, device=self.env.device))
            yield from part.batches(self.mean, self.std, batch_size)
            return
        yield from DataLoader(Subset(self.val_set, range(start, end)), batch_size=batch_size, **self._loading())  # type: ignore[arg-type]


def _stats(images: Tensor) -> tuple[list[float], list[float]]:
    x = images.float().div(255)
    return x.mean((0, 2, 3)).tolist(), x.std((0, 2, 3)).tolist()


def crop_padding(cfg: TrainConfig, size: int) -> int:
    """The random crop's padding at image side ``size``: ``crop_padding`` is in 28-pixel Fashion-MNIST units."""
    return cfg.crop_padding * size // 28


def folder_pixels(size: int, in_chans: int):
    """Decoded image -> uint8 (C, size, size) tensor, resized as :func:`folder_transforms` resizes it."""
    from torchvision.transforms import v2

    return v2.Compose([partial(fit_to_input, cfg={"input_size": [in_chans, size, size]}), v2.PILToTensor()])


def folder_transforms(size: int, mean: Sequence[float], std: Sequence[float], train: TrainConfig | None = None):
    """Decoded image -> normalised tensor at ``size`` (:func:`~shufflenet.data.images.to_input`, as prediction and
    evaluation see it); with ``train``, that config's augmentation too (what :func:`augment_batch` does to a batch
    of :func:`folder_pixels`, image by image)."""
    cfg = {"input_size": [len(mean), size, size], "mean": list(mean), "std": list(std)}
    if train is None:
        return partial(to_input, cfg=cfg)
    from torchvision.transforms import v2

    ops: list[object] = [folder_pixels(size, len(mean))]
    if train.crop_padding:
        ops.append(v2.RandomCrop(size, padding=crop_padding(train, size)))
    if train.hflip:
        ops.append(v2.RandomHorizontalFlip())
    ops += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(mean), list(std))]
    if train.random_erasing:
        ops.append(v2.RandomErasing(p=train.random_erasing))
    return v2.Compose(ops)


def prepare_data(cfg: TrainConfig, env: DistEnv, note: Callable[[str], None] | None = None) -> DataBundle:
    """The run's training and validation data (``note``: a line for the user before long work)."""
    if cfg.dataset == "fashion-mnist":
        root = cfg.data_dir or FASHION_MNIST_DIR
        train = load_fashion_mnist(root, train=True)
        if cfg.train_subset:
            train = train.subset(torch.arange(min(cfg.train_subset, len(train))))
            if len(train.labels.unique()) < 2:
                raise ValueError(f"--train-subset {cfg.train_subset}: the first images hold one class only; a classifier "
                                 "needs at least two (use a larger subset)")  # fmt: skip
        if cfg.val_split:
            tr, va = stratified_split(train.labels, cfg.val_split, cfg.seed)
            train, val, val_name = train.subset(tr), train.subset(va), "val"
        else:
            val, val_name = load_fashion_mnist(root, train=False), "test"
        mean, std = (list(cfg.mean), list(cfg.std or ())) if cfg.mean else _stats(train.images)
        return DataBundle(cfg, env, train.classes, 1, 28, mean, std, train, val, val_name=val_name)
    if not cfg.data_dir:
        raise ValueError("the imagefolder dataset needs --data-dir ROOT (class folders of images)")
    size = cfg.img_size or 224
    in_chans = cfg.in_chans or 3
    probe = load_image_folder(cfg.data_dir, folder_transforms(size, [0.0] * in_chans, [1.0] * in_chans), in_chans)
    if len(probe.classes) < 2:
        raise ValueError(f"{cfg.data_dir} has {len(probe.classes)} class folder ({', '.join(probe.classes)}); a "
                         "classifier needs at least two: ROOT/CLASS_A/*.png, ROOT/CLASS_B/*.png, ...")  # fmt: skip
    if cfg.mean:
        if len(cfg.mean) != in_chans:
            raise ValueError(f"--mean/--std give {len(cfg.mean)} channel(s) but the images are read with {in_chans} "
                             "(--in-chans)")  # fmt: skip
        mean, std = list(cfg.mean), list(cfg.std or ())
    else:
        picks = torch.linspace(0, len(probe) - 1, min(len(probe), 200)).long().tolist()
        sample = torch.stack([item[0] for i in picks if (item := probe[i]) is not None])  # never None here
        mean, std = sample.mean((0, 2, 3)).tolist(), sample.std((0, 2, 3)).clamp_min(1e-3).tolist()
    full = probe.with_transform(folder_transforms(size, mean, std, cfg))  # the folder is scanned once
    plain = probe.with_transform(folder_transforms(size, mean, std))
    val_folder = None
    if cfg.val_dir:
        val_folder = load_image_folder(cfg.val_dir, folder_transforms(size, mean, std), in_chans)
        if val_folder.classes != full.classes:
            raise ValueError(f"--val-dir {cfg.val_dir} has classes {', '.join(val_folder.classes)}; the training "
                             f"folder has {', '.join(full.classes)}: they must be the same class folders")  # fmt: skip
    elif not cfg.val_split:
        warnings.warn("no --val-dir or --val-split: the validation scores are on the training images themselves",
                      stacklevel=2)  # fmt: skip
    if cfg.in_memory:
        folders = [probe] if val_folder is None else [probe, val_folder]
        nbytes = sum(map(len, folders)) * in_chans * size * size
        _check_fits(nbytes, env)
        if note:
            note(f"--in-memory: decoding {' and '.join(f'{len(f):,}' for f in folders)} images at {size} px, once "
                 f"({byte_size(nbytes)})")  # fmt: skip
        decoded = [_decoded(f, size, in_chans, cfg.workers or 0) for f in folders]
        images, held_out = decoded[0], decoded[-1]  # no --val-dir: the training images themselves
        if cfg.val_split:
            tr, va = stratified_split(images.labels, cfg.val_split, cfg.seed)
            images, held_out = images.subset(tr), images.subset(va)
        if (pick := _drawn(images.labels, cfg)) is not None:
            images = images.subset(pick)
        return DataBundle(cfg, env, full.classes, in_chans, size, mean, std, images, held_out)
    labels = torch.tensor([label for _, label in full.samples])
    tr, val_set = torch.arange(len(labels)), cast("Dataset[Any]", plain if val_folder is None else val_folder)
    if cfg.val_split and val_folder is None:
        tr, va = stratified_split(labels, cfg.val_split, cfg.seed)
        val_set = Subset(plain, va.tolist())
    if (pick := _drawn(labels[tr], cfg)) is not None:
        tr = tr[pick]
    return DataBundle(cfg, env, full.classes, in_chans, size, mean, std, train_set=Subset(full, tr.tolist()),
                      val_set=val_set)  # fmt: skip


def _drawn(labels: Tensor, cfg: TrainConfig) -> Tensor | None:
    """``--train-subset N`` of an image folder: the indices of N of its training images (about: rounded per class)
    drawn in proportion from each class, seeded; a folder lists its classes in turn, so its first N would be a few of
    them. None: all of them (no copy of an in-memory set)."""
    n = cfg.train_subset
    if not n or n >= len(labels):
        return None
    return stratified_split(labels, n / len(labels), cfg.seed, stream=8)[1]


def _check_fits(nbytes: int, env: DistEnv) -> None:
    """A one-line error, before any decoding, where the decoded set would take more than half the memory that is
    free (each process on this machine holds its own copy, on the CPU first, then on its GPU)."""
    places = [("memory", available_memory(), nbytes * env.local_processes)]
    if env.device.type == "cuda":
        places.append((f"{env.device}'s memory", available_memory(env.device), nbytes))
    for where, free, need in places:
        if free is not None and need > free / 2:
            raise ValueError(f"--in-memory: the decoded images take {byte_size(need)}, more than half of the "
                             f"{byte_size(free)} free in {where}; use a smaller --img-size or drop --in-memory")  # fmt: skip


def _decoded(folder: Any, size: int, in_chans: int, workers: int) -> TensorData:
    """Every image of ``folder`` decoded once, uint8 at ``size``, in the folder's order; an image that fails to
    decode is named (a warning) and left out, not stored twice."""
    pixels = folder.with_transform(folder_pixels(size, in_chans))
    pixels.replace_broken = False
    images, labels = [], []
    for batch in DataLoader(pixels, batch_size=256, num_workers=workers, collate_fn=readable_collate):
        if batch is not None:
            images.append(batch[0])
            labels.append(batch[1])
    if not images:
        raise ValueError(f"none of the {len(folder)} images could be decoded (the warnings above name them)")
    return TensorData(torch.cat(images), torch.cat(labels), tuple(folder.classes))


def evaluation_data(
    pretrained_cfg: dict[str, Any],
    dataset: str = "fashion-mnist",
    data_dir: str | None = None,
    batch_size: int = 256,
    class_map: str | None = None,
    workers: int = 0,
) -> tuple[Batches, int]:
    """Normalised (images, labels) batches of a test set, labels in the *model's* class order, and
    their count. The test set's classes are matched to the model's (:func:`~shufflenet.data.folders.match_classes`:
    by name, by ``class_map``, or ImageNet's WordNet-id folders): a model of other classes (a 10-class ImageFolder
    checkpoint on Fashion-MNIST) is refused rather than scored against labels that mean something else; a folder
    may hold a subset of the model's classes. Folder images are resized as the weights were evaluated
    (:func:`~shufflenet.data.images.fit_to_input`), in ``workers`` processes."""
    names = list(pretrained_cfg["class_names"])
    chans, size = int(pretrained_cfg["input_size"][0]), int(pretrained_cfg["input_size"][-1])
    mean, std = pretrained_cfg["mean"], pretrained_cfg["std"]
    if class_map is not None and dataset != "imagefolder":
        raise ValueError(f"--class-map says which class folder is which class: it applies to --dataset imagefolder, "
                         f"not {dataset}")  # fmt: skip
    if dataset == "fashion-mnist":
        if tuple(names) != FASHION_MNIST_CLASSES or chans != 1:
            raise ValueError(f"the model was trained on {pretrained_cfg.get('dataset') or 'other data'} ({len(names)} classes: "
                             f"{', '.join(names[:4])}{', ...' if len(names) > 4 else ''}; input {chans} channel(s)), "
                             "not Fashion-MNIST; evaluate it on its own data: --dataset imagefolder --data-dir DIR")  # fmt: skip
        test = load_fashion_mnist(data_dir or FASHION_MNIST_DIR, train=False)
        if size != 28:
            test = TensorData(nn.functional.interpolate(test.images.float(), size=(size, size), mode="bilinear",
                                                        antialias=True).round().clamp(0, 255).to(torch.uint8),
                              test.labels, test.classes)  # fmt: skip
        return test.batches(mean, std, batch_size), len(test)
    if dataset != "imagefolder":
        raise ValueError(f"unknown dataset {dataset!r}; choose fashion-mnist or imagefolder")
    if not data_dir:
        raise ValueError("--dataset imagefolder needs --data-dir DIR (class folders of images)")
    folder = load_image_folder(data_dir, partial(to_input, cfg=pretrained_cfg), chans, replace_broken=False)
    remap = torch.tensor(match_classes(folder.classes, names, class_map))

    def batches() -> Batches:  # an image that fails to decode is named and left out, not scored twice
        for batch in DataLoader(cast("Dataset[tuple[Tensor, int]]", folder), batch_size=batch_size,
                                collate_fn=readable_collate, num_workers=workers):  # fmt: skip
            if batch is not None:
                yield batch[0], remap[batch[1]]

    return batches(), len(folder)
