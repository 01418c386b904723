from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import lively_model
from shufflenet.cli.main import main
from shufflenet.export import Predictor, export_onnx, fuse_conv_bn
from shufflenet.layers import PointwiseConv2d
from shufflenet.models import create_model

_lively = lively_model


@pytest.mark.parametrize("name", ["shufflenet_v2_x0_5", "mobilenet_v2_x0_5", "squeezenet1_1", "resnet18"])
def test_fuse_conv_bn_keeps_outputs(name: str) -> None:
    model = _lively(name)
    keys = set(model.state_dict())
    fused = fuse_conv_bn(model)
    if name != "resnet18":  # torchvision's ResNet keeps conv and BN as attributes, not in a Sequential
        assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(fused(x), model(x), rtol=1e-4, atol=1e-4)
    assert set(model.state_dict()) == keys  # the original is untouched


@pytest.mark.parametrize(
    "name",
    ["shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5", "shufflenet_v2_x2_0", "shufflenet_v1_g1_x0_5",
     "shufflenet_v1_g3_x1_0", "shufflenet_v1_g8_x0_5", "shufflenet_v1_g4_x0_25", "shufflenet_v1_g2_x1_5",
     "shufflenet_v1_g3_x2_0"],
)  # fmt: skip
def test_export_and_verify(name: str, tmp_path: Path) -> None:
    model = _lively(name)
    result = export_onnx(model, tmp_path / "m.onnx", input_shape=(1, 3, 64, 64))
    assert result.max_abs_diff <= 1e-4 and "BatchNormalization" not in result.nodes
    x = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        expected = model(x).numpy()
    assert np.abs(expected).max() > 0.1  # the comparison is not between near-zeros
    np.testing.assert_allclose(Predictor(tmp_path / "m.onnx", threads=1).predict(x), expected, atol=1e-4)


def test_predictor_split_batch_gives_the_same_logits(tmp_path: Path) -> None:
    model = _lively("shufflenet_v2_x0_5")
    export_onnx(model, tmp_path / "m.onnx", input_shape=(1, 3, 32, 32))
    whole = Predictor(tmp_path / "m.onnx", threads=3, split_batch=False)
    split = Predictor(tmp_path / "m.onnx", threads=3)
    (tmp_path / "m.onnx").unlink()  # the split sessions are made on first use, from the bytes read at load
    for n in (1, 2, 3, 7):  # below, at and above the thread count; 7 splits unevenly (3, 2, 2)
        x = np.random.default_rng(n).standard_normal((n, 3, 32, 32)).astype(np.float32)
        np.testing.assert_allclose(split.predict(x), whole.predict(x), atol=1e-5)
    assert len(split._slices) == 3 and not whole._slices  # the split path ran (n >= 3) only where asked


def test_failed_verification_leaves_no_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="differs from PyTorch"):
        export_onnx(_lively("shufflenet_v2_x0_5"), tmp_path / "m.onnx", input_shape=(1, 3, 32, 32), atol=-1.0)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match=r"opset must be 17\.\.\d+ \(the newest this onnx knows\), got "):
        export_onnx(_lively("shufflenet_v2_x0_5"), tmp_path / "m.onnx", opset=13)


