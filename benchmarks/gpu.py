"""Issue #35's GPU checks in one run: ShuffleNet V2 inference on a GPU, ours against torchvision's, same weights.

    .venv/bin/python benchmarks/gpu.py [--out gpu.md] [--model shufflenet_v2_x1_0] [--batches 1 8 256 1024]
    .venv/bin/python benchmarks/gpu.py --device cpu --smoke     # the script's plumbing, tiny sizes (CI)

For each precision (float32, float16, bfloat16) and batch: torchvision's model in PyTorch eager (inference mode),
our inference form in eager (``model.fuse()``) and the same replayed from a CUDA graph per shape
(:class:`~shufflenet.runtimes.cuda_graphs.GraphedModule`, what ``Predictor(model, device="cuda")`` runs). The
contenders are raced as ``shufflenet bench`` races them (:func:`~shufflenet.bench.timing.race`: blocks of calls,
every contender once per round in a rotating order), each call timed by CUDA events (its latency, the host's
launches included; wall-clock on the CPU), the median over rounds of each block's median reported; every
contender's logits are compared with ours in float32 eager (the weights torchvision's, their BN statistics made
non-trivial). The acceptance lines of the issue (batch 1 float16 <= 0.5 ms and >= 6x torchvision eager; batch 256
>= 100k images/s; half-precision logits within the precision's tolerance of float32, taken as twice what its
rounding costs torchvision's model) are printed with their verdicts. The later
sections, each saved as it finishes (a contender or section that fails is a line saying why, and the rest still
run):

* ``shufflenet train --recipe fashion-mnist-gpu`` as a user types it, timed from launch to exit, with its
  test top-1 by evaluation (issue #35: >= 95.0% within 120 s); only with ``--data-dir`` (the real data).
* The training step (``--train-batches``; no value skips it): the recipe's network (the shipped
  ``fashion-mnist-hires-wide``, bfloat16 autocast, channels-last, the training set resident on the GPU and
  augmented there), eager, captured in CUDA graphs (``--cuda-graph``) and compiled (``--compile`` modes), two
  epochs each on ``--data-dir`` (default: random 28x28 images of its size, as fast to train on); the second
  epoch's images/s is reported (the first pays the capture or compilation). Batch 256 by default, the
  recipe's: the issue's reference for today's eager path there is 9.8k images/s (36.9k at 1024; H200, eager
  bf16 channels-last), its target >= 3x that; the recipe captures its step because the 46 epochs that reached
  95.0% on a CPU (docs/results/training.md) need ~29k images/s in its 95 s. The verdicts under the table give
  each step's speed-up and the epochs it fits in the 95 s, the capture or compilation included.
* The V2 paper's GPU speed comparison at batch 8 (V2 against V1, MobileNet V1/V2 and Xception-like at
  matched FLOPs, eager and CUDA-graphed, beside its claims); plot ``OUT_speed_vs_flops.png``.
* G1-G4 at the paper's GPU widths and batch 8, our batches/s beside its GTX 1080Ti's
  (``shufflenet guidelines --device cuda``).

By estimate ~7 minutes on an H200 (the recipe's 2 minutes and the compilation of the training step are
most of it). The tables go to ``--out`` as Markdown with the GPU, driver and clocks.

The issue's targets are an H200's: ask the device tool for that kind (``kind: nvidia-h200``; a call that names none
may get an H100, whose figures are recorded as the H100's, not held against the targets). Its image has PyTorch,
torchvision, rich, safetensors, onnx and onnxruntime but not pycocotools, without which the detector's GPU test
skips. Here, first: the data copied into the tree and the wheel fetched (both ignored by git: ``mkdir -p data .whl &&
cp -r /usr/share/datasets/fashion-mnist data/ && python3 -m pip download -q --no-deps --only-binary=:all:
--python-version 3.12 --platform manylinux_2_17_x86_64 -d .whl pycocotools``); then on the device, with ``carry:
["data/fashion-mnist", ".whl"]``: ``python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl;
export PYTHONPATH=src:/tmp/site; timeout 120 python3 -m pytest -q -m gpu tests --continue-on-collection-errors -p
no:cacheprovider > $OUT/pytest-gpu.txt 2>&1; python3 benchmarks/gpu.py --out $OUT/gpu.md --data-dir
data/fashion-mnist`` (the suite's GPU tests first, 1-2 minutes and cut at 2 so that the script keeps its time: the
captured and data-on-GPU paths checked against eager before they are timed, torchrun over NCCL, a detector).
Then a second call (2 minutes), whose command the script prints under "second device call", chosen from the
training figures (:func:`second_call`): where the recipe missed 95.0%, the recipe again with the step that fits the
most epochs (``--compile reduce-overhead``, which turns the recipe's capture off, or where no step fits 46 epochs or
the capture failed the eager alternative ``--batch-size 1024 --ema 0.992 --no-cuda-graph``: ~55 epochs; 40 reached
94.61% on a CPU), timed from launch by ``time``; else, if 5 minutes of the lease are left, the attempt at ">= 95.5%
with <= 1M parameters" (``--recipe fashion-mnist-gpu-wide``: 50 epochs at batch 128, 3M images, 2.5 minutes at 20k
images/s; its arithmetic reached 95.41% on a CPU, and 95.40% with ``--random-erasing 0.25``; its checkpoints and
log come back in ``$OUT/wide``, and a run cut short resumes from them).
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torchvision
from torch import Tensor, nn

from common import randomise_bn
from shufflenet.bench import benchmark_many, machine_info
from shufflenet.bench.guidelines import EXPERIMENTS, get_experiment, run_guideline
from shufflenet.bench.timing import device_timer, race
from shufflenet.data import write_idx
from shufflenet.models import from_torchvision
from shufflenet.runtimes.cuda_graphs import PRECISIONS, GraphedModule, inference_form
from shufflenet.train import recipe, train
from shufflenet.train.config import COMPILE_MODES

Run = Callable[[Tensor], Tensor]


def failure(exc: Exception) -> str:
    """An exception as one short line for a table."""
    first = str(exc).splitlines()[0][:300] if str(exc) else ""
    return f"{type(exc).__name__}: {first}".replace("|", "/")


def eager(model: nn.Module) -> Run:
    def run(x: Tensor) -> Tensor:
        with torch.inference_mode():
            return model(x)

    return run


def contenders(tv: nn.Module, ours: nn.Module, device: torch.device, precision: str) -> dict[str, Run]:
    return {
        "torchvision eager": eager(copy.deepcopy(tv).to(device, PRECISIONS[precision]).eval()),
        "ours eager (fuse)": eager(inference_form(ours, device, precision)),
        "ours cudagraph": GraphedModule(inference_form(ours, device, precision)),
    }


def random_fashion_mnist(root: Path, n_train: int, n_test: int) -> Path:
    """IDX files of random 28x28 images and labels: training speed does not depend on what the pixels show."""
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("t10k", n_test)):
        write_idx(root / f"{split}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        write_idx(root / f"{split}-labels-idx1-ubyte.gz", rng.integers(0, 10, n, dtype=np.uint8))
    return root


#: a training step's figures, ``{(batch, mode): (images/s of epoch 2, seconds of epoch 1, images per epoch)}``
Steps = dict[tuple[int, str], tuple[float, float, int]]


@dataclass
class Found:
    """What the training sections measured, from which :func:`second_call` chooses the second device call."""

    recipe_met: bool | None = None  # None: the recipe did not run to its end
    steps: Steps = field(default_factory=dict)


#: issue #35's eager training step on an H200 (torch 2.11, bfloat16, channels-last): its ">= 3x" reference
ISSUE_EAGER = {256: 9_800, 1024: 36_900}
#: 46 epochs at batch 256 reach 95.02 and 95.09% (two seeds) on a CPU (docs/results/training.md): the recipe's
#: captured step must fit them in its 95-second budget, the capture included
EPOCHS_NEEDED, BUDGET_S = 46, 95


def budget_epochs(ips: float, first_s: float, images: int) -> tuple[float, float]:
    """A step's one-off cost (its capture or compilation: epoch 1's time beyond epoch 2's pace) and the epochs it fits
    in the recipe's budget once that is paid."""
    setup_s = max(0.0, first_s - images / ips)
    return setup_s, (BUDGET_S - setup_s) * ips / images


