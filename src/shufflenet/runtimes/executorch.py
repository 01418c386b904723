"""ExecuTorch (PyTorch's on-device runtime) with the XNNPACK backend, on this CPU.

A ``.pte`` program is exported for one input shape; ours are exported for a single image, so a
batch runs as a loop over its images (as ncnn runs), the way a phone app calls it. XNNPACK picks
its own thread pool (all cores).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from shufflenet.utils.optional import require
from shufflenet.utils.quiet import quiet_fds

__all__ = ["ExecuTorchRunner", "load_executorch"]


def load_executorch() -> Any:
    """``executorch.runtime``, imported without its import-time notes on stderr."""
    quiet = logging.getLogger("torch.utils._pytree")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        return require("executorch.runtime", "executorch")
    finally:
        quiet.setLevel(level)


class ExecuTorchRunner:
    """A program's ``forward``: ``run(x) -> logits`` on float32 NumPy batches (N, C, H, W)."""

    def __init__(self, pte: str | os.PathLike[str]) -> None:
        import torch

        runtime = load_executorch()
        pte = Path(pte)
        with open(pte, "rb") as f:
            head = f.read(8)
        if head[4:6] != b"ET":  # ExecuTorch's loader aborts the process logging a non-UTF-8 identifier
            raise ValueError(f"{pte} is not an ExecuTorch program (no 'ET' file identifier in its header); "
                             "export one with `shufflenet export MODEL --format executorch`")  # fmt: skip
        try:
            with quiet_fds():  # XNNPACK's cpuinfo reports what it reads of /sys on first use
                self.method = runtime.Runtime.get().load_program(str(pte)).load_method("forward")
        except Exception as exc:  # ExecuTorch raises RuntimeError (or ValueError) for any bad file
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ValueError(f"{pte} is not a loadable ExecuTorch program ({first[:160]}); is it truncated?") from None
        self._torch = torch

    def run(self, x: np.ndarray) -> np.ndarray:
        outs = []
        for image in x:
            t = self._torch.from_numpy(np.ascontiguousarray(image[None], dtype=np.float32))
            try:
                outs.append(self.method.execute([t])[0].numpy()[0])
            except Exception as exc:
                raise ValueError(
                    f"the ExecuTorch program cannot run an input of shape {tuple(t.shape)} ({exc})"
                ) from None
        return np.stack(outs)
