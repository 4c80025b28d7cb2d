"""Checkpoint loading: ``graphtools.io.load_state``, ``graphtools.safetensors`` and
``graphtools analyze`` on bad input.

Safetensors files are written by a small writer below (from the format spec) so
that broken files can be produced on purpose; the official ``safetensors``
package, when installed, cross-checks both the loader and the writer.
"""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from graphtools.cli import main
from graphtools.errors import GraphtoolsError
from graphtools.io import META_KEY, load_state
from graphtools.safetensors import MAX_HEADER_BYTES, TensorEntry, load_safetensors, read_header

# ---------------------------------------------------------------- a safetensors writer

#: numpy dtype name -> safetensors dtype name (BF16 has no numpy dtype; see bf16_bits).
ST_DTYPE_NAMES = {
    "float64": "F64", "float32": "F32", "float16": "F16",
    "int64": "I64", "int32": "I32", "int16": "I16", "int8": "I8",
    "uint64": "U64", "uint32": "U32", "uint16": "U16", "uint8": "U8",
    "bool": "BOOL",
}


def st_tensor(name: str, arr, dtype: str | None = None) -> tuple:
    """A ``(name, dtype, shape, data)`` entry for :func:`st_bytes`, little-endian, C order."""
    arr = np.asarray(arr)  # (np.ascontiguousarray would turn a 0-d array into 1-d)
    arr = arr.astype(arr.dtype.newbyteorder("<"), copy=False)
    return (name, dtype or ST_DTYPE_NAMES[arr.dtype.name], list(arr.shape), arr.tobytes(order="C"))


def bf16_bits(values) -> np.ndarray:
    """bfloat16 encoding of float32 values: the top 16 bits of each float32 (truncation)."""
    return (np.asarray(values, dtype="<f4").view("<u4") >> 16).astype("<u2")