def training_verdicts(runs: Steps) -> list[str]:
    """The issue's >= 3x target and the epochs the recipe's batch 256 fits (mode: eager ``off``, ``cuda-graph`` or a
    compile mode)."""
    lines = []
    for (batch, mode), (ips, first_s, images) in runs.items():
        if mode == "off" or (batch, "off") not in runs:
            continue
        compile_s, fit = budget_epochs(ips, first_s, images)
        line = f"- batch {batch}, step {mode}: {ips / runs[(batch, 'off')][0]:.2f}x eager here"
        if batch in ISSUE_EAGER:
            line += f", {ips / ISSUE_EAGER[batch]:.2f}x the issue's eager {ISSUE_EAGER[batch]:,} images/s"
        line += f" (target >= 3x); {'capture' if mode == 'cuda-graph' else 'compilation'} ~{compile_s:.0f} s"
        if batch == 256:
            line += (
                f"; {fit:.0f} epochs would fit in the recipe's {BUDGET_S} s ({EPOCHS_NEEDED} reached 95.0% on a CPU)"
            )
        lines.append(line)
    return lines


def training_table(args: argparse.Namespace, device: torch.device, found: Found) -> list[str]:
    """Training images/s of the second epoch, eager, captured and compiled, per batch size (Markdown lines); the
    figures go to ``found.steps`` as :func:`training_verdicts` takes them, for :func:`second_call`."""
    lines = ["| training, batch | step | images/s (epoch 2) | epoch 1 s (with capture or compilation) | train loss | "
             "test top-1 |", "|---:|---|---:|---:|---:|---:|"]  # fmt: skip
    runs = found.steps
    with tempfile.TemporaryDirectory() as tmp:
        n = 512 if args.smoke else 60000
        data = args.data_dir or str(random_fashion_mnist(Path(tmp) / "data", n, 1000 if not args.smoke else 100))
        for batch in [32] if args.smoke else args.train_batches:
            for mode in ["off", "cuda-graph"] if args.smoke else args.steps:  # on a CPU: the capture's refusal
                cfg = recipe(
                    "fashion-mnist-gpu", time_budget=0, epochs=2, warmup_epochs=1.0, eval_every=2, data_dir=data,
                    device=str(device), batch_size=batch, compile="off" if mode == "cuda-graph" else mode,
                    cuda_graph=mode == "cuda-graph", out_dir=f"{tmp}/{batch}-{mode}",
                    precision="bfloat16" if device.type == "cuda" else "float32",
                    train_subset=n // batch * batch,  # whole batches: every step mode's epochs do the same work
                )  # fmt: skip
                try:  # one step's failure (a capture's, a compiler's) must not cost the others' figures
                    h = train(cfg).history
                except Exception as exc:
                    lines.append(f"| {batch} | {mode} | {failure(exc)} | | | |")
                    continue
                runs[(batch, mode)] = (h[-1]["images_per_s"], h[0]["epoch_s"], h[0]["train_images"])
                lines.append(f"| {batch} | {mode} | {h[-1]['images_per_s']:,.0f} | {h[0]['epoch_s']:.1f} | "
                             f"{h[-1]['train_loss']:.3f} | {h[-1]['test_top1']:.2%} |")  # fmt: skip
    verdicts = training_verdicts(runs)
    return [*lines, "", *verdicts] if verdicts else lines


