"""Runtimes a model can be measured in: PyTorch eager, torch.compile, ONNX Runtime, and our
deployment paths (the fused eager model, the optimised ONNX graph in a Predictor).

Each runtime turns a model and an example input into a ``predict(x) -> logits``
callable; the benchmark engine times that callable and nothing else (export and
compilation happen before timing).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

__all__ = ["RUNTIMES", "Runtime", "get_runtime", "ort_session"]

Predict = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class Runtime:
    name: str
    description: str
    prepare: Callable[[nn.Module, Tensor, int | None], Predict]  # (model, example, threads)


def _eager(model: nn.Module, example: Tensor, threads: int | None) -> Predict:
    def predict(x: Tensor) -> Tensor:
        with torch.inference_mode():
            return model(x)

    return predict


def _compile(model: nn.Module, example: Tensor, threads: int | None) -> Predict:
    compiled = torch.compile(model, dynamic=False)
    return _eager(compiled, example, threads)  # type: ignore[arg-type]


def ort_session(  # type: ignore[no-untyped-def]
    path: str | bytes, threads: int | None, device: torch.device, *, optimize: bool = True,
    optimized_path: str | None = None,
):
    """An ONNX Runtime session (of a file or its bytes) with full graph optimisation; CUDA for a model on a GPU.

    ``optimize=False`` runs a graph as written (one ONNX Runtime optimised and saved before, through
    ``optimized_path``, which writes the optimised graph to that file)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = (
        ort.GraphOptimizationLevel.ORT_ENABLE_ALL if optimize else ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    )
    if optimized_path is not None:
        options.optimized_model_filepath = optimized_path
        options.log_severity_level = 3  # not the warning that a blocked (NCHWc) graph only suits this CPU: we know
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    providers = ["CPUExecutionProvider"]
    if device.type == "cuda":
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise ValueError("onnxruntime has no CUDA provider here; install onnxruntime-gpu or use --device cpu")
        providers.insert(0, "CUDAExecutionProvider")
    return ort.InferenceSession(path, options, providers=providers)


def _onnxruntime(model: nn.Module, example: Tensor, threads: int | None) -> Predict:
    from shufflenet.export.onnx import export_onnx_file  # export imports this module: import late

    fd, path = tempfile.mkstemp(suffix=".onnx")
    os.close(fd)
    try:
        export_onnx_file(model, example, path)
        session = ort_session(path, threads, example.device)
    finally:
        os.unlink(path)
    name = session.get_inputs()[0].name

    def predict(x: Tensor) -> Tensor:
        array = x.detach().cpu().numpy()
        return torch.from_numpy(np.asarray(session.run(None, {name: array})[0]))

    return predict


def _shufflenet_ort(model: nn.Module, example: Tensor, threads: int | None) -> Predict:
    from shufflenet.export.onnx import onnx_predictor  # export imports this module: import late

    if example.device.type != "cpu":
        raise ValueError("the shufflenet-ort runtime runs on the CPU; use --device cpu")
    return onnx_predictor(model, tuple(example.shape), threads=threads, verify=False)


def _shufflenet_eager(model: nn.Module, example: Tensor, threads: int | None) -> Predict:
    from shufflenet.export import deploy

    return _eager(deploy(model).to(example.device), example, threads)


RUNTIMES: dict[str, Runtime] = {
    r.name: r
    for r in (
        Runtime("eager", "PyTorch eager, inference mode", _eager),
        Runtime("compile", "torch.compile (inductor)", _compile),
        Runtime("onnxruntime", "torch.onnx.export + ONNX Runtime", _onnxruntime),
        Runtime("shufflenet-eager", "our inference form (model.fuse()), PyTorch eager", _shufflenet_eager),
        Runtime("shufflenet-ort", "our optimised ONNX graph + Predictor (ONNX Runtime)", _shufflenet_ort),
    )
}


def get_runtime(name: str) -> Runtime:
    try:
        return RUNTIMES[name]
    except KeyError:
        raise ValueError(f"unknown runtime {name!r}; choose from {', '.join(RUNTIMES)}") from None
