"""Spectral radius of the universal cover of a bipartite graph, by convex duality.

The universal cover ``T`` of a finite graph ``G`` is the tree of its
non-backtracking walks.  For irregular graphs the textbook Ramanujan condition
is ``sigma_2 <= rho(T)`` (Greenberg; Hoory, JCTB 93 (2005); Marcus, Spielman
and Srivastava, "Interlacing families IV", 2015); the average-degree bound
``sqrt(d_in - 1) + sqrt(d_out - 1)`` is only a lower bound on ``rho(T)``
(Hoory 2005).  ``rho(T)`` is the norm of the adjacency operator of ``T`` on
``l^2``, ``rho(T) = limsup (A^n)_{xx}^{1/n}`` (Mohar and Woess, "A survey on
spectra of infinite graphs", Bull. LMS 21 (1989)).

Method.  Number the directed edges ``e = (u -> v)`` of ``G``; the successors of
``e`` are the edges ``(v -> w)``, ``w != u`` (the non-backtracking matrix).

* Upper side.  ``z >= rho(T)`` as soon as ``T`` carries a positive function
  ``f`` with ``A f <= z f`` (Pruitt's criterion for the bottom of the
  spectrum, Woess, *Random Walks on Infinite Graphs and Groups*, Lemma 7.2;
  for a symmetric nonnegative operator it bounds the norm).  Giving each
  directed edge a ratio ``g_e > 0`` and setting ``f(child) = g_e f(parent)``
  along the tree, ``A f <= z f`` reads ``F_e(g) = 1/g_e + sum_{f in succ(e)} g_f
  <= z`` for every ``e`` and ``S_v(g) = sum_{v -> w} g_{vw} <= z`` at the root.
  So ``rho(T) = inf_g max(max_e F_e(g), max_v S_v(g))`` (equality: the branch
  Green functions of ``T`` at ``z > rho(T)`` satisfy the constraints).  In
  ``log g`` this is a geometric programme, hence convex.
* Lower side.  Its Lagrange dual, over weights ``q_e >= 0`` on directed edges
  and ``r_v >= 0`` on vertices with ``sum q + sum r = 1``, minimises each
  ``g_f`` term in closed form (``a g + b / g >= 2 sqrt(ab)``):
  ``rho(T) >= L(q, r) = 2 sum_{f = (v -> w)} sqrt(q_f ((B^T q)_f + r_v))``.
  Every positive ``(q, r)`` gives a *certified* lower bound, and by strong
  duality (Slater's condition holds) the best one equals ``rho(T)``.
  For uniform ``q`` this is the argument of Hoory's lower bound.

We maximise ``L`` with the multiplicative update ``q_e <- q_e (F_e(g)/L)^{3/2}``,
``r_v <- r_v (S_v(g)/L)^{3/2}``, where ``g_f = sqrt(q_f / ((B^T q)_f + r_v))`` is the
primal point the dual weights define (the KKT conditions are ``F_e = S_v = L``
wherever ``q_e, r_v > 0``).  Once ``L`` has improved by less than
``rtol * L / 10`` over ten steps (step ``k``), the iteration goes on until the
certified bracket is narrower than ``rtol`` (checked every 20 steps), but at
most to step ``4k``.  The certified upper bound is
formed from a few steps of the tree recursion ``g_{uv} <- 1/(z - S_v + g_{vu})``
started at that primal point: with ``G_v = 1/(z - S_v) > 0``,
``rho(T) <= max_v (2 - d_v + sum_{u ~ v} sqrt(1 + 4 G_u G_v)) / (2 G_v)`` (the
constraints above for ``g_{uv} = 2 G_v / (1 + sqrt(1 + 4 G_u G_v))``, which
makes every ``F_e`` into ``v`` equal).  Each step costs ``O(E)``; the
``(n_L + n_R)^2`` adjacency is never formed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from graphtools.structure import as_csr

#: Default relative tolerance of :func:`cover_radius_bounds`.
COVER_RTOL = 1e-6

#: Exponent of the multiplicative dual update (1: plain; larger: faster, less stable).
_STEP = 1.5

#: Floor of the dual weights (relative to their unit sum), so that no ratio becomes 0/0.
_FLOOR = 1e-200

#: Most dual steps :func:`cover_radius_bounds` takes before it stops anyway.
COVER_MAX_STEPS = 2000


@dataclass(frozen=True)
class CoverRadius:
    """``rho(T)`` of the universal cover, bracketed: ``lower <= rho(T) <= upper``.

    ``value`` is ``lower`` (the dual bound, which converges to ``rho(T)``);
    ``certified`` says whether ``upper - lower <= rtol * upper`` was reached.
    """

    value: float
    lower: float
    upper: float
    steps: int
    certified: bool


def _directed_edges(M):
    """Directed edges of the bipartite graph: (tail, head, reverse index), nodes outputs first."""
    coo = M.tocoo()
    m, edges = M.shape[0], coo.nnz
    rows, cols = coo.row.astype(np.int64), coo.col.astype(np.int64) + m
    tail = np.concatenate([rows, cols])
    head = np.concatenate([cols, rows])
    reverse = np.concatenate([np.arange(edges, 2 * edges), np.arange(edges)])
    return tail, head, reverse


def _vertex_upper(G, tail, head, degree, count):
    """``max_v (2 - d_v + sum_{u~v} sqrt(1 + 4 G_u G_v)) / (2 G_v)`` over non-isolated ``v``."""
    roots = np.sqrt(1.0 + 4.0 * G[tail] * G[head])
    total = np.bincount(tail, weights=roots, minlength=count)
    used = degree > 0
    return float(np.max((2.0 - degree[used] + total[used]) / (2.0 * G[used])))


def _polish_upper(z, g, tail, head, reverse, degree, count, steps=10):
    """Best certified upper bound met along ``steps`` tree-recursion steps at ``z`` from ``g``."""
    best = math.inf
    for _ in range(steps):
        S = np.bincount(tail, weights=g, minlength=count)
        if np.any(S[degree > 0] >= z):
            break
        G = np.where(degree > 0, 1.0 / np.maximum(z - S, 1e-300), 1.0)
        best = min(best, _vertex_upper(G, tail, head, degree, count))
        denominator = z - S[head] + g[reverse]
        if np.any(denominator <= 0):
            break
        g = 1.0 / denominator
    return best


def cover_radius_bounds(B, *, rtol: float = COVER_RTOL, max_steps: int = COVER_MAX_STEPS) -> CoverRadius | None:
    """Certified bracket on the spectral radius of the universal cover of the graph of ``B``.

    Parameters
    ----------
    B : array_like or sparse matrix
        Biadjacency (outputs x inputs); an edge wherever ``B != 0``.  Isolated
        nodes are ignored; for a disconnected graph the result is the maximum
        over components.
    rtol : float
        Relative tolerance of the stopping rule (module docstring).
    max_steps : int
        Cap on the number of dual steps (each ``O(E)``); never a hang.

    Returns
    -------
    CoverRadius or None
        None when the graph has no edge.

    Examples
    --------
    >>> import numpy as np
    >>> r = cover_radius_bounds(np.ones((1, 4)))   # the star K_{1,4}: rho = sqrt(4)
    >>> round(r.value, 6), r.lower <= 2.0 <= r.upper
    (2.0, True)
    """
    if not (rtol > 0 and math.isfinite(rtol)):
        raise ValueError(f"rtol must be a positive number, not {rtol!r}")
    M = as_csr(B)
    if M.nnz == 0:
        return None
    M.data[:] = 1.0
    count = M.shape[0] + M.shape[1]
    tail, head, reverse = _directed_edges(M)
    degree = np.bincount(tail, minlength=count).astype(np.float64)
    # Directed edges in two halves, (row -> column) then (column -> row): the reverse of an
    # edge is the same index in the other half, so q[reverse] is the view q[::-1].
    q = np.ones((2, tail.size // 2))
    alive = (degree > 0).astype(np.float64)
    r = alive.copy()
    last = np.ones_like(q)
    history: list[float] = []
    lower, g, steps, stalled = 0.0, None, 0, None
    cap = _max_degree_bound(M)

    def _upper(lower, g):
        return max(lower, min(_polish_upper(lower * (1.0 + rtol / 4), g, tail, head, reverse, degree, count), cap))

    for steps in range(1, max_steps + 1):
        flat = q.ravel()
        into = np.bincount(head, weights=flat, minlength=count) + r
        bq = into[tail].reshape(q.shape) - q[::-1]
        bound = 2.0 * float(np.sum(np.sqrt(q * bq))) / (flat.sum() + r.sum())
        if bound > lower:
            lower = bound
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            g = np.sqrt(q / bq)
            S = np.bincount(tail, weights=g.ravel(), minlength=count)
            F = 1.0 / g + S[head].reshape(q.shape) - g[::-1]
        if not (np.isfinite(F).all() and np.isfinite(S).all()):
            g = last  # rounding broke the step: keep the last good primal point
            break
        last = g
        history.append(lower)
        if stalled is None and len(history) > 30 and history[-1] - history[-11] <= rtol * history[-1] / 10:
            stalled = steps
        if stalled is not None and (steps - stalled) % 20 == 0:
            upper = _upper(lower, g.ravel())
            if upper - lower <= rtol * upper or steps >= 4 * stalled:
                break
        q *= (F / bound) ** _STEP
        r *= (S / bound) ** _STEP
        scale = q.sum() + r.sum()
        q /= scale
        r /= scale
        np.maximum(q, _FLOOR, out=q)
        np.maximum(r, _FLOOR * alive, out=r)
    upper = _upper(lower, g.ravel())
    lower, upper = float(lower), float(upper)
    return CoverRadius(value=lower, lower=lower, upper=upper, steps=steps, certified=bool(upper - lower <= rtol * upper))


def _max_degree_bound(M) -> float:
    """``sqrt(max row nnz * max column nnz)`` bounds ``sigma_1(B) >= rho(T)`` from above (Schur's test)."""
    return math.sqrt(float(np.diff(M.indptr).max()) * float(np.bincount(M.indices).max()))


def nonisolated_biregular(B) -> tuple[int, int] | None:
    """``(c, d)`` when every non-isolated input has degree ``c`` and every non-isolated output
    degree ``d`` (isolated nodes ignored); otherwise None."""
    M = as_csr(B)
    if M.nnz == 0:
        return None
    rows = np.diff(M.indptr)
    cols = np.bincount(M.indices, minlength=M.shape[1])
    rows, cols = rows[rows > 0], cols[cols > 0]
    if (rows == rows[0]).all() and (cols == cols[0]).all():
        return int(cols[0]), int(rows[0])
    return None


def cover_radius(B, *, rtol: float = COVER_RTOL) -> float | None:
    """Spectral radius ``rho(T)`` of the universal cover of the bipartite graph of ``B``.

    A graph whose non-isolated inputs all have degree ``c >= 2`` and outputs degree
    ``d >= 2`` is covered by the (c, d)-biregular tree, whose spectral radius is
    ``sqrt(c - 1) + sqrt(d - 1)`` exactly (Godsil and Mohar, "Walk generating
    functions and spectral measures of infinite graphs", LAA 1988); other
    graphs use :func:`cover_radius_bounds` (method and sources in the module
    docstring) and return its converged lower bound.  (With ``c = 1`` or ``d = 1``
    the components are stars ``K_{1,k}``, their own covers, with ``rho = sqrt(k)``.)  None when ``B`` has no edge.

    Parameters
    ----------
    B : array_like or sparse matrix
        Biadjacency (outputs x inputs).
    rtol : float
        Relative tolerance.

    Returns
    -------
    float or None

    Examples
    --------
    >>> import numpy as np
    >>> round(cover_radius(np.ones((3, 5))), 9)   # K_{3,5}: sqrt(2) + sqrt(4)
    3.414213562
    """
    degrees = nonisolated_biregular(B)
    if degrees is not None:
        c, d = degrees
        if min(c, d) == 1:  # disjoint stars K_{1,k}: finite covers, rho = sqrt(k)
            return math.sqrt(c * d)
        return math.sqrt(c - 1) + math.sqrt(d - 1)
    result = cover_radius_bounds(B, rtol=rtol)
    return None if result is None else result.value
