"""Per-layer expander reports: the composition of io, model, graphs, structure and spectral.

``analyze_checkpoint(path)`` is what ``graphtools analyze`` runs: load the
file, describe the model, turn every 2-D weight (and, on request, every gate
block) into a bipartite graph and measure it.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, replace
from typing import Literal

import numpy as np

import scipy.sparse as sp

from graphtools import budget
from graphtools.errors import GraphtoolsError
from graphtools.forked import can_fork, map_forked
from graphtools.graphs import BipartiteGraph, bipartite, gate_blocks, gate_union
from graphtools.loading import dense_note, read_checkpoint, select_modules
from graphtools.model import ModelDescription, RecurrentLayer
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
from graphtools.threads import free_workers, run_concurrently, threads, with_blas_threads, worker_budget
from graphtools.unfolding import GATE_MODES, unfold
from graphtools.validate import check_choice

#: Singular values below this fraction of sigma_1 are rounding noise and reported as 0.
RELATIVE_ZERO = 1e-9

#: Graphs with at least this many edges measure their spectra and cover radius concurrently (below it,
#: starting threads costs more than it saves).
CONCURRENT_MIN_EDGES = 20_000


#: A checkpoint's weights are measured in forked processes (graphtools.forked; :func:`weight_processes`)
#: when every weight has at most ``PROCESS_MAX_ENTRIES`` entries (above, the threads of
#: :func:`analyze_graph` share the work well and a second process would double the memory) and
#: they have at least ``PROCESS_MIN_ENTRIES`` in all (below, a fork costs more than it saves: an
#: LSTM of hidden size 16, 4,864 entries, took 64 ms in two processes against 75 ms in one).
PROCESS_MAX_ENTRIES = 1 << 22
PROCESS_MIN_ENTRIES = 1 << 12


def _clean(s1: float, s2: float) -> tuple[float, float]:
    """``(sigma_1, sigma_2)`` with a ``sigma_2 < 1e-9 * sigma_1`` reported as 0."""
    return s1, (0.0 if s2 < RELATIVE_ZERO * s1 else s2)


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

    def flat(self) -> dict:
        """One flat row (the CSV shape, which sweep records also draw from): ``name``, ``gate``,
        ``rows``, ``cols``, then every field of :meth:`to_dict` with nested ones flattened as
        ``inputs_degree_min``, ``weighted_sigma1``, ``bounds_...``, and ``biregular`` as
        ``biregular_c`` / ``biregular_d``.

        Example
        -------
        >>> import numpy as np
        >>> from graphtools.graphs import bipartite
        >>> row = analyze_graph(bipartite(np.ones((2, 3)))).flat()
        >>> row["rows"], row["cols"], row["inputs_degree_min"], row["biregular_c"], row["biregular_d"]
        (2, 3, 2, 2, 3)
        """
        row = self.to_dict()
        rows, cols = row.pop("shape")
        biregular = row.pop("biregular") or (None, None)
        row = {"name": row.pop("name"), "gate": row.pop("gate"), "rows": rows, "cols": cols, **row}
        row["biregular_c"], row["biregular_d"] = biregular
        return _flatten(row)


def _flatten(d: dict, prefix: str = "") -> dict:
    """Nested dicts as one level, keys joined by ``_``."""
    flat = {}
    for key, value in d.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}_"))
        else:
            flat[prefix + key] = value
    return flat


@dataclass(frozen=True)
class DirectionReport:
    """One direction of one unfolded layer: its step layer and paths through time."""

    direction: Literal["forward", "reverse"]
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
    module: str = ""  # prefix of the recurrent module unfolded

    def to_dict(self) -> dict:
        return {"module": self.module, "steps": self.steps, "gates": self.gates, **asdict(self.totals),
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
    skipped: list[dict] = field(default_factory=list)  # {"name", "shape", "reason"} of tensors not analysed
    notes: list[str] = field(default_factory=list)
    unfolded_modules: list[UnfoldedReport] = field(default_factory=list)  # every module unfolded

    def to_dict(self) -> dict:
        """JSON contract; ``architecture`` is the first module's (old fields) plus ``modules``, every one;
        ``unfolded`` is the first unfolded module and ``unfolded_modules`` all of them when several."""
        architecture = dict(self.architecture)
        architecture["modules"] = [
            {k: m[k] for k in ("prefix", "cell", "num_layers", "bidirectional", "input_size", "hidden_size",
                               "proj_size") if k in m} for m in self.modules]
        out = {
            "checkpoint": self.checkpoint,
            "format": self.format,
            "architecture": architecture,
            "layers": [layer.to_dict() for layer in self.layers],
            "skipped": [dict(s) for s in self.skipped],
            "notes": list(self.notes),
        }
        if len(self.modules) > 1:
            out["modules"] = [dict(m) for m in self.modules]
        if self.unfolded is not None:
            out["unfolded"] = self.unfolded.to_dict()
        if len(self.unfolded_modules) > 1:
            out["unfolded_modules"] = [u.to_dict() for u in self.unfolded_modules]
        return out


@with_blas_threads
def analyze_graph(graph: BipartiteGraph, method: str = "auto", bounds: bool = False, *,
                  cover: bool = True) -> LayerReport:
    """Measure one bipartite graph: degrees, components, binary and weighted spectra,
    normalized gap, Ramanujan bound and gap, Delta_s, biregularity, the universal cover's radius
    (without ``cover``: left out, for :func:`with_cover` to add later); with ``bounds``, the
    expansion bounds of :mod:`graphtools.expansion` too.

    Example
    -------
    >>> import numpy as np
    >>> from graphtools.graphs import bipartite
    >>> r = analyze_graph(bipartite(np.ones((3, 5))))   # K_{3,5}
    >>> round(r.sigma1, 6), r.sigma2, r.components, r.biregular, round(r.cover_bound, 6)
    (3.872983, 0.0, 1, (3, 5), 3.414214)
    """
    B, W = graph.binary, graph.weighted
    n_out, n_in = graph.shape
    # four independent measurements, longest first; their sparse products release the GIL (scipy's eigh
    # and the cover's Python-level steps do not), so on a large graph they share the thread budget
    # (graphtools.threads.run_concurrently)
    tasks = [lambda: top_singular_values(B, 2, method), lambda: top_singular_values(W, 2, method),
             lambda: normalized_gap(B, method)]
    measured = run_concurrently(([lambda: cover_radius(B)] if cover else []) + tasks,
                                workers=None if graph.nnz >= CONCURRENT_MIN_EDGES else 1)
    binary, weighted, norm_gap = measured[-3:]
    s1, s2 = _clean(*(float(x) for x in binary))
    w1, w2 = _clean(*(float(x) for x in weighted))
    degrees = average_degrees(B)
    bound = None if degrees is None else ramanujan_bound_from_degrees(*degrees)
    extra = None
    if bounds:
        from graphtools.expansion import expansion_bounds

        extra = expansion_bounds(B, s2, None if norm_gap is None else 1.0 - norm_gap).to_dict()
    report = LayerReport(
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
    )
    return with_cover(report, measured[0]) if cover else report


def with_cover(report: LayerReport, cover: float | None) -> LayerReport:
    """``report`` with the universal cover's radius ``cover`` (:func:`graphtools.cover.cover_radius` of
    its graph, None for a graph without edges) and what follows from it: ``cover_gap`` and
    ``is_ramanujan_cover``, from the report's own sigma_1 and sigma_2.

    Example
    -------
    >>> import numpy as np
    >>> from graphtools.graphs import bipartite
    >>> r = with_cover(analyze_graph(bipartite(np.ones((3, 5))), cover=False), 3.5)
    >>> r.cover_bound, round(r.cover_gap, 6), r.is_ramanujan_cover
    (3.5, 3.5, True)
    """
    return replace(report, cover_bound=cover, cover_gap=cover_gap(report.sigma2, cover),
                   is_ramanujan_cover=is_ramanujan(report.sigma1, report.sigma2, cover))


def empty_report(shape: tuple[int, int], name: str = "", gate: str | None = None,
                 bounds: bool = False) -> LayerReport:
    """The report of a weight with no entries (a zero dimension), in O(1) time and memory.

    The graph has ``out + in`` nodes, all isolated, and no edges: the same numbers
    :func:`analyze_graph` gives (``components`` counts the isolated nodes; every
    spectral quantity is 0 or undefined), without building per-node arrays, so an
    80-byte file declaring shape ``(0, 10**9)`` costs nothing.

    Example
    -------
    >>> r = empty_report((0, 5), name='w')
    >>> r.components, r.sigma1, r.is_ramanujan
    (5, 0.0, None)
    """
    n_out, n_in = (int(s) for s in shape)
    if n_out * n_in:
        raise GraphtoolsError(f"{name}: empty_report needs a zero dimension, got shape {shape}")
    extra = None
    if bounds:
        from graphtools.expansion import MAX_ENUMERATED_NODES, expansion_bounds

        # An edgeless graph's bounds depend on its shape only through which exact values are
        # enumerated (n_L + n_R <= 20, n_L <= 16): a stand-in with each side capped at 21 nodes
        # takes the same branches and gives the same values.
        cap = MAX_ENUMERATED_NODES + 1
        extra = expansion_bounds(sp.csr_matrix((min(n_out, cap), min(n_in, cap))), 0.0, None).to_dict()
    return LayerReport(
        name=name, gate=gate, shape=(n_out, n_in), nnz=0, density=0.0,
        inputs=DegreeStats(0, 0.0, 0, n_in), outputs=DegreeStats(0, 0.0, 0, n_out), components=n_out + n_in,
        sigma1=0.0, sigma2=0.0, spectral_gap=0.0, normalized_gap=None, ramanujan_bound=None,
        ramanujan_gap=None, is_ramanujan=None, delta_s=None, biregular=None,
        weighted=WeightedSpectrum(0.0, 0.0, 0.0), bounds=extra,
    )


def _checked_graph(matrix, name: str, gate: str | None) -> BipartiteGraph:
    """The bipartite graph of ``matrix`` (no zero dimension) once its cost fits the memory budget."""
    rows, cols = matrix.shape
    nnz = matrix.nnz if sp.issparse(matrix) else rows * cols
    budget.check(budget.graph_bytes(rows, cols, nnz), f"measuring {name} ({rows} x {cols})")
    return bipartite(matrix, name, gate)


def weight_cover(matrix, name: str = "") -> float | None:
    """The universal cover's radius of the graph of ``matrix`` (:func:`graphtools.cover.cover_radius`),
    after the memory check of :func:`analyze_weight`; None for a matrix without edges.  With
    ``analyze_weight(matrix, name, cover=False)`` and :func:`with_cover`, the same report as
    ``analyze_weight(matrix, name)``, in two parts that may run in different processes.

    Example
    -------
    >>> import numpy as np
    >>> round(weight_cover(np.ones((3, 5))), 6)   # K_{3,5}: sqrt(2) + sqrt(4)
    3.414214
    """
    if 0 in matrix.shape:
        return None
    return cover_radius(_checked_graph(matrix, name, None).binary)


def analyze_weight(matrix, name: str = "", gate: str | None = None, method: str = "auto",
                   bounds: bool = False, *, cover: bool = True) -> LayerReport:
    """:func:`analyze_graph` of the bipartite graph of ``matrix`` after checking its cost against the
    memory budget (:func:`graphtools.budget.graph_bytes`); a matrix with a zero dimension goes to
    :func:`empty_report`.  Without ``cover``, the cover radius is left out (:func:`weight_cover`).

    Example
    -------
    >>> import numpy as np
    >>> r = analyze_weight(np.eye(3), name='w')   # three disjoint edges
    >>> r.components, r.sigma1, r.sigma2, r.biregular
    (3, 1.0, 1.0, (1, 1))
    """
    rows, cols = matrix.shape
    if rows * cols == 0:
        return empty_report((rows, cols), name, gate, bounds)
    return analyze_graph(_checked_graph(matrix, name, gate), method, bounds, cover=cover)


def step_biadjacency(layer: RecurrentLayer, gates: str = "union"):
    """The biadjacency of one unfolded step, ``(x_t u h_{t-1}) -> h_t``: ``[U_ih | U_hh]`` with
    ``U`` the gate union (``union``), or ``[|W_ih| | |W_hh|]`` into gate nodes (``per-gate``).

    Example
    -------
    >>> import numpy as np
    >>> from graphtools.model import describe
    >>> model = describe({'rnn.weight_ih_l0': np.ones((4, 2)), 'rnn.weight_hh_l0': np.eye(4)})
    >>> step_biadjacency(model.modules[0].layers[0]).shape   # 4 hidden units from 2 inputs + 4 hidden
    (4, 6)
    """
    if gates == "union":
        n = max(1, len(layer.weight_ih.gates))
        return sp.hstack([gate_union(layer.weight_ih.matrix, n), gate_union(layer.weight_hh.matrix, n)]).tocsr()
    return sp.hstack([as_csr(layer.weight_ih.matrix), as_csr(layer.weight_hh.matrix)]).tocsr()


@with_blas_threads
def analyze_unfolded(model: ModelDescription, steps: int, gates: str = "union", layer: int | None = None,
                     method: str = "auto", module: int = 0) -> UnfoldedReport:
    """Unfold recurrent module number ``module`` (default the first) over ``steps`` and report the
    whole graph (nodes, edges, top adjacency eigenvalues) and, per layer, its own unfolded graph's
    eigenvalues plus, per direction, the step layer's full report, reachability and mixing depth.

    Example
    -------
    >>> import numpy as np
    >>> from graphtools.model import describe
    >>> model = describe({'rnn.weight_ih_l0': np.ones((4, 2)), 'rnn.weight_hh_l0': np.eye(4)})
    >>> u = analyze_unfolded(model, steps=3)
    >>> u.totals.nodes, u.layers[0].directions[0].direction
    (22, 'forward')
    """
    whole = unfold(model, steps, gates, layer, module)
    budget.check(budget.unfolded_bytes(whole.nodes, whole.edges, steps),
                 f"measuring the graph unfolded over {steps:,} steps ({whole.nodes:,} nodes, {whole.edges:,} edges)")
    lam = unfolded_top_eigenvalues(whole)
    index, module = module, model.modules[module]
    wanted = range(module.num_layers) if layer is None else [layer]
    layers = []
    for k in wanted:
        sub = whole if len(wanted) == 1 else unfold(model, steps, gates, k, index)
        sub_lam = lam if sub is whole else unfolded_top_eigenvalues(sub)
        directions = []
        for rl in (r for r in module.layers if r.layer == k):
            name = f"{rl.weight_ih.name} | {rl.weight_hh.name}"
            report = analyze_graph(bipartite(step_biadjacency(rl, gates), name), method)
            I, M = transitions(rl)
            directions.append(DirectionReport("reverse" if rl.reverse else "forward", report,
                                              reachability(I, M, steps), mixing_depth(M)))
        layers.append(UnfoldedLayerReport(k, UnfoldedTotals.of(sub, sub_lam), directions))
    return UnfoldedReport(steps, gates, UnfoldedTotals.of(whole, lam), layers, module.prefix)


@with_blas_threads
def analyze_checkpoint(path: str | os.PathLike, gates: bool = False, method: str = "auto",
                       bounds: bool = False, unfold_steps: int | None = None,
                       unfold_gates: str = "union", *, rename=(), threshold: float | None = None,
                       threshold_rel: float | None = None, module: str | None = None) -> ModelReport:
    """Load ``path`` and report every 2-D weight (canonical order: recurrent layers, then the
    rest by name); with ``gates``, each weight of a gated cell is followed by one row per gate
    block (LSTM i, f, g, o; GRU r, z, n); with ``bounds``, expansion bounds per row; with
    ``unfold_steps``, the unfolded-graph section of :func:`analyze_unfolded` for every recurrent
    module (or the one whose prefix is ``module``).  ``rename``, ``threshold`` and
    ``threshold_rel``: :func:`graphtools.loading.read_checkpoint`.  Tensors not analysed are listed
    in ``skipped``; ``notes`` carries the reader's notes, a naming hint and the dense-pattern note.
    Every option and structure error is raised before any spectral work.

    Example
    -------
    >>> import numpy as np, os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), 'm.npz')
    >>> np.savez(path, **{'rnn.weight_ih_l0': np.ones((4, 2)), 'rnn.weight_hh_l0': np.eye(4)})
    >>> report = analyze_checkpoint(path)
    >>> [(layer.name, layer.components) for layer in report.layers]
    [('rnn.weight_ih_l0', 1), ('rnn.weight_hh_l0', 4)]
    """
    loaded = read_checkpoint(path, rename=rename, threshold=threshold, threshold_rel=threshold_rel)
    return analyze_model(loaded.model, os.fspath(path), loaded.checkpoint.format, gates=gates,
                         method=method, bounds=bounds, unfold_steps=unfold_steps, unfold_gates=unfold_gates,
                         module=module, notes=loaded.notes, skipped=[s.to_dict() for s in loaded.skipped])


def _weight_rows(weight, matrix, gates: bool, method: str, bounds: bool, cover: bool = True) -> list[LayerReport]:
    """The report of one weight (its own row without the cover radius unless ``cover``) and of its gate
    blocks with ``gates``, from its ``matrix``."""
    rows = [analyze_weight(matrix, weight.name, method=method, bounds=bounds, cover=cover)]
    if gates and weight.gates:
        for gate, block in gate_blocks(matrix, weight.gates):
            rows.append(analyze_weight(block, weight.name, gate, method, bounds))
    return rows


def weight_processes(weights) -> int:
    """How many processes :func:`analyze_model` measures ``weights`` in: 1, or where forking is
    possible (:func:`graphtools.forked.can_fork`), every weight is in memory already and the sizes
    pay for it (``PROCESS_MIN_ENTRIES``, ``PROCESS_MAX_ENTRIES``): up to two per weight (its rows
    and its cover radius are separate tasks), no more than :func:`graphtools.threads.threads` and
    the cores free right now (:func:`graphtools.threads.free_workers`).

    Example
    -------
    >>> from graphtools.model import describe
    >>> model = describe({'rnn.weight_ih_l0': np.ones((4, 2)), 'rnn.weight_hh_l0': np.eye(4)})
    >>> weight_processes(model.weights)   # too small to be worth a fork
    1
    """
    sizes = [int(np.prod(np.shape(weight.matrix))) for weight in weights]
    if len(sizes) < 2 or max(sizes) > PROCESS_MAX_ENTRIES or sum(sizes) < PROCESS_MIN_ENTRIES or not can_fork():
        return 1
    if not all(isinstance(weight.matrix, np.ndarray) for weight in weights):
        return 1  # a weight still to be read (a torch tensor on a device): one in memory at a time
    return free_workers(min(threads(), 2 * len(sizes)))


def _rows_in_processes(weights, processes: int, gates: bool, method: str, bounds: bool) -> list[LayerReport]:
    """Every weight's rows (:func:`_weight_rows`), measured in ``processes`` processes
    (:func:`graphtools.forked.map_forked`).  Each weight's own cover radius is a task of its own
    (:func:`weight_cover`, added by :func:`with_cover`), so that three equal weights share two
    processes evenly; tasks go out costliest first (rows about twice their cover)."""
    matrices = [np.asarray(weight.matrix) for weight in weights]
    tasks = sorted([(2 * m.size, "rows", i) for i, m in enumerate(matrices)]
                   + [(m.size, "cover", i) for i, m in enumerate(matrices) if m.size], key=lambda t: -t[0])

    def run(task):
        _, kind, i = task
        if kind == "cover":
            return weight_cover(matrices[i], weights[i].name)
        return _weight_rows(weights[i], matrices[i], gates, method, bounds, cover=False)

    with worker_budget(processes):
        results = map_forked(run, tasks, workers=processes)
    found = {(kind, i): result for (_, kind, i), result in zip(tasks, results)}
    layers: list[LayerReport] = []
    for i in range(len(weights)):
        own, *blocks = found["rows", i]
        layers += [with_cover(own, found["cover", i]) if ("cover", i) in found else own, *blocks]
    return layers


@with_blas_threads
def analyze_model(model: ModelDescription, source: str, format: str, *, gates: bool = False,
                  method: str = "auto", bounds: bool = False, unfold_steps: int | None = None,
                  unfold_gates: str = "union", module: str | None = None, notes=(),
                  skipped=()) -> ModelReport:
    """The :class:`ModelReport` of a described model (what :func:`analyze_checkpoint` returns for
    a file); ``source`` and ``format`` label it, ``notes`` and ``skipped`` come from the reader.
    Each weight's matrix is read (``np.asarray``) once, when its row is measured, so a lazily
    loaded weight is in memory one at a time; mid-sized weights already in memory are measured in
    forked processes (:func:`weight_processes`), with the same report bit for bit.  Option errors
    are raised before any spectral work.

    Example
    -------
    >>> import numpy as np
    >>> from graphtools.model import describe
    >>> model = describe({'rnn.weight_ih_l0': np.ones((4, 2)), 'rnn.weight_hh_l0': np.eye(4)})
    >>> report = analyze_model(model, 'in memory', 'npz')
    >>> report.architecture['cell'], [layer.nnz for layer in report.layers]
    ('rnn', [8, 4])
    """
    check_choice(method, "method", ("auto", "dense", "sparse"))  # spectral's ValueError is for programmers
    if module is not None and unfold_steps is None:
        raise GraphtoolsError("--module selects the module to unfold: give --unfold T too")
    chosen = select_modules(model, module) if unfold_steps is not None else []
    if unfold_gates not in GATE_MODES:
        raise GraphtoolsError(f"gates must be one of {', '.join(GATE_MODES)}, not {unfold_gates!r}")
    processes = weight_processes(model.weights)
    if processes > 1:
        layers = _rows_in_processes(model.weights, processes, gates, method, bounds)
    else:  # each matrix read (own dtype: as_csr converts only the nonzeros to float64) when it is measured
        layers = [row for weight in model.weights
                  for row in _weight_rows(weight, np.asarray(weight.matrix), gates, method, bounds)]
    unfolded = [analyze_unfolded(model, unfold_steps, unfold_gates, method=method, module=i) for i in chosen]
    notes = list(notes)
    note = dense_note(layer.density for layer in layers if layer.gate is None)
    if note:
        notes.append(note)
    return ModelReport(
        checkpoint=source,
        format=format,
        architecture=model.architecture(),
        layers=layers,
        modules=[dict(m.architecture(), prefix=m.prefix, naming=m.naming) for m in model.modules],
        unfolded=unfolded[0] if unfolded else None,
        skipped=list(skipped),
        notes=notes,
        unfolded_modules=unfolded,
    )
