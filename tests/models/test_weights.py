import os
import pickle
from pathlib import Path

import pytest
import torch

import shufflenet
from shufflenet.models import load_state_dict_file
from shufflenet.models._weights import safe_torch_load
from shufflenet.utils.files import atomic_write


def test_safetensors_roundtrip(tmp_path: Path) -> None:
    a = shufflenet.create_model("shufflenet_v1_g3_x0_25", num_classes=5).eval()
    path = shufflenet.save_weights(a, tmp_path / "w.safetensors", metadata={"model": "shufflenet_v1_g3_x0_25"})
    b = shufflenet.load_weights(shufflenet.create_model("shufflenet_v1_g3_x0_25", num_classes=5), path).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(a(x), b(x))
    assert [p.name for p in tmp_path.iterdir()] == ["w.safetensors"]  # no temp file left


def test_truncated_file_is_a_clear_error(tmp_path: Path) -> None:
    path = shufflenet.save_weights(shufflenet.create_model("shufflenet_v2_x0_5"), tmp_path / "w.safetensors")
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ValueError, match="not a valid safetensors file"):
        shufflenet.load_weights(shufflenet.create_model("shufflenet_v2_x0_5"), path)


def test_weights_for_another_model_is_a_clear_error(tmp_path: Path) -> None:
    path = shufflenet.save_weights(shufflenet.create_model("shufflenet_v2_x0_5"), tmp_path / "w.safetensors")
    with pytest.raises(ValueError, match="does not fit ShuffleNetV2: shape mismatches"):
        shufflenet.load_weights(shufflenet.create_model("shufflenet_v2_x1_0"), path)
    with pytest.raises(FileNotFoundError, match="not found"):
        shufflenet.load_weights(shufflenet.create_model("shufflenet_v2_x1_0"), tmp_path / "missing.safetensors")


class _Evil:
    def __reduce__(self):  # would run code if unpickled
        return (os.system, ("echo pwned",))


def test_pickle_payloads_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.pth"
    with path.open("wb") as f:
        pickle.dump({"w": _Evil()}, f)
    with pytest.raises(ValueError, match=r"holds pickled code or objects \(posix\.system\), which are never loaded"):
        load_state_dict_file(path)
    zipped = tmp_path / "evil.pt"  # torch.save's zip format
    torch.save({"model": _Evil()}, zipped)
    with pytest.raises(ValueError, match=r"holds pickled code or objects \(posix\.system\)"):
        safe_torch_load(zipped, "checkpoint")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="is not a readable weights file"):
        load_state_dict_file(garbage)
    ok = tmp_path / "ok.pt"
    torch.save({"state_dict": {"w": torch.ones(2)}}, ok)
    assert torch.equal(load_state_dict_file(ok)["w"], torch.ones(2))


def test_crash_mid_save_keeps_previous_file(tmp_path: Path) -> None:
    target = tmp_path / "w.bin"
    target.write_bytes(b"previous")

    def crash(tmp: Path) -> None:
        tmp.write_bytes(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(target, crash)
    assert target.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["w.bin"]
