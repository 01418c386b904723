"""Deployment: the inference form of a model, verified export to ONNX, OpenVINO, ncnn, ExecuTorch and
LiteRT (float, and int8 where calibrated), and a Predictor that runs any of them."""

from shufflenet.export.formats import FORMATS, export_artifact, exported_predictor
from shufflenet.export.onnx import ExportResult, export_onnx, export_onnx_file, export_onnx_int8
from shufflenet.export.predictor import Predictor
from shufflenet.export.quantize import quantize_onnx
from shufflenet.layers.deploy import deploy
from shufflenet.layers.fuse import fuse_conv_bn

__all__ = [
    "FORMATS",
    "ExportResult",
    "Predictor",
    "deploy",
    "export_artifact",
    "export_onnx",
    "export_onnx_file",
    "export_onnx_int8",
    "exported_predictor",
    "fuse_conv_bn",
    "quantize_onnx",
]
