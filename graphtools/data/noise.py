"""Noise: mixing a background recording into a clip at a given SNR, and synthetic white/pink noise."""

from __future__ import annotations

import numpy as np


def power(signal: np.ndarray) -> float:
    """Mean square of the samples."""
    return float(np.mean(np.square(signal, dtype=np.float64))) if len(signal) else 0.0


def random_segment(noise: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    """``length`` consecutive samples of ``noise`` from a uniformly random start
    (the recording is tiled first when it is shorter than ``length``)."""
    if len(noise) == 0:
        raise ValueError("empty noise recording")
    if len(noise) < length:
        noise = np.tile(noise, -(-length // len(noise)))
    start = int(rng.integers(0, len(noise) - length + 1))
    return noise[start:start + length]


def mix_at_snr(signal: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """``signal + g * noise`` with ``g`` chosen so that ``10 log10(P(signal) / P(g * noise)) = snr_db``.

    ``P`` is the mean square over the whole (equal-length) arrays.  A silent
    signal or silent noise is returned unchanged (the SNR is undefined).  The
    sum is not clipped.
    """
    ps, pn = power(signal), power(noise)
    if ps == 0.0 or pn == 0.0:
        return signal.astype(np.float64, copy=True)
    gain = np.sqrt(ps / (pn * 10.0 ** (snr_db / 10.0)))
    return signal + gain * noise


def white_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """Gaussian white noise, unit variance."""
    return rng.standard_normal(n)


def pink_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """1/f ("pink") noise, unit variance: white noise shaped by 1/sqrt(f) in the frequency domain."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spectrum), dtype=np.float64)
    f[0] = 1.0
    spectrum /= np.sqrt(f)
    spectrum[0] = 0.0
    out = np.fft.irfft(spectrum, n=n)
    return out / (out.std() or 1.0)


def brown_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """1/f^2 ("brown") noise, unit variance: white noise shaped by 1/f."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spectrum), dtype=np.float64)
    f[0] = 1.0
    spectrum /= f
    spectrum[0] = 0.0
    out = np.fft.irfft(spectrum, n=n)
    return out / (out.std() or 1.0)
