"""Run the block-row stages of a V2 graph on ONNX Runtime's blocked memory.

ONNX Runtime computes convs in a blocked layout (NCHWc: channels in blocks of 16 on
AVX-512, 8 on AVX2) but has no blocked Reshape, Concat on the height axis or Split, so
it wraps each block-row interleave of :meth:`shufflenet.export.graph._Writer.v2_stage_blocks`
in a ReorderOutput (blocked to NCHW) and a ReorderInput (back). Those nodes move whole
blocks of channels, and a block's bytes are contiguous in both layouts (in NCHW a block is
``block`` planes of H x W floats, in NCHWc H x W pixels of ``block`` floats), so the same
nodes give the same block order run on the blocked memory itself: this pass takes
ONNX Runtime's own optimised graph (its blocked convs, weights pre-packed) and drops the
reorders around them (ONNX Runtime's own channel Concat of whole blocks may read the
blocked memory too; no other plain operator may). The result is checked against the plain
session before use.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from shufflenet.export.graph import BLOCK_NODE_PREFIX, native_channel_block

__all__ = ["blocked_session", "has_block_rows", "unwrap_blocks"]

_NCHWC = "com.microsoft.nchwc"


def has_block_rows(model: Any) -> int:
    """The block size of a graph's block-row stages (0: it has none)."""
    for node in model.graph.node:
        if node.name.startswith(BLOCK_NODE_PREFIX):
            return int(node.name[len(BLOCK_NODE_PREFIX) :].split("_")[0])
    return 0


def _attr(node: Any, name: str, default: int) -> int:
    return next((int(a.i) for a in node.attribute if a.name == name), default)


def unwrap_blocks(model: Any, block: int) -> int:
    """Drop, in place, the reorders that ONNX Runtime's optimised ``model`` wraps around block-row nodes
    (names starting with :data:`~shufflenet.export.graph.BLOCK_NODE_PREFIX`); returns how many.

    Only reorders whose tensors hold whole blocks of ``block`` channels and that feed, or are fed by,
    block-row nodes alone are dropped; every other node is left as it is.
    """
    nodes = list(model.graph.node)
    users: dict[str, list[Any]] = {}
    for n in nodes:
        for i in n.input:
            users.setdefault(i, []).append(n)
    marked = {id(n) for n in nodes if n.name.startswith(f"{BLOCK_NODE_PREFIX}{block}_")}
    alias: dict[str, str] = {}
    blocked: set[str] = set()  # tensors that hold blocked memory after the rewrite
    for n in nodes:
        if n.domain == _NCHWC and n.op_type != "ReorderOutput":
            blocked.update(n.output)
    keep = []
    on_blocks = set(marked)  # plain-domain nodes that read blocked memory, as they may
    for n in nodes:
        for k, name in enumerate(n.input):
            n.input[k] = alias.get(name, name)
        if (
            n.domain == _NCHWC and n.op_type == "ReorderOutput" and n.input[0] in blocked
            and _attr(n, "channels", -1) % block == 0 and _attr(n, "channels_last", 0) == 0
            and users.get(n.output[0]) and all(id(r) in marked for r in users[n.output[0]])
        ):  # fmt: skip
            alias[n.output[0]] = n.input[0]
            continue
        if (
            n.domain == _NCHWC and n.op_type == "ReorderInput" and n.input[0] in blocked
            and _attr(n, "channels_last", 0) == 0
        ):  # fmt: skip
            alias[n.output[0]] = n.input[0]
            continue
        channel_concat = n.op_type == "Concat" and _attr(n, "axis", 0) == 1
        if id(n) not in marked and channel_concat and n.input and all(i in blocked for i in n.input):
            on_blocks.add(id(n))  # ONNX Runtime's own blocked Concat of whole blocks along the channels
            blocked.update(n.output)
        elif id(n) in marked and any(i in blocked for i in n.input[:1]):
            if not all(i in blocked for i in (n.input if n.op_type == "Concat" else n.input[:1])):
                raise ValueError(f"block-row node {n.name} mixes blocked and plain inputs")
            blocked.update(n.output)
        keep.append(n)
    # a plain (non-blocked) operator must never read a tensor that now holds blocked memory
    for n in keep:
        if n.domain != _NCHWC and id(n) not in on_blocks and any(i in blocked for i in n.input):
            raise ValueError(f"{n.op_type} node {n.name!r} would read blocked memory")
    for out in model.graph.output:
        if out.name in blocked or out.name in alias:
            raise ValueError("a graph output would hold blocked memory")
    removed = len(nodes) - len(keep)
    del model.graph.node[:]
    model.graph.node.extend(keep)
    return removed


def blocked_session(data: bytes, threads: int | None) -> tuple[Any, int]:
    """A session of ``data`` with its block-row stages on blocked memory, or a plain one.

    Returns ``(session, reorders dropped)``; the plain session (0) where the graph has no
    block-row stages, its blocks are not whole blocks of ONNX Runtime's on this CPU, or the
    rewritten graph fails to load or differs from the plain session on a random input.
    """
    import onnx
    import torch

    from shufflenet.bench.runtimes import ort_session

    cpu = torch.device("cpu")
    block = has_block_rows(onnx.load_from_string(data))
    if not block or block % native_channel_block():
        return ort_session(data, threads, cpu), 0
    fd, tmp = tempfile.mkstemp(suffix=".onnx")
    os.close(fd)
    try:
        plain = ort_session(data, threads, cpu, optimized_path=tmp)  # also writes ONNX Runtime's optimised graph
        try:
            optimised = onnx.load(tmp)
            removed = unwrap_blocks(optimised, block)
            session = ort_session(optimised.SerializeToString(), threads, cpu, optimize=False)
        except Exception:  # noqa: BLE001 - any failure of the rewrite leaves the plain session, which is correct
            return plain, 0
    finally:
        Path(tmp).unlink(missing_ok=True)
    first = plain.get_inputs()[0]
    x = np.random.default_rng(0).standard_normal([d if isinstance(d, int) else 1 for d in first.shape])
    want, got = (s.run(None, {first.name: x.astype(np.float32)})[0] for s in (plain, session))
    if not np.allclose(got, want, rtol=1e-4, atol=1e-5):
        return plain, 0
    return session, removed
