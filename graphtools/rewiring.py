"""Degree-preserving rewiring of a bipartite mask by double-edge swaps.

A swap takes two edges ``(a, b)`` and ``(c, d)`` (``a != c`` outputs,
``b != d`` inputs) with ``(a, d)`` and ``(c, b)`` absent and replaces them by
``(a, d)`` and ``(c, b)``: every row and column keeps its degree, so the
density and both degree sequences stay exactly as they were.  Swaps connect
all bipartite graphs with the same degree sequences (Ryser 1957), so a long
run of uniform swaps randomises the mask within its degree class; steered
swaps move ``sigma_2`` down (towards a better expander) or up.

Steering.  With ``u, v`` the second left/right singular vectors of the mask
``M``, the swap changes ``u^T M v`` by ``-(u_a - u_c)(v_b - v_d)`` (first
order in ``sigma_2``).  Each step draws ``candidates`` random valid swaps, tries
the one whose first-order change points most in the asked direction, and
keeps it only if the exact ``sigma_2`` moved that way (greedy descent / ascent
on ``sigma_2``); otherwise it is undone.  So ``sigma_2`` is monotone along a
steered run.  Everything is driven by ``rng``: a seed gives the same masks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

from graphtools.spectral import DENSE_LIMIT, top_singular_values
from graphtools.validate import check_choice, check_scalar

#: Targets of :func:`rewire`: uniform swaps, or swaps steered to lower or to raise sigma2.
RewireTarget = Literal["random", "expander", "poor"]
REWIRE_TARGETS: tuple[str, ...] = get_args(RewireTarget)


@dataclass(frozen=True)
class RewireResult:
    """The rewired mask, ``sigma_2`` before and after, and how many swaps were made of ``steps`` tried."""

    mask: np.ndarray
    target: str
    sigma2_before: float
    sigma2_after: float
    swaps: int
    steps: int


def _second_vectors(M: np.ndarray):
    """Second left and right singular vectors of the 0/1 matrix ``M`` (``sigma_2``'s)."""
    if M.size <= DENSE_LIMIT:
        u, _, vt = np.linalg.svd(M, full_matrices=False)
        return u[:, 1], vt[1]
    from scipy.sparse.linalg import svds

    u, s, vt = svds(M, k=2, v0=np.random.default_rng(0).uniform(0.5, 1.5, min(M.shape)))
    order = np.argsort(s)  # ascending: index 0 is sigma_2
    return u[:, order[0]], vt[order[0]]


def _sigma2(M: np.ndarray) -> float:
    return float(top_singular_values(M, 2)[1])


def _draw_swaps(M: np.ndarray, rows: np.ndarray, cols: np.ndarray, rng, count: int):
    """Up to ``count`` valid swaps ``(i, j)`` of edge indices (edges ``rows[i], cols[i]``)."""
    i = rng.integers(0, rows.size, size=count)
    j = rng.integers(0, rows.size, size=count)
    a, b, c, d = rows[i], cols[i], rows[j], cols[j]
    ok = (a != c) & (b != d) & ~M[a, d] & ~M[c, b]
    return i[ok], j[ok]


def rewire(B, target: RewireTarget = "random", rng=None, *, steps: int | None = None,
           candidates: int = 32) -> RewireResult:
    """Rewire the mask ``B != 0`` by double-edge swaps that keep every row and column degree.

    Parameters
    ----------
    B : array_like
        2-D mask or weight (outputs x inputs); its nonzeros are the edges.
    target : {"random", "expander", "poor"}
        ``random``: uniform swaps; ``expander``: greedy swaps that lower ``sigma_2``;
        ``poor``: greedy swaps that raise it (module docstring).
    rng : numpy.random.Generator, int or None
        Randomness; a seed makes the result reproducible.
    steps : int, optional
        Swap attempts.  Default ``10 E`` for ``random`` and ``200`` for the steered targets
        (each steered step costs one SVD).
    candidates : int
        Random swaps examined per steered step.

    Returns
    -------
    RewireResult

    Examples
    --------
    >>> import numpy as np
    >>> B = np.eye(6, dtype=bool) | np.roll(np.eye(6, dtype=bool), 1, axis=1)
    >>> out = rewire(B, "random", 0, steps=50)
    >>> bool((out.mask.sum(0) == 2).all() and (out.mask.sum(1) == 2).all())
    True
    """
    check_choice(target, "target", REWIRE_TARGETS, error=ValueError)
    M = np.array(np.asarray(B) != 0, dtype=bool)
    if M.ndim != 2:
        raise ValueError(f"a mask to rewire must be 2-D, got shape {list(M.shape)}")
    if steps is None:
        steps = 10 * int(M.sum()) if target == "random" else 200
    steps = check_scalar(steps, "steps", int, min_val=0, error=ValueError)
    rng = np.random.default_rng(rng)
    before = _sigma2(M) if M.any() else 0.0
    rows, cols = np.nonzero(M)
    swaps = 0
    if rows.size >= 2 and steps:
        if target == "random":
            swaps = _random_swaps(M, rows, cols, rng, int(steps))
        else:
            swaps = _steered_swaps(M, rows, cols, rng, int(steps), -1.0 if target == "expander" else 1.0,
                                   candidates, before)
    after = _sigma2(M) if M.any() else 0.0
    return RewireResult(M, target, before, after, swaps, int(steps))


def _apply(M, rows, cols, i, j) -> None:
    a, b, c, d = rows[i], cols[i], rows[j], cols[j]
    M[a, b] = M[c, d] = False
    M[a, d] = M[c, b] = True
    cols[i], cols[j] = d, b


def _random_swaps(M, rows, cols, rng, steps: int) -> int:
    done = 0
    batch = 256
    for start in range(0, steps, batch):
        i, j = _draw_swaps(M, rows, cols, rng, min(batch, steps - start))
        for x, y in zip(i.tolist(), j.tolist()):  # re-check: earlier swaps of the batch may clash
            a, b, c, d = rows[x], cols[x], rows[y], cols[y]
            if a != c and b != d and not M[a, d] and not M[c, b]:
                _apply(M, rows, cols, x, y)
                done += 1
    return done


def _steered_swaps(M, rows, cols, rng, steps: int, sign: float, candidates: int, sigma2: float) -> int:
    done = 0
    u, v = _second_vectors(M.astype(np.float64))
    for _ in range(steps):
        i, j = _draw_swaps(M, rows, cols, rng, candidates)
        if i.size == 0:
            continue
        change = -(u[rows[i]] - u[rows[j]]) * (v[cols[i]] - v[cols[j]])  # first-order change of u^T M v
        best = int(np.argmax(sign * change))
        x, y = int(i[best]), int(j[best])
        b, d = cols[x], cols[y]
        _apply(M, rows, cols, x, y)
        new = _sigma2(M)
        if sign * (new - sigma2) > 0:
            sigma2 = new
            done += 1
            u, v = _second_vectors(M.astype(np.float64))
        else:  # undo: swap back
            M[rows[x], cols[x]] = M[rows[y], cols[y]] = False
            M[rows[x], b] = M[rows[y], d] = True
            cols[x], cols[y] = b, d
    return done
