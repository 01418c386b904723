"""ncnn export (by pnnx): verified against PyTorch in float32, cfg in a sidecar, opened by the one Predictor."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import shufflenet
from helpers import lively_model
from shufflenet.cli.main import main
from shufflenet.export import Predictor

pytest.importorskip("ncnn", reason="ncnn is not installed (pip install 'shufflenet[ncnn]')")
pytest.importorskip("pnnx", reason="pnnx is not installed (pip install 'shufflenet[ncnn]')")

from shufflenet.export.ncnn import _packed_branches, _parse_param, export_ncnn  # noqa: E402  (after the skip)


def test_cfg_sidecar_and_bad_files(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    model = shufflenet.create_model("shufflenet_v2_x0_5", pretrained="fashion-mnist")
    param = tmp_path / "w.ncnn.param"
    export_ncnn(model, param, input_shape=(1, 1, 28, 28))
    assert json.loads((tmp_path / "w.ncnn.json").read_text()) == model.pretrained_cfg
    predictor = shufflenet.load(param)
    assert predictor.runtime == "ncnn" and predictor.pretrained_cfg == model.pretrained_cfg
    with pytest.raises(ValueError, match="does not match the model's input Nx1xNxN"):
        predictor(torch.zeros(1, 3, 28, 28))
    (tmp_path / "w.ncnn.bin").write_bytes((tmp_path / "w.ncnn.bin").read_bytes()[:1000])
    with pytest.raises(ValueError, match=r"w.ncnn.bin does not hold the weights w.ncnn.param describes"):
        Predictor(param)
    (tmp_path / "w.ncnn.bin").unlink()
    with pytest.raises(FileNotFoundError, match=r"weights .*w.ncnn.bin are missing"):
        Predictor(param)
    (tmp_path / "x.ncnn.param").write_text("<xml>an OpenVINO IR, say</xml>")
    capfd.readouterr()
    with pytest.raises(ValueError, match="x.ncnn.param is not a readable ncnn .param file"):
        Predictor(tmp_path / "x.ncnn.param")
    assert capfd.readouterr().err == ""  # the error is one line: not after ncnn's own complaint
    with pytest.raises(ValueError, match=r"an ncnn net is MODEL.ncnn.param"):
        export_ncnn(model, tmp_path / "w.param", input_shape=(1, 1, 28, 28))


def test_cli_export_and_eval(tmp_path: Path, fake_fmnist: Path, capsys: pytest.CaptureFixture[str]) -> None:
    param = tmp_path / "w.ncnn.param"
    argv = ["export", "shufflenet_v2_x0_5:fashion-mnist", "--format", "ncnn", "-o", str(param),
            "--data-dir", str(fake_fmnist), "--calib-images", "16"]  # fmt: skip
    assert main(argv) == 0
    assert "ncnn vs PyTorch max |diff|" in capsys.readouterr().out
    assert main(["eval", str(param), "--data-dir", str(fake_fmnist), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["runtime"] == "ncnn"


def test_bench_runtime_computes_the_model() -> None:
    from shufflenet.bench import get_runtime

    model = lively_model("shufflenet_v2_x0_5")
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        want = model(x)
    torch.testing.assert_close(get_runtime("ncnn").prepare(model, x, 1)(x), want, atol=1e-3, rtol=1e-3)


@pytest.mark.parametrize("name", ["shufflenet_v2_x1_0", "shufflenet_v2_x0_5"])
def test_branches_are_padded_for_ncnn_packs_without_changing_the_logits(name: str) -> None:
    model = lively_model(name)
    packed = _packed_branches(model)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(packed(x), model(x), atol=1e-5, rtol=1e-5)
    inner = [u.branch[1].conv.out_channels for stage in packed.stages for u in stage]  # type: ignore[union-attr]
    assert all(c % 8 == 0 for c in inner)
    before = [u.branch[1].conv.out_channels for stage in model.stages for u in stage]  # type: ignore[union-attr]
    assert inner != before or all(c % 8 == 0 for c in before)
    v1 = lively_model("shufflenet_v1_g3_x0_5")
    assert _packed_branches(v1) is v1


def test_int8_net_keeps_the_shipped_models_answers(tmp_path: Path) -> None:
    """ncnn's own int8 format: every conv holds int8 weights with their scales (8=1), the file shrinks ~3.7x,
    and on real-like inputs the int8 net picks the float net's class; the classifier stays float32."""
    from shufflenet.export import export_artifact

    model = shufflenet.create_model("shufflenet_v2_x0_5", pretrained="fashion-mnist")
    torch.manual_seed(0)
    calibration = [torch.randn(32, 1, 28, 28).clamp(-2, 2).numpy()]
    f32 = export_ncnn(model, tmp_path / "f.ncnn.param", input_shape=(1, 1, 28, 28))
    i8 = export_artifact(model, tmp_path / "q.ncnn.param", "ncnn-int8", input_shape=(1, 1, 28, 28),
                         calibration=calibration)  # fmt: skip
    assert i8.writer == "pnnx, int8" and i8.top1_agreement is not None and i8.top1_agreement >= 0.9
    layers = _parse_param((tmp_path / "q.ncnn.param").read_text())
    convs = [la for la in layers if la.kind in ("Convolution", "ConvolutionDepthWise")]
    assert convs and all(la.params.get("8") == "1" for la in convs)
    assert not any("8" in la.params for la in layers if la.kind == "InnerProduct")
    size = {p: (tmp_path / f"{p}.ncnn.bin").stat().st_size for p in "fq"}
    assert 3.0 < size["f"] / size["q"] < 4.0
    x = torch.randn(8, 1, 28, 28).clamp(-2, 2)
    want, got = Predictor(f32.path)(x), Predictor(i8.path)(x)
    assert (got.argmax(1) == want.argmax(1)).float().mean() >= 0.75
    assert 0 < (got - want).abs().max() < 0.2 * want.abs().max()  # int8: close, not equal


