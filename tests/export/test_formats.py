"""Every float format exports and verifies every family (issue #34's list), through the one table
``export_artifact`` writes from, and opens in the one Predictor."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import lively_model
from shufflenet.export import FORMATS, Predictor, export_artifact

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
