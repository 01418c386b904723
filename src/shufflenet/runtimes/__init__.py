"""Low-level handles on the runtimes a model runs in: ONNX Runtime sessions, OpenVINO compiled
models, ncnn nets, ExecuTorch programs, LiteRT models and thread settings.

This room sits below both ``bench/`` (which times models) and ``export/`` (which writes and
verifies artifacts), so neither has to import the other to open a session.
"""

from shufflenet.runtimes.executorch import ExecuTorchRunner
from shufflenet.runtimes.litert import LiteRtRunner
from shufflenet.runtimes.ncnn import NcnnRunner
from shufflenet.runtimes.openvino import OpenVinoRunner, ov_compile, ov_core
from shufflenet.runtimes.ort import ort_session
from shufflenet.runtimes.threads import num_threads

__all__ = [
    "ExecuTorchRunner",
    "LiteRtRunner",
    "NcnnRunner",
    "OpenVinoRunner",
    "num_threads",
    "ort_session",
    "ov_compile",
    "ov_core",
]
