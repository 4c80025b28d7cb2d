"""Sequence datasets (``graphtools.data``): MNIST (npz, IDX raw/gz), CIFAR-10 (binary and
pickled batches, restricted unpickler), Speech Commands (MFCC, splits, noise at an SNR)
and the espeak-ng stand-in.

Every fixture is written here, byte by byte where the format matters: no network.
"""

from __future__ import annotations

import gzip
import math
import os
import pickle
import shutil
import struct

import click
import numpy as np
import pytest
from click.testing import CliRunner
from scipy.io import wavfile

from graphtools.cli import _Group
from graphtools.cli.data import data as data_group
from graphtools.data import Dataset, load_dataset, mfcc, pixel_permutation, synthesize_speech_commands
from graphtools.data.idx import read_idx
from graphtools.data.noise import mix_at_snr, power, random_segment
from graphtools.data.safe_pickle import safe_load
from graphtools.errors import GraphtoolsError

from conftest import RATE, write_wav

HAS_ESPEAK = shutil.which("espeak-ng") is not None


# ------------------------------------------------------------------------------------------ MNIST


@pytest.fixture(scope="module")
def mnist_arrays():
    rng = np.random.default_rng(0)
    return {
        "x_train": rng.integers(0, 256, (20, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, 20).astype(np.uint8),
        "x_test": rng.integers(0, 256, (10, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, 10).astype(np.uint8),
    }


@pytest.fixture
def mnist_npz(tmp_path, mnist_arrays):
    path = tmp_path / "mnist.npz"
    np.savez(path, **mnist_arrays)
    return path


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file of unsigned bytes, written from the format description."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


IDX_NAMES = {"x_train": "train-images-idx3-ubyte", "y_train": "train-labels-idx1-ubyte",
             "x_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte"}


def write_idx_dir(folder, arrays, gz: bool):
    folder.mkdir(exist_ok=True)
    for key, name in IDX_NAMES.items():
        raw = idx_bytes(arrays[key])
        if gz:
            (folder / (name + ".gz")).write_bytes(gzip.compress(raw))
        else:
            (folder / name).write_bytes(raw)
    return folder


def test_seq_mnist_from_npz(mnist_npz, mnist_arrays):
    ds = load_dataset("seq-mnist", mnist_npz)
    assert isinstance(ds, Dataset)
    assert ds.x.shape == (20, 28, 28) and ds.x.dtype == np.float32
    assert ds.y.shape == (20,) and ds.y.dtype == np.int64
    assert ds.classes == [str(d) for d in range(10)] and ds.name == "seq-mnist" and ds.split == "train"
    np.testing.assert_array_equal(ds.x, mnist_arrays["x_train"].astype(np.float32) / 255)
    np.testing.assert_array_equal(ds.y, mnist_arrays["y_train"])
    assert 0.0 <= ds.x.min() and ds.x.max() <= 1.0
    test = load_dataset("seq-mnist", mnist_npz, split="test")
    assert test.x.shape == (10, 28, 28)
    np.testing.assert_array_equal(test.y, mnist_arrays["y_test"])
    few = load_dataset("seq-mnist", mnist_npz, limit=5)
    np.testing.assert_array_equal(few.x, ds.x[:5])
    np.testing.assert_array_equal(few.y, ds.y[:5])
    assert len(load_dataset("seq-mnist", mnist_npz, limit=0)) == 0
    assert len(load_dataset("seq-mnist", mnist_npz, limit=1000)) == 20


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gzip"])
def test_mnist_from_idx_files(tmp_path, mnist_arrays, mnist_npz, gz):
    folder = write_idx_dir(tmp_path / "idx", mnist_arrays, gz)
    for split in ("train", "test"):
        a = load_dataset("seq-mnist", folder, split=split)
        b = load_dataset("seq-mnist", mnist_npz, split=split)
        np.testing.assert_array_equal(a.x, b.x)
        np.testing.assert_array_equal(a.y, b.y)
    assert ("gzip" in a.note) == gz
    if not gz:  # with both NAME and NAME.gz present, the raw file is read
        other = dict(mnist_arrays, y_test=(mnist_arrays["y_test"] + 1) % 10)
        (folder / (IDX_NAMES["y_test"] + ".gz")).write_bytes(gzip.compress(idx_bytes(other["y_test"])))
        np.testing.assert_array_equal(load_dataset("seq-mnist", folder, split="test").y, mnist_arrays["y_test"])
    np.testing.assert_array_equal(read_idx(folder / (IDX_NAMES["y_test"] + (".gz" if gz else ""))),
                                  mnist_arrays["y_test"])


def test_mnist_has_no_validation_split(mnist_npz):
    with pytest.raises(GraphtoolsError, match="no validation split"):
        load_dataset("seq-mnist", mnist_npz, split="validation")
    with pytest.raises(GraphtoolsError, match="unknown split 'dev'"):
        load_dataset("pixel-mnist", mnist_npz, split="dev")


def test_pixel_mnist_permutation(mnist_npz, mnist_arrays):
    plain = load_dataset("pixel-mnist", mnist_npz)
    assert plain.x.shape == (20, 784, 1) and plain.x.dtype == np.float32
    flat = mnist_arrays["x_train"].reshape(20, 784).astype(np.float32) / 255
    np.testing.assert_array_equal(plain.x[:, :, 0], flat)

    perm = pixel_permutation(7)
    assert sorted(perm.tolist()) == list(range(784))  # a permutation ...
    assert (perm != np.arange(784)).mean() > 0.9  # ... that really permutes
    np.testing.assert_array_equal(perm, pixel_permutation(7))
    assert not np.array_equal(perm, pixel_permutation(8))

    a = load_dataset("pixel-mnist", mnist_npz, permute_seed=7)
    b = load_dataset("pixel-mnist", mnist_npz, permute_seed=7)
    c = load_dataset("pixel-mnist", mnist_npz, permute_seed=8)
    np.testing.assert_array_equal(a.x, b.x)
    assert not np.array_equal(a.x, c.x)
    np.testing.assert_array_equal(a.x[:, :, 0], flat[:, perm])
    np.testing.assert_array_equal(np.sort(a.x[:, :, 0], axis=1), np.sort(flat, axis=1))
    test = load_dataset("pixel-mnist", mnist_npz, split="test", permute_seed=7)  # same order in every split
    np.testing.assert_array_equal(test.x[:, :, 0],
                                  mnist_arrays["x_test"].reshape(10, 784)[:, perm].astype(np.float32) / 255)
    assert "permuted with seed 7" in a.note


def _replace_idx(folder, key, data: bytes):
    (folder / IDX_NAMES[key]).write_bytes(data)
    return folder


@pytest.mark.parametrize("key,mutate,message", [
    ("x_train", lambda b: b[:-100], r"train-images-idx3-ubyte: IDX file is truncated: dimensions 20x28x28 need "
                                    r"15680 bytes of data but the file holds 15580"),
    ("x_train", lambda b: b + b"\0", r"train-images-idx3-ubyte: IDX file is corrupt \(trailing bytes\)"),
    ("y_test", lambda b: b[:6], r"t10k-labels-idx1-ubyte: truncated IDX header"),
    ("y_test", lambda b: b[:2], r"t10k-labels-idx1-ubyte: not an IDX file"),
    ("x_test", lambda b: b"\x01\x02" + b[2:],
     r"t10k-images-idx3-ubyte: not an IDX file \(bad magic number 0x01020803\)"),
    ("x_test", lambda b: b[:2] + b"\x07" + b[3:], r"bad magic number 0x00000703"),
    ("x_test", lambda b: idx_bytes(np.zeros((10, 28, 27), np.uint8)),
     r"t10k-images-idx3-ubyte: expected uint8 images of shape \(N, 28, 28\), got uint8 10x28x27"),
    ("y_test", lambda b: idx_bytes(np.zeros(9, np.uint8)), r"t10k-labels-idx1-ubyte: 9 labels for 10 images"),
    ("y_test", lambda b: idx_bytes(np.full(10, 10, np.uint8)),
     r"t10k-labels-idx1-ubyte: label 10 is out of range 0..9"),
    ("y_train", lambda b: idx_bytes(np.zeros((20, 1), np.uint8)), r"expected uint8 labels of shape \(N,\)"),
])
def test_corrupt_idx_files(tmp_path, mnist_arrays, key, mutate, message):
    folder = write_idx_dir(tmp_path / "idx", mnist_arrays, gz=False)
    _replace_idx(folder, key, mutate(idx_bytes(mnist_arrays[key])))
    split = key.split("_")[1]
    with pytest.raises(GraphtoolsError, match=message):
        load_dataset("seq-mnist", folder, split=split)


def test_corrupt_gzip_and_missing_idx(tmp_path, mnist_arrays):
    folder = write_idx_dir(tmp_path / "gz", mnist_arrays, gz=True)
    path = folder / (IDX_NAMES["x_train"] + ".gz")
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(GraphtoolsError, match=r"train-images-idx3-ubyte.gz: corrupt or truncated gzip file"):
        load_dataset("seq-mnist", folder)
    path.write_bytes(b"\x1f\x8b" + b"\xff" * 50)
    with pytest.raises(GraphtoolsError, match=r"train-images-idx3-ubyte.gz: corrupt or truncated gzip file"):
        load_dataset("seq-mnist", folder)
    (folder / (IDX_NAMES["y_test"] + ".gz")).unlink()
    with pytest.raises(GraphtoolsError, match=r"no t10k-labels-idx1-ubyte \(nor t10k-labels-idx1-ubyte.gz\)"):
        load_dataset("seq-mnist", folder, split="test")


def test_bad_mnist_npz(tmp_path, mnist_arrays):
    def npz(name, **arrays):
        path = tmp_path / name
        np.savez(path, **arrays)
        return path

    bad = dict(mnist_arrays)
    del bad["y_train"]
    with pytest.raises(GraphtoolsError, match=r"missing.npz: not a Keras-layout mnist.npz: no array 'y_train'"):
        load_dataset("seq-mnist", npz("missing.npz", **bad))
    with pytest.raises(GraphtoolsError, match=r"x_train must be uint8 of shape \(N, 28, 28\), got float64"):
        load_dataset("seq-mnist", npz("float.npz", **{**mnist_arrays, "x_train": np.zeros((20, 28, 28))}))
    with pytest.raises(GraphtoolsError, match=r"y_test must be integers of shape \(10,\)"):
        load_dataset("seq-mnist", npz("short.npz", **{**mnist_arrays, "y_test": np.zeros(9, np.uint8)}),
                     split="test")
    with pytest.raises(GraphtoolsError, match=r"label 12 is out of range 0..9"):
        load_dataset("seq-mnist", npz("label.npz", **{**mnist_arrays, "y_train": np.full(20, 12, np.uint8)}))
    objects = np.empty(20, dtype=object)
    with pytest.raises(GraphtoolsError, match=r"objects.npz: holds pickled \(object\) arrays"):
        load_dataset("seq-mnist", npz("objects.npz", **{**mnist_arrays, "y_train": objects}))
    good = npz("good.npz", **mnist_arrays)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[:5000])
    with pytest.raises(GraphtoolsError, match=r"truncated.npz: corrupt"):
        load_dataset("seq-mnist", truncated)
    text = tmp_path / "mnist.txt"
    text.write_text("hello")
    with pytest.raises(GraphtoolsError, match=r"mnist.txt: not an .npz archive"):
        load_dataset("seq-mnist", text)
    with pytest.raises(GraphtoolsError, match=r"nothere: no such file or directory"):
        load_dataset("seq-mnist", tmp_path / "nothere")


# ------------------------------------------------------------------------------------------ CIFAR-10


CIFAR_COUNTS = {**{f"data_batch_{i}": 2 for i in range(1, 6)}, "test_batch": 3}


@pytest.fixture(scope="module")
def cifar_batches():
    rng = np.random.default_rng(1)
    return {name: (rng.integers(0, 256, (n, 3072), dtype=np.uint8), rng.integers(0, 10, n).tolist())
            for name, n in CIFAR_COUNTS.items()}


def write_cifar_bin(folder, batches):
    folder.mkdir(parents=True, exist_ok=True)
    for name, (images, labels) in batches.items():
        records = b"".join(bytes([label]) + row.tobytes() for row, label in zip(images, labels))
        (folder / (name + ".bin")).write_bytes(records)
    return folder


def write_cifar_py(folder, batches, protocol, bytes_keys=True):
    folder.mkdir(parents=True, exist_ok=True)
    for name, (images, labels) in batches.items():
        key = (lambda s: s.encode()) if bytes_keys else (lambda s: s)
        batch = {key("batch_label"): key(f"batch {name}"), key("labels"): labels, key("data"): images,
                 key("filenames"): [key(f"img_{i}.png") for i in range(len(labels))]}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=protocol))
    return folder