def test_predictor_errors_and_torch_fallback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"this is not onnx")
    with pytest.raises(ValueError, match="is not a valid ONNX model"):
        Predictor(bad)
    with pytest.raises(FileNotFoundError):
        Predictor(tmp_path / "missing.onnx")
    model = _lively("shufflenet_v2_x0_5")
    with pytest.raises(ValueError, match="threads must be >= 1"):  # when made, not at the first batch
        Predictor(model, threads=0)
    export_onnx(model, tmp_path / "m.onnx", input_shape=(1, 3, 32, 32))
    with pytest.raises(ValueError, match=r"does not match the model's input Nx3x32x32"):
        Predictor(tmp_path / "m.onnx").predict(np.zeros((1, 1, 32, 32), np.float32))
    for raw in (np.zeros((1, 3, 32, 32), np.uint8), torch.zeros(1, 3, 32, 32, dtype=torch.uint8)):  # raw pixels
        with pytest.raises(ValueError, match="predict takes float images .* got uint8. For image files use"):
            Predictor(tmp_path / "m.onnx").predict(raw)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        np.testing.assert_allclose(Predictor(model).predict(x), model(x).numpy(), atol=1e-4)
        np.testing.assert_allclose(Predictor(tmp_path / "m.onnx").predict(x.bfloat16()),  # no NumPy bfloat16
                                   model(x.bfloat16().float()).numpy(), atol=1e-4)  # fmt: skip


def test_export_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "v2.onnx"
    assert main(["export", "shufflenet_v2_x0_5", "--img-size", "32", "--small-input", "-o", str(out)]) == 0
    assert out.is_file() and "max |diff|" in capsys.readouterr().out
    assert main(["export", "nope_model"]) == 2
    # a file for another CPU class: padded to 8 channels (AVX2) it is smaller than the portable one (16)
    sizes = {}
    for target in ("avx2", "portable"):
        path = tmp_path / f"{target}.onnx"
        argv = ["export", "shufflenet_v2_x1_0", "--img-size", "32", "--small-input", "--target", target]
        assert main([*argv, "--layout", "paired", "-o", str(path)]) == 0
        sizes[target] = path.stat().st_size
    assert sizes["avx2"] < sizes["portable"]
    # the layout of plain V2 units, by name: paired has one Split per stride-1 unit, pieces none
    for layout, splits in (("pieces", 0), ("paired", 13), ("auto", 13)):
        path = tmp_path / f"{layout}.onnx"
        argv = ["export", "shufflenet_v2_x1_0", "--layout", layout, "-o", str(path)]
        assert main([*argv, "--img-size", "32"]) == 0
        nodes = " ".join(capsys.readouterr().out.split()).split("nodes:")[-1]
        assert (f"Split {splits}" in nodes) if splits else ("Split" not in nodes)
    # old spellings: --channel-block N maps to its target for one release; block rows are gone, said so
    with pytest.warns(FutureWarning, match="--channel-block 8 is now --target avx2"):
        assert main(["export", "shufflenet_v2_x0_5", "--img-size", "32", "--channel-block", "8",
                     "-o", str(tmp_path / "old.onnx")]) == 0  # fmt: skip
    assert main(["export", "shufflenet_v2_x0_5", "--layout", "blocks", "-o", str(tmp_path / "b.onnx")]) == 2
    assert "--layout blocks was removed" in capsys.readouterr().err and not (tmp_path / "b.onnx").exists()


def test_export_writes_the_same_file_on_every_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the file depends on the target named, never on the CPU that writes it (AVX-512, AVX2 or neither)
    model = _lively("shufflenet_v2_x1_0", small_input=True, in_chans=1)
    files = []
    for capability in ("AVX512", "AVX2", "DEFAULT"):
        monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda c=capability: c)
        path = export_onnx(model, tmp_path / f"{capability}.onnx", input_shape=(1, 1, 28, 28)).path
        files.append(path.read_bytes())
    assert files[0] == files[1] == files[2]
    with pytest.raises(ValueError, match="unknown target 'arm'; choose from portable, avx512, avx2"):
        export_onnx(model, tmp_path / "x.onnx", input_shape=(1, 1, 28, 28), target="arm")
    with pytest.raises(ValueError, match="unknown layout 'blocks'"):
        export_onnx(model, tmp_path / "x.onnx", input_shape=(1, 1, 28, 28), layout="blocks")
    assert not (tmp_path / "x.onnx").exists()


