"""Deployment: the inference form of a model, verified ONNX export (float and int8), and a
Predictor over ONNX Runtime or PyTorch."""

from shufflenet.export.onnx import ExportResult, export_onnx, export_onnx_file, export_onnx_int8
from shufflenet.export.predictor import Predictor
from shufflenet.export.quantize import quantize_onnx
from shufflenet.layers.deploy import deploy
from shufflenet.layers.fuse import fuse_conv_bn

__all__ = [
    "ExportResult",
    "Predictor",
    "deploy",
    "export_onnx",
    "export_onnx_file",
    "export_onnx_int8",
    "fuse_conv_bn",
    "quantize_onnx",
]
