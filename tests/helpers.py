"""Test data the tests make (no downloads): IDX files and a learnable fake Fashion-MNIST."""

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import torch

from shufflenet.data.idx import write_idx  # noqa: F401  (tests import it from here too)


def make_fake_fashion_mnist(root: Path, n_train: int = 512, n_test: int = 200, seed: int = 0) -> Path:
    """A learnable stand-in: class k is a bright bar at row 2k + 4, plus noise."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        images = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
        for i, k in enumerate(labels):
            images[i, 2 * k + 4 : 2 * k + 6, 4:24] = 250
        write_idx(root / f"{split}-images-idx3-ubyte.gz", images)
        write_idx(root / f"{split}-labels-idx1-ubyte.gz", labels)
    return root


def randomise_bn(model: torch.nn.Module) -> torch.nn.Module:
    """Non-trivial BN statistics, so a wrong mapping or fold of any BN cannot go unnoticed."""
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return model


def lively_model(name: str, **kw: object) -> torch.nn.Module:
    """A 10-class model with non-trivial BN statistics and logits, so a wrong fold or export shows."""
    from shufflenet import create_model

    model = randomise_bn(create_model(name, num_classes=10, **kw))
    for m in model.modules():
        if isinstance(m, torch.nn.Linear):
            torch.nn.init.normal_(m.weight, 0, 0.5)
    return model.eval()


def meta_report(model_or_name: "str | torch.nn.Module", size: int = 224, **kw: object):
    """The analyser's report of a registered model (built on the ``meta`` device: shapes only) or a model."""
    from shufflenet import analyze, create_model

    if isinstance(model_or_name, str):
        with torch.device("meta"):
            model_or_name = create_model(model_or_name, **kw)
    return analyze(model_or_name, (1, 3, size, size))


def fake_checkpoint(path: Path, classes: list[str], in_chans: int = 1, size: int = 28, **drop: object) -> Path:
    """A checkpoint as the training loop writes it, of an untrained V2 0.5x with ``classes`` (keys in
    ``drop`` left out): what eval, predict, export and resume read, made in a second without training."""
    from shufflenet.models import create_model
    from shufflenet.train import TrainConfig, save_checkpoint

    model = create_model("shufflenet_v2_x0_5", num_classes=len(classes), in_chans=in_chans, small_input=size <= 64)
    arch = {"model": "shufflenet_v2_x0_5", "num_classes": len(classes), "in_chans": in_chans,
            "small_input": size <= 64, "options": {}}  # fmt: skip
    state = {"config": TrainConfig(out_dir=str(path.parent)).to_dict(), "arch": arch, "epoch": 1, "history": [],
             "best_top1": 0.0, "model": model.state_dict(), "ema": None, "optimizer": {}, "budget": None,
             "data": {"mean": [0.5] * in_chans, "std": [0.25] * in_chans, "input_size": [in_chans, size, size],
                      "class_names": classes, "dataset": "imagefolder"}}  # fmt: skip
    for key in drop:
        state.pop(key)
    save_checkpoint(state, path)
    return path


def load_benchmark(name: str) -> ModuleType:
    """``benchmarks/NAME.py`` imported as a module (the scripts are not a package): its functions and ``main``."""
    folder = str(Path(__file__).parents[1] / "benchmarks")
    if folder not in sys.path:  # run as a script, its folder is first on the path: ``from common import ...``
        sys.path.append(folder)
    spec = importlib.util.spec_from_file_location(f"bench_{name}", Path(folder) / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # as importlib's recipe does: a dataclass in the script looks its module up there
    spec.loader.exec_module(module)
    return module