def st_bytes(entries, metadata=None, *, offsets=None, header=None, pad=0, length=None, trailing=b"") -> bytes:
    """Bytes of a safetensors file: u64 LE header length N, N bytes of JSON, then the data.

    ``entries`` are ``(name, dtype, shape, data)``; their data is laid out in that order
    and ``data_offsets`` computed from it.  ``shape`` and ``dtype`` go into the JSON
    verbatim.  To build broken files: ``metadata`` is stored verbatim as
    ``__metadata__`` (omitted when None), ``offsets={name: [begin, end]}`` overrides
    computed offsets, ``header`` (str or bytes) replaces the whole JSON, ``pad``
    appends spaces to the JSON, ``length`` overrides N, ``trailing`` is appended.
    """
    obj = {} if metadata is None else {"__metadata__": metadata}
    data = b""
    for name, dtype, shape, blob in entries:
        begin = len(data)
        data += blob
        span = (offsets or {}).get(name, [begin, len(data)])
        obj[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": list(span)}
    if header is None:
        header = json.dumps(obj).encode("utf-8") + b" " * pad
    elif isinstance(header, str):
        header = header.encode("utf-8")
    n = len(header) if length is None else length
    return struct.pack("<Q", n) + header + data + trailing


def st_file(folder: Path, entries, *, filename="model.safetensors", **kwargs) -> Path:
    path = folder / filename
    path.write_bytes(st_bytes(entries, **kwargs))
    return path


#: A valid 2x2 F32 tensor 'w', the default content of the broken files below.
W_F32 = st_tensor("w", np.arange(4, dtype=np.float32).reshape(2, 2))


# ---------------------------------------------------------------- other file builders


def npy_bytes(arr) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def npz_members(path: Path, members: dict[str, bytes], compression=zipfile.ZIP_STORED) -> Path:
    """A zip archive written member by member (names are used as given)."""
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name, blob in members.items():
            archive.writestr(name, blob)
    return path


def valid_npz(path: Path) -> Path:
    """A small checkpoint that ``graphtools analyze`` accepts (one generic linear layer)."""
    rng = np.random.default_rng(0)
    np.savez(path, **{"fc.weight": rng.standard_normal((4, 3)), "fc.bias": rng.standard_normal(4)})
    return path


def peak_allocation(fn) -> int:
    """Peak bytes allocated (as seen by tracemalloc; numpy reports to it) while ``fn()`` runs."""
    tracemalloc.start()
    try:
        fn()
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return peak


# ---------------------------------------------------------------- safetensors: valid files

ROUND_TRIP_ARRAYS = {
    "F64": np.array([[0.0, -1.5, 1e300], [np.pi, -0.0, 5e-324]], dtype=np.float64),
    "F32": np.array([[0.0, -1.5, 3.4e38], [np.pi, -0.0, 1e-45]], dtype=np.float32),
    "F16": np.array([[0.0, -1.5, 65504.0], [np.pi, -0.0, 6e-8]], dtype=np.float16),
    "I64": np.array([[0, -1, 2**63 - 1], [-(2**63), 7, 8]], dtype=np.int64),
    "I32": np.array([[0, -1, 2**31 - 1], [-(2**31), 7, 8]], dtype=np.int32),
    "I16": np.array([[0, -1, 2**15 - 1], [-(2**15), 7, 8]], dtype=np.int16),
    "I8": np.array([[0, -1, 127], [-128, 7, 8]], dtype=np.int8),
    "U64": np.array([[0, 1, 2**64 - 1], [2**63, 7, 8]], dtype=np.uint64),
    "U32": np.array([[0, 1, 2**32 - 1], [2**31, 7, 8]], dtype=np.uint32),
    "U16": np.array([[0, 1, 2**16 - 1], [2**15, 7, 8]], dtype=np.uint16),
    "U8": np.array([[0, 1, 255], [128, 7, 8]], dtype=np.uint8),
    "BOOL": np.array([[True, False, True], [False, False, True]]),
}


@pytest.mark.parametrize("dtype", sorted(ROUND_TRIP_ARRAYS))
def test_safetensors_round_trip(tmp_path, dtype):
    arr = ROUND_TRIP_ARRAYS[dtype]
    path = st_file(tmp_path, [st_tensor("layer.weight", arr)])
    ckpt = load_state(path)
    assert ckpt.format == "safetensors"
    assert list(ckpt.tensors) == ["layer.weight"]
    got = ckpt.tensors["layer.weight"]
    assert got.dtype == arr.dtype
    assert got.shape == arr.shape
    np.testing.assert_array_equal(got, arr)


def test_safetensors_bool_decodes_any_nonzero_byte_as_true(tmp_path):
    path = st_file(tmp_path, [("mask", "BOOL", [4], bytes([0, 1, 2, 255]))])
    tensors, _ = load_safetensors(str(path))
    np.testing.assert_array_equal(tensors["mask"], [False, True, True, True])
    assert tensors["mask"].dtype == np.bool_


def test_safetensors_bf16_decodes_to_exact_float32(tmp_path):
    # All exactly representable in bfloat16 (8 significant bits, float32 exponent range).
    exact = np.array([[0.0, -0.0, 1.0, -2.5], [1 + 2**-7, 0.15625, 3.3895314e38, 2.0**-126]], dtype=np.float32)
    assert np.array_equal(bf16_bits(exact).astype(np.uint32) << 16, exact.view(np.uint32))  # premise
    path = st_file(tmp_path, [("w", "BF16", [2, 4], bf16_bits(exact).tobytes())])
    got = load_state(path).tensors["w"]
    assert got.dtype == np.float32
    assert got.shape == (2, 4)
    np.testing.assert_array_equal(got, exact)
    assert np.signbit(got[0, 1])  # -0.0 keeps its sign


def test_safetensors_bf16_truncation_of_random_float32(tmp_path):
    values = np.random.default_rng(1).standard_normal(64).astype(np.float32)
    truncated = (values.view(np.uint32) & 0xFFFF0000).view(np.float32)
    path = st_file(tmp_path, [("w", "BF16", [8, 8], bf16_bits(values).tobytes())])
    np.testing.assert_array_equal(load_state(path).tensors["w"], truncated.reshape(8, 8))


def test_safetensors_space_padded_header_and_metadata(tmp_path):
    meta = {"format": "pt", "note": "ünïcode ok"}
    path = st_file(tmp_path, [W_F32], metadata=meta, pad=13)
    blob = path.read_bytes()
    assert blob[8:8 + int.from_bytes(blob[:8], "little")].endswith(b"}" + b" " * 13)  # premise
    ckpt = load_state(path)
    assert ckpt.metadata == meta
    assert "__metadata__" not in ckpt.tensors
    np.testing.assert_array_equal(ckpt.tensors["w"], np.arange(4, dtype=np.float32).reshape(2, 2))
    tensors, metadata = load_safetensors(str(path))
    assert metadata == meta
    assert list(tensors) == ["w"]


def test_safetensors_without_metadata_has_empty_metadata(tmp_path):
    assert load_state(st_file(tmp_path, [W_F32])).metadata == {}


def test_safetensors_zero_size_tensors(tmp_path):
    entries = [
        ("empty", "F32", [0], b""),
        ("empty2d", "F16", [0, 3], b""),
        st_tensor("w", np.ones((2, 2), dtype=np.float32)),
        ("tail", "I64", [3, 0], b""),
        st_tensor("scalar", np.array(7, dtype=np.int32)),
    ]
    tensors, _ = load_safetensors(str(st_file(tmp_path, entries)))
    assert tensors["empty"].shape == (0,) and tensors["empty"].dtype == np.float32
    assert tensors["empty2d"].shape == (0, 3) and tensors["empty2d"].dtype == np.float16
    assert tensors["tail"].shape == (3, 0) and tensors["tail"].dtype == np.int64
    assert tensors["scalar"].shape == () and int(tensors["scalar"]) == 7
    np.testing.assert_array_equal(tensors["w"], np.ones((2, 2)))


def test_safetensors_file_with_only_an_empty_header(tmp_path):
    path = st_file(tmp_path, [], header="{}")
    assert load_safetensors(str(path)) == ({}, {})


def test_read_header_sorts_entries_by_offset(tmp_path):
    a = st_tensor("a", np.zeros(3, dtype=np.float32))  # 12 bytes
    b = st_tensor("b", np.zeros(2, dtype=np.int8))  # 2 bytes
    # Header lists 'a' first but stores 'b' first in the data buffer.
    blob = st_bytes([a, b], offsets={"a": [2, 14], "b": [0, 2]})
    n = int.from_bytes(blob[:8], "little")
    with open(tmp_path / "x.safetensors", "wb") as handle:
        handle.write(blob)
    with open(tmp_path / "x.safetensors", "rb") as handle:
        entries, metadata, data_start = read_header("x.safetensors", handle, len(blob))
    assert entries == [TensorEntry("b", "I8", (2,), 0, 2), TensorEntry("a", "F32", (3,), 2, 14)]
    assert metadata == {}
    assert data_start == 8 + n
    tensors, _ = load_safetensors(str(tmp_path / "x.safetensors"))
    assert list(tensors) == ["b", "a"]


def test_official_safetensors_writer_loads_identically(tmp_path):
    st_numpy = pytest.importorskip("safetensors.numpy")
    arrays = {f"t.{name}": arr for name, arr in ROUND_TRIP_ARRAYS.items()}
    arrays["t.empty"] = np.zeros((0, 4), dtype=np.float32)
    path = tmp_path / "official.safetensors"
    st_numpy.save_file(arrays, str(path), metadata={"format": "np", "k": "v"})
    ckpt = load_state(path)
    assert ckpt.metadata == {"format": "np", "k": "v"}
    assert set(ckpt.tensors) == set(arrays)
    for name, arr in arrays.items():
        assert ckpt.tensors[name].dtype == arr.dtype, name
        assert ckpt.tensors[name].shape == arr.shape, name
        np.testing.assert_array_equal(ckpt.tensors[name], arr, err_msg=name)


def test_our_writer_is_read_identically_by_the_official_reader(tmp_path):
    """Keeps the test writer honest: its valid files are valid for the reference reader."""
    st_numpy = pytest.importorskip("safetensors.numpy")
    entries = [st_tensor(name, arr) for name, arr in ROUND_TRIP_ARRAYS.items()]
    path = st_file(tmp_path, entries, metadata={"a": "b"}, pad=5)
    official = st_numpy.load_file(str(path))
    ours, _ = load_safetensors(str(path))
    assert set(official) == set(ours) == set(ROUND_TRIP_ARRAYS)
    for name, arr in official.items():
        assert ours[name].dtype == arr.dtype
        np.testing.assert_array_equal(ours[name], arr)


# ---------------------------------------------------------------- npz / npy: valid files

NPZ_ARRAYS = {
    "h.weight": np.linspace(-1, 1, 6, dtype=np.float16).reshape(2, 3),
    "s.weight": np.linspace(-1, 1, 6, dtype=np.float32).reshape(3, 2),
    "d.weight": np.linspace(-1, 1, 12, dtype=np.float64).reshape(3, 4),
    "fortran": np.asfortranarray(np.arange(6, dtype=np.float64).reshape(2, 3)),
    "bigendian": np.arange(4, dtype=">f4").reshape(2, 2),
    "i8": np.array([-128, 0, 127], dtype=np.int8),
    "i64": np.array([[-(2**63), 2**63 - 1]], dtype=np.int64),
    "u8": np.array([0, 255], dtype=np.uint8),
    "mask": np.array([[True, False], [False, True]]),
    "scalar": np.array(2.5),
}


@pytest.mark.parametrize("save", [np.savez, np.savez_compressed], ids=["stored", "deflated"])
def test_npz_round_trip(tmp_path, save):
    path = tmp_path / "state.npz"
    save(path, **NPZ_ARRAYS)
    ckpt = load_state(path)
    assert ckpt.format == "npz"
    assert ckpt.metadata == {}
    assert list(ckpt.tensors) == list(NPZ_ARRAYS)  # file order
    for name, arr in NPZ_ARRAYS.items():
        got = ckpt.tensors[name]
        assert got.dtype == arr.dtype, name
        assert got.shape == arr.shape, name
        np.testing.assert_array_equal(got, arr, err_msg=name)


def test_npz_meta_key_goes_to_metadata_not_tensors(tmp_path):
    meta = json.dumps({"model": "lstm", "epoch": 3})
    path = tmp_path / "state.npz"
    np.savez(path, **{"w": np.eye(2), META_KEY: np.array(meta)})
    ckpt = load_state(path)
    assert ckpt.metadata == {META_KEY: meta}
    assert list(ckpt.tensors) == ["w"]
    np.testing.assert_array_equal(ckpt.tensors["w"], np.eye(2))


def test_single_npy_array_is_keyed_by_file_stem(tmp_path):
    arr = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.save(tmp_path / "encoder.weight.npy", arr)
    ckpt = load_state(tmp_path / "encoder.weight.npy")
    assert ckpt.format == "npy"
    assert list(ckpt.tensors) == ["encoder.weight"]
    np.testing.assert_array_equal(ckpt.tensors["encoder.weight"], arr)


# ---------------------------------------------------------------- bad inputs
#
# Each builder takes a folder and returns the path of a bad checkpoint; every one must
# make load_state raise GraphtoolsError whose message contains all the fragments.

BAD_INPUTS: dict[str, tuple] = {}


def bad_input(case_id: str, *fragments: str):
    def register(build):
        BAD_INPUTS[case_id] = (build, fragments)
        return build
    return register


@bad_input("missing-file", "no such file")
def _(tmp):
    return tmp / "absent.npz"


@bad_input("directory", "is a directory")
def _(tmp):
    (tmp / "ckpt.npz").mkdir()
    return tmp / "ckpt.npz"


@bad_input("empty-npz", "not a valid .npz")
def _(tmp):
    (tmp / "empty.npz").write_bytes(b"")
    return tmp / "empty.npz"


@bad_input("empty-safetensors", "shorter than the 8-byte header length")
def _(tmp):
    (tmp / "empty.safetensors").write_bytes(b"")
    return tmp / "empty.safetensors"


@bad_input("empty-unknown-extension", "unrecognised checkpoint format")
def _(tmp):
    (tmp / "empty.bin").write_bytes(b"")
    return tmp / "empty.bin"


@bad_input("truncated-npz", "not a valid .npz")
def _(tmp):
    path = valid_npz(tmp / "half.npz")
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) // 2])
    return path


