"""MNIST as sequences: ``seq-mnist`` (28 rows of 28 pixels) and ``pixel-mnist`` (784 pixels).

Sources (``path``):

* a Keras-layout ``mnist.npz`` (as ``keras.datasets.mnist`` downloads it): arrays
  ``x_train`` (60000, 28, 28) uint8, ``y_train`` (60000,), ``x_test``,
  ``y_test``; read with ``allow_pickle=False``;
* a directory with the four IDX files of the original distribution,
  ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
  ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, each raw or gzipped
  (the same name plus ``.gz``; the raw file wins when both exist).

Pixels are divided by 255 (float32 in [0, 1]).  Labels are the digits, classes
``"0"`` .. ``"9"``.  MNIST has a train and a test split only.
"""

from __future__ import annotations

import os
from typing import Literal
import zipfile
import zlib

import numpy as np

from graphtools.data.dataset import Dataset, Split, check_labels, check_split
from graphtools.data.idx import read_idx
from graphtools.errors import GraphtoolsError

CLASSES = [str(d) for d in range(10)]
SIDE = 28

IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _find_idx(folder: str, name: str) -> str:
    for candidate in (name, name + ".gz"):
        full = os.path.join(folder, candidate)
        if os.path.isfile(full):
            return full
    raise GraphtoolsError(f"{folder}: MNIST directory has no {name} (nor {name}.gz)")


def _read_idx_split(folder: str, split: str) -> tuple[np.ndarray, np.ndarray, str]:
    image_path, label_path = (_find_idx(folder, n) for n in IDX_FILES[split])
    images = read_idx(image_path)
    labels = read_idx(label_path)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (SIDE, SIDE):
        raise GraphtoolsError(
            f"{image_path}: expected uint8 images of shape (N, 28, 28), got {images.dtype} "
            f"{'x'.join(map(str, images.shape))}"
        )
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise GraphtoolsError(
            f"{label_path}: expected uint8 labels of shape (N,), got {labels.dtype} "
            f"{'x'.join(map(str, labels.shape))}"
        )
    if len(labels) != len(images):
        raise GraphtoolsError(
            f"{label_path}: {len(labels)} labels for {len(images)} images in {os.path.basename(image_path)}"
        )
    gz = image_path.endswith(".gz") or label_path.endswith(".gz")
    return images, check_labels(label_path, labels, 10), "MNIST IDX files" + (" (gzip)" if gz else "")


def _read_npz_split(path: str, split: str) -> tuple[np.ndarray, np.ndarray, str]:
    xkey, ykey = f"x_{split}", f"y_{split}"
    try:
        with open(path, "rb") as handle:
            magic = handle.read(4)
    except OSError as exc:
        raise GraphtoolsError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if magic not in (b"PK\x03\x04", b"PK\x05\x06"):
        raise GraphtoolsError(
            f"{path}: not an .npz archive (expected a Keras-layout mnist.npz or a directory of IDX files)"
        )
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [k for k in (xkey, ykey) if k not in archive.files]
            if missing:
                raise GraphtoolsError(
                    f"{path}: not a Keras-layout mnist.npz: no array {missing[0]!r} "
                    f"(has {', '.join(archive.files) or 'nothing'})"
                )
            images, labels = archive[xkey], archive[ykey]
    except GraphtoolsError:
        raise
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise GraphtoolsError(f"{path}: holds pickled (object) arrays, which graphtools never loads") from None
        raise GraphtoolsError(f"{path}: corrupt .npz file ({exc})") from None
    except (zipfile.BadZipFile, zlib.error, EOFError, KeyError) as exc:
        raise GraphtoolsError(f"{path}: corrupt or truncated .npz file ({exc})") from None
    except OSError as exc:
        raise GraphtoolsError(f"{path}: cannot read as .npz ({exc.strerror or exc})") from None
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (SIDE, SIDE):
        raise GraphtoolsError(
            f"{path}: {xkey} must be uint8 of shape (N, 28, 28), got {images.dtype} "
            f"{'x'.join(map(str, images.shape))}"
        )
    if labels.dtype.kind not in "iu" or labels.shape != (len(images),):
        raise GraphtoolsError(
            f"{path}: {ykey} must be integers of shape ({len(images)},), got {labels.dtype} "
            f"{'x'.join(map(str, labels.shape))}"
        )
    return images, check_labels(f"{path} ({ykey})", labels, 10), f"MNIST {os.path.basename(path)} (Keras layout)"


