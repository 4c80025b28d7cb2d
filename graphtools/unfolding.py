"""The time-unfolded graph of a recurrent network (docs/measures.md).

A recurrent layer run for ``T`` steps is a layered graph.  Nodes: inputs
``x[t][i]`` (``t = 1..T``) and, per layer ``l``, hidden units ``h{l}[t][j]``
(``t = 0..T``; ``h{l}[0]`` is the initial state).  Per step ``t`` there is
one bipartite layer ``(x_t u h_{t-1}) -> h_t`` with biadjacency
``[W_ih | W_hh]``.

* **Gates.** ``union`` (default): hidden unit ``j`` has an edge from input ``i``
  when any gate's weight ``W[g*H + j, i]`` is nonzero; its weight is the sum
  of ``|w|`` over gates.  ``per-gate``: gate nodes ``g{l}[t][k]``
  (``k < G*H``) sit between the step's inputs and ``h_t``; gate node
  ``g*H + j`` feeds ``h_t[j]`` with weight 1.
* **Stacked layers** take ``h{l-1}[t]`` as the input of layer ``l`` at step ``t``.
* **Bidirectional layers** add a reverse chain ``h{l}_reverse[t]``, ``t = 1..T+1``
  (``T+1`` is its initial state), with ``(x_t u h_{t+1}) -> h_t``; the next
  layer reads ``[h{l}[t], h{l}_reverse[t]]``.
* **LSTM projections** (``weight_hr``): ``h{l}[t]`` (``t = 1..T``) feeds
  ``p{l}[t]`` (``t = 0..T``) through ``W_hr``; the recurrence and the next
  layer read ``p``.

Counts (one layer, binary union graph): ``T*in + (T+1)*H`` nodes and
``T*(nnz(U_ih) + nnz(U_hh))`` edges, where ``U`` is the gate union of ``W``
(``U = W`` for a plain RNN; for gated cells ``nnz(U) <= nnz(W)``).  Per-gate:
``T*G*H`` more nodes and ``T*(nnz(W_ih) + nnz(W_hh) + G*H)`` edges.

The graph is stored as node blocks and *edge families* (one biadjacency
repeated along time), so its adjacency can be applied as an operator in
``O(T * nnz(W))`` time and memory ``O(nodes + nnz(W))``; :meth:`adjacency`
builds the explicit scipy.sparse matrix blockwise when one is wanted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import scipy.sparse as sp

from graphtools.errors import GraphtoolsError
from graphtools.graphs import gate_union
from graphtools.model import ModelDescription, RecurrentLayer, RecurrentModule
from graphtools.structure import as_csr, pattern

GATE_MODES = ("union", "per-gate")


@dataclass(frozen=True)
class NodeBlock:
    """Nodes ``{label}[t][j]`` for ``t = t_first..t_last`` and ``j < size``, numbered from ``offset``."""

    label: str
    size: int
    t_first: int
    t_last: int
    offset: int

    @property
    def steps(self) -> int:
        return self.t_last - self.t_first + 1

    @property
    def count(self) -> int:
        return self.size * self.steps

    def index(self, t, j):
        """Global node index of ``{label}[t][j]`` (vectorised over numpy arrays)."""
        return self.offset + (np.asarray(t) - self.t_first) * self.size + np.asarray(j)


@dataclass(frozen=True)
class EdgeFamily:
    """Edges ``source[t + shift][i] -> target[t][j]`` for ``t = t_first..t_last`` wherever
    ``matrix[j, i] != 0`` (weight ``|matrix[j, i]|``); ``matrix`` is ``(target.size, source.size)``."""

    kind: Literal["ih", "hh", "hr", "gate"]
    target: str
    source: str
    matrix: sp.csr_matrix  # nonnegative weights; the binary graph is its pattern
    t_first: int
    t_last: int
    shift: int

    @property
    def steps(self) -> int:
        return self.t_last - self.t_first + 1

    @property
    def edges(self) -> int:
        return int(self.matrix.nnz) * self.steps


@dataclass
class UnfoldedGraph:
    """Node blocks and edge families of a time-unfolded recurrent network."""

    steps: int
    gates: str
    blocks: dict[str, NodeBlock] = field(default_factory=dict)
    families: list[EdgeFamily] = field(default_factory=list)

    @property
    def nodes(self) -> int:
        return sum(b.count for b in self.blocks.values())

    @property
    def edges(self) -> int:
        return sum(f.edges for f in self.families)

    def _add_block(self, label: str, size: int, t_first: int, t_last: int) -> None:
        if label not in self.blocks:
            self.blocks[label] = NodeBlock(label, size, t_first, t_last, self.nodes)

    def node_names(self) -> list[str]:
        """Names of all nodes in index order: ``x[t][i]``, ``h0[t][j]``, ``h0_reverse[t][j]``, ..."""
        names = []
        for b in self.blocks.values():
            names += [f"{b.label}[{t}][{j}]" for t in range(b.t_first, b.t_last + 1) for j in range(b.size)]
        return names

    def edge_arrays(self, family: EdgeFamily) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(source index, target index, weight)`` of every edge of one family."""
        coo = family.matrix.tocoo()
        times = np.arange(family.t_first, family.t_last + 1)[:, None]
        src, tgt = self.blocks[family.source], self.blocks[family.target]
        sources = src.index(times + family.shift, coo.col[None, :]).ravel()
        targets = tgt.index(times, coo.row[None, :]).ravel()
        return sources, targets, np.broadcast_to(coo.data, (len(times), coo.nnz)).ravel()

    def adjacency(self, weighted: bool = False) -> sp.csr_matrix:
        """The symmetric ``nodes x nodes`` adjacency, built blockwise in sparse form."""
        parts = [self.edge_arrays(f) for f in self.families]
        if parts:
            rows = np.concatenate([p[0] for p in parts])
            cols = np.concatenate([p[1] for p in parts])
            data = np.concatenate([p[2] for p in parts]) if weighted else np.ones(len(rows))
        else:
            rows = cols = np.zeros(0, dtype=np.int64)
            data = np.zeros(0)
        n = self.nodes
        upper = sp.coo_matrix((data, (rows, cols)), shape=(n, n)).tocsr()
        return (upper + upper.T).tocsr()

    def operator(self, weighted: bool = False):
        """The adjacency as a ``scipy.sparse.linalg.LinearOperator`` that never materialises it.

        Each family contributes ``V_target[t] += M V_source[t + shift]`` and the
        transpose, done for all steps at once as one matrix product.
        """
        from scipy.sparse.linalg import LinearOperator

        n = self.nodes
        plans = []
        for f in self.families:
            M = f.matrix if weighted else pattern(f.matrix)
            if M.nnz > 0.2 * M.shape[0] * M.shape[1]:
                M = M.toarray()  # BLAS beats sparse products on dense-ish weights
            src, tgt = self.blocks[f.source], self.blocks[f.target]
            plans.append((M, int(src.index(f.t_first + f.shift, 0)), src.size,
                          int(tgt.index(f.t_first, 0)), tgt.size, f.steps))

        def matvec(v):
            v = np.asarray(v, dtype=np.float64).ravel()
            out = np.zeros(n)
            for M, s0, ns, t0, nt, k in plans:
                Vs = v[s0:s0 + k * ns].reshape(k, ns)  # row t: source nodes at step t + shift
                Vt = v[t0:t0 + k * nt].reshape(k, nt)  # row t: target nodes at step t
                if sp.issparse(M):
                    out[t0:t0 + k * nt] += (M @ Vs.T).T.ravel()
                    out[s0:s0 + k * ns] += (M.T @ Vt.T).T.ravel()
                else:
                    out[t0:t0 + k * nt] += (Vs @ M.T).ravel()
                    out[s0:s0 + k * ns] += (Vt @ M).ravel()
            return out

        return LinearOperator((n, n), matvec=matvec, rmatvec=matvec, dtype=np.float64)


