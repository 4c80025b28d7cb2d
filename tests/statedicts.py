"""State dicts laid out as PyTorch's recurrent modules lay them out, for tests (no torch needed)."""

import numpy as np


def torch_state(cell="lstm", input_size=5, hidden=6, layers=1, bidirectional=False, proj=0,
                prefix="rnn.", bias=True, seed=0):
    """A state dict laid out exactly as torch.nn.{RNN,LSTM,GRU}.state_dict() lays it out."""
    rng = np.random.default_rng(seed)
    G = {"rnn": 1, "gru": 3, "lstm": 4}[cell]
    out = proj or hidden
    state = {}
    for k in range(layers):
        for suffix in ("", "_reverse") if bidirectional else ("",):
            in_k = input_size if k == 0 else out * (2 if bidirectional else 1)
            state[f"{prefix}weight_ih_l{k}{suffix}"] = rng.standard_normal((G * hidden, in_k)).astype(np.float32)
            state[f"{prefix}weight_hh_l{k}{suffix}"] = rng.standard_normal((G * hidden, out)).astype(np.float32)
            if bias:
                state[f"{prefix}bias_ih_l{k}{suffix}"] = rng.standard_normal(G * hidden).astype(np.float32)
                state[f"{prefix}bias_hh_l{k}{suffix}"] = rng.standard_normal(G * hidden).astype(np.float32)
            if proj:
                state[f"{prefix}weight_hr_l{k}{suffix}"] = rng.standard_normal((proj, hidden)).astype(np.float32)
    return state


def sparsify(state, density, seed=1):
    """Zero each weight entry with probability ``1 - density`` (biases untouched)."""
    rng = np.random.default_rng(seed)
    return {k: v * (rng.random(v.shape) < density) if ".weight" in k or k.startswith("weight") else v
            for k, v in state.items()}
