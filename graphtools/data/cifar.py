"""CIFAR-10 as sequences: ``seq-cifar10``, 32 steps (image rows) of 96 features.

Step ``r`` holds the 32 pixels of image row ``r`` left to right, each as its
three channels, interleaved: ``x[n, r, 3*c + k] = image[k, r, c] / 255`` with
channel ``k`` = 0 red, 1 green, 2 blue (``[R, G, B]`` of pixel 0, then of pixel 1, ...).

Sources (``path``, or a directory holding one of these folders):

* ``cifar-10-batches-bin``: ``data_batch_1.bin`` .. ``data_batch_5.bin`` (train)
  and ``test_batch.bin``; each record is 1 label byte then 3072 bytes: the
  1024 red, 1024 green, 1024 blue values of the 32x32 image, row-major.
  A file must be a whole number of 3073-byte records.
* ``cifar-10-batches-py``: the pickled batches ``data_batch_1`` ..
  ``data_batch_5`` and ``test_batch``, each a dict with ``data`` (N, 3072)
  uint8 (same channel-major layout) and ``labels`` (N ints); keys may be bytes
  (the original Python 2 pickles) or str.  Read by
  :func:`graphtools.data.safe_pickle.safe_load`, which refuses any pickle that
  calls anything but numpy's array constructors, admits only uint8 and int64
  arrays, and only arrays whose bytes are in the file (a declared shape must
  match the data present).  A batch holds at most :data:`BATCH_MAX` images,
  as the documented batches do (10,000 each).

All five training batches must be present.  Classes: airplane, automobile,
bird, cat, deer, dog, frog, horse, ship, truck.  No validation split.
"""

from __future__ import annotations

import os
from typing import Literal

import numpy as np

from graphtools.data.dataset import Dataset, Split, check_labels, check_split
from graphtools.data.safe_pickle import safe_load
from graphtools.errors import GraphtoolsError

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
SIDE = 32
PIXELS = 3 * SIDE * SIDE
RECORD = 1 + PIXELS
#: Images per batch file of the CIFAR-10 distribution.
BATCH_MAX = 10_000

BATCHES = {
    "train": [f"data_batch_{i}" for i in range(1, 6)],
    "test": ["test_batch"],
}


