"""Expander measures of a mask or of a weight's nonzeros, fast enough for every guard round."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.sparse.linalg import eigsh

from graphtools.spectral import DENSE_LIMIT, cover_radius, is_ramanujan, ramanujan_bound_from_degrees, top_singular_values
from graphtools.structure import as_csr


@dataclass(frozen=True)
class GraphSummary:
    """The expander measures of one binary graph (a weight's nonzeros, or a mask).

    ``in_degree`` / ``out_degree`` are (min, max) over input nodes (columns) and
    output nodes (rows); ``ramanujan_bound`` uses average degrees over
    non-isolated nodes (:func:`graphtools.spectral.ramanujan_bound`).
    """

    nnz: int
    density: float
    sigma1: float
    sigma2: float
    ramanujan_bound: float | None
    is_ramanujan: bool | None
    in_degree: tuple[int, int]
    out_degree: tuple[int, int]
    cover_bound: float | None = None  # rho of the universal cover (graphtools.spectral.cover_radius)
    is_ramanujan_cover: bool | None = None  # sigma2 <= cover_bound

    def is_ramanujan_by(self, definition: str | None) -> bool | None:
        """The Ramanujan check under ``definition``: "average" (or None) or "cover"."""
        return self.is_ramanujan_cover if definition == "cover" else self.is_ramanujan


#: Largest matrix (entries) whose Gram matrix :func:`_top_two` may form; 2^26 float32 = 256 MB.
GRAM_LIMIT = 1 << 26


def _top_two(nz: np.ndarray, edges: int) -> tuple[float, float]:
    """``sigma_1, sigma_2`` of the 0/1 matrix ``nz``; never a full SVD of a large matrix.

    In general :func:`graphtools.spectral.top_singular_values` (components split,
    ARPACK on large ones).  A large mask with ``E > k^2 / 4`` edges (``k`` its shorter
    side) whose graph is certified connected takes a faster exact route, which makes
    ramanujan-guard's checks of dense early rounds about 3x cheaper:

    * ``G = B^T B`` (or ``B B^T``), ``k x k``, is exact: integer counts below 2^24 add
      up exactly in float32.  ``G`` is positive semidefinite with eigenvalues
      ``sigma_i(B)^2``; isolated nodes (zero rows of ``G``) only add zeros and are dropped.
    * Certificate: if some node shares a neighbour with every other node (a row of
      ``G`` with no zero), the graph without isolated nodes is connected, so ``G`` is
      irreducible and ``lambda_1`` simple (Perron-Frobenius): a Lanczos run cannot
      mistake a second copy of ``lambda_1`` for ``lambda_2`` (the reason
      ``top_singular_values`` splits components).  Without the certificate the general
      route is taken.
    * ``lambda_1, lambda_2`` by ARPACK (``eigsh``, ``which="LA"``, ``tol=0``) on the dense
      ``G``; ``sigma_i = sqrt(lambda_i)``.  Eigenvalue error ``~ eps lambda_1``, so
      ``sigma_2`` is off by ``~ eps sigma_1^2 / (2 sigma_2)``, far below the
      ``1e-12 sigma_1`` rounding allowance of :func:`graphtools.spectral.is_ramanujan`;
      agreement with a full SVD is tested.
    """
    m, n = nz.shape
    k = min(m, n)
    if 4 * edges > k * k and DENSE_LIMIT < m * n <= GRAM_LIMIT:
        F = nz.astype(np.float32)
        G = (F.T @ F if m >= n else F @ F.T).astype(np.float64)
        alive = np.flatnonzero(np.diagonal(G) > 0)
        if alive.size < k:
            G = G[np.ix_(alive, alive)]
        if alive.size > 2 and (G > 0).all(axis=1).any():
            v0 = np.random.default_rng(0).uniform(0.5, 1.5, alive.size)
            lam = np.sort(eigsh(G, k=2, which="LA", tol=0, v0=v0, return_eigenvectors=False))[::-1]
            return float(np.sqrt(lam[0])), float(np.sqrt(max(lam[1], 0.0)))
    s1, s2 = top_singular_values(as_csr(nz), 2)
    return float(s1), float(s2)


def graph_summary(B, *, cover: bool = True) -> GraphSummary:
    """Density, ``sigma_1``, ``sigma_2``, Ramanujan bound and check, degree ranges of ``1[B != 0]``.

    Singular values: :func:`_top_two` (ARPACK for large components, never a full SVD
    of a large matrix).  The complete bipartite graph is answered in closed form:
    ``sigma_1 = sqrt(mn)``, ``sigma_2 = 0`` (rank one), so unpruned dense weights cost
    nothing.  The bound is the paper's: ``sqrt(d_in - 1) + sqrt(d_out - 1)`` with
    ``d_in = E / #non-isolated inputs``, ``d_out = E / #non-isolated outputs``
    (:func:`graphtools.spectral.ramanujan_bound_from_degrees`).  With ``cover`` (default) also
    the universal-cover radius and its Ramanujan check (:func:`graphtools.spectral.cover_radius`);
    ramanujan-guard's average-degree rounds skip it.
    """
    nz = np.asarray(B) != 0
    m, n = nz.shape
    if nz.size == 0:
        return GraphSummary(0, 0.0, 0.0, 0.0, None, None, (0, 0), (0, 0))
    d_out = np.count_nonzero(nz, axis=1)
    d_in = np.count_nonzero(nz, axis=0)
    edges = int(d_out.sum())
    if edges == m * n:
        s1, s2 = math.sqrt(m * n), 0.0
    else:
        s1, s2 = _top_two(nz, edges)
    bound = None
    if edges:
        bound = ramanujan_bound_from_degrees(edges / np.count_nonzero(d_in), edges / np.count_nonzero(d_out))
    radius = cover_radius(nz) if edges and cover else None
    return GraphSummary(
        nnz=edges,
        density=edges / nz.size,
        sigma1=s1,
        sigma2=s2,
        ramanujan_bound=bound,
        is_ramanujan=is_ramanujan(s1, s2, bound),
        in_degree=(int(d_in.min()), int(d_in.max())),
        out_degree=(int(d_out.min()), int(d_out.max())),
        cover_bound=radius,
        is_ramanujan_cover=is_ramanujan(s1, s2, radius),
    )
