"""Read ``.safetensors`` files with numpy alone.

Layout (the safetensors format of Hugging Face): an 8-byte little-endian
unsigned integer ``N``, then ``N`` bytes of UTF-8 JSON (possibly padded with
spaces), then the data buffer.  The JSON maps each tensor name to
``{"dtype", "shape", "data_offsets": [begin, end]}`` with offsets relative to
the start of the data buffer; an optional ``"__metadata__"`` maps strings to
strings.

The whole header is validated the way the reference reader validates it
*before* any tensor byte is read: header at most 100 MB, JSON starting with
``{``, known dtypes, ``end - begin == prod(shape) * itemsize``, offsets
contiguous from 0 with no hole or overlap, and file size ``== 8 + N + last
end``.  So a header that claims 10**15 bytes fails on arithmetic and
allocates nothing.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass

import numpy as np

from graphtools.errors import GraphtoolsError

MAX_HEADER_BYTES = 100_000_000

#: dtype name -> (numpy dtype used to read the bytes, bytes per element)
DTYPES: dict[str, tuple[str, int]] = {
    "F64": ("<f8", 8),
    "F32": ("<f4", 4),
    "F16": ("<f2", 2),
    "BF16": ("<u2", 2),  # decoded to float32 after reading
    "I64": ("<i8", 8),
    "I32": ("<i4", 4),
    "I16": ("<i2", 2),
    "I8": ("i1", 1),
    "U64": ("<u8", 8),
    "U32": ("<u4", 4),
    "U16": ("<u2", 2),
    "U8": ("u1", 1),
    "BOOL": ("u1", 1),  # decoded as != 0
}

#: dtypes of the format that numpy cannot represent; refused by name.
UNDECODABLE = frozenset(
    {"F8_E4M3", "F8_E5M2", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4", "C64", "C128"}
)


@dataclass(frozen=True)
class TensorEntry:
    """One tensor of the header: where its bytes are, relative to the data buffer."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int


def _bad(path: str, why: str) -> GraphtoolsError:
    return GraphtoolsError(f"{path}: invalid safetensors file: {why}")


def _no_duplicate_keys(pairs):
    obj = {}
    for key, value in pairs:
        if key in obj:
            raise ValueError(f"duplicate key {key!r}")
        obj[key] = value
    return obj


def _is_count(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def _parse_entry(path: str, name: str, info) -> TensorEntry:
    if not isinstance(info, dict):
        raise _bad(path, f"entry {name!r} is not an object")
    dtype = info.get("dtype")
    shape = info.get("shape")
    offsets = info.get("data_offsets")
    if not isinstance(dtype, str):
        raise _bad(path, f"tensor {name!r} has no dtype string")
    if dtype in UNDECODABLE:
        raise GraphtoolsError(
            f"{path}: tensor {name!r} has dtype {dtype}, which graphtools cannot decode "
            "(convert the checkpoint to F32, F16 or BF16)"
        )
    if dtype not in DTYPES:
        raise _bad(path, f"tensor {name!r} has unknown dtype {dtype!r}")
    if not isinstance(shape, list) or not all(_is_count(s) for s in shape):
        raise _bad(path, f"tensor {name!r} has an invalid shape {shape!r}")
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(_is_count(o) for o in offsets)
        or offsets[0] > offsets[1]
    ):
        raise _bad(path, f"tensor {name!r} has invalid data_offsets {offsets!r}")
    return TensorEntry(name, dtype, tuple(shape), offsets[0], offsets[1])