def _read_file(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise GraphtoolsError(f"{path}: cannot read ({exc.strerror or exc})") from None


def read_bin_batch(path: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 3072) uint8 (channel-major) and labels (N,) int64 of one binary batch."""
    data = _read_file(path)
    if len(data) == 0 or len(data) % RECORD:
        raise GraphtoolsError(
            f"{path}: truncated or corrupt CIFAR-10 binary batch: {len(data)} bytes is not a whole "
            f"number of {RECORD}-byte records"
        )
    records = np.frombuffer(data, dtype=np.uint8).reshape(-1, RECORD)
    return records[:, 1:], check_labels(path, records[:, 0], 10)


def _get(batch: dict, key: str):
    for k in (key.encode(), key):
        if k in batch:
            return batch[k]
    return None


def read_py_batch(path: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 3072) uint8 and labels (N,) int64 of one pickled batch, loaded safely."""
    batch = safe_load(path, _read_file(path), dtypes=("uint8", "int64"))
    if not isinstance(batch, dict):
        raise GraphtoolsError(f"{path}: expected a pickled dict with 'data' and 'labels', got {type(batch).__name__}")
    data, labels = _get(batch, "data"), _get(batch, "labels")
    if data is None or labels is None:
        raise GraphtoolsError(f"{path}: CIFAR-10 batch dict lacks {'data' if data is None else 'labels'!r}")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != PIXELS:
        shape = "x".join(map(str, data.shape)) if isinstance(data, np.ndarray) else type(data).__name__
        dtype = data.dtype if isinstance(data, np.ndarray) else ""
        raise GraphtoolsError(f"{path}: 'data' must be a uint8 array (N, 3072), got {dtype} {shape}".replace("  ", " "))
    if not 1 <= len(data) <= BATCH_MAX:
        raise GraphtoolsError(f"{path}: a CIFAR-10 batch holds 1 to {BATCH_MAX} images, this one {len(data)}")
    if isinstance(labels, np.ndarray):
        if labels.ndim != 1:
            raise GraphtoolsError(f"{path}: 'labels' must be one-dimensional, got shape {labels.shape}")
        labels = labels.tolist()
    if not isinstance(labels, (list, tuple)) or not all(isinstance(v, int) and not isinstance(v, bool) for v in labels):
        raise GraphtoolsError(f"{path}: 'labels' must be a list of integers")
    if len(labels) != len(data):
        raise GraphtoolsError(f"{path}: {len(labels)} labels for {len(data)} images")
    return data, check_labels(path, np.array(labels, dtype=np.int64), 10)


def _locate(path: str) -> tuple[str, str]:
    """The batches folder and its kind ("bin" or "py")."""
    if not os.path.isdir(path):
        if os.path.exists(path):
            raise GraphtoolsError(
                f"{path}: is a file; expected the cifar-10-batches-bin or cifar-10-batches-py directory"
            )
        raise GraphtoolsError(f"{path}: no such directory")
    for folder in (path, os.path.join(path, "cifar-10-batches-bin"), os.path.join(path, "cifar-10-batches-py")):
        if os.path.isfile(os.path.join(folder, "data_batch_1.bin")) or os.path.isfile(
                os.path.join(folder, "test_batch.bin")):
            return folder, "bin"
        if os.path.isfile(os.path.join(folder, "data_batch_1")) or os.path.isfile(
                os.path.join(folder, "test_batch")):
            return folder, "py"
    raise GraphtoolsError(
        f"{path}: no CIFAR-10 batches found (expected data_batch_1.bin .. test_batch.bin of "
        "cifar-10-batches-bin, or data_batch_1 .. test_batch of cifar-10-batches-py)"
    )


def read_cifar10(path: str | os.PathLike, split: str, limit: int | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """Images (N, 3072) uint8, labels (N,) int64 and a description; stops reading once ``limit`` is reached."""
    path = os.fspath(path)
    check_split(split, "CIFAR-10", has_validation=False)
    folder, kind = _locate(path)
    images, labels, have = [], [], 0
    for batch in BATCHES[split]:
        file = os.path.join(folder, batch + (".bin" if kind == "bin" else ""))
        if not os.path.isfile(file):
            raise GraphtoolsError(f"{folder}: CIFAR-10 batch {os.path.basename(file)} is missing")
        if limit is not None and have >= limit:
            continue  # still check every batch is there
        data, lab = read_bin_batch(file) if kind == "bin" else read_py_batch(file)
        images.append(data)
        labels.append(lab)
        have += len(lab)
    x = np.concatenate(images) if images else np.zeros((0, PIXELS), np.uint8)
    y = np.concatenate(labels) if labels else np.zeros(0, np.int64)
    source = "CIFAR-10 " + ("binary batches" if kind == "bin" else "python batches (restricted unpickler)")
    return x[:limit], y[:limit], source


def to_row_sequences(images: np.ndarray) -> np.ndarray:
    """(N, 3072) channel-major uint8 -> (N, 32, 96) float32: row r, features [R, G, B] per pixel, / 255.

    Examples
    --------
    >>> image = np.zeros((1, 3072), np.uint8)
    >>> image[0, 1024] = 255  # green channel, pixel (0, 0)
    >>> to_row_sequences(image)[0, 0, :3].tolist()
    [0.0, 1.0, 0.0]
    """
    x = images.reshape(-1, 3, SIDE, SIDE).transpose(0, 2, 3, 1)  # (N, row, col, channel)
    return x.reshape(-1, SIDE, 3 * SIDE).astype(np.float32) / np.float32(255.0)


def load_cifar10(name: Literal["seq-cifar10"], path, *, split: Split = "train", limit: int | None = None) -> Dataset:
    """CIFAR-10 as sequences of image rows (the module docstring has the layout).

    Parameters
    ----------
    name : {"seq-cifar10"}
        The only sequence form.
    path : str or os.PathLike
        ``cifar-10-batches-bin`` or ``cifar-10-batches-py``, or a folder holding one.
    split : {"train", "test"}
        CIFAR-10 has no validation split.
    limit : int, optional
        Keep the first ``limit`` images (reading stops there).

    Returns
    -------
    Dataset
        ``x`` float32 (N, 32, 96) in [0, 1], ``y`` the class indices of :data:`CLASSES`.

    Raises
    ------
    GraphtoolsError
        For a missing batch, a file that is not whole records, an unsafe pickle or a bad label.

    Examples
    --------
    >>> import os, tempfile
    >>> folder = os.path.join(tempfile.mkdtemp(), "cifar-10-batches-bin")
    >>> os.mkdir(folder)
    >>> record = bytes([3]) + bytes(range(256)) * 12  # label 3 (cat), then 3072 pixel bytes
    >>> for batch in BATCHES["train"] + BATCHES["test"]:
    ...     with open(os.path.join(folder, batch + ".bin"), "wb") as handle:
    ...         _ = handle.write(record * 2)
    >>> ds = load_cifar10("seq-cifar10", folder, split="train")
    >>> ds.x.shape, ds.classes[ds.y[0]]
    ((10, 32, 96), 'cat')
    """
    images, labels, source = read_cifar10(path, split, limit)
    return Dataset(x=to_row_sequences(images), y=labels, classes=list(CLASSES), name=name, note=source, split=split)
