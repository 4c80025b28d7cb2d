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

Speed notes.  A training step writes several arrays of ``T*B*4H`` floats;
allocating them afresh every batch costs a page fault per 4 KiB (a quarter
of the epoch time, measured), so callers may pass a ``workspace`` dict whose
buffers are reused from batch to batch (the classifier does).  Results and
caches then live in those buffers until the next call with the same
workspace.  In the LSTM the gate blocks are ordered (o, i, f, g) internally:
the sigmoid gates are contiguous, their weight rows pre-scaled by 1/2, so one
tanh over all 4H pre-activations gives ``tanh(a/2)`` for o, i, f and
``tanh(a)`` for g, and ``sigmoid(a) = (1 + tanh(a/2)) / 2`` is two in-place
passes.  The LSTM also folds its inputs and biases into the per-step product
(``[W_hh | W_ih | b]`` times ``[h_t; x_t; 1]``) instead of a separate input
projection, and takes all its weight and bias gradients from products of
several steps laid side by side.

The LSTM's steps are feature-major: a step's product input ``[h_t; x_t; 1]`` is
``(K, B)`` and its gates ``(4H, B)``, so each gate block is a contiguous
``(H, B)`` array and every elementwise pass runs over contiguous memory (numpy
pays per contiguous run: the same passes over the ``(B, H)`` column blocks of a
``(B, 4H)`` array took about twice as long; LSTM-128, batch part 64: forward
5.6 -> 4.6 ms, backward 9.2 -> 8.4 ms, measured).  Each step writes ``h_{t+1}``
straight into the next step's product input (the hidden states returned are a
strided view of it: no copy per step).  Backward goes through the steps in runs
of :data:`RUN`: first every factor of the gate gradients that does not depend
on the recursion, for the whole run in a few passes (:func:`_backward_factors`),
then the recursion, which is left with five short passes and one product per
step, then the run's share of the weight gradients (one transposing copy lays
its steps side by side, one product); a run's buffers stay in cache (backward
8.4 -> 8.1 ms; one part alone 13.4-14.3 -> 12.9-13.0 ms in
``benchmarks/bench_workers.py``).

Results.  The forward pass is bit-for-bit that of earlier versions.  Backward
groups the products of each gate gradient differently (``dc * (g i (1 - i))``
instead of ``(dc g) (i (1 - i))``) and sums the weight gradients run by run, so
gradients differ from earlier versions in the last bits (relative 1e-7 in
float32, 1e-15 in float64, LSTM-128).  Gradients are returned in
PyTorch's order.
"""

from __future__ import annotations

import numpy as np

from graphtools.model import GATE_BLOCKS


def sigmoid(a: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-a))`` computed as ``(1 + tanh(a/2)) / 2``: no overflow for large ``|a|``.

    Examples
    --------
    >>> import numpy as np
    >>> sigmoid(np.array([-1000.0, 0.0, 1000.0])).tolist()
    [0.0, 0.5, 1.0]
    """
    return 0.5 + 0.5 * np.tanh(0.5 * a)


def _empty(workspace: dict | None, key: str, shape: tuple, dtype) -> np.ndarray:
    """An uninitialised array, reused from ``workspace`` when one of that shape is there."""
    if workspace is None:
        return np.empty(shape, dtype=dtype)
    arr = workspace.get(key)
    if arr is None or arr.shape != shape or arr.dtype != dtype:
        arr = workspace[key] = np.empty(shape, dtype=dtype)
    return arr


def _project(ws, key, x, W, bias):
    """``x_t W^T + bias`` for every step at once: ``(T, B, rows of W)``."""
    T, B, F = x.shape
    out = _empty(ws, key, (T, B, W.shape[0]), W.dtype)
    np.matmul(x.reshape(T * B, F), W.T, out=out.reshape(T * B, -1))
    out += bias
    return out


