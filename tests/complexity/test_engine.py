import csv
import io
import json

import pytest
import torch
import torchvision
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from shufflenet import OpType, analyze, create_model
from shufflenet.layers import ChannelShuffle, concat_shuffle


def _torch_flops(model: nn.Module, size: tuple[int, ...]) -> int:
    model.eval()
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(torch.randn(size))
    return counter.get_total_flops()


@pytest.mark.parametrize(
    "factory",
    [
        lambda: create_model("shufflenet_v1_g3_x0_5"),
        lambda: create_model("shufflenet_v1_g8_x1_0", se=True),
        lambda: create_model("shufflenet_v2_x1_0"),
        torchvision.models.resnet18,
        torchvision.models.mobilenet_v2,
        torchvision.models.squeezenet1_1,
        torchvision.models.shufflenet_v2_x0_5,
    ],
    ids=["v1_g3_x0_5", "v1_g8_se", "v2_x1_0", "tv_resnet18", "tv_mobilenet_v2", "tv_squeezenet1_1", "tv_shufflenet"],
)
def test_conv_linear_flops_equal_torch_flop_counter(factory) -> None:
    model = factory()
    size = (2, 3, 128, 128)
    report = analyze(model, size)
    assert report.flops * 2 == _torch_flops(model, size)
    assert report.params == sum(p.numel() for p in model.parameters())


class _Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.pw = nn.Conv2d(4, 8, 1, bias=False)
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False)
        self.act = nn.ReLU(inplace=True)
        self.shuffle = ChannelShuffle(2)
        self.fc = nn.Linear(16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self.pw(x))
        y = self.shuffle(self.dw(y))
        y = torch.cat([y, y], 1)  # functional op outside any leaf module
        return self.fc(y.mean((2, 3)))


def test_hand_computed_mac_on_tiny_net() -> None:
    n, h, w = 2, 5, 6
    hw = h * w
    report = analyze(_Tiny(), (n, 4, h, w))
    by_op = {(r.module, r.op): r for r in report.rows}
    pw = by_op[("pw", "convolution")]
    assert pw.type is OpType.CONV1X1 and pw.flops == n * hw * 4 * 8
    assert pw.mac == n * hw * (4 + 8) + 4 * 8  # G1 with the batch
    dw = by_op[("dw", "convolution")]
    assert dw.type is OpType.DEPTHWISE and dw.flops == n * hw * 8 * 9
    assert dw.mac == n * hw * 8 * 2 + 8 * 9
    relu = by_op[("act", "relu_")]
    assert relu.type is OpType.ELEMENTWISE and relu.mac == 2 * n * hw * 8 and relu.flops == 0
    shuffle = [r for r in report.rows if r.module == "shuffle"]
    assert [r.type for r in shuffle] == [OpType.DATA_MOVEMENT]  # one copy; reshapes are free views
    assert shuffle[0].mac == 2 * n * hw * 8
    cat = by_op[("", "cat")]
    assert cat.type is OpType.DATA_MOVEMENT and cat.mac == 2 * n * hw * 16 and cat.output_shape == (n, 16, h, w)
    mean = by_op[("", "mean")]
    assert mean.type is OpType.POOLING and mean.mac == n * hw * 16 + n * 16
    fc = by_op[("fc", "addmm")]
    assert fc.type is OpType.LINEAR and fc.flops == n * 16 * 3 and fc.params == 16 * 3 + 3
    assert fc.mac == n * 16 + 16 * 3 + 3 + n * 3
    assert report.flops == pw.flops + dw.flops + fc.flops
    assert report.mac == sum(r.mac for r in report.rows)


def test_by_type_totals_and_renderings() -> None:
    report = analyze(create_model("shufflenet_v2_x0_5"), (1, 3, 64, 64), name="v2")
    totals = report.by_type()
    assert sum(t.flops for t in totals.values()) == report.flops
    assert sum(t.mac for t in totals.values()) == report.mac
    assert {OpType.CONV1X1, OpType.DEPTHWISE, OpType.DENSE_CONV, OpType.LINEAR, OpType.DATA_MOVEMENT} <= set(totals)
    # V2 merges concat + shuffle into one copy per unit: 16 units -> 16 data-movement ops
    assert totals[OpType.DATA_MOVEMENT].count == 16
    data = json.loads(report.to_json())
    assert data["flops"] == report.flops and len(data["rows"]) == len(report.rows)
    rows = list(csv.DictReader(io.StringIO(report.to_csv())))
    assert len(rows) == len(report.rows) and sum(int(r["flops"]) for r in rows) == report.flops
    md = report.to_markdown()
    assert md.startswith("### v2 @ 1x3x64x64") and "| total |" in md
    assert len(report.to_rich()) == 2 and len(report.to_rich(per_layer=False)) == 1


@pytest.mark.parametrize("name", ["shufflenet_v1_g3_x0_25", "shufflenet_v2_x0_5", "mobilenet_v2_x0_5"])
def test_meta_device_matches_real_and_mode_restored(name: str) -> None:
    real = create_model(name).train()
    with torch.device("meta"):
        meta = create_model(name)
    a, b = analyze(real, (1, 3, 96, 96)), analyze(meta, (1, 3, 96, 96))
    assert (a.flops, a.mac, a.params) == (b.flops, b.mac, b.params)
    assert a.rows == b.rows  # every operator, BatchNorm's shortcut on meta included, with its module and shape
    assert real.training  # analysis runs in eval mode and restores the mode


def test_a_bfloat16_model_counts_the_same() -> None:
    model = create_model("shufflenet_v2_x0_5")
    a, b = analyze(model, (1, 3, 64, 64)), analyze(model.to(torch.bfloat16), (1, 3, 64, 64))
    assert (a.flops, a.mac, a.params) == (b.flops, b.mac, b.params)


def test_bad_input_size() -> None:
    with pytest.raises(ValueError, match="input_shape must be positive"):
        analyze(nn.Conv2d(3, 3, 1), (1, 3, 0, 4))
    with pytest.raises(ValueError, match=r"takes 3 \(in_chans=3\)"):
        analyze(create_model("shufflenet_v2_x0_5"), (1, 1, 32, 32))


def test_concat_shuffle_counts_one_copy() -> None:
    class M(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return concat_shuffle(x, x)

    report = analyze(M(), (1, 4, 3, 3))
    assert [r.type for r in report.rows] == [OpType.DATA_MOVEMENT]
    assert report.mac == 2 * 36 + 72


def test_input_size_is_the_old_name_of_input_shape() -> None:
    model = create_model("shufflenet_v2_x0_5")
    with pytest.warns(FutureWarning, match=r"analyze\(\): input_size= is now input_shape="):
        old = analyze(model, input_size=(1, 3, 64, 64))
    assert old.flops == analyze(model, input_shape=(1, 3, 64, 64)).flops and old.input_shape == (1, 3, 64, 64)
    with pytest.raises(TypeError, match="got both input_size= and input_shape="):
        analyze(model, input_size=(1, 3, 64, 64), input_shape=(1, 3, 64, 64))


def test_activation_bytes_is_the_input_and_twice_the_largest_output() -> None:
    with torch.device("meta"):
        model = create_model("shufflenet_v2_x1_0")
    report = analyze(model, (2, 3, 224, 224))
    largest = 2 * 24 * 112 * 112  # the stem conv's output: no later tensor of V2 1x is larger
    assert report.activation_bytes() == (2 * 3 * 224 * 224 + 2 * largest) * 4
    assert report.activation_bytes(dtype_bytes=2) == report.activation_bytes() // 2
