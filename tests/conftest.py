"""Fixtures shared by several test files."""

import numpy as np
import pytest


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
