"""Reader for the IDX format of MNIST and Fashion-MNIST (optionally gzip-compressed).

A file is checked against its own header before it is trusted: the magic
number, the number of dimensions and the byte count the dimensions imply, so
a truncated download or a wrong file is an error naming the problem.
"""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np

__all__ = ["read_idx", "write_idx"]

_DTYPES = {
    0x08: np.uint8,
    0x09: np.int8,
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """The array stored in an IDX file (``.gz`` is decompressed on the fly)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"IDX file {str(p)!r} not found")
    try:
        raw = gzip.decompress(p.read_bytes()) if p.suffix == ".gz" else p.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise ValueError(f"{p} is not a readable gzip file ({exc}); it may be truncated or corrupt") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _DTYPES:
        raise ValueError(f"{p} is not an IDX file (bad magic number {raw[:4].hex() or 'empty'})")
    dtype, ndim = np.dtype(_DTYPES[raw[2]]), raw[3]  # type: ignore[call-overload]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{p} is truncated: its header needs {header} bytes, the file has {len(raw)}")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    expected = header + int(np.prod(dims)) * dtype.itemsize
    if len(raw) != expected:
        what = "truncated" if len(raw) < expected else "longer than its header says"
        raise ValueError(f"{p} is {what}: expected {expected} bytes for shape {dims}, got {len(raw)}")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def write_idx(path: str | os.PathLike[str], array: np.ndarray, gz: bool = True) -> Path:
    """Write ``array`` (uint8) in the IDX format that MNIST and Fashion-MNIST use (gzip-compressed unless ``gz`` is
    False): stand-in data sets for tests and benchmarks that must not depend on a download."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    raw = header + array.astype(np.uint8).tobytes()
    Path(path).write_bytes(gzip.compress(raw, compresslevel=1) if gz else raw)
    return Path(path)
