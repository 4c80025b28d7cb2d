"""Read the WAV files of Speech Commands: 16 kHz, mono, 16-bit PCM, as float64 in [-1, 1).

No conversion is attempted: a file with another rate, more than one channel or
another sample format is refused with a one-line GraphtoolsError naming it, so
features are never silently computed from resampled or mixed-down audio.
"""

from __future__ import annotations

import os
import struct
import warnings

import numpy as np
from scipy.io import wavfile

from graphtools.errors import GraphtoolsError

RATE = 16000
CLIP = RATE  # one second


def read_wav(path: str | os.PathLike, rate: int = RATE) -> np.ndarray:
    """Samples of a ``rate`` Hz mono int16 WAV file, divided by 32768 (float64)."""
    path = os.fspath(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", wavfile.WavFileWarning)  # unknown chunks (LIST, ...)
            file_rate, samples = wavfile.read(path, mmap=False)
    except FileNotFoundError:
        raise GraphtoolsError(f"{path}: no such file") from None
    except (ValueError, EOFError, OSError, IndexError, struct.error) as exc:
        message = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise GraphtoolsError(f"{path}: not a readable WAV file ({message})") from None
    if samples.ndim != 1:
        raise GraphtoolsError(f"{path}: WAV has {samples.shape[1]} channels; expected mono (1 channel)")
    if samples.dtype != np.int16:
        raise GraphtoolsError(f"{path}: WAV samples are {samples.dtype}; expected 16-bit PCM (int16)")
    if file_rate != rate:
        raise GraphtoolsError(f"{path}: WAV sample rate is {file_rate} Hz; expected {rate} Hz")
    return samples.astype(np.float64) / 32768.0


def fix_length(signal: np.ndarray, length: int = CLIP) -> np.ndarray:
    """``signal`` truncated to ``length`` samples, or zero-padded at the end up to it."""
    if len(signal) >= length:
        return signal[:length]
    return np.concatenate([signal, np.zeros(length - len(signal), dtype=signal.dtype)])
