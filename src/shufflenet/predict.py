"""Prediction on image files with a trained model (a checkpoint or shipped weights)."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from shufflenet.data.images import preprocess, report_unreadable
from shufflenet.export.predictor import ARTIFACT_SUFFIXES, Predictor, artifact_runtime
from shufflenet.models import create_model, list_models
from shufflenet.models._registry import load_weights_file
from shufflenet.runtimes.cuda_graphs import precision_dtype
from shufflenet.utils.deprecation import renamed
from shufflenet.utils.devices import torch_device
from shufflenet.utils.files import folder_given

__all__ = [
    "RUNTIMES",
    "RUNTIME_ALIASES",
    "describe",
    "is_trained_ref",
    "load",
    "load_for_prediction",
    "load_predictor",
    "load_trained",
    "predict_files",
]

#: Where ``load_predictor`` runs a trained model: our fused PyTorch form or our ONNX graph in ONNX
#: Runtime (the runtimes of ``shufflenet bench`` of the same names).
RUNTIMES = ("torch-fused", "onnxruntime-shufflenet", "openvino-shufflenet", "ncnn", "executorch", "litert")
#: names of earlier releases, accepted (with a FutureWarning) until the next one
RUNTIME_ALIASES = {"torch": "torch-fused", "onnxruntime": "onnxruntime-shufflenet"}


def _trained_kind(ref: str) -> str | None:
    """The one place that reads a reference: "checkpoint" (``.pt`` or another existing
    file), "weights" (a shipped-format ``.safetensors`` file), "tag" (``MODEL:TAG``), or
    None for anything else (an architecture name)."""
    path = Path(ref)
    if path.is_dir() and ref not in list_models():  # (a folder that shares a model's name is not read)
        raise folder_given(ref, "a checkpoint, a weights file, an exported model, MODEL:TAG or a model name")
    if path.suffix in ARTIFACT_SUFFIXES:
        return None  # an exported artifact, not weights
    if path.suffix == ".safetensors":
        return "weights"
    if path.suffix == ".pt" or path.is_file():
        return "checkpoint"
    return "tag" if ":" in ref else None


def is_trained_ref(ref: str) -> bool:
    """Whether ``ref`` names trained weights (a checkpoint or weights file, or ``MODEL:TAG``)
    rather than an architecture name or an exported artifact."""
    return _trained_kind(ref) is not None


def load(ref: str | os.PathLike[str], *, use_ema: bool = True, **create_kwargs: Any) -> nn.Module | Predictor:
    """The one loader of a model, whatever ``ref`` names.

    * ``MODEL:TAG``: pretrained weights (``list_pretrained()``: shipped, or ``imagenet`` from torchvision);
    * a training checkpoint (``.pt``; its EMA weights unless ``use_ema=False``);
    * a shipped-format ``.safetensors`` file (``save-pretrained``'s output);
    * an exported file (``.onnx``, OpenVINO ``.xml``, ncnn ``.ncnn.param``, ExecuTorch ``.pte``, LiteRT
      ``.tflite``): a :class:`Predictor` over the runtime its suffix names;
    * a registered name: that architecture with fresh weights (``create_kwargs`` go to
      :func:`~shufflenet.models.create_model`).

    Trained models come back in eval mode with their ``pretrained_cfg`` (normalisation,
    input size, class names).
    """
    ref = str(ref)
    kind = _trained_kind(ref)
    if Path(ref).suffix in ARTIFACT_SUFFIXES:
        return Predictor(ref)
    if kind == "checkpoint":
        from shufflenet.train import load_checkpoint, model_from_checkpoint

        return model_from_checkpoint(load_checkpoint(ref), use_ema=use_ema).eval()
    if kind == "weights":
        return load_weights_file(ref)
    if kind == "tag":
        name, tag = ref.split(":", 1)
        return create_model(name, pretrained=tag)
    return create_model(ref, **create_kwargs)


def describe(ref: str | os.PathLike[str]) -> dict[str, Any]:
    """What ``ref`` (anything :func:`load` reads) holds, as plain values in reading order: its kind,
    the network, the data it expects (input size, normalisation, classes) and, for trained weights,
    how they were trained and scored; for an exported artifact its runtime, files and precision.
    Reads metadata only where it can: no weights are loaded into a network."""
    ref = str(ref)
    kind = _trained_kind(ref)
    info: dict[str, Any] = {"reference": ref}
    if Path(ref).suffix in ARTIFACT_SUFFIXES:
        return {**info, **_describe_artifact(Path(ref))}
    if kind == "checkpoint":
        from shufflenet.train.checkpoint import KINDS, load_marked, trained_on
        from shufflenet.train.history import best_and_last, score_key

        state = load_marked(ref, None, "checkpoint", "bare weights name no network")
        config, history = state.get("config") or {}, state.get("history") or []
        arch = state.get("arch") or {"model": config.get("backbone"), "options": config.get("backbone_options")}
        data = state.get("data") or {
            "mean": config.get("mean"),
            "std": config.get("std"),
            "class_names": state.get("classes"),
        }
        info |= {"kind": KINDS[state["format"]][0], "model" if "arch" in state else "backbone": arch.get("model"),
                 "options": arch.get("options") or {},
                 "epochs": state.get("epoch"), "ema weights": bool(state.get("ema")), "trained on": trained_on(state)}  # fmt: skip
        score = score_key(history)
        if score:  # top-1 in percent, as the tags and the shipped records give it; a detector's AP as COCO does
            scale, unit = (100.0, " %") if score.endswith("_top1") else (1.0, "")
            best, last = best_and_last(history, score)
            info |= {f"best {score}{unit}": None if best is None else round(scale * best[1], 4),
                     f"last {score}{unit}": None if last is None else round(scale * last, 4)}  # fmt: skip
        recipe = {k: config[k] for k in _RECIPE_KEYS if config.get(k) is not None}
        return info | _network_fields(state.get("arch"), data) | {"recipe": recipe}
    if kind == "weights":
        from shufflenet.models._pretrained import read_metadata, read_record

        meta, path = read_metadata(ref), Path(ref)
        name, _, tag = path.name.removesuffix(".safetensors").partition(".")  # save-pretrained's MODEL.TAG
        record = read_record(name, tag, path.parent)  # the record written beside it, if any
        info |= {"kind": "trained weights (safetensors)", "model": meta["arch"].get("model"),
                 "options": meta["arch"].get("options") or {},
                 **_network_fields(meta["arch"], meta["pretrained_cfg"])}  # fmt: skip
        return info | ({"test top-1 %": record.get("test_top1"), **_trained_fields(record)} if record else {})
    if kind == "tag":
        from shufflenet.models import list_pretrained
        from shufflenet.models._pretrained import list_shipped, pretrained_path, read_metadata, read_record

        name, tag = ref.split(":", 1)
        found = [t for t in list_pretrained() if t.model == name and t.tag == tag]
        if not found:
            create_model(name, pretrained=tag)  # the registry's own error: it names the tags there are
        info |= {"kind": "pretrained weights", "model": name, "tag": tag, "dataset": found[0].dataset,
                 "top1 %": found[0].top1, "source": found[0].source}  # fmt: skip
        if (name, tag) not in list_shipped():  # torchvision's: its metadata is all there is offline
            from shufflenet.models._imagenet import imagenet_cfg
            from shufflenet.models._registry import plain_arch

            return info | _network_fields(plain_arch(name), imagenet_cfg(name))
        meta, record = read_metadata(pretrained_path(name, tag)), read_record(name, tag)
        return info | {"options": meta["arch"].get("options") or {},
                       **_network_fields(meta["arch"], meta["pretrained_cfg"]), **_trained_fields(record)}  # fmt: skip
    from shufflenet.bench.engine import artifact_complexity
    from shufflenet.models import get_entry
    from shufflenet.models._registry import plain_arch

    entry = get_entry(ref)
    flops, params, _ = artifact_complexity({"arch": plain_arch(ref)}, (3, 224, 224))
    paper = entry.reference
    return info | {"kind": "registered architecture (fresh weights)", "family": entry.family, "params": params,
                   "FLOPs at 224": flops, "paper": paper and paper.source,
                   "paper FLOPs": paper and paper.flops, "paper top-1 %": paper and paper.top1}  # fmt: skip


#: the recipe fields :func:`describe` shows of a checkpoint's config (classifier's, then detector's)
_RECIPE_KEYS = ("dataset", "kind", "epochs", "batch_size", "lr", "schedule", "precision", "img_size")


def _network_fields(arch: dict[str, Any] | None, cfg: dict[str, Any]) -> dict[str, Any]:
    """The network's size, params and FLOPs per image at the input its weights were trained for (counted on the
    architecture they record, as an exported file's are: :func:`~shufflenet.bench.engine.artifact_complexity`),
    then the data it expects (:func:`_data_fields`)."""
    from shufflenet.bench.engine import artifact_complexity

    size = {}
    if arch and cfg.get("input_size"):
        flops, params, _ = artifact_complexity({"arch": arch}, cfg["input_size"])
        size = {"params": params, "FLOPs": flops}
    return size | _data_fields(cfg)


def _trained_fields(record: dict[str, Any]) -> dict[str, Any]:
    """How shipped weights were made, from the record ``save-pretrained`` writes beside them."""
    return {"epochs": record.get("epochs"), "command": record.get("command"), "trained on": record.get("machine"),
            "wall clock s": record.get("wall_clock_s")}  # fmt: skip


def _data_fields(cfg: dict[str, Any]) -> dict[str, Any]:
    """The data a model expects, from its ``pretrained_cfg`` (or a checkpoint's ``data``)."""
    names = cfg.get("class_names") or []
    return {"input size": cfg.get("input_size"), "mean": cfg.get("mean"), "std": cfg.get("std"),
            "classes": len(names) or None, "class names": ", ".join(map(str, names[:10])) + (" ..." if len(names) > 10 else "")}  # fmt: skip


def _describe_artifact(path: Path) -> dict[str, Any]:
    from shufflenet.bench.engine import artifact_complexity, artifact_input
    from shufflenet.export.formats import artifact_precision

    if path.suffix == ".onnx":
        from shufflenet.detection.export import read_detector_metadata

        detector = read_detector_metadata(path)
        if detector is not None:
            names = detector.get("class_names") or []
            return {"kind": "exported ONNX detector", "runtime": "onnxruntime", "files": {path.name: path.stat().st_size},
                    "precision": artifact_precision(path), "input": "image (3, H, W) in [0, 1], any size",
                    "detector": detector.get("detector"), "backbone": detector.get("backbone"),
                    "trained at side": detector.get("img_size"), "classes": len(names) or None,
                    "class names": _data_fields({"class_names": names})["class names"]}  # fmt: skip
    predictor = Predictor(path)
    files = [f for f in (path, *_companions(path)) if f.is_file()]
    cfg = predictor.pretrained_cfg or {}
    arch = cfg.get("arch") or {}  # the network it was exported from, where the file records it
    flops, params, _ = artifact_complexity(cfg, artifact_input(predictor))
    return {"kind": f"exported {ARTIFACT_SUFFIXES[path.suffix]} model", "runtime": predictor.runtime,
            "files": {f.name: f.stat().st_size for f in files}, "input shape": list(predictor.input_shape),
            "precision": artifact_precision(path),
            **({"model": arch.get("model"), "options": arch.get("options") or {}, "params": params, "FLOPs": flops}
               if arch else {}),
            **({"tag": cfg["tag"]} if "tag" in cfg else {}), **_data_fields(cfg)}  # fmt: skip


def _companions(path: Path) -> list[Path]:
    """The files written beside an artifact: its weights (OpenVINO, ncnn) and the ``pretrained_cfg``
    sidecar of a format without metadata (ncnn, ExecuTorch, LiteRT)."""
    from shufflenet.export.formats import artifact_files
    from shufflenet.runtimes.sidecar import cfg_sidecar

    return artifact_files(path)[1:] + ([cfg_sidecar(path)] if path.suffix in (".param", ".pte", ".tflite") else [])


def load_trained(ref: str, *, use_ema: bool = True) -> nn.Module:
    """:func:`load` for trained weights only: a checkpoint, weights file or ``MODEL:TAG``."""
    if Path(ref).suffix in ARTIFACT_SUFFIXES:
        raise ValueError(f"{ref} is an exported artifact, not trained weights; run it with shufflenet.Predictor")
    if not is_trained_ref(ref):
        raise FileNotFoundError(f"{ref!r} is neither a checkpoint file nor MODEL:TAG of shipped weights")
    model = load(ref, use_ema=use_ema)
    assert isinstance(model, nn.Module)
    return model


def load_for_prediction(ref: str, *, use_ema: bool = True) -> nn.Module:
    """Old name of :func:`load_trained`, kept for one release."""
    warnings.warn("load_for_prediction is now load_trained (or shufflenet.load for any reference); "
                  "the old name goes in the next release", FutureWarning, stacklevel=2)  # fmt: skip
    return load_trained(ref, use_ema=use_ema)


def load_predictor(
    ref: str,
    *,
    runtime: str | None = None,
    threads: int | None = None,
    use_ema: bool = True,
    device: str = "cpu",
    precision: str = "float32",
) -> Predictor:
    """A :class:`Predictor` for a checkpoint, ``MODEL:TAG``, or an exported file (any of ``ARTIFACT_SUFFIXES``).

    ``runtime`` (default ``"torch-fused"``) other than ``"torch-fused"`` exports a trained model to that
    runtime's verified artifact first (our ONNX graph, OpenVINO IR, ncnn net, ExecuTorch program or LiteRT
    model), in a temporary folder. An exported file runs in its own runtime: naming another is an error.
    ``device`` and ``precision`` are the PyTorch runtime's (on ``cuda``: replayed from CUDA graphs); the
    exported runtimes run float32 on the CPU, so anything else with them is an error.
    """
    if not use_ema and _trained_kind(ref) != "checkpoint":  # silently the same weights otherwise
        raise ValueError(f"use_ema=False (--no-ema) picks a training checkpoint's raw weights; {ref} holds one set "
                         "of weights: leave it out")  # fmt: skip
    if runtime is not None:
        runtime = renamed(runtime, RUNTIME_ALIASES, "runtime")
        if runtime not in RUNTIMES:
            raise ValueError(f"unknown runtime {runtime!r}; choose from {', '.join(RUNTIMES)}")
    precision_dtype(precision)  # an unknown name or device fails before any model is loaded or exported
    on_torch = torch_device(device).type != "cpu" or precision != "float32"
    own = artifact_runtime(ref)
    if on_torch and (own is not None or runtime not in (None, "torch-fused")):
        what = f"{ref} is an exported {own} file, which" if own else f"runtime {runtime}"
        raise ValueError(f"{what} runs in float32 on the CPU; device {device!r} and precision {precision!r} are "
                         "for a trained model in PyTorch (a checkpoint or MODEL:TAG, runtime torch-fused)")  # fmt: skip
    if own is not None:
        if runtime is not None and runtime.removesuffix("-shufflenet") != own:
            raise ValueError(f"{ref} is an exported {own} file and runs in {own} only, not {runtime}; leave "
                             f"--runtime out, or give the trained model (checkpoint or MODEL:TAG) with --runtime {runtime}")  # fmt: skip
        return Predictor(ref, threads=threads)
    runtime = runtime or "torch-fused"
    model = load_trained(ref, use_ema=use_ema)
    if runtime == "torch-fused":
        return Predictor(model, threads=threads, device=device, precision=precision)
    shape = (1, *model.pretrained_cfg["input_size"])  # type: ignore[index]
    if runtime in ("openvino-shufflenet", "ncnn", "executorch", "litert"):
        from shufflenet.export.formats import exported_predictor

        return exported_predictor(model, runtime.removesuffix("-shufflenet"), shape, threads=threads)
    from shufflenet.bench.machine import onnx_target
    from shufflenet.export.onnx import onnx_predictor

    return onnx_predictor(model, shape, threads=threads, target=onnx_target())


@torch.no_grad()
def predict_files(
    predictor: Predictor | nn.Module,
    paths: Sequence[str | os.PathLike[str]],
    topk: int = 3,
    *,
    skip_unreadable: bool = False,
    batch_size: int = 64,
    progress: Callable[[int, int], None] | None = None,
) -> list[list[tuple[str, float]]]:
    """Top-k (class name, probability) for every image, in the order of ``paths``.

    Images are decoded and scored ``batch_size`` at a time, so a folder of thousands needs the
    memory of one batch; ``progress(done, total)`` is called after each. With ``skip_unreadable``
    an image that cannot be decoded gets an empty list and a warning names it (the rest are still
    scored); else it raises.
    """
    if isinstance(predictor, nn.Module):
        predictor = Predictor(predictor)
    cfg = predictor.trained_cfg
    if topk < 1 or batch_size < 1:
        raise ValueError(f"topk and batch_size must be >= 1, got {topk} and {batch_size}")
    names = cfg["class_names"]
    if not paths:
        raise ValueError("no images given")
    scored: dict[int, list[tuple[str, float]]] = {}
    bad: list[str] = []
    for start in range(0, len(paths), batch_size):
        batch, index = [], []
        for i, p in enumerate(paths[start : start + batch_size], start):
            try:
                batch.append(preprocess([p], cfg))
                index.append(i)
            except ValueError as exc:
                if not skip_unreadable:
                    raise
                bad.append(str(exc))
        if batch:
            values, classes = predictor(torch.cat(batch)).softmax(1).topk(min(topk, len(names)), 1)
            for i, vs, cs in zip(index, values.tolist(), classes.tolist()):
                scored[i] = [(names[c], float(v)) for v, c in zip(vs, cs)]
        if progress:
            progress(min(start + batch_size, len(paths)), len(paths))
    report_unreadable(bad, len(paths))
    return [scored.get(i, []) for i in range(len(paths))]
