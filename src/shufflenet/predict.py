"""Prediction on image files with a trained model (a checkpoint or shipped weights)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor, nn

__all__ = ["load_for_prediction", "predict_files", "preprocess"]


def load_for_prediction(ref: str) -> nn.Module:
    """A training checkpoint (``.pt``), a shipped-format ``.safetensors`` file, or ``MODEL:TAG``."""
    path = Path(ref)
    if path.suffix == ".pt" or (path.exists() and path.suffix != ".safetensors"):
        from shufflenet.train import load_checkpoint, model_from_checkpoint

        return model_from_checkpoint(load_checkpoint(path)).eval()
    if path.suffix == ".safetensors":
        from shufflenet.models._pretrained import load_pretrained

        model, _, tag = path.name.removesuffix(".safetensors").partition(".")
        return load_pretrained(model, tag, path.parent)
    if ":" in ref:
        from shufflenet.models import create_model

        name, tag = ref.split(":", 1)
        return create_model(name, pretrained=tag)
    raise FileNotFoundError(f"{ref!r} is neither a checkpoint file nor MODEL:TAG of shipped weights")


def preprocess(paths: Sequence[str | os.PathLike[str]], cfg: dict) -> Tensor:
    """Images -> the model's input: grey or RGB, resized to its input size, normalised."""
    from PIL import Image, UnidentifiedImageError
    from torchvision.transforms.functional import pil_to_tensor

    chans, h, w = cfg["input_size"]
    batch = []
    for p in paths:
        try:
            with Image.open(p) as img:
                img = img.convert("L" if chans == 1 else "RGB").resize((w, h), Image.BILINEAR)
        except FileNotFoundError:
            raise FileNotFoundError(f"image {str(p)!r} not found") from None
        except (UnidentifiedImageError, OSError) as exc:
            raise ValueError(f"cannot decode image {p}: {exc}") from None
        batch.append(pil_to_tensor(img))
    x = torch.stack(batch).float().div_(255)
    mean = torch.tensor(cfg["mean"]).view(1, -1, 1, 1)
    std = torch.tensor(cfg["std"]).view(1, -1, 1, 1)
    return (x - mean) / std


@torch.no_grad()
def predict_files(model: nn.Module, paths: Sequence[str | os.PathLike[str]], topk: int = 3) -> list[list[tuple[str, float]]]:
    """Top-k (class name, probability) for every image."""
    cfg = model.pretrained_cfg  # type: ignore[attr-defined]
    names = cfg["class_names"]
    probs = model.eval()(preprocess(paths, cfg)).softmax(1)
    values, index = probs.topk(min(topk, len(names)), 1)
    return [[(names[i], float(v)) for v, i in zip(vs, ix)] for vs, ix in zip(values.tolist(), index.tolist())]