@pytest.mark.slow  # two more conversions (8 s); the shipped model's int8 test above runs in make test
@pytest.mark.parametrize("name", ["shufflenet_v1_g3_x0_5", "mobilenet_v2_x0_35"])
def test_int8_net_of_grouped_and_clipped_convs(name: str, tmp_path: Path) -> None:
    """MobileNet V2's ReLU6 (an activation inside the conv layer) quantises; V1's grouped 1x1 convs stay float32
    (ncnn's x86 kernel mis-reads their scales: V1 g3's logits were wrong), its depthwise convs go int8."""
    model = lively_model(name)
    calibration = [torch.randn(16, 3, 64, 64).numpy()]
    result = export_ncnn(model, tmp_path / "q.ncnn.param", input_shape=(1, 3, 64, 64), calibration=calibration)
    assert result.top1_agreement is not None and result.top1_agreement >= 0.75
    for la in _parse_param((tmp_path / "q.ncnn.param").read_text()):
        grouped = la.kind == "ConvolutionDepthWise" and la.params.get("7") != la.params["0"]
        if la.kind in ("Convolution", "ConvolutionDepthWise"):
            assert ("8" in la.params) != grouped, la.line()
    x = torch.from_numpy(calibration[0][:4])
    with torch.no_grad():
        want = model(x)
    got = Predictor(result.path)(x)
    assert (got - want).abs().max() < 0.2 * want.abs().max()


def test_guideline_blocks_convert() -> None:
    """A guideline block is an nn.Sequential of Sequentials: pnnx's Python module for it named attributes
    ``self.0_0`` (invalid) until the model went in under one named root; its feature map comes back whole."""
    from shufflenet.bench import get_runtime
    from shufflenet.bench.guidelines import build_block, get_experiment

    label = get_experiment("G3").variants[1].label  # two 1x1 convs in series, stacked
    block, chs = build_block("G3", label, 64)
    x = torch.randn(1, chs, 16, 16)
    with torch.no_grad():
        want = block.eval()(x)
    got = get_runtime("ncnn").prepare(block, x, 1)(x)
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, atol=1e-3, rtol=1e-3)
