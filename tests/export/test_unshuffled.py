"""The shuffle-free V2 for NHWC runtimes: the model's logits, from convs, channel Concats and Adds only."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

import shufflenet
from helpers import lively_model
from shufflenet.export.graph import UnsupportedModel
from shufflenet.export.unshuffled import _MAX_CAT, nhwc_form, pool_free_v1, unshuffled_v2


@pytest.mark.parametrize(
    ("name", "options", "side"),
    [("shufflenet_v2_x0_5", {}, 64), ("shufflenet_v2_x1_0", {}, 96), ("shufflenet_v2_x2_0", {}, 64),
     ("shufflenet_v2_x0_5", {"small_input": True, "in_chans": 1}, 28)],
)  # fmt: skip
def test_same_logits_without_a_shuffle(name: str, options: dict, side: int) -> None:
    model = lively_model(name, **options)
    net = unshuffled_v2(model)
    x = torch.randn(2, model.in_chans, side, side)
    with torch.no_grad():
        torch.testing.assert_close(net(x), model(x), atol=1e-4, rtol=1e-4)
    graph = torch.export.export(net, (x[:1],)).graph
    ops = Counter(n.target.__name__ for n in graph.nodes if n.op == "call_function")  # type: ignore[union-attr]
    layout_ops = {k for k in ops if k.split(".")[0] in ("permute", "transpose", "view", "reshape", "slice", "split")}
    assert not layout_ops, layout_ops  # nothing that forces an NHWC runtime out of its layout
    cats = [n for n in graph.nodes if n.op == "call_function" and n.target.__name__.startswith("cat")]
    assert cats and all(len(n.args[0]) <= _MAX_CAT for n in cats)


def test_concat_and_group_limits_are_honoured() -> None:
    """OpenVINO's form (no Concat limit, small groups) keeps the logits and joins each branch's input in one
    tensor; smaller groups make more convs."""
    model = lively_model("shufflenet_v2_x1_0")
    x = torch.randn(1, 3, 64, 64)
    free = unshuffled_v2(model, max_cat=None, min_group=4)
    with torch.no_grad():
        torch.testing.assert_close(free(x), model(x), atol=1e-4, rtol=1e-4)
    steps = [kind for kind, _ in free.steps]
    assert "add" not in steps  # one tensor per branch input: no partial convs to sum
    assert max(len(arg) for kind, arg in free.steps if kind == "cat") > _MAX_CAT
    assert len(free.convs) > len(unshuffled_v2(model, max_cat=None, min_group=8).convs)


def test_v1_pools_become_depthwise_convs_and_other_models_stay() -> None:
    v1 = lively_model("shufflenet_v1_g3_x0_5")
    with pytest.raises(UnsupportedModel):
        unshuffled_v2(v1)
    form, name = nhwc_form(v1)
    assert name == "V1, pools as convs" and not any(isinstance(m, torch.nn.AvgPool2d) for m in form.modules())
    assert any(isinstance(m, torch.nn.AvgPool2d) for m in v1.modules())  # the model itself is left as it was
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(form(x), v1(x), atol=1e-5, rtol=1e-5)
    mobilenet = shufflenet.create_model("mobilenet_v2_x0_5")
    assert pool_free_v1(mobilenet) is None and nhwc_form(mobilenet) == (mobilenet, "eager model")
    se = shufflenet.create_model("shufflenet_v2_x0_5", se=True)
    assert nhwc_form(se)[1] == "eager model"
    assert nhwc_form(shufflenet.create_model("shufflenet_v2_x0_5"))[1] == "shuffle-free V2"
