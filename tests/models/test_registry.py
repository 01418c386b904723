import pytest
import torch
from torch import nn

import shufflenet
from shufflenet.models import get_entry, register_model

ALL = shufflenet.list_models()


def test_names_and_patterns() -> None:
    v1 = shufflenet.list_models("shufflenet_v1_g*")
    assert len(v1) == 25  # g in {1,2,3,4,8} x s in {0.25,0.5,1,1.5,2}
    assert "shufflenet_v1_g3_x1_0" in v1 and "shufflenet_v1_g8_x0_25" in v1
    assert shufflenet.list_models("shufflenet_v2_x*") == [
        "shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5", "shufflenet_v2_x2_0",
    ]  # fmt: skip
    assert shufflenet.list_models("nothing*") == []


def test_duplicate_registration_raises() -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_model("shufflenet_v2_x1_0", nn.Identity, family="x")


def test_unknown_name_suggests_close_matches() -> None:
    with pytest.raises(ValueError, match="unknown model 'shufflenet_v2_x1_1'.*did you mean.*shufflenet_v2_x1_0"):
        shufflenet.create_model("shufflenet_v2_x1_1")
    with pytest.raises(ValueError, match="unknown model 'zzz'; run `shufflenet models`"):
        get_entry("zzz")
    with pytest.raises(ValueError, match=r"a model name must be str, got 123 \(int\)"):  # was a TypeError from difflib
        shufflenet.create_model(123)  # type: ignore[arg-type]


def test_unknown_option_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="shufflenet_v2_x1_0 has no option 'colour'"):
        shufflenet.create_model("shufflenet_v2_x1_0", colour="red")


def _heavy(name: str) -> bool:
    """Over 10 GFLOPs at 224x224 (VGG-16/19, SE-ShuffleNet V2-164): seconds per pass on a small CPU."""
    ref = get_entry(name).reference
    return ref is not None and ref.flops is not None and ref.flops > 10e9


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if _heavy(n) else n for n in ALL])
def test_forward_backward_224(name: str) -> None:
    model = shufflenet.create_model(name, num_classes=10)
    x = torch.randn(2, 3, 224, 224)
    out = model(x)
    assert out.shape == (2, 10) and torch.isfinite(out).all()
    out.square().mean().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


SMALL = [n for n in ALL if get_entry(n).family != "reference"]


@pytest.mark.parametrize("name", SMALL)
def test_forward_backward_28_small_stem(name: str) -> None:
    model = shufflenet.create_model(name, num_classes=10, in_chans=1, small_input=True)
    x = torch.randn(4, 1, 28, 28)
    feats = model.forward_features(x)
    if get_entry(name).family in ("shufflenet_v1", "shufflenet_v2", "skeleton") and "_50" not in name:
        assert feats.shape[-2:] == (4, 4)  # 28 -> 14 -> 7 -> 4 with no stride-2 stem
    out = model.forward_head(feats)
    assert out.shape == (4, 10) and torch.isfinite(out).all()
    out.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.parametrize("name", sorted(set(ALL) - set(SMALL)))
def test_reference_models_refuse_small_input(name: str) -> None:
    with pytest.raises(ValueError, match="small_input is not available"):
        shufflenet.create_model(name, small_input=True)


@pytest.mark.parametrize(
    "name",
    ["shufflenet_v1_g3_x1_0", "shufflenet_v2_x1_0", "mobilenet_v2_x1_0", "squeezenet1_1", "skeleton_vgg", "resnet18"],
)
def test_common_face(name: str) -> None:
    model = shufflenet.create_model(name, num_classes=7, in_chans=2).eval()
    assert (model.num_classes, model.in_chans) == (7, 2)
    x = torch.randn(1, 2, 96, 80)  # non-square, not a multiple of 32: global pool adapts
    pre = model.forward_head(model.forward_features(x), pre_logits=True)
    assert pre.shape == (1, model.num_features)
    model.reset_classifier(3)
    assert model(x).shape == (1, 3) and model.num_classes == 3
    model.reset_classifier(0)
    assert model(x).shape == (1, model.num_features)


def test_bad_inputs_are_clear_value_errors() -> None:
    model = shufflenet.create_model("shufflenet_v2_x0_5")
    with pytest.raises(ValueError, match="4-D tensor"):
        model(torch.randn(3, 32, 32))
    with pytest.raises(ValueError, match=r"has 1 channels but the model takes 3 \(in_chans=3\): give it 3-ch"):
        model(torch.randn(1, 1, 32, 32))
    with pytest.raises(ValueError, match="num_classes must be >= 0"):
        shufflenet.create_model("shufflenet_v2_x0_5", num_classes=-1)
    with pytest.raises(ValueError, match="in_chans must be >= 1"):
        shufflenet.create_model("shufflenet_v2_x0_5", in_chans=0)


@pytest.mark.parametrize("name", ["shufflenet_v1_g3_x0_5", "shufflenet_v2_x0_5"])
def test_channels_last_gives_same_logits(name: str) -> None:
    model = shufflenet.create_model(name).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        ref = model(x)
        model = model.to(memory_format=torch.channels_last)
        out = model(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("shufflenet_v2_x0_5", {"se": "false"}, "option 'se' of shufflenet_v2_x0_5 must be bool, got 'false'"),
        ("shufflenet_v1_g3_x1_0", {"groups": 5}, r"shufflenet_v1_g3_x1_0 fixes groups=3 \(it is in the name\)"),
        ("shufflenet_v2_x1_0", {"se_ratio": 0.25}, "has no option 'se_ratio'.*its options: se, residual"),
        ("mobilenet_v2_x1_0", {"drop_rate": "0.2"}, "option 'drop_rate' of mobilenet_v2_x1_0 must be float"),
        ("resnet18", {"weights": "DEFAULT"}, "resnet18 has no option 'weights'; its options: none"),
        ("shufflenet_v2_x0_5", {"stage_widths": [24, "48", 96, 1024]}, "must be a list of int or None"),
    ],
)
def test_create_model_checks_options_before_building(name: str, options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        shufflenet.create_model(name, **options)


def test_options_from_json_lists_build() -> None:
    model = shufflenet.create_model("shufflenet_v2_x0_5", stage_widths=[24, 48, 96, 512], se=True)  # JSON gives lists
    assert model.stage_widths == (24, 48, 96, 512)


def test_create_model_checks_its_own_arguments() -> None:
    with pytest.raises(ValueError, match=r"num_classes must be int, got '10' \(str\)"):
        shufflenet.create_model("shufflenet_v2_x0_5", num_classes="10")
    with pytest.raises(ValueError, match="small_input must be bool"):
        shufflenet.create_model("shufflenet_v2_x0_5", small_input="yes")
    with pytest.raises(ValueError, match="was trained with num_classes=10, not 5"):  # not silently ignored
        shufflenet.create_model("shufflenet_v2_x0_5", pretrained="fashion-mnist", num_classes=5)
    with pytest.raises(ValueError, match="was trained with in_chans=1, not 3; leave in_chans out"):  # nor the default
        shufflenet.create_model("shufflenet_v2_x0_5", pretrained="fashion-mnist", in_chans=3)
    assert shufflenet.create_model("shufflenet_v2_x0_5", pretrained="fashion-mnist", in_chans=1).in_chans == 1
    with pytest.raises(ValueError, match="builds the network its weights were trained as; leave out small_input"):
        shufflenet.create_model("shufflenet_v2_x0_5", pretrained="fashion-mnist", small_input=True)
