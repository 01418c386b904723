from __future__ import annotations

import pytest
import torch
from torch import nn

from shufflenet.layers import ConvBnAct, PointwiseConv2d


def _pair(bias: bool = True) -> tuple[nn.Conv2d, PointwiseConv2d]:
    torch.manual_seed(0)
    conv = nn.Conv2d(12, 20, 1, bias=bias)
    twin = PointwiseConv2d(12, 20, 1, bias=bias)
    twin.load_state_dict(conv.state_dict())
    return conv, twin


@pytest.mark.parametrize("memory_format", [torch.channels_last, torch.contiguous_format])
@pytest.mark.parametrize("bias", [True, False])
def test_same_outputs_and_gradients_as_the_conv(memory_format: torch.memory_format, bias: bool) -> None:
    conv, twin = _pair(bias)
    x = torch.randn(3, 12, 5, 7).contiguous(memory_format=memory_format)
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    ya, yb = conv(xa), twin(xb)
    torch.testing.assert_close(yb, ya)
    g = torch.randn_like(ya)
    ya.backward(g)
    yb.backward(g)
    torch.testing.assert_close(xb.grad, xa.grad)
    torch.testing.assert_close(twin.weight.grad, conv.weight.grad)
    if memory_format == torch.channels_last:  # the matrix product writes NHWC memory: the next layer reads it as is
        assert yb.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("memory_format", [torch.channels_last, torch.contiguous_format])
def test_weight_gradient_keeps_the_weight_strides(memory_format: torch.memory_format) -> None:
    """DistributedDataParallel's buckets take the parameter's strides; a gradient with others is copied with a warning."""
    _, twin = _pair()
    twin = twin.to(memory_format=memory_format)
    x = torch.randn(2, 12, 4, 4).contiguous(memory_format=torch.channels_last)
    twin(x).sum().backward()
    assert twin.weight.grad.stride() == twin.weight.stride()


def test_reads_a_channel_slice_of_a_channels_last_tensor() -> None:
    conv, twin = _pair()
    x = torch.randn(2, 24, 6, 6).contiguous(memory_format=torch.channels_last)[:, 12:]  # V2's split half
    torch.testing.assert_close(twin(x), conv(x))


def test_exported_graphs_keep_a_conv(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import onnx

    from shufflenet.export.onnx import export_onnx_file

    _, twin = _pair()
    path = tmp_path / "pw.onnx"
    x = torch.randn(1, 12, 4, 4).contiguous(memory_format=torch.channels_last)
    export_onnx_file(twin, x, path)  # the exporter's own call, its tracer notes silenced there
    ops = {node.op_type for node in onnx.load(str(path)).graph.node}
    assert ops == {"Conv"}


def test_which_convs_it_applies_to() -> None:
    assert PointwiseConv2d.applies_to(nn.Conv2d(4, 8, 1))
    for other in (nn.Conv2d(4, 8, 3), nn.Conv2d(4, 8, 1, stride=2), nn.Conv2d(4, 8, 1, groups=2),
                  nn.Conv2d(4, 8, 1, padding=1), nn.Linear(4, 8)):  # fmt: skip
        assert not PointwiseConv2d.applies_to(other)
    with pytest.raises(ValueError, match="not a 1x1"):
        PointwiseConv2d.from_conv(nn.Conv2d(4, 8, 3))
    assert isinstance(ConvBnAct(8, 16).conv, PointwiseConv2d)
    assert type(ConvBnAct(8, 16, groups=2).conv) is nn.Conv2d and type(ConvBnAct(8, 8, 3).conv) is nn.Conv2d