def read_header(path: str, handle, file_size: int) -> tuple[list[TensorEntry], dict[str, str], int]:
    """Parse and validate the header; return (entries sorted by offset, metadata, data start)."""
    if file_size < 8:
        raise _bad(path, f"file is {file_size} bytes, shorter than the 8-byte header length")
    n = int.from_bytes(handle.read(8), "little")
    if n > MAX_HEADER_BYTES:
        raise _bad(path, f"header length {n} exceeds the 100 MB limit")
    if 8 + n > file_size:
        raise _bad(path, f"header claims {n} bytes but the file holds only {file_size - 8} after the length")
    raw = handle.read(n)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _bad(path, "header is not UTF-8") from None
    if not text.startswith("{"):
        raise _bad(path, "header does not start with '{'")
    try:
        header = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except ValueError as exc:
        raise _bad(path, f"header is not valid JSON ({exc})") from None
    except RecursionError:
        raise _bad(path, "header JSON is nested too deeply") from None
    if not isinstance(header, dict):
        raise _bad(path, "header is not a JSON object")
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise _bad(path, "__metadata__ must map strings to strings")
    entries = sorted(
        (_parse_entry(path, name, info) for name, info in header.items()),
        key=lambda e: (e.begin, e.end),
    )
    position = 0
    for e in entries:
        if e.begin != position:
            kind = "overlaps the previous tensor" if e.begin < position else "leaves a hole before it"
            raise _bad(path, f"tensor {e.name!r} at offset {e.begin} {kind} (expected offset {position})")
        expected = math.prod(e.shape) * DTYPES[e.dtype][1]
        if e.end - e.begin != expected:
            raise _bad(
                path,
                f"tensor {e.name!r} spans {e.end - e.begin} bytes but shape {list(e.shape)} "
                f"of {e.dtype} needs {expected}",
            )
        position = e.end
    if 8 + n + position != file_size:
        raise _bad(
            path,
            f"header and tensors account for {8 + n + position} bytes but the file has {file_size} "
            "(truncated or trailing data)",
        )
    return entries, metadata, 8 + n


def _read_tensor(handle, data_start: int, e: TensorEntry) -> np.ndarray:
    np_dtype, _ = DTYPES[e.dtype]
    arr = np.empty(math.prod(e.shape), dtype=np_dtype)
    handle.seek(data_start + e.begin)
    got = handle.readinto(arr.view(np.uint8)) if arr.size else 0
    if got != e.end - e.begin:
        raise GraphtoolsError(f"tensor {e.name!r} is truncated")
    if e.dtype == "BF16":
        arr = (arr.astype(np.uint32) << 16).view(np.float32)
    elif e.dtype == "BOOL":
        arr = arr != 0
    return arr.reshape(e.shape)


def load_safetensors(path: str) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Return ``(tensors, metadata)`` of a ``.safetensors`` file, in header order of offsets.

    Raises GraphtoolsError for any invalid header before reading tensor data.
    """
    size = os.path.getsize(path)
    with open(path, "rb") as handle:
        entries, metadata, data_start = read_header(path, handle, size)
        tensors = {e.name: _read_tensor(handle, data_start, e) for e in entries}
    return tensors, dict(metadata)


# ---------------------------------------------------------------- writing

#: numpy dtype (little-endian) -> safetensors dtype name, for writing.
_WRITE_DTYPES: dict[str, str] = {
    "float64": "F64", "float32": "F32", "float16": "F16",
    "int64": "I64", "int32": "I32", "int16": "I16", "int8": "I8",
    "uint64": "U64", "uint32": "U32", "uint16": "U16", "uint8": "U8", "bool": "BOOL",
}


def write_safetensors(path, tensors: dict[str, np.ndarray], metadata: dict[str, str] | None = None) -> None:
    """Write ``tensors`` (name -> array) as a ``.safetensors`` file, atomically.

    The layout of the module docstring: the header JSON (padded with spaces to a
    multiple of 8 bytes, as the reference writer does) maps each name to its dtype,
    shape and ``data_offsets``; tensors follow contiguously in the given order,
    C-ordered and little-endian; ``metadata`` (strings to strings) goes under
    ``__metadata__``.  dtypes: F64, F32, F16, I64-I8, U64-U8, BOOL; anything else
    raises GraphtoolsError and nothing is written.
    """
    from graphtools.atomic import atomic_open

    header: dict = {}
    if metadata:
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise GraphtoolsError("safetensors metadata must map strings to strings")
        header["__metadata__"] = dict(metadata)
    blobs = []
    offset = 0
    for name, value in tensors.items():
        if name == "__metadata__":
            raise GraphtoolsError("a tensor cannot be named __metadata__ in a safetensors file")
        arr = np.asarray(value)
        dtype = _WRITE_DTYPES.get(arr.dtype.name)
        if dtype is None:
            raise GraphtoolsError(f"tensor {name!r} has dtype {arr.dtype}, which safetensors cannot hold")
        data = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<") if arr.dtype.itemsize > 1 else arr.dtype)
        raw = data.tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with atomic_open(path, "wb") as handle:
        handle.write(len(text).to_bytes(8, "little"))
        handle.write(text)
        for raw in blobs:
            handle.write(raw)