#: the second device call's commands (:func:`second_call` says when each is the one): the recipe once more with
#: another step, and the attempt at >= 95.5% with <= 1M parameters
RETRY = ("mkdir -p $OUT/alt && time (PYTHONPATH=src python3 -m shufflenet.cli.main train --recipe fashion-mnist-gpu "
         "{alt} --data-dir data/fashion-mnist --out $OUT/alt 2>&1 | tail -40 > $OUT/alt/train.log)")  # fmt: skip
WIDE = ("mkdir -p $OUT/wide && PYTHONPATH=src python3 -m shufflenet.cli.main train --recipe fashion-mnist-gpu-wide "
        "--data-dir data/fashion-mnist --out $OUT/wide 2>&1 | tail -40 > $OUT/wide/train.log")  # fmt: skip
#: the eager alternative to the recipe's captured step (~55 epochs in its budget at the issue's eager speed)
EAGER_ALT = "--batch-size 1024 --ema 0.992 --no-cuda-graph"


def second_call(found: Found) -> list[str]:
    """The command of the second device call, chosen from this run's figures as the module docstring says, so that
    no one has to work it out while the lease runs: where the recipe missed, the recipe again with the step of batch
    256 that fits the most epochs in its budget (a compile mode; the eager alternative where no step fits the epochs
    that reached 95% or none but eager ran; nothing new where that step is the recipe's own capture), else the
    attempt at >= 95.5%."""
    if found.recipe_met is None:
        return ["second device call: none chosen (the recipe did not run to its end here)"]
    fits = {
        mode: budget_epochs(*run)[1] for (batch, mode), run in found.steps.items() if batch == 256 and mode != "off"
    }
    best = max(fits, key=fits.__getitem__, default=None)
    if found.recipe_met:
        why, command = "the recipe met its target: the attempt at >= 95.5% with <= 1M parameters", WIDE
    elif best is None or fits[best] < EPOCHS_NEEDED:
        why, command = (
            "the recipe missed and no step fits its epochs: the eager alternative",
            RETRY.format(alt=EAGER_ALT),
        )
    elif best != "cuda-graph":
        why, command = f"the recipe missed; step {best} fits the most epochs", RETRY.format(alt=f"--compile {best}")
    else:
        why, command = "the recipe missed, yet its own captured step fits the most epochs: read its log", WIDE
    return [f"second device call ({why}):", "", f"    {command}"]


