"""Per-layer expander reports: the composition of io, model, graphs, structure and spectral.

``analyze_checkpoint(path)`` is what ``graphtools analyze`` runs: load the
file, describe the model, turn every 2-D weight (and, on request, every gate
block) into a bipartite graph and measure it.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field

import numpy as np

from graphtools.graphs import BipartiteGraph, bipartite, gate_blocks
from graphtools.io import load_state
from graphtools.model import describe
from graphtools.spectral import (
    average_degrees,
    delta_s,
    is_ramanujan,
    normalized_gap,
    ramanujan_bound_from_degrees,
    top_singular_values,
)
from graphtools.structure import (
    DegreeStats,
    biregular_degrees,
    bipartite_components,
    degree_stats,
    input_degrees,
    output_degrees,
)


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

    def to_dict(self) -> dict:
        d = asdict(self)
        d["shape"] = list(self.shape)
        d["biregular"] = None if self.biregular is None else list(self.biregular)
        return d


@dataclass(frozen=True)
class ModelReport:
    """The report of a whole checkpoint."""

    checkpoint: str
    format: str
    architecture: dict
    layers: list[LayerReport] = field(default_factory=list)
    modules: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        out = {
            "checkpoint": self.checkpoint,
            "format": self.format,
            "architecture": dict(self.architecture),
            "layers": [layer.to_dict() for layer in self.layers],
        }
        if len(self.modules) > 1:
            out["modules"] = [dict(m) for m in self.modules]
        return out


def analyze_graph(graph: BipartiteGraph, method: str = "auto") -> LayerReport:
    """Measure one bipartite graph: degrees, components, binary and weighted spectra,
    normalized gap, Ramanujan bound and gap, Delta_s, biregularity."""
    B, W = graph.binary, graph.weighted
    n_out, n_in = graph.shape
    s1, s2 = (float(x) for x in top_singular_values(B, 2, method))
    w1, w2 = (float(x) for x in top_singular_values(W, 2, method))
    degrees = average_degrees(B)
    bound = None if degrees is None else ramanujan_bound_from_degrees(*degrees)
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
        normalized_gap=normalized_gap(B, method),
        ramanujan_bound=bound,
        ramanujan_gap=None if bound is None else bound - s2,
        is_ramanujan=is_ramanujan(s1, s2, bound),
        delta_s=delta_s(s1, s2),
        biregular=biregular_degrees(B),
        weighted=WeightedSpectrum(w1, w2, w1 - w2),
    )


def analyze_checkpoint(path: str | os.PathLike, gates: bool = False, method: str = "auto") -> ModelReport:
    """Load ``path`` and report every 2-D weight (canonical order: recurrent layers, then the rest by name); with ``gates``, each weight of a
    gated cell is followed by one row per gate block (LSTM i, f, g, o; GRU r, z, n)."""
    checkpoint = load_state(path)
    model = describe(checkpoint.tensors)
    layers: list[LayerReport] = []
    for weight in model.weights:
        matrix = np.asarray(weight.matrix, dtype=np.float64)
        layers.append(analyze_graph(bipartite(matrix, weight.name), method))
        if gates and weight.gates:
            for gate, block in gate_blocks(matrix, weight.gates):
                layers.append(analyze_graph(bipartite(block, weight.name, gate), method))
    return ModelReport(
        checkpoint=os.fspath(path),
        format=checkpoint.format,
        architecture=model.architecture(),
        layers=layers,
        modules=[dict(m.architecture(), prefix=m.prefix, naming=m.naming) for m in model.modules],
    )
