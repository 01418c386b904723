import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from shufflenet.layers import ChannelShuffle, channel_shuffle, concat_shuffle, concat_shuffle_split, split_channels


def _labels(c: int, g: int, h: int = 2, w: int = 3) -> torch.Tensor:
    """A tensor whose every value is its channel index, so a shuffle reads as a permutation."""
    return torch.arange(c, dtype=torch.float64).view(1, c, 1, 1).expand(2, c, h, w).contiguous()


groups_and_width = st.tuples(st.integers(1, 8), st.integers(1, 8))


@settings(max_examples=60, deadline=None)
@given(groups_and_width)
def test_shuffle_is_a_permutation(gn: tuple[int, int]) -> None:
    g, n = gn
    out = channel_shuffle(_labels(g * n, g), g)
    perm = out[0, :, 0, 0].long()
    assert sorted(perm.tolist()) == list(range(g * n))
    # output channel i*g + j is input channel j*n + i (the paper's reshape-transpose-flatten)
    expected = torch.arange(g * n).view(g, n).t().reshape(-1)
    assert torch.equal(perm, expected)
    assert torch.equal(out, out[:, :, :1, :1].expand_as(out))  # spatial values untouched


@settings(max_examples=60, deadline=None)
@given(groups_and_width)
def test_shuffle_then_inverse_group_count_is_identity(gn: tuple[int, int]) -> None:
    g, n = gn
    x = torch.randn(2, g * n, 3, 4)
    assert torch.equal(channel_shuffle(channel_shuffle(x, g), n), x)


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 8), st.integers(1, 6))
def test_every_next_group_sees_every_previous_group(g: int, k: int) -> None:
    n = g * k  # channels per group; a multiple of g so each next group can hold one of each
    c = g * n
    src_group = _labels(c, g)[0, :, 0, 0] // n  # which group of the previous conv made each channel
    shuffled = channel_shuffle(_labels(c, g), g)[0, :, 0, 0].long()
    for next_group in shuffled.view(g, n):
        assert set(src_group[next_group].long().tolist()) == set(range(g))
    # Without the shuffle, each next group would see a single previous group.
    unshuffled = torch.arange(c).view(g, n)
    assert all(len(set(src_group[grp].long().tolist())) == 1 for grp in unshuffled)


@pytest.mark.parametrize("g", [2, 3, 4])
def test_channels_last_matches_and_keeps_format(g: int) -> None:
    x = torch.randn(2, 12, 5, 7)
    xcl = x.contiguous(memory_format=torch.channels_last)
    out = channel_shuffle(xcl, g)
    assert torch.equal(out, channel_shuffle(x, g))
    assert out.is_contiguous(memory_format=torch.channels_last)


def test_shuffle_is_differentiable() -> None:
    x = torch.randn(1, 6, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: channel_shuffle(t, 3), (x,))


def test_module_form() -> None:
    x = torch.randn(1, 6, 2, 2)
    assert torch.equal(ChannelShuffle(2)(x), channel_shuffle(x, 2))
    assert "groups=2" in repr(ChannelShuffle(2))


@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
def test_concat_shuffle_split_equals_three_steps(memory_format: torch.memory_format) -> None:
    a = torch.randn(2, 8, 5, 5).contiguous(memory_format=memory_format)
    b = torch.randn(2, 8, 5, 5).contiguous(memory_format=memory_format)
    left, right = concat_shuffle_split(a, b)
    ref_left, ref_right = channel_shuffle(torch.cat([a, b], 1), 2).chunk(2, 1)
    assert torch.equal(left, ref_left) and torch.equal(right, ref_right)
    assert torch.equal(concat_shuffle(a, b), channel_shuffle(torch.cat([a, b], 1), 2))


def test_concat_shuffle_of_a_channels_last_split_stays_channels_last() -> None:
    # V2's basic unit: the kept half is a channel slice of a channels-last tensor (not itself
    # "contiguous" in any format); the output must stay channels-last, or every other unit
    # runs in NCHW and training pays a layout conversion each way
    x = torch.randn(2, 16, 5, 5).contiguous(memory_format=torch.channels_last)
    keep, rest = x[:, :8], x[:, 8:]
    out = concat_shuffle(keep, rest * 2)
    assert out.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(out, channel_shuffle(torch.cat([keep, rest * 2], 1), 2))


@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
def test_concat_shuffle_is_differentiable(memory_format: torch.memory_format) -> None:
    a = torch.randn(2, 4, 3, 2, dtype=torch.float64).contiguous(memory_format=memory_format).requires_grad_()
    b = torch.randn(2, 4, 3, 2, dtype=torch.float64).contiguous(memory_format=memory_format).requires_grad_()
    assert torch.autograd.gradcheck(lambda x, y: concat_shuffle(x, y), (a, b))


@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
def test_split_channels_is_differentiable(memory_format: torch.memory_format) -> None:
    x = torch.randn(2, 6, 3, 2, dtype=torch.float64).contiguous(memory_format=memory_format).requires_grad_()
    assert torch.autograd.gradcheck(lambda t: split_channels(t, 2), (x,))
    # one half unused: its share of the gradient is zero
    assert torch.autograd.gradcheck(lambda t: split_channels(t, 4)[1] * 3, (x,))


def test_channels_last_backward_hands_back_contiguous_channels_last_gradients() -> None:
    # a V2 unit's split -> branch -> interleave, twice: the gradients reaching each input must be
    # contiguous channels-last (mixed layouts send ReLU/BN backward down a 10-30x slower path)
    # and equal to the NCHW computation's
    def unit(x: torch.Tensor) -> torch.Tensor:
        keep, rest = split_channels(x, x.shape[1] // 2)
        return concat_shuffle(keep, torch.relu(rest * 2))

    grads = {}
    for fmt in (torch.contiguous_format, torch.channels_last):
        x = torch.randn(2, 8, 5, 5, generator=torch.Generator().manual_seed(0)).contiguous(memory_format=fmt)
        x.requires_grad_()
        mid = unit(x)
        seen = []
        mid.register_hook(seen.append)  # (retain_grad would store a copy in its own layout)
        (unit(mid) * torch.arange(8.0).view(1, 8, 1, 1)).sum().backward()
        if fmt == torch.channels_last:
            assert x.grad.is_contiguous(memory_format=fmt) and seen[0].is_contiguous(memory_format=fmt)
        grads[fmt] = x.grad
    torch.testing.assert_close(grads[torch.channels_last], grads[torch.contiguous_format])


def test_split_channels_bad_split_point() -> None:
    with pytest.raises(ValueError, match="split point 8 must be inside 1..7"):
        split_channels(torch.randn(1, 8, 2, 2), 8)


@pytest.mark.parametrize(
    ("shape", "groups", "match"),
    [((1, 6, 2, 2), 4, "not divisible by groups=4"), ((6, 2, 2), 2, "4-D"), ((1, 6, 2, 2), 0, "not divisible")],
)
def test_shuffle_bad_input(shape: tuple[int, ...], groups: int, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        channel_shuffle(torch.randn(shape), groups)


def test_concat_shuffle_bad_input() -> None:
    with pytest.raises(ValueError, match="equal shape"):
        concat_shuffle(torch.randn(1, 4, 2, 2), torch.randn(1, 2, 2, 2))
    with pytest.raises(ValueError, match="ChannelShuffle: groups"):
        ChannelShuffle(0)
