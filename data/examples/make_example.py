"""Write data/examples/lstm_pruned.npz: a small LSTM trained here on seq-MNIST, then pruned (seeded).

A 2-layer LSTM (28 inputs, hidden 64) with a linear head is trained with graphtools' numpy
trainer on the bundled MNIST subset (data/mnist_subset.npz: 6,000 training digits), every
recurrent weight matrix is then magnitude-pruned to 80% sparsity (largest |w| kept, ties
to the lower flat index), and the pruned network is fine-tuned with its masks fixed.  The
checkpoint is in PyTorch naming with ``<weight>_mask`` arrays and a ``graphtools.meta``
record of all of this.  Run: ``python data/examples/make_example.py`` (about a minute).
"""

import os

import numpy as np

from graphtools.data import load_dataset
from graphtools.nn import SequenceClassifier, evaluate, fit

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "mnist_subset.npz")
HIDDEN, LAYERS, SPARSITY, SEED = 64, 2, 0.8, 0


def magnitude_mask(W: np.ndarray, sparsity: float) -> np.ndarray:
    """Keep the ``round((1 - sparsity) * size)`` largest ``|w|``; ties go to the lower flat index."""
    keep = W.size - int(round(sparsity * W.size))
    order = np.argsort(-np.abs(W), axis=None, kind="stable")
    mask = np.zeros(W.size, dtype=bool)
    mask[order[:keep]] = True
    return mask.reshape(W.shape)


def main(path=os.path.join(HERE, "lstm_pruned.npz"), data=DATA, epochs=10, finetune=5, limit=None):
    train = load_dataset("seq-mnist", data, split="train", limit=limit)
    test = load_dataset("seq-mnist", data, split="test", limit=limit)
    model = SequenceClassifier("lstm", train.features, HIDDEN, LAYERS, train.num_classes, seed=SEED)
    fit(model, train.x, train.y, epochs=epochs, lr=2e-3, seed=SEED)
    dense = evaluate(model, test.x, test.y).accuracy
    model.set_masks({name: magnitude_mask(W, SPARSITY) for name, W in model.params.items()
                     if name.startswith("rnn.weight_")})
    pruned = evaluate(model, test.x, test.y).accuracy
    fit(model, train.x, train.y, epochs=finetune, lr=1e-3, seed=SEED + 1)
    final = evaluate(model, test.x, test.y).accuracy
    model.save(path, dataset="seq-mnist", data="data/mnist_subset.npz", epochs=epochs, finetune_epochs=finetune,
               seed=SEED, sparsity=SPARSITY, pruning="magnitude, per matrix, recurrent weights",
               test_accuracy_dense=dense, test_accuracy_pruned_before_finetune=pruned, test_accuracy=final)
    print(f"wrote {path}: test accuracy dense {dense:.4f}, pruned {pruned:.4f}, fine-tuned {final:.4f}")


if __name__ == "__main__":
    main()
