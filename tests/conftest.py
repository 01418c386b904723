from pathlib import Path

import pytest
import torch

from helpers import make_fake_fashion_mnist


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture
def fake_fmnist(tmp_path: Path) -> Path:
    return make_fake_fashion_mnist(tmp_path / "fmnist")