#: the V2 paper's GPU speed comparison (its Figure 1: batch 8, GTX 1080Ti): the families at four FLOPs levels
#: (Xception-like exists at 140M only, as our skeleton of the V1 paper's comparison)
SPEED_LEVELS = {
    "40M": {"ShuffleNet V2": "shufflenet_v2_x0_5", "ShuffleNet V1": "shufflenet_v1_g3_x0_5",
            "MobileNet V1": "mobilenet_v1_x0_25", "MobileNet V2": "mobilenet_v2_x0_35"},
    "140M": {"ShuffleNet V2": "shufflenet_v2_x1_0", "ShuffleNet V1": "shufflenet_v1_g3_x1_0",
             "MobileNet V1": "mobilenet_v1_x0_5", "MobileNet V2": "mobilenet_v2_x0_75",
             "Xception-like": "skeleton_xception"},
    "300M": {"ShuffleNet V2": "shufflenet_v2_x1_5", "ShuffleNet V1": "shufflenet_v1_g3_x1_5",
             "MobileNet V1": "mobilenet_v1_x0_75", "MobileNet V2": "mobilenet_v2_x1_0"},
    "500M": {"ShuffleNet V2": "shufflenet_v2_x2_0", "ShuffleNet V1": "shufflenet_v1_g3_x2_0",
             "MobileNet V1": "mobilenet_v1_x1_0", "MobileNet V2": "mobilenet_v2_x1_4"},
}  # fmt: skip
#: the paper's words at 500 MFLOPs on its GPU, as V2's speed over each family ("58% faster" = 1.58)
PAPER_GPU_CLAIMS = {"MobileNet V2": 1.58, "ShuffleNet V1": 1.63, "Xception-like": 1.25}


