"""``load_dataset``: one entry point for every sequence dataset, dispatching on its name."""

from __future__ import annotations

import math
import os

import numpy as np

from graphtools.data.cifar import load_cifar10
from graphtools.data.dataset import Dataset, check_limit
from graphtools.data.mnist import load_mnist
from graphtools.data.speech import load_speech_commands
from graphtools.errors import GraphtoolsError
from graphtools.validate import check_seed

#: Dataset name -> (T, F) of its examples (speech-commands: for 1 s clips at 16 kHz).
SHAPES = {
    "seq-mnist": (28, 28),
    "pixel-mnist": (784, 1),
    "seq-cifar10": (32, 96),
    "speech-commands": (98, 13),
}
DATASETS = tuple(SHAPES)


def load_dataset(name: str, path: str | os.PathLike, split: str = "train", limit: int | None = None,
                 permute_seed: int | None = None, noise_snr: float | None = None, noise_seed: int = 0,
                 words=None, normalize: bool = False) -> Dataset:
    """Load split ``split`` ("train", "test" or "validation") of dataset ``name`` from ``path``.

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

    ``limit=N`` keeps the first N examples of the split (deterministic order).
    Every input problem raises a one-line GraphtoolsError.
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
        if isinstance(noise_snr, bool) or not isinstance(noise_snr, (int, float, np.number)) \
                or not math.isfinite(noise_snr):
            raise GraphtoolsError(f"noise_snr must be a finite number of dB, got {noise_snr!r}")
    check_seed(noise_seed, "noise_seed")

    if name in ("seq-mnist", "pixel-mnist"):
        return load_mnist(name, path, split, limit, permute_seed)
    if name == "seq-cifar10":
        return load_cifar10(name, path, split, limit)
    return load_speech_commands(name, path, split, limit, noise_snr=noise_snr, noise_seed=int(noise_seed),
                                words=words, normalize=bool(normalize))
