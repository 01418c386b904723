"""ExecuTorch export (torch.export + XNNPACK): verified against PyTorch, cfg beside it, opened by Predictor."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import shufflenet
from shufflenet.export import Predictor, export_artifact

pytest.importorskip("executorch", reason="ExecuTorch is not installed (pip install 'shufflenet[executorch]')")

from shufflenet.export.executorch import export_executorch  # noqa: E402  (after the skip)


@pytest.mark.slow  # lowering to XNNPACK takes ~30 s even for V2 0.5x at 28x28: CI's slow set
def test_export_verify_load_and_bad_files(tmp_path: Path) -> None:
    model = shufflenet.create_model("shufflenet_v2_x0_5", pretrained="fashion-mnist")
    pte = tmp_path / "w.pte"
    images = np.random.default_rng(0).standard_normal((4, 1, 28, 28)).astype(np.float32)
    result = export_executorch(model, pte, input_shape=(1, 1, 28, 28), images=images)
    assert result.max_abs_diff <= 1e-3 and result.top1_agreement == 1.0
    assert result.nodes == {"executorch_call_delegate": 1}  # the whole network in XNNPACK
    assert json.loads((tmp_path / "w.json").read_text()) == model.pretrained_cfg
    predictor = shufflenet.load(pte)
    assert predictor.runtime == "executorch" and predictor.pretrained_cfg == model.pretrained_cfg
    x = torch.from_numpy(images)
    with torch.no_grad():
        np.testing.assert_allclose(predictor(x).numpy(), model(x).numpy(), atol=1e-3)
    pte.write_bytes(pte.read_bytes()[:5000])
    with pytest.raises(ValueError, match=r"w.pte is not a loadable ExecuTorch program .*is it truncated"):
        Predictor(pte)
    with pytest.raises(ValueError, match="an ExecuTorch program is a .pte file"):
        export_executorch(model, tmp_path / "w.et", input_shape=(1, 1, 28, 28))


@pytest.mark.slow
def test_int8_program_is_smaller_and_agrees(tmp_path: Path) -> None:
    """XNNPACK int8 (PT2E): the quantised network is still one delegate, a third of the float size."""
    model = shufflenet.create_model("shufflenet_v2_x0_5", pretrained="fashion-mnist")
    rng = np.random.default_rng(0)
    calibration = [rng.standard_normal((16, 1, 28, 28)).astype(np.float32) for _ in range(2)]
    q = export_artifact(
        model, tmp_path / "q.pte", "executorch-int8", input_shape=(1, 1, 28, 28), calibration=calibration
    )
    f = export_executorch(model, tmp_path / "f.pte", input_shape=(1, 1, 28, 28))
    assert q.nodes == {"executorch_call_delegate": 1} and "int8" in q.writer
    assert q.top1_agreement is not None and q.top1_agreement >= 0.8
    assert 0 < q.max_abs_diff  # quantised: not the float network
    assert q.path.stat().st_size < 0.4 * f.path.stat().st_size
    assert Predictor(q.path)(torch.from_numpy(calibration[0])).shape == (16, 10)
