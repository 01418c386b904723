"""The training loop: one process or many (DDP), resumable bit for bit.

Every random choice (shuffling, augmentation) is drawn from generators seeded
by (seed, epoch, rank) and the learning rate is a pure function of the step,
so resuming from the checkpoint of a finished epoch repeats exactly what an
uninterrupted run would have done. The exception is a run given a time budget
(:class:`~shufflenet.train.budget.TimeBudget`), whose schedule follows the clock.
"""

from __future__ import annotations

import contextlib
import copy
import gc
import itertools
import math
import os
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from shufflenet.data.augment import cutmix
from shufflenet.layers.deploy import deploy
from shufflenet.models import create_from_arch
from shufflenet.train.budget import TimeBudget
from shufflenet.train.checkpoint import load_checkpoint, save_checkpoint
from shufflenet.train.config import TrainConfig, autocast_to, lr_at, train_size_at
from shufflenet.train.data import DataBundle, default_workers, prepare_data, seeded_generator
from shufflenet.train.distill import distill_loss, load_teacher
from shufflenet.train.distributed import DistEnv, all_reduce_sum, broadcast_state, setup_distributed
from shufflenet.train.evaluate import EvalResult, evaluate, reduce_eval
from shufflenet.train.graphs import capture_step, check_capturable
from shufflenet.train.history import write_history
from shufflenet.train.init import freeze_stages, load_init, resolve_init
from shufflenet.utils.files import check_output_dir, pid_lock
from shufflenet.utils.host import describe_host, emulated_precision, native_precision

#: seconds between two readings of an epoch's running loss and accuracy for the progress report (each waits for
#: the device)
REPORT_S = 0.25

__all__ = ["ModelEma", "TrainResult", "resume_training", "train"]

Progress = Callable[[dict[str, Any]], None]


class ModelEma:
    """Exponential moving average of the weights (and copies of the buffers).

    The decay warms up as ``min(decay, (1 + n) / (10 + n))`` after ``n`` updates,
    so early averages are not dominated by the random initial weights; ``n`` is
    the global step, so a resumed run averages exactly as an uninterrupted one.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.state = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        d = min(self.decay, (1 + step) / (10 + step))
        current = model.state_dict()
        floats = [k for k, v in current.items() if v.dtype.is_floating_point]
        counts = [k for k, v in current.items() if not v.dtype.is_floating_point]  # BatchNorm's batch counters
        # one fused call for all weights: a loop of per-tensor ops takes twice as long (4.6 vs 2.2 ms for V2 1.5x)
        torch._foreach_lerp_([self.state[k] for k in floats], [current[k] for k in floats], 1 - d)
        torch._foreach_copy_([self.state[k] for k in counts], [current[k] for k in counts])  # one launch, not ~50


@dataclass
class TrainResult:
    """A finished run: one record per epoch (as ``history.json``), where its checkpoints are and the
    best validation top-1."""

    history: list[dict[str, float | None]]
    out_dir: Path
    best_top1: float

    @property
    def last(self) -> dict[str, float | None]:
        """The last epoch's record (always scored)."""
        return self.history[-1]


def _param_groups(model: nn.Module, weight_decay: float, head_lr_mult: float = 1.0) -> list[dict[str, Any]]:
    """No weight decay on BN parameters and biases (1-D tensors), as is usual for small nets; with
    ``head_lr_mult`` the classifier's parameters form groups of their own whose lr is scaled by it.
    Frozen parameters (``requires_grad=False``) are left out."""
    classifier: nn.Module = model.get_classifier()  # type: ignore[operator]
    head = {id(p) for p in classifier.parameters()} if head_lr_mult != 1 else set()
    groups: dict[tuple[bool, bool], list[nn.Parameter]] = {(h, d): [] for h in (False, True) for d in (True, False)}
    for p in model.parameters():
        if p.requires_grad:
            groups[id(p) in head, p.ndim > 1].append(p)
    return [
        {"params": ps, "weight_decay": weight_decay if decays else 0.0, "lr_mult": head_lr_mult if is_head else 1.0}
        for (is_head, decays), ps in groups.items()
        if ps or not is_head  # the body's two groups always exist: checkpoints of earlier runs hold both
    ]


