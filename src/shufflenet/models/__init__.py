"""Model families and the registry; importing this package registers every model."""

from shufflenet.models import (  # noqa: F401  (registration)
    mobilenet_v1,
    mobilenet_v2,
    reference,
    shufflenet_v1,
    shufflenet_v2,
    skeleton,
    squeezenet,
)
from shufflenet.models._base import Classifier
from shufflenet.models._features import FeatureExtractor, FeatureInfo
from shufflenet.models._imagenet import IMAGENET_WEIGHTS, PretrainedTag, imagenet_cfg, list_pretrained
from shufflenet.models._registry import (
    ModelEntry,
    PaperReference,
    check_options,
    create_from_arch,
    create_model,
    get_entry,
    list_models,
    load_pretrained,
    register_model,
)
from shufflenet.models._torchvision import from_torchvision
from shufflenet.models._weights import load_state_dict_file, load_weights, save_weights
from shufflenet.models.mobilenet_v1 import MobileNetV1
from shufflenet.models.mobilenet_v2 import InvertedResidual, MobileNetV2
from shufflenet.models.reference import TorchvisionClassifier
from shufflenet.models.shufflenet_v1 import ShuffleNetV1, ShuffleV1Unit
from shufflenet.models.shufflenet_v2 import ShuffleNetV2, ShuffleV2Unit
from shufflenet.models.skeleton import UnitSkeleton, fit_stage_widths
from shufflenet.models.squeezenet import Fire, SqueezeNet

__all__ = [
    "IMAGENET_WEIGHTS",
    "Classifier",
    "FeatureExtractor",
    "FeatureInfo",
    "Fire",
    "InvertedResidual",
    "MobileNetV1",
    "MobileNetV2",
    "ModelEntry",
    "PretrainedTag",
    "PaperReference",
    "ShuffleNetV1",
    "ShuffleNetV2",
    "ShuffleV1Unit",
    "ShuffleV2Unit",
    "SqueezeNet",
    "TorchvisionClassifier",
    "UnitSkeleton",
    "check_options",
    "create_from_arch",
    "create_model",
    "fit_stage_widths",
    "from_torchvision",
    "get_entry",
    "imagenet_cfg",
    "list_models",
    "list_pretrained",
    "load_pretrained",
    "load_state_dict_file",
    "load_weights",
    "register_model",
    "save_weights",
]
