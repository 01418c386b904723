"""ExecuTorch export (torch.export + XNNPACK): verified against PyTorch, cfg beside it, opened by Predictor."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import shufflenet
from shufflenet.export import Predictor

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
    with pytest.raises(ValueError, match="an ExecuTorch program is MODEL.pte"):
        export_executorch(model, tmp_path / "w.et", input_shape=(1, 1, 28, 28))


def test_a_file_without_executorchs_header_is_refused_not_a_crash(tmp_path: Path) -> None:
    pte = tmp_path / "noise.pte"
    pte.write_bytes(b"\x3c\x00\x00\x00\x98\xd2\xe0\xdb" + bytes(range(256)))  # ExecuTorch's loader aborts on this
    with pytest.raises(ValueError, match=r"noise.pte is not an ExecuTorch program \(no 'ET' file identifier"):
        Predictor(pte)


@pytest.mark.slow
def test_a_fused_model_exports(tmp_path: Path) -> None:
    # model.fuse() is channels-last with a conversion at entry, which XNNPACK's layout pass rejects
    model = shufflenet.create_model("shufflenet_v2_x0_5", se=True).eval()
    result = export_executorch(model.fuse(), tmp_path / "f.pte", input_shape=(1, 3, 64, 64))
    assert result.max_abs_diff <= 1e-3 and result.nodes == {"executorch_call_delegate": 1}
