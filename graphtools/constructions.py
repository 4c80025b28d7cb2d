"""Bipartite graphs with known spectra: complete bipartite, array-code and random biregular.

All return a dense 0/1 float64 biadjacency of shape ``(n_outputs, n_inputs)``.
They serve as exact test fixtures and as deterministic or random masks.
"""

from __future__ import annotations

import numpy as np


def complete_bipartite(n_outputs: int, n_inputs: int) -> np.ndarray:
    """``K_{n_outputs, n_inputs}``: all ones; singular values ``sqrt(n_outputs * n_inputs)`` and 0."""
    return np.ones((n_outputs, n_inputs))


def _is_prime(q: int) -> bool:
    return q >= 2 and all(q % p for p in range(2, int(q**0.5) + 1))


def array_code(q: int, l: int) -> np.ndarray:
    """Array-code bigraph (Burnwal, Sinha, Vidyasagar, arXiv:1910.03937).

    With ``q`` prime, ``1 <= l <= q`` and ``P`` the ``q x q`` cyclic shift, the
    biadjacency is the ``q x l`` grid of blocks ``P^{(i*j mod q)}``: a
    ``q^2 x lq`` matrix, every output of degree ``l`` and every input of
    degree ``q``.  Its singular values are ``sqrt(lq)`` (once), ``sqrt(q)``
    (``l(q-1)`` times) and 0, so for ``l >= 2`` it is Ramanujan:
    ``sqrt(q) <= sqrt(l-1) + sqrt(q-1)``.
    """
    if not _is_prime(q):
        raise ValueError(f"q must be prime, got {q}")
    if not 1 <= l <= q:
        raise ValueError(f"l must satisfy 1 <= l <= q = {q}, got {l}")
    B = np.zeros((q * q, l * q))
    rows = np.arange(q)
    for i in range(q):
        for j in range(l):
            shift = (i * j) % q
            B[i * q + rows, j * q + (rows + shift) % q] = 1.0
    return B


def random_biregular(n_outputs: int, n_inputs: int, output_degree: int, rng=None) -> np.ndarray:
    """A random biregular biadjacency without multi-edges: every output has ``output_degree``
    inputs and every input ``n_outputs * output_degree / n_inputs`` outputs (must be whole).

    Configuration model (a uniform random pairing of edge stubs), then each
    repeated edge is removed by a degree-preserving swap with a random other
    edge.  ``rng`` is a ``numpy.random.Generator`` or a seed.
    """
    rng = np.random.default_rng(rng)
    edges = n_outputs * output_degree
    if not 0 <= output_degree <= n_inputs or edges % n_inputs:
        raise ValueError(
            f"no biregular {n_outputs}x{n_inputs} graph has output degree {output_degree} "
            "(need 0 <= degree <= n_inputs and n_inputs dividing n_outputs * degree)"
        )
    if output_degree == n_inputs:
        return np.ones((n_outputs, n_inputs))  # the only such graph is complete
    rows = np.repeat(np.arange(n_outputs), output_degree)
    cols = rng.permutation(np.repeat(np.arange(n_inputs), edges // n_inputs))
    B = np.zeros((n_outputs, n_inputs))
    np.add.at(B, (rows, cols), 1.0)
    for _ in range(100 * edges + 100):
        over = np.argwhere(B > 1)
        if over.size == 0:
            return B
        i, j = over[rng.integers(len(over))]
        # swap (i, j), (i2, j2) -> (i, j2), (i2, j) where both new edges are absent
        candidates = np.argwhere((B >= 1) & (B[i][None, :] == 0) & (B[:, j][:, None] == 0))
        if len(candidates) == 0:
            continue
        i2, j2 = candidates[rng.integers(len(candidates))]
        B[i, j] -= 1
        B[i2, j2] -= 1
        B[i, j2] += 1
        B[i2, j] += 1
    raise RuntimeError("could not remove repeated edges; try another seed")
