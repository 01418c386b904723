"""``shufflenet export``: a verified ONNX file (float or int8) of a model, checkpoint or shipped weights."""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from shufflenet.cli.common import CliError, check_memory, positive_int
from shufflenet.export.formats import FORMATS
from shufflenet.export.graph import LAYOUTS, OPSET, TARGETS
from shufflenet.export.quantize import CALIB_IMAGES
from shufflenet.models import create_model
from shufflenet.utils.files import check_output_file
from shufflenet.utils.tables import byte_size

__all__ = ["add_commands"]


#: old spellings of export's --channel-block and --layout, kept for one release
_OLD_CHANNEL_BLOCKS = {16: "avx512", 8: "avx2"}
_OLD_LAYOUTS = {"auto": "paired"}

_NOT_FLOAT_ONNX = tuple(f for f in FORMATS if f != "onnx")
#: export's flags that shape only some formats' files (argparse dest -> flag, those formats): given with another
#: format they would do nothing, which a user who asked for them would not know
_ONLY_FOR: dict[str, tuple[str, tuple[str, ...]]] = {
    "target": ("--target", ("onnx", "openvino")),
    "layout": ("--layout", ("onnx", "openvino", "openvino-int8")),
    "opset": ("--opset", ("onnx", "onnx-int8")),
    "no_optimize": ("--no-optimize", ("onnx",)),
    "calib_dir": ("--calib-dir", _NOT_FLOAT_ONNX),  # int8 calibration, or the other runtimes' check on real images
    "calib_images": ("--calib-images", _NOT_FLOAT_ONNX),
    "data_dir": ("--data-dir", _NOT_FLOAT_ONNX),
}


def _check_format_flags(args: argparse.Namespace) -> None:
    """A one-line error for a flag that ``--format`` would ignore."""
    unused = [(flag, formats) for dest, (flag, formats) in _ONLY_FOR.items()
              if getattr(args, dest) not in (None, False) and args.format not in formats]  # fmt: skip
    if unused:
        flags, it = ", ".join(flag for flag, _ in unused), "it" if len(unused) == 1 else "them"
        where = "; ".join(f"{flag} is for " + ("every format but onnx" if formats == _NOT_FLOAT_ONNX else "/".join(formats))
                          for flag, formats in unused)  # fmt: skip
        raise CliError(f"{flags}: --format {args.format} does not use {it} ({where}); drop {it} or choose one of "
                       "those formats")  # fmt: skip


def _export_target_layout(args: argparse.Namespace) -> tuple[str, str | None]:
    """--target and --layout, with the old --channel-block and --layout auto|blocks mapped onto them."""
    target, layout = args.target or "portable", args.layout
    if args.channel_block is not None:
        if args.channel_block not in _OLD_CHANNEL_BLOCKS:
            raise CliError(f"--channel-block {args.channel_block} is gone; use --target {'|'.join(TARGETS)}")
        target = _OLD_CHANNEL_BLOCKS[args.channel_block]
        warnings.warn(f"--channel-block {args.channel_block} is now --target {target}; the old flag goes in the next "
                      "release", FutureWarning, stacklevel=2)  # fmt: skip
    if layout == "blocks":
        raise CliError("--layout blocks was removed: block rows did not pay in a plain ONNX Runtime session on any "
                       "host measured (docs/deployment.md); use --layout paired or pieces")  # fmt: skip
    return target, _OLD_LAYOUTS.get(layout, layout)


