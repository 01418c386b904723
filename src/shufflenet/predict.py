"""Prediction on image files with a trained model (a checkpoint or shipped weights)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor, nn

from shufflenet.export.predictor import Predictor

__all__ = ["IMAGE_SUFFIXES", "RUNTIMES", "is_trained_ref", "load_for_prediction", "load_predictor", "predict_files", "preprocess"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")

#: Where ``load_predictor`` runs a checkpoint: PyTorch (the fused model) or ONNX Runtime.
RUNTIMES = ("torch", "onnxruntime")


def _trained_kind(ref: str) -> str | None:
    """The one place that reads a reference: "checkpoint" (``.pt`` or another existing
    file), "weights" (a shipped-format ``.safetensors`` file), "tag" (``MODEL:TAG``), or
    None for anything else (an architecture name)."""
    path = Path(ref)
    if path.suffix == ".safetensors":
        return "weights"
    if path.suffix == ".pt" or path.is_file():
        return "checkpoint"
    return "tag" if ":" in ref else None


def is_trained_ref(ref: str) -> bool:
    """Whether ``ref`` names trained weights that :func:`load_for_prediction` takes (a
    checkpoint or weights file, or ``MODEL:TAG``) rather than an architecture name."""
    return _trained_kind(ref) is not None


def load_for_prediction(ref: str, *, use_ema: bool = True) -> nn.Module:
    """A training checkpoint (``.pt``; its EMA weights unless ``use_ema=False``), a
    shipped-format ``.safetensors`` file, or ``MODEL:TAG``."""
    kind = _trained_kind(ref)
    if kind == "checkpoint":
        from shufflenet.train import load_checkpoint, model_from_checkpoint

        return model_from_checkpoint(load_checkpoint(ref), use_ema=use_ema).eval()
    if kind == "weights":
        from shufflenet.models._pretrained import load_pretrained

        path = Path(ref)
        model, _, tag = path.name.removesuffix(".safetensors").partition(".")
        return load_pretrained(model, tag, path.parent)
    if kind == "tag":
        from shufflenet.models import create_model

        name, tag = ref.split(":", 1)
        return create_model(name, pretrained=tag)
    raise FileNotFoundError(f"{ref!r} is neither a checkpoint file nor MODEL:TAG of shipped weights")


def load_predictor(ref: str, *, runtime: str = "torch", threads: int | None = None, use_ema: bool = True) -> Predictor:
    """A :class:`Predictor` for a checkpoint, ``MODEL:TAG``, or an exported ``.onnx`` file.

    ``runtime="onnxruntime"`` exports a checkpoint to a verified ONNX graph first
    (in a temporary file); an ``.onnx`` file always runs in ONNX Runtime.
    """
    if runtime not in RUNTIMES:
        raise ValueError(f"unknown runtime {runtime!r}; choose from {', '.join(RUNTIMES)}")
    if Path(ref).suffix == ".onnx":
        return Predictor(ref, threads=threads)
    model = load_for_prediction(ref, use_ema=use_ema)
    if runtime == "torch":
        return Predictor(model, threads=threads)
    from shufflenet.export.onnx import onnx_predictor

    return onnx_predictor(model, (1, *model.pretrained_cfg["input_size"]), threads=threads)  # type: ignore[index]


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
def predict_files(
    predictor: Predictor | nn.Module, paths: Sequence[str | os.PathLike[str]], topk: int = 3
) -> list[list[tuple[str, float]]]:
    """Top-k (class name, probability) for every image."""
    if isinstance(predictor, nn.Module):
        predictor = Predictor(predictor)
    cfg = predictor.pretrained_cfg
    if not cfg:
        raise ValueError(
            f"{predictor.source} carries no normalisation or class names; "
            "use a checkpoint, MODEL:TAG, or an ONNX file exported from one"
        )
    names = cfg["class_names"]
    probs = predictor(preprocess(paths, cfg)).softmax(1)
    values, index = probs.topk(min(topk, len(names)), 1)
    return [[(names[i], float(v)) for v, i in zip(vs, ix)] for vs, ix in zip(values.tolist(), index.tolist())]
