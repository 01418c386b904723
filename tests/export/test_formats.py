"""Every float format exports and verifies every family (issue #34's list), and the mobile int8 formats
quantise, through the one table ``export_artifact`` writes from; each opens in the one Predictor."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

import shufflenet
from helpers import lively_model
from shufflenet.export import FORMATS, Predictor, export_artifact
from shufflenet.export.formats import artifact_precision

#: the module each format's converter needs
_NEEDS = {"openvino": "openvino", "ncnn": "pnnx", "executorch": "executorch", "litert": "litert_torch"}

_MODELS = [
    ("shufflenet_v1_g1_x0_5", {}),
    ("shufflenet_v1_g3_x0_5", {}),
    ("shufflenet_v1_g8_x0_5", {}),
    ("shufflenet_v2_x0_5", {}),
    ("shufflenet_v2_x1_0", {}),
    ("shufflenet_v2_x1_5", {}),
    ("shufflenet_v2_x2_0", {}),
    ("shufflenet_v2_x0_5", {"se": True}),
    ("shufflenet_v2_x0_5", {"extra_dw": True}),
    ("mobilenet_v2_x0_5", {}),
]
#: in make test (the rest run in CI's slow set: ExecuTorch and LiteRT take 15-30 s a conversion)
_FAST = {("openvino", "shufflenet_v1_g3_x0_5"), ("openvino", "shufflenet_v2_x0_5"), ("ncnn", "shufflenet_v2_x0_5")}


@pytest.mark.parametrize(
    ("fmt", "name", "kw"),
    [
        pytest.param(fmt, name, kw, marks=() if (fmt, name) in _FAST and not kw else pytest.mark.slow,
                     id=f"{fmt}-{name}" + "".join(f"-{k}" for k in kw))
        for fmt in _NEEDS
        for name, kw in _MODELS
    ],
)  # fmt: skip
def test_every_family_exports_and_verifies(fmt: str, name: str, kw: dict, tmp_path: Path) -> None:
    if importlib.util.find_spec(_NEEDS[fmt]) is None:
        pytest.skip(f"{fmt} is not installed (pip install 'shufflenet[{fmt}]')")
    model = lively_model(name, **kw)
    result = export_artifact(model, tmp_path / f"m{FORMATS[fmt].suffix}", fmt, input_shape=(1, 3, 64, 64))
    assert result.max_abs_diff <= 1e-3
    assert all(f.is_file() for f in FORMATS[fmt].files(result.path))
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        np.testing.assert_allclose(Predictor(result.path)(x).numpy(), model(x).numpy(), atol=1e-3)


#: what an int8 artifact must show of its runtime: the whole network in one XNNPACK delegate
_INT8_NODES = {"executorch-int8": {"executorch_call_delegate": 1}, "litert-int8": {"DELEGATE": 1}}


@pytest.mark.slow
@pytest.mark.parametrize("fmt", list(_INT8_NODES))
def test_mobile_int8_is_smaller_and_agrees(fmt: str, tmp_path: Path) -> None:
    """PT2E int8 (XNNPACK's quantizer, LiteRT's): a third of the float file, the float top-1 kept on
    most calibration images, float logits out (LiteRT's int8 output dequantised by the runner)."""
    float_fmt = fmt.removesuffix("-int8")
    if importlib.util.find_spec(_NEEDS[float_fmt]) is None:
        pytest.skip(f"{float_fmt} is not installed (pip install 'shufflenet[{float_fmt}]')")
    model = shufflenet.create_model("shufflenet_v2_x0_5", pretrained="fashion-mnist")
    rng = np.random.default_rng(0)
    calibration = [rng.standard_normal((16, 1, 28, 28)).astype(np.float32) for _ in range(2)]
    shape = (1, 1, 28, 28)
    q = export_artifact(model, tmp_path / f"q{FORMATS[fmt].suffix}", fmt, input_shape=shape, calibration=calibration)
    f = export_artifact(model, tmp_path / f"f{FORMATS[float_fmt].suffix}", float_fmt, input_shape=shape)
    assert "int8" in q.writer and _INT8_NODES[fmt].items() <= q.nodes.items()
    assert q.top1_agreement is not None and q.top1_agreement >= 0.8 and q.max_abs_diff > 0
    assert q.path.stat().st_size < 0.4 * f.path.stat().st_size
    want = {"litert-int8": ("int8", "float32"), "executorch-int8": (None, None)}[fmt]  # a .pte's graph is opaque
    assert (artifact_precision(q.path), artifact_precision(f.path)) == want
    logits = Predictor(q.path)(torch.from_numpy(calibration[0]))
    assert logits.dtype == torch.float32 and logits.shape == (16, 10)
