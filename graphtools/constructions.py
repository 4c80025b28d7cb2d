"""Bipartite graphs with known spectra: complete bipartite, array-code and random biregular.

All return a dense 0/1 biadjacency of shape ``(n_outputs, n_inputs)`` (float64
unless a ``dtype`` is asked for).  They serve as exact test fixtures and as
deterministic or random masks (:mod:`graphtools.prune`).
"""

from __future__ import annotations

import math

import numpy as np


def complete_bipartite(n_outputs: int, n_inputs: int) -> np.ndarray:
    """``K_{n_outputs, n_inputs}``: all ones; singular values ``sqrt(n_outputs * n_inputs)`` and 0."""
    return np.ones((n_outputs, n_inputs))


def is_prime(q: int) -> bool:
    """Whether the integer ``q`` is prime (trial division; ``q`` is small here)."""
    return q >= 2 and all(q % p for p in range(2, math.isqrt(q) + 1))


_is_prime = is_prime  # former private name


# ---------------------------------------------------------------- array codes


def array_code_lines(q: int, n_lines: int, n_points: int, dtype=bool) -> np.ndarray:
    """Line-point incidence over ``Z_q``, lines tiled and points cropped: ``n_lines x n_points``.

    Row ``L`` is the line ``y = a x + b (mod q)`` with ``(a, b) = divmod(L mod q^2, q)``
    (rows repeat with period ``q^2``); column ``P`` is the point ``(x, y) = divmod(P, q)``;
    the entry is 1 when the point lies on the line.  With ``n_lines = q^2`` and
    ``n_points = l q`` this is exactly :func:`array_code` ``(q, l)``, the ``q x l`` grid
    of blocks ``P^{(a x mod q)}`` (row block ``a``, column block ``x``).

    ``n_points`` must be at most ``q^2`` (at most ``q`` values of ``x``).  Degrees:
    a row meets one point per column block ``x``, so its degree is
    ``ceil(n_points / q)`` or one less (only the last, cropped block can miss);
    within one copy of the ``q^2`` lines each slope block ``a`` meets every point
    exactly once, so column degrees are ``floor(n_lines / q)`` or one more.
    """
    if not is_prime(q):
        raise ValueError(f"q must be prime, got {q}")
    if not 0 <= n_points <= q * q:
        raise ValueError(f"an array code over Z_{q} has at most {q * q} points, asked for {n_points}")
    if n_lines < 0:
        raise ValueError(f"n_lines must be >= 0, got {n_lines}")
    B = np.zeros((n_lines, n_points), dtype=dtype)
    lines = np.arange(n_lines) % (q * q)
    a, b = np.divmod(lines, q)
    rows = np.arange(n_lines)
    for x in range(-(-n_points // q)):
        points = x * q + (a * x + b) % q
        keep = points < n_points
        B[rows[keep], points[keep]] = 1
    return B


def array_code(q: int, l: int) -> np.ndarray:
    """Array-code bigraph (Burnwal, Sinha, Vidyasagar, arXiv:1910.03937).

    With ``q`` prime, ``1 <= l <= q`` and ``P`` the ``q x q`` cyclic shift, the
    biadjacency is the ``q x l`` grid of blocks ``P^{(i*j mod q)}``: a
    ``q^2 x lq`` matrix, every output of degree ``l`` and every input of
    degree ``q``.  Its singular values are ``sqrt(lq)`` (once), ``sqrt(q)``
    (``l(q-1)`` times) and 0, so for ``l >= 2`` it is Ramanujan:
    ``sqrt(q) <= sqrt(l-1) + sqrt(q-1)``.  (Built by :func:`array_code_lines`.)
    """
    if not is_prime(q):
        raise ValueError(f"q must be prime, got {q}")
    if not 1 <= l <= q:
        raise ValueError(f"l must satisfy 1 <= l <= q = {q}, got {l}")
    return array_code_lines(q, q * q, l * q, dtype=np.float64)


# ---------------------------------------------------------------- random graphs with given degrees


def _realizable(rows: np.ndarray, cols: np.ndarray) -> bool:
    """Gale-Ryser: a simple bipartite graph with these degrees exists iff the sums agree and, for
    every k, the k largest row degrees sum to at most ``sum_j min(c_j, k)``."""
    if rows.sum() != cols.sum():
        return False
    if rows.size == 0 or cols.size == 0:
        return True
    r = np.sort(rows)[::-1]
    c = np.sort(cols)
    k = np.arange(1, r.size + 1)
    below = np.searchsorted(c, k, side="left")  # columns with c_j < k
    prefix = np.concatenate([[0], np.cumsum(c)])
    capacity = prefix[below] + k * (c.size - below)
    return bool((np.cumsum(r) <= capacity).all())


def _surplus(cells: np.ndarray, candidates: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The candidate edges to move so every cell keeps one edge: when all copies of a cell are
    candidates, the first one (lowest edge index) stays."""
    if candidates.size == 0:
        return candidates
    order = np.lexsort((candidates, cells[candidates]))
    cand = candidates[order]
    cell = cells[cand]
    first = np.ones(cand.size, dtype=bool)
    first[1:] = cell[1:] != cell[:-1]
    starts = np.flatnonzero(first)
    group_size = np.diff(np.append(starts, cand.size))
    all_copies = counts[cell[starts]] == group_size
    stay = np.zeros(cand.size, dtype=bool)
    stay[starts[all_copies]] = True
    return cand[~stay]


#: Pairings drawn before repairing repeated edges (each simple one is an exactly uniform sample).
_TRIES = 20


def _switch_sweep(rows, cols, cells, counts, n, rng) -> None:
    """One batch of switches ``(i, j), (i2, j2) -> (i, j2), (i2, j)`` on a random pairing of all
    edges, each valid one (both new cells empty, new cells unique in the batch) taken with
    probability 1/2 (the switch chain, whose stationary law is uniform)."""
    edges = rows.size
    perm = rng.permutation(edges)
    e, f = perm[0 : edges - 1 : 2], perm[1:edges:2]
    i, j, i2, j2 = rows[e], cols[e], rows[f], cols[f]
    new1, new2 = i * n + j2, i2 * n + j
    ok = (i != i2) & (j != j2) & (counts[new1] == 0) & (counts[new2] == 0) & (rng.random(e.size) < 0.5)
    idx = np.flatnonzero(ok)
    keys = np.concatenate([new1[idx], new2[idx]])
    _, inverse, times = np.unique(keys, return_inverse=True, return_counts=True)
    clash = times[inverse] > 1
    idx = idx[~(clash[: idx.size] | clash[idx.size:])]
    e, f = e[idx], f[idx]
    counts[cells[e]] -= 1
    counts[cells[f]] -= 1
    counts[new1[idx]] += 1
    counts[new2[idx]] += 1
    cols[e], cols[f] = j2[idx], j[idx]
    cells[e], cells[f] = new1[idx], new2[idx]


def random_bipartite(row_degrees, col_degrees, rng=None, dtype=np.float64, sweeps: int = 2) -> np.ndarray:
    """A random simple bipartite graph with the given degrees: row ``i`` (output) has
    ``row_degrees[i]`` edges, column ``j`` (input) ``col_degrees[j]``.

    Method: the configuration model (Bollobas 1980: a uniform random pairing of row
    stubs with column stubs); when repeats are unlikely a few pairings are drawn and
    the first simple one is returned (an exactly uniform sample); otherwise every
    repeated edge is moved by degree-preserving swaps ``(i, j), (i2, j2) -> (i, j2),
    (i2, j)`` with uniformly random partner edges whose two new cells are empty; the
    swaps run in vectorized batches (conflicting swaps of a batch are retried in the
    next one).  Conditioned on having no repeated
    edge the configuration model is uniform over all such graphs; the repair swaps
    add a small bias, which two sweeps of the switch chain (random degree-preserving
    swaps, whose stationary law is uniform: Kannan, Tetali, Vempala 1999) then reduce
    (on the 90 2-regular graphs on 4 + 4 nodes the frequencies pass a chi-square test,
    tested).  Above density 1/2 the complement (degrees ``n_inputs - r_i``,
    ``n_outputs - c_j``) is drawn instead and inverted, so at most half the cells are
    ever occupied and repeats stay few.  Cost: O(edges) memory and time per batch, a
    few dozen batches.

    ``sweeps`` is the number of switch-chain sweeps after a repair.  Raises ValueError
    when no simple graph has these degrees (Gale-Ryser) and
    RuntimeError if the repair stalls (not observed on graphs of density <= 1/2).
    """
    rng = np.random.default_rng(rng)
    r = np.asarray(row_degrees, dtype=np.int64).ravel()
    c = np.asarray(col_degrees, dtype=np.int64).ravel()
    m, n = r.size, c.size
    if (r < 0).any() or (c < 0).any() or (r > n).any() or (c > m).any() or not _realizable(r, c):
        raise ValueError(
            f"no simple bipartite graph has these degrees ({m} rows summing to {int(r.sum())}, "
            f"{n} columns summing to {int(c.sum())})"
        )
    edges = int(r.sum())
    if 2 * edges > m * n:
        return (random_bipartite(n - r, m - c, rng, bool, sweeps) == 0).astype(dtype)
    B = np.zeros((m, n), dtype=dtype)
    if edges == 0:
        return B
    rows = np.repeat(np.arange(m, dtype=np.int64), r)
    stubs = np.repeat(np.arange(n, dtype=np.int64), c)
    # Expected number of repeated cells of a random pairing, lam ~ (sum r(r-1))(sum c(c-1)) / (2 E^2);
    # a pairing is simple with probability about exp(-lam): worth a few tries only when lam is small.
    lam = float((r * (r - 1)).sum()) * float((c * (c - 1)).sum()) / (2.0 * edges * edges)
    for _ in range(_TRIES if lam <= 5 else 1):
        cols = rng.permutation(stubs)
        cells = rows * n + cols
        counts = np.bincount(cells, minlength=m * n).astype(np.int32)
        if counts.max() <= 1:  # a simple pairing: an exactly uniform sample
            B[rows, cols] = 1
            return B
    candidates = _surplus(cells, np.flatnonzero(counts[cells] > 1), counts)
    stalled = 0
    while candidates.size:
        partners = rng.integers(0, edges, size=candidates.size)
        i, j = rows[candidates], cols[candidates]
        i2, j2 = rows[partners], cols[partners]
        new1, new2 = i * n + j2, i2 * n + j
        moving = np.zeros(edges, dtype=bool)
        moving[candidates] = True
        ok = (i != i2) & (j != j2) & (counts[new1] == 0) & (counts[new2] == 0) & ~moving[partners]
        idx = np.flatnonzero(ok)
        # one swap per partner edge and per new cell in a batch
        _, first = np.unique(partners[idx], return_index=True)
        idx = idx[np.sort(first)]
        keys = np.concatenate([new1[idx], new2[idx]])
        _, inverse, times = np.unique(keys, return_inverse=True, return_counts=True)
        clash = times[inverse] > 1
        idx = idx[~(clash[: idx.size] | clash[idx.size:])]
        if idx.size:
            e, f = candidates[idx], partners[idx]
            np.subtract.at(counts, cells[e], 1)
            np.subtract.at(counts, cells[f], 1)
            counts[new1[idx]] += 1
            counts[new2[idx]] += 1
            cols[e], cols[f] = j2[idx], j[idx]
            cells[e], cells[f] = new1[idx], new2[idx]
            stalled = 0
        else:
            stalled += 1
            if stalled > 200:
                raise RuntimeError("could not remove repeated edges; try another seed")
        rest = np.setdiff1d(candidates, candidates[idx], assume_unique=True)
        candidates = _surplus(cells, rest[counts[cells[rest]] > 1], counts)
    for _ in range(sweeps):
        _switch_sweep(rows, cols, cells, counts, n, rng)
    B[rows, cols] = 1
    return B


def random_biregular(n_outputs: int, n_inputs: int, output_degree: int, rng=None) -> np.ndarray:
    """A random biregular biadjacency without multi-edges: every output has ``output_degree``
    inputs and every input ``n_outputs * output_degree / n_inputs`` outputs (must be whole).

    :func:`random_bipartite` with constant degrees (configuration model, repeated
    edges removed by degree-preserving swaps).  ``rng`` is a
    ``numpy.random.Generator`` or a seed.
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
    return random_bipartite(np.full(n_outputs, output_degree), np.full(n_inputs, edges // n_inputs), rng)


# ---------------------------------------------------------------- rewiring

from graphtools.rewiring import REWIRE_TARGETS, RewireResult, rewire  # noqa: E402,F401  (graphtools.constructions.rewire)