@pytest.mark.parametrize(
    "name,kw",
    [("shufflenet_v2_x0_5", {}), ("shufflenet_v2_x1_0", {"small_input": True}), ("shufflenet_v2_x0_5", {"extra_dw": True}),
     ("shufflenet_v1_g3_x0_5", {}), ("shufflenet_v1_g8_x0_5", {"small_input": True}), ("shufflenet_v1_g2_x0_5", {"shuffle": False})],
)  # fmt: skip
def test_shuffle_aware_graph_has_no_transpose(name: str, kw: dict, tmp_path: Path) -> None:
    import onnx

    model = _lively(name, **kw)
    result = export_onnx(model, tmp_path / "m.onnx", input_shape=(2, 3, 32, 32), layout="pieces")
    assert result.writer == "shuffle-aware" and result.max_abs_diff <= 1e-4
    ops = {n.op_type for n in onnx.load(str(tmp_path / "m.onnx")).graph.node}
    assert not ops & {"Transpose", "Shape", "BatchNormalization"}
    # plain V2 in pieces: convs and channel Concats, no Split, Reshape or Pad; V2 with an extra depthwise conv:
    # the paired layout, one Concat per unit and one Split per stride-1 unit; V1 with shuffle: one Gather per
    # grouped unit
    if "v2" in name and not kw.get("extra_dw"):
        assert set(result.nodes) <= {"Conv", "Concat", "Relu", "MaxPool", "ReduceMean", "Gemm"}
    elif "v2" in name:
        assert result.nodes["Concat"] == 16 and result.nodes["Split"] == 13
    elif kw.get("shuffle", True):
        assert result.nodes["Gather"] == 15
    else:
        assert "Gather" not in result.nodes


def test_v2_pieces_padding_follows_the_target(tmp_path: Path) -> None:
    # pieces are padded for the target's blocked layout (16 portable, 8 AVX2); the logits never change
    import onnx
    from onnx import numpy_helper

    model = _lively("shufflenet_v2_x1_0", small_input=True, in_chans=1)
    sizes = {}
    for target, block in (("avx2", 8), ("portable", 16)):
        path = tmp_path / f"{target}.onnx"
        result = export_onnx(model, path, input_shape=(2, 1, 28, 28), target=target, layout="pieces")
        assert result.writer == "shuffle-aware" and result.max_abs_diff <= 1e-4
        graph = onnx.load(str(path)).graph
        weights = [numpy_helper.to_array(t) for t in graph.initializer if t.dims and len(t.dims) == 4]
        sizes[block] = sum(w.size for w in weights)
        depthwise = [w for w in weights if w.shape[1] == 1 and w.shape[0] > 1]
        assert all(w.shape[0] % block == 0 for w in depthwise)
    assert sizes[8] < sizes[16]


@pytest.mark.parametrize(("layout", "splits"), [("paired", 13), ("pieces", 0)])
def test_v2_layout_by_name(layout: str, splits: int, tmp_path: Path) -> None:
    # plain V2 units paired (one Split per stride-1 unit) or in pieces (none); same logits either way
    model = _lively("shufflenet_v2_x1_0", small_input=True, in_chans=1)
    result = export_onnx(model, tmp_path / "m.onnx", input_shape=(2, 1, 28, 28), layout=layout)
    assert result.writer == "shuffle-aware" and result.max_abs_diff <= 1e-4
    assert result.nodes.get("Split", 0) == splits
    assert "Transpose" not in result.nodes


