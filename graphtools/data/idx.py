"""Read IDX files (the format of the MNIST distribution), raw or gzip-compressed.

An IDX file is: two zero bytes, a type byte, a byte ``ndim``, then ``ndim``
big-endian uint32 dimensions, then the data in C order.  MNIST uses type
``0x08`` (unsigned byte): images have magic ``0x00000803`` and dims
``(N, 28, 28)``, labels magic ``0x00000801`` and dims ``(N,)``.

The header, the type and every dimension are checked, and the data must be
exactly ``prod(dims)`` bytes: a truncated file or one with trailing bytes is
refused with a one-line :class:`GraphtoolsError` naming the file.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib

import numpy as np

from graphtools.errors import GraphtoolsError

#: IDX type byte -> numpy dtype (big-endian where it matters).
IDX_TYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

#: No sensible IDX file is larger than this once decompressed (MNIST train images: 47 MB);
#: a gzip "bomb" is refused once it has expanded past it.
MAX_IDX_BYTES = 1 << 30


def _read_bytes(path: str) -> bytes:
    """The file's bytes, gunzipped when it is gzip (by magic, not by name), with a bounded size."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(2)
        if head != b"\x1f\x8b":
            with open(path, "rb") as handle:
                return handle.read()
        chunks, total = [], 0
        with gzip.open(path, "rb") as handle:
            while total <= MAX_IDX_BYTES:
                chunk = handle.read(1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
                total += len(chunk)
        data = b"".join(chunks)
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise GraphtoolsError(f"{path}: corrupt or truncated gzip file ({exc})") from None
    except FileNotFoundError:
        raise GraphtoolsError(f"{path}: no such file") from None
    except OSError as exc:
        raise GraphtoolsError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if len(data) > MAX_IDX_BYTES:
        raise GraphtoolsError(f"{path}: decompresses to more than {MAX_IDX_BYTES} bytes; not an IDX file")
    return data


def parse_idx(path: str, data: bytes) -> np.ndarray:
    """Decode the bytes of an IDX file (see the module docstring); ``path`` only names it in errors."""
    if len(data) < 4:
        raise GraphtoolsError(f"{path}: not an IDX file ({len(data)} bytes, shorter than the 4-byte magic)")
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code not in IDX_TYPES:
        raise GraphtoolsError(f"{path}: not an IDX file (bad magic number 0x{data[:4].hex()})")
    if ndim == 0:
        raise GraphtoolsError(f"{path}: IDX header declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise GraphtoolsError(f"{path}: truncated IDX header ({len(data)} bytes, needs {header})")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    dtype = IDX_TYPES[dtype_code]
    expected = math.prod(dims) * dtype.itemsize
    actual = len(data) - header
    if actual != expected:
        what = "truncated" if actual < expected else "corrupt (trailing bytes)"
        raise GraphtoolsError(
            f"{path}: IDX file is {what}: dimensions {'x'.join(map(str, dims))} need {expected} bytes "
            f"of data but the file holds {actual}"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    return array.astype(dtype.newbyteorder("="), copy=False)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file, raw or gzipped (detected by its magic bytes).

    Parameters
    ----------
    path : str or os.PathLike
        The file (e.g. ``train-images-idx3-ubyte`` or ``.gz``).

    Returns
    -------
    numpy.ndarray
        The array, in the file's dtype (native byte order) and shape.

    Raises
    ------
    GraphtoolsError
        For a missing file, a bad magic number, or data that does not match the header.

    Examples
    --------
    >>> import gzip, os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "labels.gz")
    >>> with gzip.open(path, "wb") as handle:  # magic 0x00000801: unsigned bytes, 1 dimension of 3
    ...     _ = handle.write(bytes([0, 0, 8, 1, 0, 0, 0, 3, 5, 0, 9]))
    >>> read_idx(path).tolist()
    [5, 0, 9]
    """
    path = os.fspath(path)
    return parse_idx(path, _read_bytes(path))
