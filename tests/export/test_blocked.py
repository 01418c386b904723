from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from helpers import randomise_bn

import shufflenet
from shufflenet.bench.runtimes import ort_session
from shufflenet.export import Predictor, export_onnx, fuse_conv_bn
from shufflenet.export.blocked import blocked_session, has_block_rows, unwrap_blocks
from shufflenet.export.graph import BLOCK_NODE_PREFIX, _block_plan, native_channel_block


def _lively(name: str) -> torch.nn.Module:
    model = randomise_bn(shufflenet.create_model(name, num_classes=10))
    for m in model.modules():
        if isinstance(m, torch.nn.Linear):
            torch.nn.init.normal_(m.weight, 0, 0.5)
    return model.eval()


def test_block_plan_fits_stages_2_and_4_of_v2_1x() -> None:
    model = fuse_conv_bn(shufflenet.create_model("shufflenet_v2_x1_0"))
    plans = [_block_plan(stage, 16) for stage in model.stages]
    assert plans[1] is None  # stage 3: 8 units leave lifetimes (e.g. 5 units) that no block of 16 has
    for plan, half, bh in ((plans[0], 58, 4), (plans[2], 232, 16)):
        assert plan is not None and plan[0] == bh  # stage 4 needs a block more than its 232 channels
        first, *rest = plan[1]
        # every logical channel is written exactly once: the downsampling unit its kept half, the others their branch's
        assert sorted(first[first >= 0]) == list(range(half))
        for pos in rest:
            assert sorted(pos[pos >= 0]) == list(2 * np.arange(half) + 1)


def test_block_plan_refuses_mostly_zero_blocks() -> None:
    model = fuse_conv_bn(shufflenet.create_model("shufflenet_v2_x0_5"))
    assert _block_plan(model.stages[0], 16) is None  # 24 channels per half would need 64 slots
    assert _block_plan(model.stages[0], 8) is None  # in blocks of 8 its fates need more than the 30 slots allowed
    assert _block_plan(model.stages[2], 8) is not None


@pytest.mark.parametrize("name", ["shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5", "shufflenet_v2_x2_0"])
@pytest.mark.parametrize("block", [16, 8])
def test_block_rows_give_the_same_logits(name: str, block: int, tmp_path: Path) -> None:
    model = _lively(name)
    result = export_onnx(model, tmp_path / "m.onnx", input_size=(2, 3, 64, 64), channel_block=block, blocks=True)
    assert result.writer == "shuffle-aware" and result.max_abs_diff <= 1e-4 and "Transpose" not in result.nodes
    # V2 0.5x in blocks of 16 would be mostly zero channels (stage 2: 24 per half): written in pieces
    expected = 0 if (name, block) == ("shufflenet_v2_x0_5", 16) else block
    assert has_block_rows(onnx.load(str(tmp_path / "m.onnx"))) == expected
    assert (result.nodes.get("Concat", 0) > 0) == bool(expected)


def test_predictor_runs_block_rows_on_blocked_memory(tmp_path: Path) -> None:
    model = _lively("shufflenet_v2_x1_0")
    block = native_channel_block()
    export_onnx(model, tmp_path / "m.onnx", input_size=(1, 3, 64, 64), channel_block=block, blocks=True)
    predictor = Predictor(tmp_path / "m.onnx", threads=1)
    x = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        expected = model(x).numpy()
    np.testing.assert_allclose(predictor.predict(x), expected, atol=1e-4)
    if block == 16:  # measured on AVX-512: every interleave's reorders go (on other CPUs the pass may fall back)
        assert predictor.unwrapped == 14


def test_graphs_without_block_rows_run_as_they_are(tmp_path: Path) -> None:
    export_onnx(_lively("shufflenet_v2_x0_5"), tmp_path / "m.onnx", input_size=(1, 3, 32, 32), blocks=False)
    data = (tmp_path / "m.onnx").read_bytes()
    assert has_block_rows(onnx.load_from_string(data)) == 0
    assert blocked_session(data, 1)[1] == 0


def test_unwrap_refuses_a_plain_reader_of_blocked_memory(tmp_path: Path) -> None:
    block = native_channel_block()
    export_onnx(_lively("shufflenet_v2_x1_0"), tmp_path / "m.onnx", input_size=(1, 3, 64, 64), channel_block=block,
                blocks=True)  # fmt: skip
    ort_session(str(tmp_path / "m.onnx"), 1, torch.device("cpu"), optimized_path=str(tmp_path / "opt.onnx"))
    optimised = onnx.load(str(tmp_path / "opt.onnx"))
    split = next(n for n in optimised.graph.node if n.name.startswith(BLOCK_NODE_PREFIX) and n.op_type == "Split")
    optimised.graph.node.append(onnx.helper.make_node("Relu", [split.output[0]], ["stray"], name="stray"))
    with pytest.raises(ValueError, match="would read blocked memory"):
        unwrap_blocks(optimised, block)