def py2_pickle(images: np.ndarray, labels: list[int]) -> bytes:
    """A batch pickled the way Python 2 + numpy 1.x did it (the original cifar-10-batches-py),
    assembled opcode by opcode: py2 ``str`` (BINSTRING) keys and array data, numpy.core names."""
    def string(b):
        return b"U" + bytes([len(b)]) + b if len(b) < 256 else b"T" + struct.pack("<i", len(b)) + b

    def integer(v):
        return b"K" + bytes([v]) if v < 256 else b"M" + struct.pack("<H", v)

    return (b"\x80\x02}(" + string(b"data")
            + b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n" + integer(0) + b"\x85" + string(b"b")
            + b"\x87R(" + integer(1) + integer(images.shape[0]) + integer(images.shape[1]) + b"\x86"
            + b"cnumpy\ndtype\n" + string(b"u1") + integer(0) + integer(1) + b"\x87R("
            + integer(3) + string(b"|") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xff" + integer(0) + b"tb"
            + b"\x89" + string(images.tobytes()) + b"tb"
            + string(b"labels") + b"](" + b"".join(integer(v) for v in labels) + b"eu.")


def expected_cifar(batches, names):
    images = np.concatenate([batches[n][0] for n in names])
    labels = np.concatenate([batches[n][1] for n in names])
    return images.reshape(-1, 3, 32, 32), labels


