"""Singular-value measures of a bipartite graph given by its biadjacency ``B`` (outputs x inputs).

The adjacency of a bipartite graph, ``A = [[0, B], [B^T, 0]]``, has eigenvalues
``+-sigma_i`` where ``sigma_1 >= sigma_2 >= ...`` are the singular values of
``B``.  So ``sigma_1`` is the largest eigenvalue of the graph and ``sigma_2``
its largest non-trivial one (docs/measures.md).  Everything here
works on ``B`` itself; the dense ``(n_L + n_R)^2`` adjacency is never built.

How singular values are computed.  The spectrum of ``B`` is the union of the
spectra of its connected components, so :func:`top_singular_values` splits
``B`` into components first (isolated nodes contribute nothing).  This makes
multiplicities between components exact (two equal blocks give
``sigma_1 == sigma_2`` exactly) and leaves each component with a simple top
singular value (Perron-Frobenius), where Krylov solvers are reliable.  A
component whose shorter side ``s`` is at most ``GRAM_SIDE_LIMIT`` takes the
Gram route: the ``s x s`` Gram matrix ``G`` (``B^T B`` or ``B B^T``, a sparse
product when that is cheaper), its top-``k`` eigenvectors ``V`` by LAPACK
(``eigh``/dsyevx, only the wanted ones) and the singular values of ``B V`` (Rayleigh-
Ritz: accurate to rounding in ``sigma``, not the ``sqrt(eps) sigma_1`` of square
roots of Gram eigenvalues).  Where ``sigma_k < 1e-3 sigma_1`` (rank-deficient
components) it takes the route of the next paragraph instead: LAPACK's SVD up to
``DENSE_LIMIT`` entries, ARPACK above.  A larger component goes to ARPACK
(``scipy.sparse.linalg.svds``) with ``tol=0`` (machine precision), again with
Rayleigh-Ritz.  ``method="dense"`` is LAPACK's SVD everywhere (the reference);
all routes agree to 1e-8 relative (tested).  Small work runs on one BLAS thread
(:mod:`graphtools.threads`).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.linalg as la
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator, eigsh, svds

from graphtools.cover import cover_radius  # noqa: F401  (re-exported: graphtools.spectral.cover_radius)
from graphtools.structure import as_csr, bipartite_components, edge_components, input_degrees, output_degrees
from graphtools.threads import blas_limit, threads_for

#: Rank-deficient components of at most this many entries use a dense SVD in ``method="auto"``.
DENSE_LIMIT = 262_144

#: Components whose shorter side is at most this take the Gram route in ``method="auto"``.
GRAM_SIDE_LIMIT = 1024

#: The Gram route falls back to a full SVD when ``sigma_k / sigma_1`` is below this.
GRAM_RTOL = 1e-3

#: Largest dense copy (entries) the Gram route makes of a component; above it ``G`` is a sparse product.
GRAM_DENSE_ENTRIES = 1 << 22

#: Lanczos basis size of the ARPACK route: 0.92x the time of svds' default on the H = 2048 benchmark
#: layers, the same digits (benchmarks/bench_arpack.py, docs/benchmarks.md).
ARPACK_NCV = 48

#: Largest matrix (entries) whose dense Gram matrix ``method="gram"`` may form; 2^26 float32 = 256 MB.
GRAM_LIMIT = 1 << 26

#: ``is_ramanujan`` allows ``sigma_2`` to exceed the bound by this much relative to
#: ``sigma_1``, to absorb floating-point rounding on graphs that meet the bound exactly.
RAMANUJAN_RTOL = 1e-12

#: The two Ramanujan tests: sigma_2 against the average-degree bound (the paper's) or against the
#: universal cover's spectral radius (docs/measures.md, "Two Ramanujan tests").
RAMANUJAN_DEFINITIONS = ("average", "cover")


def _dense_top(M: sp.csr_matrix, k: int) -> np.ndarray:
    m, n = M.shape
    with blas_limit(threads_for(4.0 * m * n * min(m, n))):
        return np.linalg.svd(M.toarray(), compute_uv=False)[:k]


def _gram_top(M: sp.csr_matrix, k: int) -> np.ndarray:
    """Top ``k`` singular values of ``M`` (``k`` < both sides) from its Gram matrix with Rayleigh-Ritz."""
    m, n = M.shape
    A = M if n <= m else M.T.tocsr()  # A is tall: G = A^T A is the small side squared
    rows, s = A.shape
    row_nnz = np.diff(A.indptr).astype(np.float64)
    dense = rows * s <= GRAM_DENSE_ENTRIES and 16.0 * float(row_nnz @ row_nnz) > rows * s * s
    # a 0/1 matrix's Gram entries are counts below 2^24, exact in float32 whatever the order of the sums:
    # a float32 product gives the same G as any float64 one, in ~0.4x the time of the sparse product
    binary = rows < 2**24 and rows * s <= GRAM_DENSE_ENTRIES and bool((A.data == 1.0).all())
    with blas_limit(threads_for(2.0 * rows * s * s + 4.0 * s**3)):
        if binary:
            F = A.astype(np.float32).toarray()
            G = (F.T @ F).astype(np.float64)
            dense = False  # Rayleigh-Ritz below from the sparse A
        elif dense:
            D = A.toarray()
            G = D.T @ D
        else:
            G = (A.T @ A).toarray()
        # dsyevx, not the default dsyevr: dsyevr returned no eigenvalues for a subset inside a
        # cluster (normalized array code: 0.25 of multiplicity 40)
        lam, V = la.eigh(G, subset_by_index=[s - k, s - 1], driver="evx", check_finite=False)
        if lam.size < k:
            lam, V = la.eigh(G, check_finite=False)
            lam, V = lam[-k:], V[:, -k:]
        if lam[0] < (GRAM_RTOL**2) * lam[-1]:  # a tiny sigma_k: Gram squares away its digits
            return _dense_top(A, k) if rows * s <= DENSE_LIMIT else _arpack_top(A, k)
        AV = D @ V if dense else A @ V
        return np.linalg.svd(AV, compute_uv=False)[:k]


def _arpack_top(M: sp.csr_matrix, k: int) -> np.ndarray:
    m, n = M.shape
    v0 = np.random.default_rng(0).uniform(0.5, 1.5, size=min(m, n))
    with blas_limit(threads_for(30.0 * (m + n) * k * k)):  # ARPACK's dense work: vectors times its basis
        # a Krylov basis of ARPACK_NCV vectors, not svds' default of 20: sigma_2 of a pruned layer sits
        # at the edge of the bulk of the spectrum, where fewer restarts save time (benchmarks/bench_arpack.py)
        ncv = ARPACK_NCV if 2 * k + 1 < ARPACK_NCV < min(m, n) else None  # else svds' own choice
        # an operator over M and its CSC view M^T: svds given M itself would copy it once for M^T
        MT = M.T
        operator = LinearOperator(M.shape, matvec=M.__matmul__, rmatvec=MT.__matmul__, matmat=M.__matmul__,
                                  rmatmat=MT.__matmul__, dtype=M.dtype)
        vt = svds(operator, k=k, tol=0, v0=v0, ncv=ncv, return_singular_vectors="vh", solver="arpack")[2]
        # Rayleigh-Ritz on the converged right singular subspace: accurate small sigmas.
        return np.linalg.svd(M @ vt.T, compute_uv=False)[:k]


def _component_top(M: sp.csr_matrix, k: int, method: str) -> np.ndarray:
    m, n = M.shape
    if method == "dense" or min(m, n) <= k:
        return _dense_top(M, k)
    if method == "auto" and min(m, n) <= GRAM_SIDE_LIMIT:
        return _gram_top(M, k)
    return _arpack_top(M, k)


def _certified_gram_top(B, k: int) -> np.ndarray | None:
    """Top ``k`` singular values of a large, dense-ish, certified-connected 0/1 ``B`` from its exact
    Gram matrix, or None where this route does not apply (``method="gram"`` then goes on as ``"auto"``).

    It applies to a 0/1 matrix with ``DENSE_LIMIT < m n <= GRAM_LIMIT`` entries and
    ``E > s^2 / 4`` edges (``s`` its shorter side), which makes ramanujan-guard's checks of dense
    early rounds about 3x cheaper than the general route:

    * ``G = B^T B`` (or ``B B^T``), ``s x s``, is exact: integer counts below 2^24 add up exactly
      in float32.  ``G`` is positive semidefinite with eigenvalues ``sigma_i(B)^2``; isolated nodes
      (zero rows of ``G``) only add zeros and are dropped.
    * Certificate: if some node shares a neighbour with every other node (a row of ``G`` with no
      zero), the graph without isolated nodes is connected, so ``G`` is irreducible and
      ``lambda_1`` simple (Perron-Frobenius): a Lanczos run cannot mistake a second copy of
      ``lambda_1`` for ``lambda_2`` (the reason :func:`top_singular_values` splits components).
      Without the certificate: None.
    * ``lambda_1 .. lambda_k`` by ARPACK (``eigsh``, ``which="LA"``, ``tol=0``) on the dense ``G``;
      ``sigma_i = sqrt(lambda_i)``.  Eigenvalue error ``~ eps lambda_1``, so ``sigma_2`` is off by
      ``~ eps sigma_1^2 / (2 sigma_2)``, far below the ``1e-12 sigma_1`` rounding allowance of
      :func:`is_ramanujan`; agreement with a full SVD is tested.
    """
    m, n = B.shape
    side = min(m, n)
    if not DENSE_LIMIT < m * n <= GRAM_LIMIT:
        return None
    dense = B.toarray() if sp.issparse(B) else np.asarray(B)
    if dense.dtype != bool and not np.isin(dense, (0, 1)).all():
        return None
    F = (dense != 0).astype(np.float32)
    if 4 * int(np.count_nonzero(F)) <= side * side:
        return None
    G = (F.T @ F if m >= n else F @ F.T).astype(np.float64)
    alive = np.flatnonzero(np.diagonal(G) > 0)
    if alive.size < side:
        G = G[np.ix_(alive, alive)]
    if alive.size <= k or not (G > 0).all(axis=1).any():
        return None
    v0 = np.random.default_rng(0).uniform(0.5, 1.5, alive.size)
    lam = np.sort(eigsh(G, k=k, which="LA", tol=0, v0=v0, return_eigenvectors=False))[::-1]
    return np.sqrt(np.maximum(lam, 0.0))


def top_singular_values(B, k: int = 2, method: str = "auto") -> np.ndarray:
    """The ``k`` largest singular values of ``B`` in decreasing order, zero-padded.

    ``method`` is ``"auto"`` (Gram route for components with a short side, ARPACK
    for large ones; see the module docstring), ``"dense"`` (LAPACK's SVD),
    ``"sparse"`` (ARPACK wherever the component is larger than ``k`` on both
    sides) or ``"gram"`` (for large dense-ish 0/1 masks: ARPACK on the exact dense
    Gram matrix when the graph is certified connected, :func:`_certified_gram_top`;
    otherwise as ``"auto"``).  An empty graph has all singular values 0.

    Example
    -------
    >>> import numpy as np
    >>> np.round(top_singular_values(np.ones((2, 3)), 2), 6)   # rank one: sqrt(6), 0
    array([2.44949, 0.     ])
    """
    if method not in ("auto", "dense", "sparse", "gram"):
        raise ValueError(f"method must be 'auto', 'dense', 'sparse' or 'gram', not {method!r}")
    if method == "gram":
        found = _certified_gram_top(B, k)
        if found is not None:
            return found
        method = "auto"
    M = as_csr(B, copy=False)  # only read here
    m, n = M.shape
    values: list[float] = []
    if M.nnz:
        count, labels = bipartite_components(M)
        row_labels, col_labels = labels[:m], labels[m:]
        with_edges = np.unique(row_labels[np.diff(M.indptr) > 0])
        if with_edges.size == 1:
            rows = np.flatnonzero(row_labels == with_edges[0])
            cols = np.flatnonzero(col_labels == with_edges[0])
            whole = rows.size == m and cols.size == n  # no isolated node: no copy
            values.extend(_component_top(M if whole else M[rows][:, cols], k, method))
        else:
            row_order = np.argsort(row_labels, kind="stable")
            col_order = np.argsort(col_labels, kind="stable")
            row_starts = np.searchsorted(row_labels[row_order], np.arange(count + 1))
            col_starts = np.searchsorted(col_labels[col_order], np.arange(count + 1))
            P = M[row_order][:, col_order].tocsr()
            for c in with_edges:
                block = P[row_starts[c] : row_starts[c + 1], col_starts[c] : col_starts[c + 1]]
                values.extend(_component_top(block, k, method))
    values.sort(reverse=True)
    out = np.zeros(k)
    out[: min(k, len(values))] = values[:k]
    return out


def spectral_gap(B, method: str = "auto") -> float:
    """``sigma_1(B) - sigma_2(B)``: the spectral gap of the bipartite graph (pass ``|W|`` for the
    weighted graph, ``1[W != 0]`` for the binary one).

    Example
    -------
    >>> import numpy as np
    >>> round(spectral_gap(np.ones((2, 3))), 6)   # K_{2,3}: sqrt(6) - 0
    2.44949
    """
    s1, s2 = top_singular_values(B, 2, method)
    return float(s1 - s2)


def normalized_biadjacency(B) -> sp.csr_matrix:
    """``N = D_R^{-1/2} B D_L^{-1/2}`` on the non-isolated nodes (Chung, *Spectral Graph Theory*).

    ``D_R`` and ``D_L`` hold the row and column sums of ``B`` (degrees for a
    binary ``B``, strengths for ``|W|``).  Every component with an edge has
    ``sigma_1(N) = 1``.

    Example
    -------
    >>> import numpy as np
    >>> normalized_biadjacency(np.ones((2, 2))).toarray()
    array([[0.5, 0.5],
           [0.5, 0.5]])
    """
    M = abs(as_csr(B, copy=False))  # abs makes the one copy
    row_sum = np.asarray(M.sum(axis=1)).ravel()
    col_sum = np.asarray(M.sum(axis=0)).ravel()
    rows, cols = np.flatnonzero(row_sum > 0), np.flatnonzero(col_sum > 0)
    if rows.size < M.shape[0] or cols.size < M.shape[1]:
        M = M[rows][:, cols]
    # (a_ij r_i) c_j in place, the rounding of D_R^{-1/2} @ M @ D_L^{-1/2} without two sparse products
    M.data *= np.repeat(1.0 / np.sqrt(row_sum[rows]), np.diff(M.indptr))
    M.data *= (1.0 / np.sqrt(col_sum[cols]))[M.indices]
    M.eliminate_zeros()  # an underflow, as the products would drop it
    return M


def normalized_gap(B, method: str = "auto") -> float | None:
    """``1 - sigma_2(N)`` with ``N`` from :func:`normalized_biadjacency`; None for an empty graph.

    It is 0 exactly when the graph (isolated nodes aside) is disconnected.

    Example
    -------
    >>> import numpy as np
    >>> round(normalized_gap(np.ones((2, 3))), 9), normalized_gap(np.eye(2))   # connected; two components
    (1.0, 0.0)
    """
    N = normalized_biadjacency(B)
    if N.nnz == 0:
        return None
    if edge_components(N) > 1:
        return 0.0  # every component has sigma_1(N) = 1 exactly; no rounding of it
    return float(1.0 - top_singular_values(N, 2, method)[1])


def average_degrees(B) -> tuple[float, float] | None:
    """``(d_in, d_out) = (E / #non-isolated inputs, E / #non-isolated outputs)``; None if ``E = 0``.

    Example
    -------
    >>> import numpy as np
    >>> average_degrees(np.ones((2, 3)))   # inputs have degree 2, outputs 3
    (np.float64(2.0), np.float64(3.0))
    """
    d_in, d_out = input_degrees(B), output_degrees(B)
    edges = int(d_in.sum())
    if edges == 0:
        return None
    return edges / np.count_nonzero(d_in), edges / np.count_nonzero(d_out)


def ramanujan_bound_from_degrees(d_in: float, d_out: float) -> float | None:
    """``sqrt(d_in - 1) + sqrt(d_out - 1)``, or None when either degree is below 1.

    For a (c, d)-biregular graph this is the Alon-Boppana bound for bipartite
    graphs (Mohar, arXiv:1002.1084); with average degrees it is the irregular
    form (Hoory, JCTB 2005).

    Example
    -------
    >>> round(ramanujan_bound_from_degrees(3, 3), 6)   # 2 sqrt(2)
    2.828427
    >>> ramanujan_bound_from_degrees(0.5, 3) is None
    True
    """
    if d_in < 1 or d_out < 1:
        return None
    return math.sqrt(d_in - 1) + math.sqrt(d_out - 1)


def ramanujan_bound(B) -> float | None:
    """Ramanujan bound of ``B`` with average degrees over non-isolated nodes (docs/measures.md).

    Example
    -------
    >>> import numpy as np
    >>> round(ramanujan_bound(np.ones((3, 5))), 9)   # sqrt(3 - 1) + sqrt(5 - 1)
    3.414213562
    """
    degrees = average_degrees(B)
    return None if degrees is None else ramanujan_bound_from_degrees(*degrees)


def is_ramanujan(sigma1: float, sigma2: float, bound: float | None) -> bool | None:
    """``sigma_2 <= bound`` (up to ``RAMANUJAN_RTOL * sigma_1`` of rounding); None if no bound.

    Example
    -------
    >>> is_ramanujan(4.0, 2.0, 2.5), is_ramanujan(4.0, 3.0, 2.5), is_ramanujan(4.0, 3.0, None)
    (True, False, None)
    """
    if bound is None:
        return None
    return bool(bound - sigma2 >= -RAMANUJAN_RTOL * max(1.0, sigma1))


def cover_gap(sigma2: float, cover: float | None) -> float | None:
    """``cover_bound - sigma_2``: the Ramanujan gap against the universal-cover radius (None without one).

    Example
    -------
    >>> cover_gap(2.0, 2.5), cover_gap(2.0, None)
    (0.5, None)
    """
    return None if cover is None else cover - sigma2


def delta_s(sigma1: float, sigma2: float) -> float | None:
    """``2 sqrt(sigma_1 - 1) - sigma_2`` (Hoang et al., ICLR 2023); None when ``sigma_1 < 1``.

    Example
    -------
    >>> delta_s(5.0, 3.0), delta_s(0.5, 0.1)   # 2 sqrt(5 - 1) - 3; None below sigma_1 = 1
    (1.0, None)
    """
    if sigma1 < 1:
        return None
    return 2.0 * math.sqrt(sigma1 - 1.0) - sigma2


#: Symmetric matrices up to this order get a dense eigensolver in :func:`top_eigenvalues`.
DENSE_EIG_LIMIT = 2_000


def top_eigenvalues(A, k: int = 2, tol: float = 1e-12) -> np.ndarray:
    """The ``k`` largest (algebraic) eigenvalues of a symmetric matrix or LinearOperator, decreasing.

    Small explicit matrices use LAPACK.  Otherwise each eigenvalue comes from
    Lanczos (ARPACK ``eigsh``, ``which="LA"``) on the operator deflated by the
    eigenvectors already found, ``A - sum lambda_i v_i v_i^T``: a fresh Krylov
    space finds a repeated eigenvalue (e.g. ``lambda_1 = lambda_2`` for two
    identical components) that a single run could miss.

    Example
    -------
    >>> import numpy as np
    >>> top_eigenvalues(np.diag([3.0, 1.0, 2.0]), 2)
    array([3., 2.])
    """
    from scipy.sparse.linalg import LinearOperator, aslinearoperator, eigsh

    n = A.shape[0]
    if n == 0:
        return np.zeros(k)
    if n <= DENSE_EIG_LIMIT and not isinstance(A, LinearOperator):
        dense = A.toarray() if sp.issparse(A) else np.asarray(A, dtype=np.float64)
        values = np.linalg.eigvalsh(dense)[::-1][:k]
        return np.pad(values, (0, k - len(values)))
    op = aslinearoperator(A)
    found, vectors = [], []
    rng = np.random.default_rng(0)
    for _ in range(min(k, n)):
        basis = np.array(vectors).T if vectors else None
        lams = np.array(found)

        def matvec(v, basis=basis, lams=lams):
            v = np.asarray(v).ravel()
            out = op.matvec(v)
            if basis is not None:
                out = out - basis @ (lams * (basis.T @ v))
            return out

        deflated = LinearOperator((n, n), matvec=matvec, dtype=np.float64)
        value, vector = eigsh(deflated, k=1, which="LA", tol=tol, v0=rng.uniform(0.5, 1.5, n))
        found.append(float(value[0]))
        vectors.append(vector[:, 0])
    values = np.sort(np.array(found))[::-1]
    return np.pad(values, (0, k - len(values)))
