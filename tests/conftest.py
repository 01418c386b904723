import os
from pathlib import Path

import pytest
import torch

from helpers import make_fake_fashion_mnist

if os.environ.get("PYTEST_XDIST_WORKER"):  # one worker per core (make test): one thread each, no oversubscription
    torch.set_num_threads(1)


def _decline_openvino_telemetry() -> None:
    """OpenVINO's converter sends usage telemetry from every conversion unless it runs in CI: offline, each event
    forks a process that waits for the network (20 of the 61 s of the OpenVINO tests on 2 cores) and JAX, once
    loaded, warns at the fork. Its consent is read once per process, when the converter's telemetry is first made,
    so it is made here as in CI; ``CI`` itself is not left set (torch's compiler reads it too)."""
    try:
        from openvino.tools.ovc.telemetry_utils import init_ovc_telemetry
    except ImportError:  # no OpenVINO extra: nothing to decline
        return
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CI", "true")
        init_ovc_telemetry()


_decline_openvino_telemetry()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """``@pytest.mark.gpu`` tests skip, with their reason, where PyTorch sees no GPU (CI); on a lent GPU
    ``pytest -m gpu`` runs exactly them."""
    if not torch.cuda.is_available():
        for item in items:
            if item.get_closest_marker("gpu"):
                item.add_marker(pytest.mark.skip(reason="needs a GPU"))


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture
def fake_fmnist(tmp_path: Path) -> Path:
    return make_fake_fashion_mnist(tmp_path / "fmnist")
