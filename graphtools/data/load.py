"""``load_dataset``: one entry point for every sequence dataset, dispatching on its name."""

from __future__ import annotations

import os
from typing import Literal, get_args

from graphtools.data.cifar import load_cifar10
from graphtools.data.dataset import Dataset, Split, check_limit
from graphtools.data.mnist import load_mnist
from graphtools.errors import GraphtoolsError
from graphtools.validate import check_scalar, check_seed

#: A dataset :func:`load_dataset` knows.
DatasetName = Literal["seq-mnist", "pixel-mnist", "seq-cifar10", "speech-commands"]
#: Dataset name -> (T, F) of its examples (speech-commands: for 1 s clips at 16 kHz).
SHAPES = {
    "seq-mnist": (28, 28),
    "pixel-mnist": (784, 1),
    "seq-cifar10": (32, 96),
    "speech-commands": (98, 13),
}
DATASETS: tuple[str, ...] = get_args(DatasetName)


def load_dataset(name: DatasetName, path: str | os.PathLike, *, split: Split = "train", limit: int | None = None,
                 permute_seed: int | None = None, noise_snr: float | None = None, noise_seed: int = 0,
                 words=None, normalize: bool = False) -> Dataset:
    """Load split ``split`` of dataset ``name`` from ``path``.

    * ``seq-mnist`` (N, 28, 28), ``pixel-mnist`` (N, 784, 1): ``path`` is a
      Keras-layout ``mnist.npz`` or a directory of the four IDX files (raw or
      ``.gz``); ``permute_seed`` (pixel-mnist only) applies a fixed permutation
      of the 784 steps.  See :mod:`graphtools.data.mnist`.
    * ``seq-cifar10`` (N, 32, 96): ``path`` is ``cifar-10-batches-bin`` or
      ``cifar-10-batches-py`` (or a folder holding one).  See :mod:`graphtools.data.cifar`.
    * ``speech-commands`` (N, 98, 13) MFCCs: ``path`` is a Speech Commands root;
      ``words`` restricts the classes, ``noise_snr`` (dB) mixes in background
      noise chosen with ``noise_seed``, ``normalize`` applies per-clip cepstral
      mean and variance normalization.  See :mod:`graphtools.data.speech`.

    Parameters
    ----------
    name : {"seq-mnist", "pixel-mnist", "seq-cifar10", "speech-commands"}
        The dataset (:data:`DATASETS`).
    path : str or os.PathLike
        Where its files are (above).
    split : {"train", "test", "validation"}
        Which split; only speech-commands has a validation split.
    limit : int, optional
        Keep the first ``limit`` examples of the split (deterministic order); None keeps all.
    permute_seed : int, optional
        pixel-mnist: the seed of the fixed pixel permutation.
    noise_snr : float, optional
        speech-commands: mix in background noise at this signal-to-noise ratio (dB).
    noise_seed : int
        speech-commands: chooses the noise segments.
    words : list of str or str, optional
        speech-commands: the classes (a list or a comma-separated string).
    normalize : bool
        speech-commands: per-clip cepstral mean and variance normalization.

    Returns
    -------
    Dataset
        ``x`` of shape (N, T, F) float32, ``y`` (N,) int64 labels, the class names and a note.

    Raises
    ------
    GraphtoolsError
        For every input problem (unknown name or split, an option the dataset does not
        take, a missing or malformed file), in one line.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "mnist.npz")
    >>> images = np.zeros((6, 28, 28), np.uint8)
    >>> np.savez(path, x_train=images, y_train=np.arange(6, dtype=np.uint8), x_test=images[:2],
    ...          y_test=np.arange(2, dtype=np.uint8))
    >>> train = load_dataset("seq-mnist", path, split="train", limit=4)
    >>> train.x.shape, train.y.tolist()
    ((4, 28, 28), [0, 1, 2, 3])
    >>> load_dataset("pixel-mnist", path, split="test").x.shape
    (2, 784, 1)
    """
    if name not in SHAPES:
        raise GraphtoolsError(f"unknown dataset {name!r} (expected one of {', '.join(DATASETS)})")
    limit = check_limit(limit)
    if permute_seed is not None:
        if name != "pixel-mnist":
            raise GraphtoolsError(f"permute_seed applies only to pixel-mnist, not {name}")
        check_seed(permute_seed, "permute_seed")
    if name != "speech-commands":
        if noise_snr is not None:
            raise GraphtoolsError(f"noise_snr applies only to speech-commands, not {name}")
        if words is not None:
            raise GraphtoolsError(f"words applies only to speech-commands, not {name}")
        if normalize:
            raise GraphtoolsError(f"normalize applies only to speech-commands, not {name}")
    if noise_snr is not None:
        check_scalar(noise_snr, "noise_snr", float, expected="a finite number of dB")
    check_seed(noise_seed, "noise_seed")

    if name in ("seq-mnist", "pixel-mnist"):
        return load_mnist(name, path, split=split, limit=limit, permute_seed=permute_seed)
    if name == "seq-cifar10":
        return load_cifar10(name, path, split=split, limit=limit)
    from graphtools.data.speech import load_speech_commands  # imported when used: scipy.io, WAV and MFCC code

    return load_speech_commands(name, path, split=split, limit=limit, noise_snr=noise_snr,
                                noise_seed=int(noise_seed), words=words, normalize=bool(normalize))
