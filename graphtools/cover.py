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

Fast route (per connected component; see :func:`cover_radius_bounds` for when it runs).
The certified upper bound above is a function of one number per *vertex*: with
``x_v = G_v > 0`` and ``T_uv = sqrt(1 + 4 x_u x_v)``, ``rho(T) <= max_v Z_v(x)``,
``Z_v(x) = (2 - d_v + sum_{u ~ v} T_uv) / (2 x_v)``, for *every* positive ``x``, and the
infimum over ``x`` is ``rho(T)`` (at ``z > rho(T)`` the Green functions of ``T`` give ``x``
with every ``Z_v = z``).  The Jacobian of ``Z`` is symmetric with the graph's pattern:
``dZ_v/dx_u = 1/T_uv``, ``dZ_v/dx_v = (sum_u x_u / T_uv - Z_v) / x_v``.  The solutions of
``Z(x) = z 1`` form a curve parametrised by ``s = mean(x)``, and ``rho(T)`` is the
smallest ``z`` on it (a fold, where the Jacobian is singular).  The route follows that
curve with Newton steps on the bordered system ``[J, -1; 1^T/n, 0]`` (MINRES on its
symmetric form with a diagonal preconditioner, each product two sparse products with
``B``'s pattern; a dense Schur-complement solve when the shorter side is small) and a
secant step on ``dz/ds`` towards the fold, from the fold of the two-class
(average-degree) problem with each vertex brought to it alone.  The lower side is then
certified by the dual bound ``L`` at weights ``q`` from a few power steps of
``q <- g^2 * (N^T q)`` (the optimal ``q`` is that map's Perron vector at the fold), with
the primal ratios ``g_uv = (T_uv - 1) / (2 x_u)``.  About six to fifteen Newton steps of
``O(E)`` work, against tens of dual steps above.  When this bracket is not certified
within ``rtol`` (graphs whose fold is at infinity or far from the start) the dual
iteration answers; where both ran, their (certified) brackets are intersected.

Components with at most one cycle (``E - V + 1 <= 1``).  A tree is its own universal cover; the cover of a
graph with one cycle unrolls the cycle and is periodic under the group ``Z`` of covering maps, which is
amenable, and for a covering with an amenable group the spectral radius of the cover equals that of the base
(Kesten for Cayley graphs; for coverings see Mohar and Woess's survey above).  So ``rho(T) = sigma_1`` of the
component, computed directly (a dense Gram matrix of the shorter side up to ``PERRON_DENSE_SIDE`` nodes; above,
bisection on ``z`` counting the eigenvalues above ``z`` by the inertia of a sparse ``L D L^T`` factorisation of
``z I - A``, Sylvester's law) and widened by the relative ``SIGMA_MARGIN`` on both sides.  There the fold lies
at infinity, which is why neither route above certified such components; now neither runs on them
(``steps = 0``).

Bisection route (``method="bisect"``; by default where the fast route did not certify: before the dual
iteration on components that take the fast route first, after both on the others).  The
``k``-th iterate of the tree recursion ``g_{uv} <- 1/(z - S_v + g_{vu})`` from ``g = 0`` is, at ``z``, the Green
function at the root of the depth-``k`` finite subtree of ``T`` that hangs from the arc ``u -> v``, and
``z - S_v`` is the inverse Green function at ``v`` of ``v`` with all its such branches.  By the Schur complement,
as soon as one of these denominators is ``<= 0``, some finite subtree of ``T`` has its top eigenvalue ``>= z``,
so ``z <= rho(T)``: a certified lower bound (taken as ``z (1 - ROUNDING_MARGIN)``, a margin for rounding, not a
proof about floating point).  When the recursion settles instead, the certified upper bound of the dual
iteration's paragraph is formed from it (valid for every positive ``g``).  The iterates increase with ``k`` and
decrease with ``z``, so the iterate of a probe at ``z'`` whose recursion did not break may start a probe at any
``z < z'`` (its denominators are never smaller than those of the recursion from 0 there, so a break still
certifies).  The route bisects the bracket it is given until a probe settles, runs the fast route's Newton
iteration to the fold from that probe's vertex Green functions ``x_v = 1/(z - S_v)`` (near the fold, which the
two-class start is not when degrees are heavy-tailed) and the dual bound at the fold's primal ratios, then probes
just under the upper end (``rtol / 2``); three such rounds at most, at most ``BISECT_STEPS`` recursion steps a
probe and ``BISECT_BUDGET`` in all, and ``BISECT_FOLD_STEPS`` Newton steps a start, so it never hangs, and the
result says ``certified=False`` when the bracket is still wider than ``rtol``.  Hubs do not make ``rho(T)`` a
pole: for a connected graph with a cycle, ``rho(T)`` is never an eigenvalue of ``T`` on ``l^2`` (the top
eigenspace of an irreducible nonnegative self-adjoint operator is spanned by one positive function, which the
infinite group of covering maps would have to leave fixed, so it is not square-summable).  They make the fold
sharp (``rho(T)`` within ``2e-8`` of ``sigma_1``, relative, with a hub of degree 101 in the tests) and far from the
two-class start, where the fast route's 30 Newton steps and the dual iteration fall short.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.linalg as la
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator, minres, splu

from graphtools.structure import as_csr, bipartite_components
from graphtools.threads import blas_limit

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

    ``value`` is ``lower`` (certified, from whichever route: module docstring);
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


def _recursion(z, g, tail, head, reverse, count):
    """``(S, d)``: the sums ``S_v = sum_{v -> w} g_{vw}`` and the denominators ``d_{uv} = z - S_v + g_{vu}`` of one
    step ``g_{uv} <- 1 / d_{uv}`` of the tree recursion."""
    S = np.bincount(tail, weights=g, minlength=count)
    return S, z - S[head] + g[reverse]


def _polish_upper(z, g, tail, head, reverse, degree, count, steps=10):
    """Best certified upper bound met along ``steps`` tree-recursion steps at ``z`` from ``g``."""
    best = math.inf
    for _ in range(steps):
        S, denominator = _recursion(z, g, tail, head, reverse, count)
        if np.any(S[degree > 0] >= z):
            break
        G = np.where(degree > 0, 1.0 / np.maximum(z - S, 1e-300), 1.0)
        best = min(best, _vertex_upper(G, tail, head, degree, count))
        if np.any(denominator <= 0):
            break
        g = 1.0 / denominator
    return best


#: Up to this many edges :func:`_column_sums` uses ``np.bincount`` (no sparse matrix to build; its
#: int64 copy of the indices is small there).
BINCOUNT_MAX_EDGES = 1 << 16


def _column_sums(M, values):
    """Column sums of the CSR pattern ``M`` with ``values`` (in ``M``'s order) as its data: ``np.bincount``
    on small graphs, else a product with the transposed (CSC) view, which sums in the same order (each
    column's entries in ``M``'s order, so the two agree bit for bit) without bincount's int64 index copy."""
    if M.nnz <= BINCOUNT_MAX_EDGES:
        return np.bincount(M.indices, weights=values, minlength=M.shape[1])
    return sp.csr_matrix((values, M.indices, M.indptr), shape=M.shape).T @ np.ones(M.shape[0])


class _VertexSystem:
    """``Z(x)`` and its symmetric Jacobian on a connected binary CSR ``M`` without isolated nodes
    (vertices: rows then columns).  The Jacobian's off-diagonal blocks share ``M``'s pattern."""

    def __init__(self, M):
        self.M, self.m = M, M.shape[0]
        self.counts = np.diff(M.indptr)
        self.degree = np.concatenate([self.counts, np.bincount(M.indices, minlength=M.shape[1])]).astype(float)
        self.W = sp.csr_matrix((np.empty(M.nnz), M.indices, M.indptr), shape=M.shape)
        self.WT = self.W.T  # a CSC view sharing W's arrays: W^T products need no transposed copy

    def values(self, x):
        """``(Z(x), T)`` with ``T_uv`` in ``M``'s CSR order (built in place: two edge-sized arrays)."""
        m, M = self.m, self.M
        T = np.repeat(x[:m], self.counts)
        T *= x[m:][M.indices]
        T *= 4.0
        T += 1.0
        np.sqrt(T, out=T)
        sums = np.empty_like(x)
        sums[:m] = np.add.reduceat(T, M.indptr[:-1])
        sums[m:] = _column_sums(M, T)
        return (2.0 - self.degree + sums) / (2.0 * x), T

    def jacobian(self, x, Z, T):
        """The diagonal of ``dZ/dx``; its off-diagonal ``1/T`` goes into ``W`` and ``W^T`` (``T`` is
        overwritten)."""
        m = self.m
        self.W.data = np.reciprocal(T, out=T)
        self.WT = self.W.T
        weighted = np.empty_like(x)
        weighted[:m] = self.W @ x[m:]
        weighted[m:] = self.WT @ x[:m]
        return (weighted - Z) / x

    def solver(self, diagonal):
        """``solve(rhs, last) -> (y, w, ok)`` for the bordered system of :meth:`solve` at this Jacobian:
        a direct one (below) when the shorter side has at most ``DIRECT_SIDE`` nodes, else MINRES."""
        m, n = self.m, diagonal.size
        if min(m, n - m) <= DIRECT_SIDE and np.all(np.abs(diagonal) > 1e-300):
            return self._direct(diagonal)
        return lambda rhs, last: self.solve(diagonal, rhs, last)

    def _direct(self, diagonal):
        """The bordered system by eliminating the longer side (its diagonal block ``D_A`` is diagonal):
        ``[S, u - 1; (1 - u)^T, sum a] [y_C; w] = [r_C - W^T D_A^{-1} r_A; n last - sum D_A^{-1} r_A]``
        with ``a = D_A^{-1} 1``, ``u = W^T a``, ``S = D_C - W^T D_A^{-1} W`` (dense, the shorter side
        squared), LU-factored once for both right-hand sides of a Newton step."""
        m, n = self.m, diagonal.size
        rows_first = m >= n - m
        inverse = 1.0 / (diagonal[:m] if rows_first else diagonal[m:])
        D_C = diagonal[m:] if rows_first else diagonal[:m]
        c = D_C.size
        if inverse.size * c <= DIRECT_DENSE_ENTRIES:  # BLAS on the dense block beats sparse products
            W = (self.W if rows_first else self.WT).toarray()  # A (eliminated) x C
            WT = W.T
            K = -(WT @ (inverse[:, None] * W))
        else:
            W = self.W if rows_first else self.W.T.tocsr()
            WT = W.T.tocsr()
            K = -(WT @ sp.diags(inverse) @ W).toarray()
        u = WT @ inverse
        K = np.pad(K, ((0, 1), (0, 1)))
        K[np.arange(c), np.arange(c)] += D_C
        K[:c, c], K[c, :c], K[c, c] = u - 1.0, 1.0 - u, inverse.sum()
        factors = la.lu_factor(K, check_finite=False)

        def solve(rhs, last):
            r_A, r_C = (rhs[:m], rhs[m:]) if rows_first else (rhs[m:], rhs[:m])
            t = inverse * r_A
            solution = la.lu_solve(factors, np.append(r_C - WT @ t, n * last - t.sum()), check_finite=False)
            y_C, w = solution[:c], float(solution[c])
            y_A = inverse * (r_A - W @ y_C + w)
            y = np.concatenate([y_A, y_C] if rows_first else [y_C, y_A])
            return y, w, bool(np.isfinite(solution).all())

        return solve

    def solve(self, diagonal, rhs, last):
        """Solve ``[J, -1; 1^T/n, 0] [y; w] = [rhs; last]``: MINRES on its symmetric form
        ``[J, -1; -1^T, 0] [y; w] = [rhs; -n last]`` with the diagonal preconditioner ``|J_vv|``."""
        n, m = diagonal.size, self.m

        def product(v):
            v = v.ravel()
            out = np.empty(n + 1)
            y = v[:n]
            np.multiply(diagonal, y, out=out[:n])
            out[:n] -= v[n]
            out[:m] += self.W @ y[m:]
            out[m:n] += self.WT @ y[:m]
            out[n] = -y.sum()
            return out

        magnitude = np.maximum(np.abs(diagonal), 1e-300)
        scale = np.append(1.0 / magnitude, float(np.mean(magnitude)) / n)
        A = LinearOperator((n + 1, n + 1), matvec=product, dtype=np.float64)
        P = LinearOperator((n + 1, n + 1), matvec=lambda v: scale * v.ravel(), dtype=np.float64)
        v, info = minres(A, np.append(rhs, -n * last), M=P, rtol=MINRES_RTOL, maxiter=500)
        return v[:n], float(v[n]), info == 0


def _two_class_start(M, degree):
    """A start for :func:`_fold`: the fold ``(z, u, v)`` of the two-class problem (every output of the
    average output degree ``p``, every input of the average input degree ``q``; by a scan and
    bisection), then each vertex's own ``x`` solving ``Z_v = z`` with its neighbours at ``u`` or ``v``."""
    edges = M.nnz
    p, q = edges / M.shape[0], edges / M.shape[1]

    def both(u, v):
        t = np.sqrt(1.0 + 4.0 * u * v)
        return (2.0 - p + p * t) / (2.0 * u), (2.0 - q + q * t) / (2.0 * v)

    u = np.exp(np.linspace(-12.0, 6.0, 73))  # a scan over u, each with v bisected until Z_out = Z_in
    lo, hi = np.full(u.size, 1e-12), np.full(u.size, 1e12)
    for _ in range(60):
        v = np.sqrt(lo * hi)
        z_out, z_in = both(u, v)
        lower = z_in < z_out
        hi, lo = np.where(lower, v, hi), np.where(lower, lo, v)
    v = np.sqrt(lo * hi)
    z = np.maximum(*both(u, v))
    k = int(np.argmin(z))
    best = (float(z[k]), float(u[k]), float(v[k]))
    z, u, v = best
    # each vertex alone brought to Z_v = z with its neighbours at the other side's value y:
    # z t^2 - 2 y d t - (z + 2 y (2 - d)) = 0 for t = sqrt(1 + 4 x y)
    y = np.where(np.arange(degree.size) < M.shape[0], v, u)
    root = np.sqrt(np.maximum((y * degree) ** 2 + z * (z + 2.0 * y * (2.0 - degree)), 0.0))
    t = (y * degree + root) / z
    x = (t * t - 1.0) / (4.0 * y)
    return np.where(np.isfinite(x) & (x > 0), x, np.where(np.arange(degree.size) < M.shape[0], u, v))


def _fold(system, x, rtol, max_steps=30, best_met=None):
    """Newton-secant path to the fold of ``Z(x) = z 1``: the least ``max Z`` met and the last ``x``, or None when the
    iteration does not settle within ``max_steps`` (no fold at finite ``x``, or a failed linear solve).  The least
    ``max Z`` met (a certified upper bound, settled or not) also goes into the list ``best_met`` when one is given."""
    best, previous = (math.inf, None), None
    if best_met is not None:
        best_met.append(math.inf)
    for _ in range(max_steps):
        Z, T = system.values(x)
        if not np.isfinite(Z).all():
            return None
        if Z.max() < best[0]:
            best = (float(Z.max()), x)  # every positive x bounds rho(T) from above
            if best_met is not None:
                best_met[-1] = best[0]
        solve = system.solver(system.jacobian(x, Z, T))
        z = Z.mean()
        correction, _, ok = solve(z - Z, 0.0)
        tangent, slope, ok_tangent = solve(np.zeros_like(x), 1.0)  # slope: dz/ds
        if not (ok and ok_tangent):
            return None
        s = x.mean()
        curvature = None if previous is None or previous[1] == slope else (slope - previous[1]) / (s - previous[0])
        ds = -slope / curvature if curvature is not None and curvature > 0 else -0.02 * s * np.sign(slope)
        ds = float(np.clip(ds, -0.25 * s, 0.25 * s))
        # z is flat at the fold, so x (which the dual certificate is built from) needs ds itself small
        if np.abs(Z - z).max() <= rtol * z and abs(ds) <= math.sqrt(100.0 * rtol) * s:
            return best[0], x
        previous = (s, slope)
        step = correction + ds * tangent
        k = 1.0
        while np.any(x + k * step <= 0):
            k *= 0.5
        x = x + k * step
    return None


def _dual_at(system, x, target, rtol, steps=30):
    """Best dual lower bound ``L(q, 0)`` at ``q = p_k + K p_k / mu`` along the power iterates ``p_k`` of
    ``K q = g^2 (N^T q)``, with ``g`` the primal ratios of ``x``; stops once within ``rtol / 50`` of
    ``target``.  ``K`` maps the edges leaving outputs (half ``A``, edge ``k`` of ``M``'s CSR order) to
    those leaving inputs (half ``B``, the reverse of edge ``k``) and back, so ``+-mu`` are both
    eigenvalues: from ``p_0 = 1`` on ``A`` the iterates alternate between the halves, and
    ``p_k + p_{k+1} sqrt(s_k / s_{k-1})`` (``s_k`` the sums) keeps the Perron vector.  Edge-sized
    arrays per half only."""
    M, m = system.M, system.m
    counts, cols = system.counts, M.indices
    g2_b = system.values(x)[1]  # T, then g^2 of the edges input -> output
    g2_a = np.subtract(g2_b, 1.0, out=system.W.data)  # the Jacobian's buffer, free now
    g2_a /= 2.0 * np.repeat(x[:m], counts)
    g2_b -= 1.0
    g2_b /= 2.0 * x[m:][cols]
    g2_a **= 2
    g2_b **= 2
    g2 = {"A": g2_a, "B": g2_b}
    def successors(q, side):  # (N^T q) on the other half: the weight of the edges that each continues
        if side == "A":  # q on A (output -> input), into each input, then edges input -> output
            into = _column_sums(M, q)
            out = into[cols]
        else:  # q on B (input -> output), into each output
            out = np.repeat(np.add.reduceat(q, M.indptr[:-1]), counts)
        out -= q
        return np.maximum(out, 0.0, out=out)

    def root_sum(a, spent):  # sum(sqrt(a * spent)), computed in the array `spent` (not needed after)
        np.multiply(a, spent, out=spent)
        return float(np.sqrt(spent, out=spent).sum())

    side = "A"
    p = np.full(M.nnz, 1.0 / M.nnz)
    bp, previous, best = successors(p, side), None, 0.0
    for _ in range(steps):
        other = "B" if side == "A" else "A"
        following = np.multiply(g2[other], bp, out=bp if previous is None else None)
        total = float(following.sum())
        following /= total
        if previous is not None:
            # q: p on `side`, c * following on `other`; N^T q: c * b_following on `side`, bp on `other`
            c = math.sqrt(total / previous)
            second = root_sum(following, bp)
        bp = None  # released before the next edge-sized array
        b_following = successors(following, other)  # lives on `side`
        if previous is not None:
            weight = float(p.sum()) + c * float(following.sum())
            mass = (root_sum(b_following, p) + second) * math.sqrt(c)  # p is replaced below
            best = max(best, 2.0 * mass / weight)
            if target - best <= rtol * target / 50:
                break
        p, bp, previous, side = following, b_following, total, other
        b_following = None  # bp's only name, so that `bp = None` above frees it
    return best


def _without_isolated(M):
    """``M`` without its empty rows and columns (``M`` itself when it has none)."""
    rows, cols = np.diff(M.indptr) > 0, np.bincount(M.indices, minlength=M.shape[1]) > 0
    if rows.all() and cols.all():
        return M
    return M[np.flatnonzero(rows)][:, np.flatnonzero(cols)].tocsr()


def _fast_bounds(M, rtol):
    """``(lower, upper)`` by the fast route (module docstring) on a connected binary CSR, or None."""
    M = _without_isolated(M)
    system = _VertexSystem(M)
    with np.errstate(all="ignore"), blas_limit(1):  # vector work on n + 1 entries: threads only spin
        found = _fold(system, _two_class_start(M, system.degree), rtol / 100)
        if found is None:
            return None
        upper, x = found
        system.WT = None  # the dual does not need it
        lower = _dual_at(system, x, upper, rtol)
    if not (math.isfinite(upper) and 0 < lower <= upper * (1 + 1e-12)) or upper - lower > rtol * upper:
        return None
    return lower, upper


#: Relative residual of the fast route's MINRES solves.  Newton's steps need no more: the bounds are certified
#: from ``max Z`` and the dual bound, evaluated exactly wherever the path goes, and at 1e-6 the H = 512 and
#: H = 2048 benchmark layers take a third fewer products than at 1e-10 for the same bracket width (~1e-8).
MINRES_RTOL = 1e-6

#: The fast route solves its Newton systems directly (dense, the shorter side squared) when the
#: shorter side has at most this many nodes, with MINRES otherwise.
DIRECT_SIDE = 256
#: ... forming ``W^T D^{-1} W`` from a dense copy of ``W`` up to this many entries.
DIRECT_DENSE_ENTRIES = 1 << 20

#: Components with fewer edges than this try the dual iteration first (it is quicker there) ...
FAST_MIN_EDGES = 20_000
#: ... or than this when the shorter side has at most ``DIRECT_SIDE`` nodes.
FAST_MIN_EDGES_DIRECT = 1_000


def cover_radius_bounds(B, *, rtol: float = COVER_RTOL, max_steps: int = COVER_MAX_STEPS,
                        method: str = "auto") -> CoverRadius | None:
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
    method : {"auto", "fast", "dual", "bisect"}
        ``"fast"``: the vertex Newton route of the module docstring first (connected graphs),
        the dual iteration when it does not certify; ``"dual"``: the dual iteration only (whole graph);
        ``"bisect"``: the bisection route only, from ``sqrt(max degree)`` (a star is a finite subtree of
        the cover) and Schur's bound ``sqrt(max row degree * max column degree)``;
        ``"auto"``: ``"fast"`` first from ``FAST_MIN_EDGES`` edges on (``FAST_MIN_EDGES_DIRECT`` when
        the shorter side has at most ``DIRECT_SIDE`` nodes), the dual iteration first below.  Except with
        ``"dual"``, components with at most one cycle get ``sigma_1``, and with ``"auto"`` and ``"fast"`` the
        bisection route runs where the fast route left the bracket wider than ``rtol`` (before the dual
        iteration where the fast route ran first, else after it).
        ``steps`` counts dual steps: 0 where the dual iteration did not run (the fast route certified,
        the component has at most one cycle, or ``method="bisect"``).

    Returns
    -------
    CoverRadius or None
        None when the graph has no edge.

    Examples
    --------
    >>> import numpy as np
    >>> r = cover_radius_bounds(np.ones((1, 4)))   # the star K_{1,4}: rho = sqrt(4)
    >>> round(r.value, 6), r.certified, round(r.upper - r.lower, 9)
    (2.0, True, 0.0)
    >>> K = np.ones((40, 60))   # K_{40,60}: rho = sqrt(59) + sqrt(39) = 13.926...
    >>> K[0, 0] = 0             # one edge removed (not biregular): a little less, by the fast route
    >>> r = cover_radius_bounds(K, method="fast")
    >>> r.certified, r.steps, round(r.value, 3)
    (True, 0, 13.923)
    """
    if not (rtol > 0 and math.isfinite(rtol)):
        raise ValueError(f"rtol must be a positive number, not {rtol!r}")
    M = as_csr(B, copy=False)  # read only: the binary matrix shares its index arrays
    if M.nnz == 0:
        return None
    if not (M.data == 1.0).all():
        M = sp.csr_matrix((np.ones(M.nnz), M.indices, M.indptr), shape=M.shape)
    if method not in ("auto", "fast", "dual", "bisect"):
        raise ValueError(f"method must be 'auto', 'fast', 'dual' or 'bisect', not {method!r}")
    if method == "dual":
        return _dual_bounds(M, rtol, max_steps)
    parts = [_component_bounds(block, rtol, max_steps, method)  # a disconnected graph: the largest rho
             for block in _edge_components(M)]
    return _bracket(max(p.lower for p in parts), max(p.upper for p in parts), steps=max(p.steps for p in parts),
                    rtol=rtol)


def _component_bounds(M, rtol: float, max_steps: int, method: str) -> CoverRadius:
    """One connected component.  At most one cycle: ``sigma_1`` (:func:`_perron_bounds`).  Otherwise, from
    ``FAST_MIN_EDGES`` edges on (from ``FAST_MIN_EDGES_DIRECT`` when its Newton systems are solved directly, or
    with ``method="fast"``): the fast route, then the bisection route, then the dual iteration; below: the dual
    iteration, the fast route, then the bisection route; each only while the bracket is wider than ``rtol``
    (all brackets are certified, so they are intersected).  ``method="bisect"``: the bisection route alone."""
    M = _without_isolated(M)
    if _cyclomatic(M) <= 1:
        closed = _perron_bounds(M)
        if closed is not None:
            return _bracket(*closed, steps=0, rtol=rtol)
    if method == "bisect":
        return _bracket(*_bisect_bounds(M, *_star_and_schur(M), rtol)[:2], steps=0, rtol=rtol)
    if method == "fast" or M.nnz >= FAST_MIN_EDGES or (min(M.shape) <= DIRECT_SIDE and M.nnz >= FAST_MIN_EDGES_DIRECT):
        fast = _fast_bounds(M, rtol)
        if fast is not None:
            return _bracket(*fast, steps=0, rtol=rtol)
        found = _bracket(*_bisect_bounds(M, *_star_and_schur(M), rtol)[:2], steps=0, rtol=rtol)
        if found.certified:
            return found
        dual = _dual_bounds(M, rtol, max_steps)
        return _bracket(max(dual.lower, found.lower), min(dual.upper, found.upper), steps=dual.steps, rtol=rtol)
    dual = _dual_bounds(M, rtol, max_steps)
    if not dual.certified:
        fast = _fast_bounds(M, rtol)
        if fast is not None:
            dual = _bracket(max(dual.lower, fast[0]), min(dual.upper, fast[1]), steps=dual.steps, rtol=rtol)
    if dual.certified:
        return dual
    lower, upper, _ = _bisect_bounds(M, dual.lower, dual.upper, rtol)
    return _bracket(lower, upper, steps=dual.steps, rtol=rtol)


def _star_and_schur(M) -> tuple[float, float]:
    """A certified bracket: ``sqrt(max degree)`` (a star is a finite subtree of the cover) and Schur's bound."""
    return math.sqrt(max(np.diff(M.indptr).max(), np.bincount(M.indices).max())), _max_degree_bound(M)


def _bracket(lower: float, upper: float, *, steps: int, rtol: float) -> CoverRadius:
    """The :class:`CoverRadius` of a certified bracket."""
    lower, upper = float(lower), float(upper)
    return CoverRadius(value=lower, lower=lower, upper=upper, steps=steps,
                       certified=bool(upper - lower <= rtol * upper))


def _edge_components(M) -> list:
    """The components of ``M`` that have an edge, each as a CSR block without isolated nodes (``M`` itself
    when it is one such component)."""
    count, labels = bipartite_components(M)
    rows, cols = labels[: M.shape[0]], labels[M.shape[0]:]
    used = np.unique(rows[np.diff(M.indptr) > 0])
    if used.size == 1:
        return [M]
    return [M[np.flatnonzero(rows == c)][:, np.flatnonzero(cols == c)].tocsr() for c in used]


def _dual_bounds(M, rtol: float, max_steps: int) -> CoverRadius:
    """The dual iteration of the module docstring on a binary CSR with at least one edge."""
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
    return _bracket(lower, _upper(lower, g.ravel()), steps=steps, rtol=rtol)


def _max_degree_bound(M) -> float:
    """``sqrt(max row nnz * max column nnz)`` bounds ``sigma_1(B) >= rho(T)`` from above (Schur's test)."""
    return math.sqrt(float(np.diff(M.indptr).max()) * float(np.bincount(M.indices).max()))


#: Components with at most one cycle whose shorter side has at most this many nodes get ``sigma_1`` from a dense
#: Gram matrix (:func:`_perron_bounds`); larger ones by bisection on inertia, in at most this many probes.
PERRON_DENSE_SIDE = 256
PERRON_PROBES = 60
#: Relative rounding margin put around a computed ``sigma_1`` (``PERRON_DENSE_SIDE`` ulps and more) ...
SIGMA_MARGIN = 1e-12
#: ... and under a lower bound from a broken recursion (each step's rounding acts like a change of ``z`` by
#: about ``max degree`` ulps).
ROUNDING_MARGIN = 1e-10
#: Most tree-recursion steps (each ``O(E)``) of one probe of the bisection route (:func:`_bisect_bounds`;
#: also its cap on power steps of the dual bound at the fold) ...
BISECT_STEPS = 2000
#: ... most recursion steps of all its probes together ...
BISECT_BUDGET = 10_000
#: ... most probes of its bisection phase ...
BISECT_PROBES = 40
#: ... and most Newton steps of the fold route restarted from its last probe.
BISECT_FOLD_STEPS = 100


def _cyclomatic(M) -> int:
    """``E - V + 1`` of a connected binary CSR, isolated nodes not counted."""
    used = np.count_nonzero(np.diff(M.indptr)) + np.count_nonzero(np.bincount(M.indices, minlength=M.shape[1]))
    return M.nnz - used + 1


def _perron_bounds(M) -> tuple[float, float] | None:
    """``sigma_1`` of a connected component with at most one cycle, bracketed: the cover of a tree is the tree, and
    that of a unicyclic graph is periodic under the amenable group ``Z``, so its spectral radius is the Perron
    root of the graph, ``sigma_1`` (module docstring).  Up to ``PERRON_DENSE_SIDE`` nodes on the shorter side by
    LAPACK, widened by ``SIGMA_MARGIN``; above, by bisection on the inertia of ``z I - A`` (:func:`_count_above`),
    which a tree or a cycle factors without fill.  None when a factorisation needed off-diagonal pivots."""
    short = M if M.shape[0] <= M.shape[1] else M.T.tocsr()
    if short.shape[0] <= PERRON_DENSE_SIDE:
        gram = (short @ short.T).toarray()
        with blas_limit(1):  # small: threads only contend
            top = float(la.eigvalsh(gram, subset_by_index=[gram.shape[0] - 1] * 2, driver="evx")[0])
        value = math.sqrt(max(top, 0.0))
        return value * (1.0 - SIGMA_MARGIN), value * (1.0 + SIGMA_MARGIN)
    A = sp.bmat([[None, M], [M.T, None]], format="csc")
    lower, upper = _star_and_schur(M)
    upper *= 1.0 + SIGMA_MARGIN
    for _ in range(PERRON_PROBES):
        if upper - lower <= SIGMA_MARGIN * upper:
            break
        z = 0.5 * (lower + upper)
        above = _count_above(A, z)
        if above is None:
            return None
        lower, upper = (z, upper) if above else (lower, z)
    return lower * (1.0 - SIGMA_MARGIN), upper * (1.0 + SIGMA_MARGIN)


def _count_above(A, z: float) -> int | None:
    """How many eigenvalues of the symmetric sparse ``A`` exceed ``z``: the negative pivots of ``z I - A`` factored
    with the same permutation on both sides (Sylvester's law of inertia); None when SuperLU pivoted otherwise."""
    factors = splu((z * sp.identity(A.shape[0], format="csc") - A).tocsc(), permc_spec="MMD_AT_PLUS_A",
                   diag_pivot_thresh=0.0, options={"SymmetricMode": True})
    if not np.array_equal(factors.perm_r, factors.perm_c):
        return None
    return int(np.count_nonzero(factors.U.diagonal() < 0))


def _break_or_settle(z, g, tail, head, reverse, count, steps, tol):
    """Steps of the tree recursion ``g_{uv} <- 1 / (z - S_v + g_{vu})`` at ``z`` from ``g``:
    ``("break", g, k)`` as soon as a denominator ``z - S_v + g_{vu}`` or a vertex's ``z - S_v`` is ``<= 0``,
    ``("settled", g, k)`` once no entry changes by more than ``tol`` (relative), else ``("open", g, steps)``."""
    for k in range(1, steps + 1):
        S, denominator = _recursion(z, g, tail, head, reverse, count)
        if np.any(denominator <= 0) or np.any(S >= z):
            return "break", g, k
        new = 1.0 / denominator
        change = float(np.max(np.abs(new - g) / new))
        g = new
        if change <= tol:
            return "settled", g, k
    return "open", g, steps


def _bisect_bounds(M, lower: float, upper: float, rtol: float) -> tuple[float, float, int]:
    """Route ``"bisect"`` (module docstring) on a connected binary CSR from a certified bracket ``[lower, upper]``:
    ``(lower, upper, recursion steps)``, both ends certified (the lower one up to ``ROUNDING_MARGIN``)."""
    count = M.shape[0] + M.shape[1]
    tail, head, reverse = _directed_edges(M)
    degree = np.bincount(tail, minlength=count).astype(np.float64)
    # The probe whose recursion did not break at the least z: its iterate (Green functions of finite subtrees,
    # decreasing in z) starts any probe at a smaller z without spoiling the break certificate.
    warm_z, warm = math.inf, None
    settled: list = []  # (z, iterate) of the last probe whose recursion settled: a start for Newton
    total = 0

    def probe(z, steps):
        nonlocal warm_z, warm, lower, upper, total
        steps = min(steps, BISECT_BUDGET - total)
        if steps <= 0:
            return "open"
        start = warm if warm is not None and z <= warm_z else np.zeros(tail.size)
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            outcome, g, k = _break_or_settle(z, start, tail, head, reverse, count, steps, rtol / 1000)
        total += k
        if outcome == "break":  # a finite subtree of the cover has its top eigenvalue >= z
            lower = max(lower, z * (1.0 - ROUNDING_MARGIN))
            return outcome
        warm_z, warm = z, g
        upper = min(upper, _polish_upper(z, g, tail, head, reverse, degree, count))
        if outcome == "settled":
            settled[:] = [(z, g)]
        return outcome

    def done():
        return upper - lower <= rtol * upper

    def bisect(width, until_settled=False):
        for _ in range(BISECT_PROBES):
            if upper - lower <= width * upper:
                break
            outcome = probe(0.5 * (lower + upper), BISECT_STEPS)
            if outcome == "open" or (until_settled and outcome == "settled"):
                break

    def newton():  # to the fold from the settled probe's vertex Green functions, then the dual bound there
        nonlocal lower, upper
        if done() or not settled:
            return False
        z, g = settled.pop()
        x = 1.0 / (z - np.bincount(tail, weights=g, minlength=count))
        if not (np.all(x > 0) and np.all(np.isfinite(x))):
            return False
        system, met = _VertexSystem(M), []
        with np.errstate(all="ignore"), blas_limit(1):
            found = _fold(system, x, rtol / 100, BISECT_FOLD_STEPS, met)
            upper = min(upper, met[0])
            if found is not None and not done():  # the dual bound at the fold's primal ratios
                lower = max(lower, _dual_at(system, found[1], upper, rtol, steps=BISECT_STEPS))
        return found is not None

    for _ in range(3):
        bisect(rtol, until_settled=True)
        newton()
        if done() or total >= BISECT_BUDGET:
            break
        probe(upper * (1.0 - rtol / 2), BISECT_STEPS)  # just under the top: a break ends it
    return lower, upper, total


def nonisolated_biregular(B) -> tuple[int, int] | None:
    """``(c, d)`` when every non-isolated input has degree ``c`` and every non-isolated output
    degree ``d`` (isolated nodes ignored); otherwise None.

    Example
    -------
    >>> import numpy as np
    >>> nonisolated_biregular(np.ones((2, 3))), nonisolated_biregular(np.eye(3)[:, :2]), nonisolated_biregular(np.tril(np.ones((3, 3))))
    ((2, 3), (1, 1), None)
    """
    M = as_csr(B, copy=False)
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
