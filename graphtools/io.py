"""Load checkpoints into a plain ``name -> numpy array`` state, safely.

Supported: ``.npz`` state dicts (``numpy.savez``; read member by member with
``allow_pickle=False`` semantics), a single ``.npy`` array, and
``.safetensors`` (see :mod:`graphtools.safetensors`), ``.onnx``
(:mod:`graphtools.onnx_format`, optional ``onnx``) and Keras ``.h5`` /
``.keras`` (:mod:`graphtools.keras_format`, optional ``h5py``).  Nothing is
ever unpickled: a PyTorch ``.pt`` pickle or TorchScript archive is recognised
and refused with the two lines of Python that convert it.

Every array header is checked against the bytes the archive really holds
before the array is allocated, so memory stays bounded by the file
(deflate expands at most 1032:1, and a member claiming more is refused).
Floating tensors must be finite; the offending tensor is named otherwise.
"""

from __future__ import annotations

import os
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from graphtools import budget
from graphtools.errors import GraphtoolsError
from graphtools.npyformat import NpyHeader, NpyHeaderError, read_header, shape_problem
from graphtools.safetensors import load_safetensors

#: Key under which graphtools' own checkpoints keep a JSON string of metadata.
META_KEY = "graphtools.meta"

#: How to turn a PyTorch .pt (state dict or TorchScript) into a file graphtools reads: two lines of Python.
TORCH_CONVERSION = (
    "Convert it in Python: `import torch, numpy` then `numpy.savez('model.npz', **{k: v.detach().numpy() "
    "for k, v in torch.load('model.pt', weights_only=True).items()})` (for TorchScript: "
    "`torch.jit.load('model.pt').state_dict().items()`)"
)

#: Deflate cannot expand data by more than about 1032:1.
_MAX_DEFLATE_RATIO = 1032


#: The file formats :func:`load_state` reads.
CheckpointFormat = Literal["npz", "npy", "safetensors", "onnx", "keras"]


@dataclass
class Checkpoint:
    """The tensors of a checkpoint file, in file order, and what the file says about itself."""

    path: str
    format: CheckpointFormat
    tensors: dict[str, np.ndarray]
    metadata: dict[str, str] = field(default_factory=dict)


def _sniff(path: str) -> CheckpointFormat:
    with open(path, "rb") as handle:
        head = handle.read(16)
    ext = os.path.splitext(path)[1].lower()
    if ext == ".onnx":
        return "onnx"
    if head.startswith(b"\x89HDF\r\n\x1a\n") or ext in (".h5", ".hdf5", ".keras"):
        return "keras"
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return "npz"
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    if head[:1] == b"\x80" and ext in (".pt", ".pth", ".pkl", ".bin", ".ckpt"):
        raise GraphtoolsError(f"{path}: this is a Python pickle; graphtools never unpickles. {TORCH_CONVERSION}")
    if ext == ".safetensors" or (len(head) > 8 and head[8:9] == b"{"):
        return "safetensors"
    if ext == ".npz":
        return "npz"
    if ext == ".npy":
        raise GraphtoolsError(f"{path}: not an .npy file (it does not begin with the .npy signature \\x93NUMPY)")
    raise GraphtoolsError(
        f"{path}: unrecognised checkpoint format (expected .npz, .npy, .safetensors, .onnx, .h5 or .keras)"
    )


def _check_dtype(path: str, key: str, dtype: np.dtype) -> None:
    if dtype.hasobject:
        raise GraphtoolsError(
            f"{path}: array {key!r} holds Python objects (pickled data), which graphtools never loads"
        )
    if dtype.kind == "c":
        raise GraphtoolsError(f"{path}: array {key!r} is complex ({dtype}); weights must be real")
    if dtype.kind not in "biuf" and not (key == META_KEY and dtype.kind == "U"):
        raise GraphtoolsError(f"{path}: array {key!r} has non-numeric dtype {dtype}")


#: Bytes read (and checked for NaN/Inf) at a time, so no temporary is larger than this.
_CHUNK = 1 << 24


def _npy_header(path: str, key: str, handle, available: int) -> NpyHeader:
    """The checked header of one .npy stream whose data part must be exactly what ``available`` leaves."""
    try:
        header = read_header(handle)
    except NpyHeaderError as exc:
        raise GraphtoolsError(f"{path}: array {key!r} has an invalid .npy header: {exc}") from None
    _check_dtype(path, key, header.dtype)
    problem = shape_problem(header.shape, header.dtype.itemsize)
    if problem:
        raise GraphtoolsError(f"{path}: array {key!r} has an impossible shape: {problem}")
    if header.nbytes != available - header.offset:
        raise GraphtoolsError(
            f"{path}: array {key!r} is truncated or corrupt: its header claims {header.nbytes} bytes "
            f"of data but the file holds {available - header.offset}"
        )
    return header


