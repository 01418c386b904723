"""Training a detector with the project's loop conventions: a config as data, atomic checkpoints every
epoch, ``resume`` from the last one, seeded shuffling, progress events, COCO metrics per evaluation."""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.utils.data import DistributedSampler

from shufflenet.detection.coco import CocoDetectionData, DetectionMetrics, collate, evaluate_detector
from shufflenet.detection.model import DETECTORS, OUT_INDICES, create_detector
from shufflenet.models import FeatureExtractor
from shufflenet.train.checkpoint import DETECTOR_FORMAT as FORMAT
from shufflenet.train.checkpoint import load_checkpoint, load_marked, model_from_checkpoint, save_checkpoint
from shufflenet.train.config import PRECISIONS, autocast_to, lr_at
from shufflenet.train.data import default_workers
from shufflenet.train.distributed import DistEnv, setup_distributed
from shufflenet.train.history import write_history
from shufflenet.train.loop import resolve_precision
from shufflenet.utils.files import check_output_dir
from shufflenet.utils.validate import option, validate

__all__ = ["DetectConfig", "detector_from_checkpoint", "load_detector_checkpoint", "train_detector"]

Progress = Callable[[dict[str, Any]], None]


@dataclass
class DetectConfig:
    """A detection run. ``data_dir`` holds COCO's layout: ``SPLIT/`` image folders and
    ``annotations/instances_SPLIT.json`` (``shufflenet detect make-data`` writes one)."""

    data_dir: str
    backbone: str = "shufflenet_v2_x0_5"
    backbone_options: dict[str, object] = option(factory=dict)  # e.g. {"extra_dw": True} for v2*
    pretrained: str | None = None  # backbone weights: "imagenet", a shipped tag, a classifier's checkpoint, a file
    # normalisation inside the detector; None: ImageNet's, or a --pretrained checkpoint's (filled in at training)
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    kind: str = option("fcos", choices=DETECTORS)
    img_size: int = option(128, ge=32)  # images are resized so the longer side is this
    fpn_channels: int = option(64, ge=8)
    train_split: str = "train"
    val_split: str = "val"
    epochs: int = option(12, ge=1)
    batch_size: int = option(16, ge=1)
    lr: float = option(2e-3, gt=0)  # AdamW
    weight_decay: float = option(1e-4, ge=0)
    warmup_epochs: float = option(0.5, ge=0)
    hflip: bool = option(True, flag="--no-hflip")
    seed: int = option(0, ge=0)
    eval_every: int = option(1, ge=1)
    threads: int | None = option(None, ge=1)
    device: str = "cpu"  # or "cuda"; under torchrun each process takes cuda:LOCAL_RANK
    # the forward pass's autocast, as a classifier's run (TrainConfig.precision); "auto" is resolved when the run
    # starts and recorded
    precision: str = option("float32", choices=PRECISIONS)
    # processes decoding the images (None: 0 on a CPU, whose cores compute the model, up to 8 per GPU); resolved when
    # the run starts and recorded, as the flips each image gets depend on the count
    workers: int | None = option(None, ge=0)
    out_dir: str = option("runs/detect", flag="--out")

    def __post_init__(self) -> None:
        validate(self)
        if (self.mean is None) != (self.std is None):
            raise ValueError("give mean and std together (or neither: ImageNet's, or a --pretrained checkpoint's)")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DetectConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def _split(cfg: DetectConfig, split: str, train: bool) -> CocoDetectionData:
    root = Path(cfg.data_dir)
    return CocoDetectionData(root / split, root / "annotations" / f"instances_{split}.json",
                             transform=_hflip if train and cfg.hflip else None)  # fmt: skip