def test_seq_cifar10_from_binary_batches(tmp_path, cifar_batches):
    folder = write_cifar_bin(tmp_path / "cifar-10-batches-bin", cifar_batches)
    ds = load_dataset("seq-cifar10", folder)
    images, labels = expected_cifar(cifar_batches, [f"data_batch_{i}" for i in range(1, 6)])
    assert ds.x.shape == (10, 32, 96) and ds.x.dtype == np.float32 and ds.y.dtype == np.int64
    np.testing.assert_array_equal(ds.y, labels)
    assert ds.classes[0] == "airplane" and ds.classes[9] == "truck" and len(ds.classes) == 10
    # x[n, r, 3c + k] = image[n, k, r, c] / 255: [R, G, B] of each pixel of row r, interleaved
    for n, r, c, k in [(0, 0, 0, 0), (3, 5, 7, 1), (9, 31, 31, 2), (4, 12, 30, 2)]:
        assert ds.x[n, r, 3 * c + k] == np.float32(images[n, k, r, c]) / np.float32(255)
    np.testing.assert_array_equal(ds.x.reshape(10, 32, 32, 3).transpose(0, 3, 1, 2) * 255,
                                  images.astype(np.float32))
    test = load_dataset("seq-cifar10", tmp_path, split="test")  # the parent folder works too
    assert test.x.shape == (3, 32, 96)
    np.testing.assert_array_equal(test.y, cifar_batches["test_batch"][1])
    few = load_dataset("seq-cifar10", folder, limit=3)
    np.testing.assert_array_equal(few.x, ds.x[:3])
    np.testing.assert_array_equal(few.y, ds.y[:3])
    with pytest.raises(GraphtoolsError, match="CIFAR-10 has no validation split"):
        load_dataset("seq-cifar10", folder, split="validation")


