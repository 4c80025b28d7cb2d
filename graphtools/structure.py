"""Degrees, isolated nodes, connected components and biregularity of a bipartite graph.

Convention (docs/measures.md): a biadjacency ``B`` of shape ``(n_R, n_L)`` has one row
per *output* neuron and one column per *input* neuron, with an edge where
``B != 0``.  So the degree of input node ``j`` is the number of nonzeros in
column ``j`` (its fan-out) and the degree of output node ``i`` the number of
nonzeros in row ``i`` (its fan-in).  A node of degree 0 is *isolated*.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components as _cc


def as_csr(B, *, copy: bool = True) -> sp.csr_matrix:
    """``B`` (dense or sparse, any real dtype) as a float64 CSR matrix without stored zeros.

    With ``copy=False`` a ``B`` that already is one (sorted indices, no duplicates) is
    returned itself, for callers that only read it.

    Example
    -------
    >>> as_csr(np.array([[0.0, 2.0], [0.0, 0.0]])).nnz
    1
    """
    if not copy and _is_canonical_csr(B):
        return B
    if sp.issparse(B):
        M = sp.csr_matrix(B, dtype=np.float64, copy=True)
    else:
        arr = np.asarray(B)
        if arr.ndim != 2:
            raise ValueError(f"a biadjacency must be 2-D, got shape {arr.shape}")
        return _dense_to_csr(arr)
    M.eliminate_zeros()
    M.sort_indices()
    return M


#: :func:`as_csr` reads a dense array in blocks of rows of about this many entries.
DENSE_BLOCK_ENTRIES = 1 << 20


def _dense_to_csr(arr: np.ndarray) -> sp.csr_matrix:
    """The float64 CSR matrix of the nonzeros of a dense 2-D ``arr`` (sorted, no stored zeros),
    built a block of rows at a time: the nonzeros' positions by ``flatnonzero`` of each block's
    mask and their values straight into float64 (never a dense float64 copy of a float32 weight).
    About 2x faster than scipy's route from a dense array (``nonzero``, then COO to CSR), with
    half its transient memory."""
    m, n = arr.shape
    counts = np.count_nonzero(arr, axis=1)
    indptr = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    nnz = int(indptr[-1])
    index = np.int32 if max(nnz, m, n) < 2**31 else np.int64
    indices, data = np.empty(nnz, dtype=index), np.empty(nnz, dtype=np.float64)
    rows = max(1, DENSE_BLOCK_ENTRIES // max(n, 1))
    for start in range(0, m, rows):
        block = arr[start:start + rows].ravel()  # a view of a C-contiguous array, else a copy of the block
        mask = block != 0
        lo, hi = indptr[start], indptr[min(start + rows, m)]
        flat = np.flatnonzero(mask)
        np.remainder(flat, n, out=flat)
        indices[lo:hi] = flat
        data[lo:hi] = np.compress(mask, block)
    return sp.csr_matrix((data, indices, indptr.astype(index)), shape=(m, n))


def pattern(B) -> sp.csr_matrix:
    """``1[B != 0]``: the binary graph of ``B`` as a float64 CSR matrix (sorted, no stored zeros).

    The one pattern helper of the package.  ``B`` itself when it already is such a 0/1 matrix;
    otherwise a new matrix of ones that *shares* the index arrays of :func:`as_csr` of ``B`` (no
    copy of them), so callers treat the result as read-only.

    Example
    -------
    >>> pattern(np.array([[0.0, -2.5], [3.0, 0.0]])).toarray()
    array([[0., 1.],
           [1., 0.]])
    """
    M = as_csr(B, copy=False)
    if bool((M.data == 1.0).all()):
        return M
    return sp.csr_matrix((np.ones(M.nnz), M.indices, M.indptr), shape=M.shape)


def _is_canonical_csr(B) -> bool:
    """Whether ``B`` is already what :func:`as_csr` returns (float64 CSR, sorted, no duplicates, no
    stored zeros); read-only callers then use it without a copy."""
    return (sp.issparse(B) and B.format == "csr" and B.dtype == np.float64 and B.has_canonical_format
            and bool(B.data.all()))


def input_degrees(B) -> np.ndarray:
    """Degree of every input node: the number of nonzeros in each column of ``B``."""
    M = as_csr(B, copy=False)
    return np.bincount(M.indices, minlength=M.shape[1])


def output_degrees(B) -> np.ndarray:
    """Degree of every output node: the number of nonzeros in each row of ``B``."""
    M = as_csr(B, copy=False)
    return np.diff(M.indptr)


@dataclass(frozen=True)
class DegreeStats:
    """Degrees of one side of a bipartite graph; ``degree_mean`` is over *all* nodes of the side
    (``E / n``), isolated ones included."""

    degree_min: int
    degree_mean: float
    degree_max: int
    isolated: int


def degree_stats(degrees: np.ndarray) -> DegreeStats:
    """Min, mean (over all nodes), max and the number of zero-degree nodes of a degree sequence."""
    degrees = np.asarray(degrees)
    if degrees.size == 0:
        return DegreeStats(0, 0.0, 0, 0)
    return DegreeStats(
        degree_min=int(degrees.min()),
        degree_mean=float(degrees.mean()),
        degree_max=int(degrees.max()),
        isolated=int(np.count_nonzero(degrees == 0)),
    )


def bipartite_components(B) -> tuple[int, np.ndarray]:
    """Connected components of the bipartite graph of ``B``.

    Nodes are numbered outputs first (``0 .. n_R-1``) then inputs
    (``n_R .. n_R+n_L-1``).  Returns ``(count, labels)``; an isolated node is a
    component of its own, as in networkx and igraph.  Uses the sparse
    ``[[0, B], [B^T, 0]]`` adjacency, never a dense one.
    """
    M = as_csr(B, copy=False)
    n_r, n_l = M.shape
    found = _one_component_by_sweeps(M)
    if found is not None:
        return found
    # the upper block [[0, B], [0, 0]] of the adjacency, built directly (no COO detour, int32 indices):
    # the undirected search reads each edge both ways
    indptr = np.concatenate([M.indptr, np.full(n_l, M.indptr[-1], dtype=M.indptr.dtype)])
    adjacency = sp.csr_matrix((np.ones(M.nnz), M.indices + np.asarray(n_r, M.indices.dtype), indptr),
                              shape=(n_r + n_l, n_r + n_l))
    count, labels = _cc(adjacency, directed=False)
    return int(count), labels


def _one_component_by_sweeps(M, sweeps: int = 4):
    """:func:`bipartite_components` of a CSR ``M`` with positive data whose edges all lie in one
    component, reached within ``sweeps`` breadth-first sweeps (output -> inputs -> outputs) from the
    output of largest degree, by sparse products; None when that is not shown (then the general
    search decides).  Labels are numbered as scipy's search numbers them: in order of each
    component's first node.  Pruned layers are usually connected with a small diameter, and this
    costs a few sparse products instead of a transposed copy of ``M``."""
    n_r, n_l = M.shape
    if M.nnz == 0 or not bool((M.data > 0).all()):
        return None
    MT = M.T  # a CSC view: no copy
    row_alive = np.diff(M.indptr) > 0
    col_alive = MT @ np.ones(n_r) > 0  # (not np.bincount, which makes an int64 copy of the indices)
    rows_wanted, cols_wanted = int(np.count_nonzero(row_alive)), int(np.count_nonzero(col_alive))
    rows = np.zeros(n_r)
    rows[int(np.argmax(np.diff(M.indptr)))] = 1.0
    for _ in range(sweeps):
        cols = (MT @ rows > 0).astype(np.float64)
        rows = (M @ cols > 0).astype(np.float64)
        if int(np.count_nonzero(rows)) == rows_wanted and int(np.count_nonzero(cols)) == cols_wanted:
            break
    else:
        return None
    alive = np.concatenate([row_alive, col_alive])
    # a new label at every isolated node and at the first node of the one component with edges
    starts = ~alive
    starts[int(np.argmax(alive))] = True
    labels = np.cumsum(starts) - 1
    labels[alive] = labels[int(np.argmax(alive))]
    return int(np.count_nonzero(starts)), labels.astype(np.int32)


def edge_components(B) -> int:
    """Number of connected components that contain at least one edge (isolated nodes ignored)."""
    M = as_csr(B, copy=False)
    if M.nnz == 0:
        return 0
    _, labels = bipartite_components(M)
    return int(np.unique(labels[: M.shape[0]][np.diff(M.indptr) > 0]).size)


def biregular_degrees(B) -> tuple[int, int] | None:
    """``(c, d)`` if every input node has degree ``c >= 1`` and every output node degree
    ``d >= 1`` (a (c, d)-biregular graph, so ``c * n_L == d * n_R``); otherwise None.

    Isolated nodes make a graph not biregular.
    """
    d_in = input_degrees(B)
    d_out = output_degrees(B)
    if d_in.size == 0 or d_out.size == 0:
        return None
    c, d = int(d_in[0]), int(d_out[0])
    if c >= 1 and d >= 1 and (d_in == c).all() and (d_out == d).all():
        return c, d
    return None
