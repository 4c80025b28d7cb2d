"""Fixtures shared by several test files."""

import os
import time

# Threads that spin while they wait.  The suite's worker processes share the cores (one per core),
# so one worker's spinning threads take time from the other's tests, and far more so when other
# work keeps every core busy.  Both settings go into the environment before numpy or torch is
# imported (their thread pools read them once, at load) and pass to every subprocess.
#
# OpenBLAS spins 2^28 cycles (~0.1 s) after each parallel call before its threads sleep; 2^4 here.
# With every core busy, test_spectral/cover/expansion/prune/cli_analyze took 88 s by default and
# 74 s with this (25 and 24 s idle).
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
# PyTorch's OpenMP threads spin between operations: with every core busy the torch test files took
# 55 s by default and 28 s with passive waiting (9 and 8 s idle).  For one torch training run alone
# the default is faster on idle cores (an LSTM-128 epoch over 5,000 examples: 0.73 s vs 2.25 s),
# though slower on busy ones (15.6 s vs 4.3 s), so graphtools itself leaves both settings alone.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import pytest
from scipy.io import wavfile


def wait_for_records(path, count, process, timeout=120):
    """Wait until the results file ``path`` holds ``count`` lines while ``process`` (a sweep) runs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_bytes().count(b"\n") >= count:
            return
        assert process.poll() is None, "the sweep ended before it could be interrupted"
        time.sleep(0.02)
    raise AssertionError("no records appeared")


def write_band_mnist(path, n_train=300, n_test=100, seed=0):
    """A Keras-layout mnist.npz whose class is the brightest of 3 horizontal bands: learnable fast."""
    rng = np.random.default_rng(seed)

    def make(n):
        y = rng.integers(0, 3, n)
        x = rng.integers(0, 60, (n, 28, 28))
        for i, label in enumerate(y):
            x[i, 9 * label:9 * label + 9] += 180
        return x.astype(np.uint8), y.astype(np.uint8)

    (x_train, y_train), (x_test, y_test) = make(n_train), make(n_test)
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return path


@pytest.fixture
def mnist(tmp_path):
    """300 training and 100 test images of :func:`write_band_mnist`."""
    return write_band_mnist(tmp_path / "mnist.npz")


# ------------------------------------------------------------------ a tiny Speech Commands tree


RATE = 16000
WORDS = {"yes": 440.0, "no": 880.0, "up": 1320.0}


def write_wav(path, samples, rate=RATE):
    path.parent.mkdir(parents=True, exist_ok=True)
    wavfile.write(path, rate, samples)


def tone(freq, seconds, rng, level=0.3):
    t = np.arange(int(seconds * RATE)) / RATE
    x = level * np.sin(2 * np.pi * freq * t) + 0.01 * rng.standard_normal(len(t))
    return np.round(x * 32767).astype(np.int16)


@pytest.fixture
def speech_root(tmp_path):
    """3 words x 5 clips (0.6 .. 1.2 s: padded and truncated), 1 validation and 1 test clip per word."""
    rng = np.random.default_rng(2)
    root = tmp_path / "speech"
    for word, freq in WORDS.items():
        for k in range(5):
            write_wav(root / word / f"spk{k}_nohash_0.wav", tone(freq * (1 + 0.02 * k), 0.6 + 0.15 * k, rng))
    white = np.round(rng.standard_normal(3 * RATE) * 3000).astype(np.int16)
    write_wav(root / "_background_noise_" / "white.wav", white)
    write_wav(root / "_background_noise_" / "hum.wav", tone(60.0, 2.5, rng))
    (root / "validation_list.txt").write_text("yes/spk1_nohash_0.wav\nno/spk1_nohash_0.wav\nup/spk1_nohash_0.wav\n")
    (root / "testing_list.txt").write_text("yes/spk2_nohash_0.wav\nno/spk2_nohash_0.wav\nup/spk2_nohash_0.wav\n")
    (root / "LICENSE").write_text("not a class\n")
    return root


# ------------------------------------------------------------------ processes


def gone(pid: int) -> bool:
    """Whether ``pid`` has ended: no such process, or a zombie waiting to be reaped by init."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rpartition(")")[2].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def wait_gone(pids, why: str) -> None:
    """Wait up to a minute for every process in ``pids`` to be :func:`gone`; fail naming ``why``."""
    deadline = time.monotonic() + 60
    while not all(gone(pid) for pid in pids):
        assert time.monotonic() < deadline, f"children {pids} {why}"
        time.sleep(0.01)
