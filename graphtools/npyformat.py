"""A strict reader of ``.npy`` headers that evaluates nothing and uses no private numpy API.

The ``.npy`` format (numpy's ``numpy.lib.format``, NEP 1): the magic string
``\\x93NUMPY``, a major and a minor version byte, the header length (2 bytes
little-endian in version 1.0, 4 bytes in 2.0 and 3.0), then the header: a
Python dict literal, Latin-1 text (UTF-8 in 3.0), padded with spaces and
ending in a newline, for example::

    {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }

This reader accepts exactly that: a dict whose keys are the three quoted
strings ``descr``, ``fortran_order`` and ``shape``, each once; ``descr`` a
quoted simple dtype string (``<f4``, ``|u1``, ``<U20`` ...; no structured
dtypes), ``fortran_order`` ``True`` or ``False``, ``shape`` a tuple of at most
:data:`MAX_DIMS` non-negative decimal integers below ``2**63``.  The header is
tokenised by one regular expression in a single left-to-right pass, so a
hostile header costs time linear in its length (at most :data:`MAX_HEADER`
bytes) and no recursion.  Every defect raises :class:`NpyHeaderError` with a
one-line reason; the caller adds the file name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

MAGIC = b"\x93NUMPY"
#: numpy itself refuses headers above 10,000 bytes unless told otherwise; a valid header
#: of :data:`MAX_DIMS` dimensions needs well under 2 kB.
MAX_HEADER = 65_536
MAX_DIMS = 64
_MAX_DIM = 2**63 - 1

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<str>'[^'\\\n]*'|"[^"\\\n]*")
      | (?P<int>[0-9]+)L?
      | (?P<name>True|False)
      | (?P<punct>[{}()\[\]:,])
    )""",
    re.VERBOSE,
)
#: The header exactly as numpy writes it (key order, spacing): parsed by one match, the general
#: tokeniser handling every other spelling.
_CANONICAL = re.compile(
    r"\{'descr': '([^'\\]{1,40})', 'fortran_order': (True|False), 'shape': \(((?:[0-9]{1,19}, ?)*(?:[0-9]{1,19})?)\), \}"
)
_DESCR = re.compile(r"[<>|=]?[a-zA-Z?][0-9]{0,6}(\[[a-z]{1,2}\])?")


class NpyHeaderError(ValueError):
    """The header of an ``.npy`` stream is not one this reader accepts."""


@dataclass(frozen=True)
class NpyHeader:
    """What an ``.npy`` header declares; ``offset`` is where the data starts."""

    version: tuple[int, int]
    dtype: np.dtype
    fortran_order: bool
    shape: tuple[int, ...]
    offset: int

    @property
    def nbytes(self) -> int:
        """Bytes of data the header declares: ``prod(shape) * itemsize`` (exact integers)."""
        n = self.dtype.itemsize
        for s in self.shape:
            n *= s
        return n


def _read_exact(handle, n: int, what: str) -> bytes:
    data = handle.read(n)
    if len(data) != n:
        raise NpyHeaderError(f"truncated {what} ({len(data)} of {n} bytes)")
    return data


def _tokens(text: str):
    pos, end = 0, len(text.rstrip())
    while pos < end:
        m = _TOKEN.match(text, pos)
        if m is None:
            raise NpyHeaderError(f"unexpected text {text[pos:pos + 20].strip()!r} at header offset {pos}")
        pos = m.end()
        kind = m.lastgroup
        yield kind, m.group(kind)


