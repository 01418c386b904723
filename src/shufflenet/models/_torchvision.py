"""Load torchvision weights into our models.

Our networks register their layers in the same order as torchvision's, so a
torchvision state dict maps onto ours tensor by tensor, in order. Every pair is
checked (same kind of tensor, same shape) and loading is strict: a mismatch is
an error naming the first pair that does not line up, never a silently random
layer. The variant (width, version) is found by trying the family's registered
models on the ``meta`` device until one has exactly these shapes.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from shufflenet.models._registry import get_entry, list_models
from shufflenet.models._weights import load_matching_state_dict

__all__ = ["align_state_dict", "from_torchvision"]

#: A key only this torchvision architecture has -> our family.
_MARKERS = {
    "stage2.0.branch1.0.weight": "shufflenet_v2",
    "features.1.conv.0.0.weight": "mobilenet_v2",
    "features.3.expand3x3.weight": "squeezenet",
}


def align_state_dict(model: nn.Module, theirs: Mapping[str, Tensor], source: str) -> dict[str, Tensor]:
    """Rename ``theirs`` to ``model``'s keys by position, checking kind and shape of each pair."""
    ours = model.state_dict()
    name = type(model).__name__
    if len(ours) != len(theirs):
        raise ValueError(f"{source} has {len(theirs)} tensors but {name} has {len(ours)}")
    out = {}
    for (key, mine), (their_key, value) in zip(ours.items(), theirs.items()):
        if key.rsplit(".", 1)[-1] != their_key.rsplit(".", 1)[-1] or mine.shape != value.shape:
            raise ValueError(
                f"{source} does not line up with {name}: {their_key} {tuple(value.shape)} vs {key} {tuple(mine.shape)}"
            )
        out[key] = value
    return out


def _fits(name: str, state: Mapping[str, Tensor], kwargs: dict[str, int]) -> bool:
    with torch.device("meta"):
        model = get_entry(name).builder(**kwargs)
    shapes = [v.shape for v in model.state_dict().values()]
    return shapes == [v.shape for v in state.values()]


def from_torchvision(state_dict_or_module: Mapping[str, Tensor] | nn.Module, name: str | None = None) -> nn.Module:
    """Our model carrying a torchvision model's weights (ShuffleNetV2, MobileNetV2, SqueezeNet).

    ``name`` picks the registered model; by default the family's registered
    variant whose shapes match is used, with the weights' classes and input channels.
    """
    if isinstance(state_dict_or_module, nn.Module):
        state = state_dict_or_module.state_dict()
    elif isinstance(state_dict_or_module, Mapping) and all(
        isinstance(v, Tensor) for v in state_dict_or_module.values()
    ):
        state = dict(state_dict_or_module)
    else:
        raise ValueError(
            "from_torchvision takes a torchvision model or its state dict (a mapping of names to tensors), got "
            f"{type(state_dict_or_module).__name__}; e.g. from_torchvision(torchvision.models.shufflenet_v2_x1_0())"
        )
    family = next((fam for marker, fam in _MARKERS.items() if marker in state), None)
    if family is None:
        raise ValueError(
            f"unrecognised torchvision state dict (first key {next(iter(state), None)!r}); "
            f"supported: {', '.join(_MARKERS.values())}"
        )
    weights = [v for k, v in state.items() if k.endswith("weight")]
    kwargs = {"num_classes": int(weights[-1].shape[0]), "in_chans": int(weights[0].shape[1])}
    source = f"torchvision {family} weights"
    if name is not None:
        if get_entry(name).family != family:
            raise ValueError(f"{name} is not a {family} model; these are {source}")
        candidates = [name]
    else:
        candidates = [n for n in list_models() if get_entry(n).family == family]
        candidates = [n for n in candidates if _fits(n, state, kwargs)] or candidates[:1]
    model = get_entry(candidates[0]).builder(**kwargs)
    load_matching_state_dict(model, align_state_dict(model, state, source), source=source)
    return model
