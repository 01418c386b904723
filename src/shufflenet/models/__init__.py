"""Model families and the registry; importing this package registers every model."""

from shufflenet.models import shufflenet_v1, shufflenet_v2  # noqa: F401  (registration)
from shufflenet.models._base import Classifier
from shufflenet.models._registry import (
    ModelEntry,
    PaperReference,
    create_model,
    get_entry,
    list_models,
    register_model,
)
from shufflenet.models._torchvision import from_torchvision
from shufflenet.models._weights import load_state_dict_file, load_weights, save_weights
from shufflenet.models.shufflenet_v1 import ShuffleNetV1, ShuffleV1Unit
from shufflenet.models.shufflenet_v2 import ShuffleNetV2, ShuffleV2Unit

__all__ = [
    "Classifier",
    "ModelEntry",
    "PaperReference",
    "ShuffleNetV1",
    "ShuffleNetV2",
    "ShuffleV1Unit",
    "ShuffleV2Unit",
    "create_model",
    "from_torchvision",
    "get_entry",
    "list_models",
    "load_state_dict_file",
    "load_weights",
    "register_model",
    "save_weights",
]
