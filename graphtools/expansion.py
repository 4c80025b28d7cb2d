"""Expansion bounds of a bipartite graph from its spectrum, and exact values for small graphs.

Convention (docs/measures.md): ``B`` has shape ``(n_R, n_L)`` = (outputs, inputs); an
edge where ``B != 0``.  *Binary* functions use ``1[B != 0]``; *weighted* ones
use ``|B|``, so degrees become strengths (row / column sums) and ``e(S, T)``
the total weight between ``S`` and ``T``.  ``E`` is the number of edges (or
the total weight); it is the volume of either side.

One function per measure, networkx-style:

* spectral bounds: :func:`mixing_bound_biregular` (Haemers 1995),
  :func:`mixing_bound_normalized` (Chung), :func:`tanner_bound` (Tanner 1984),
  :func:`cheeger_interval` (Chung, ch. 2), :func:`edge_expansion_interval`
  (Mohar 1989), with :func:`algebraic_connectivity` and :func:`imdb`
  (Hoang et al., ICLR 2023);
* the quantities they bound: :func:`mixing_discrepancy`,
  :func:`volume_discrepancy`;
* exact values by enumeration over bitmasks (small graphs only):
  :func:`exact_edge_expansion`, :func:`exact_conductance`,
  :func:`exact_vertex_expansion`, :func:`max_mixing_ratio`;
* everything for one graph: :func:`expansion_bounds` -> :class:`ExpansionBounds`.

Proof of the normalized mixing lemma (the form :func:`mixing_bound_normalized`
evaluates).  Let ``N = D_R^{-1/2} B D_L^{-1/2}`` on the non-isolated nodes,
``x = D_L^{1/2} 1_S`` and ``y = D_R^{1/2} 1_T``, so ``e(S, T) = y^T N x``,
``|x|^2 = vol(S)``, ``|y|^2 = vol(T)``.  ``v = D_L^{1/2} 1 / sqrt(E)`` and
``u = D_R^{1/2} 1 / sqrt(E)`` are unit vectors with ``N v = u`` and
``N^T u = v``: a singular pair with value 1, the largest (``N`` is a
contraction), and ``sigma_2(N)`` bounds ``N`` on ``v^perp -> u^perp``.  Split
``x = (vol(S) / sqrt(E)) v + x'`` and ``y = (vol(T) / sqrt(E)) u + y'``: the
cross terms vanish, so ``e(S, T) = vol(S) vol(T) / E + y'^T N x'`` with
``|y'^T N x'| <= sigma_2(N) |x'| |y'|`` and ``|x'|^2 = vol(S)(1 - vol(S)/E)``.
Isolated nodes have zero entries in ``x``, ``y`` and volume, so they change
nothing; the argument needs no regularity and holds for weights.  With
``D_L = cI``, ``D_R = dI`` it is Haemers' biregular form (``sigma_2(N) = sigma_2 / sqrt(cd)``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from graphtools.jsonvalues import json_safe
from graphtools.spectral import normalized_gap, ramanujan_bound, top_singular_values
from graphtools.structure import as_csr, bipartite_components, biregular_degrees, input_degrees, pattern

#: Largest ``n_L + n_R`` (edge expansion) or number of non-isolated nodes (conductance)
#: that the exact enumerators accept: ``2^20`` subsets.
MAX_ENUMERATED_NODES = 20

#: :func:`algebraic_connectivity` uses a dense eigensolver up to this many nodes (``method="auto"``).
LAPLACIAN_DENSE_LIMIT = 500

#: Largest ``n_L`` that :func:`exact_vertex_expansion` and :func:`max_mixing_ratio` accept.
MAX_ENUMERATED_INPUTS = 16

#: The fractions ``alpha = |X| / n_L`` at which :func:`expansion_bounds` evaluates Tanner's bound.
TANNER_ALPHAS = (0.05, 0.1, 0.25, 0.5)

_POPCOUNT8 = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


# --------------------------------------------------------------------------- helpers


def _graph(B, weighted: bool) -> sp.csr_matrix:
    """``|B|`` if ``weighted`` else ``1[B != 0]``, as CSR without stored zeros."""
    return abs(as_csr(B)) if weighted else pattern(B)


def _as_mask(index, n: int, what: str) -> np.ndarray:
    """A boolean mask of length ``n`` from a boolean mask or an array of indices (a set)."""
    arr = np.asarray(index)
    if arr.dtype == bool:
        if arr.shape != (n,):
            raise ValueError(f"{what}: a boolean mask must have shape ({n},), got {arr.shape}")
        return arr.copy()
    arr = arr.ravel()
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{what}: expected integer indices or a boolean mask, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if arr.size and (arr.min() < 0 or arr.max() >= n):
        raise ValueError(f"{what}: indices must lie in [0, {n}), got {arr.min()}..{arr.max()}")
    mask = np.zeros(n, dtype=bool)
    mask[arr] = True
    return mask


def _subset_sums(values, dtype=np.float64) -> np.ndarray:
    """``out[m] = sum(values[k] for the bits k of m)`` for every ``m < 2^len(values)`` (by doubling)."""
    values = np.asarray(values)
    out = np.zeros(1 << len(values), dtype=dtype)
    for k, v in enumerate(values):
        half = 1 << k
        out[half : 2 * half] = out[:half] + v
    return out


def _internal_weights(A: np.ndarray, dtype=np.float64) -> np.ndarray:
    """``out[m]`` = total weight of the edges with both ends in the node set ``m``, for the
    symmetric zero-diagonal weight matrix ``A``: ``out[m + 2^k] = out[m] + w(k, m)`` for ``m < 2^k``."""
    n = A.shape[0]
    out = np.zeros(1 << n, dtype=dtype)
    for k in range(n):
        half = 1 << k
        out[half : 2 * half] = out[:half] + _subset_sums(A[k, :k], dtype)
    return out


def _full_adjacency(W: np.ndarray) -> np.ndarray:
    """The dense ``[[0, W], [W^T, 0]]`` of a *small* biadjacency (outputs first, then inputs)."""
    n_r, n_l = W.shape
    A = np.zeros((n_r + n_l, n_r + n_l), dtype=W.dtype)
    A[:n_r, n_r:] = W
    A[n_r:, :n_r] = W.T
    return A


def _check_size(value: int, limit: int, what: str, function: str) -> None:
    if value > limit:
        raise ValueError(
            f"{function} enumerates all subsets and accepts at most {limit} {what}; this graph has {value}"
        )


# --------------------------------------------------------------------------- mixing lemma


def mixing_bound_biregular(sigma2: float, n_inputs: int, n_outputs: int, s: int, t: int) -> float:
    """Right-hand side of the bipartite expander mixing lemma (Haemers 1995) for a (c, d)-biregular graph.

    For ``S`` a set of ``s`` inputs and ``T`` a set of ``t`` outputs::

        |e(S, T) - E s t / (n_L n_R)|  <=  sigma_2 sqrt(s t (1 - s/n_L) (1 - t/n_R))

    (W. H. Haemers, *Interlacing eigenvalues and graphs*, Linear Algebra Appl.
    226-228, 1995; the bipartite form of the expander mixing lemma.)  The proof
    splits ``1_S``, ``1_T`` along the constant vectors, which are the top
    singular pair of ``B`` exactly when the graph is biregular; for irregular
    graphs use :func:`mixing_bound_normalized`.  Returns this right-hand side.

    Example
    -------
    >>> round(mixing_bound_biregular(1.0, n_inputs=4, n_outputs=4, s=2, t=2), 6)
    1.0
    """
    if not (0 <= s <= n_inputs and 0 <= t <= n_outputs):
        raise ValueError(f"need 0 <= s <= n_inputs = {n_inputs} and 0 <= t <= n_outputs = {n_outputs}")
    if s == 0 or t == 0:
        return 0.0
    product = s * t * (1.0 - s / n_inputs) * (1.0 - t / n_outputs)
    return float(sigma2) * math.sqrt(max(product, 0.0))


def mixing_discrepancy(B, S, T, weighted: bool = False) -> float:
    """``|e(S, T) - E |S| |T| / (n_L n_R)|``: what :func:`mixing_bound_biregular` bounds.

    ``S`` indexes inputs (columns), ``T`` outputs (rows); each is a boolean
    mask or an array of indices (a set: repeats count once).  ``e(S, T)`` is
    the number of edges between them and ``E`` the number of edges, or with
    ``weighted`` the total weight ``|B|`` between them and in all.

    Example
    -------
    >>> import numpy as np
    >>> B = np.eye(4)   # a perfect matching: e(S, T) = 0 for S = {0, 1}, T = {2, 3}
    >>> float(mixing_discrepancy(B, [0, 1], [2, 3]))   # |0 - 4 * 2 * 2 / 16|
    1.0
    """
    M = _graph(B, weighted)
    n_r, n_l = M.shape
    s_mask, t_mask = _as_mask(S, n_l, "S"), _as_mask(T, n_r, "T")
    if n_r == 0 or n_l == 0:
        return 0.0
    e = float(M[np.flatnonzero(t_mask)][:, np.flatnonzero(s_mask)].sum())
    total = float(M.sum())
    return abs(e - total * s_mask.sum() * t_mask.sum() / (n_l * n_r))


def mixing_bound_normalized(sigma2_N: float, vol_S: float, vol_T: float, volume: float) -> float:
    """Right-hand side of the expander mixing lemma in its irregular / weighted form (Chung).

    For ``S`` inputs and ``T`` outputs with volumes ``vol(S)``, ``vol(T)`` (sums
    of (weighted) degrees) and ``vol = E`` the total edge weight::

        |e(S, T) - vol(S) vol(T) / vol|  <=  sigma_2(N) sqrt(vol(S) vol(T) (1 - vol(S)/vol) (1 - vol(T)/vol))

    with ``N = D_R^{-1/2} B D_L^{-1/2}``: the bipartite analogue of the
    discrepancy theorem of F. R. K. Chung, *Spectral Graph Theory*, AMS 1997
    (ch. 5), with ``sigma_2(N)`` in place of ``max_{i != 0} |1 - lambda_i|``
    (which is 1 for every bipartite graph).  Proof in this module's docstring.
    It holds for every graph, weighted or not; isolated nodes contribute 0.
    A graph without edges (``volume == 0``) gives 0.

    Example
    -------
    >>> round(mixing_bound_normalized(0.5, vol_S=2.0, vol_T=2.0, volume=8.0), 6)
    0.75
    """
    if volume < 0 or vol_S < 0 or vol_T < 0:
        raise ValueError("volumes must be non-negative")
    if volume == 0:
        if vol_S or vol_T:
            raise ValueError("vol(S) and vol(T) must be 0 when the total volume is 0")
        return 0.0
    product = vol_S * vol_T * (1.0 - vol_S / volume) * (1.0 - vol_T / volume)
    return float(sigma2_N) * math.sqrt(max(product, 0.0))


def volume_discrepancy(B, S, T, weighted: bool = False) -> tuple[float, float, float, float]:
    """``(|e(S, T) - vol(S) vol(T) / vol|, vol(S), vol(T), vol)``: what :func:`mixing_bound_normalized`
    bounds, with the volumes to pass to it.

    ``S`` indexes inputs, ``T`` outputs (masks or index sets); ``vol(S)`` is the
    sum of the degrees (strengths, with ``weighted``) of ``S``'s nodes and
    ``vol`` the total edge weight ``E``.  The discrepancy is 0 for an empty graph.

    Example
    -------
    >>> import numpy as np
    >>> volume_discrepancy(np.eye(4), [0, 1], [2, 3])   # (discrepancy, vol(S), vol(T), vol)
    (1.0, 2.0, 2.0, 4.0)
    """
    M = _graph(B, weighted)
    n_r, n_l = M.shape
    s_mask, t_mask = _as_mask(S, n_l, "S"), _as_mask(T, n_r, "T")
    col_sum = np.asarray(M.sum(axis=0)).ravel()
    row_sum = np.asarray(M.sum(axis=1)).ravel()
    volume = float(col_sum.sum())
    vol_s, vol_t = float(col_sum[s_mask].sum()), float(row_sum[t_mask].sum())
    e = float(M[np.flatnonzero(t_mask)][:, np.flatnonzero(s_mask)].sum()) if n_r and n_l else 0.0
    disc = abs(e - vol_s * vol_t / volume) if volume > 0 else 0.0
    return disc, vol_s, vol_t, volume


# --------------------------------------------------------------------------- Tanner


def tanner_bound(c: int, d: int, sigma2: float, n_inputs: int, size: int) -> float:
    """Tanner's lower bound on the neighbourhood of ``size`` inputs of a (c, d)-biregular graph.

    With ``c`` the input degree, ``d`` the output degree and ``alpha = size / n_L``,
    every set ``X`` of inputs with ``|X| = size`` has::

        |N(X)|  >=  c^2 |X| / (alpha (c d - sigma_2^2) + sigma_2^2)

    (R. M. Tanner, *Explicit concentrators from generalized N-gons*, SIAM J.
    Algebraic Discrete Methods 5, 1984).  Proof: ``|N(X)| >= (sum_i y_i)^2 / |y|^2``
    for ``y = B 1_X`` (Cauchy-Schwarz), ``sum y = c |X|`` and
    ``|y|^2 = 1_X^T B^T B 1_X <= |X| (alpha c d + (1 - alpha) sigma_2^2)``.
    For ``K_{m,n}`` (``sigma_2 = 0``) it is exact: ``n_R``.  ``size = 0`` gives 0.

    Example
    -------
    >>> tanner_bound(2, 2, 0.0, n_inputs=4, size=2)   # sigma_2 = 0 (complete bipartite): every output
    4.0
    """
    if c < 1 or d < 1:
        raise ValueError(f"degrees must be at least 1, got c={c}, d={d}")
    if not 0 <= size <= n_inputs:
        raise ValueError(f"need 0 <= size <= n_inputs = {n_inputs}, got {size}")
    if size == 0:
        return 0.0
    alpha = size / n_inputs
    denominator = alpha * (c * d - sigma2**2) + sigma2**2
    if denominator <= 0:
        raise ValueError(f"sigma2 = {sigma2} is not a second singular value of a ({c}, {d})-biregular graph")
    return c * c * size / denominator


# --------------------------------------------------------------------------- Cheeger and Mohar


def cheeger_interval(normalized_gap: float) -> tuple[float, float]:
    """``(lambda / 2, sqrt(2 lambda))``: the Cheeger interval for the conductance ``phi``.

    ``lambda = 1 - sigma_2(N)`` is the second-smallest eigenvalue of the
    normalized Laplacian of the bipartite graph on its non-isolated nodes
    (whose eigenvalues are ``1 -+ sigma_i(N)`` and 1), and the Cheeger
    inequality ``lambda / 2 <= phi <= sqrt(2 lambda)`` holds for weighted graphs
    too (F. R. K. Chung, *Spectral Graph Theory*, AMS 1997, ch. 2),
    with ``phi`` as in :func:`exact_conductance`.

    One exception to "second-smallest": a single edge (``N`` is 1x1) has
    Laplacian eigenvalues 0 and 2 while ``1 - sigma_2(N) = 1``; the interval
    ``[0.5, 1.41]`` still contains its conductance 1.  ``lambda`` carries the
    rounding of ``sigma_2(N)`` (a disconnected graph may give ``~2e-16``, not 0);
    a negative value from rounding is treated as 0.

    Example
    -------
    >>> cheeger_interval(0.5)
    (0.25, 1.0)
    """
    lam = max(float(normalized_gap), 0.0)
    return lam / 2.0, math.sqrt(2.0 * lam)


def edge_expansion_interval(algebraic_connectivity: float, max_degree: float) -> tuple[float, float]:
    """``(lambda_2 / 2, sqrt(lambda_2 (2 d_max - lambda_2)))``: Mohar's interval for the edge expansion.

    ``lambda_2`` is the second-smallest eigenvalue of the combinatorial
    Laplacian ``L = D - A`` of the whole graph on ``L u R`` (isolated nodes
    included) and ``d_max`` its largest degree; the edge expansion (isoperimetric
    number) ``h_E`` of :func:`exact_edge_expansion` satisfies
    ``lambda_2 / 2 <= h_E <= sqrt(lambda_2 (2 d_max - lambda_2))`` (B. Mohar,
    *Isoperimetric numbers of graphs*, J. Combin. Theory Ser. B 47, 1989).  The upper bound excludes ``K_1, K_2, K_3``; the only
    bipartite exception is a single edge without isolated nodes (``K_2``:
    ``lambda_2 = 2``, ``d_max = 1``, ``h_E = 1`` but the formula gives 0).

    Example
    -------
    >>> edge_expansion_interval(2.0, max_degree=2)
    (1.0, 2.0)
    """
    lam = max(float(algebraic_connectivity), 0.0)
    return lam / 2.0, math.sqrt(max(lam * (2.0 * max_degree - lam), 0.0))


def algebraic_connectivity(B, method: str = "auto") -> float | None:
    """``lambda_2(D - A)`` of the binary bipartite graph of ``B`` on all ``n_L + n_R`` nodes (Fiedler).

    0.0 exactly when the graph (isolated nodes included) is disconnected, found
    from its connected components.  Otherwise ``method="dense"`` (the default
    ``"auto"`` up to ``LAPLACIAN_DENSE_LIMIT`` nodes) runs LAPACK on the dense
    Laplacian; ``"sparse"`` runs ARPACK in shift-invert mode (``sigma = -1``,
    a sparse LU of ``L + I``) on the sparse Laplacian built from ``B``, so the
    dense ``(n_L + n_R)^2`` matrix is never formed.  None for fewer than 2 nodes.

    Example
    -------
    >>> import numpy as np
    >>> round(algebraic_connectivity(np.ones((2, 2))), 9), algebraic_connectivity(np.eye(2))   # C_4; two edges
    (2.0, 0.0)
    """
    if method not in ("auto", "dense", "sparse"):
        raise ValueError(f"method must be 'auto', 'dense' or 'sparse', not {method!r}")
    M = pattern(B)
    n_r, n_l = M.shape
    n = n_r + n_l
    if n < 2:
        return None
    if bipartite_components(M)[0] > 1:
        return 0.0
    A = sp.bmat([[None, M], [M.T, None]], format="csr")
    degrees = np.asarray(A.sum(axis=1)).ravel()
    L = (sp.diags(degrees) - A).tocsc()
    if method == "dense" or (method == "auto" and n <= LAPLACIAN_DENSE_LIMIT) or n <= 8:
        return float(max(np.linalg.eigvalsh(L.toarray())[1], 0.0))
    return _sparse_fiedler_value(L, degrees)


def _sparse_fiedler_value(L: sp.csc_matrix, degrees: np.ndarray) -> float:
    """``lambda_2`` of a *connected* graph's sparse Laplacian.

    First LOBPCG on ``1^perp`` (the kernel of ``L`` is spanned by ``1``) with
    the Jacobi preconditioner ``D^{-1}``, accepted when every returned pair has
    residual ``|L x - lambda x| <= 1e-9 * 2 d_max``; otherwise ARPACK in
    shift-invert mode around ``-1`` (a sparse LU of ``L + I``: robust, but the
    factor can fill in on large random graphs).
    """
    import warnings

    from scipy.sparse.linalg import eigsh, lobpcg

    n = L.shape[0]
    rng = np.random.default_rng(0)
    scale = 2.0 * float(degrees.max())
    block = min(4, n - 2)
    X = rng.standard_normal((n, block))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            values, vectors = lobpcg(
                L, X, M=sp.diags(1.0 / degrees), Y=np.ones((n, 1)), largest=False, tol=1e-11, maxiter=1000
            )
        residual = np.linalg.norm(L @ vectors - vectors * values, axis=0)
        if np.all(residual <= 1e-9 * scale) and np.all(np.isfinite(values)):
            return float(max(np.min(values), 0.0))
    except (np.linalg.LinAlgError, ValueError):
        pass
    v0 = rng.uniform(0.5, 1.5, n)
    values = eigsh(L, k=2, sigma=-1.0, which="LM", tol=0, v0=v0, return_eigenvectors=False)
    return float(max(np.max(values), 0.0))


# --------------------------------------------------------------------------- IMDB


def imdb(B) -> float | None:
    """Iterative mean difference of bound (Hoang et al., *Revisiting pruning at initialization
    through the lens of Ramanujan graph*, ICLR 2023).

    Group the input nodes (columns) of the binary graph by degree ``d``; for
    every ``d >= 1`` held by at least 3 inputs take ``K_d = B[:, those columns]``
    (all outputs kept) and its Ramanujan gap
    ``Delta_r(K_d) = ramanujan_bound(K_d) - sigma_2(K_d)``, the bound with
    average degrees over ``K_d``'s non-isolated nodes
    (:func:`graphtools.spectral.ramanujan_bound`).  ``IMDB`` is the mean of these
    gaps; None when no group qualifies.  Isolated inputs (``d = 0``) form no
    group: ``K_0`` has no edges and no bound.

    Example
    -------
    >>> import numpy as np
    >>> imdb(np.ones((3, 3))), imdb(np.eye(3))
    (2.8284271247461903, -1.0)
    """
    M = pattern(B)
    degrees = input_degrees(M)
    gaps = []
    for d in np.unique(degrees):
        cols = np.flatnonzero(degrees == d)
        if d < 1 or cols.size < 3:
            continue
        sub = M[:, cols]
        bound = ramanujan_bound(sub)
        if bound is None:  # cannot happen for d >= 1; kept for safety
            continue
        gaps.append(bound - float(top_singular_values(sub, 2)[1]))
    return float(np.mean(gaps)) if gaps else None


# --------------------------------------------------------------------------- exact values


def exact_edge_expansion(B) -> float | None:
    """``h_E = min |boundary(S)| / |S|`` over ``S`` in ``V = L u R`` with ``0 < |S| <= |V|/2``, by enumeration.

    The binary graph on all ``n_L + n_R`` nodes, isolated ones included (an
    isolated node makes ``h_E = 0``), as in Mohar's isoperimetric number.
    ``|boundary(S)| = vol(S) - 2 e(S)`` is tabulated for all ``2^|V|`` subsets
    with numpy.  Accepts ``|V| <= MAX_ENUMERATED_NODES`` (20), else ValueError;
    None when ``|V| < 2`` (no admissible ``S``).

    Example
    -------
    >>> import numpy as np
    >>> exact_edge_expansion(np.ones((2, 2)))   # C_4: cut 2 edges to split off 2 nodes
    1.0
    """
    M = pattern(B)
    n = sum(M.shape)
    _check_size(n, MAX_ENUMERATED_NODES, "nodes (n_L + n_R)", "exact_edge_expansion")
    if n < 2:
        return None
    A = _full_adjacency(M.toarray().astype(np.int64))
    vol = _subset_sums(A.sum(axis=1), np.int64)
    cut = vol - 2 * _internal_weights(A, np.int64)
    size = _subset_sums(np.ones(n, dtype=np.int64), np.int64)
    ok = (size > 0) & (2 * size <= n)
    return float(np.min(cut[ok] / size[ok]))


def exact_conductance(B, weighted: bool = False) -> float | None:
    """``phi = min w(S, V \\ S) / vol(S)`` over ``S`` in ``V`` with ``0 < vol(S) <= vol(V)/2``, by enumeration.

    ``V`` is the set of *non-isolated* nodes of ``L u R`` (an isolated node has
    volume 0, so it can neither be an admissible ``S`` nor change a cut or a
    volume; excluding it only saves work).  ``vol`` sums degrees, or with
    ``weighted`` the strengths of ``|B|``; ``w(S, V \\ S)`` is the number (weight)
    of edges leaving ``S``.  Computed as the equal quantity
    ``min cut(S) / min(vol(S), vol(V \\ S))`` over ``0 < vol(S) < vol(V)``, which
    needs no test of ``vol(S) <= vol(V)/2`` in floating point.  This is
    Chung's Cheeger constant ``h_G`` (see :func:`cheeger_interval`).  Accepts at
    most ``MAX_ENUMERATED_NODES`` (20) non-isolated nodes, else ValueError; None
    for a graph without edges.

    Example
    -------
    >>> import numpy as np
    >>> exact_conductance(np.ones((2, 2)))
    0.5
    """
    M = _graph(B, weighted)
    rows = np.flatnonzero(np.diff(M.indptr))
    cols = np.flatnonzero(np.bincount(M.indices, minlength=M.shape[1]))
    n = rows.size + cols.size
    _check_size(n, MAX_ENUMERATED_NODES, "non-isolated nodes", "exact_conductance")
    if n == 0:
        return None
    dtype = np.float64 if weighted else np.int64
    A = _full_adjacency(M[rows][:, cols].toarray().astype(dtype))
    vol = _subset_sums(A.sum(axis=1), dtype)
    total = vol[-1]
    cut = vol - 2 * _internal_weights(A, dtype)
    smaller = np.minimum(vol, total - vol)[1:-1]  # S = {} and S = V excluded
    cut = np.maximum(cut[1:-1], 0)  # weighted rounding could give -1e-16 for a union of components
    return float(np.min(cut / smaller))


def _max_size(max_fraction: float, n: int) -> int:
    if not 0 < max_fraction <= 1:
        raise ValueError(f"max_fraction must lie in (0, 1], got {max_fraction}")
    return int(math.floor(max_fraction * n + 1e-9))


def exact_vertex_expansion(B, max_fraction: float = 0.5) -> float | None:
    """``min |N(X)| / |X|`` over input sets ``X`` with ``1 <= |X| <= floor(max_fraction n_L)``, by enumeration.

    ``N(X)`` is the set of outputs adjacent to some input of ``X`` (binary
    graph).  Neighbourhoods are bit-packed over outputs and OR-ed by doubling
    over all ``2^n_L`` subsets (in chunks of outputs, so ``n_R`` may be large).
    Accepts ``n_L <= MAX_ENUMERATED_INPUTS`` (16), else ValueError; None when
    ``floor(max_fraction n_L) < 1`` (the floor allows 1e-9 of rounding in the product).

    Example
    -------
    >>> import numpy as np
    >>> exact_vertex_expansion(np.ones((2, 2)))   # any input reaches both outputs
    2.0
    """
    M = pattern(B)
    n_r, n_l = M.shape
    _check_size(n_l, MAX_ENUMERATED_INPUTS, "inputs", "exact_vertex_expansion")
    k_max = _max_size(max_fraction, n_l)
    if k_max < 1:
        return None
    packed = np.packbits(M.toarray() != 0, axis=0)  # (ceil(n_R/8), n_L) uint8
    count = np.zeros(1 << n_l, dtype=np.int64)
    chunk = max(1, (1 << 24) >> n_l)
    for start in range(0, packed.shape[0], chunk):
        block = packed[start : start + chunk]
        nb = np.zeros((1 << n_l, block.shape[0]), dtype=np.uint8)
        for k in range(n_l):
            half = 1 << k
            nb[half : 2 * half] = nb[:half] | block[:, k]
        count += _POPCOUNT8[nb].sum(axis=1, dtype=np.int64)
    size = _subset_sums(np.ones(n_l, dtype=np.int64), np.int64)
    ok = (size >= 1) & (size <= k_max)
    return float(np.min(count[ok] / size[ok]))


def max_mixing_ratio(B, weighted: bool = False) -> float | None:
    """``max |e(S,T) - E s t/(n_L n_R)| / sqrt(s t (1 - s/n_L)(1 - t/n_R))`` over all nonempty proper
    ``S`` in the inputs and ``T`` in the outputs: the smallest coefficient for which the biregular
    mixing bound (:func:`mixing_bound_biregular`) holds on this graph.

    Exact: for each ``S`` (all ``2^n_L - 2``) the per-output counts
    ``c_i = e(S, {i})`` are sorted; for each size ``t`` the largest and smallest
    ``e(S, T)`` are the sums of the ``t`` largest and smallest ``c_i``, and only
    these extremes matter.  ``O(2^n_L n_R log n_R)``.  ``weighted`` uses ``|B|``.
    Accepts ``n_L <= MAX_ENUMERATED_INPUTS`` (16), else ValueError; None when
    ``n_L < 2`` or ``n_R < 2`` (no nonempty proper pair).  For a biregular graph
    the mixing lemma says the result is at most ``sigma_2``.

    Example
    -------
    >>> import numpy as np
    >>> round(max_mixing_ratio(np.ones((2, 3))), 9)   # complete bipartite: no discrepancy
    0.0
    """
    M = _graph(B, weighted)
    n_r, n_l = M.shape
    _check_size(n_l, MAX_ENUMERATED_INPUTS, "inputs", "max_mixing_ratio")
    if n_l < 2 or n_r < 2:
        return None
    W = M.toarray()
    total = W.sum()
    t = np.arange(1, n_r, dtype=np.float64)
    best = 0.0
    masks = np.arange(1, (1 << n_l) - 1, dtype=np.int64)
    chunk = max(1, (1 << 21) // n_r)
    bits = np.arange(n_l, dtype=np.int64)
    for start in range(0, masks.size, chunk):
        m = masks[start : start + chunk]
        X = ((m[:, None] >> bits) & 1).astype(np.float64)
        s = X.sum(axis=1)
        C = np.sort(X @ W.T, axis=1)
        low = np.cumsum(C, axis=1)  # low[:, t-1] = smallest e(S, T) with |T| = t
        vol = low[:, -1:]
        high = vol - low[:, : n_r - 1][:, ::-1]  # high[:, t-1] = vol - low[:, n_r-t-1]
        low = low[:, : n_r - 1]
        expected = total * s[:, None] * t[None, :] / (n_l * n_r)
        disc = np.maximum(high - expected, expected - low)
        denom = np.sqrt(s[:, None] * t[None, :] * (1 - s[:, None] / n_l) * (1 - t[None, :] / n_r))
        best = max(best, float(np.max(disc / denom)))
    return best


# --------------------------------------------------------------------------- all together


@dataclass(frozen=True)
class ExpansionBounds:
    """Expansion guarantees of one binary bipartite graph (see :func:`expansion_bounds`).

    * ``mixing``: ``{"form": "biregular", "coefficient": sigma_2}`` for a
      biregular graph (Haemers), else ``{"form": "normalized", "coefficient":
      sigma_2(N)}`` (Chung); the coefficient multiplies the square root in
      :func:`mixing_bound_biregular` / :func:`mixing_bound_normalized`.  None
      for a graph without edges.
    * ``tanner``: None unless biregular; else ``{"alpha": [...],
      "min_neighbours_per_node": [...]}`` with ``tanner_bound(size) / size`` at
      ``size = max(1, round(alpha n_L))`` (Python's ``round``).
    * ``cheeger``: ``{"lambda": 1 - sigma_2(N), "lower", "upper"}`` for the
      conductance; None for a graph without edges.
    * ``imdb``: :func:`imdb` (None when no degree group has 3 inputs).
    * ``exact``: None unless ``n_L + n_R <= 20`` or ``n_L <= 16``; else
      ``{"edge_expansion", "conductance"}`` (null unless ``n_L + n_R <= 20``) and
      ``{"vertex_expansion", "mixing_ratio"}`` (null unless ``n_L <= 16``).
    """

    mixing: dict | None
    tanner: dict | None
    cheeger: dict | None
    imdb: float | None
    exact: dict | None

    def to_dict(self) -> dict:
        """Plain JSON values (lists, floats, None); a non-finite float becomes None."""
        return json_safe(
            {"mixing": self.mixing, "tanner": self.tanner, "cheeger": self.cheeger, "imdb": self.imdb,
             "exact": self.exact}
        )


def expansion_bounds(B, sigma2: float | None = None, normalized_sigma2: float | None = None) -> ExpansionBounds:
    """All expansion guarantees of the *binary* graph ``1[B != 0]`` (weights are ignored).

    ``sigma2`` (``sigma_2`` of the binary ``B``, as ``LayerReport.sigma2``) and
    ``normalized_sigma2`` (``sigma_2(N)``, i.e. ``1 - LayerReport.normalized_gap``)
    are computed when not given.  Exact values (:func:`exact_edge_expansion`,
    :func:`exact_conductance`, :func:`exact_vertex_expansion` at
    ``max_fraction = 0.5``, :func:`max_mixing_ratio`) are included for graphs
    within their limits, decided by the shape alone (see :class:`ExpansionBounds`).

    Example
    -------
    >>> import numpy as np
    >>> b = expansion_bounds(np.ones((2, 2)))
    >>> b.exact['edge_expansion'], b.cheeger['lower'] <= b.exact['conductance'] <= b.cheeger['upper']
    (1.0, True)
    """
    M = pattern(B)
    n_r, n_l = M.shape
    empty = M.nnz == 0
    biregular = biregular_degrees(M)
    if biregular is not None and sigma2 is None:
        sigma2 = float(top_singular_values(M, 2)[1])
    if not empty and normalized_sigma2 is None:
        normalized_sigma2 = 1.0 - normalized_gap(M)

    if empty:
        mixing = None
    elif biregular is not None:
        mixing = {"form": "biregular", "coefficient": float(sigma2)}
    else:
        mixing = {"form": "normalized", "coefficient": float(normalized_sigma2)}

    tanner = None
    if biregular is not None:
        c, d = biregular
        sizes = [max(1, round(a * n_l)) for a in TANNER_ALPHAS]
        tanner = {
            "alpha": list(TANNER_ALPHAS),
            "min_neighbours_per_node": [tanner_bound(c, d, float(sigma2), n_l, k) / k for k in sizes],
        }

    cheeger = None
    if not empty:
        lam = 1.0 - float(normalized_sigma2)
        lower, upper = cheeger_interval(lam)
        cheeger = {"lambda": lam, "lower": lower, "upper": upper}

    exact = None
    small_graph = n_l + n_r <= MAX_ENUMERATED_NODES
    small_inputs = n_l <= MAX_ENUMERATED_INPUTS
    if small_graph or small_inputs:
        exact = {
            "edge_expansion": exact_edge_expansion(M) if small_graph else None,
            "conductance": exact_conductance(M) if small_graph else None,
            "vertex_expansion": exact_vertex_expansion(M) if small_inputs else None,
            "mixing_ratio": max_mixing_ratio(M) if small_inputs else None,
        }
    return ExpansionBounds(mixing=mixing, tanner=tanner, cheeger=cheeger, imdb=imdb(M), exact=exact)