@pytest.mark.parametrize("protocol", [2, 4])
@pytest.mark.parametrize("bytes_keys", [True, False], ids=["bytes-keys", "str-keys"])
def test_seq_cifar10_from_python_batches(tmp_path, cifar_batches, protocol, bytes_keys):
    binary = load_dataset("seq-cifar10", write_cifar_bin(tmp_path / "bin", cifar_batches))
    folder = write_cifar_py(tmp_path / "cifar-10-batches-py", cifar_batches, protocol, bytes_keys)
    ds = load_dataset("seq-cifar10", folder)
    np.testing.assert_array_equal(ds.x, binary.x)
    np.testing.assert_array_equal(ds.y, binary.y)
    assert "restricted unpickler" in ds.note


def test_python_2_pickles_as_in_the_original_distribution(tmp_path, cifar_batches):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name, (images, labels) in cifar_batches.items():
        (folder / name).write_bytes(py2_pickle(images, labels))
    images, labels = expected_cifar(cifar_batches, ["test_batch"])
    ds = load_dataset("seq-cifar10", folder, split="test")
    np.testing.assert_array_equal(ds.y, labels)
    np.testing.assert_array_equal(ds.x.reshape(3, 32, 32, 3).transpose(0, 3, 1, 2) * 255, images)


class _Evil:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


class _EvalEvil:
    def __reduce__(self):
        return (eval, ("__import__('os').system('true')",))


def test_malicious_pickle_is_refused_without_running(tmp_path, cifar_batches):
    marker = tmp_path / "pwned"
    folder = write_cifar_py(tmp_path / "cifar-10-batches-py", cifar_batches, protocol=2)
    evil = {b"data": _Evil(f"touch {marker}"), b"labels": [1]}
    for protocol in (0, 2, 4):
        (folder / "test_batch").write_bytes(pickle.dumps(evil, protocol=protocol))
        with pytest.raises(GraphtoolsError, match=r"test_batch: refused to unpickle: the pickle calls "
                                                  r"(posix|os|nt)\.system"):
            load_dataset("seq-cifar10", folder, split="test")
        assert not marker.exists()
    with pytest.raises(GraphtoolsError, match=r"refused to unpickle: the pickle calls builtins\.eval"):
        safe_load("evil.pkl", pickle.dumps({"data": _EvalEvil()}, protocol=4))
    # numpy arrays of Python objects could hide anything: refused too
    with pytest.raises(GraphtoolsError, match=r"objects.pkl: corrupt or unsupported pickle .*Python objects"):
        safe_load("objects.pkl", pickle.dumps(np.array([1, "a"], dtype=object), protocol=2))
    # ndarray subclasses are not plain arrays either
    with pytest.raises(GraphtoolsError, match=r"rec.pkl: refused to unpickle: the pickle calls numpy.rec.recarray"):
        safe_load("rec.pkl", pickle.dumps(np.rec.array([(1,)]), protocol=2))