def layer_forward(cell: str, x: np.ndarray, W_ih, W_hh, b_ih, b_hh,
                  workspace: dict | None = None) -> tuple[np.ndarray, tuple]:
    """Run one layer over ``x`` (``T, B, F``) from a zero state; return all hidden states
    ``(T, B, H)`` and the cache :func:`layer_backward` needs.

    The equations and gate order are PyTorch's (``torch.nn.RNN`` with tanh, ``LSTM``, ``GRU``);
    ``W_ih`` is ``(G H, F)``, ``W_hh`` ``(G H, H)`` with G row blocks (1, 4 or 3).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.ones((5, 2, 3))                      # T = 5 steps, batch 2, 3 features
    >>> W_ih, W_hh = np.full((4, 3), 0.1), np.eye(4) * 0.5
    >>> hs, cache = layer_forward("rnn", x, W_ih, W_hh, np.zeros(4), np.zeros(4))
    >>> hs.shape, bool(np.allclose(hs[0], np.tanh(0.3)))
    ((5, 2, 4), True)
    """
    if cell not in GATE_BLOCKS:
        raise ValueError(f"unknown cell {cell!r}")
    T, B, _ = x.shape
    H, dtype, ws = W_hh.shape[1], W_hh.dtype, workspace
    if cell == "lstm":
        return _lstm_forward(x, W_ih, W_hh, b_ih, b_hh, ws)
    hs = _empty(ws, "hs", (T + 1, B, H), dtype)
    hs[0] = 0
    Wt = np.ascontiguousarray(W_hh.T)
    if cell == "rnn":
        xp = _project(ws, "xp", x, W_ih, b_ih + b_hh)
        for t in range(T):
            a = hs[t + 1]
            np.matmul(hs[t], Wt, out=a)
            a += xp[t]
            np.tanh(a, out=a)
        return hs[1:], (cell, x, hs, None, None, W_ih, W_hh)
    xp = _project(ws, "xp", x, W_ih, b_ih)
    gates = _empty(ws, "gates", (T, B, 3 * H), dtype)  # r, z, n after activation
    ghn = _empty(ws, "ghn", (T, B, H), dtype)  # W_hn h + b_hn, needed by backward
    gh = _empty(ws, "gh", (B, 3 * H), dtype)
    for t in range(T):
        np.matmul(hs[t], Wt, out=gh)
        gh += b_hh
        rz = gates[t, :, :2 * H]
        np.add(xp[t, :, :2 * H], gh[:, :2 * H], out=rz)
        rz *= 0.5
        np.tanh(rz, out=rz)
        rz *= 0.5
        rz += 0.5
        r, z, n = gates[t, :, :H], gates[t, :, H:2 * H], gates[t, :, 2 * H:]
        ghn[t] = gh[:, 2 * H:]
        np.multiply(r, ghn[t], out=n)
        n += xp[t, :, 2 * H:]
        np.tanh(n, out=n)
        h = hs[t + 1]
        np.subtract(hs[t], n, out=h)
        h *= z
        h += n
    return hs[1:], (cell, x, hs, gates, ghn, W_ih, W_hh)


def layer_backward(dhs: np.ndarray, cache: tuple, need_dx: bool = True,
                   workspace: dict | None = None) -> tuple[np.ndarray | None, dict]:
    """Backpropagate ``dL/dh_t`` for every step (``T, B, H``) through one layer.

    ``dhs`` may also be ``(B, H)``: the gradient of the last step only (the top layer of a
    classifier).  Returns ``dL/dx`` (or None) and the gradients ``{"weight_ih", "weight_hh",
    "bias_ih", "bias_hh"}``.
    """
    cell, x, hs, state, ghn, W_ih, W_hh = cache
    if cell == "lstm":
        return _lstm_backward(dhs, cache, need_dx, workspace)
    T, B, F = x.shape
    H, dtype, ws = W_hh.shape[1], W_hh.dtype, workspace
    G = GATE_BLOCKS[cell]
    last_only = dhs.ndim == 2
    dgi = _empty(ws, "dgi", (T, B, G * H), dtype)  # dL/d(input projection)
    dgh = dgi if cell != "gru" else _empty(ws, "dgh", (T, B, G * H), dtype)  # dL/d(recurrent projection)
    dh = dhs.copy() if last_only else np.zeros((B, H), dtype=dtype)
    if cell == "rnn":
        for t in range(T - 1, -1, -1):
            if not last_only:
                dh += dhs[t]
            h = hs[t + 1]
            np.multiply(h, h, out=dgi[t])
            np.subtract(1, dgi[t], out=dgi[t])
            dgi[t] *= dh
            dh = dgi[t] @ W_hh
    else:  # gru
        gates = state
        for t in range(T - 1, -1, -1):
            if not last_only:
                dh += dhs[t]
            r, z, n = gates[t, :, :H], gates[t, :, H:2 * H], gates[t, :, 2 * H:]
            h_prev = hs[t]
            dan = dh * (1 - z) * (1 - n * n)
            dgi[t, :, :H] = dan * ghn[t] * r * (1 - r)
            dgi[t, :, H:2 * H] = dh * (h_prev - n) * z * (1 - z)
            dgi[t, :, 2 * H:] = dan
            dgh[t, :, :2 * H] = dgi[t, :, :2 * H]
            np.multiply(dan, r, out=dgh[t, :, 2 * H:])
            dh = dh * z + dgh[t] @ W_hh
    flat_gi = dgi.reshape(T * B, G * H)
    flat_gh = dgh.reshape(T * B, G * H)
    grads = {
        "weight_ih": flat_gi.T @ x.reshape(T * B, F),
        "weight_hh": flat_gh.T @ hs[:-1].reshape(T * B, H),
        "bias_ih": flat_gi.sum(axis=0),
        "bias_hh": flat_gh.sum(axis=0),
    }
    dx = None
    if need_dx:
        dx = _empty(ws, "dx", (T, B, F), dtype)
        np.matmul(flat_gi, W_ih, out=dx.reshape(T * B, F))
    return dx, grads