@pytest.mark.parametrize(
    ("name", "target", "splits"),
    [("shufflenet_v2_x1_0", "portable", 13), ("shufflenet_v2_x1_0", "avx512", 0), ("shufflenet_v2_x1_0", "avx2", 0),
     ("shufflenet_v2_x2_0", "avx512", 0), ("shufflenet_v2_x0_5", "avx512", 13), ("shufflenet_v2_x1_5", "avx512", 13),
     ("shufflenet_v2_x1_5", "avx2", 13)],
)  # fmt: skip
def test_each_target_writes_its_layout(name: str, target: str, splits: int, tmp_path: Path) -> None:
    # no layout named: portable pairs (one Split per stride-1 unit); a CPU class writes pieces where most branches
    # are not whole blocks (V2 1x: 58, 116, 232 channels; 2x: 122, 244, 488), else pairs (0.5x: 24, 48, 96 in 16s;
    # 1.5x: 88, 176, 352 in 16s and in 8s)
    result = export_onnx(_lively(name), tmp_path / "m.onnx", input_shape=(1, 3, 64, 64), target=target)
    assert result.writer == "shuffle-aware" and result.max_abs_diff <= 1e-4
    assert result.nodes.get("Split", 0) == splits


@pytest.mark.parametrize("name", ["shufflenet_v2_x1_0", "shufflenet_v2_x2_0"])
@pytest.mark.parametrize("layout", ["pieces", "paired"])
def test_shuffle_aware_convs_have_channels_in_fours(name: str, layout: str, tmp_path: Path) -> None:
    # ONNX Runtime's blocked conv kernels need input channels in multiples of 4 (depthwise: channels
    # in multiples of the block, 16 or 8, in pieces); V2 1x (58 per branch in stage 2) and 2x (122) get zero-padded
    import onnx
    from onnx import numpy_helper

    result = export_onnx(_lively(name), tmp_path / "m.onnx", input_shape=(1, 3, 64, 64), layout=layout)
    assert result.writer == "shuffle-aware" and result.max_abs_diff <= 1e-4
    graph = onnx.load(str(tmp_path / "m.onnx")).graph
    weights = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    convs = [n for n in graph.node if n.op_type == "Conv"]
    for node in convs[1:]:  # the stem reads the 3 image channels
        w = weights[node.input[1]]
        group = next((a.i for a in node.attribute if a.name == "group"), 1)
        depthwise_multiple = 16 if layout == "pieces" else 4  # the portable target's block
        assert (w.shape[1] * group) % 4 == 0 and (group == 1 or w.shape[0] % depthwise_multiple == 0), node.name


def test_shuffle_aware_v2_with_odd_branch_widths(tmp_path: Path) -> None:
    # 59 channels per branch: the split of the shuffled tensor falls inside a (keep, branch) pair
    model = _lively("shufflenet_v2_x1_0", stage_widths=(118, 238, 470, 1024))
    result = export_onnx(model, tmp_path / "m.onnx", input_shape=(2, 3, 64, 64))
    assert result.writer == "shuffle-aware" and result.max_abs_diff <= 1e-4


def _blocked_graph(path: Path) -> list:
    """The nodes of ONNX Runtime's optimised graph of ``path`` (skips where this CPU gets no blocked layout)."""
    import onnx
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.optimized_model_filepath = str(path.with_suffix(".opt.onnx"))
    options.log_severity_level = 3
    ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    nodes = list(onnx.load(options.optimized_model_filepath).graph.node)
    if not any(n.domain == "com.microsoft.nchwc" for n in nodes):
        pytest.skip("this CPU gets no blocked layout from ONNX Runtime")
    return nodes


@pytest.mark.parametrize("target", ["portable", "avx2"])
def test_v2_pieces_stay_in_onnx_runtimes_blocked_layout(target: str, tmp_path: Path) -> None:
    # every tensor in whole blocks: ONNX Runtime runs every conv blocked and reorders once, before the mean
    if target == "avx2" and torch.backends.cpu.get_cpu_capability() != "AVX2":
        pytest.skip("blocks of 8 are ONNX Runtime's blocked layout on AVX2 CPUs only")
    export_onnx(_lively("shufflenet_v2_x1_0"), tmp_path / "m.onnx", input_shape=(1, 3, 64, 64), target=target,
                layout="pieces")  # fmt: skip
    nodes = _blocked_graph(tmp_path / "m.onnx")
    ops = Counter(n.op_type for n in nodes)
    assert all(n.domain == "com.microsoft.nchwc" for n in nodes if n.op_type == "Conv")
    assert ops["ReorderOutput"] == 1 and not ops.keys() & {"ReorderInput", "Split", "Reshape", "Pad"}, ops