def speed_table(device: torch.device, smoke: bool, plot: Path) -> list[str]:
    """The V2 paper's GPU speed comparison at batch 8, float32: images/s per family and level, V2's speed over
    each, the paper's claims beside ours; the speed-vs-FLOPs plot goes to ``plot``."""
    runtimes = ["eager", "cudagraph"] if device.type == "cuda" else ["eager"]
    levels = dict(list(SPEED_LEVELS.items())[:1]) if smoke else SPEED_LEVELS
    names = [m for level in levels.values() for m in level.values()]
    suite = benchmark_many(names, batches=[8], runtimes=runtimes, device=str(device), img_size=32 if smoke else 224,
                           min_time_s=0.05 if smoke else 0.5, rounds=3, pause_s=0.0)  # fmt: skip
    speed = {(r.model, r.runtime): r.images_per_s for r in suite.results}
    flops = {r.model: r.flops for r in suite.results}
    best = runtimes[-1]
    lines = [f"| level | family | model | MFLOPs | {' | '.join(f'{rt} images/s' for rt in runtimes)} | "
             f"V2 / it ({best}) |", "|---|---|---|---:|" + "---:|" * (len(runtimes) + 1)]  # fmt: skip
    ratio: dict[tuple[str, str], float] = {}
    for level, families in levels.items():
        v2 = families["ShuffleNet V2"]
        for family, model in families.items():
            ratio[(level, family)] = speed[(v2, best)] / speed[(model, best)]
            lines.append(f"| {level} | {family} | {model} | {flops[model] / 1e6:.0f} | "
                         f"{' | '.join(f'{speed[(model, rt)]:,.0f}' for rt in runtimes)} | "
                         f"{ratio[(level, family)]:.2f}x |")  # fmt: skip
    lines.append("")
    for family, claim in PAPER_GPU_CLAIMS.items():
        level = next((lv for lv in reversed(levels) if family in levels[lv]), None)  # the highest level it has
        if level is not None:
            lines.append(f"- paper, 500M: V2 {claim:.2f}x the speed of {family}; here at {level}: "
                         f"{ratio[(level, family)]:.2f}x ({best}, batch 8)")  # fmt: skip
    from shufflenet.bench.plots import plot_speed_vs_flops  # matplotlib: only when plotting

    plot_speed_vs_flops([r for r in suite.results if r.runtime == best], plot)
    return [*lines, f"- plot: {plot.name}"]


def recipe_table(args: argparse.Namespace, device: torch.device, found: Found) -> list[str]:
    """``shufflenet train --recipe fashion-mnist-gpu`` as a user runs it, timed from launch to exit (issue #35:
    >= 95.0% single-view top-1 on the Fashion-MNIST test set within 120 s); needs the real data (``--data-dir``).
    Whether it met the target goes to ``found.recipe_met``, for :func:`second_call`."""
    if not args.data_dir and not args.smoke:
        return ["recipe fashion-mnist-gpu: not run (give --data-dir, the Fashion-MNIST IDX files)"]
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data_dir or str(random_fashion_mnist(Path(tmp) / "data", 256, 100))
        cmd = [sys.executable, "-m", "shufflenet.cli.main", "train", "--recipe", "fashion-mnist-gpu",
               "--data-dir", data, "--out", f"{tmp}/run"]  # fmt: skip
        if args.smoke:  # the command's plumbing on the CPU, a few seconds
            cmd += ["--device", str(device), "--precision", "float32", "--train-subset", "256", "--time-budget", "3s"]
        start = time.perf_counter()
        try:  # a hung run must not spend the GPU's lease: it gets the target's time and a half, then is stopped
            done = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=180)
        except subprocess.TimeoutExpired:
            found.recipe_met = False
            return ["recipe fashion-mnist-gpu: stopped after 180 s (target: 120 s from launch to exit)"]
        wall = time.perf_counter() - start
        if done.returncode != 0:
            return [f"recipe fashion-mnist-gpu failed ({done.returncode}): {done.stderr.strip()[-300:]}"]
        history = json.loads((Path(tmp) / "run" / "history.json").read_text())
    scored = [(h["epoch"], h["test_top1"]) for h in history if h.get("test_top1") is not None]
    first = next((f"first >= 95% at epoch {e}" for e, top1 in scored if top1 >= 0.95), "never >= 95%")
    found.recipe_met = wall <= 120 and scored[-1][1] >= 0.95
    return [
        f"- `shufflenet train --recipe fashion-mnist-gpu --data-dir DIR`: {wall:.1f} s from launch to exit "
        f"(target <= 120), "
        f"{len(history)} epochs, {history[-1]['images_per_s']:,.0f} images/s in the last; test top-1 "
        f"{100 * scored[-1][1]:.2f}% at the end (target >= 95.0), best {100 * max(t for _, t in scored):.2f}%; "
        f"{first}",
        "- test top-1 by epoch: " + ", ".join(f"{e}: {100 * t:.2f}%" for e, t in scored),
    ]