def _ofig(H: int) -> np.ndarray:
    """Row permutation from PyTorch's (i, f, g, o) to the internal (o, i, f, g): the sigmoid gates
    are rows ``:3H`` (for the forward pass) and the gates whose gradient is driven by ``dL/dc``
    rows ``H:`` (for the backward pass)."""
    return np.r_[3 * H:4 * H, 0:2 * H, 2 * H:3 * H]


def _lstm_forward(x, W_ih, W_hh, b_ih, b_hh, ws):
    T, B, F = x.shape
    H, dtype = W_hh.shape[1], W_hh.dtype
    K = H + F + 1
    order = _ofig(H)
    # One product per step does it all: gates[t] = [W_hh | W_ih | b] times [h_t; x_t; 1], gate
    # rows in the internal order, the sigmoid rows pre-scaled by 1/2.  Folding the inputs and the
    # biases into the recurrent product is cheaper than a separate thin (K = F) input projection
    # plus an addition per step, and backward gets all weight gradients from the same products.
    W = np.empty((4 * H, K), dtype=dtype)
    W[:, :H] = W_hh[order]
    W[:, H:H + F] = W_ih[order]
    W[:, -1] = (b_ih + b_hh)[order]
    W[:3 * H] *= 0.5
    # Feature-major steps: Z[t] = [h_t; x_t; 1] is (K, B) and each gate block of gates[t] an
    # (H, B) block of its own, so every elementwise pass runs over contiguous memory.  Step t
    # writes h_{t+1} straight into Z[t + 1, :H] (no copy).
    Z = _empty(ws, "z", (T + 1, K, B), dtype)
    Z[0, :H] = 0
    Z[:T, H:H + F] = x.transpose(0, 2, 1)
    Z[:T, -1] = 1
    Z[T, H:] = 0  # never read; kept defined
    gates = _empty(ws, "gates", (T, 4, H, B), dtype)  # activated o, i, f, g
    cs = _empty(ws, "cs", (T + 1, H, B), dtype)
    cs[0] = 0
    tcs = _empty(ws, "tcs", (T, H, B), dtype)
    ig = _empty(ws, "ig", (H, B), dtype)
    for t in range(T):
        a = gates[t]
        np.matmul(W, Z[t], out=a.reshape(4 * H, B))
        np.tanh(a, out=a)
        sig = a[:3]
        sig *= 0.5
        sig += 0.5
        o, i, f, g = a
        c = cs[t + 1]
        np.multiply(f, cs[t], out=c)
        np.multiply(i, g, out=ig)
        c += ig
        np.tanh(c, out=tcs[t])
        np.multiply(o, tcs[t], out=Z[t + 1, :H])
    hs = Z[1:, :H].transpose(0, 2, 1)  # (T, B, H), a view
    return hs, ("lstm", x, None, (gates, cs, tcs, Z), order, W_ih, W_hh)


