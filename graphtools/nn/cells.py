"""RNN (tanh), LSTM and GRU layers over a whole sequence, forward and backward, in numpy.

Exactly PyTorch's equations, gate order and two bias vectors (``torch.nn`` docs):

* RNN:  ``h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)``
* LSTM: ``[i, f, g, o] = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh`` (row blocks),
  ``i, f, o = sigmoid(.)``, ``g = tanh(.)``, ``c_t = f c_{t-1} + i g``, ``h_t = o tanh(c_t)``
* GRU:  ``r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)``, ``z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)``,
  ``n = tanh(W_in x + b_in + r (W_hn h + b_hn))``, ``h_t = (1 - z) n + z h_{t-1}``

Arrays are time-major: ``x`` is ``(T, B, F)``.  The input projection of all
steps is one matrix product; each step then costs one product with ``W_hh``
for all gates at once (fused gates).  Backward is full backpropagation
through time; weight gradients are accumulated with one product over all
steps.  Everything stays in the dtype of the weights (float32 to train,
float64 for gradient checks).
"""

from __future__ import annotations

import numpy as np

GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def sigmoid(a: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-a))`` computed as ``(1 + tanh(a/2)) / 2``: no overflow for large ``|a|``."""
    return 0.5 + 0.5 * np.tanh(0.5 * a)


def layer_forward(cell: str, x: np.ndarray, W_ih, W_hh, b_ih, b_hh) -> tuple[np.ndarray, tuple]:
    """Run one layer over ``x`` (``T, B, F``) from a zero state; return all hidden states
    ``(T, B, H)`` and the cache :func:`layer_backward` needs."""
    T, B, F = x.shape
    H = W_hh.shape[1]
    xp = (x.reshape(T * B, F) @ W_ih.T).reshape(T, B, -1) + b_ih
    hs = np.zeros((T + 1, B, H), dtype=W_hh.dtype)
    Wt = np.ascontiguousarray(W_hh.T)
    if cell == "rnn":
        for t in range(T):
            hs[t + 1] = np.tanh(xp[t] + hs[t] @ Wt + b_hh)
        return hs[1:], (cell, x, hs, None, None, W_ih, W_hh)
    if cell == "lstm":
        xp += b_hh
        gates = np.empty((T, B, 4 * H), dtype=W_hh.dtype)
        cs = np.zeros((T + 1, B, H), dtype=W_hh.dtype)
        tcs = np.empty((T, B, H), dtype=W_hh.dtype)
        for t in range(T):
            a = gates[t]
            np.add(xp[t], hs[t] @ Wt, out=a)
            a[:, :2 * H] = sigmoid(a[:, :2 * H])
            a[:, 2 * H:3 * H] = np.tanh(a[:, 2 * H:3 * H])
            a[:, 3 * H:] = sigmoid(a[:, 3 * H:])
            i, f, g, o = a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:]
            cs[t + 1] = f * cs[t] + i * g
            tcs[t] = np.tanh(cs[t + 1])
            hs[t + 1] = o * tcs[t]
        return hs[1:], (cell, x, hs, (gates, cs, tcs), None, W_ih, W_hh)
    if cell == "gru":
        gates = np.empty((T, B, 3 * H), dtype=W_hh.dtype)  # r, z, n after activation
        ghn = np.empty((T, B, H), dtype=W_hh.dtype)  # W_hn h + b_hn, needed by backward
        for t in range(T):
            gh = hs[t] @ Wt + b_hh
            rz = sigmoid(xp[t, :, :2 * H] + gh[:, :2 * H])
            r, z = rz[:, :H], rz[:, H:]
            ghn[t] = gh[:, 2 * H:]
            n = np.tanh(xp[t, :, 2 * H:] + r * ghn[t])
            gates[t, :, :2 * H] = rz
            gates[t, :, 2 * H:] = n
            hs[t + 1] = n + z * (hs[t] - n)
        return hs[1:], (cell, x, hs, gates, ghn, W_ih, W_hh)
    raise ValueError(f"unknown cell {cell!r}")


def layer_backward(dhs: np.ndarray, cache: tuple, need_dx: bool = True) -> tuple[np.ndarray | None, dict]:
    """Backpropagate ``dL/dh_t`` for every step (``T, B, H``) through one layer.

    Returns ``dL/dx`` (or None) and the gradients ``{"weight_ih", "weight_hh", "bias_ih", "bias_hh"}``.
    """
    cell, x, hs, state, ghn, W_ih, W_hh = cache
    T, B, F = x.shape
    H = W_hh.shape[1]
    G = GATES[cell]
    dgi = np.empty((T, B, G * H), dtype=W_hh.dtype)  # dL/d(input projection)
    dgh = dgi if cell != "gru" else np.empty_like(dgi)  # dL/d(recurrent projection)
    dh = np.zeros((B, H), dtype=W_hh.dtype)
    if cell == "rnn":
        for t in range(T - 1, -1, -1):
            dh += dhs[t]
            h = hs[t + 1]
            np.multiply(dh, 1 - h * h, out=dgi[t])
            dh = dgi[t] @ W_hh
    elif cell == "lstm":
        gates, cs, tcs = state
        dc = np.zeros((B, H), dtype=W_hh.dtype)
        for t in range(T - 1, -1, -1):
            dh += dhs[t]
            a = gates[t]
            i, f, g, o = a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:]
            tc = tcs[t]
            dc += dh * o * (1 - tc * tc)
            da = dgi[t]
            da[:, :H] = dc * g * i * (1 - i)
            da[:, H:2 * H] = dc * cs[t] * f * (1 - f)
            da[:, 2 * H:3 * H] = dc * i * (1 - g * g)
            da[:, 3 * H:] = dh * tc * o * (1 - o)
            dc *= f
            dh = da @ W_hh
    else:  # gru
        gates = state
        for t in range(T - 1, -1, -1):
            dh += dhs[t]
            r, z, n = gates[t, :, :H], gates[t, :, H:2 * H], gates[t, :, 2 * H:]
            h_prev = hs[t]
            dan = dh * (1 - z) * (1 - n * n)
            dr = dan * ghn[t]
            dgi[t, :, :H] = dr * r * (1 - r)
            dgi[t, :, H:2 * H] = dh * (h_prev - n) * z * (1 - z)
            dgi[t, :, 2 * H:] = dan
            dgh[t, :, :2 * H] = dgi[t, :, :2 * H]
            dgh[t, :, 2 * H:] = dan * r
            dh = dh * z + dgh[t] @ W_hh
    flat_gi = dgi.reshape(T * B, G * H)
    flat_gh = dgh.reshape(T * B, G * H)
    grads = {
        "weight_ih": flat_gi.T @ x.reshape(T * B, F),
        "weight_hh": flat_gh.T @ hs[:-1].reshape(T * B, H),
        "bias_ih": flat_gi.sum(axis=0),
        "bias_hh": flat_gh.sum(axis=0),
    }
    dx = (flat_gi @ W_ih).reshape(T, B, F) if need_dx else None
    return dx, grads
