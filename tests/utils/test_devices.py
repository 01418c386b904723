"""``utils.devices.torch_device``: every device name a user types is checked once, with a line saying what to use."""

import pytest
import torch

from shufflenet.utils.devices import torch_device


def test_cpu_and_gpu_names_become_devices() -> None:
    assert torch_device("cpu") == torch.device("cpu") and torch_device(torch.device("cpu")).type == "cpu"
    if torch.cuda.is_available():
        assert torch_device("cuda").type == "cuda"
        with pytest.raises(ValueError, match=r"PyTorch sees \d+ GPU\(s\), cuda:0 and on"):
            torch_device(f"cuda:{torch.cuda.device_count()}")
    else:
        with pytest.raises(ValueError, match=r"^device 'cuda:1', but PyTorch sees no GPU on this machine; use"):
            torch_device("cuda:1")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("gpu", "unknown device 'gpu'; use cpu, cuda or cuda:N"),
        ("cuda:x", "unknown device 'cuda:x'; use cpu, cuda or cuda:N"),
        ("mps", "device 'mps': shufflenet runs on cpu or cuda"),
        ("meta", "device 'meta': shufflenet runs on cpu or cuda"),
    ],
)
def test_other_names_are_one_line_errors(name: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        torch_device(name)
    assert str(caught.value) == message
