"""A reader for the idx format of MNIST and Fashion-MNIST (plain or gzip-compressed).

An idx file starts with the magic number ``00 00 TT DD`` (TT: element type, 0x08 for
unsigned bytes; DD: number of dimensions), then DD big-endian uint32 sizes, then the data in
row-major order (format described at http://yann.lecun.com/exdb/mnist/).
"""

from __future__ import annotations

import gzip
import math
from pathlib import Path
import struct
import zlib

import numpy as np

from autokd.exceptions import ConfigError

__all__ = ["read_idx"]

_UBYTE = 0x08
_GZIP_MAGIC = b"\x1f\x8b"


def read_idx(path: Path, *, ndim: int) -> np.ndarray:
    """Reads an idx file of unsigned bytes.

    Args:
        path: The file, gzip-compressed or not (told apart by its first bytes).
        ndim: The number of dimensions it must have (3 for images, 1 for labels).

    Returns:
        A read-only uint8 array of the sizes the header gives.

    Raises:
        ConfigError: Naming the file, if it is not valid gzip, has a wrong magic number, or
            its size does not match its header.
    """
    raw = _read(path)
    magic = raw[:4]
    if len(magic) < 4 or magic[:2] != b"\0\0" or magic[2] != _UBYTE or magic[3] != ndim:
        raise ConfigError(
            "",
            f"an idx file of unsigned bytes with {ndim} dimension(s) "
            f"(magic number 0x000008{ndim:02x})",
            f"magic number 0x{magic.hex() or 'nothing'}",
            file=str(path),
        )
    start = 4 + 4 * ndim
    if len(raw) < start:
        raise ConfigError("", f"a header of {start} bytes", f"{len(raw)} bytes", file=str(path))
    dims = struct.unpack(f">{ndim}I", raw[4:start])
    size = start + math.prod(dims)
    if len(raw) != size:
        problem = "the file is truncated" if len(raw) < size else "trailing bytes"
        raise ConfigError(
            "",
            f"{size} bytes (a header for sizes {dims})",
            f"{len(raw)} bytes: {problem}",
            file=str(path),
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=start).reshape(dims)


def _read(path: Path) -> bytes:
    with path.open("rb") as f:
        raw = f.read()
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise ConfigError(
            "", "a complete gzip file", f"a broken one ({exc})", file=str(path)
        ) from None
