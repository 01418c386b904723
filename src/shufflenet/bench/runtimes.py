"""Runtimes a model can be measured in: PyTorch eager, torch.compile, ONNX Runtime, OpenVINO, ncnn,
ExecuTorch, LiteRT, and our deployment paths (the fused eager model, the same replayed from CUDA
graphs on a GPU, the optimised ONNX graph in a Predictor, our OpenVINO IR).

Each runtime turns a model and an example input into a ``predict(x) -> logits``
callable; the benchmark engine times that callable and nothing else (export and
compilation happen before timing).
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from shufflenet.bench.machine import onnx_target
from shufflenet.export.formats import exported_predictor
from shufflenet.export.onnx import export_onnx, export_onnx_file
from shufflenet.export.openvino import export_openvino
from shufflenet.export.predictor import Predictor
from shufflenet.layers import deploy
from shufflenet.runtimes import OpenVinoRunner, ort_session, ov_compile, ov_core
from shufflenet.runtimes.cuda_graphs import PRECISIONS, GraphedModule, inference_form
from shufflenet.utils.deprecation import renamed
from shufflenet.utils.optional import require

__all__ = [
    "ONNX_WRITERS",
    "OPENVINO_IRS",
    "RUNTIMES",
    "RUNTIME_ALIASES",
    "Runtime",
    "get_runtime",
    "resolve_runtime_name",
]

Predict = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class Runtime:
    name: str
    description: str
    prepare: Callable[[nn.Module, Tensor, int | None], Predict]  # (model, example, threads)
    float32_only: bool = False  # the ONNX graphs are written in float32
    static_shapes: bool = False  # compiled for the example's shape: prepared again for each batch size
    cpu_only: bool = False  # a CPU runtime here (see check_device)
    cuda_only: bool = False  # needs a GPU

    def check_device(self, device: torch.device) -> None:
        """A one-line error if this runtime cannot run on ``device``: checked before anything is prepared."""
        if self.cpu_only and device.type != "cpu":
            raise ValueError(f"the {self.name} runtime runs on the CPU here; use --device cpu")
        if self.cuda_only and device.type != "cuda":
            raise ValueError(
                f"the {self.name} runtime needs a GPU; use --device cuda (or runtime torch-fused on the CPU)"
            )


def _eager(model: nn.Module, example: Tensor, threads: int | None) -> Predict:
    def predict(x: Tensor) -> Tensor:
        with torch.inference_mode():
            return model(x)

    return predict


def _compiled(mode: str | None = None) -> Callable[[nn.Module, Tensor, int | None], Predict]:
    """torch.compile in ``mode`` (None: its default), for the example's shapes."""

    def prepare(model: nn.Module, example: Tensor, threads: int | None) -> Predict:
        return _eager(torch.compile(model, dynamic=False, mode=mode), example, threads)  # type: ignore[arg-type]

    return prepare


def _shufflenet_onnx(model: nn.Module, example: Tensor, path: str | os.PathLike[str]) -> None:
    """Our graph for this host's ONNX Runtime target, unverified (a benchmark checks the logits itself)."""
    export_onnx(model, path, input_shape=tuple(example.shape), verify=False, target=onnx_target())


#: how each ONNX Runtime runtime writes its file (also profiled by :mod:`shufflenet.bench.breakdown`)
ONNX_WRITERS: dict[str, Callable[[nn.Module, Tensor, str | os.PathLike[str]], None]] = {
    "onnxruntime": export_onnx_file,  # PyTorch's exporter
    "onnxruntime-shufflenet": _shufflenet_onnx,
}


def _onnxruntime(model: nn.Module, example: Tensor, threads: int | None) -> Predict:
    fd, path = tempfile.mkstemp(suffix=".onnx")
    os.close(fd)
    try:
        ONNX_WRITERS["onnxruntime"](model, example, path)
        session = ort_session(path, threads, example.device)
    finally:
        os.unlink(path)
    name = session.get_inputs()[0].name

    def predict(x: Tensor) -> Tensor:
        array = x.detach().cpu().numpy()
        return torch.from_numpy(np.asarray(session.run(None, {name: array})[0]))

    return predict


def _onnxruntime_shufflenet(model: nn.Module, example: Tensor, threads: int | None) -> Predict:
    with tempfile.TemporaryDirectory() as tmp:
        ONNX_WRITERS["onnxruntime-shufflenet"](model, example, Path(tmp) / "model.onnx")
        return Predictor(Path(tmp) / "model.onnx", threads=threads)  # split batches: what users run


def _numpy_predict(run: Callable[[np.ndarray], np.ndarray]) -> Predict:
    """A runner of float32 NumPy batches (OpenVINO, ncnn, ExecuTorch) as a tensor-to-tensor predict."""
    return lambda x: torch.from_numpy(run(x.detach().numpy()))


def _openvino_ir(model: nn.Module, example: Tensor) -> Any:
    """OpenVINO's conversion of ``model`` (its PyTorch frontend), static for the example's shape."""
    ov = require("openvino", "openvino")
    with warnings.catch_warnings():  # the tracer's notes on Python control flow
        warnings.simplefilter("ignore")
        ir = ov.convert_model(model.eval(), example_input=example)
    ir.reshape(list(example.shape))  # static shapes: what a deployment compiles
    return ir


