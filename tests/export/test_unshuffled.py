"""The shuffle-free V2 for NHWC runtimes: the model's logits, from convs, channel Concats and Adds only."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import shufflenet
from helpers import lively_model
from shufflenet.export.graph import UnsupportedModel
from shufflenet.export.unshuffled import _MAX_CAT, _partition, nhwc_form, pool_free_v1, unshuffled_v2


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


def test_branch_ends_as_one_conv_sliced_for_its_readers() -> None:
    """OpenVINO's form: each conv of the model once (a branch's end sliced for its readers), the logits kept;
    slices would cut the blocks of a padded form, which is refused."""
    model = lively_model("shufflenet_v2_x1_0")
    x = torch.randn(1, 3, 64, 64)
    sliced = unshuffled_v2(model, max_cat=None, min_group=1, slices=True)
    with torch.no_grad():
        torch.testing.assert_close(sliced(x), model(x), atol=1e-4, rtol=1e-4)
    convs = sum(isinstance(m, torch.nn.Conv2d) for m in model.modules())
    assert len(sliced.convs) == convs - 1  # all but the stem's, which stays in the stem
    assert len(unshuffled_v2(model, max_cat=None, min_group=1).convs) > convs
    assert sum(kind == "slice" for kind, _ in sliced.steps) > 0
    with pytest.raises(ValueError, match="slices cut channel blocks: they need block=1, not 8"):
        unshuffled_v2(model, slices=True, block=8)


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


@pytest.mark.parametrize("block", [8, 16])
def test_blocked_form_holds_whole_blocks(block: int) -> None:
    """ONNX Runtime's blocked layout: every tensor after the stem's conv input holds whole blocks, logits kept."""
    model = lively_model("shufflenet_v2_x1_0")  # 24 stem channels, 58 per branch in stage 2: neither is whole
    net = unshuffled_v2(model, max_cat=None, min_group=1, block=block)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(net(x), model(x), atol=1e-4, rtol=1e-4)
    stem = [m for m in net.stem.modules() if isinstance(m, torch.nn.Conv2d)][-1]
    assert stem.out_channels % block == 0
    for conv in net.convs[:-1]:  # the head conv writes the model's 1024 features
        assert conv.out_channels % block == 0 and (conv.in_channels % block == 0), conv


@given(sizes=st.lists(st.integers(1, 60), min_size=1, max_size=8), block=st.sampled_from([1, 4, 8, 16]),
       min_group=st.sampled_from([1, 4, 8]))  # fmt: skip
def test_partition_is_the_cheapest(sizes: list[int], block: int, min_group: int) -> None:
    """The readers' groups are cut into runs at the least cost (padded channels x (1 writer + readers)),
    every run but a lone one holding at least min_group channels: checked against every cut."""

    def cost(runs: list[tuple[int, int]]) -> int:
        return sum(-(-sum(sizes[i:j]) // block) * block * (1 + j - i) for i, j in runs)

    runs = _partition(sizes, block, min_group)
    assert [i for i, _ in runs] == [0, *(j for _, j in runs[:-1])] and runs[-1][1] == len(sizes)
    assert len(runs) == 1 or all(sum(sizes[i:j]) >= min_group for i, j in runs)
    feasible = []
    for cuts in itertools.product([False, True], repeat=len(sizes) - 1):
        edges = [0, *(k + 1 for k, cut in enumerate(cuts) if cut), len(sizes)]
        every = list(zip(edges, edges[1:]))
        if len(every) == 1 or all(sum(sizes[i:j]) >= min_group for i, j in every):
            feasible.append(cost(every))
    assert cost(runs) == min(feasible)