@pytest.mark.parametrize("make,message", [
    (lambda p: p.write_bytes(p.read_bytes()[:-40]), r"data_batch_3: corrupt or unsupported pickle"),
    (lambda p: p.write_bytes(pickle.dumps([1, 2, 3])), r"data_batch_3: expected a pickled dict with 'data' and "
                                                       r"'labels', got list"),
    (lambda p: p.write_bytes(pickle.dumps({b"data": np.zeros((2, 3072), np.uint8)})), r"lacks 'labels'"),
    (lambda p: p.write_bytes(pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [1, 2]})),
     r"data_batch_3: 'data' must be a uint8 array \(N, 3072\), got uint8 2x100"),
    (lambda p: p.write_bytes(pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [1]})),
     r"data_batch_3: 1 labels for 2 images"),
    (lambda p: p.write_bytes(pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [1, 11]})),
     r"data_batch_3: label 11 is out of range 0..9"),
    (lambda p: p.unlink(), r"CIFAR-10 batch data_batch_3 is missing"),
])
def test_bad_cifar_python_batches(tmp_path, cifar_batches, make, message):
    folder = write_cifar_py(tmp_path / "cifar-10-batches-py", cifar_batches, protocol=4)
    make(folder / "data_batch_3")
    with pytest.raises(GraphtoolsError, match=message):
        load_dataset("seq-cifar10", folder)


def test_bad_cifar_binary_batches(tmp_path, cifar_batches):
    folder = write_cifar_bin(tmp_path / "cifar-10-batches-bin", cifar_batches)
    path = folder / "data_batch_2.bin"
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(GraphtoolsError, match=r"data_batch_2.bin: truncated or corrupt CIFAR-10 binary batch: "
                                              r"6145 bytes is not a whole number of 3073-byte records"):
        load_dataset("seq-cifar10", folder)
    path.write_bytes(bytes([10]) + bytes(3072))
    with pytest.raises(GraphtoolsError, match=r"data_batch_2.bin: label 10 is out of range"):
        load_dataset("seq-cifar10", folder)
    path.unlink()
    with pytest.raises(GraphtoolsError, match=r"CIFAR-10 batch data_batch_2.bin is missing"):
        load_dataset("seq-cifar10", folder, limit=1)  # checked even when the limit is reached earlier
    with pytest.raises(GraphtoolsError, match=r"no CIFAR-10 batches found"):
        load_dataset("seq-cifar10", _empty(tmp_path / "empty"))
    with pytest.raises(GraphtoolsError, match=r"is a file; expected the cifar-10-batches-bin"):
        load_dataset("seq-cifar10", folder / "test_batch.bin")


def _empty(folder):
    folder.mkdir()
    return folder


# ------------------------------------------------------------------------------------------ Speech Commands


def clip_of(root, rel):
    rate, samples = wavfile.read(root / rel)
    x = samples.astype(np.float64) / 32768
    return np.concatenate([x, np.zeros(max(0, RATE - len(x)))])[:RATE]


def test_speech_commands_splits_and_labels(speech_root):
    train = load_dataset("speech-commands", speech_root)
    assert train.x.shape == (9, 98, 13) and train.x.dtype == np.float32 and train.y.dtype == np.int64
    assert train.classes == ["no", "up", "yes"]  # sorted folders; _background_noise_ and files are not classes
    # round robin over the classes: a limit gives a balanced prefix
    np.testing.assert_array_equal(train.y, [0, 1, 2] * 3)
    np.testing.assert_array_equal(load_dataset("speech-commands", speech_root, limit=4).y, [0, 1, 2, 0])
    for split, speaker in (("validation", 1), ("test", 2)):
        ds = load_dataset("speech-commands", speech_root, split=split)
        assert ds.x.shape == (3, 98, 13) and ds.split == split
        np.testing.assert_array_equal(ds.y, [0, 1, 2])
        expected = mfcc(np.stack([clip_of(speech_root, f"{w}/spk{speaker}_nohash_0.wav") for w in ds.classes]))
        np.testing.assert_allclose(ds.x, expected, atol=1e-5)
    # train holds exactly the clips in neither list, in the documented order
    order = [f"{w}/spk{k}_nohash_0.wav" for k in (0, 3, 4) for w in ("no", "up", "yes")]
    np.testing.assert_allclose(train.x, mfcc(np.stack([clip_of(speech_root, r) for r in order])), atol=1e-5)
    assert "Speech Commands" in train.note and "synthetic" not in train.note

    restricted = load_dataset("speech-commands", speech_root, words=["yes", "no"])
    assert restricted.classes == ["no", "yes"]
    np.testing.assert_array_equal(restricted.y, [0, 1] * 3)
    np.testing.assert_allclose(restricted.x, train.x[[0, 2, 3, 5, 6, 8]], atol=1e-6)
    assert load_dataset("speech-commands", speech_root, words="up,yes").classes == ["up", "yes"]