def train(
    config: TrainConfig, *, resume: str | None = None, overwrite: bool = False, progress: Progress | None = None
) -> TrainResult:
    """Train ``config.model`` on ``config.dataset``; checkpoints go to ``config.out_dir``.

    The output directory is locked for the run (a second run on it fails at start, naming the first's
    pid) and must not hold another run's checkpoints unless ``resume`` continues it or ``overwrite``
    replaces it.
    """
    main = int(os.environ.get("RANK", "0")) == 0  # under torchrun rank 0 owns the directory
    with claim_out_dir(config.out_dir, resume=resume, overwrite=overwrite) if main else contextlib.nullcontext():
        env = setup_distributed(config.device)
        try:
            return _train(config, env, resume, progress)
        finally:
            if env.enabled and dist.is_initialized():
                # DDP's module sits in a reference cycle, so it outlives _train until a garbage collection; left to
                # the one at interpreter exit, its reducer and the process group's gloo threads are torn down while
                # Python finalises, and a thread still holding a tensor aborts the process (SIGABRT). Free it now.
                gc.collect()
                dist.destroy_process_group()


@contextlib.contextmanager
def claim_out_dir(out_dir: str, *, resume: str | None = None, overwrite: bool = False) -> Iterator[None]:
    """Lock ``out_dir`` for this run and check that it is free: not another run's (unless resumed or
    overwritten). Temporary files of a run killed mid-write are removed once the lock is ours."""
    out = check_output_dir(out_dir, "output directory (--out)")
    created = [d for d in (out, *out.parents) if not d.exists()]  # the leaf first
    out.mkdir(parents=True, exist_ok=True)
    try:
        with _locked(out, resume, overwrite):
            yield
    except BaseException:
        for d in created:  # a run that failed at start leaves nothing behind
            if not any(d.iterdir()):
                d.rmdir()
        raise


@contextlib.contextmanager
def _locked(out: Path, resume: str | None, overwrite: bool) -> Iterator[None]:
    with pid_lock(out, "output directory") as notes:
        for note in notes:
            warnings.warn(f"{out}: {note}", stacklevel=3)
        for orphan in out.glob(".*.tmp"):
            orphan.unlink(missing_ok=True)
        last = out / "last.pt"
        if last.exists() and resume is None and not overwrite:
            raise ValueError(f"{out} holds another run ({last}); continue it with --resume {last}, replace it "
                             "with --overwrite, or choose another --out")  # fmt: skip
        yield


def resume_training(checkpoint: str, *, progress: Progress | None = None) -> TrainResult:
    """Continue an interrupted run with the recipe stored in its checkpoint."""
    state = load_checkpoint(checkpoint)
    return train(TrainConfig.from_dict(state["config"]), resume=checkpoint, progress=progress)


