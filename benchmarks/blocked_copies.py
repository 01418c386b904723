"""What the paired V2 graph's copies cost in ONNX Runtime: a timing-only experiment.

    .venv/bin/python benchmarks/blocked_copies.py [--threads 2] [--rounds 7]

ONNX Runtime runs our paired V2 1x graph on blocked (NCHWc) memory, but every unit's
pair interleave (Concat on axis 2, Reshape, Split, Pad) runs on plain NCHW, so each
unit is wrapped in ReorderOutput/ReorderInput. This script takes ONNX Runtime's own
optimised graph (its blocked convs, weights pre-packed by ONNX Runtime) and rewrites
those sandwiches to run on the blocked memory:

- ``rows``: interleave whole 16-channel blocks (a Concat of block rows, then a Split);
- ``rows-2-4``: the same in stages 2 and 4 only (where blocks can carry V2's channel
  lifetimes, see the README), stage 3 left paired;
- ``lanes``: the exact channel interleave on blocked memory (a Concat of lanes and a
  Transpose that moves the half-block index out).

The rewritten graphs compute the wrong logits (the weights are not permuted to match
the new channel order): only the times mean anything. Interleaved rounds, batch 1;
the table gives median latencies and the median per-round speed-up against the
paired graph.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import torch
from onnx import helper, numpy_helper

import shufflenet
from shufflenet.bench import measure
from shufflenet.bench.runtimes import ort_session
from shufflenet.export.graph import native_channel_block

BLOCK = 16  # ONNX Runtime's float block on AVX-512; this experiment assumes it
STAGE3_BLOCKS = 8  # V2 1x stage 3: 116 channels per half, 8 blocks


def rewrite(optimised: Path, out: Path, mode: str) -> None:
    """Rewrite ONNX Runtime's optimised paired graph so that the interleaves run on blocked memory."""
    model = onnx.load(optimised)
    g = model.graph
    inits = {i.name: i for i in g.initializer}
    users: dict[str, list[onnx.NodeProto]] = {}
    for n in g.node:
        for i in n.input:
            users.setdefault(i, []).append(n)
    nodes: list[onnx.NodeProto] = []
    extra: list[onnx.TensorProto] = []
    alias: dict[str, str] = {}
    blocks: dict[str, int] = {}  # tensors held in blocked memory -> their number of blocks

    def real(t: str) -> str:
        while t in alias:
            t = alias[t]
        return t

    def const(values: object) -> str:
        name = f"blocked_const_{len(extra)}"
        extra.append(numpy_helper.from_array(np.array(values, np.int64), name))
        return name

    def add(op: str, inputs: list[str], outputs: list[str], **attrs: object) -> None:
        nodes.append(helper.make_node(op, inputs, outputs, **attrs))

    for n in g.node:
        ins = [real(i) for i in n.input]
        feeds = users.get(n.output[0], [])
        keep_paired = mode == "rows-2-4" and blocks.get(ins[0]) == STAGE3_BLOCKS
        if n.op_type == "ReorderOutput" and feeds and all(u.op_type == "Concat" for u in feeds) and not keep_paired:
            alias[n.output[0]] = ins[0]
        elif n.op_type in ("Pad", "ReorderInput") and ins[0] in blocks:
            alias[n.output[0]] = ins[0]
        elif n.op_type == "Concat" and all(i in blocks for i in ins):
            parts = []
            for i in ins:
                shape = [1, blocks[i], -1] if mode != "lanes" else [blocks[i], -1, 2, BLOCK // 2, 1]
                add("Reshape", [i, const(shape)], [f"{i}_parts"])
                parts.append(f"{i}_parts")
            if mode == "lanes":
                add("Concat", parts, [f"{n.output[0]}_lanes"], axis=4)
                add("Transpose", [f"{n.output[0]}_lanes"], [n.output[0]], perm=[0, 2, 1, 3, 4])
            else:
                add("Concat", parts, [n.output[0]], axis=2)
            blocks[n.output[0]] = sum(blocks[i] for i in ins)
        elif n.op_type == "Reshape" and ins[0] in blocks:
            shape = numpy_helper.to_array(inits[n.input[1]]).copy()
            shape[0], shape[1] = 1, blocks[ins[0]] * BLOCK
            add("Reshape", [ins[0], const(shape)], list(n.output))
            blocks[n.output[0]] = blocks[ins[0]]
        elif n.op_type == "Split" and ins[0] in blocks:
            half = blocks[ins[0]] // 2
            add("Split", [ins[0], const([half * BLOCK] * 2)], list(n.output), axis=1)
            blocks.update({o: half for o in n.output})
        else:
            attrs = list(n.attribute)
            if n.domain == "com.microsoft.nchwc" and n.op_type == "Conv":
                w = numpy_helper.to_array(inits[n.input[1]])
                rows = w.shape[0]
                groups = next((a.i for a in attrs if a.name == "group"), 1)
                chs = blocks.get(ins[0], 0) * BLOCK
                # a conv reading a blocked tensor now sees all its padded channels: widen its weights with zeros
                if chs and groups == 1 and w.shape[1] != chs:
                    wide = np.zeros((rows, chs, *w.shape[2:]), w.dtype)
                    wide[:, : min(chs, w.shape[1])] = w[:, : min(chs, w.shape[1])]
                    ins[1] = f"blocked_w_{len(extra)}"
                    extra.append(numpy_helper.from_array(wide, ins[1]))
                elif chs and groups > 1 and groups != chs:  # depthwise: one filter per padded channel
                    rows = chs
                    wide = np.zeros((chs, *w.shape[1:]), w.dtype)
                    wide[: min(chs, groups)] = w[: min(chs, groups)]
                    ins[1], ins[2] = f"blocked_w_{len(extra)}", f"blocked_w_{len(extra) + 1}"
                    bias = np.zeros(chs, w.dtype)
                    extra += [numpy_helper.from_array(wide, ins[1]), numpy_helper.from_array(bias, ins[2])]
                    attrs = [a for a in attrs if a.name != "group"] + [helper.make_attribute("group", chs)]
                blocks[n.output[0]] = rows // BLOCK
            m = helper.make_node(n.op_type, ins, list(n.output), domain=n.domain)
            m.attribute.extend(attrs)
            nodes.append(m)
    del g.node[:]
    g.node.extend(nodes)
    g.initializer.extend(extra)
    del g.value_info[:]
    onnx.save(model, out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    if native_channel_block() != BLOCK:
        print(f"error: this experiment needs ONNX Runtime's {BLOCK}-float blocks (AVX-512); this CPU has "
              f"{native_channel_block()}", file=sys.stderr)  # fmt: skip
        return 1
    onnxruntime.set_default_logger_severity(3)  # the rewrite leaves initializers unused; ONNX Runtime warns
    torch.manual_seed(0)
    model = shufflenet.create_model("shufflenet_v2_x1_0").eval()
    x = np.random.default_rng(0).standard_normal((1, 3, 224, 224), dtype=np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        paired = shufflenet.export_onnx(model, Path(tmp) / "paired.onnx", input_size=x.shape, pieces=False,
                                        channel_block=BLOCK).path  # fmt: skip
        cpu = torch.device("cpu")
        ort_session(str(paired), 1, cpu, optimized_path=f"{tmp}/optimised.onnx")
        runs = {"paired": ort_session(str(paired), args.threads, cpu)}  # the project's session options
        for mode in ("rows", "rows-2-4", "lanes"):
            rewrite(Path(tmp) / "optimised.onnx", Path(tmp) / f"{mode}.onnx", mode)
            runs[mode] = ort_session(f"{tmp}/{mode}.onnx", args.threads, cpu, optimize=False)
        name = runs["paired"].get_inputs()[0].name
        times: dict[str, list[float]] = {k: [] for k in runs}
        for _ in range(args.rounds):
            for k, s in runs.items():
                times[k].append(measure(lambda s=s: s.run(None, {name: x}), min_time_s=1.0, min_iters=5).median_ms)
    print(f"# V2 1x, batch 1, {args.threads} threads, {args.rounds} interleaved rounds; rewritten graphs: timing only")
    print("| graph | ms | speed-up per round vs paired |")
    print("|---|---:|---:|")
    for k, t in times.items():
        ratio = statistics.median(a / b for a, b in zip(times["paired"], t))
        print(f"| {k} | {statistics.median(t):.3f} | {ratio:.3f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