def reference_mfcc(x):
    """MFCCs written out step by step with loops and explicit formulas (no FFT, no scipy DCT)."""
    y = np.array([x[0]] + [x[n] - 0.97 * x[n - 1] for n in range(1, len(x))])
    n_frames = 1 + (len(y) - 400) // 160
    window = np.array([0.5 - 0.5 * math.cos(2 * math.pi * n / 400) for n in range(400)])

    def mel(f):
        return 2595 * math.log10(1 + f / 700)

    def hz(m):
        return 700 * (10 ** (m / 2595) - 1)

    edges = [hz(i * mel(8000) / 41) for i in range(42)]
    bank = np.zeros((40, 257))
    for m in range(40):
        lo, mid, hi = edges[m], edges[m + 1], edges[m + 2]
        for k in range(257):
            f = k * 16000 / 512
            if lo <= f <= mid:
                bank[m, k] = (f - lo) / (mid - lo)
            elif mid < f <= hi:
                bank[m, k] = (hi - f) / (hi - mid)
    n = np.arange(400)
    dft = np.exp(-2j * np.pi * np.outer(np.arange(257), n) / 512)  # the 512-point DFT of the zero-padded frame
    dct = np.array([[math.cos(math.pi * j * (m + 0.5) / 40) * math.sqrt((1 if j == 0 else 2) / 40)
                     for m in range(40)] for j in range(13)])
    out = np.zeros((n_frames, 13))
    for t in range(n_frames):
        frame = y[160 * t: 160 * t + 400] * window
        spectrum = np.abs(dft @ frame) ** 2 / 512
        energies = [max(float(bank[m] @ spectrum), 1e-10) for m in range(40)]
        out[t] = dct @ np.log(energies)
    return out


def test_mfcc_matches_a_straightforward_computation(speech_root):
    ds = load_dataset("speech-commands", speech_root, split="test", words=["no"])  # "no/spk2": 0.9 s, padded
    ref = reference_mfcc(clip_of(speech_root, "no/spk2_nohash_0.wav"))
    assert ref.shape == (98, 13)
    np.testing.assert_allclose(ds.x[0], ref, rtol=1e-4, atol=1e-3)
    # the padded tail is silence: the log floor, 13 coefficients of log(1e-10) through the DCT
    assert ds.x[0, -1, 0] == pytest.approx(math.log(1e-10) * math.sqrt(40), rel=1e-5)
    assert mfcc(np.zeros(16000)).shape == (98, 13) and mfcc(np.zeros((2, 3, 16000))).shape == (2, 3, 98, 13)


def test_noise_is_mixed_at_the_requested_snr(speech_root):
    rng = np.random.default_rng(3)
    signal = rng.standard_normal(RATE) * 0.2
    noise = rng.standard_normal(5 * RATE) * 0.05 + 0.01
    for snr in (-5.0, 0.0, 10.0, 20.0):
        segment = random_segment(noise, RATE, rng)
        mixed = mix_at_snr(signal, segment, snr)
        measured = 10 * math.log10(power(signal) / power(mixed - signal))
        assert measured == pytest.approx(snr, abs=1e-9)
    np.testing.assert_array_equal(mix_at_snr(np.zeros(10), np.ones(10), 5.0), np.zeros(10))

    # the loader: example i draws its noise from default_rng([noise_seed, i]) (documented), so it can be rebuilt
    clean = load_dataset("speech-commands", speech_root, split="validation")
    noisy = load_dataset("speech-commands", speech_root, split="validation", noise_snr=3.0, noise_seed=11)
    assert "3 dB SNR (seed 11)" in noisy.note
    names = ["hum.wav", "white.wav"]  # sorted
    for i, word in enumerate(clean.classes):
        x = clip_of(speech_root, f"{word}/spk1_nohash_0.wav")
        r = np.random.default_rng([11, i])
        _, raw = wavfile.read(speech_root / "_background_noise_" / names[int(r.integers(2))])
        segment = random_segment(raw.astype(np.float64) / 32768, RATE, r)
        mixed = mix_at_snr(x, segment, 3.0)
        assert 10 * math.log10(power(x) / power(mixed - x)) == pytest.approx(3.0, abs=1e-9)
        np.testing.assert_allclose(noisy.x[i], mfcc(mixed), atol=1e-4)
    assert not np.allclose(noisy.x, clean.x, atol=0.1)
    again = load_dataset("speech-commands", speech_root, split="validation", noise_snr=3.0, noise_seed=11)
    np.testing.assert_array_equal(again.x, noisy.x)
    other = load_dataset("speech-commands", speech_root, split="validation", noise_snr=3.0, noise_seed=12)
    assert not np.array_equal(other.x, noisy.x)
    limited = load_dataset("speech-commands", speech_root, split="validation", noise_snr=3.0, noise_seed=11, limit=2)
    np.testing.assert_array_equal(limited.x, noisy.x[:2])  # the noise of an example does not depend on limit

    shutil.rmtree(speech_root / "_background_noise_")
    with pytest.raises(GraphtoolsError, match=r"noise_snr needs a _background_noise_ folder"):
        load_dataset("speech-commands", speech_root, noise_snr=10.0)


