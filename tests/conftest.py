import os
from pathlib import Path

import pytest
import torch

from helpers import make_fake_fashion_mnist

if os.environ.get("PYTEST_XDIST_WORKER"):  # one worker per core (make test): one thread each, no oversubscription
    torch.set_num_threads(1)


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