def guidelines_table(device: torch.device, smoke: bool) -> list[str]:
    """G1-G4 at the paper's GPU widths, batch 8 (on a GPU): our batches/s beside the paper's, and its orderings."""
    lines = ["| guideline | variant | paper GPU b/s | here b/s (first scale) | here / paper | MFLOPs |",
             "|---|---|---:|---:|---:|---:|"]  # fmt: skip
    verdicts = []
    for name in EXPERIMENTS:
        first = get_experiment(name, "gpu" if device.type == "cuda" else "cpu").scales[0]
        r = run_guideline(
            name, device=str(device), min_time_s=0.05 if smoke else 0.6, scales=[first] if smoke else None
        )
        for v in r.experiment.variants:
            ratio = r.vs_paper(v)
            lines.append(f"| {name} | {v.label} | {'' if v.paper_gpu is None else f'{v.paper_gpu:g}'} | "
                         f"{r.images_per_s[(v.label, first)] / r.batch:,.0f} | {'' if ratio is None else f'{ratio:.2f}x'} | "
                         f"{r.flops[(v.label, first)] / 1e6:.0f} |")  # fmt: skip
        for f, sl in r.experiment.claims:
            said = ", ".join(f"{r.experiment.scale_label}={sc} {r.verdict(f, sl, sc)}" for sc in r.scales)
            verdicts.append(f"- {name}: paper says {f} faster than {sl}; here {said}")
    return [*lines, "", *verdicts]


