"""Per-layer expander reports: the composition of io, model, graphs, structure and spectral.

``analyze_checkpoint(path)`` is what ``graphtools analyze`` runs: load the
file, describe the model, turn every 2-D weight (and, on request, every gate
block) into a bipartite graph and measure it.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field

import numpy as np

import scipy.sparse as sp

from graphtools.graphs import BipartiteGraph, bipartite, gate_blocks, gate_union
from graphtools.io import load_state
from graphtools.model import ModelDescription, RecurrentLayer, describe
from graphtools.recurrence import mixing_depth, reachability, transitions
from graphtools.spectral import (
    average_degrees,
    cover_gap,
    cover_radius,
    delta_s,
    is_ramanujan,
    normalized_gap,
    ramanujan_bound_from_degrees,
    top_singular_values,
)
from graphtools.structure import (
    DegreeStats,
    as_csr,
    biregular_degrees,
    bipartite_components,
    degree_stats,
    input_degrees,
    output_degrees,
)
from graphtools.unfolded_spectrum import unfolded_top_eigenvalues
from graphtools.unfolding import unfold


@dataclass(frozen=True)
class WeightedSpectrum:
    """``sigma_1``, ``sigma_2`` and their gap for the weighted graph ``|W|``."""

    sigma1: float
    sigma2: float
    spectral_gap: float


@dataclass(frozen=True)
class LayerReport:
    """Expander measures of one weight matrix or gate block (the JSON contract of ``analyze``)."""

    name: str
    gate: str | None
    shape: tuple[int, int]
    nnz: int
    density: float
    inputs: DegreeStats
    outputs: DegreeStats
    components: int
    sigma1: float
    sigma2: float
    spectral_gap: float
    normalized_gap: float | None
    ramanujan_bound: float | None
    ramanujan_gap: float | None
    is_ramanujan: bool | None
    delta_s: float | None
    biregular: tuple[int, int] | None
    weighted: WeightedSpectrum
    bounds: dict | None = None  # expansion bounds, with ``--bounds``
    cover_bound: float | None = None  # rho of the universal cover (spectral.cover_radius)
    cover_gap: float | None = None  # cover_bound - sigma2
    is_ramanujan_cover: bool | None = None  # sigma2 <= cover_bound

    def to_dict(self) -> dict:
        d = asdict(self)
        d["shape"] = list(self.shape)
        d["biregular"] = None if self.biregular is None else list(self.biregular)
        if self.bounds is None:
            del d["bounds"]
        return d


@dataclass(frozen=True)
class DirectionReport:
    """One direction of one unfolded layer: its step layer and paths through time."""

    direction: str  # "forward" | "reverse"
    step: LayerReport
    reachability: float
    mixing_depth: int | None

    def to_dict(self) -> dict:
        return {"direction": self.direction, "step": self.step.to_dict(),
                "reachability": self.reachability, "mixing_depth": self.mixing_depth}


@dataclass(frozen=True)
class UnfoldedTotals:
    """Size and top adjacency eigenvalues of an unfolded graph (binary)."""

    nodes: int
    edges: int
    lambda1: float
    lambda2: float
    eigengap: float

    @classmethod
    def of(cls, graph, eigenvalues) -> "UnfoldedTotals":
        l1, l2 = float(eigenvalues[0]), float(eigenvalues[1])
        return cls(graph.nodes, graph.edges, l1, l2, l1 - l2)


@dataclass(frozen=True)
class UnfoldedLayerReport:
    """One recurrent layer unfolded over time (both directions when bidirectional)."""

    layer: int
    totals: UnfoldedTotals  # of this layer's own unfolded graph
    directions: list[DirectionReport]

    def to_dict(self) -> dict:
        return {"layer": self.layer, **asdict(self.totals), "directions": [r.to_dict() for r in self.directions]}


@dataclass(frozen=True)
class UnfoldedReport:
    """The time-unfolded graph: totals of the whole graph and one entry per layer."""

    steps: int
    gates: str
    totals: UnfoldedTotals
    layers: list[UnfoldedLayerReport]

    def to_dict(self) -> dict:
        return {"steps": self.steps, "gates": self.gates, **asdict(self.totals),
                "layers": [layer.to_dict() for layer in self.layers]}


@dataclass(frozen=True)
class ModelReport:
    """The report of a whole checkpoint."""

    checkpoint: str
    format: str
    architecture: dict
    layers: list[LayerReport] = field(default_factory=list)
    modules: list[dict] = field(default_factory=list)
    unfolded: UnfoldedReport | None = None

    def to_dict(self) -> dict:
        out = {
            "checkpoint": self.checkpoint,
            "format": self.format,
            "architecture": dict(self.architecture),
            "layers": [layer.to_dict() for layer in self.layers],
        }
        if len(self.modules) > 1:
            out["modules"] = [dict(m) for m in self.modules]
        if self.unfolded is not None:
            out["unfolded"] = self.unfolded.to_dict()
        return out


def analyze_graph(graph: BipartiteGraph, method: str = "auto", bounds: bool = False) -> LayerReport:
    """Measure one bipartite graph: degrees, components, binary and weighted spectra,
    normalized gap, Ramanujan bound and gap, Delta_s, biregularity; with ``bounds``,
    the expansion bounds of :mod:`graphtools.expansion` too."""
    B, W = graph.binary, graph.weighted
    n_out, n_in = graph.shape
    s1, s2 = (float(x) for x in top_singular_values(B, 2, method))
    w1, w2 = (float(x) for x in top_singular_values(W, 2, method))
    degrees = average_degrees(B)
    bound = None if degrees is None else ramanujan_bound_from_degrees(*degrees)
    norm_gap = normalized_gap(B, method)
    cover = cover_radius(B)
    extra = None
    if bounds:
        from graphtools.expansion import expansion_bounds

        extra = expansion_bounds(B, s2, None if norm_gap is None else 1.0 - norm_gap).to_dict()
    return LayerReport(
        name=graph.name,
        gate=graph.gate,
        shape=(n_out, n_in),
        nnz=graph.nnz,
        density=graph.nnz / (n_out * n_in) if n_out * n_in else 0.0,
        inputs=degree_stats(input_degrees(B)),
        outputs=degree_stats(output_degrees(B)),
        components=bipartite_components(B)[0],
        sigma1=s1,
        sigma2=s2,
        spectral_gap=s1 - s2,
        normalized_gap=norm_gap,
        ramanujan_bound=bound,
        ramanujan_gap=None if bound is None else bound - s2,
        is_ramanujan=is_ramanujan(s1, s2, bound),
        delta_s=delta_s(s1, s2),
        biregular=biregular_degrees(B),
        weighted=WeightedSpectrum(w1, w2, w1 - w2),
        bounds=extra,
        cover_bound=cover,
        cover_gap=cover_gap(s2, cover),
        is_ramanujan_cover=is_ramanujan(s1, s2, cover),
    )


def step_biadjacency(layer: RecurrentLayer, gates: str = "union"):
    """The biadjacency of one unfolded step, ``(x_t u h_{t-1}) -> h_t``: ``[U_ih | U_hh]`` with
    ``U`` the gate union (``union``), or ``[|W_ih| | |W_hh|]`` into gate nodes (``per-gate``)."""
    if gates == "union":
        n = max(1, len(layer.weight_ih.gates))
        return sp.hstack([gate_union(layer.weight_ih.matrix, n), gate_union(layer.weight_hh.matrix, n)]).tocsr()
    return sp.hstack([as_csr(layer.weight_ih.matrix), as_csr(layer.weight_hh.matrix)]).tocsr()


def analyze_unfolded(model: ModelDescription, steps: int, gates: str = "union", layer: int | None = None,
                     method: str = "auto") -> UnfoldedReport:
    """Unfold the first recurrent module over ``steps`` and report the whole graph (nodes, edges,
    top adjacency eigenvalues) and, per layer, its own unfolded graph's eigenvalues plus, per
    direction, the step layer's full report, reachability and mixing depth."""
    whole = unfold(model, steps, gates, layer)
    lam = unfolded_top_eigenvalues(whole)
    module = model.modules[0]
    wanted = range(module.num_layers) if layer is None else [layer]
    layers = []
    for k in wanted:
        sub = whole if len(wanted) == 1 else unfold(model, steps, gates, k)
        sub_lam = lam if sub is whole else unfolded_top_eigenvalues(sub)
        directions = []
        for rl in (r for r in module.layers if r.layer == k):
            name = f"{rl.weight_ih.name} | {rl.weight_hh.name}"
            report = analyze_graph(bipartite(step_biadjacency(rl, gates), name), method)
            I, M = transitions(rl)
            directions.append(DirectionReport("reverse" if rl.reverse else "forward", report,
                                              reachability(I, M, steps), mixing_depth(M)))
        layers.append(UnfoldedLayerReport(k, UnfoldedTotals.of(sub, sub_lam), directions))
    return UnfoldedReport(steps, gates, UnfoldedTotals.of(whole, lam), layers)