def test_v2_stem_stays_in_onnx_runtimes_blocked_layout(tmp_path: Path) -> None:
    # the stem writes 32 channels (24 + 8 zero), so ONNX Runtime keeps its conv and max-pool in
    # the blocked (NCHWc) layout instead of reordering the largest activation to NCHW and back
    export_onnx(_lively("shufflenet_v2_x1_0"), tmp_path / "m.onnx", input_shape=(1, 3, 64, 64))
    nodes = _blocked_graph(tmp_path / "m.onnx")
    pool = next(n for n in nodes if n.op_type == "MaxPool")
    assert pool.domain == "com.microsoft.nchwc"
    assert nodes[0].op_type == "Conv" and nodes[0].output[0] == pool.input[0]


@pytest.mark.parametrize(
    ("name", "kw"),
    [
        ("shufflenet_v2_x0_5", {"se": True}),
        ("shufflenet_v2_x0_5", {"residual": True}),
        ("shufflenet_v2_x1_0", {"se": True, "residual": True}),
        ("shufflenet_v1_g3_x0_5", {"se": True}),
    ],
)
def test_shuffle_aware_graph_writes_se_and_residual_units(name: str, kw: dict, tmp_path: Path) -> None:
    result = export_onnx(_lively(name, **kw), tmp_path / "m.onnx", input_shape=(2, 3, 64, 64))
    assert result.writer == "shuffle-aware" and result.max_abs_diff <= 1e-4
    assert "Transpose" not in result.nodes
    if kw.get("se"):
        assert result.nodes["Sigmoid"] == 16  # one SE per unit; both have 4 + 8 + 4 units
    if kw.get("residual"):
        assert result.nodes["Add"] == 13


def test_models_the_writer_does_not_know_are_traced(tmp_path: Path) -> None:
    result = export_onnx(_lively("mobilenet_v2_x0_5"), tmp_path / "mb.onnx", input_shape=(1, 3, 32, 32))
    assert result.writer == "traced" and result.max_abs_diff <= 1e-4


@pytest.mark.parametrize("name", ["shufflenet_v2_x0_5", "shufflenet_v1_g3_x0_5", "mobilenet_v1_x0_25"])
def test_fuse_is_the_same_network(name: str) -> None:
    model = _lively(name)
    fused = model.fuse()
    assert fused is not model and not fused.training
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    assert all(p.is_contiguous(memory_format=torch.channels_last) for p in fused.parameters() if p.dim() == 4)
    assert any(isinstance(m, PointwiseConv2d) for m in fused.modules())
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(fused(x), model(x), rtol=1e-4, atol=1e-4)


def test_an_exporter_traces_a_float32_nchw_copy() -> None:
    from shufflenet.layers import traceable

    model = _lively("shufflenet_v2_x0_5", se=True)
    fused = model.fuse()
    plain = traceable(fused)
    assert plain is not fused and len(fused._forward_pre_hooks) == 1  # the fused model keeps its entry
    assert not plain._forward_pre_hooks and all(p.is_contiguous() for p in plain.parameters())
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(plain(x), model(x), rtol=1e-4, atol=1e-4)
        assert plain(x).is_contiguous()
    assert traceable(model) is model
    half = traceable(model.fuse().to(torch.bfloat16))  # exports are float32 files
    assert all(p.dtype == torch.float32 for p in half.parameters())


def test_a_backbone_is_refused_before_any_conversion(tmp_path: Path) -> None:
    backbone = create_model("shufflenet_v2_x0_5", features_only=True)
    with pytest.raises(ValueError, match="returns list, not one tensor of logits .a features_only backbone"):
        export_onnx(backbone, tmp_path / "f.onnx", input_shape=(1, 3, 64, 64))
    assert not list(tmp_path.iterdir())