def _corrupt_middle(path: Path) -> Path:
    blob = bytearray(path.read_bytes())
    middle = len(blob) // 2
    blob[middle:middle + 8] = bytes(b ^ 0xFF for b in blob[middle:middle + 8])
    path.write_bytes(bytes(blob))
    return path


@bad_input("zip-corrupt-middle-stored", "corrupt .npz", "'w.npy'")
def _(tmp):
    path = tmp / "flipped.npz"
    np.savez(path, w=np.arange(64 * 64, dtype=np.float64).reshape(64, 64))
    return _corrupt_middle(path)


@bad_input("zip-corrupt-middle-deflated", "corrupt .npz")
def _(tmp):
    path = tmp / "flipped.npz"
    np.savez_compressed(path, w=np.arange(64 * 64, dtype=np.float64).reshape(64, 64))
    return _corrupt_middle(path)


@bad_input("truncated-npy", "'w'", "truncated or corrupt")
def _(tmp):
    blob = npy_bytes(np.zeros((4, 4)))
    (tmp / "w.npy").write_bytes(blob[:-8])
    return tmp / "w.npy"


@bad_input("object-array", "'a'", "Python objects")
def _(tmp):
    np.savez(tmp / "obj.npz", a=np.array([{"x": 1}], dtype=object))
    return tmp / "obj.npz"


