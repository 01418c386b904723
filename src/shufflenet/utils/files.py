"""Files the tool writes: checked before work starts, written atomically, owned by one run at a time.

* :func:`check_output_file` / :func:`check_output_dir`: a destination that cannot be written (a
  directory where a file is wanted or the reverse, a missing or read-only directory) is a one-line
  error before an hour of work, not a traceback after it.
* :func:`atomic_path` / :func:`atomic_write`: a crash mid-write never leaves a half-written file;
  the temporary file of a write killed outright (``kill -9``) is removed by the next write there.
* :func:`atomic_dir`: a new folder (a dataset) appears whole or not at all.
* :func:`pid_lock`: a directory used by one process at a time; a lock left by a dead process is
  detected from its pid and taken over.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = [
    "LockedError",
    "atomic_dir",
    "atomic_path",
    "atomic_write",
    "check_output_dir",
    "check_artifact_name",
    "check_output_file",
    "folder_given",
    "pid_lock",
]


def folder_given(path: str | os.PathLike[str], wanted: str) -> IsADirectoryError:
    """The error for a folder given where a file (``wanted``, e.g. "a checkpoint") is expected; a run's
    folder names the checkpoint in it."""
    found = [str(Path(path) / n) for n in ("best.pt", "last.pt") if (Path(path) / n).is_file()]
    if not found:
        return IsADirectoryError(f"{path} is a directory; give {wanted}")
    return IsADirectoryError(f"{path} is a run's directory; give a checkpoint in it: {' or '.join(found)} "
                             "(--resume continues last.pt)")  # fmt: skip


def check_artifact_name(path: str | os.PathLike[str], suffix: str, what: str, weights: str = "") -> Path:
    """``path`` as the name of an artifact of one runtime. Every reader picks the runtime by the exact
    suffix (an ONNX file named MODEL.xml would go to OpenVINO, MODEL.ONNX to none), so the writer
    requires it; ``weights`` is the suffix of the file written beside it, if any."""
    p = Path(path)
    if not p.name.endswith(suffix) or p.name == suffix:
        beside = f" (its weights go to MODEL{weights} beside it)" if weights else ""
        raise ValueError(f"{p}: {what} is MODEL{suffix}{beside}; name it so (or give the format that file name "
                         "is for)")  # fmt: skip
    return p


def _writable_dir(directory: Path, what: str, path: Path) -> None:
    if not os.access(directory, os.W_OK | os.X_OK):
        raise PermissionError(f"cannot write {what} {str(path)!r}: directory {str(directory)!r} is not writable "
                              "(choose another destination)")  # fmt: skip


def check_output_file(path: str | os.PathLike[str], what: str = "output file") -> Path:
    """``path`` as a file to be written: not a directory, in an existing writable directory."""
    p = Path(path)
    if p.is_dir():
        raise IsADirectoryError(f"{what} {str(p)!r} is a directory; give a file path (e.g. {p / 'NAME'})")
    parent = p.parent
    if not parent.exists():
        raise FileNotFoundError(f"directory {str(parent)!r} of {what} {str(p)!r} does not exist; create it first")
    if not parent.is_dir():
        raise NotADirectoryError(f"{what} {str(p)!r}: {str(parent)!r} is a file, not a directory")
    _writable_dir(parent, what, p)
    return p


def check_output_dir(path: str | os.PathLike[str], what: str = "output directory") -> Path:
    """``path`` as a directory to write into (created later if missing): not a file, and its nearest
    existing ancestor a writable directory."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise NotADirectoryError(f"{what} {str(p)!r} is a file; give a directory")
    existing = p
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise NotADirectoryError(f"{what} {str(p)!r}: {str(existing)!r} is a file, not a directory")
    _writable_dir(existing, what, p)
    return p


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _remove_orphans(target: Path) -> None:
    """Temporary files of earlier writes to ``target`` whose process is gone (killed mid-write)."""
    for tmp in target.parent.glob(f".{target.name}.*.tmp"):
        pid = tmp.name.removeprefix(f".{target.name}.").split(".")[0]
        if pid.isdigit() and not _pid_alive(int(pid)):
            tmp.unlink(missing_ok=True)


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` on success.

    On any exception the temporary file is removed and ``path`` is untouched,
    so an interrupted save keeps the previous file intact. The temporary name carries the
    writer's pid, so one left by a killed process is recognised and removed by the next write.
    """
    target = check_output_file(path)
    _remove_orphans(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would make shipped files private
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write(path: str | os.PathLike[str], write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp_path)`` and atomically move the result to ``path``."""
    with atomic_path(path) as tmp:
        write(tmp)
    return Path(path)


@contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``path``, renamed to ``path`` when the block ends well
    and removed when it does not. ``path`` must not exist yet."""
    target = check_output_dir(path)
    if target.exists():
        raise FileExistsError(f"{target} exists; choose a new folder (or delete it)")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        yield tmp
        tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


class LockedError(ValueError):
    """The directory is in use by another live process."""


LOCK_NAME = ".lock"


@contextmanager
def pid_lock(directory: str | os.PathLike[str], what: str = "directory") -> Iterator[list[str]]:
    """Hold ``directory/.lock`` (the owner's pid and host) for the duration of the block.

    A lock whose process is gone (killed with ``kill -9``) is taken over; the block receives a list
    of notes saying so. A live owner raises :class:`LockedError` naming its pid.
    """
    lock = Path(directory) / LOCK_NAME
    notes: list[str] = []
    me: dict[str, object] = {"pid": os.getpid(), "host": socket.gethostname()}
    for _ in range(3):  # a race with another starter: at most a retry or two
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                owner = json.loads(lock.read_text(encoding="utf-8"))
                pid, host = int(owner["pid"]), str(owner["host"])
            except (OSError, ValueError, KeyError, TypeError):
                pid, host = -1, str(me["host"])  # unreadable: written by a process killed mid-write
            if host != me["host"]:
                raise LockedError(f"{what} {str(directory)!r} is in use by pid {pid} on {host} ({lock}); "
                                  "wait for it, or delete the lock file if that run is gone") from None  # fmt: skip
            if pid > 0 and _pid_alive(pid):
                raise LockedError(f"{what} {str(directory)!r} is in use by a run with pid {pid}; wait for it to "
                                  "finish, stop it, or choose another --out") from None  # fmt: skip
            lock.unlink(missing_ok=True)
            notes.append(f"removed the stale lock of pid {pid} (that process is gone)")
            continue
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(me, f)
        break
    else:
        raise LockedError(f"could not lock {what} {str(directory)!r}: another process keeps taking it")
    try:
        yield notes
    finally:
        lock.unlink(missing_ok=True)