def _hflip(image: Tensor, target: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
    """Mirror half the images (decided by torch's global generator, seeded per epoch by the loop)."""
    if torch.rand(()) < 0.5:
        width = image.shape[-1]
        boxes = target["boxes"].clone()
        boxes[:, [0, 2]] = width - target["boxes"][:, [2, 0]]
        image, target = image.flip(-1), {**target, "boxes": boxes}
    return image, target


def _build(cfg: DetectConfig, num_classes: int, source: dict[str, Any] | None = None) -> nn.Module:
    """The detector ``cfg`` describes; with ``source`` (:func:`_source`) its backbone holds that classifier."""
    backbone: str | FeatureExtractor = cfg.backbone
    pretrained = cfg.pretrained
    if source is not None:
        backbone, pretrained = FeatureExtractor(model_from_checkpoint(source), OUT_INDICES), None
    norm: dict[str, Any] = {} if cfg.mean is None else {"mean": cfg.mean, "std": cfg.std}
    options: dict[str, Any] = dict(cfg.backbone_options)
    return create_detector(backbone, num_classes, kind=cfg.kind, img_size=cfg.img_size,
                           fpn_channels=cfg.fpn_channels, pretrained=pretrained, **norm, **options)  # fmt: skip


def _source(cfg: DetectConfig) -> dict[str, Any] | None:
    """The classifier's training checkpoint ``cfg.pretrained`` names (``.pt``, as ``train --init`` reads it),
    checked to hold the backbone ``cfg`` asks for; None when ``pretrained`` is anything else."""
    ref = cfg.pretrained
    if ref is None or Path(ref).suffix != ".pt" or not Path(ref).is_file():
        return None
    state = load_checkpoint(ref)
    arch = state["arch"]
    options = dict(arch.get("options", {}))
    if arch["model"] != cfg.backbone or (cfg.backbone_options and cfg.backbone_options != options):
        given = f"{cfg.backbone} {cfg.backbone_options}" if cfg.backbone_options else cfg.backbone
        raise ValueError(f"--pretrained {ref} holds a {arch['model']}{f' {options}' if options else ''}, not a {given}; "
                         f"give --backbone {arch['model']} (its options come with it)")  # fmt: skip
    if arch["small_input"]:
        raise ValueError(f"--pretrained {ref} was trained with small_input (a stride-1 stem for 28-32 px images); "
                         "a detector's backbone needs the standard stem: train the classifier without it")  # fmt: skip
    return state


def _for_device(cfg: DetectConfig, env: DistEnv) -> DetectConfig:
    """``cfg`` with its precision and workers resolved for this device, as the checkpoints record them so that a
    resume repeats the run (an emulated precision is refused here, before any image is read)."""
    workers = default_workers(env.device, env.local_processes) if cfg.workers is None else cfg.workers
    return replace(cfg, precision=resolve_precision(cfg.precision, env.device), workers=workers)


def _resolved(cfg: DetectConfig, source: dict[str, Any] | None) -> DetectConfig:
    """``cfg`` with a ``--pretrained`` classifier checkpoint's (``source``) options and normalisation where it
    sets none, so that the run's checkpoints rebuild the same network without the source."""
    if source is None:
        return cfg
    data = dict(source["data"])
    mean, std = (cfg.mean, cfg.std) if cfg.mean is not None else (tuple(data["mean"]), tuple(data["std"]))
    return replace(cfg, backbone_options=dict(source["arch"].get("options", {})), mean=mean, std=std)


def load_detector_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    state = load_marked(
        path, FORMAT, "detector checkpoint", "a classifier's checkpoint starts a backbone: --pretrained"
    )
    missing = [k for k in ("config", "model", "classes", "epoch", "history") if k not in state]
    if missing or not isinstance(state["config"], dict):
        raise ValueError(f"{path} is a damaged detector checkpoint: {', '.join(missing) or 'config'} missing or "
                         "malformed; use another checkpoint of the run (best.pt, last.pt)")  # fmt: skip
    return state


def detector_from_checkpoint(state: dict[str, Any]) -> nn.Module:
    """The detector a checkpoint holds, weights loaded, in eval mode; ``classes`` attached."""
    cfg = DetectConfig.from_dict(state["config"])
    model = _build(_without_pretrained(cfg), len(state["classes"]))
    model.load_state_dict(state["model"])
    model.classes = list(state["classes"])  # type: ignore[assignment]
    return model.eval()


def _without_pretrained(cfg: DetectConfig) -> DetectConfig:
    """The same network without fetching backbone weights the checkpoint replaces anyway."""
    return DetectConfig.from_dict({**cfg.to_dict(), "pretrained": None})


def train_detector(cfg: DetectConfig, *, resume: str | None = None, progress: Progress | None = None) -> list[dict]:
    """Train ``cfg``; ``last.pt`` (every epoch) and ``best.pt`` (best mAP@.5) in ``cfg.out_dir``.
    Returns the history: per epoch the training loss, images/s and, when scored, the COCO metrics.

    Under ``torchrun`` each process trains on its share of every epoch (DistributedDataParallel);
    rank 0 scores the validation set and writes the checkpoints.
    """
    env = setup_distributed(cfg.device)
    try:
        return _train(cfg, env, resume, progress)
    finally:
        if env.enabled and dist.is_initialized():
            gc.collect()  # DDP sits in a reference cycle: free it before the process group (see train.loop)
            dist.destroy_process_group()


def _train(cfg: DetectConfig, env: DistEnv, resume: str | None, progress: Progress | None) -> list[dict]:
    out = check_output_dir(cfg.out_dir, "--out")
    cfg = _for_device(cfg, env)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    train_set, val_set = _split(cfg, cfg.train_split, True), _split(cfg, cfg.val_split, False)
    if train_set.classes != val_set.classes:
        raise ValueError(f"the {cfg.train_split} and {cfg.val_split} annotations declare different categories")
    torch.manual_seed(cfg.seed)
    state = load_detector_checkpoint(resume) if resume else None
    source = _source(cfg) if state is None else None  # a classifier's checkpoint as --pretrained, read once
    cfg = _resolved(cfg, source)  # what the checkpoints record
    model = _build(cfg if state is None else _without_pretrained(cfg), len(train_set.classes), source)
    model.to(env.device)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    scaler = torch.amp.GradScaler(env.device.type, enabled=cfg.precision == "float16")
    history: list[dict[str, Any]] = []
    start, best = 0, -1.0
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if state.get("scaler"):  # float16 runs; checkpoints before detection's precisions have none
            scaler.load_state_dict(state["scaler"])
        history, start, best = list(state["history"]), int(state["epoch"]), float(state["best_map_50"])
    net: nn.Module = model
    if env.enabled:
        net = nn.parallel.DistributedDataParallel(
            model, device_ids=[env.local_rank] if env.device.type == "cuda" else None
        )
    share = (len(train_set) + env.world_size - 1) // env.world_size
    steps = (share + cfg.batch_size - 1) // cfg.batch_size
    total, warmup = steps * cfg.epochs, int(steps * cfg.warmup_epochs)
    out.mkdir(parents=True, exist_ok=True)
    for epoch in range(start, cfg.epochs):
        model.train()
        t0, loss_sum, seen = time.perf_counter(), 0.0, 0
        torch.manual_seed(cfg.seed * 1_000_003 + epoch)  # the flips of this epoch, the same when resumed
        sampler: DistributedSampler[Any] = DistributedSampler(
            train_set, env.world_size, env.rank, shuffle=True, seed=cfg.seed
        )
        sampler.set_epoch(epoch)
        loader = torch.utils.data.DataLoader(train_set, batch_size=cfg.batch_size, sampler=sampler, collate_fn=collate,
                                             num_workers=cfg.workers or 0, pin_memory=env.device.type == "cuda")  # fmt: skip
        for i, (images, targets) in enumerate(loader):
            images = [im.to(env.device) for im in images]
            targets = [{k: v.to(env.device) for k, v in tg.items()} for tg in targets]
            for group in optimizer.param_groups:
                group["lr"] = lr_at(epoch * steps + i, total, warmup, "cosine", cfg.lr)
            with autocast_to(cfg.precision, env.device):
                losses = net(images, targets)
            loss = sum(v.float() for v in losses.values())
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()  # float16 only: unscaled before the clipping
            scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(params, 10.0)
            scaler.step(optimizer)
            scaler.update()
            loss_sum += float(loss.detach()) * len(images)
            seen += len(images)
            if progress:
                progress({"event": "step", "epoch": epoch, "epochs": cfg.epochs, "step": i + 1, "steps": steps,
                          "loss": loss_sum / seen, "images_per_s": seen / (time.perf_counter() - t0)})  # fmt: skip
        record: dict[str, Any] = {"epoch": epoch + 1, "train_loss": loss_sum / seen,
                                  "images_per_s": seen / (time.perf_counter() - t0)}  # fmt: skip
        if not env.is_main:  # rank 0 scores and writes; the others go on to the next epoch
            history.append(record)
            continue
        if (epoch + 1) % cfg.eval_every == 0 or epoch + 1 == cfg.epochs:
            metrics: DetectionMetrics = evaluate_detector(model, val_set)
            record.update({f"val_{k}": v for k, v in metrics.to_dict().items() if k != "images"})
        record["epoch_s"] = time.perf_counter() - t0
        history.append(record)
        improved = record.get("val_map_50", -1.0) > best
        best = max(best, record.get("val_map_50", -1.0))
        checkpoint = {"config": cfg.to_dict(), "epoch": epoch + 1, "history": history, "best_map_50": best,
                      "model": model.state_dict(), "optimizer": optimizer.state_dict(), "scaler": scaler.state_dict(),
                      "classes": train_set.classes, "category_ids": train_set.category_ids}  # fmt: skip
        save_checkpoint(checkpoint, out / "last.pt", FORMAT)
        if improved:
            save_checkpoint(checkpoint, out / "best.pt", FORMAT)
        write_history(out, history)
        if progress:
            progress({"event": "epoch", **record})
    if env.enabled:
        dist.barrier()  # the last checkpoint is written before any rank returns
    return history