def analyze_checkpoint(path: str | os.PathLike, gates: bool = False, method: str = "auto",
                       bounds: bool = False, unfold_steps: int | None = None,
                       unfold_gates: str = "union") -> ModelReport:
    """Load ``path`` and report every 2-D weight (canonical order: recurrent layers, then the
    rest by name); with ``gates``, each weight of a gated cell is followed by one row per gate
    block (LSTM i, f, g, o; GRU r, z, n); with ``bounds``, expansion bounds per row; with
    ``unfold_steps``, the unfolded-graph section of :func:`analyze_unfolded`."""
    checkpoint = load_state(path)
    model = describe(checkpoint.tensors)
    layers: list[LayerReport] = []
    for weight in model.weights:
        matrix = np.asarray(weight.matrix, dtype=np.float64)
        layers.append(analyze_graph(bipartite(matrix, weight.name), method, bounds))
        if gates and weight.gates:
            for gate, block in gate_blocks(matrix, weight.gates):
                layers.append(analyze_graph(bipartite(block, weight.name, gate), method, bounds))
    unfolded = None
    if unfold_steps is not None:
        unfolded = analyze_unfolded(model, unfold_steps, unfold_gates, method=method)
    return ModelReport(
        checkpoint=os.fspath(path),
        format=checkpoint.format,
        architecture=model.architecture(),
        layers=layers,
        modules=[dict(m.architecture(), prefix=m.prefix, naming=m.naming) for m in model.modules],
        unfolded=unfolded,
    )
