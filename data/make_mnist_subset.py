"""Write data/mnist_subset.npz: 6,000 training and 1,000 test MNIST digits in the Keras layout.

A seeded random sample (without replacement) of each split of a full Keras-layout
``mnist.npz`` (keys x_train y_train x_test y_test, uint8), so a fresh machine can train
and evaluate with no other data.  Run:
``python data/make_mnist_subset.py PATH/TO/mnist.npz``.
"""

import os
import sys

import numpy as np

TRAIN, TEST, SEED = 6000, 1000, 0


def main(source, path=os.path.join(os.path.dirname(__file__), "mnist_subset.npz")):
    full = np.load(source, allow_pickle=False)
    rng = np.random.default_rng(SEED)
    train = np.sort(rng.choice(len(full["y_train"]), TRAIN, replace=False))
    test = np.sort(rng.choice(len(full["y_test"]), TEST, replace=False))
    np.savez_compressed(path, x_train=full["x_train"][train], y_train=full["y_train"][train],
                        x_test=full["x_test"][test], y_test=full["y_test"][test])
    print(f"wrote {path} ({os.path.getsize(path) / 1e6:.2f} MB)")


if __name__ == "__main__":
    main(sys.argv[1])
