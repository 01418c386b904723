import os
from pathlib import Path

import pytest
import torch

from helpers import make_fake_fashion_mnist

if os.environ.get("PYTEST_XDIST_WORKER"):  # one worker per core (make test): one thread each, no oversubscription
    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture
def fake_fmnist(tmp_path: Path) -> Path:
    return make_fake_fashion_mnist(tmp_path / "fmnist")
