"""Training checkpoints: written atomically, read without unpickling arbitrary objects.

A checkpoint holds everything needed to resume bit for bit (weights, EMA,
optimiser state, epoch, history, the resolved config) and everything needed
to use the model (architecture, normalisation, class names, input size).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from shufflenet.models import create_from_arch
from shufflenet.models._weights import load_matching_state_dict, safe_torch_load
from shufflenet.utils.files import atomic_write, folder_given

__all__ = ["FORMAT", "load_checkpoint", "model_from_checkpoint", "save_checkpoint", "ship_checkpoint", "trained_on"]

FORMAT = "shufflenet-checkpoint/1"
DETECTOR_FORMAT = "shufflenet-detector/1"  # shufflenet.detection's; here so that either kind names the other

#: every kind of checkpoint this library writes, by its marker: what it is and what reads it (for the
#: error when one kind is given where another is expected)
KINDS = {
    FORMAT: ("a classifier's training checkpoint", "`shufflenet eval`, `predict`, `export`, `train --resume`, "
             "`detect train --pretrained`"),
    DETECTOR_FORMAT: ("a detector's checkpoint", "`shufflenet detect eval`, `predict`, `export`"),
}  # fmt: skip


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike[str], marker: str = FORMAT) -> Path:
    """``torch.save`` to a temporary file, then rename: a crash never corrupts ``path``. ``marker``
    (the ``format`` entry) is what :func:`load_marked` checks."""
    return atomic_write(path, lambda tmp: torch.save({"format": marker, **state}, tmp))


def load_marked(path: str | os.PathLike[str], marker: str | None, what: str, hint: str) -> dict[str, Any]:
    """The dict saved at ``path`` whose ``format`` is ``marker`` (None: any kind in :data:`KINDS`); ``what``
    and ``hint`` name the file and what to use instead in the errors for a missing file or one of another kind."""
    p = Path(path)
    if p.is_dir():
        raise folder_given(p, f"a {what} file")
    if not p.is_file():
        raise FileNotFoundError(f"{what} {str(p)!r} not found")
    state = safe_torch_load(p, what)
    found = state.get("format") if isinstance(state, dict) else None
    if marker is None:
        if found not in KINDS:
            raise ValueError(f"{p} is not a shufflenet {what} (no marker of `shufflenet train` or `detect train`); "
                             f"{hint}")  # fmt: skip
    elif found != marker:
        if found in KINDS:
            (kind, readers), (wanted, _) = KINDS[found], KINDS.get(marker, (f"a {what}", ""))
            raise ValueError(f"{p} is {kind} (for {readers}); this needs {wanted}")
        raise ValueError(f"{p} is not a shufflenet {what} (no {marker!r} marker); {hint}")
    return state


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    state = load_marked(path, FORMAT, "checkpoint", "for bare weights use load_weights(create_model(NAME), path)")
    p = Path(path)
    missing = [k for k in _REQUIRED if k not in state]
    if missing or not isinstance(state["arch"], dict) or not isinstance(state["data"], dict):
        raise ValueError(f"{p} is a damaged shufflenet checkpoint: {', '.join(missing) or 'arch or data'} "
                         "missing or malformed; use another checkpoint of the run (best.pt, last.pt)")  # fmt: skip
    return state


#: what every checkpoint holds: enough to rebuild the network, load it, and resume the run
_REQUIRED = ("config", "arch", "model", "data", "optimizer", "epoch", "history", "best_top1")


def model_from_checkpoint(state: dict[str, Any], use_ema: bool = True) -> nn.Module:
    """The network a checkpoint describes, with its (EMA, when present) weights and
    ``pretrained_cfg`` (mean, std, input size, class names, and the ``arch`` record, which every export
    carries on so that a file says what network it holds) attached."""
    arch = state["arch"]
    model = create_from_arch(arch)
    weights = state["ema"] if use_ema and state.get("ema") else state["model"]
    load_matching_state_dict(model, weights, source=f"checkpoint for {arch['model']}")
    model.pretrained_cfg = {**state["data"], "arch": arch}  # type: ignore[assignment]
    return model


def trained_on(state: dict[str, Any]) -> str | None:
    """Where a checkpoint's epochs ran, in one line: the host, or each host with its epochs (a run resumed on
    another machine); None for checkpoints of earlier releases, which do not say."""
    hosts = state.get("hosts")
    if not hosts:
        return None
    ends = [h["from_epoch"] - 1 for h in hosts[1:]] + [state["epoch"]]
    spans = [(h["from_epoch"], end, h["host"]) for h, end in zip(hosts, ends)]
    if len(spans) == 1 and spans[0][0] == 1:  # one host ran every epoch
        return str(spans[0][2])
    return "; ".join(f"epochs {first}-{last}: {host}" for first, last, host in spans)


def ship_checkpoint(
    path: str | os.PathLike[str], tag: str, directory: str | os.PathLike[str], *, half: bool = False
) -> Path:
    """Turn a training checkpoint into shippable weights: ``<model>.<tag>.safetensors``
    (EMA weights when present) and a JSON record with the recipe and the training log.
    ``half`` stores float16 (half the size; check the accuracy of the shipped file)."""
    from shufflenet.models._pretrained import export_pretrained

    state = load_checkpoint(path)
    model = model_from_checkpoint(state)
    record = {"checkpoint": str(path), "recipe": state["config"], "epochs": state["epoch"],
              "weights": "ema" if state.get("ema") else "raw", "history": state["history"]}  # fmt: skip
    if machine := trained_on(state):
        record["machine"] = machine
    dtype = torch.float16 if half else None
    return export_pretrained(model, state["arch"], dict(state["data"]), record, tag, Path(directory), dtype=dtype)
