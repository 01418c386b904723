"""Deployment: BN folding, verified ONNX export, and a Predictor over ONNX Runtime or PyTorch."""

from shufflenet.export.fuse import fuse_conv_bn
from shufflenet.export.onnx import ExportResult, export_onnx, export_onnx_file
from shufflenet.export.predictor import Predictor

__all__ = ["ExportResult", "Predictor", "export_onnx", "export_onnx_file", "fuse_conv_bn"]
