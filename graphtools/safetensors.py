"""Read ``.safetensors`` files with numpy alone.

Layout (the safetensors format of Hugging Face): an 8-byte little-endian
unsigned integer ``N``, then ``N`` bytes of UTF-8 JSON (possibly padded with
spaces), then the data buffer.  The JSON maps each tensor name to
``{"dtype", "shape", "data_offsets": [begin, end]}`` with offsets relative to
the start of the data buffer; an optional ``"__metadata__"`` maps strings to
strings.

The whole header is validated the way the reference reader validates it
*before* any tensor byte is read: header at most 100 MB, parsed in one
linear pass that accepts only the header grammar (an object of tensor
objects with exactly ``dtype``, ``shape``, ``data_offsets``, plus
``__metadata__``; no duplicate keys; never a general JSON tree), known dtypes, ``end - begin == prod(shape) * itemsize``, offsets
contiguous from 0 with no hole or overlap, and file size ``== 8 + N + last
end``.  So a header that claims 10**15 bytes fails on arithmetic and
allocates nothing.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from json.decoder import scanstring

import numpy as np

from graphtools import budget
from graphtools.errors import GraphtoolsError
from graphtools.npyformat import shape_problem

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


_WS = re.compile(r"[ \t\n\r]*")
_NUM = r"(?:0|[1-9][0-9]{0,19})"
_INT_LIST = re.compile(rf"\[[ \t\n\r]*(?:{_NUM}(?:[ \t\n\r]*,[ \t\n\r]*{_NUM}){{0,63}})?[ \t\n\r]*\]")
_ENTRY_KEYS = ("dtype", "shape", "data_offsets")
#: A ``"name": {entry}`` pair as the reference writer spells it (fields in this order, a name
#: without escapes), then the ``,`` or ``}`` after it; matched in one step.
_PAIR_FAST = re.compile(
    r'[ \t\n\r]*"([^"\\\x00-\x1f]*)"[ \t\n\r]*:'
    r'[ \t\n\r]*\{[ \t\n\r]*"dtype"[ \t\n\r]*:[ \t\n\r]*"([A-Z0-9_]{1,12})"[ \t\n\r]*,'
    r'[ \t\n\r]*"shape"[ \t\n\r]*:[ \t\n\r]*(\[[ \t\n\r0-9,]{0,1400}\])[ \t\n\r]*,'
    r'[ \t\n\r]*"data_offsets"[ \t\n\r]*:[ \t\n\r]*(\[[ \t\n\r0-9,]{0,50}\])[ \t\n\r]*\}'
    r'[ \t\n\r]*([,}])'
)


class _Cursor:
    """A single left-to-right pass over the header text: each step looks at the next few
    characters only, so the parse is linear in the header's length and never recurses."""

    def __init__(self, path: str, text: str):
        self.path, self.text, self.pos = path, text, 0

    def skip(self) -> None:
        self.pos = _WS.match(self.text, self.pos).end()

    def expect(self, char: str, where: str) -> None:
        self.skip()
        if self.text[self.pos:self.pos + 1] != char:
            found = self.text[self.pos:self.pos + 12] or "the end of the header"
            raise _bad(self.path, f"header is not valid JSON of the safetensors layout: expected {char!r} {where}, "
                                  f"found {found!r} at header offset {self.pos}")
        self.pos += 1

    def peek(self, char: str) -> bool:
        self.skip()
        return self.text[self.pos:self.pos + 1] == char

    def string(self, where: str) -> str:
        self.expect('"', where)
        try:
            value, self.pos = scanstring(self.text, self.pos)
        except ValueError as exc:
            raise _bad(self.path, f"bad string {where} ({exc})") from None
        return value

    def counts(self, what: str) -> list[int]:
        self.skip()
        m = _INT_LIST.match(self.text, self.pos)
        if m is None:
            close = self.text.find("]", self.pos, self.pos + 40)
            shown = self.text[self.pos:close + 1] if close >= 0 else self.text[self.pos:self.pos + 40] + "..."
            raise _bad(self.path, f"{what} {shown} (expected a list of at most 64 non-negative integers, "
                                  f"header offset {self.pos})")
        self.pos = m.end()
        return [int(v) for v in m.group()[1:-1].split(",") if v.strip()]

    def members(self, where: str):
        """Yield each key of the object at the cursor (the caller reads its value)."""
        self.expect("{", where)
        seen: set[str] = set()
        if self.peek("}"):
            self.pos += 1
            return
        while True:
            key = self.string(f"as a key {where}")
            if key in seen:
                raise _bad(self.path, f"duplicate key {key!r} {where}")
            seen.add(key)
            self.expect(":", f"after key {key!r}")
            yield key
            if self.peek(","):
                self.pos += 1
                continue
            self.expect("}", f"closing the object {where}")
            return


