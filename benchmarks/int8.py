"""int8 against float32 on Fashion-MNIST: file size, test accuracy and latency of shipped
weights, measured side by side in one run.

    .venv/bin/python benchmarks/int8.py [--model shufflenet_v2_x1_0:fashion-mnist] [--threads 2]

All files come from the same weights: ``export_onnx`` (float, BN folded,
shuffle-aware) and ``export_onnx_int8`` (static quantisation calibrated on the
first ``--calib-images`` *training* images) in ONNX Runtime, and the same two graphs as
OpenVINO IRs (``export_openvino``, with and without ``calibration``) in OpenVINO, and ExecuTorch
programs (``export_executorch``: XNNPACK float32, and XNNPACK int8 by PT2E calibrated on the same
images; one image per call, a batch is a loop, as on a phone), and LiteRT models (``export_litert``,
float32 and int8 by PT2E with LiteRT's quantizer; one image per call), and ncnn nets (``export_ncnn``: pnnx's
float32 net, and ncnn's int8 format written from it with the same calibration; one image per call). Accuracy is
on the official 10k test images; latencies are medians over the rounds of a race (``shufflenet.bench.race``), each file
through ``Predictor``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import torch

from common import add_race_args, race_options, require_runtimes
from shufflenet.bench import machine_info, race
from shufflenet.data import FASHION_MNIST_DIR, load_fashion_mnist
from shufflenet.export import Predictor, export_onnx, export_onnx_int8
from shufflenet.export.executorch import export_executorch
from shufflenet.export.litert import export_litert
from shufflenet.export.ncnn import export_ncnn
from shufflenet.export.openvino import export_openvino
from shufflenet.export.quantize import calibration_batches
from shufflenet.predict import load_trained
from shufflenet.train import evaluate


def file_size(predictor: Predictor) -> int:
    """Bytes of the artifact a Predictor runs (an OpenVINO IR's or ncnn net's two files together)."""
    src = Path(predictor.source)
    paired = predictor.runtime in ("openvino", "ncnn")
    return src.stat().st_size + (src.with_suffix(".bin").stat().st_size if paired else 0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="shufflenet_v2_x1_0:fashion-mnist", help="MODEL:TAG or a checkpoint")
    add_race_args(ap, batches=(1, 64))
    ap.add_argument("--calib-images", type=int, default=512)
    ap.add_argument("--data-dir", default=FASHION_MNIST_DIR)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = load_trained(args.model)
    cfg = model.pretrained_cfg
    shape = (1, *cfg["input_size"])
    test = load_fashion_mnist(args.data_dir, train=False)
    info = machine_info()
    versions = require_runtimes(["onnxruntime", "openvino", "ncnn", "executorch", "litert"])
    print(f"# {args.model}; {info['cpu']} ({info['cpu_flags']}), {args.threads} threads; {versions}")
    with tempfile.TemporaryDirectory() as tmp:
        calibration = calibration_batches(cfg, args.calib_images, data_dir=args.data_dir)
        fp32 = export_onnx(model, Path(tmp) / "fp32.onnx", input_shape=shape)
        int8 = export_onnx_int8(model, Path(tmp) / "int8.onnx", calibration, input_shape=shape)
        ov32 = export_openvino(model, Path(tmp) / "fp32.xml", input_shape=shape)
        ov8 = export_openvino(model, Path(tmp) / "int8.xml", input_shape=shape, calibration=calibration)
        et32 = export_executorch(model, Path(tmp) / "fp32.pte", input_shape=shape)
        et8 = export_executorch(model, Path(tmp) / "int8.pte", input_shape=shape, calibration=calibration)
        lt32 = export_litert(model, Path(tmp) / "fp32.tflite", input_shape=shape)
        lt8 = export_litert(model, Path(tmp) / "int8.tflite", input_shape=shape, calibration=calibration)
        nc32 = export_ncnn(model, Path(tmp) / "fp32.ncnn.param", input_shape=shape)
        nc8 = export_ncnn(model, Path(tmp) / "int8.ncnn.param", input_shape=shape, calibration=calibration)
        runs = {
            "onnxruntime float32": Predictor(fp32.path, threads=args.threads),
            "onnxruntime int8": Predictor(int8.path, threads=args.threads),
            "openvino float32": Predictor(ov32.path, threads=args.threads),
            "openvino int8": Predictor(ov8.path, threads=args.threads),
            "executorch float32": Predictor(et32.path, threads=args.threads),
            "executorch int8": Predictor(et8.path, threads=args.threads),
            "litert float32": Predictor(lt32.path, threads=args.threads),
            "litert int8": Predictor(lt8.path, threads=args.threads),
            "ncnn float32": Predictor(nc32.path, threads=args.threads),
            "ncnn int8": Predictor(nc8.path, threads=args.threads),
        }
        sizes = {k: file_size(p) for k, p in runs.items()}
        top1 = {k: evaluate(p, test.batches(cfg["mean"], cfg["std"], 500), 10).top1 for k, p in runs.items()}
        torch_top1 = evaluate(model, test.batches(cfg["mean"], cfg["std"], 500), 10).top1
        inputs = {b: torch.randn(b, *cfg["input_size"]).numpy() for b in args.batches}
        times = race({(k, b): (lambda p=p, b=b: p.predict(inputs[b])) for b in args.batches for k, p in runs.items()},
                     **race_options(args))  # fmt: skip
    print(f"# PyTorch top-1 {100 * torch_top1:.2f}%; int8 keeps the float top-1 class on "
          f"{100 * (int8.top1_agreement or 0):.1f}% of the calibration images")  # fmt: skip
    lat_headers = " | ".join(f"batch {b} ms" for b in args.batches)
    print(f"| variant | file | test top-1 | {lat_headers} |")
    print("|---|---:|---:|" + "---:|" * len(args.batches))
    for k in runs:
        lat = " | ".join(f"{statistics.median(times[(k, b)]):.3f}" for b in args.batches)
        print(f"| {k} | {sizes[k] / 1e6:.2f} MB | {100 * top1[k]:.2f}% | {lat} |")
    for rt in ("onnxruntime", "openvino", "executorch", "litert", "ncnn"):
        f32, i8 = f"{rt} float32", f"{rt} int8"
        ratios = " | ".join(f"{statistics.median(times[(f32, b)]) / statistics.median(times[(i8, b)]):.2f}x"
                            for b in args.batches)  # fmt: skip
        print(f"| {rt}: float32 / int8 | {sizes[f32] / sizes[i8]:.2f}x | "
              f"{100 * (top1[i8] - top1[f32]):+.2f} pt | {ratios} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