def _read_npy_data(path: str, key: str, handle, header: NpyHeader) -> np.ndarray:
    """Read the data after ``header`` straight into one new array, chunk by chunk (no second copy)."""
    flat = np.empty(header.nbytes // header.dtype.itemsize, dtype=header.dtype)
    raw = memoryview(flat.view(np.uint8))
    done = 0
    while done < header.nbytes:
        got = handle.readinto(raw[done:done + _CHUNK])
        if not got:
            raise GraphtoolsError(f"{path}: array {key!r} is truncated ({done} of {header.nbytes} bytes)")
        done += got
    _check_finite(path, key, flat)
    return flat.reshape(header.shape, order="F" if header.fortran_order else "C")


def _check_finite(path: str, key: str, flat: np.ndarray) -> None:
    """Refuse NaN/Inf in a floating array, testing :data:`_CHUNK` bytes at a time."""
    if flat.dtype.kind != "f":
        return
    step = max(1, _CHUNK // flat.dtype.itemsize)
    if flat.size <= step:
        if np.isfinite(flat).all():
            return
        step = flat.size
    bad = sum(int(np.count_nonzero(~np.isfinite(flat[i:i + step]))) for i in range(0, flat.size, step))
    if bad:
        raise GraphtoolsError(f"{path}: tensor {key!r} contains NaN or Inf ({bad} of {flat.size} entries)")


def _npz_members(path: str, archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    """The archive's members after the checks that need no decompression (linear in their number)."""
    infos = archive.infolist()
    seen: set[str] = set()
    for info in infos:
        if info.filename.endswith("data.pkl"):
            raise GraphtoolsError(
                f"{path}: this is a PyTorch pickle checkpoint (or TorchScript); graphtools never unpickles. "
                f"{TORCH_CONVERSION}")
        if info.filename in seen:
            raise GraphtoolsError(
                f"{path}: array {info.filename.removesuffix('.npy')!r} appears more than once in the archive"
            )
        seen.add(info.filename)
    for info in infos:
        if info.flag_bits & 0x1:
            raise GraphtoolsError(f"{path}: archive member {info.filename!r} is encrypted")
        if not info.filename.endswith(".npy"):
            raise GraphtoolsError(f"{path}: archive member {info.filename!r} is not a .npy array")
        key = info.filename[: -len(".npy")]
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise GraphtoolsError(f"{path}: array {key!r} uses an unsupported zip compression")
        if info.file_size > _MAX_DEFLATE_RATIO * info.compress_size + 1024:
            raise GraphtoolsError(
                f"{path}: array {key!r} claims {info.file_size} bytes, more than its "
                f"{info.compress_size} compressed bytes can hold"
            )
    return infos


def _load_npz(path: str) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The members' sizes after decompression (from the central directory, checked against each
    member's .npy header) are held against the memory budget before the first array is
    decompressed; then each array is read once, in place."""
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise GraphtoolsError(f"{path}: not a valid .npz (zip) archive") from None
    except NotImplementedError as exc:  # "zip file version 9.9": a "version needed to extract" above 6.3
        raise GraphtoolsError(f"{path}: unsupported .npz (zip) archive: {exc} is needed to extract it") from None
    tensors: dict[str, np.ndarray] = {}
    with archive:
        infos = _npz_members(path, archive)
        budget.check(sum(i.file_size for i in infos), f"loading {path}")
        for info in infos:
            key = info.filename[: -len(".npy")]
            with archive.open(info) as handle:
                tensors[key] = _read_npy_data(path, key, handle, _npy_header(path, key, handle, info.file_size))
    metadata = {}
    if META_KEY in tensors:
        metadata[META_KEY] = str(tensors.pop(META_KEY))
    return tensors, metadata


def _load_npy(path: str) -> dict[str, np.ndarray]:
    key = os.path.splitext(os.path.basename(path))[0]
    with open(path, "rb") as handle:
        header = _npy_header(path, key, handle, os.path.getsize(path))
        budget.check(header.nbytes, f"loading {path}")
        return {key: _read_npy_data(path, key, handle, header)}


def load_state(path: str | os.PathLike) -> Checkpoint:
    """Load a checkpoint file into a :class:`Checkpoint` (name -> array, in file order).

    Raises GraphtoolsError (one line, naming the file and the tensor) for a missing,
    truncated, corrupt, pickled, non-numeric or non-finite input.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise GraphtoolsError(f"{path}: no such file")
    if os.path.isdir(path):
        raise GraphtoolsError(f"{path}: is a directory, expected a checkpoint file")
    try:
        fmt = _sniff(path)
        metadata: dict[str, str] = {}
        if fmt == "npz":
            tensors, metadata = _load_npz(path)
        elif fmt == "npy":
            tensors = _load_npy(path)
        elif fmt == "onnx":
            from graphtools.onnx_format import load_onnx

            tensors, metadata = load_onnx(path)
        elif fmt == "keras":
            from graphtools.keras_format import load_keras

            tensors, metadata = load_keras(path)
        else:
            tensors, metadata = load_safetensors(path)
    except GraphtoolsError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, struct.error, ValueError, NotImplementedError) as exc:
        raise GraphtoolsError(f"{path}: corrupt {os.path.splitext(path)[1] or 'checkpoint'} file ({exc})") from None
    except OSError as exc:
        raise GraphtoolsError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if fmt == "safetensors":
        for key, arr in tensors.items():
            _check_finite(path, key, arr.reshape(-1))
    return Checkpoint(path=path, format=fmt, tensors=tensors, metadata=metadata)
