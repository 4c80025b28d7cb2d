"""Bipartite graphs of weight matrices, and their export to networkx and igraph.

A weight ``W`` of shape ``(out, in)`` is the biadjacency of a bipartite graph
(docs/measures.md): rows are output neurons, columns input neurons, an edge ``(i, j)``
where ``W[i, j] != 0``.  The binary graph uses ``1[W != 0]``; the weighted
graph uses ``|W|``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from graphtools.structure import as_csr, pattern


@dataclass(frozen=True)
class BipartiteGraph:
    """Bipartite graph of one weight matrix (or one gate block of it).

    ``binary`` and ``weighted`` are CSR matrices of shape ``(n_outputs, n_inputs)``
    with the same sparsity pattern: ones, and ``|W|``.
    """

    binary: sp.csr_matrix
    weighted: sp.csr_matrix
    name: str = ""
    gate: str | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return self.binary.shape

    @property
    def n_outputs(self) -> int:
        return self.binary.shape[0]

    @property
    def n_inputs(self) -> int:
        return self.binary.shape[1]

    @property
    def nnz(self) -> int:
        """Number of edges ``E``."""
        return int(self.binary.nnz)


def bipartite(W, name: str = "", gate: str | None = None) -> BipartiteGraph:
    """The :class:`BipartiteGraph` of a 2-D weight ``W`` (dense or sparse) in ``(out, in)`` layout."""
    weighted = as_csr(W)  # a new matrix (copy=True): |W| in place, and the pattern shares its indices
    np.abs(weighted.data, out=weighted.data)
    return BipartiteGraph(binary=pattern(weighted), weighted=weighted, name=name, gate=gate)


def gate_blocks(W: np.ndarray, gates: tuple[str, ...]) -> list[tuple[str, np.ndarray]]:
    """Split the rows of ``W`` into ``len(gates)`` equal blocks named by ``gates``.

    PyTorch stacks gate blocks along rows: LSTM ``(i, f, g, o)``, GRU ``(r, z, n)``.
    """
    rows = W.shape[0]
    if not gates or rows % len(gates):
        raise ValueError(f"cannot split {rows} rows into gates {gates}")
    size = rows // len(gates)
    return [(gate, W[g * size:(g + 1) * size]) for g, gate in enumerate(gates)]


def gate_union(W, gates: int) -> sp.csr_matrix:
    """The gate-union graph of a gated weight: ``U[j, i] = sum_g |W[g*H + j, i]|``.

    An ``(H, in)`` matrix with an edge wherever *any* gate's weight is nonzero
    (docs/measures.md, ``union``).  ``gates`` is the number of row
    blocks (1 RNN, 3 GRU, 4 LSTM).
    """
    A = np.abs(np.asarray(W, dtype=np.float64))
    if A.shape[0] % gates:
        raise ValueError(f"cannot split {A.shape[0]} rows into {gates} gates")
    return as_csr(A.reshape(gates, A.shape[0] // gates, A.shape[1]).sum(axis=0))


def _edges(graph: BipartiteGraph) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    coo = graph.weighted.tocoo()
    return coo.row, coo.col, coo.data


def to_networkx(graph: BipartiteGraph):
    """A ``networkx.Graph`` with input nodes ``("in", j)`` (``bipartite=0``), output nodes
    ``("out", i)`` (``bipartite=1``) and edge attribute ``weight = |W[i, j]|``."""
    import networkx as nx

    G = nx.Graph(name=graph.name)
    G.add_nodes_from((("in", j) for j in range(graph.n_inputs)), bipartite=0)
    G.add_nodes_from((("out", i) for i in range(graph.n_outputs)), bipartite=1)
    rows, cols, data = _edges(graph)
    G.add_weighted_edges_from(
        (("in", int(j)), ("out", int(i)), float(w)) for i, j, w in zip(rows, cols, data)
    )
    return G


def to_igraph(graph: BipartiteGraph):
    """An ``igraph.Graph``: vertices ``0..n_in-1`` are inputs (``type=False``), then outputs
    (``type=True``); vertex attribute ``name`` (``in[j]``, ``out[i]``), edge attribute ``weight``."""
    import igraph as ig

    n_in, n_out = graph.n_inputs, graph.n_outputs
    rows, cols, data = _edges(graph)
    G = ig.Graph(n=n_in + n_out, edges=list(zip(cols.tolist(), (rows + n_in).tolist())))
    G.vs["type"] = [False] * n_in + [True] * n_out
    G.vs["name"] = [f"in[{j}]" for j in range(n_in)] + [f"out[{i}]" for i in range(n_out)]
    G.es["weight"] = data.tolist()
    return G

