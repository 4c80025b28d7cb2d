"""Expander measures of a mask or of a weight's nonzeros, fast enough for every guard round."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from graphtools.spectral import GRAM_LIMIT  # noqa: F401  (re-exported by graphtools.prune)
from graphtools.spectral import cover_radius, is_ramanujan, ramanujan_bound_from_degrees, top_singular_values


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


def _top_two(nz: np.ndarray, edges: int) -> tuple[float, float]:
    """``sigma_1, sigma_2`` of the 0/1 matrix ``nz`` (``edges`` nonzeros): one route, that of
    :func:`graphtools.spectral.top_singular_values` with ``method="gram"`` (the exact Gram route for
    large dense-ish certified-connected masks, the general one otherwise); never a full SVD of a
    large matrix."""
    s1, s2 = top_singular_values(nz, 2, method="gram")
    return float(s1), float(s2)


def graph_summary(B, *, cover: bool = True) -> GraphSummary:
    """Density, ``sigma_1``, ``sigma_2``, Ramanujan bound and check, degree ranges of ``1[B != 0]``.

    Singular values: :func:`graphtools.spectral.top_singular_values` with ``method="gram"``
    (ARPACK for large components, never a full SVD of a large matrix).  The complete bipartite graph is answered in closed form:
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