def _gate_fan_in(hidden: int, gates: int) -> sp.csr_matrix:
    """``[I I ... I]`` (``hidden x gates*hidden``): gate node ``g*H + j`` feeds hidden unit ``j``."""
    return sp.csr_matrix(np.tile(np.eye(hidden), gates))


def _direction_labels(layer: int, reverse: bool) -> tuple[str, str, str]:
    suffix = "_reverse" if reverse else ""
    return f"h{layer}{suffix}", f"p{layer}{suffix}", f"g{layer}{suffix}"


def _unfold_direction(graph: UnfoldedGraph, module: RecurrentModule, rl: RecurrentLayer,
                      inputs: list[tuple[str, int]]) -> None:
    """Add one layer and direction; ``inputs`` are the (label, size) blocks read at step ``t``."""
    T, H, P = graph.steps, module.hidden_size, module.proj_size
    G = max(1, len(rl.weight_ih.gates))
    h, p, g = _direction_labels(rl.layer, rl.reverse)
    step = 1 if rl.reverse else -1  # where h_{t-1} (forward) or h_{t+1} (reverse) lives
    first, last = (1, T + 1) if rl.reverse else (0, T)
    state = p if P else h  # what the recurrence reads
    if P:
        graph._add_block(h, H, 1, T)
        graph._add_block(p, P, first, last)
    else:
        graph._add_block(h, H, first, last)
    W_ih = np.asarray(rl.weight_ih.matrix, dtype=np.float64)
    W_hh = np.asarray(rl.weight_hh.matrix, dtype=np.float64)
    if graph.gates == "union":
        into, M_ih, M_hh = h, gate_union(W_ih, G), gate_union(W_hh, G)
    else:
        into, M_ih, M_hh = g, abs(as_csr(W_ih)), abs(as_csr(W_hh))
        graph._add_block(g, G * H, 1, T)
    column = 0
    for label, size in inputs:
        graph.families.append(EdgeFamily("ih", into, label, as_csr(M_ih[:, column:column + size]), 1, T, 0))
        column += size
    graph.families.append(EdgeFamily("hh", into, state, M_hh, 1, T, step))
    if graph.gates == "per-gate":
        graph.families.append(EdgeFamily("gate", h, g, _gate_fan_in(H, G), 1, T, 0))
    if P:
        graph.families.append(EdgeFamily("hr", p, h, abs(as_csr(rl.weight_hr.matrix)), 1, T, 0))


