"""Output checks, atomic writes that clean up after a killed writer, and the pid lock of a run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shufflenet.utils.files import (
    LockedError,
    atomic_dir,
    atomic_write,
    check_artifact_name,
    check_output_dir,
    check_output_file,
    pid_lock,
)


def _dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(proc.stdout)


def test_output_checks_name_the_problem(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(IsADirectoryError, match="is a directory; give a file path"):
        check_output_file(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist; create it first"):
        check_output_file(tmp_path / "nope" / "x.onnx")
    with pytest.raises(NotADirectoryError, match="is a file, not a directory"):
        check_output_file(tmp_path / "f" / "x.onnx")
    with pytest.raises(NotADirectoryError, match="is a file; give a directory"):
        check_output_dir(tmp_path / "f")
    with pytest.raises(NotADirectoryError, match="is a file, not a directory"):
        check_output_dir(tmp_path / "f" / "sub" / "deeper")
    assert check_output_dir(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"  # created later
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("name", ["m.xml", "m.ONNX", ".onnx", "m.onnx.tmp"])
def test_artifact_names_need_the_suffix_readers_match(name: str) -> None:
    # readers pick the runtime by the exact suffix: m.ONNX would be opened by none, m.xml by OpenVINO
    with pytest.raises(ValueError, match=r"an ONNX model is MODEL\.onnx; name it so"):
        check_artifact_name(name, ".onnx", "an ONNX model")
    assert check_artifact_name("dir/m.onnx", ".onnx", "an ONNX model") == Path("dir/m.onnx")
    with pytest.raises(ValueError, match=r"its weights go to MODEL\.ncnn\.bin beside it"):
        check_artifact_name("m.param", ".ncnn.param", "an ncnn net", weights=".ncnn.bin")


def test_atomic_write_removes_the_temporary_file_of_a_killed_writer(tmp_path: Path) -> None:
    orphan = tmp_path / f".out.json.{_dead_pid()}.abc123.tmp"  # what a writer killed mid-write leaves
    orphan.write_text("half")
    live = tmp_path / f".out.json.{os.getpid()}.def456.tmp"  # a live writer's: left alone
    live.write_text("busy")
    atomic_write(tmp_path / "out.json", lambda t: t.write_text("{}"))
    assert not orphan.exists() and live.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [live.name, "out.json"]


def test_atomic_dir_appears_whole_or_not_at_all(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), atomic_dir(tmp_path / "set") as tmp:
        (tmp / "a.txt").write_text("half")
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []
    with atomic_dir(tmp_path / "deep" / "set") as tmp:
        assert not (tmp_path / "deep" / "set").exists()
        (tmp / "a.txt").write_text("whole")
    assert (tmp_path / "deep" / "set" / "a.txt").read_text() == "whole"
    with pytest.raises(FileExistsError, match="exists; choose a new folder"), atomic_dir(tmp_path / "deep" / "set"):
        pass


def test_pid_lock_refuses_a_live_owner_and_takes_over_a_dead_ones(tmp_path: Path) -> None:
    with pid_lock(tmp_path) as notes:
        assert notes == []
        assert json.loads((tmp_path / ".lock").read_text())["pid"] == os.getpid()
        with pytest.raises(LockedError, match=f"in use by a run with pid {os.getpid()}"):
            with pid_lock(tmp_path):
                pass
    assert not (tmp_path / ".lock").exists()  # released

    dead = _dead_pid()
    (tmp_path / ".lock").write_text(json.dumps({"pid": dead, "host": os.uname().nodename}))
    with pid_lock(tmp_path) as notes:
        assert notes == [f"removed the stale lock of pid {dead} (that process is gone)"]
    (tmp_path / ".lock").write_text("")  # killed while writing the lock itself
    with pid_lock(tmp_path) as notes:
        assert "stale lock" in notes[0]
    (tmp_path / ".lock").write_text(json.dumps({"pid": 1, "host": "elsewhere"}))
    with pytest.raises(LockedError, match="pid 1 on elsewhere"):  # cannot tell: never taken over
        with pid_lock(tmp_path):
            pass