def parse_header_text(text: str) -> tuple[str, bool, tuple[int, ...]]:
    """``(descr, fortran_order, shape)`` of a header dict literal; :class:`NpyHeaderError` otherwise."""
    m = _CANONICAL.fullmatch(text.rstrip())
    if m is not None:
        dims = tuple(int(d) for d in m.group(3).split(",") if d.strip())
        one_ok = len(dims) != 1 or m.group(3).rstrip().endswith(",")
        if one_ok and len(dims) <= MAX_DIMS and all(d <= _MAX_DIM for d in dims):
            return m.group(1), m.group(2) == "True", dims
    tokens = list(_tokens(text))  # at most MAX_HEADER tokens
    pos = 0

    def take(kind: str, value: str | None = None, what: str = "") -> str:
        nonlocal pos
        if pos >= len(tokens):
            raise NpyHeaderError(f"header ends early, expected {what or value or kind}")
        k, v = tokens[pos]
        if k != kind or (value is not None and v != value):
            raise NpyHeaderError(f"expected {what or value or kind} in the header, found {v!r}")
        pos += 1
        return v

    def peek(value: str) -> bool:
        return pos < len(tokens) and tokens[pos][1] == value

    take("punct", "{", "'{'")
    fields: dict[str, object] = {}
    while not peek("}"):
        key = take("str", what="a quoted key")[1:-1]
        if key not in ("descr", "fortran_order", "shape"):
            raise NpyHeaderError(f"unexpected key {key!r} (expected descr, fortran_order, shape)")
        if key in fields:
            raise NpyHeaderError(f"key {key!r} appears twice")
        take("punct", ":", "':'")
        if key == "descr":
            fields[key] = take("str", what="a quoted dtype string for descr")[1:-1]
        elif key == "fortran_order":
            fields[key] = take("name", what="True or False for fortran_order") == "True"
        else:
            take("punct", "(", "'(' opening shape")
            dims: list[int] = []
            while not peek(")"):
                digits = take("int", what="a non-negative integer in shape")
                if len(digits) > 19 or int(digits) > _MAX_DIM:
                    raise NpyHeaderError(f"shape dimension {digits[:30]} is too large")
                dims.append(int(digits))
                if len(dims) > MAX_DIMS:
                    raise NpyHeaderError(f"shape has more than {MAX_DIMS} dimensions")
                if not peek(")"):
                    take("punct", ",", "',' or ')' in shape")
            if len(dims) == 1 and tokens[pos - 1][1] != ",":
                raise NpyHeaderError("a one-dimensional shape needs a trailing comma, e.g. (3,)")
            take("punct", ")", "')' closing shape")
            fields[key] = tuple(dims)
        if not peek("}"):
            take("punct", ",", "',' or '}' after a value")
    take("punct", "}", "'}'")
    if pos != len(tokens):
        raise NpyHeaderError(f"unexpected {tokens[pos][1]!r} after the header dict")
    missing = [k for k in ("descr", "fortran_order", "shape") if k not in fields]
    if missing:
        raise NpyHeaderError(f"header lacks {', '.join(missing)}")
    return fields["descr"], fields["fortran_order"], fields["shape"]  # type: ignore[return-value]


def parse_descr(descr: str) -> np.dtype:
    """The numpy dtype of a simple ``descr`` string such as ``<f4``; NpyHeaderError otherwise."""
    if not _DESCR.fullmatch(descr):
        raise NpyHeaderError(f"unsupported dtype description {descr[:40]!r}")
    try:
        return np.dtype(descr)
    except (TypeError, ValueError, SyntaxError):
        raise NpyHeaderError(f"unsupported dtype description {descr!r}") from None


def read_header(handle) -> NpyHeader:
    """Read and check the magic, version and header of the ``.npy`` stream at ``handle``'s position.

    Returns the :class:`NpyHeader`; ``offset`` counts from where reading started.
    Raises :class:`NpyHeaderError` for anything but a well-formed version 1.0, 2.0
    or 3.0 header.
    """
    head = _read_exact(handle, 8, "magic string")
    if head[:6] != MAGIC:
        raise NpyHeaderError("not an .npy stream (bad magic string)")
    version = (head[6], head[7])
    if version not in ((1, 0), (2, 0), (3, 0)):
        raise NpyHeaderError(f"unsupported .npy format version {version[0]}.{version[1]} (expected 1.0, 2.0 or 3.0)")
    width = 2 if version == (1, 0) else 4
    length = int.from_bytes(_read_exact(handle, width, "header length"), "little")
    if length > MAX_HEADER:
        raise NpyHeaderError(f"header length {length} exceeds the {MAX_HEADER}-byte limit")
    raw = _read_exact(handle, length, "header")
    try:
        text = raw.decode("utf-8" if version == (3, 0) else "latin-1")
    except UnicodeDecodeError:
        raise NpyHeaderError("header is not valid UTF-8") from None
    descr, fortran, shape = parse_header_text(text)
    return NpyHeader(version, parse_descr(descr), fortran, shape, 8 + width + length)


def shape_problem(shape: tuple[int, ...], itemsize: int) -> str | None:
    """Why numpy could not hold an array of ``shape`` (even an empty one), or None when it can.

    numpy needs every dimension and the product of the nonzero dimensions times the
    item size to fit in a signed 64-bit integer.
    """
    if len(shape) > MAX_DIMS:
        return f"{len(shape)} dimensions (at most {MAX_DIMS})"
    product = max(itemsize, 1)
    for s in shape:
        if s > _MAX_DIM:
            return f"dimension {s} exceeds 2**63 - 1"
        product *= max(s, 1)
        if product > _MAX_DIM:
            return f"shape {list(shape)} is too large for any array"
    return None
