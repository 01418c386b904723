"""Load torchvision weights into our models by renaming state-dict keys.

Each converter recognises one torchvision architecture from its keys, builds
our equivalent with the right widths, classes and input channels, and maps
the keys with a list of regex rules; loading is strict, so any key or shape
that does not line up is an error rather than a silently random layer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from torch import Tensor, nn

from shufflenet.models._registry import get_entry
from shufflenet.models._weights import load_matching_state_dict
from shufflenet.models.shufflenet_v2 import STAGE_WIDTHS as V2_WIDTHS
from shufflenet.models.shufflenet_v2 import ShuffleNetV2

__all__ = ["from_torchvision", "rename_keys"]

Rule = tuple[str, str | Callable[[re.Match[str]], str]]


def rename_keys(state: Mapping[str, Tensor], rules: list[Rule]) -> dict[str, Tensor]:
    """Apply every regex rule, in order, to every key."""
    out = {}
    for key, value in state.items():
        for pattern, repl in rules:
            key = re.sub(pattern, repl, key)
        out[key] = value
    return out


@dataclass(frozen=True)
class _Converter:
    family: str
    marker: str  # a key only this torchvision architecture has
    build: Callable[[Mapping[str, Tensor], str | None], nn.Module]
    rules: list[Rule]


def _build_v2(state: Mapping[str, Tensor], name: str | None) -> nn.Module:
    num_classes, final = state["fc.weight"].shape
    in_chans = state["conv1.0.weight"].shape[1]
    stages = sorted({int(k[5]) for k in state if re.match(r"stage\d\.", k)})
    widths = tuple(2 * state[f"stage{s}.0.branch1.2.weight"].shape[0] for s in stages) + (final,)
    repeats = tuple(len({k.split(".")[1] for k in state if k.startswith(f"stage{s}.")}) for s in stages)
    kwargs = {"num_classes": num_classes, "in_chans": in_chans}
    if name is not None:
        model = get_entry(name).builder(**kwargs)
        if not isinstance(model, ShuffleNetV2):
            raise ValueError(f"{name} is not a ShuffleNet V2; torchvision's weights are for ShuffleNetV2")
        return model
    width = next((w for w, table in V2_WIDTHS.items() if table == widths), 1.0)
    return ShuffleNetV2(width, stage_widths=widths, stage_repeats=repeats, **kwargs)  # type: ignore[arg-type]


_V2_BRANCH2 = {0: "0.conv", 1: "0.bn", 3: "1.conv", 4: "1.bn", 5: "2.conv", 6: "2.bn"}
_V2_BRANCH1 = {0: "0.conv", 1: "0.bn", 2: "1.conv", 3: "1.bn"}

_CONVERTERS = [
    _Converter(
        family="shufflenet_v2",
        marker="stage2.0.branch1.0.weight",
        build=_build_v2,
        rules=[
            (r"^conv1\.0\.", "stem.0.conv."),
            (r"^conv1\.1\.", "stem.0.bn."),
            (r"^conv5\.0\.", "head_conv.conv."),
            (r"^conv5\.1\.", "head_conv.bn."),
            (r"^stage(\d)\.", lambda m: f"stages.{int(m[1]) - 2}."),
            (r"\.branch1\.(\d)\.", lambda m: f".proj.{_V2_BRANCH1[int(m[1])]}."),
            (r"\.branch2\.(\d)\.", lambda m: f".branch.{_V2_BRANCH2[int(m[1])]}."),
        ],
    ),
]


def from_torchvision(state_dict_or_module: Mapping[str, Tensor] | nn.Module, name: str | None = None) -> nn.Module:
    """Our model carrying a torchvision model's weights (same logits).

    ``name`` picks the registered model to build; by default widths, classes and
    input channels are read off the state dict.
    """
    state = (
        state_dict_or_module.state_dict()
        if isinstance(state_dict_or_module, nn.Module)
        else dict(state_dict_or_module)
    )
    for conv in _CONVERTERS:
        if conv.marker in state:
            model = conv.build(state, name)
            try:
                renamed = rename_keys(state, conv.rules)
            except KeyError as exc:
                raise ValueError(f"unexpected layer index {exc} in a torchvision {conv.family} state dict") from None
            load_matching_state_dict(model, renamed, source=f"torchvision {conv.family} weights")
            return model
    known = ", ".join(c.family for c in _CONVERTERS)
    raise ValueError(
        f"unrecognised torchvision state dict (first key {next(iter(state), None)!r}); supported: {known}"
    )