def _openvino_shufflenet_ir(model: nn.Module, example: Tensor) -> Any:
    """Our OpenVINO export of ``model`` as a user loads it (``read_model``), static for the example's shape."""
    with tempfile.TemporaryDirectory() as tmp:
        export_openvino(model, Path(tmp) / "m.xml", input_shape=tuple(example.shape))
        # the weights read into memory: the folder goes next
        ir = ov_core().read_model(str(Path(tmp) / "m.xml"), config={"ENABLE_MMAP": False})
    ir.reshape(list(example.shape))
    return ir


#: how each OpenVINO runtime makes its model (also profiled by :mod:`shufflenet.bench.breakdown`)
OPENVINO_IRS: dict[str, Callable[[nn.Module, Tensor], Any]] = {
    "openvino": _openvino_ir,
    "openvino-shufflenet": _openvino_shufflenet_ir,
}


def _openvino(ir_of: Callable[[nn.Module, Tensor], Any]) -> Callable[[nn.Module, Tensor, int | None], Predict]:
    def prepare(model: nn.Module, example: Tensor, threads: int | None) -> Predict:
        return _numpy_predict(OpenVinoRunner(ov_compile(ir_of(model, example), threads)).run)

    return prepare


def _artifact(fmt: str) -> Callable[[nn.Module, Tensor, int | None], Predict]:
    """Runtimes of one image per call (ncnn, ExecuTorch, LiteRT): the model's file, opened as a user would."""

    def prepare(model: nn.Module, example: Tensor, threads: int | None) -> Predict:
        return _numpy_predict(exported_predictor(model, fmt, tuple(example.shape), threads=threads).predict)

    return prepare


def _torch_fused(model: nn.Module, example: Tensor, threads: int | None) -> Predict:
    return _eager(deploy(model).to(example.device), example, threads)


def _cudagraph(model: nn.Module, example: Tensor, threads: int | None) -> Predict:
    precision = {v: k for k, v in PRECISIONS.items()}[example.dtype]
    return GraphedModule(inference_form(model, example.device, precision))


RUNTIMES: dict[str, Runtime] = {
    r.name: r
    for r in (
        Runtime("eager", "PyTorch eager, inference mode", _eager),
        Runtime("compile", "torch.compile (inductor)", _compiled()),
        Runtime("compile-max-autotune", "torch.compile, mode max-autotune (kernels tuned per shape: minutes to "
                "prepare)", _compiled("max-autotune")),
        Runtime("compile-reduce-overhead", "torch.compile, mode reduce-overhead (its kernels replayed from CUDA "
                "graphs)", _compiled("reduce-overhead"), cuda_only=True),
        Runtime("onnxruntime", "torch.onnx.export + ONNX Runtime", _onnxruntime, float32_only=True),
        Runtime("torch-fused", "our inference form (model.fuse(): BN folded, channels-last), PyTorch eager", _torch_fused),
        Runtime("onnxruntime-shufflenet", "our shuffle-aware ONNX graph for this CPU class in a Predictor (ONNX Runtime)",
                _onnxruntime_shufflenet, float32_only=True, cpu_only=True),
        Runtime("openvino", "OpenVINO's PyTorch frontend (ov.convert_model), float32", _openvino(_openvino_ir),
                float32_only=True,
                static_shapes=True, cpu_only=True),
        Runtime("cudagraph", "our inference form replayed from a CUDA graph per input shape", _cudagraph,
                cuda_only=True),
        Runtime("openvino-shufflenet", "our OpenVINO export (a plain V2 shuffle-free), float32",
                _openvino(_openvino_shufflenet_ir),
                float32_only=True, static_shapes=True, cpu_only=True),
        Runtime("ncnn", "ncnn (pnnx's conversion of the model), float32, one image per call", _artifact("ncnn"),
                float32_only=True, cpu_only=True),
        Runtime("executorch", "ExecuTorch with XNNPACK (torch.export of the model), one image per call",
                _artifact("executorch"), float32_only=True, cpu_only=True),
        Runtime("litert", "LiteRT with XNNPACK (litert_torch's conversion of the model), one image per call",
                _artifact("litert"), float32_only=True, cpu_only=True),
    )
}  # fmt: skip

#: names of earlier releases, accepted (with a FutureWarning) until the next one
RUNTIME_ALIASES = {"shufflenet-eager": "torch-fused", "shufflenet-ort": "onnxruntime-shufflenet"}


def resolve_runtime_name(name: str) -> str:
    """The current name of runtime ``name``; an old alias warns once per call."""
    name = renamed(name, RUNTIME_ALIASES, "runtime")
    if name not in RUNTIMES:
        raise ValueError(f"unknown runtime {name!r}; choose from {', '.join(RUNTIMES)}")
    return name


def get_runtime(name: str) -> Runtime:
    """The runtime called ``name`` (or an old alias of it)."""
    return RUNTIMES[resolve_runtime_name(name)]