def read_mnist(path: str | os.PathLike, split: str) -> tuple[np.ndarray, np.ndarray, str]:
    """Images (N, 28, 28) uint8, labels (N,) int64 and a description of the source."""
    path = os.fspath(path)
    check_split(split, "MNIST", has_validation=False)
    if os.path.isdir(path):
        return _read_idx_split(path, split)
    if not os.path.exists(path):
        raise GraphtoolsError(f"{path}: no such file or directory (expected mnist.npz or a directory of IDX files)")
    return _read_npz_split(path, split)


def pixel_permutation(seed: int) -> np.ndarray:
    """The fixed permutation of the 784 pixel steps used by ``pixel-mnist`` with ``permute_seed=seed``.

    ``numpy.random.default_rng(seed).permutation(784)``: the same seed gives the
    same order in every split and every run.

    Parameters
    ----------
    seed : int
        The permutation's seed.

    Returns
    -------
    numpy.ndarray
        The 784 pixel indices in their new order.

    Examples
    --------
    >>> perm = pixel_permutation(7)
    >>> perm.shape, bool((perm == pixel_permutation(7)).all()), sorted(perm.tolist()) == list(range(784))
    ((784,), True, True)
    """
    return np.random.default_rng(seed).permutation(SIDE * SIDE)


def load_mnist(name: Literal["seq-mnist", "pixel-mnist"], path, *, split: Split = "train",
               limit: int | None = None, permute_seed: int | None = None) -> Dataset:
    """MNIST as sequences: ``seq-mnist`` gives x (N, 28, 28), step t is image row t;
    ``pixel-mnist`` gives x (N, 784, 1), step t is pixel t in row-major order, or pixel
    ``perm[t]`` with ``perm = pixel_permutation(permute_seed)``.

    Parameters
    ----------
    name : {"seq-mnist", "pixel-mnist"}
        The sequence form.
    path : str or os.PathLike
        A Keras-layout ``mnist.npz`` or a folder of the four IDX files (raw or ``.gz``).
    split : {"train", "test"}
        MNIST has no validation split.
    limit : int, optional
        Keep the first ``limit`` images.
    permute_seed : int, optional
        pixel-mnist: permute the 784 steps with :func:`pixel_permutation`.

    Returns
    -------
    Dataset
        ``x`` float32 in [0, 1], ``y`` the digits, ``classes`` ``"0"`` .. ``"9"``.

    Raises
    ------
    GraphtoolsError
        For a missing, truncated or malformed file, or an unknown split.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "mnist.npz")
    >>> images = np.full((3, 28, 28), 255, np.uint8)
    >>> np.savez(path, x_train=images, y_train=np.array([7, 1, 0], np.uint8), x_test=images[:1],
    ...          y_test=np.array([4], np.uint8))
    >>> ds = load_mnist("pixel-mnist", path, split="train", limit=2, permute_seed=0)
    >>> ds.x.shape, ds.y.tolist(), float(ds.x.max())
    ((2, 784, 1), [7, 1], 1.0)
    """
    images, labels, source = read_mnist(path, split)
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    x = images.astype(np.float32) / np.float32(255.0)
    note = source
    if name == "pixel-mnist":
        x = x.reshape(len(x), SIDE * SIDE, 1)
        if permute_seed is not None:
            x = np.ascontiguousarray(x[:, pixel_permutation(permute_seed), :])
            note += f"; pixels permuted with seed {permute_seed}"
    return Dataset(x=x, y=labels, classes=list(CLASSES), name=name, note=note, split=split)