def inference_table(args: argparse.Namespace, device: torch.device) -> list[str]:
    """Torchvision eager, ours eager and ours captured, per precision and batch (Markdown lines): raced, the median
    per-call latency; every contender's logits against ours in float32 eager, the same weights (a float32
    contender off by 1e-3 or more is called out under the table). A contender that fails (a capture, say) is a row
    saying why; the others' rows and verdicts stay."""
    side, batches, rounds = (32, [1, 2], 1) if args.smoke else (224, args.batches, args.rounds)
    torch.manual_seed(0)
    tv = torchvision.models.get_model(args.model, weights=None).eval()
    randomise_bn(tv)  # a fresh model's BN is the identity: the fold and the half precisions would not show
    ours = from_torchvision(tv, args.model).eval()  # the same weights
    reference = eager(copy.deepcopy(ours).to(device))
    lines = [f"{args.model}, {side}x{side}", "",
             "| precision | batch | contender | ms | images/s | vs torchvision eager | max diff vs float32 eager |",
             "|---|---:|---|---:|---:|---:|---:|"]  # fmt: skip
    graphed: dict[tuple[str, int], tuple[float, float, float]] = {}
    differ = []  # float32 contenders whose logits are not the reference's: their timings are of another network
    worst: dict[tuple[str, str], float] = {}  # (precision, contender): its largest difference from float32 over batches
    for precision in PRECISIONS:
        try:  # a precision the device or this torch cannot build in costs its own rows only
            runs = contenders(tv, ours, device, precision)
        except Exception as exc:
            lines.append(f"| {precision} | | all | {failure(exc)} | | | |")
            continue
        for batch in batches:
            x32 = torch.randn(batch, 3, side, side, device=device)
            want, x = reference(x32), x32.to(PRECISIONS[precision])
            diffs = {}
            for name, fn in runs.items():  # the first call captures
                try:
                    diffs[name] = (fn(x).float() - want).abs().max().item()
                    worst[(precision, name)] = max(worst.get((precision, name), 0.0), diffs[name])
                except Exception as exc:
                    lines.append(f"| {precision} | {batch} | {name} | {failure(exc)} | | | |")
            times = race({name: (lambda fn=runs[name]: fn(x)) for name in diffs}, rounds=rounds, block_s=args.block_s,
                         pause_s=0.02, timer=device_timer(device.type))  # fmt: skip
            base = statistics.median(times["torchvision eager"]) if "torchvision eager" in times else float("nan")
            for name, ts in times.items():
                ms = statistics.median(ts)
                lines.append(f"| {precision} | {batch} | {name} | {ms:.3f} | {batch / ms * 1e3:,.0f} | "
                             f"{base / ms:.2f}x | {diffs[name]:.1e} |")  # fmt: skip
                if name == "ours cudagraph":
                    graphed[(precision, batch)] = (ms, batch / ms * 1e3, base / ms)
                if precision == "float32" and not diffs[name] < 1e-3:
                    differ.append(f"- float32, batch {batch}: {name}'s logits differ from ours in eager by "
                                  f"{diffs[name]:.1e} (>= 1e-3): not the same network")  # fmt: skip
    lines += ["", *differ]
    if (b1 := graphed.get(("float16", 1))) is not None:
        lines.append(f"- batch 1 float16: {b1[0]:.3f} ms (target <= 0.5) and {b1[2]:.2f}x torchvision eager (>= 6)")
    # the half precisions' tolerance: taken as 2x what the precision's rounding costs torchvision's model
    for precision in ("float16", "bfloat16"):
        captured, theirs = worst.get((precision, "ours cudagraph")), worst.get((precision, "torchvision eager"))
        if captured is not None and theirs:
            lines.append(f"- {precision} logits: ours captured within {captured:.1e} of float32, torchvision's model "
                         f"in {precision} within {theirs:.1e}: {captured / theirs:.2f}x its rounding "
                         "(target <= 2x)")  # fmt: skip
    if big := [graphed[(p, 256)][1] for p in ("float16", "bfloat16") if (p, 256) in graphed]:
        lines.append(f"- batch 256, best half precision: {max(big):,.0f} images/s (target >= 100,000)")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="shufflenet_v2_x1_0")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 8, 256, 1024])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--block-s", type=float, default=0.2, help="seconds per block of calls")
    ap.add_argument("--out", default="gpu.md")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, one round: checks the script, not the GPU")
    ap.add_argument("--train-batches", type=int, nargs="*", default=[256])
    ap.add_argument(
        "--steps",
        nargs="+",
        default=["off", "cuda-graph", "reduce-overhead"],
        choices=[*COMPILE_MODES, "cuda-graph"],
        help="training steps: eager (off), captured, compiled",
    )
    ap.add_argument("--data-dir", help="Fashion-MNIST (IDX files); default: random images of its size")
    args = ap.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("benchmarks/gpu.py: PyTorch sees no GPU here; run it where one is (or --device cpu --smoke)")
        return 2
    device = torch.device(args.device)
    m = machine_info()
    lines = [f"# {m['gpu'] or m['cpu']}; driver {m['gpu_driver']}; SM clock {m['gpu_sm_clock_mhz']} of "
             f"{m['gpu_sm_clock_max_mhz']} MHz; torch {m['torch']}", ""]  # fmt: skip
    plot = Path(args.out).with_name(Path(args.out).stem + "_speed_vs_flops.png")
    # the training sections come before the paper's: the second device call is chosen from their figures
    found = Found()
    sections = [lambda: inference_table(args, device), lambda: recipe_table(args, device, found)]
    sections += [lambda: training_table(args, device, found)] if args.train_batches else []
    sections += [lambda: second_call(found)]
    sections += [lambda: speed_table(device, args.smoke, plot), lambda: guidelines_table(device, args.smoke)]
    for section in sections:
        try:
            lines += [*section(), ""]
        except Exception as exc:  # one section's failure (a compiler's, say) must not cost the others' figures
            lines += [f"section failed: {failure(exc)}", ""]
        Path(args.out).write_text("\n".join(lines), encoding="utf-8")  # kept if a later section runs out of time
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
