"""``Predictor``: logits from an exported artifact (ONNX in ONNX Runtime, an OpenVINO IR in OpenVINO)
or a PyTorch model (fallback)."""

from __future__ import annotations

import json
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from shufflenet.runtimes import num_threads, ort_session
from shufflenet.runtimes.cuda_graphs import GraphedModule, inference_form, precision_dtype
from shufflenet.utils.devices import torch_device
from shufflenet.utils.host import emulated_precision
from shufflenet.utils.optional import MissingExtra
from shufflenet.utils.quiet import quiet_fds

__all__ = ["ARTIFACT_SUFFIXES", "DETECTOR_METADATA_KEY", "METADATA_KEY", "Predictor", "artifact_runtime"]

#: the artifacts a Predictor opens, by suffix, and the runtime that runs each
ARTIFACT_SUFFIXES = {".onnx": "ONNX", ".xml": "OpenVINO IR", ".param": "ncnn", ".pte": "ExecuTorch",
                     ".tflite": "LiteRT"}  # fmt: skip

#: the runtime that runs each artifact
_RUNTIMES = {".xml": "openvino", ".param": "ncnn", ".pte": "executorch", ".tflite": "litert", ".onnx": "onnxruntime"}


def artifact_runtime(path: str | os.PathLike[str]) -> str | None:
    """The runtime that runs the exported file ``path`` (by its suffix), or None if it is not one."""
    return _RUNTIMES.get(Path(path).suffix)


#: ONNX ``metadata_props`` key holding the model's ``pretrained_cfg`` as JSON
#: (mean, std, input size, class names), so an exported file is self-describing.
METADATA_KEY = "shufflenet.pretrained_cfg"
#: the key that marks a detector exported by ``shufflenet detect export`` (JSON: its class names, ...)
DETECTOR_METADATA_KEY = "shufflenet.detector"