@pytest.mark.parametrize("make,message", [
    (lambda r: write_wav(r / "yes/spk0_nohash_0.wav", np.zeros((RATE, 2), np.int16)),
     r"yes/spk0_nohash_0.wav: WAV has 2 channels; expected mono"),
    (lambda r: write_wav(r / "yes/spk0_nohash_0.wav", np.zeros(8000, np.int16), rate=8000),
     r"yes/spk0_nohash_0.wav: WAV sample rate is 8000 Hz; expected 16000 Hz"),
    (lambda r: write_wav(r / "yes/spk0_nohash_0.wav", np.zeros(RATE, np.float32)),
     r"yes/spk0_nohash_0.wav: WAV samples are float32; expected 16-bit PCM"),
    (lambda r: write_wav(r / "yes/spk0_nohash_0.wav", np.zeros(RATE, np.uint8)),
     r"WAV samples are uint8; expected 16-bit PCM"),
    (lambda r: (r / "yes/spk0_nohash_0.wav").write_bytes(b"RIFF\x10\x00\x00\x00junk"),
     r"yes/spk0_nohash_0.wav: not a readable WAV file"),
    (lambda r: (r / "yes/spk0_nohash_0.wav").write_bytes((r / "yes/spk0_nohash_0.wav").read_bytes()[:30]),
     r"yes/spk0_nohash_0.wav: not a readable WAV file"),
    (lambda r: (r / "testing_list.txt").unlink(), r"speech: no testing_list.txt"),
    (lambda r: (r / "validation_list.txt").write_text("yes/gone_nohash_0.wav\n"),
     r"validation_list.txt: lists yes/gone_nohash_0.wav, which does not exist"),
    (lambda r: (r / "validation_list.txt").write_text("../etc/passwd\n"),
     r"validation_list.txt: line 1: expected WORD/FILE.wav"),
    (lambda r: (r / "validation_list.txt").write_text("yes/spk2_nohash_0.wav\n"),
     r"yes/spk2_nohash_0.wav is in both validation_list.txt and testing_list.txt"),
])
def test_bad_speech_commands_input(speech_root, make, message):
    make(speech_root)
    with pytest.raises(GraphtoolsError, match=message):
        load_dataset("speech-commands", speech_root)


def test_bad_speech_commands_arguments(speech_root, tmp_path):
    with pytest.raises(GraphtoolsError, match=r"no folder for word 'maybe' \(available: no, up, yes\)"):
        load_dataset("speech-commands", speech_root, words=["yes", "maybe"])
    with pytest.raises(GraphtoolsError, match=r"missing: no such directory"):
        load_dataset("speech-commands", tmp_path / "missing")
    with pytest.raises(GraphtoolsError, match=r"no word folders; not a Speech Commands directory"):
        load_dataset("speech-commands", _empty(tmp_path / "empty"))
    write_wav(speech_root / "_background_noise_" / "loud.wav", np.zeros((RATE, 2), np.int16))
    with pytest.raises(GraphtoolsError, match=r"loud.wav: WAV has 2 channels"):
        load_dataset("speech-commands", speech_root, noise_snr=0.0)


@pytest.mark.parametrize("kwargs,message", [
    (dict(name="imagenet"), r"unknown dataset 'imagenet' \(expected one of seq-mnist, pixel-mnist, seq-cifar10, "
                            r"speech-commands\)"),
    (dict(permute_seed=3), r"permute_seed applies only to pixel-mnist, not seq-mnist"),
    (dict(name="pixel-mnist", permute_seed=-1), r"permute_seed must be a whole number >= 0"),
    (dict(noise_snr=10.0), r"noise_snr applies only to speech-commands"),
    (dict(words=["yes"]), r"words applies only to speech-commands"),
    (dict(limit=-1), r"limit must be a non-negative integer, got -1"),
    (dict(limit=2.5), r"limit must be a non-negative integer, got 2.5"),
    (dict(name="speech-commands", noise_snr=float("nan")), r"noise_snr must be a finite number of dB"),
    (dict(name="speech-commands", noise_snr=1.0, noise_seed=-2), r"noise_seed must be a whole number >= 0"),
])
def test_bad_arguments(mnist_npz, kwargs, message):
    kwargs = {"name": "seq-mnist", **kwargs}
    with pytest.raises(GraphtoolsError, match=message):
        load_dataset(path=mnist_npz, **kwargs)


