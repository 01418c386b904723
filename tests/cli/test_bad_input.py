"""The bad-input probe suite: every hostile-but-realistic input a user may give gets exit status 2, one
line on stderr naming the flag or file and what to do, no traceback, and no file left behind.

The probes follow issue #33's sweep (tracebacks, silent wrong results, unclear messages) and add more
of the same kinds. Checkpoints and files are made here, in seconds: no training runs.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import fake_checkpoint, make_fake_fashion_mnist
from shufflenet.cli.common import CliError, check_memory
from shufflenet.cli.main import main
from shufflenet.data import FASHION_MNIST_CLASSES
from shufflenet.export import export_artifact
from shufflenet.models import create_model, save_weights
from shufflenet.models._pretrained import PRETRAINED_DIR

W = "shufflenet_v2_x0_5:fashion-mnist"
SMALL = ["--model", "shufflenet_v2_x0_5", "--train-subset", "64", "--epochs", "1"]
#: a 10-class checkpoint evaluated on a folder dataset of three classes (a, b, c)
FOLDER_EVAL = ["eval", "{d}/folder10.pt", "--dataset", "imagefolder", "--data-dir", "{d}/three"]


def _png_claiming(path: Path, width: int, height: int) -> Path:
    """A tiny PNG whose header claims ``width`` x ``height`` (a decompression bomb, without the bytes)."""
    Image.new("L", (4, 4)).save(path)
    data = bytearray(path.read_bytes())
    ihdr = data.index(b"IHDR")
    data[ihdr + 4 : ihdr + 12] = struct.pack(">II", width, height)
    data[ihdr + 17 : ihdr + 21] = struct.pack(">I", zlib.crc32(bytes(data[ihdr : ihdr + 17])))
    path.write_bytes(bytes(data))
    return path


def _folder(root: Path, classes: list[str], n: int = 3) -> Path:
    for c in classes:
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.fromarray(np.full((12, 12, 3), 40 * i, np.uint8)).save(root / c / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def probe_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("probes")
    make_fake_fashion_mnist(d / "fmnist", n_train=64, n_test=32)
    fake_checkpoint(d / "folder10.pt", [f"c{i}" for i in range(10)], in_chans=3, size=32)
    fake_checkpoint(d / "oneclass.pt", ["only"], in_chans=3, size=32)
    fake_checkpoint(d / "fashion.pt", list(FASHION_MNIST_CLASSES))
    fake_checkpoint(d / "noarch.pt", list(FASHION_MNIST_CLASSES), arch=True)
    good = PRETRAINED_DIR / "shufflenet_v2_x0_5.fashion-mnist.safetensors"
    (d / "truncated.safetensors").write_bytes(good.read_bytes()[:5000])
    (d / "text.safetensors").write_text("this is not a weights file\n")
    save_weights(create_model("shufflenet_v2_x0_5"), d / "plain.safetensors")
    export_artifact(create_model("shufflenet_v2_x0_5"), d / "fresh.onnx", "onnx", input_shape=(1, 3, 32, 32))  # no cfg
    (d / "truncated.pt").write_bytes((d / "fashion.pt").read_bytes()[:3000])
    torch.save({"model": {}, "hook": os.system}, d / "payload.pt")  # pickled code: refused by name
    (d / "corrupt.onnx").write_bytes(b"\x08\x07garbage")
    (d / "m.bin").write_bytes(b"\x00" * 64)  # an OpenVINO IR's weights
    torch.save({"format": "shufflenet-detector/1"}, d / "detector.pt")  # the other kind of checkpoint, damaged
    Image.fromarray(np.full((28, 28), 200, np.uint8)).save(d / "img.png")
    (d / "notimage.png").write_text("not an image")
    _png_claiming(d / "huge.png", 14000, 14000)
    (d / "a_file").write_text("x")
    (d / "map_twice.txt").write_text("a\nb\nc\na\nb\n" + "".join(f"x{i}\n" for i in range(5)))
    (d / "map3.txt").write_text("a first\nb second\nc third\n")
    (d / "map10.txt").write_text("".join(f"{k} class {k}\n" for k in ["a", "b", *(f"x{i}" for i in range(8))]))
    (d / "notes.txt").write_text("hello\n")  # 'h' reads as a pickle opcode: torch.load said KeyError('101')
    (d / "a_dir").mkdir()
    _folder(d / "one_class", ["only"])
    _folder(d / "three", ["a", "b", "c"])
    (d / "empty").mkdir()
    other = d / "other_run"
    other.mkdir()
    shutil.copy(d / "fashion.pt", other / "last.pt")
    locked = d / "locked"
    locked.mkdir()
    (locked / ".lock").write_text(json.dumps({"pid": os.getppid(), "host": os.uname().nodename}))
    return d


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


PROBES: list[tuple[str, list[str], str]] = [
    # --- train: options, ranges, flags that do not apply (checked before any data is read)
    ("options not an object", ["train", *SMALL, "--model-options", "[1,2]"], "--model-options must be a JSON object"),
    (
        "options invalid JSON",
        ["train", *SMALL, "--model-options", "{se: true"],
        "--model-options '{se: true' is not valid JSON",
    ),
    (
        "option string for bool",
        ["train", *SMALL, "--model-options", '{"se": "false"}'],
        "option 'se' of shufflenet_v2_x0_5 must be bool",
    ),
    (
        "option fixed by the name",
        ["train", *SMALL[2:], "--model", "shufflenet_v1_g3_x0_5", "--model-options", '{"groups": 5}'],
        "fixes groups=3",
    ),
    ("unknown option", ["train", *SMALL, "--model-options", '{"see": true}'], "did you mean 'se'"),
    ("negative subset", ["train", *SMALL[:2], "--train-subset", "-5"], "train_subset (--train-subset) must be >= 1"),
    ("zero subset", ["train", *SMALL[:2], "--train-subset", "0"], "train_subset (--train-subset) must be >= 1"),
    ("zero epochs", ["train", *SMALL[:4], "--epochs", "0"], "epochs (--epochs) must be >= 1"),
    ("negative lr", ["train", *SMALL, "--lr", "-1"], "lr (--lr) must be > 0"),
    ("val split over 1", ["train", *SMALL, "--val-split", "1.5"], "val_split (--val-split) must be < 1"),
    ("ema of 1", ["train", *SMALL, "--ema", "1"], "ema_decay (--ema) must be < 1"),
    (
        "zero time budget",
        ["train", *SMALL, "--time-budget", "0s"],
        "--time-budget 0s: give a positive duration, or off",
    ),
    ("budget without unit", ["train", *SMALL, "--time-budget", "30"], "give a duration with its unit"),
    (
        "size for fashion",
        ["train", *SMALL, "--input-size", "64", "--in-chans", "3"],
        "--img-size 64, --in-chans 3: only",
    ),  # old spelling
    ("unknown model", ["train", *SMALL[2:], "--model", "shufflenet_v3"], "unknown model 'shufflenet_v3'"),
    (
        "two channels",
        ["train", *SMALL, "--dataset", "imagefolder", "--data-dir", "{d}/three", "--in-chans", "2"],
        "in_chans (--in-chans) must be one of 1, 3",
    ),
    (
        "zero channels",
        ["train", *SMALL, "--dataset", "imagefolder", "--data-dir", "{d}/three", "--in-chans", "0"],
        "in_chans (--in-chans) must be one of 1, 3",
    ),
    (
        "zero size",
        ["train", *SMALL, "--dataset", "imagefolder", "--data-dir", "{d}/three", "--img-size", "0"],
        "img_size (--img-size) must be >= 8",
    ),
    (
        "one class",
        ["train", *SMALL, "--dataset", "imagefolder", "--data-dir", "{d}/one_class", "--out", "{d}/run1"],
        "a classifier needs at least two",
    ),
    (
        "no images",
        ["train", *SMALL, "--dataset", "imagefolder", "--data-dir", "{d}/empty", "--out", "{d}/run2"],
        "holds no images",
    ),
    (
        "missing folder",
        ["train", *SMALL, "--dataset", "imagefolder", "--data-dir", "{d}/nope", "--out", "{d}/run3"],
        "image folder '{d}/nope' not found",
    ),
    (
        "folder is a file",
        ["train", *SMALL, "--dataset", "imagefolder", "--data-dir", "{d}/img.png", "--out", "{d}/run3"],
        "'{d}/img.png' is a file; give the folder that holds the images",
    ),
    ("data stats of a file", ["data", "stats", "{d}/img.png"], "'{d}/img.png' is a file; give the folder"),
    (
        "resume with flags",
        ["train", "--resume", "{d}/fashion.pt", "--model", "mobilenet_v2_x1_0", "--epochs", "5"],
        "--epochs, --model: not with --resume",
    ),
    (
        "resume with a flag at its default",
        ["train", "--resume", "{d}/fashion.pt", "--recipe", "paper"],
        "--recipe: not with --resume",
    ),
    ("resume truncated", ["train", "--resume", "{d}/truncated.pt"], "is not a readable checkpoint"),
    (
        "out is a file",
        ["train", *SMALL, "--data-dir", "{d}/fmnist", "--out", "{d}/a_file"],
        "output directory (--out) '{d}/a_file' is a file",
    ),
    ("out holds a run", ["train", *SMALL, "--data-dir", "{d}/fmnist", "--out", "{d}/other_run"], "holds another run"),
    (
        "out in use",
        ["train", *SMALL, "--data-dir", "{d}/fmnist", "--out", "{d}/locked"],
        f"in use by a run with pid {os.getppid()}",
    ),
    (
        "dataset missing",
        ["train", *SMALL, "--data-dir", "{d}/nope", "--out", "{d}/run4"],
        "Fashion-MNIST directory '{d}/nope' not found",
    ),
    # --- eval / predict: loaders, data that does not match the model, ranges
    (
        "eval workers without a folder",
        ["eval", "{d}/fashion.pt", "--workers", "2"],
        "--workers: processes that decode an image folder's images; fashion-mnist is read at once",
    ),
    ("eval truncated safetensors", ["eval", "{d}/truncated.safetensors"], "is not a valid safetensors file"),
    ("predict text safetensors", ["predict", "{d}/text.safetensors", "{d}/img.png"], "is not a valid safetensors file"),
    (
        "eval a fresh model's file",
        ["eval", "{d}/fresh.onnx", "--data-dir", "{d}/fmnist"],
        "fresh.onnx carries no normalisation or class names; use a checkpoint, MODEL:TAG, or a file exported from one",
    ),
    ("predict with a fresh model's file", ["predict", "{d}/fresh.onnx", "{d}/img.png"], "fresh.onnx carries no normal"),
    ("eval bare safetensors", ["eval", "{d}/plain.safetensors"], "holds bare weights without shufflenet's metadata"),
    (
        "eval missing safetensors",
        ["eval", "{d}/missing.safetensors"],
        "weights file '{d}/missing.safetensors' not found",
    ),
    ("eval checkpoint without arch", ["eval", "{d}/noarch.pt"], "damaged shufflenet checkpoint: arch missing"),
    ("eval pickled code", ["eval", "{d}/payload.pt"], "holds pickled code or objects (posix.system)"),
    (
        "eval a text file",
        ["eval", "{d}/notes.txt"],
        "{d}/notes.txt is not a readable checkpoint (not a PyTorch file: neither a zip nor a pickle)",
    ),
    ("eval a detector", ["eval", "{d}/detector.pt"], "is a detector's checkpoint (for `shufflenet detect eval`"),
    (
        "detect eval a classifier",
        ["detect", "eval", "{d}/fashion.pt"],
        "is a classifier's training checkpoint (for `shufflenet eval`, `predict`, `export`, `train --resume`, "
        "`detect train --pretrained`); this needs a detector's checkpoint",
    ),
    (
        "detect a damaged checkpoint",
        ["detect", "eval", "{d}/detector.pt"],
        "{d}/detector.pt is a damaged detector checkpoint: config, model, classes, epoch, history missing",
    ),
    (
        "detect an onnx file",
        ["detect", "predict", "{d}/corrupt.onnx", "{d}/img.png"],
        "(not a PyTorch file: an ONNX model)",
    ),
    (
        "detect score over 1",
        ["detect", "predict", "{d}/detector.pt", "{d}/img.png", "--score-thresh", "2"],
        "argument --score-thresh: must be between 0 and 1, got 2",
    ),
    ("eval one-class checkpoint", ["eval", "{d}/oneclass.pt", "--data-dir", "{d}/fmnist"], "not Fashion-MNIST"),
    ("eval 10 other classes", ["eval", "{d}/folder10.pt", "--data-dir", "{d}/fmnist"], "not Fashion-MNIST"),
    (
        "eval folder of unknown classes",
        FOLDER_EVAL,
        "class folders the model does not know: a, b, c",
    ),
    ("eval folder without dir", ["eval", "{d}/folder10.pt", "--dataset", "imagefolder"], "needs --data-dir"),
    (
        "eval missing class map",
        [*FOLDER_EVAL, "--class-map", "{d}/no.txt"],
        "--class-map {d}/no.txt: cannot read it as text (FileNotFoundError)",
    ),
    (
        "eval class map of other size",
        [*FOLDER_EVAL, "--class-map", "{d}/map3.txt"],
        "--class-map {d}/map3.txt names 3 classes, one per line; the model has 10",
    ),
    (
        "eval class map on fashion-mnist",
        ["eval", W, "--class-map", "{d}/map3.txt"],
        "it applies to --dataset imagefolder",
    ),
    (
        "eval class map naming a folder twice",
        [*FOLDER_EVAL, "--class-map", "{d}/map_twice.txt"],
        "--class-map {d}/map_twice.txt names a, b on more than one line",
    ),
    (
        "eval folder not in the class map",
        [*FOLDER_EVAL, "--class-map", "{d}/map10.txt"],
        "class folders not in --class-map {d}/map10.txt: c; its classes are a, b, x0",
    ),
    (
        "eval confusion into a dir",
        ["eval", W, "--data-dir", "{d}/fmnist", "--confusion", "{d}/a_dir"],
        "--confusion '{d}/a_dir' is a directory",
    ),
    (
        "eval --no-ema of shipped weights",
        ["eval", W, "--no-ema", "--data-dir", "{d}/fmnist"],
        "use_ema=False (--no-ema) picks a training checkpoint's raw weights; " + W + " holds one set of weights",
    ),
    (
        "export onnx as xml",
        ["export", "shufflenet_v2_x0_5", "-o", "{d}/m.xml"],
        "{d}/m.xml: an ONNX model is MODEL.onnx; name it so",
    ),
    (
        "info of a missing checkpoint",
        ["info", "{d}/gone.pt"],
        "checkpoint '{d}/gone.pt' not found",
    ),
    ("info corrupt onnx", ["info", "{d}/corrupt.onnx"], "{d}/corrupt.onnx is not a valid ONNX model ("),
    (
        "info of an OpenVINO weights file",
        ["info", "{d}/m.bin"],
        "{d}/m.bin is not a readable checkpoint (not a PyTorch file: the weights of an OpenVINO IR or ncnn net; "
        "give its .xml or .ncnn.param)",
    ),
    (
        "curves of a missing run",
        ["curves", "{d}/nope"],
        "{d}/nope not found; give a training run's --out folder, its history.json or a checkpoint",
    ),
    (
        "curves of a non-run folder",
        ["curves", "{d}", "-o", "{d}/c.png"],
        "{d} holds no history.json; give a training run's --out folder or a checkpoint",
    ),
    (
        "bench plot as text",
        ["bench", "shufflenet_v2_x0_5", "--plot", "{d}/speed.txt"],
        "{d}/speed.txt: figures are written as .png, .svg, .pdf; name the file so",
    ),
    ("predict topk -1", ["predict", W, "{d}/img.png", "--topk", "-1"], "argument --topk: must be >= 1, got -1"),
    ("predict topk 0", ["predict", W, "{d}/img.png", "--topk", "0"], "argument --topk: must be >= 1, got 0"),
    ("predict huge image", ["predict", W, "{d}/huge.png"], "huge.png is over 179 MP, far over the 50 MP limit"),
    ("predict not an image", ["predict", W, "{d}/notimage.png"], "cannot decode image {d}/notimage.png"),
    ("predict missing image", ["predict", W, "{d}/missing.png"], "image '{d}/missing.png' not found"),
    ("predict corrupt onnx", ["predict", "{d}/corrupt.onnx", "{d}/img.png"], "corrupt.onnx"),
    (
        "eval a file in another runtime",
        ["eval", "{d}/corrupt.onnx", "--runtime", "ncnn"],
        "{d}/corrupt.onnx is an exported onnxruntime file and runs in onnxruntime only, not ncnn",
    ),
    (
        "eval an exported file in bfloat16",
        ["eval", "{d}/corrupt.onnx", "--precision", "bfloat16"],
        "{d}/corrupt.onnx is an exported onnxruntime file, which runs in float32 on the CPU; device 'cpu' and "
        "precision 'bfloat16' are for a trained model in PyTorch",
    ),
    (
        "predict in another runtime in float16",
        ["predict", W, "{d}/img.png", "--runtime", "ncnn", "--precision", "float16"],
        "runtime ncnn runs in float32 on the CPU; device 'cpu' and precision 'float16' are for",
    ),
    ("eval workers -1", ["eval", W, "--workers", "-1"], "argument --workers: must be >= 0, got -1"),
    ("eval on an unknown device", ["eval", W, "--device", "tpu"], "unknown device 'tpu'; use cpu, cuda or cuda:N"),
    ("eval precision int8", ["eval", W, "--precision", "int8"], "argument --precision: invalid choice: 'int8'"),
    (
        "bench a file in another runtime",
        ["bench", "{d}/corrupt.onnx", "--runtime", "openvino"],
        "an exported file runs in its own ({d}/corrupt.onnx: onnxruntime): leave --runtime out",
    ),
    (
        "export an exported file",
        ["export", "{d}/corrupt.onnx", "--format", "openvino"],
        "{d}/corrupt.onnx is an exported onnxruntime file; export converts a trained model",
    ),
    (
        "predict unknown tag",
        ["predict", "shufflenet_v2_x0_5:imagenet1k", "{d}/img.png"],
        "no pretrained weights 'shufflenet_v2_x0_5' with tag 'imagenet1k'",
    ),
    (
        "samples out is a file",
        ["samples", "--data-dir", "{d}/fmnist", "--out", "{d}/a_file"],
        "--out '{d}/a_file' is a file",
    ),
    (
        "samples count 0",
        ["samples", "--data-dir", "{d}/fmnist", "--out", "{d}/s", "--count", "0"],
        "argument --count: must be >= 1, got 0",
    ),
    # --- export / save-pretrained: destinations and flags a trained model fixes
    ("export into a dir", ["export", W, "-o", "{d}/a_dir"], "--out '{d}/a_dir' is a directory"),
    ("export into a missing dir", ["export", W, "-o", "{d}/nope/x.onnx"], "directory '{d}/nope' of --out"),
    (
        "export channels of a checkpoint",
        ["export", "{d}/fashion.pt", "--in-chans", "3", "-o", "{d}/x.onnx"],
        "--in-chans 3: {d}/fashion.pt was trained on 1-channel images",
    ),
    (
        "export size 0",
        ["export", "shufflenet_v2_x0_5", "--img-size", "0", "-o", "{d}/x.onnx"],
        "argument --img-size/--input-size: must be >= 1, got 0",
    ),
    (
        "save-pretrained into a file",
        ["save-pretrained", "{d}/fashion.pt", "--out", "{d}/a_file"],
        "--out '{d}/a_file' is a file",
    ),
    (
        "save-pretrained bad tag",
        ["save-pretrained", "{d}/fashion.pt", "--out", "{d}/a_dir", "--tag", "../x"],
        "tag '../x'",
    ),
    # --- analysis and measurement
    ("profile unknown model", ["profile", "shufflenet_v3"], "unknown model 'shufflenet_v3'; did you mean"),
    ("no model matches", ["models", "zzz*"], "no model matches 'zzz*'"),
    ("negative batch", ["profile", "shufflenet_v2_x1_0", "--batch", "-1"], "argument --batch: must be >= 1, got -1"),
    ("bench unknown model", ["bench", "nope"], "unknown model 'nope'"),
    ("bench tool onnx", ["bench", "{d}/corrupt.onnx", "--tool"], "no runtime benchmark program times this kind"),
    (
        "bench tool no runtime",
        ["bench", "shufflenet_v2_x0_5", "--tool"],
        "--tool times exported files: give --runtime (openvino, ncnn, litert, executorch)",
    ),
    (
        "bench tool onnxruntime",
        ["bench", "shufflenet_v2_x0_5", "--tool", "--runtime", "onnxruntime"],
        "--tool: no benchmark program of runtime 'onnxruntime'",
    ),
    (
        "bench tool path",
        ["bench", "shufflenet_v2_x0_5", "--tool", "--runtime", "ncnn", "--tool-path", "benchncnn"],
        "--tool-path benchncnn: give NAME=PATH",
    ),
    (
        "bench tool unknown program",
        ["bench", "shufflenet_v2_x0_5", "--tool", "--runtime", "ncnn", "--tool-path", "trtexec=/x"],
        "unknown program 'trtexec'",
    ),
    ("guidelines zero rounds", ["guidelines", "G1", "--rounds", "0"], "argument --rounds: must be >= 1, got 0"),
    (
        "guidelines tool no runtime",
        ["guidelines", "G1", "--tool"],
        "--tool: give --runtime (openvino, ncnn, litert, executorch)",
    ),
    (
        "guidelines tool batch",
        ["guidelines", "G1", "--adb", "--runtime", "ncnn", "--batch", "8"],
        "--device and --batch do not apply to --tool/--adb",
    ),
    (
        "guidelines tool eager",
        ["guidelines", "G1", "--tool", "--runtime", "eager"],
        "--tool: no benchmark program of runtime 'eager'",
    ),
    (
        "bench tool plot",
        ["bench", "shufflenet_v2_x0_5", "--adb", "--runtime", "ncnn", "--plot", "{d}/p.png"],
        "--plot does not apply to --tool/--adb",
    ),
    ("profile too small", ["profile", "squeezenet1_0", "--img-size", "16"], "the smallest side it takes is 21"),
    (
        "bench empty runtime",
        ["bench", "shufflenet_v2_x0_5", "--runtime", ""],
        "expected one or more comma-separated names",
    ),
    ("bench unknown runtime", ["bench", "shufflenet_v2_x0_5", "--runtime", "tflite"], "unknown runtime 'tflite'"),
    ("bench xlsx", ["bench", "shufflenet_v2_x0_5", "--out", "{d}/b.xlsx"], "records are written as .csv or .json"),
    (
        "bench out into a dir",
        ["bench", "shufflenet_v2_x0_5", "--out", "{d}/a_dir"],
        "records are written as .csv or .json",
    ),
    ("bench zero batch", ["bench", "shufflenet_v2_x0_5", "--batch", "0"], "argument --batch: must be >= 1, got 0"),
    (
        "bench zero size",
        ["bench", "shufflenet_v2_x0_5", "--img-size", "0"],
        "argument --img-size/--input-size: must be >= 1, got 0",
    ),
    ("bench no time", ["bench", "shufflenet_v2_x0_5", "--min-time", "0"], "argument --min-time: must be > 0, got 0"),
    ("guidelines out is a file", ["guidelines", "G1", "--out", "{d}/a_file"], "--out '{d}/a_file' is a file"),
    (
        "profile zero channels",
        ["profile", "shufflenet_v2_x1_0", "--img-size", "100000", "--in-chans", "0"],
        "argument --in-chans: must be >= 1, got 0",
    ),
    (
        "export too small",
        ["export", "squeezenet1_0", "--img-size", "16", "-o", "{d}/x.onnx"],
        "the smallest side it takes is 21",
    ),
    ("export opset 99", ["export", "shufflenet_v2_x0_5", "--opset", "99", "-o", "{d}/x.onnx"], "opset must be 17.."),
    (
        "detect resume with flags",
        ["detect", "train", "--resume", "{d}/fashion.pt", "--epochs", "5", "--lr", "0.1"],
        "--epochs, --lr: not with --resume, which continues the run's stored settings unchanged",
    ),
    (
        "detect resume with a flag at its default",
        ["detect", "train", "--resume", "{d}/fashion.pt", "--out", "runs/detect", "--no-hflip"],
        "--no-hflip, --out: not with --resume",
    ),
    (
        "bench tool flags without --tool",
        ["bench", "shufflenet_v2_x0_5", "--tool-runs", "5", "--tool-path", "benchncnn=/bin/true"],
        "--tool-path, --tool-runs: for timing with the runtimes' own programs; add --tool (or --adb)",
    ),
    ("guidelines tool runs without --tool", ["guidelines", "G1", "--tool-runs", "5"], "--tool-runs: for timing with"),
    (
        "export flags its format ignores",
        ["export", "shufflenet_v2_x0_5", "--format", "ncnn", "--target", "avx2", "--opset", "17", "-o", "{d}/x.param"],
        "--target, --opset: --format ncnn does not use them (--target is for onnx/openvino; --opset is for "
        "onnx/onnx-int8); drop them",
    ),
    (
        "export calibration of a float onnx",
        ["export", "shufflenet_v2_x0_5", "--calib-images", "64", "-o", "{d}/x.onnx"],
        "--calib-images: --format onnx does not use it (--calib-images is for every format but onnx)",
    ),
    ("bench unknown device", ["bench", "shufflenet_v2_x0_5", "--device", "tpu"], "unknown device 'tpu'"),
    (
        "bench zero budget",
        ["bench", "shufflenet_v2_x0_5", "--time-budget", "0s"],
        "--time-budget must be a positive duration",
    ),
    (
        "bench out of memory",
        ["bench", "shufflenet_v2_x0_5", "--batch", "100000", "--min-time", "0.01"],
        "shufflenet_v2_x0_5 at 224x224 px, batch 100000, needs about 301.1 GB for its activations",
    ),
    (
        "predict threads -1",
        ["predict", W, "{d}/img.png", "--threads", "-1"],
        "argument --threads: must be >= 1, got -1",
    ),
    (
        "val split leaves nothing",
        [
            "train",
            *SMALL[:2],
            "--train-subset",
            "20",
            "--val-split",
            "0.999",
            "--data-dir",
            "{d}/fmnist",
            "--out",
            "{d}/run5",
        ],
        "leaves 0 for training",
    ),
    (
        "subset of one class",
        ["train", *SMALL[:2], "--train-subset", "1", "--data-dir", "{d}/fmnist", "--out", "{d}/run6"],
        "the first images hold one class only",
    ),
    (
        "min size above native",
        [
            "train",
            *SMALL,
            "--min-train-size",
            "40",
            "--batch-size",
            "32",
            "--data-dir",
            "{d}/fmnist",
            "--out",
            "{d}/run7",
        ],
        "must be below the images' side 28",
    ),
    (
        "argparse type error",
        ["bench", "shufflenet_v2_x0_5", "--batch", "one"],
        "argument --batch: expected a whole number, got 'one'",
    ),
]


@pytest.mark.parametrize(("argv", "message"), [(a, m) for _, a, m in PROBES], ids=[i for i, _, _ in PROBES])
def test_bad_input_gets_one_clear_line(
    argv: list[str], message: str, probe_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = str(probe_dir)
    before = _files(probe_dir)
    try:
        code = main([a.replace("{d}", d) for a in argv])
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    assert err.startswith("error:") and err.count("\n") == 1, repr(err)  # one line, no blank one before it
    assert message.replace("{d}", d) in err, err
    assert _files(probe_dir) == before, "a file was left behind"


def test_read_only_destinations_fail_before_work(tmp_path: Path, monkeypatch, capsys) -> None:
    """As root every directory is writable, so the check is exercised by making ``os.access`` say no."""
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if str(p) == str(tmp_path) else real(p, mode, **kw))
    for argv in (
        ["export", "shufflenet_v2_x0_5", "-o", f"{tmp_path}/x.onnx"],
        ["train", *SMALL, "--out", str(tmp_path / "run")],
    ):
        assert main(argv) == 2
        assert f"directory '{tmp_path}' is not writable" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_sizes_beyond_memory_are_refused_before_work(tmp_path: Path, monkeypatch, capsys) -> None:
    """With 0.9 GB free (made so: the host's memory varies), sizes whose activations need more are one line,
    not a process the kernel kills an hour later; the estimate is per run, and an export runs two."""
    import shufflenet.utils.host as host

    monkeypatch.setattr(host, "available_memory", lambda device=None: 9 * 10**8)
    # V2 1x at 1024 px: input 3 x 1024^2 and twice the stem's 24 x 512^2 floats = 0.063 GB per image
    cases = [
        (["bench", "shufflenet_v2_x1_0", "--img-size", "1024", "--batch", "1,16"], "batch 16, needs about 1.01 GB"),
        (["export", W, "-o", str(tmp_path / "x.onnx"), "--img-size", "2900"], f"{W} at 2900x2900 px"),
    ]
    for argv, message in cases:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert (
            message in err
            and "and 900.0 MB is free; use a smaller --img-size or --batch" in err
            and err.count("\n") == 1
        )
    assert list(tmp_path.iterdir()) == []
    check_memory("shufflenet_v2_x1_0", (8, 3, 1024, 1024))  # 0.5 GB: fits
    with pytest.raises(CliError, match="needs about 1.01 GB"):
        check_memory("shufflenet_v2_x1_0", (8, 3, 1024, 1024), copies=2)


def test_an_allocation_that_fails_is_one_line_too(monkeypatch, capsys) -> None:
    """Where the free memory is unknown (no pre-check), an allocation the system refuses is still one line."""
    import shufflenet.utils.host as host

    monkeypatch.setattr(host, "available_memory", lambda device=None: None)
    assert main(["bench", "shufflenet_v2_x0_5", "--batch", "100000", "--min-time", "0.01"]) == 2
    err = capsys.readouterr().err
    assert "out of memory: one tensor needed 60.2 GB" in err and err.count("\n") == 1