@bad_input("unicode-array", "'names'", "non-numeric dtype")
def _(tmp):
    np.savez(tmp / "str.npz", w=np.eye(2), names=np.array(["in", "out"]))
    return tmp / "str.npz"


@bad_input("complex-array", "'w'", "is complex")
def _(tmp):
    np.savez(tmp / "c.npz", w=np.eye(2) * (1 + 2j))
    return tmp / "c.npz"


@bad_input("npz-huge-shape", "'w'", "8000000000000 bytes")
def _(tmp):
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (10**6, 10**6)}
    )
    return npz_members(tmp / "huge.npz", {"w.npy": header.getvalue() + b"\0" * 16})


@bad_input("npz-non-npy-member", "'notes.txt'", "not a .npy")
def _(tmp):
    return npz_members(tmp / "m.npz", {"w.npy": npy_bytes(np.eye(2)), "notes.txt": b"hi"})


@bad_input("npz-lzma-member", "'w'", "unsupported zip compression")
def _(tmp):
    return npz_members(tmp / "m.npz", {"w.npy": npy_bytes(np.eye(2))}, compression=zipfile.ZIP_LZMA)


@bad_input("pickle-pt-bytes", "pickle")
def _(tmp):
    (tmp / "x.pt").write_bytes(b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x01w\x94K\x01s.")
    return tmp / "x.pt"


@bad_input("pickle-in-zip", "pickle")
def _(tmp):
    # The layout of torch.save's zip files (what torch >= 1.6 writes to x.pt).
    return npz_members(tmp / "x.pt", {"x/data.pkl": b"\x80\x02}q\x00.", "x/version": b"3\n"})


def _nonfinite_npz(value, dtype):
    def build(tmp):
        w = np.ones((3, 3), dtype=dtype)
        w[1, 2] = value
        np.savez(tmp / "nf.npz", ok=np.ones(2), **{"rnn.weight_hh_l0": w})
        return tmp / "nf.npz"
    return build


for _value, _label in [(np.nan, "nan"), (np.inf, "inf"), (-np.inf, "-inf")]:
    for _dtype in ("float16", "float32", "float64"):
        bad_input(f"npz-{_label}-{_dtype}", "'rnn.weight_hh_l0'", "NaN or Inf", "1 of 9")(
            _nonfinite_npz(_value, _dtype)
        )


# -- safetensors headers

def _st(tmp, entries=(W_F32,), **kwargs):
    return st_file(tmp, list(entries), **kwargs)


@bad_input("st-nan-f32", "'w'", "NaN or Inf")
def _(tmp):
    return _st(tmp, [st_tensor("w", np.array([[1, np.nan], [0, 2]], dtype=np.float32))])


@bad_input("st-inf-f16", "'w'", "NaN or Inf")
def _(tmp):
    return _st(tmp, [st_tensor("w", np.array([1, np.inf], dtype=np.float16))])


@bad_input("st-inf-bf16", "'w'", "NaN or Inf")
def _(tmp):
    return _st(tmp, [("w", "BF16", [2], np.array([0x3F80, 0xFF80], dtype="<u2").tobytes())])


@bad_input("st-header-length-1e15", "header length 1000000000000000", "100 MB")
def _(tmp):
    return _st(tmp, length=10**15)


@bad_input("st-header-length-just-over-limit", "100 MB")
def _(tmp):
    return _st(tmp, length=MAX_HEADER_BYTES + 1)


@bad_input("st-header-longer-than-file", "header claims 5000 bytes")
def _(tmp):
    return _st(tmp, length=5000)


@bad_input("st-header-not-brace", "does not start with '{'")
def _(tmp):
    return _st(tmp, header='"w": {}')


@bad_input("st-header-leading-space", "does not start with '{'")
def _(tmp):
    return _st(tmp, [], header=" {}")


@bad_input("st-header-not-utf8", "not UTF-8")
def _(tmp):
    return _st(tmp, [], header=b'{"\xff": 1}')


@bad_input("st-invalid-json", "not valid JSON")
def _(tmp):
    return _st(tmp, header='{"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}')


@bad_input("st-json-list", "'{'")
def _(tmp):
    return _st(tmp, header='[{"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}]')


@bad_input("st-duplicate-keys", "duplicate key 'w'")
def _(tmp):
    entry = '{"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}'
    return _st(tmp, header=f'{{"w": {entry}, "w": {entry}}}')


@bad_input("st-duplicate-keys-nested", "duplicate key 'dtype'")
def _(tmp):
    return _st(tmp, header='{"w": {"dtype": "F32", "dtype": "F64", "shape": [2, 2], "data_offsets": [0, 16]}}')


@bad_input("st-entry-not-object", "'w'", "not an object")
def _(tmp):
    return _st(tmp, [], header='{"w": [0, 16]}')


@bad_input("st-unknown-dtype", "'w'", "unknown dtype 'X99'")
def _(tmp):
    return _st(tmp, [("w", "X99", [2, 2], bytes(16))])


@bad_input("st-fp8-dtype", "'w'", "F8_E4M3", "cannot decode")
def _(tmp):
    return _st(tmp, [("w", "F8_E4M3", [2, 2], bytes(4))])


@bad_input("st-fp8-e5m2-dtype", "'w'", "F8_E5M2", "cannot decode")
def _(tmp):
    return _st(tmp, [("w", "F8_E5M2", [4], bytes(4))])


@bad_input("st-span-vs-shape", "'w'", "spans 16 bytes but shape [3, 2] of F32 needs 24")
def _(tmp):
    return _st(tmp, [("w", "F32", [3, 2], bytes(16))])


@bad_input("st-offsets-hole", "'b'", "hole")
def _(tmp):
    a, b = st_tensor("a", np.zeros(2, np.float32)), st_tensor("b", np.zeros(2, np.float32))
    return _st(tmp, [a, b], offsets={"b": [12, 20]}, trailing=bytes(4))


@bad_input("st-offsets-hole-at-start", "'w'", "hole")
def _(tmp):
    return _st(tmp, offsets={"w": [4, 20]}, trailing=bytes(4))


@bad_input("st-offsets-overlap", "overlaps")
def _(tmp):
    a, b = st_tensor("a", np.zeros(4, np.float32)), st_tensor("b", np.zeros(2, np.float32))
    return _st(tmp, [a, b], offsets={"b": [8, 16]})


@bad_input("st-offsets-beyond-end", "truncated or trailing")
def _(tmp):
    return _st(tmp, [("w", "F32", [2, 2], bytes(8))], offsets={"w": [0, 16]})  # file holds 8


@bad_input("st-offsets-reversed", "'w'", "invalid data_offsets")
def _(tmp):
    return _st(tmp, offsets={"w": [16, 0]})


@bad_input("st-offsets-not-integers", "'w'", "invalid data_offsets")
def _(tmp):
    return _st(tmp, offsets={"w": [0.0, 16.0]})


@bad_input("st-trailing-bytes", "truncated or trailing")
def _(tmp):
    return _st(tmp, trailing=b"\0" * 3)


@bad_input("st-negative-shape", "'w'", "invalid shape [-2, -2]")
def _(tmp):
    return _st(tmp, [("w", "F32", [-2, -2], bytes(16))])


@bad_input("st-float-shape", "'w'", "invalid shape [2.0, 2]")
def _(tmp):
    return _st(tmp, [("w", "F32", [2.0, 2], bytes(16))])


@bad_input("st-string-shape", "'w'", "invalid shape")
def _(tmp):
    return _st(tmp, [("w", "F32", ["2", 2], bytes(16))])


@bad_input("st-bool-shape", "'w'", "invalid shape")
def _(tmp):
    return _st(tmp, [("w", "U8", [True, 1], bytes(1))])


@bad_input("st-metadata-non-string-value", "__metadata__", "strings")
def _(tmp):
    return _st(tmp, metadata={"epoch": 3})


@bad_input("no-extension-no-magic", "unrecognised checkpoint format")
def _(tmp):
    (tmp / "weights.dat").write_bytes(b"hello, world, not a checkpoint")
    return tmp / "weights.dat"


@pytest.mark.parametrize("case_id", list(BAD_INPUTS))
def test_bad_input_raises_graphtools_error(tmp_path, case_id):
    build, fragments = BAD_INPUTS[case_id]
    path = build(tmp_path)
    with pytest.raises(GraphtoolsError) as info:
        load_state(path)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert "\n" not in message
    assert message.startswith(str(path)), message  # names the file first


def test_pytorch_checkpoint_written_by_torch_is_refused(tmp_path):
    torch = pytest.importorskip("torch")
    state = {"rnn.weight_hh_l0": torch.zeros(4, 4)}
    torch.save(state, tmp_path / "x.pt")
    torch.save(state, tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)
    for name in ("x.pt", "legacy.pt"):
        with pytest.raises(GraphtoolsError, match="pickle"):
            load_state(tmp_path / name)


def test_huge_safetensors_header_length_allocates_nothing(tmp_path):
    path = _st(tmp_path, length=10**15)
    with pytest.raises(GraphtoolsError, match="100 MB"):
        load_state(path)
    peak = peak_allocation(lambda: pytest.raises(GraphtoolsError, load_state, path))
    assert peak < 1_000_000


def test_huge_npz_member_shape_allocates_nothing(tmp_path):
    path = BAD_INPUTS["npz-huge-shape"][0](tmp_path)
    peak = peak_allocation(lambda: pytest.raises(GraphtoolsError, load_state, path))
    assert peak < 1_000_000


def test_read_header_rejects_before_reading_tensor_data(tmp_path):
    """An invalid layout is refused by read_header itself (no tensor is read)."""
    path = _st(tmp_path, [("w", "F32", [3, 2], bytes(16))])
    with open(path, "rb") as handle:
        with pytest.raises(GraphtoolsError, match="needs 24"):
            read_header(str(path), handle, path.stat().st_size)


# ---------------------------------------------------------------- hostile archives and headers


def test_deeply_nested_safetensors_header_is_a_graphtools_error(tmp_path):
    depth = 100_000
    path = _st(tmp_path, [], header='{"w": ' + "[" * depth + "]" * depth + "}")
    with pytest.raises(GraphtoolsError, match="JSON"):
        load_state(path)


@pytest.mark.parametrize("metadata", [[], 0, False, ""], ids=["list", "zero", "false", "empty-string"])
def test_non_object_metadata_is_refused(tmp_path, metadata):
    path = _st(tmp_path, metadata=metadata)
    with pytest.raises(GraphtoolsError, match="__metadata__"):
        load_state(path)


def test_encrypted_npz_member_is_a_graphtools_error(tmp_path):
    path = valid_npz(tmp_path / "enc.npz")
    blob = bytearray(path.read_bytes())
    # Set bit 0 (encrypted) of the general-purpose flags in every local and central header.
    for signature, flag_offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        start = blob.find(signature)
        while start != -1:
            blob[start + flag_offset] |= 1
            start = blob.find(signature, start + 4)
    path.write_bytes(bytes(blob))
    with pytest.raises(GraphtoolsError):
        load_state(path)


def test_npz_with_duplicate_member_names_is_refused(tmp_path):
    path = tmp_path / "dup.npz"
    with pytest.warns(UserWarning, match="Duplicate name"):
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("w.npy", npy_bytes(np.ones((2, 2))))
            archive.writestr("w.npy", npy_bytes(np.zeros((3, 3))))
    with pytest.raises(GraphtoolsError, match="'w'"):
        load_state(path)


# ---------------------------------------------------------------- the command line


def _cli_runner() -> CliRunner:
    try:
        return CliRunner(mix_stderr=False)  # click < 8.2
    except TypeError:
        return CliRunner()  # click >= 8.2 keeps stderr apart by default


def assert_one_line_cli_error(exit_code: int, stdout: str, stderr: str, fragment: str) -> None:
    assert exit_code == 1, (exit_code, stdout, stderr)
    assert stderr.startswith("error: "), stderr
    assert stderr.endswith("\n") and stderr.count("\n") == 1, stderr
    assert "Traceback" not in stderr
    assert "internal error" not in stderr
    assert fragment in stderr, stderr
    assert stdout == ""


CLI_CASES = [
    ("missing-file", "no such file"),
    ("directory", "is a directory"),
    ("truncated-npz", "not a valid .npz"),
    ("zip-corrupt-middle-stored", "corrupt .npz"),
    ("object-array", "Python objects"),
    ("npz-nan-float32", "NaN or Inf"),
    ("npz-huge-shape", "8000000000000 bytes"),
    ("pickle-pt-bytes", "pickle"),
    ("st-header-length-1e15", "100 MB"),
    ("st-fp8-dtype", "F8_E4M3"),
    ("st-offsets-overlap", "overlaps"),
    ("st-trailing-bytes", "trailing"),
]


@pytest.mark.parametrize("case_id, fragment", CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_cli_bad_input_is_one_error_line(tmp_path, case_id, fragment):
    path = BAD_INPUTS[case_id][0](tmp_path)
    result = _cli_runner().invoke(main, ["analyze", str(path)])
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert_one_line_cli_error(result.exit_code, result.stdout, result.stderr, fragment)


def test_cli_only_1d_tensors_is_no_2d_weight_error(tmp_path):
    path = _st(tmp_path, [st_tensor("rnn.bias_ih_l0", np.zeros(8, np.float32)),
                          st_tensor("rnn.bias_hh_l0", np.zeros(8, np.float32))])
    result = _cli_runner().invoke(main, ["analyze", str(path)])
    assert_one_line_cli_error(result.exit_code, result.stdout, result.stderr, "no 2-D weight")


def _console_script() -> list[str]:
    script = Path(sys.executable).with_name("graphtools")
    return [str(script)] if script.exists() else [sys.executable, "-m", "graphtools.cli"]


@pytest.mark.parametrize("case_id, fragment", [
    ("missing-file", "no such file"),
    ("truncated-npz", "not a valid .npz"),
    ("st-header-length-1e15", "100 MB"),
    ("pickle-in-zip", "pickle"),
])
def test_console_script_bad_input_is_one_error_line(tmp_path, case_id, fragment):
    path = BAD_INPUTS[case_id][0](tmp_path)
    proc = subprocess.run(_console_script() + ["analyze", str(path)],
                          capture_output=True, text=True, timeout=120)
    assert_one_line_cli_error(proc.returncode, proc.stdout, proc.stderr, fragment)


@pytest.mark.parametrize("case_id", ["truncated-npz", "zip-corrupt-middle-deflated", "st-offsets-hole", "npz-inf-float64"])
def test_cli_output_file_untouched_on_bad_input(tmp_path, case_id):
    path = BAD_INPUTS[case_id][0](tmp_path)
    out = tmp_path / "report.txt"
    out.write_text("previous report\n")
    before = sorted(p.name for p in tmp_path.iterdir())
    result = _cli_runner().invoke(main, ["analyze", str(path), "-o", str(out), "--format", "json"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ")
    assert out.read_text() == "previous report\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no temporary file left


def test_cli_bad_input_does_not_create_output_file(tmp_path):
    path = BAD_INPUTS["truncated-npz"][0](tmp_path)
    out = tmp_path / "report.json"
    result = _cli_runner().invoke(main, ["analyze", str(path), "--output", str(out)])
    assert result.exit_code == 1
    assert not out.exists()


def test_cli_output_file_is_written_for_valid_input(tmp_path):
    """Control for the tests above: with a good checkpoint, -o does replace the file."""
    path = valid_npz(tmp_path / "good.npz")
    out = tmp_path / "report.json"
    out.write_text("previous report\n")
    result = _cli_runner().invoke(main, ["analyze", str(path), "-o", str(out), "--format", "json"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    report = json.loads(out.read_text())
    assert "fc.weight" in json.dumps(report)


def test_cli_unknown_format_is_a_usage_error(tmp_path):
    path = valid_npz(tmp_path / "good.npz")
    out = tmp_path / "report.txt"
    result = _cli_runner().invoke(main, ["analyze", str(path), "--format", "xml", "-o", str(out)])
    assert result.exit_code == 2
    assert "--format" in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()


def test_cli_usage_error_beats_bad_input(tmp_path):
    """Options are checked before the file is read: a bad option on a bad file exits 2."""
    result = _cli_runner().invoke(main, ["analyze", str(tmp_path / "absent.npz"), "--format", "xml"])
    assert result.exit_code == 2
    assert "no such file" not in result.stderr
