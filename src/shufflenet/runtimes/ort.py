"""ONNX Runtime sessions with the project's options: every graph optimisation, a fixed thread
count (one inter-op thread: a ShuffleNet is a chain of small operators), CUDA for a model on a GPU."""

from __future__ import annotations

import torch

from shufflenet.utils.optional import require

__all__ = ["ort_session"]


def ort_session(
    path: str | bytes, threads: int | None, device: torch.device, *, spin: bool = True, profile: str | None = None
):
    """An ONNX Runtime session (of a file or its bytes) with full graph optimisation; CUDA for a model on a GPU.

    ``spin=False`` stops ONNX Runtime's
    worker threads from spinning after each call (they then sleep, and wake more slowly, but leave the
    cores to other work). ``profile``: the file prefix of ONNX Runtime's profile of every call
    (``end_profiling()`` writes it)."""
    ort = require("onnxruntime", "onnx")

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if profile is not None:
        options.enable_profiling = True
        options.profile_file_prefix = profile
    if not spin:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    providers = ["CPUExecutionProvider"]
    if device.type == "cuda":
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise ValueError("onnxruntime has no CUDA provider here; install onnxruntime-gpu or use --device cpu")
        providers.insert(0, "CUDAExecutionProvider")
    return ort.InferenceSession(path, options, providers=providers)