def _parse_entry(path: str, cur: _Cursor, name: str) -> TensorEntry:
    if not cur.peek("{"):
        raise _bad(path, f"entry {name!r} is not an object (a JSON {{...}})")
    fields: dict = {}
    for key in cur.members(f"of tensor {name!r}"):
        if key == "dtype":
            fields[key] = cur.string(f"as the dtype of tensor {name!r}")
        elif key in ("shape", "data_offsets"):
            fields[key] = cur.counts(f"tensor {name!r} has an invalid {key}")
        else:
            raise _bad(path, f"tensor {name!r} has an unexpected field {key!r}")
    missing = [k for k in _ENTRY_KEYS if k not in fields]
    if missing:
        raise _bad(path, f"tensor {name!r} lacks {', '.join(missing)}")
    return _entry(path, name, fields["dtype"], fields["shape"], fields["data_offsets"])


def _entry(path: str, name: str, dtype: str, shape: list[int], offsets: list[int]) -> TensorEntry:
    if dtype in UNDECODABLE:
        raise GraphtoolsError(
            f"{path}: tensor {name!r} has dtype {dtype}, which graphtools cannot decode "
            "(convert the checkpoint to F32, F16 or BF16)"
        )
    if dtype not in DTYPES:
        raise _bad(path, f"tensor {name!r} has unknown dtype {dtype[:40]!r}")
    problem = shape_problem(tuple(shape), DTYPES[dtype][1])
    if problem:
        raise _bad(path, f"tensor {name!r} has an impossible shape: {problem}")
    if len(offsets) != 2 or offsets[0] > offsets[1]:
        raise _bad(path, f"tensor {name!r} has invalid data_offsets {offsets!r}")
    return TensorEntry(name, dtype, tuple(shape), offsets[0], offsets[1])


def _ints(text: str) -> list[int]:
    return [int(v) for v in text[1:-1].split(",") if v.strip()]


def _parse_metadata(cur: _Cursor) -> dict[str, str]:
    out = {}
    for key in cur.members("in __metadata__"):
        out[key] = cur.string(f"as the value of __metadata__ key {key!r} (values must be strings)")
    return out


def parse_header_text(path: str, text: str) -> tuple[list[TensorEntry], dict[str, str]]:
    """Entries (in header order) and metadata of the header JSON ``text``, validated in one pass.

    Accepts exactly the safetensors header grammar: one object whose values are
    tensor objects with the fields ``dtype`` (string), ``shape`` and ``data_offsets``
    (lists of non-negative integers) and, once, ``__metadata__`` (strings to strings).
    Anything else is refused at the first character that cannot belong to it.  A
    pair spelled as the reference writer spells it is taken by one regular
    expression match; any other spelling goes through the general parse.
    """
    cur = _Cursor(path, text)
    entries: list[TensorEntry] = []
    metadata: dict[str, str] = {}
    seen: set[str] = set()
    where = "at the top of the header"
    cur.expect("{", where)
    done = cur.peek("}")
    if done:
        cur.pos += 1
    while not done:
        m = _PAIR_FAST.match(text, cur.pos)
        if m is not None and _INT_LIST.fullmatch(m.group(3)) and _INT_LIST.fullmatch(m.group(4)):
            name = m.group(1)
            entry = _entry(path, name, m.group(2), _ints(m.group(3)), _ints(m.group(4)))
            cur.pos, done = m.end(), m.group(5) == "}"
        else:
            name = cur.string(f"as a key {where}")
            cur.expect(":", f"after key {name!r}")
            entry = None
            if name == "__metadata__" and name not in seen:
                metadata = _parse_metadata(cur)
            elif name != "__metadata__":
                entry = _parse_entry(path, cur, name)
            if cur.peek(","):
                cur.pos += 1
            else:
                cur.expect("}", f"closing the object {where}")
                done = True
        if name in seen:
            raise _bad(path, f"duplicate key {name!r} {where}")
        seen.add(name)
        if entry is not None:
            entries.append(entry)
    cur.skip()
    if cur.pos != len(text):
        raise _bad(path, f"unexpected text after the header object at offset {cur.pos}")
    return entries, metadata


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
    del raw  # the text alone from here on: the parse costs at most about twice the header's size
    entries, metadata = parse_header_text(path, text)
    entries.sort(key=lambda e: (e.begin, e.end))
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


def _read_tensor(path: str, handle, data_start: int, e: TensorEntry) -> np.ndarray:
    """One tensor, read straight into its array; BF16 is widened in place of a second temporary."""
    np_dtype, _ = DTYPES[e.dtype]
    arr = np.empty(math.prod(e.shape), dtype=np_dtype)
    handle.seek(data_start + e.begin)
    got = handle.readinto(arr.view(np.uint8)) if arr.size else 0
    if got != e.end - e.begin:
        raise GraphtoolsError(f"{path}: tensor {e.name!r} is truncated")
    if e.dtype == "BF16":
        wide = arr.astype(np.uint32)
        del arr
        wide <<= 16
        arr = wide.view(np.float32)
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
        budget.check(sum((e.end - e.begin) * (2 if e.dtype == "BF16" else 1) for e in entries), f"loading {path}")
        tensors = {e.name: _read_tensor(path, handle, data_start, e) for e in entries}
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