def unfold(model: ModelDescription, steps: int, gates: str = "union", layer: int | None = None,
           module: int = 0) -> UnfoldedGraph:
    """Unfold recurrent module ``module`` of ``model`` over ``steps`` time steps.

    With ``layer=K`` only layer ``K`` (both directions) is unfolded, its inputs
    being the step-``1..T`` outputs of layer ``K-1`` (or ``x``).
    """
    if not model.modules:
        raise GraphtoolsError("the checkpoint has no recurrent layer to unfold")
    if gates not in GATE_MODES:
        raise GraphtoolsError(f"gates must be one of {', '.join(GATE_MODES)}, not {gates!r}")
    if not isinstance(steps, (int, np.integer)) or steps < 1:
        raise GraphtoolsError(f"steps must be a positive whole number, not {steps!r}")
    mod = model.modules[module]
    if layer is not None and not 0 <= layer < mod.num_layers:
        raise GraphtoolsError(f"layer {layer} does not exist: the model has layers 0..{mod.num_layers - 1}")
    graph = UnfoldedGraph(steps=int(steps), gates=gates)
    wanted = range(mod.num_layers) if layer is None else [layer]
    out = mod.proj_size or mod.hidden_size
    for k in wanted:
        if k == 0:
            inputs = [("x", mod.input_size)]
        else:
            inputs = [(_direction_labels(k - 1, rev)[1 if mod.proj_size else 0], out)
                      for rev in ((False, True) if mod.bidirectional else (False,))]
        if layer is not None:  # the previous layer's outputs at steps 1..T are this graph's inputs
            for label, size in inputs:
                graph._add_block(label, size, 1, graph.steps)
        elif k == 0:
            graph._add_block("x", mod.input_size, 1, graph.steps)
        for rl in (r for r in mod.layers if r.layer == k):
            _unfold_direction(graph, mod, rl, inputs)
    return graph