# ------------------------------------------------------------------------------------------ synthesis


def _cli():
    @click.group(cls=_Group)
    def root():
        pass

    root.add_command(data_group)
    return root


def test_missing_espeak_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)
    with pytest.raises(GraphtoolsError, match=r"^espeak-ng is not installed \(apt-get install espeak-ng\)$"):
        synthesize_speech_commands(tmp_path / "out", words=["yes"], per_word=1)
    result = CliRunner().invoke(_cli(), ["data", "synth-speech", str(tmp_path / "out"), "--per-word", "1"])
    assert result.exit_code == 1
    assert result.output.strip() == "error: espeak-ng is not installed (apt-get install espeak-ng)"
    assert not (tmp_path / "out").exists()


def test_synthesis_arguments_are_checked(tmp_path):
    with pytest.raises(GraphtoolsError, match=r"words: '-rf' is not a usable word"):
        synthesize_speech_commands(tmp_path / "a", words="yes,-rf")
    with pytest.raises(GraphtoolsError, match=r"words: 'yes' is given twice"):
        synthesize_speech_commands(tmp_path / "a", words=["yes", "yes"])
    with pytest.raises(GraphtoolsError, match=r"per_word must be a positive integer, got 0"):
        synthesize_speech_commands(tmp_path / "a", per_word=0)


@pytest.mark.skipif(not HAS_ESPEAK, reason="espeak-ng is not installed")
def test_synthesize_speech_commands_with_espeak(tmp_path):
    out = tmp_path / "synth"
    result = CliRunner().invoke(_cli(), ["data", "synth-speech", str(out), "--words", "yes,no,go",
                                         "--per-word", "4", "--seed", "5"])
    assert result.exit_code == 0, result.output
    assert "wrote 12 clips of 3 words" in result.output
    clips = sorted(p.relative_to(out).as_posix() for p in out.glob("*/*.wav") if p.parent.name != "_background_noise_")
    assert len(clips) == 12 and not list(out.rglob(".tmp-*"))
    for rel in clips:
        rate, samples = wavfile.read(out / rel)
        assert rate == 16000 and samples.dtype == np.int16 and samples.shape == (16000,)
        assert np.abs(samples).max() > 1000  # a word was spoken
    validation = (out / "validation_list.txt").read_text().split()
    testing = (out / "testing_list.txt").read_text().split()
    assert len(validation) == 1 and len(testing) == 1 and not set(validation) & set(testing)
    assert set(validation) | set(testing) <= set(clips)
    noise = sorted(p.name for p in (out / "_background_noise_").glob("*.wav"))
    assert noise == ["brown_noise.wav", "pink_noise.wav", "white_noise.wav"]

    train = load_dataset("speech-commands", out)
    assert train.classes == ["go", "no", "yes"] and train.x.shape == (10, 98, 13)
    assert train.note.startswith("synthetic stand-in")
    assert np.isfinite(train.x).all()
    noisy = load_dataset("speech-commands", out, split="test", noise_snr=10.0)
    assert noisy.x.shape == (1, 98, 13)

    with pytest.raises(GraphtoolsError, match=r"synth: exists and is not empty; choose a new folder"):
        synthesize_speech_commands(out, words=["yes"], per_word=1)
    # same arguments, same files
    again = tmp_path / "again"
    synthesize_speech_commands(again, words="yes,no,go", per_word=4, seed=5)
    for rel in clips:
        assert (again / rel).read_bytes() == (out / rel).read_bytes()


def test_speech_commands_per_clip_cmvn(speech_root):
    raw = load_dataset("speech-commands", speech_root, split="test")
    normalized = load_dataset("speech-commands", speech_root, split="test", normalize=True)
    assert normalized.x.dtype == np.float32 and normalized.x.shape == raw.x.shape
    np.testing.assert_allclose(normalized.x.mean(axis=1), 0, atol=1e-5)  # every clip and coefficient
    np.testing.assert_allclose(normalized.x.std(axis=1), 1, atol=1e-3)
    expected = (raw.x - raw.x.mean(axis=1, keepdims=True)) / (raw.x.std(axis=1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(normalized.x, expected, rtol=1e-4, atol=1e-4)
    assert "per-clip CMVN" in normalized.note and "CMVN" not in raw.note
    noisy = load_dataset("speech-commands", speech_root, split="test", noise_snr=0.0, normalize=True)
    np.testing.assert_allclose(noisy.x.mean(axis=1), 0, atol=1e-5)  # normalized after the noise
    with pytest.raises(GraphtoolsError, match="normalize applies only to speech-commands, not seq-mnist"):
        load_dataset("seq-mnist", speech_root, normalize=True)
