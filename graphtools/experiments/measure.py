"""The graph measures a sweep records for every pruned weight and every unfolded step layer."""

from __future__ import annotations

import numpy as np

from graphtools.analysis import analyze_graph, analyze_unfolded, step_biadjacency
from graphtools.graphs import bipartite
from graphtools.model import ModelDescription
from graphtools.structure import input_degrees, output_degrees

#: Kinds of the recurrent weights a sweep prunes (graphtools.prune.DEFAULT_KINDS).
PRUNED_KINDS = ("ih", "hh", "hr")
#: Full singular spectra are stored for graphs whose shorter side is at most this.
SPECTRUM_LIMIT = 1024

#: ``(record field, LayerReport.flat() column)`` of the measures a sweep record keeps, in order.
RECORD_FIELDS = (
    ("nnz", "nnz"), ("density", "density"), ("components", "components"),
    ("isolated_inputs", "inputs_isolated"), ("isolated_outputs", "outputs_isolated"),
    ("sigma1", "sigma1"), ("sigma2", "sigma2"), ("spectral_gap", "spectral_gap"),
    ("normalized_gap", "normalized_gap"), ("ramanujan_bound", "ramanujan_bound"),
    ("ramanujan_gap", "ramanujan_gap"), ("is_ramanujan", "is_ramanujan"), ("delta_s", "delta_s"),
    ("cover_bound", "cover_bound"), ("cover_gap", "cover_gap"), ("is_ramanujan_cover", "is_ramanujan_cover"),
    ("weighted_sigma1", "weighted_sigma1"), ("weighted_sigma2", "weighted_sigma2"),
    ("weighted_spectral_gap", "weighted_spectral_gap"),
)


def reached_sparsity(model: ModelDescription) -> float:
    """Fraction of zero entries over the recurrent weights (kinds :data:`PRUNED_KINDS`) of ``model``."""
    total = zeros = 0
    for w in model.weights:
        if w.kind in PRUNED_KINDS:
            total += w.matrix.size
            zeros += int((w.matrix == 0).sum())
    return zeros / total if total else 0.0


def degree_histogram(degrees: np.ndarray) -> list[list[int]]:
    """``[[degree, count], ...]`` for the degrees that occur, ascending."""
    values, counts = np.unique(np.asarray(degrees, dtype=np.int64), return_counts=True)
    return [[int(v), int(c)] for v, c in zip(values, counts)]


def binary_spectrum(B) -> list[float] | None:
    """All singular values of the binary graph ``1[B != 0]``, descending (None above
    :data:`SPECTRUM_LIMIT`)."""
    dense = np.asarray(B.todense() if hasattr(B, "todense") else B) != 0
    if min(dense.shape) > SPECTRUM_LIMIT or dense.size == 0:
        return None
    return [float(s) for s in np.linalg.svd(dense.astype(np.float64), compute_uv=False)]


def graph_record(name: str, kind: str, matrix) -> dict:
    """One ``layers`` entry: :func:`graphtools.analysis.analyze_graph`'s measures, flattened,
    plus the binary singular spectrum and both degree histograms."""
    graph = bipartite(matrix, name)
    row = analyze_graph(graph).flat()
    record = {"name": name, "kind": kind, "shape": [row["rows"], row["cols"]]}
    record.update({field: row[source] for field, source in RECORD_FIELDS})
    record.update({
        "singular_values": binary_spectrum(graph.binary),
        "in_degrees": degree_histogram(input_degrees(graph.binary)),
        "out_degrees": degree_histogram(output_degrees(graph.binary)),
    })
    return record


def _mean(values):
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def summarize(layers: list[dict]) -> dict:
    """Per-run scalars over the pruned weights (kinds ih/hh/hr) and over the step layers: mean
    spectral, normalized and weighted gaps and Delta_s, the smallest Ramanujan gap, and whether
    every graph is Ramanujan (None if some bound is undefined)."""
    out = {}
    for prefix, kinds in (("", PRUNED_KINDS), ("step_", ("step",))):
        group = [entry for entry in layers if entry["kind"] in kinds]
        gaps = [entry["ramanujan_gap"] for entry in group]
        flags = [entry["is_ramanujan"] for entry in group]
        out.update({
            f"{prefix}spectral_gap": _mean(e["spectral_gap"] for e in group),
            f"{prefix}normalized_gap": _mean(e["normalized_gap"] for e in group),
            f"{prefix}weighted_spectral_gap": _mean(e["weighted_spectral_gap"] for e in group),
            f"{prefix}delta_s": _mean(e["delta_s"] for e in group),
            f"{prefix}ramanujan_gap": None if not gaps or None in gaps else float(min(gaps)),
            f"{prefix}all_ramanujan": None if not flags or None in flags else all(flags),
        })
    return out


def measure_model(model: ModelDescription, steps: int) -> tuple[list[dict], dict]:
    """``(layers, unfolded)`` of a model: one record per recurrent weight (canonical order) and
    per unfolded step layer (kind ``step``, name ``step_l<k>`` or ``step_l<k>_reverse``), and
    the unfolded graph's size, top eigenvalues, reachability and mixing depth."""
    layers = [graph_record(w.name, w.kind, np.asarray(w.matrix, dtype=np.float64))
              for w in model.weights if w.kind in PRUNED_KINDS]
    report = analyze_unfolded(model, steps)
    for rl in model.modules[0].layers:
        name = f"step_l{rl.layer}" + ("_reverse" if rl.reverse else "")
        layers.append(graph_record(name, "step", step_biadjacency(rl)))
    unfolded = {
        "steps": steps, "nodes": report.totals.nodes, "edges": report.totals.edges,
        "lambda1": report.totals.lambda1, "lambda2": report.totals.lambda2, "eigengap": report.totals.eigengap,
        "layers": [{"layer": lr.layer, "lambda1": lr.totals.lambda1, "lambda2": lr.totals.lambda2,
                    "directions": [{"direction": d.direction, "reachability": d.reachability,
                                    "mixing_depth": d.mixing_depth} for d in lr.directions]}
                   for lr in report.layers],
    }
    return layers, unfolded