def _cmd_export(args: argparse.Namespace, console: Console) -> int:
    from shufflenet.export.formats import export_artifact
    from shufflenet.export.predictor import artifact_runtime
    from shufflenet.export.quantize import calibration_batches
    from shufflenet.predict import is_trained_ref, load_trained

    ref = args.model
    _check_format_flags(args)
    calib_images = args.calib_images or CALIB_IMAGES
    if (own := artifact_runtime(ref)) is not None:
        raise CliError(f"{ref} is an exported {own} file; export converts a trained model: give "
                       "its checkpoint or MODEL:TAG (or a model name)")  # fmt: skip
    if is_trained_ref(ref):
        model = load_trained(ref)
        trained_cfg: dict[str, Any] = getattr(model, "pretrained_cfg", {})
        chans, size = int(trained_cfg["input_size"][0]), int(trained_cfg["input_size"][1])
        if args.in_chans is not None and args.in_chans != chans:
            raise CliError(f"--in-chans {args.in_chans}: {ref} was trained on {chans}-channel images; drop the flag")
        if args.small_input:
            raise CliError(f"--small-input: {ref}'s stem is fixed by its training; drop the flag")
        if args.img_size and args.img_size != size:  # fully convolutional: any side it can take; say so in the file
            size = args.img_size
            model.pretrained_cfg = {**trained_cfg, "input_size": [chans, size, size]}  # type: ignore[assignment]
        name = Path(ref).stem if Path(ref).is_file() else ref.replace(":", ".")
    else:
        chans, size, name = args.in_chans or 3, args.img_size or 224, ref
        model = create_model(ref, in_chans=chans, small_input=args.small_input)
    check_memory(model, (1, chans, size, size), copies=2, name=ref)  # verified in PyTorch beside the runtime
    target, layout = _export_target_layout(args)
    fmt = FORMATS[args.format]
    output = check_output_file(args.output or f"{name}{fmt.suffix}", "--out")
    cfg = getattr(model, "pretrained_cfg", None)
    images = calibration = None
    if fmt.int8 and not cfg:
        raise ValueError("int8 calibration needs a trained model: pass a checkpoint or MODEL:TAG")
    # int8 is calibrated on real images; other runtimes' files of a trained model are verified on them too
    # (top-1 agreement), on Fashion-MNIST's when the model takes those and no folder is named
    takes_fashion_mnist = bool(cfg) and list(cfg["input_size"]) == [1, 28, 28]  # type: ignore[index]
    if cfg and (fmt.int8 or (fmt.name != "onnx" and (args.calib_dir or takes_fashion_mnist))):
        calibration = calibration_batches(cfg, calib_images, image_dir=args.calib_dir, data_dir=args.data_dir)
        images = np.concatenate(calibration)
    result = export_artifact(
        model, output, args.format, input_shape=(1, chans, size, size), images=images,
        calibration=calibration if fmt.int8 else None, target=target, layout=layout, opset=args.opset or OPSET,
        optimize=not args.no_optimize,
    )  # fmt: skip
    ops = ", ".join(f"{k} {v}" for k, v in sorted(result.nodes.items(), key=lambda kv: -kv[1]))
    files = fmt.files(result.path)
    on_disk = byte_size(sum(f.stat().st_size for f in files))
    if fmt.int8:
        check = (f"int8 vs float: max |diff| {result.max_abs_diff:.2e}, same top-1 on "
                 f"{100 * (result.top1_agreement or 0):.1f}% of the calibration images")  # fmt: skip
    else:
        check = f"{fmt.runtime} vs PyTorch max |diff| {result.max_abs_diff:.2e}"
        if result.top1_agreement is not None:
            check += f", same top-1 on {100 * result.top1_agreement:.1f}% of {calib_images} real images"
    written = " + ".join(str(f) for f in files)
    console.print(f"wrote {written} ({on_disk}, {result.writer} graph); {check}; nodes: {ops}",
                  highlight=False)  # fmt: skip
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="export a model or checkpoint to ONNX, OpenVINO, ncnn, ExecuTorch or LiteRT, verified against PyTorch",
    )
    p.add_argument("model", help="registered model name, a training checkpoint (.pt) or MODEL:TAG of shipped weights")
    p.add_argument(
        "--format",
        choices=tuple(FORMATS),
        default="onnx",
        help="onnx (float, BN folded, shuffle-aware), onnx-int8 (calibrated on real images), openvino "
        "(an IR: MODEL.xml + MODEL.bin, from our ONNX graph), openvino-int8 (the int8 ONNX graph as an IR), "
        "ncnn (MODEL.ncnn.param + .bin, by pnnx), ncnn-int8 (ncnn's int8 format, calibrated), executorch "
        "(MODEL.pte, XNNPACK), executorch-int8 "
        "(XNNPACK int8, calibrated on real images), litert (MODEL.tflite, by litert_torch) or litert-int8",
    )
    p.add_argument(
        "--out",
        "-o",
        "--output",
        dest="output",
        help="output file (default MODEL + the format's suffix: .onnx, .xml, .ncnn.param, .pte, .tflite)",
    )
    p.add_argument(
        "--img-size",
        "--input-size",
        dest="img_size",
        type=positive_int,
        help="image side (default: a trained model's own, else 224; --input-size is the old spelling)",
    )
    p.add_argument("--in-chans", type=positive_int, help="input channels of an untrained model (default 3)")
    p.add_argument("--small-input", action="store_true")
    p.add_argument("--opset", type=int, help=f"the ONNX opset of onnx and onnx-int8 files (default {OPSET})")
    p.add_argument("--no-optimize", action="store_true", help="onnx: keep BatchNorm layers (no folding)")
    p.add_argument(
        "--target",
        choices=tuple(TARGETS),
        help="onnx and openvino: the CPU class the V2 graph is written for: portable (default: runs blocked on AVX2 and AVX-512 "
        "alike; the same file whatever host writes it), avx512 or avx2 (padded to that class's blocks, V2 1x and 2x "
        "in pieces: the fastest file there)",
    )
    p.add_argument(
        "--layout",
        choices=(*LAYOUTS, *_OLD_LAYOUTS, "blocks"),
        default=None,
        help="onnx and openvino: plain V2 units in the ONNX graph: paired (one Concat + Split per unit; portable's default) or pieces "
        "(shuffle-free, every tensor in whole blocks: no Split or reorder, more multiply-adds; avx512's and avx2's "
        "default where most branches are not whole blocks); OpenVINO gets a plain V2 shuffle-free unless a layout is named (docs/deployment.md)",
    )
    p.add_argument("--channel-block", type=int, default=None, help=argparse.SUPPRESS)  # old spelling of --target
    p.add_argument(
        "--calib-dir",
        help="int8: calibrate on these images; other formats: verify a trained model on them (default: Fashion-MNIST "
        "training images)",
    )
    p.add_argument(
        "--calib-images",
        type=positive_int,
        help=f"images to calibrate or verify on (default {CALIB_IMAGES}; not for onnx)",
    )
    p.add_argument("--data-dir", help="Fashion-MNIST directory for those images")
    p.set_defaults(func=_cmd_export)