def _backward_factors(gates, cs, tcs, P, A):
    """The factors of an LSTM's backward pass that do not depend on the recursion, for a run of
    steps at once (``gates`` ``(n, 4, H, B)`` in (o, i, f, g) order, ``cs`` the n + 1 cell states
    from the run's first ``c_prev``, ``tcs = tanh(cs[1:])``), written into ``P`` (like ``gates``)
    and ``A`` (like ``tcs``):

    * ``dL/da = P * dh`` for o and ``P * dc`` for i, f, g:  ``P = [tanh(c) o(1 - o),
      g i(1 - i), c_prev f(1 - f), i (1 - g^2)]``
    * ``dc += A * dh`` with ``A = o (1 - tanh(c)^2)``
    """
    o, i, _, g = (gates[:, k] for k in range(4))
    np.subtract(1, gates[:, :3], out=P[:, :3])
    P[:, :3] *= gates[:, :3]
    P[:, 0] *= tcs
    P[:, 1] *= g
    P[:, 2] *= cs[:-1]
    np.multiply(g, g, out=P[:, 3])
    np.subtract(1, P[:, 3], out=P[:, 3])
    P[:, 3] *= i
    np.multiply(tcs, tcs, out=A)
    np.subtract(1, A, out=A)
    A *= o


#: Steps whose backward pass is done at once: their recursion-free factors, then their recursion,
#: then their share of the weight gradients, all on buffers small enough to stay in cache
RUN = 7


def _lstm_backward(dhs, cache, need_dx, ws):
    _, x, _, (gates, cs, tcs, Z), order, W_ih, W_hh = cache
    T, B, F = x.shape
    H, dtype = W_hh.shape[1], W_hh.dtype
    K = Z.shape[1]
    Wt = W_hh[order].T  # (H, 4H): dh = Wt times dL/d(pre-activation)
    run = min(RUN, T)
    P = _empty(ws, "factors", (run, 4, H, B), dtype)
    A = _empty(ws, "dc_factors", (run, H, B), dtype)
    dgates = _empty(ws, "dgates", (run, 4, H, B), dtype)  # dL/d(pre-activation) of the run's steps
    flat = _empty(ws, "dgates_flat", (4 * H, run, B), dtype)  # the same, steps side by side
    zflat = _empty(ws, "z_flat", (K, run, B), dtype)  # the run's [h_t; x_t; 1], side by side
    total = _empty(ws, "total", (4 * H, K), dtype)
    part = _empty(ws, "part", (4 * H, K), dtype)
    dx = _empty(ws, "dx", (T, B, F), dtype) if need_dx else None
    W_in = W_ih[order] if need_dx else None
    last_only = dhs.ndim == 2
    dh = _empty(ws, "dh", (H, B), dtype)
    dh_next = _empty(ws, "dh_next", (H, B), dtype)
    if last_only:
        dh[...] = dhs.T
    else:
        dh[...] = 0
    dc = _empty(ws, "dc", (H, B), dtype)
    dc[...] = 0
    tmp = _empty(ws, "tmp", (H, B), dtype)
    for stop in range(T, 0, -run):
        first = max(stop - run, 0)
        n = stop - first
        _backward_factors(gates[first:stop], cs[first:stop + 1], tcs[first:stop], P[:n], A[:n])
        for t in range(stop - 1, first - 1, -1):
            if not last_only:
                dh += dhs[t].T
            k = t - first
            np.multiply(dh, A[k], out=tmp)
            dc += tmp
            da = dgates[k]
            np.multiply(dh, P[k, 0], out=da[0])
            np.multiply(dc, P[k, 1:], out=da[1:])
            if t == 0:  # dL/dh_0 and dL/dc_0: the zero start state is no parameter
                break
            dc *= gates[t, 2]  # f
            np.matmul(Wt, da.reshape(4 * H, B), out=dh_next)
            dh, dh_next = dh_next, dh
        # the run's share of [dW_hh | dW_ih | db] = sum over steps of dgates[t] Z[t]^T: one
        # product of the steps laid side by side, (4H, n B) times (n B, K)
        d = flat[:, :n]
        np.copyto(d, dgates[:n].reshape(n, 4 * H, B).transpose(1, 0, 2))
        z = zflat[:, :n]
        np.copyto(z, Z[first:stop].transpose(1, 0, 2))
        d, z = d.reshape(4 * H, n * B), z.reshape(K, n * B)
        if stop == T:
            np.matmul(d, z.T, out=total)
        else:
            np.matmul(d, z.T, out=part)
            total += part
        if need_dx:
            np.matmul(d.T, W_in, out=dx[first:stop].reshape(n * B, F))
    back = np.argsort(order)  # internal -> PyTorch row order
    grads = {
        "weight_ih": total[back, H:H + F],
        "weight_hh": total[back, :H],
        "bias_ih": total[back, -1],
        "bias_hh": total[back, -1],
    }
    return dx, grads