class Predictor:
    """Fast inference with one interface for every runtime, picked from the artifact.

    ``Predictor("model.onnx", threads=2)`` runs ONNX Runtime with all graph optimisations,
    ``Predictor("model.xml")`` OpenVINO, ``Predictor("model.ncnn.param")`` ncnn,
    ``Predictor("model.pte")`` ExecuTorch and ``Predictor("model.tflite")`` LiteRT;
    ``Predictor(model)`` runs PyTorch on the model's inference form (``model.fuse()``: BN folded,
    channels-last) without autograd, and ``Predictor(model, device="cuda", precision="float16")``
    the same on a GPU replayed from a CUDA graph per input shape
    (:class:`~shufflenet.runtimes.cuda_graphs.GraphedModule`: one launch per call, not one per layer).
    ``predict`` takes a float32 batch (N, C, H, W) and returns logits as NumPy; calling the
    predictor does the same with tensors. ``pretrained_cfg`` is the model's (or the artifact's
    metadata or sidecar), or None; ``runtime`` says which runtime runs it.

    With ``split_batch`` (the default) and ``threads`` > 1, ONNX Runtime batches of
    at least ``threads`` images run as ``threads`` slices, each on its own
    single-threaded session, in parallel: a ShuffleNet is a chain of ~150 small
    operators, and sharing each of them between threads costs a synchronisation
    per operator that independent slices do not pay. Smaller batches run on one
    session with all threads.
    """

    def __init__(
        self,
        path_or_model: str | os.PathLike[str] | nn.Module,
        *,
        threads: int | None = None,
        split_batch: bool = True,
        device: str = "cpu",
        precision: str = "float32",
    ) -> None:
        if threads is not None and threads < 1:  # before any file is opened or model exported
            raise ValueError(f"threads must be >= 1 (or None: the runtime's default), got {threads}")
        self.threads = threads
        self.device, self.dtype = torch_device(device), precision_dtype(precision)
        self._slices: list[Any] = []  # single-threaded sessions for split batches, made on first use
        self._pool: ThreadPoolExecutor | None = None
        self._runner: Any = None  # an OpenVINO, ncnn, ExecuTorch or LiteRT runner: run(x) -> logits
        self.session: Any = None  # an ONNX Runtime session (.onnx)
        self._bytes: bytes | None = None  # the .onnx, kept where a batch may be split over sessions
        self.pretrained_cfg: dict[str, Any] | None = getattr(path_or_model, "pretrained_cfg", None)
        if isinstance(path_or_model, nn.Module):
            note = emulated_precision(precision, self.device)
            if note:
                warnings.warn(note, stacklevel=2)
            form = inference_form(path_or_model, self.device, precision)
            self.model: nn.Module | GraphedModule | None = form
            self.runtime = "torch-fused"
            if self.device.type == "cuda":
                self.model, self.runtime = GraphedModule(form), "cudagraph"
            self.input_shape: tuple[int | None, ...] = (None, getattr(path_or_model, "in_chans", None), None, None)
            self.source = type(path_or_model).__name__
            return
        p = Path(path_or_model)
        if self.device.type != "cpu" or precision != "float32":
            raise ValueError(f"{p}: an exported file runs in float32 on the CPU here; device= and precision= are for "
                             "a PyTorch model (Predictor(model, device='cuda'))")  # fmt: skip
        if p.suffix not in ARTIFACT_SUFFIXES:
            raise ValueError(f"{p}: not an artifact shufflenet runs (the suffix says which runtime: "
                             f"{', '.join(f'{k} {v}' for k, v in ARTIFACT_SUFFIXES.items())})")  # fmt: skip
        if not p.is_file():
            raise FileNotFoundError(f"{ARTIFACT_SUFFIXES[p.suffix]} file {str(p)!r} not found")
        self.source = str(p)
        self.model = None
        self.runtime = _RUNTIMES.get(p.suffix, "onnxruntime")
        if p.suffix == ".xml":
            self._open_openvino(p)
            return
        if p.suffix in (".param", ".pte", ".tflite"):
            self._open_per_image(p)
            return
        data = p.read_bytes()
        # kept only where a batch may be split: those sessions are made on first use, maybe after the file is gone
        self._bytes = data if split_batch and threads is not None and threads > 1 else None
        try:
            self.session = ort_session(data, threads, torch.device("cpu"))
        except MissingExtra:
            raise
        except Exception as exc:  # onnxruntime raises its own exception types for bad files
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ValueError(f"{p} is not a valid ONNX model ({first[:200]})") from None
        first = self.session.get_inputs()[0]
        self._input_name: str = first.name  # looked up once: get_inputs() builds new objects per call
        shape = first.shape
        self.input_shape = tuple(d if isinstance(d, int) else None for d in shape)
        meta = self.session.get_modelmeta().custom_metadata_map
        if DETECTOR_METADATA_KEY in meta:
            raise ValueError(f"{p} is an exported detector (boxes, scores, labels), not a classifier; run it in ONNX "
                             "Runtime (input 'image': (3, H, W) in [0, 1]), or its checkpoint with `shufflenet detect "
                             "predict`")  # fmt: skip
        if METADATA_KEY in meta:
            self.pretrained_cfg = json.loads(meta[METADATA_KEY])

    def _open_openvino(self, p: Path) -> None:
        from shufflenet.runtimes.openvino import OpenVinoRunner, ov_compile, ov_core, read_ov_cfg

        core = ov_core()  # without OpenVINO installed: the extra to install, before any look at the file
        if not p.with_suffix(".bin").is_file():
            raise FileNotFoundError(f"{p}'s weights {p.with_suffix('.bin')} are missing (an IR is an .xml and a .bin)")
        with open(p, "rb") as f:
            if not f.read(64).lstrip().startswith(b"<"):  # else each of OpenVINO's frontends tries it, loudly
                raise ValueError(f"{p} is not an OpenVINO IR (not an XML file); export one with "
                                 "`shufflenet export MODEL --format openvino`")  # fmt: skip
        try:
            with quiet_fds():
                model = core.read_model(str(p))
            self._runner = OpenVinoRunner(ov_compile(model, self.threads))
        except Exception as exc:  # OpenVINO raises RuntimeError for any bad file, its first lines name its source
            lines = [ln for ln in str(exc).strip().splitlines() if ln and not ln.startswith("Exception from src/")]
            first = (lines or [type(exc).__name__])[0]
            raise ValueError(f"{p} is not a valid OpenVINO IR ({first[:200]}); is its .bin truncated?") from None
        shape = model.inputs[0].get_partial_shape()
        self.input_shape = tuple(d.get_length() if d.is_static else None for d in shape)
        self.pretrained_cfg = read_ov_cfg(model)

    def _open_per_image(self, p: Path) -> None:
        """ncnn, ExecuTorch and LiteRT: runners of one image at a time, their cfg in a JSON file beside them."""
        from shufflenet.runtimes.executorch import ExecuTorchRunner
        from shufflenet.runtimes.litert import LiteRtRunner
        from shufflenet.runtimes.ncnn import NcnnRunner
        from shufflenet.runtimes.sidecar import read_cfg_sidecar

        # the same run(x) face as OpenVINO's runner
        if p.suffix == ".pte":
            self._runner = ExecuTorchRunner(p)
        elif p.suffix == ".tflite":
            self._runner = LiteRtRunner(p, self.threads)
        else:
            self._runner = NcnnRunner(p, self.threads)
        self.pretrained_cfg = read_cfg_sidecar(p)
        chans = self.pretrained_cfg["input_size"][0] if self.pretrained_cfg else None
        self.input_shape = (None, chans, None, None)
        if isinstance(self._runner, LiteRtRunner):  # converted for one image shape
            self.input_shape = (None, *self._runner.input_shape[1:])

    @property
    def trained_cfg(self) -> dict[str, Any]:
        """``pretrained_cfg``, for work that needs the normalisation and class names the weights were trained with
        (scoring a test set, naming classes); a one-line error where the model or file carries none."""
        if not self.pretrained_cfg:
            raise ValueError(f"{self.source} carries no normalisation or class names; use a checkpoint, MODEL:TAG, "
                             "or a file exported from one")  # fmt: skip
        return self.pretrained_cfg

    def _check(self, x: np.ndarray) -> None:
        if x.ndim != len(self.input_shape) or any(e is not None and e != d for e, d in zip(self.input_shape, x.shape)):
            want = "x".join("N" if e is None else str(e) for e in self.input_shape)
            raise ValueError(f"input of shape {tuple(x.shape)} does not match the model's input {want}")

    def predict(self, batch: np.ndarray | torch.Tensor) -> np.ndarray:
        if isinstance(batch, torch.Tensor):
            t = batch.detach().cpu()
            x = (t.float() if t.is_floating_point() else t).numpy()  # bfloat16 has no NumPy type
        else:
            x = np.asarray(batch)
        if not np.issubdtype(x.dtype, np.floating):  # raw pixels would give confident nonsense
            raise ValueError(f"predict takes float images (N, C, H, W), normalised as the model was trained; got "
                             f"{x.dtype}. For image files use shufflenet.predict.predict_files(predictor, paths)")  # fmt: skip
        x = x.astype(np.float32, copy=False)
        self._check(x)
        if self._runner is not None:
            return self._runner.run(x)
        if self.session is not None:
            if self._bytes is not None and len(x) >= (self.threads or 1):
                return self._run_split(x)
            return self.session.run(None, {self._input_name: x})[0]
        assert self.model is not None
        with torch.inference_mode(), num_threads(self.threads):
            return self.model(torch.from_numpy(x).to(self.device, self.dtype)).float().cpu().numpy()

    def _run_split(self, x: np.ndarray) -> np.ndarray:
        """``x`` in ``threads`` slices on as many single-threaded sessions at once (ORT releases the GIL)."""
        assert self.threads is not None and self._bytes is not None
        if not self._slices:
            self._slices = [ort_session(self._bytes, 1, torch.device("cpu")) for _ in range(self.threads)]
            self._pool = ThreadPoolExecutor(self.threads - 1, thread_name_prefix="shufflenet-predictor")
        assert self._pool is not None
        name = self._input_name
        parts = np.array_split(np.ascontiguousarray(x), self.threads)
        futures = [self._pool.submit(s.run, None, {name: part}) for s, part in zip(self._slices[1:], parts[1:])]
        first = self._slices[0].run(None, {name: parts[0]})[0]  # the calling thread takes a slice too
        return np.concatenate([first, *(f.result()[0] for f in futures)])

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(np.asarray(self.predict(batch)))
