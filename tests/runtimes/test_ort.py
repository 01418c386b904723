"""ONNX Runtime sessions: the project's options, and a GPU asked of a CPU-only onnxruntime said in one line."""

from pathlib import Path

import pytest
import torch

from shufflenet.runtimes import ort_session

onnx = pytest.importorskip("onnx", reason="the onnx extra: pip install 'shufflenet[onnx]'")
ort = pytest.importorskip("onnxruntime", reason="the onnx extra: pip install 'shufflenet[onnx]'")


def _relu_file(tmp_path: Path) -> str:
    helper = onnx.helper
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "relu",
                              [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 4])])  # fmt: skip
    path = tmp_path / "relu.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), path)
    return str(path)


def test_a_session_runs_with_its_thread_count_and_without_spinning(tmp_path: Path) -> None:
    session = ort_session(_relu_file(tmp_path), 1, torch.device("cpu"), spin=False)
    options = session.get_session_options()
    assert options.intra_op_num_threads == 1 and options.inter_op_num_threads == 1
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    y = session.run(None, {"x": [[-1.0, 2.0, -3.0, 4.0]]})[0]
    assert y.tolist() == [[0.0, 2.0, 0.0, 4.0]]


@pytest.mark.skipif("CUDAExecutionProvider" in ort.get_available_providers(), reason="this onnxruntime has CUDA")
def test_a_gpu_asked_of_a_cpu_only_onnxruntime_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"^onnxruntime has no CUDA provider here; install onnxruntime-gpu or use "
                       r"--device cpu$"):  # fmt: skip
        ort_session(_relu_file(tmp_path), None, torch.device("cuda"))
