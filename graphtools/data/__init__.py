"""Sequence datasets for training recurrent nets: seq-MNIST, pixel-MNIST, seq-CIFAR-10, Speech Commands.

Everything is read from local files (nothing is downloaded, nothing cached on
disk, nothing arbitrary unpickled) into a :class:`Dataset` with ``x`` float32
``(N, T, F)`` and ``y`` int64 ``(N,)``:

====================  ==============  ==========================================
name                  (T, F)          sources
====================  ==============  ==========================================
``seq-mnist``         (28, 28)        ``mnist.npz`` (Keras) or IDX files (raw/.gz)
``pixel-mnist``       (784, 1)        same; optional fixed pixel permutation
``seq-cifar10``       (32, 96)        ``cifar-10-batches-bin`` or ``-py``
``speech-commands``   (98, 13)        Speech Commands layout -> MFCCs
====================  ==============  ==========================================

:func:`synthesize_speech_commands` writes a small Speech-Commands-layout stand-in
with ``espeak-ng``.  See ``docs/data.md``.
"""

from graphtools.data.dataset import SPLITS, Dataset
from graphtools.data.load import DATASETS, SHAPES, load_dataset
from graphtools.data.mfcc import mfcc
from graphtools.data.mnist import pixel_permutation

#: imported on first use (PEP 562): the Speech Commands modules bring scipy.io, which a process
#: that only reads MNIST or CIFAR-10 (a sweep's workers, ``graphtools report``) need not pay for
_FROM_SYNTH = ("DEFAULT_WORDS", "SynthResult", "synthesize_speech_commands")


def __getattr__(name):
    if name in _FROM_SYNTH:
        from graphtools.data import synth

        return getattr(synth, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DATASETS",
    "DEFAULT_WORDS",
    "SHAPES",
    "SPLITS",
    "Dataset",
    "SynthResult",
    "load_dataset",
    "mfcc",
    "pixel_permutation",
    "synthesize_speech_commands",
]
