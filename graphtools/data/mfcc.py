"""MFCC features with numpy and scipy only.

The recipe (defaults; every step is a parameter of :func:`mfcc`), for a signal
``x`` of samples in [-1, 1) at 16 kHz:

1. pre-emphasis: ``y[0] = x[0]``, ``y[n] = x[n] - 0.97 * x[n-1]``;
2. framing: frames of 400 samples (25 ms) every 160 samples (10 ms), no
   padding, so ``1 + (len(x) - 400) // 160`` frames (98 for one second);
3. each frame times a periodic Hann window, ``w[n] = 0.5 - 0.5 cos(2 pi n / 400)``;
4. power spectrum: ``|rfft(frame, 512)|**2 / 512`` (zero-padded to 512 points,
   257 bins at ``k * 16000 / 512`` Hz);
5. 40 triangular mel filters (HTK mel scale, ``mel(f) = 2595 log10(1 + f/700)``)
   with 42 edge frequencies equally spaced in mel from 0 Hz to 8000 Hz; filter
   ``m`` rises linearly from edge ``m`` to 1 at edge ``m+1`` and falls to 0 at
   edge ``m+2``, evaluated at the exact bin frequencies (peak 1, no area
   normalization);
6. log: ``log(max(energy, 1e-10))`` (natural log);
7. DCT-II with orthonormal scaling (``scipy.fft.dct(type=2, norm="ortho")``)
   over the 40 log energies, keeping coefficients 0..12 (13 values, c0 included).

No liftering and no mean/variance normalization.  The result is float32
``(frames, 13)``; :func:`cmvn` normalizes it per clip when asked.
"""

from __future__ import annotations

import numpy as np

SAMPLE_RATE = 16000
PRE_EMPHASIS = 0.97
FRAME_LENGTH = 400  # 25 ms
HOP_LENGTH = 160  # 10 ms
N_FFT = 512
N_MELS = 40
N_MFCC = 13
LOG_FLOOR = 1e-10


def hz_to_mel(f):
    """HTK mel scale."""
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m):
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(n_mels: int = N_MELS, n_fft: int = N_FFT, sample_rate: int = SAMPLE_RATE,
                   fmin: float = 0.0, fmax: float | None = None) -> np.ndarray:
    """Triangular filters (n_mels, n_fft // 2 + 1) on the power-spectrum bins (step 5 of the recipe)."""
    fmax = sample_rate / 2 if fmax is None else fmax
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    freqs = np.arange(n_fft // 2 + 1) * sample_rate / n_fft
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (freqs - lower) / (centre - lower)
    falling = (upper - freqs) / (upper - centre)
    return np.maximum(0.0, np.minimum(rising, falling))


def frames(signal: np.ndarray, frame_length: int = FRAME_LENGTH, hop: int = HOP_LENGTH) -> np.ndarray:
    """(..., samples) -> (..., n_frames, frame_length) strided view; no padding."""
    if signal.shape[-1] < frame_length:
        raise ValueError(f"signal of {signal.shape[-1]} samples is shorter than one frame ({frame_length})")
    windows = np.lib.stride_tricks.sliding_window_view(signal, frame_length, axis=-1)
    return windows[..., ::hop, :]


def mfcc(signal: np.ndarray, sample_rate: int = SAMPLE_RATE, pre_emphasis: float = PRE_EMPHASIS,
         frame_length: int = FRAME_LENGTH, hop: int = HOP_LENGTH, n_fft: int = N_FFT,
         n_mels: int = N_MELS, n_mfcc: int = N_MFCC, log_floor: float = LOG_FLOOR) -> np.ndarray:
    """MFCCs of ``signal`` (samples,) or a batch (B, samples): float32 (..., frames, n_mfcc).

    See the module docstring for the recipe.
    """
    x = np.asarray(signal, dtype=np.float64)
    emphasized = np.concatenate([x[..., :1], x[..., 1:] - pre_emphasis * x[..., :-1]], axis=-1)
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(frame_length) / frame_length)
    framed = frames(emphasized, frame_length, hop) * window
    spectrum = np.fft.rfft(framed, n=n_fft, axis=-1)
    power = (spectrum.real ** 2 + spectrum.imag ** 2) / n_fft
    del spectrum
    energies = power @ mel_filterbank(n_mels, n_fft, sample_rate).T
    log_energies = np.log(np.maximum(energies, log_floor))
    import scipy.fft  # imported when used: only MFCCs need it, not every process that imports graphtools.data

    coefficients = scipy.fft.dct(log_energies, type=2, norm="ortho", axis=-1)[..., :n_mfcc]
    return coefficients.astype(np.float32)


CMVN_EPS = 1e-5


def cmvn(features: np.ndarray, eps: float = CMVN_EPS) -> np.ndarray:
    """Cepstral mean and variance normalization per clip: each coefficient ``c`` of each clip
    becomes ``(c - mean_t c) / (std_t c + eps)`` over the clip's frames ``t`` (Viikki and
    Laurila, *Speech Communication* 25, 1998).  ``features`` is ``(..., frames, coefficients)``;
    the result is float32 of the same shape.  Stateless, so training, test and noisy sets are
    normalized alike."""
    x = np.asarray(features, dtype=np.float64)
    centred = x - x.mean(axis=-2, keepdims=True)
    return (centred / (centred.std(axis=-2, keepdims=True) + eps)).astype(np.float32)
