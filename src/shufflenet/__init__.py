"""shufflenet: build, analyse, measure, train and deploy ShuffleNet and compact CNNs.

>>> import shufflenet
>>> model = shufflenet.create_model("shufflenet_v2_x1_0")
>>> report = shufflenet.analyze(model, input_shape=(1, 3, 224, 224))
"""

from shufflenet.complexity import ComplexityReport, OpType, analyze
from shufflenet.export import Predictor, export_onnx, export_onnx_int8, fuse_conv_bn
from shufflenet.layers import channel_shuffle, concat_shuffle, concat_shuffle_split
from shufflenet.models import (
    create_model,
    from_torchvision,
    get_entry,
    list_models,
    list_pretrained,
    load_weights,
    save_weights,
)
from shufflenet.predict import load
from shufflenet.version import __version__

__all__ = [
    "ComplexityReport",
    "OpType",
    "Predictor",
    "__version__",
    "analyze",
    "channel_shuffle",
    "concat_shuffle",
    "concat_shuffle_split",
    "create_model",
    "export_onnx",
    "export_onnx_int8",
    "from_torchvision",
    "fuse_conv_bn",
    "get_entry",
    "list_models",
    "list_pretrained",
    "load",
    "load_weights",
    "save_weights",
]
