"""Write data/examples/lstm_pruned.npz: a small pruned LSTM in PyTorch naming (seeded).

A 2-layer nn.LSTM(28, 64) with a Linear(64, 10) head, initialised as PyTorch
does (uniform in +-1/sqrt(hidden)), then every recurrent weight matrix
magnitude-pruned to 80% sparsity.  Masks are stored next to the weights
(``rnn.weight_hh_l0_mask``), as ``torch.nn.utils.prune`` would before
``prune.remove``.  Run: ``python data/examples/make_example.py``.
"""

import os

import numpy as np

INPUT, HIDDEN, LAYERS, CLASSES, SPARSITY, SEED = 28, 64, 2, 10, 0.8, 0


def main(path=os.path.join(os.path.dirname(__file__), "lstm_pruned.npz")):
    rng = np.random.default_rng(SEED)
    bound = 1 / np.sqrt(HIDDEN)
    state = {}
    for k in range(LAYERS):
        shapes = {
            f"rnn.weight_ih_l{k}": (4 * HIDDEN, INPUT if k == 0 else HIDDEN),
            f"rnn.weight_hh_l{k}": (4 * HIDDEN, HIDDEN),
            f"rnn.bias_ih_l{k}": (4 * HIDDEN,),
            f"rnn.bias_hh_l{k}": (4 * HIDDEN,),
        }
        for name, shape in shapes.items():
            state[name] = rng.uniform(-bound, bound, shape).astype(np.float32)
    state["fc.weight"] = rng.uniform(-bound, bound, (CLASSES, HIDDEN)).astype(np.float32)
    state["fc.bias"] = rng.uniform(-bound, bound, CLASSES).astype(np.float32)
    for name in [n for n in state if ".weight_" in n]:
        W = state[name]
        keep = W.size - int(round(SPARSITY * W.size))
        order = np.argsort(-np.abs(W), axis=None, kind="stable")  # ties: lower flat index first
        mask = np.zeros(W.size, dtype=bool)
        mask[order[:keep]] = True
        mask = mask.reshape(W.shape)
        state[name] = W * mask
        state[name + "_mask"] = mask
    np.savez_compressed(path, **state)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