def _train(cfg: TrainConfig, env: DistEnv, resume: str | None, progress: Progress | None) -> TrainResult:
    budget = TimeBudget(cfg.time_budget, env) if cfg.time_budget else None  # its clock starts now
    cfg = replace(cfg, precision=resolve_precision(cfg.precision, env.device))
    if cfg.cuda_graph:
        check_capturable(env.device, distributed=env.enabled)
    if cfg.workers is None and cfg.dataset == "imagefolder":
        cfg = replace(cfg, workers=default_workers(env.device, env.local_processes))
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    source = None
    if cfg.init and not resume:  # the source's architecture, input and normalisation become the run's
        source = load_init(cfg.init, cfg.model)
        cfg = resolve_init(cfg, source[1], source[0].pretrained_cfg)  # type: ignore[arg-type]
    data = prepare_data(cfg, env, note=lambda text: _note(progress, text))
    if data.steps_per_epoch() == 0:  # only a compiled or captured step, which skips a short batch, can have none
        flag = "--cuda-graph" if cfg.cuda_graph else "--compile"
        raise ValueError(f"{flag} trains on whole batches only, and --batch-size {cfg.batch_size} exceeds the "
                         f"{data.train_len // env.world_size} training images per process; use a smaller --batch-size")  # fmt: skip
    # notes, not errors, and once per run: the main process, after the checks that stop a run (a config is rebuilt
    # as the run resolves it, so the config itself cannot say them)
    if env.is_main and not resume and not cfg.time_budget and cfg.warmup_epochs >= cfg.epochs:
        warnings.warn(f"--warmup-epochs {cfg.warmup_epochs:g} spans the whole run (--epochs {cfg.epochs}): the "
                      "learning rate never leaves its warm-up", stacklevel=3)  # fmt: skip
    if env.is_main and cfg.batch_size * env.world_size > data.train_len:
        warnings.warn(f"--batch-size {cfg.batch_size} (x {env.world_size} process(es)) exceeds the {data.train_len} "
                      "training images: each step sees all of them, but the lr is scaled for the batch asked for; "
                      "use a smaller --batch-size", stacklevel=3)  # fmt: skip
    if cfg.min_train_size >= data.img_size:
        raise ValueError(f"min_train_size (--min-train-size) {cfg.min_train_size} must be below the images' side "
                         f"{data.img_size} (progressive resizing grows to it)")  # fmt: skip
    state = load_checkpoint(resume) if resume else None
    if state is not None:
        arch = dict(state["arch"])
        if arch["model"] != cfg.model:
            raise ValueError(f"{resume} is a checkpoint for {arch['model']}, not {cfg.model}")
        model = create_from_arch(arch)
    elif source is not None:
        model, arch = source
        arch = {**arch, "num_classes": len(data.classes)}
        if model.num_classes != len(data.classes):
            _note(progress, f"--init {cfg.init}: classifier reset from {model.num_classes} to {len(data.classes)} "
                            f"classes ({', '.join(data.classes[:5])}{', ...' if len(data.classes) > 5 else ''})")  # fmt: skip
            model.reset_classifier(len(data.classes))  # type: ignore[operator]
        model.train()
    else:
        arch = {
            "model": cfg.model, "num_classes": len(data.classes), "in_chans": data.in_chans,
            "small_input": data.small_input, "options": dict(cfg.model_options),
        }  # fmt: skip
        model = create_from_arch(arch)
    frozen = freeze_stages(model, cfg.freeze_stages) if cfg.freeze_stages else []
    model = model.to(env.device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(
        _param_groups(model, cfg.weight_decay, cfg.head_lr_mult), lr=cfg.lr, momentum=cfg.momentum,
        nesterov=cfg.nesterov,
    )  # fmt: skip
    ema = ModelEma(model, cfg.ema_decay) if cfg.ema_decay > 0 else None
    scaler = torch.amp.GradScaler(env.device.type, enabled=cfg.precision == "float16")
    history: list[dict[str, float | None]] = []
    best, start_epoch = -1.0, 0
    hosts: list[dict[str, Any]] = []
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if state.get("scaler"):  # float16 runs; checkpoints before float16 training have none
            scaler.load_state_dict(state["scaler"])
        if ema is not None and state.get("ema"):
            ema.state = {k: v.to(env.device) for k, v in state["ema"].items()}
        history, best, start_epoch = list(state["history"]), float(state["best_top1"]), int(state["epoch"])
        hosts = list(state.get("hosts") or [])  # checkpoints before hosts were recorded: none known
        if budget is not None:
            budget.restore(state["budget"])
    here = describe_host()  # where the coming epochs run: a record of a run resumed elsewhere names both hosts
    if not hosts or hosts[-1]["host"] != here:
        hosts.append({"from_epoch": start_epoch + 1, "host": here})
    net: nn.Module = model
    if env.enabled:
        net = nn.parallel.DistributedDataParallel(
            model, device_ids=[env.local_rank] if env.device.type == "cuda" else None
        )
    if cfg.compile != "off":
        # static shapes: a batch or image size is a program of its own. Left to guess, dynamo makes sizes symbolic
        # once it has seen the model at another shape (in a bench of the same process, too), and inductor then
        # failed on the symbolic sizes of a stride-2 conv (torch 2.14, CPU)
        mode = None if cfg.compile == "default" else cfg.compile
        net = torch.compile(net, mode=mode, dynamic=False)  # type: ignore[assignment]
    out = Path(cfg.out_dir)
    if env.is_main:
        out.mkdir(parents=True, exist_ok=True)
    criterion = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    teacher = None
    if cfg.teacher:
        teacher = load_teacher(cfg.teacher, classes=data.classes, in_chans=data.in_chans, mean=data.mean,
                               std=data.std, device=env.device, temperature=cfg.distill_temperature,
                               tta=cfg.teacher_tta, precision=cfg.precision)  # fmt: skip
        _note(progress, f"distilling from {' + '.join(cfg.teacher)}{' (with mirror images)' if cfg.teacher_tta else ''}: "
                        f"{cfg.distill_weight:g} of the loss at temperature {cfg.distill_temperature:g}")  # fmt: skip
    steps = data.steps_per_epoch()
    total, warmup = steps * cfg.epochs, int(round(steps * cfg.warmup_epochs))
    base_lr = cfg.lr * cfg.batch_size * env.world_size / 1024
    epochs = range(start_epoch, cfg.epochs) if budget is None else itertools.count(start_epoch)
    for epoch in epochs:
        if budget is not None and budget.over:
            break
        net.train()
        for module in frozen:  # frozen stages keep the source's BatchNorm statistics
            module.eval()
        t0 = shown_at = time.perf_counter()
        # the epoch's sums stay on the device: reading them waits for the GPU, whose queue then runs dry while the
        # next step is prepared, so they are read for the progress report at most every REPORT_S, not per step
        loss_sum = torch.zeros((), dtype=torch.float64, device=env.device)
        correct = torch.zeros((), dtype=torch.int64, device=env.device)
        seen, shown = 0.0, (math.nan, math.nan)
        size = train_size_at(epoch, cfg.epochs, data.img_size, cfg.min_train_size, cfg.resize_ramp)
        mix = seeded_generator(cfg.seed, epoch, env.rank, 11) if cfg.cutmix > 0 else None
        for i, (x, y) in enumerate(data.train_batches(epoch)):
            step = epoch * steps + i
            done = budget.progress(step >= warmup) if budget is not None else None
            lr = lr_at(step, total, warmup, cfg.schedule, base_lr, progress=done)
            for group in optimizer.param_groups:
                group["lr"] = lr * group.get("lr_mult", 1.0)
            x, y = x.to(env.device, non_blocking=True), y.to(env.device, non_blocking=True)
            label = y
            if mix is not None:  # y becomes soft targets; accuracy counts the larger share's label
                x, y = cutmix(x, y, len(data.classes), cfg.cutmix, mix)
                label = y.argmax(1)
            if size != x.shape[-1]:
                x = nn.functional.interpolate(
                    x, size=(size, size), mode="bilinear", antialias=True, align_corners=False
                )
            if cfg.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            if cfg.cuda_graph and net is model:  # captured at the first step (in epoch 1's time, as a compilation is)
                net = capture_step(model, torch.zeros_like(x), precision=cfg.precision)  # zeros: no RNG drawn
            with autocast_to(cfg.precision, env.device):
                logits = net(x)
            loss = criterion(logits.float(), y)
            if teacher is not None:  # the teacher sees the batch the student sees: the augmented, mixed, resized one
                soft = distill_loss(logits, teacher(x), cfg.distill_temperature)
                loss = (1 - cfg.distill_weight) * loss + cfg.distill_weight * soft
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()  # float16 only: unscaled again before clipping and the step
            if cfg.grad_clip > 0:
                scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            scaler.step(optimizer)  # a step whose gradients overflowed is skipped, and the scale lowered
            scaler.update()
            if ema is not None:
                ema.update(model, step)
            loss_sum += loss.detach().double() * len(y)
            correct += (logits.argmax(1) == label).sum()
            seen += len(y)
            if progress:
                if i == 0 or time.perf_counter() - shown_at >= REPORT_S:
                    shown, shown_at = (loss_sum.item() / seen, correct.item() / seen), time.perf_counter()
                progress({"event": "step", "epoch": epoch, "epochs": None if budget else cfg.epochs, "step": i + 1,
                          "steps": steps, "loss": shown[0], "acc": shown[1],
                          "images_per_s": seen * env.world_size / (time.perf_counter() - t0),
                          "budget_left_s": budget.seconds - budget.elapsed() if budget else None})  # fmt: skip
            if budget is not None and budget.over:  # every rank stops after the same step (rank 0's clock)
                break
        total_loss, total_correct, seen = all_reduce_sum([loss_sum.item(), float(correct.item()), seen], env)
        train_time = time.perf_counter() - t0
        if budget is not None:
            budget.guess_evaluation(data.val_len, seen / train_time)
        val: dict[str, float | None] = dict.fromkeys(f"{data.val_name}_{k}" for k in ("loss", "top1", "top5"))
        last = budget.over if budget is not None else epoch + 1 == cfg.epochs
        if (epoch + 1) % cfg.eval_every == 0 or last:
            t_eval = time.perf_counter()
            metrics = _score(model, ema, data, env)
            val = dict(zip(val, (metrics.loss, metrics.top1, metrics.top5)))
            if budget is not None:
                budget.note_evaluation(time.perf_counter() - t_eval)
        record = {
            "epoch": epoch + 1, "lr": lr, "train_size": size, "train_images": int(seen), "train_loss": total_loss / seen,
            "train_acc": total_correct / seen,
            **val, "images_per_s": seen / train_time, "epoch_s": time.perf_counter() - t0,
        }  # fmt: skip
        if budget is not None:
            record["elapsed_s"] = budget.elapsed()
        history.append(record)
        top1 = record[f"{data.val_name}_top1"]
        improved = top1 is not None and top1 > best
        if top1 is not None and improved:
            best = top1
        if env.is_main:
            state = {
                "config": cfg.to_dict(), "arch": arch, "epoch": epoch + 1, "history": history, "best_top1": best,
                "model": model.state_dict(), "ema": ema.state if ema else None, "optimizer": optimizer.state_dict(),
                "scaler": scaler.state_dict(),
                "data": {"mean": data.mean, "std": data.std, "input_size": [data.in_chans, data.img_size, data.img_size],
                         "class_names": list(data.classes), "dataset": cfg.dataset},
                "budget": budget.state() if budget else None, "hosts": hosts,
            }  # fmt: skip
            save_checkpoint(state, out / "last.pt")
            if improved:
                save_checkpoint(state, out / "best.pt")
            write_history(out, history)
        if progress:
            progress({"event": "epoch", **record})
    if env.enabled:
        _check_ranks_agree(model)
    return TrainResult(history, out, best)


def _note(progress: Progress | None, text: str) -> None:
    """A one-line message for the user (the library never prints: the caller shows it)."""
    if progress:
        progress({"event": "note", "text": text})


def resolve_precision(precision: str, device: torch.device) -> str:
    """What a run computes in: ``auto`` is bfloat16 where ``device`` computes it natively, else float16 on a GPU with
    tensor cores but no bfloat16 (compute capability 7.x: V100, T4), else float32; a reduced precision that the device
    would emulate is a one-line error."""
    if precision == "auto":
        if native_precision("bfloat16", device):
            return "bfloat16"
        tensor_cores = device.type == "cuda" and torch.cuda.get_device_properties(device).major >= 7
        return "float16" if tensor_cores else "float32"
    emulated = emulated_precision(precision, device)
    if emulated:
        raise ValueError(f"{emulated}: train with --precision float32 (or auto)")
    return precision


def _score(model: nn.Module, ema: ModelEma | None, data: DataBundle, env: DistEnv) -> EvalResult:
    """Validation metrics of the EMA weights when there are some (they are what ships), else the raw ones."""
    eval_model = model
    if ema is not None:
        eval_model = copy.deepcopy(model)
        eval_model.load_state_dict(ema.state)
    broadcast_state(eval_model, env)  # every rank scores rank 0's model on its share of the set
    # in its inference form (BN folded, channels-last; the same logits) and batches of 128 (default of val_batches):
    # 10k Fashion-MNIST test images on one thread in ~35 s instead of ~66 s (V2 1.5x, AVX2 host)
    return reduce_eval(evaluate(deploy(eval_model), data.val_batches(), len(data.classes)), env)


def _check_ranks_agree(model: nn.Module) -> None:
    """DDP keeps replicas identical; verify it (a checksum of every weight, min vs max over ranks)."""
    device = next(model.parameters()).device
    total = torch.tensor(
        [sum(float(p.detach().double().sum()) for p in model.parameters())], dtype=torch.float64, device=device
    )
    lo, hi = total.clone(), total.clone()
    dist.all_reduce(lo, op=dist.ReduceOp.MIN)
    dist.all_reduce(hi, op=dist.ReduceOp.MAX)
    if lo.item() != hi.item():
        raise RuntimeError(f"ranks disagree after training: weight checksums {lo.item()} .. {hi.item()}")
