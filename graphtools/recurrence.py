"""Paths through time in an unfolded recurrent layer: reachability and mixing depth.

Both work on boolean *transition* matrices, the patterns of one step:
``I[j, i]`` is True when input ``i`` at step ``t`` has an edge to hidden unit
``j`` at step ``t`` (the gate union of ``W_ih``), and ``M[j, i]`` when hidden
unit ``i`` at step ``t`` has a path of one step to hidden unit ``j`` at step
``t + 1`` (the gate union of ``W_hh``; with an LSTM projection the pattern of
``W_hh W_hr``, through the projection node).  A path of ``k`` steps exists
exactly where the boolean power ``M^k`` is True.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from graphtools.graphs import gate_union
from graphtools.model import RecurrentLayer


def _bool_product(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Boolean matrix product (exact: float32 counts stay below 2**24 for our sizes)."""
    return (A.astype(np.float32) @ B.astype(np.float32)) > 0


def transitions(layer: RecurrentLayer) -> tuple[np.ndarray, np.ndarray]:
    """``(I, M)``: input-to-hidden and hidden-to-next-hidden patterns of one layer direction."""
    gates = max(1, len(layer.weight_ih.gates))
    I = gate_union(layer.weight_ih.matrix, gates).toarray() > 0
    M = gate_union(layer.weight_hh.matrix, gates).toarray() > 0
    if layer.weight_hr is not None:
        M = _bool_product(M, np.asarray(layer.weight_hr.matrix) != 0)
    return I, M


def reachability(I: np.ndarray, M: np.ndarray, steps: int) -> float:
    """Fraction of pairs (input ``i`` at step 1, hidden unit ``j`` at step ``T``) joined by a path.

    ``R_1 = I`` and ``R_{t+1} = M R_t`` (boolean); the answer is the mean of
    ``R_T``.  Iteration stops early once ``R`` repeats a value, since the
    sequence is then periodic.
    """
    R = np.asarray(I, dtype=bool)
    if R.size == 0:
        return 0.0
    seen = {R.tobytes(): 1}
    history = [R]
    for t in range(2, steps + 1):
        R = _bool_product(M, R)
        key = R.tobytes()
        if key in seen:  # periodic from here on: jump to the state at step T
            start = seen[key]
            period = t - start
            return float(history[start - 1 + (steps - start) % period].mean())
        seen[key] = t
        history.append(R)
    return float(R.mean())


def mixing_depth(M: np.ndarray) -> int | None:
    """The least ``k >= 1`` with every entry of the boolean power ``M^k`` True: every hidden unit at
    step ``t + k`` is reachable from every hidden unit at step ``t``.  None if no such ``k``.

    Such ``k`` exists iff ``M`` is primitive (strongly connected and aperiodic),
    and then ``k <= (n - 1)^2 + 1`` (Wielandt).  Once ``M^k`` is all True it
    stays so, so ``k`` is found by repeated squaring and binary lifting in
    ``O(log k)`` boolean products.
    """
    M = np.asarray(M, dtype=bool)
    n = M.shape[0]
    if n == 0 or not M.any(axis=0).all() or not M.any(axis=1).all():
        return None
    count, _ = connected_components(sp.csr_matrix(M), directed=True, connection="strong")
    if count != 1:
        return None
    limit = (n - 1) ** 2 + 1
    powers = [M]  # powers[i] = M^(2^i)
    while not powers[-1].all():
        if 2 ** (len(powers) - 1) > limit:
            return None  # strongly connected but periodic: never all True
        powers.append(_bool_product(powers[-1], powers[-1]))
    if len(powers) == 1:
        return 1
    # binary lifting: the largest k with M^k not all True, then k + 1
    k, Q = 0, None
    for i in range(len(powers) - 2, -1, -1):
        candidate = powers[i] if Q is None else _bool_product(Q, powers[i])
        if not candidate.all():
            Q, k = candidate, k + 2**i
    return k + 1