def test_a_bfloat16_fused_model_exports_as_float32(tmp_path: Path) -> None:
    model = _lively("shufflenet_v2_x0_5")
    low = model.fuse().to(torch.bfloat16)
    result = export_onnx(low, tmp_path / "b.onnx", input_shape=(1, 3, 32, 32))
    assert result.writer == "shuffle-aware" and result.max_abs_diff <= 1e-4
    assert next(low.parameters()).dtype == torch.bfloat16  # the caller's model is left as it was


def test_exported_file_carries_the_pretrained_cfg(tmp_path: Path) -> None:
    model = _lively("shufflenet_v2_x0_5")
    model.pretrained_cfg = {
        "mean": [0.5] * 3,
        "std": [0.25] * 3,
        "input_size": [3, 32, 32],
        "class_names": list("abcdefghij"),
    }
    export_onnx(model, tmp_path / "m.onnx", input_shape=(1, 3, 32, 32))
    assert Predictor(tmp_path / "m.onnx").pretrained_cfg == model.pretrained_cfg
    assert Predictor(model).pretrained_cfg == model.pretrained_cfg


def test_int8_is_smaller_and_agrees(tmp_path: Path) -> None:
    from shufflenet.export import export_onnx_int8

    model = _lively("shufflenet_v2_x1_0", small_input=True)
    calibration = [torch.randn(16, 3, 32, 32).numpy() for _ in range(4)]
    fp32 = export_onnx(model, tmp_path / "f.onnx", input_shape=(1, 3, 32, 32))
    int8 = export_onnx_int8(model, tmp_path / "q.onnx", calibration, input_shape=(1, 3, 32, 32))
    assert "QuantizeLinear" in int8.nodes and int8.top1_agreement is not None and 0 <= int8.top1_agreement <= 1
    assert fp32.path.stat().st_size / int8.path.stat().st_size > 3.0
    assert Predictor(int8.path).predict(calibration[0]).shape == (16, 10)
    # weights keep to 7 bits, so that CPUs without VNNI (16-bit saturating sums) run the file accurately
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(int8.path)).graph
    weights = [numpy_helper.to_array(t) for t in graph.initializer if t.data_type == onnx.TensorProto.INT8]
    assert weights and max(int(np.abs(w.astype(np.int32)).max()) for w in weights) <= 64
    with pytest.raises(ValueError, match="at least one batch"):
        export_onnx_int8(model, tmp_path / "none.onnx", [], input_shape=(1, 3, 32, 32))
    assert not (tmp_path / "none.onnx").exists()


def test_deployment_runtimes_compute_the_model_and_old_names_warn() -> None:
    from shufflenet.bench import benchmark, get_runtime

    model = _lively("shufflenet_v2_x0_5")
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        want = model(x)
    for name in ("onnxruntime-shufflenet", "torch-fused"):
        torch.testing.assert_close(get_runtime(name).prepare(model, x, 1)(x), want, atol=1e-4, rtol=1e-4)
        result = benchmark("shufflenet_v2_x0_5", runtime=name, batch=1, img_size=32, min_time_s=0.05, threads=1)
        assert result.runtime == name and result.iterations >= 10
    for old, new in (("shufflenet-eager", "torch-fused"), ("shufflenet-ort", "onnxruntime-shufflenet")):
        with pytest.warns(FutureWarning, match=f"now called '{new}'"):
            assert get_runtime(old).name == new


def test_shuffle_aware_graph_at_opset_17(tmp_path: Path) -> None:
    result = export_onnx(_lively("shufflenet_v2_x0_5"), tmp_path / "m.onnx", input_shape=(1, 3, 32, 32), opset=17)
    assert result.writer == "shuffle-aware" and result.max_abs_diff <= 1e-4
