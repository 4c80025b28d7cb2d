"""Figures of one checkpoint (``graphtools plot CKPT``; docs/plots.md, "Figures of a checkpoint").

Four kinds, each a :class:`matplotlib.figure.Figure` built without pyplot:

- ``layers``: one row per analysed matrix (and gate block): σ2 against the Ramanujan
  bound(s), marked pass/fail, the density and the isolated nodes;
- ``spectra``: the top-k singular values of each selected matrix with its σ1 and bounds;
- ``degrees``: the input- and output-degree histogram of each selected matrix;
- ``unfold``: reachability over t = 1..T steps per recurrent module, with the mixing depth.

Bounds are a list of :class:`BoundSeries`, so another bound (e.g. the universal-cover
bound) is one more entry of that list, drawn by the same code.
"""

from __future__ import annotations

import fnmatch
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from graphtools.analysis import LayerReport, analyze_graph
from graphtools.errors import GraphtoolsError
from graphtools.graphs import BipartiteGraph, bipartite, gate_blocks
from graphtools.loading import read_checkpoint
from graphtools.model import ModelDescription
from graphtools.plots.common import SMALL_FONT, check_output, save_figure, set_title
from graphtools.plots.graph import ZERO
from graphtools.recurrence import mixing_depth, reachability, transitions
from graphtools.spectral import top_singular_values
from graphtools.structure import input_degrees, output_degrees

#: The figure kinds of a checkpoint, in the order of docs/plots.md.
CHECKPOINT_KINDS = ("layers", "spectra", "degrees", "unfold")
#: ``-k``: how many singular values ``spectra`` draws by default, and at most.
DEFAULT_K, MAX_K = 20, 50
#: ``--steps``: the default number of unfolded time steps of ``unfold``.
DEFAULT_STEPS = 20
#: Width and height of one small panel (spectra, degrees), in inches; panels per row.
CELL_SIZE, GRID_COLUMNS = (4.2, 3.0), 3
#: Colours of a pass, a fail and an undefined Ramanujan test.
PASS, FAIL, UNDEFINED = "#2ca02c", "#d62728", "#7f7f7f"
#: Colours of the input-side and output-side degree histograms.
INPUT_COLOUR, OUTPUT_COLOUR = "#1f77b4", "#ff7f0e"
_CHECKPOINT_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"\x93NUMPY")
_CHECKPOINT_EXTENSIONS = (".npz", ".npy", ".safetensors", ".pt", ".pth", ".pkl", ".bin", ".ckpt")


@dataclass(frozen=True)
class BoundSeries:
    """A bound drawn beside σ2: a legend label, the bound of one matrix (None where undefined)
    and its drawing style (a tick on the ``layers`` rows, a horizontal line on ``spectra``)."""

    label: str
    value: Callable[[LayerReport], float | None]
    colour: str
    linestyle: str = ":"


def _average_degree_bound(report: LayerReport) -> float | None:
    return report.ramanujan_bound


#: The average-degree Ramanujan bound √(d̄_in − 1) + √(d̄_out − 1) of ``analyze`` (docs/measures.md).
AVERAGE_DEGREE_BOUND = BoundSeries("average-degree Ramanujan bound √(d_in−1)+√(d_out−1)", _average_degree_bound,
                                   "#1f77b4")


def _cover_bound(report: LayerReport) -> float | None:
    return report.cover_bound


#: The universal-cover bound ρ(T̃) of ``analyze`` (docs/measures.md, "Two Ramanujan tests").
COVER_BOUND = BoundSeries("universal-cover bound ρ(T̃)", _cover_bound, "#9467bd", "--")
#: The bounds every figure draws unless told otherwise.
DEFAULT_BOUNDS = (AVERAGE_DEGREE_BOUND, COVER_BOUND)


@dataclass(frozen=True)
class Matrix:
    """One analysed matrix (or gate block): its graph and its report."""

    graph: BipartiteGraph
    report: LayerReport

    @property
    def label(self) -> str:
        return matrix_label(self.report)


@dataclass(frozen=True)
class CheckpointPlotResult:
    """What :func:`plot_checkpoint` wrote: the file, the kind and how many matrices (``layers``,
    ``spectra``, ``degrees``) or recurrent layer directions (``unfold``) it drew."""

    output: str
    kind: str
    count: int

    def summary(self) -> str:
        if self.kind == "unfold":
            return f"{self.count} layer direction{'s' * (self.count != 1)}"
        return f"{self.count} {'matrix' if self.count == 1 else 'matrices'}"


def matrix_label(report: LayerReport) -> str:
    """``name`` or ``name [gate]``."""
    return report.name + (f" [{report.gate}]" if report.gate else "")


def is_checkpoint(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a checkpoint rather than a sweep's results (a folder or JSON lines).

    By content first: a zip (``.npz``), ``.npy`` or safetensors file (an 8-byte little-endian
    header length, whose high byte is 0, then ``{``) is a checkpoint; a file starting with
    ``{``, or named ``.jsonl``/``.json``, is results. Then by extension: a checkpoint's (or a
    pickle's, which the checkpoint reader refuses with a hint) is a checkpoint. A missing path
    is a checkpoint only with a checkpoint's extension (so the right reader says it is missing).
    Raises GraphtoolsError for an existing file that is neither.
    """
    path = os.fspath(path)
    extension = os.path.splitext(path)[1].lower()
    if os.path.isdir(path):
        return False
    if not os.path.exists(path):
        return extension in _CHECKPOINT_EXTENSIONS
    try:
        with open(path, "rb") as handle:
            head = handle.read(16)
    except OSError as exc:
        raise GraphtoolsError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if head.startswith(_CHECKPOINT_MAGIC) or (len(head) > 8 and head[7] == 0 and head[8:9] == b"{"):
        return True
    if head.lstrip().startswith(b"{") or extension in (".jsonl", ".json"):
        return False
    if extension in _CHECKPOINT_EXTENSIONS:
        return True  # the checkpoint reader says what is wrong with it (a pickle, a truncated archive, ...)
    raise GraphtoolsError(f"{path}: neither a checkpoint (.npz, .npy, .safetensors) nor a sweep's results "
                          "(results.jsonl or a sweep folder)")


# --------------------------------------------------------------------------- selection

def checkpoint_graphs(model: ModelDescription, *, gates: bool = False,
                      layer: str | None = None) -> list[BipartiteGraph]:
    """The bipartite graph of every 2-D weight of ``model`` in canonical order (the rows of
    ``analyze``), each followed by its gate blocks with ``gates``; with ``layer``, only weights
    whose name matches that glob (fnmatch, case-sensitive).

    Raises GraphtoolsError listing the weights when ``layer`` matches none.
    """
    weights = list(model.weights)
    if layer is not None:
        weights = [w for w in weights if fnmatch.fnmatchcase(w.name, layer)]
        if not weights:
            raise GraphtoolsError(f"--layer {layer!r} matches no weight (weights: "
                                  f"{', '.join(w.name for w in model.weights) or 'none'})")
    graphs = []
    for weight in weights:
        matrix = np.asarray(weight.matrix, dtype=np.float64)
        graphs.append(bipartite(matrix, weight.name))
        if gates and weight.gates:
            graphs += [bipartite(block, weight.name, gate) for gate, block in gate_blocks(matrix, weight.gates)]
    return graphs


def pair_reports(graphs: Sequence[BipartiteGraph], reports: Sequence[LayerReport]) -> list[Matrix]:
    """Each report with the graph of the same name and gate (reports without one are left out)."""
    by_key = {(g.name, g.gate): g for g in graphs}
    return [Matrix(by_key[(r.name, r.gate)], r) for r in reports if (r.name, r.gate) in by_key]


#: Margins (inches) of each grid cell's axes -- left (tick labels and y label), right, top (panel
#: title), bottom (tick labels and x label) -- and the height of a legend row below the grid.
#: Fixed margins instead of a constrained layout: matplotlib's constrained layout took half of the
#: time to draw a 21-panel figure (about 2 of 4 s).
CELL_MARGINS, LEGEND_ROW = (0.62, 0.12, 0.32, 0.48), 0.26


def _grid(count: int) -> tuple[Figure, list]:
    """A figure of ``count`` panels, GRID_COLUMNS per row, CELL_SIZE each, with room above for a
    one-line title and below for a legend (:func:`_grid_legend`)."""
    columns = min(GRID_COLUMNS, max(count, 1))
    rows = math.ceil(count / columns)
    fig = Figure(figsize=(CELL_SIZE[0] * columns, 1.0))
    axes = list(fig.subplots(rows, columns, squeeze=False).ravel())
    _place(fig, legend_rows=1)
    for ax in axes[count:]:
        ax.remove()
    for ax in axes[:count]:
        ax.tick_params(labelsize=SMALL_FONT)
        ax.grid(True, alpha=0.3, linewidth=0.6)
    return fig, axes[:count]


def _place(fig: Figure, legend_rows: int) -> None:
    """Size a :func:`_grid` figure and place its panels: the title band on top, the panels with
    CELL_MARGINS, then ``legend_rows`` rows of legend."""
    rows, columns = fig.axes[0].get_subplotspec().get_gridspec().get_geometry()
    width, height = CELL_SIZE
    left, right, top, bottom = CELL_MARGINS
    title_band, legend_band = 0.42, 0.06 + LEGEND_ROW * legend_rows
    fig_width, fig_height = width * columns, height * rows + title_band + legend_band
    fig.set_size_inches(fig_width, fig_height)
    fig.subplots_adjust(left=left / fig_width, right=1 - right / fig_width,
                        bottom=(bottom + legend_band) / fig_height, top=1 - (top + title_band) / fig_height,
                        wspace=(left + right) / (width - left - right),
                        hspace=(top + bottom) / (height - top - bottom))


def _grid_legend(fig: Figure, handles: list) -> None:
    """The legend of a :func:`_grid` figure below its panels, in as many columns as fit its width
    (matplotlib does not wrap a legend: one row of long labels ran off a one- or two-panel figure)."""
    fit = fig.get_figwidth() - 0.2
    for ncol in range(len(handles), 0, -1):
        legend = fig.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 0.0), ncol=ncol,
                            fontsize=SMALL_FONT, frameon=False)
        if ncol == 1 or legend.get_window_extent().width / fig.dpi <= fit:
            break
        legend.remove()
    _place(fig, legend_rows=math.ceil(len(handles) / ncol))


def _shape(report: LayerReport) -> str:
    return f"{report.shape[0]}×{report.shape[1]}"


def _verdict(report: LayerReport) -> tuple[str, str]:
    """The colour and word of a matrix's Ramanujan test (average-degree bound)."""
    if report.is_ramanujan is None:
        return UNDEFINED, "undefined"
    return (PASS, "pass") if report.is_ramanujan else (FAIL, "fail")


# --------------------------------------------------------------------------- layers

def checkpoint_layers_figure(reports: Sequence[LayerReport], *, source: str,
                             bounds: Sequence[BoundSeries] = DEFAULT_BOUNDS, title: str | None = None) -> Figure:
    """One row per matrix (in the order given; gate blocks under their weight): left σ2 of the
    binary graph as a dot (green: σ2 ≤ the average-degree bound, the Ramanujan test of
    ``analyze``; red: above; grey: bound undefined) with each of ``bounds`` as a tick on the
    same row; middle the density nnz/(rows·cols); right the isolated input and output nodes.

    Example
    -------
    >>> import numpy as np
    >>> from graphtools.analysis import analyze_graph
    >>> from graphtools.graphs import bipartite
    >>> r = analyze_graph(bipartite(np.eye(4) + np.roll(np.eye(4), 1, axis=1), "w"))
    >>> checkpoint_layers_figure([r], source="demo.npz").axes[0].get_ylabel()
    'matrix'
    """
    if not reports:
        raise GraphtoolsError("no matrix to plot")
    rows = len(reports)
    fig = Figure(figsize=(12.5, 1.6 + 0.32 * rows), layout="constrained")
    ax_s, ax_d, ax_i = fig.subplots(1, 3, sharey=True, gridspec_kw={"width_ratios": [2.2, 1, 1]})
    y = np.arange(rows)
    labels = [f"{matrix_label(r)}  {_shape(r)}" for r in reports]
    for ax in (ax_s, ax_d, ax_i):
        ax.tick_params(labelsize=SMALL_FONT)
        ax.grid(True, axis="x", alpha=0.3, linewidth=0.6)
        for row in y[1::2]:
            ax.axhspan(row - 0.5, row + 0.5, color="0.95", zorder=0)
    for series in bounds:
        values = [series.value(r) for r in reports]
        ax_s.scatter([v for v in values if v is not None], [i for i, v in zip(y, values) if v is not None],
                     marker="|", s=260, linewidths=2.2, color=series.colour, zorder=3)
    for i, report in enumerate(reports):
        colour, verdict = _verdict(report)
        ax_s.scatter([report.sigma2], [i], s=46, color=colour, zorder=4,
                     marker={"pass": "o", "fail": "X", "undefined": "o"}[verdict],
                     facecolors="none" if verdict == "undefined" else colour)
    ax_s.set_yticks(y, labels, fontsize=SMALL_FONT)
    ax_s.set_ylim(rows - 0.5, -0.5)
    ax_s.set_xlim(left=0)
    ax_s.set_ylabel("matrix")
    ax_s.set_xlabel("σ2 of 1[W ≠ 0] and bounds")
    ax_s.set_title("σ2 against the Ramanujan bound", fontsize=10)
    handles = [Line2D([], [], linestyle="none", marker="|", markersize=12, markeredgewidth=2.2, color=s.colour,
                      label=s.label) for s in bounds]
    handles += [Line2D([], [], linestyle="none", marker="o", color=PASS, label="σ2 ≤ bound (Ramanujan)"),
                Line2D([], [], linestyle="none", marker="X", color=FAIL, label="σ2 > bound"),
                Line2D([], [], linestyle="none", marker="o", markerfacecolor="none", color=UNDEFINED,
                       label="bound undefined")]
    ax_d.barh(y, [r.density for r in reports], color="#9467bd", height=0.6)
    ax_d.set_xlim(0, 1.05)
    ax_d.set_xlabel("density nnz / (rows·cols)")
    ax_d.set_title("density", fontsize=10)
    inputs = np.array([r.inputs.isolated for r in reports])
    outputs = np.array([r.outputs.isolated for r in reports])
    ax_i.barh(y, inputs, color=INPUT_COLOUR, height=0.6, label="inputs (empty columns)")
    ax_i.barh(y, outputs, left=inputs, color=OUTPUT_COLOUR, height=0.6, label="outputs (empty rows)")
    ax_i.set_xlim(0, max(1, int((inputs + outputs).max())) * 1.15)
    ax_i.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_i.set_xlabel("isolated nodes")
    ax_i.set_title("isolated nodes", fontsize=10)
    handles += [Patch(color=INPUT_COLOUR, label="isolated inputs (empty columns)"),
                Patch(color=OUTPUT_COLOUR, label="isolated outputs (empty rows)")]
    fig.legend(handles=handles, loc="outside lower center", ncol=3, fontsize=SMALL_FONT, frameon=False)
    set_title(fig, title or f"Matrices of {os.path.basename(source)}: σ2 and Ramanujan bound, density, "
                            f"isolated nodes")
    return fig


# --------------------------------------------------------------------------- spectra

def checkpoint_spectra_figure(matrices: Sequence[Matrix], *, source: str, k: int = DEFAULT_K,
                              bounds: Sequence[BoundSeries] = DEFAULT_BOUNDS, method: str = "auto",
                              title: str | None = None) -> Figure:
    """One panel per matrix: its ``k`` largest singular values σ1 ≥ σ2 ≥ ... of the binary graph
    1[W ≠ 0] (from :func:`graphtools.spectral.top_singular_values`, the route of ``analyze``;
    zero-padded where the matrix has fewer), σ1 a star, σ2 coloured by the Ramanujan test, and
    each of ``bounds`` a horizontal line (σ2 below the average-degree one: Ramanujan).

    Example
    -------
    >>> import numpy as np
    >>> from graphtools.analysis import analyze_graph
    >>> from graphtools.graphs import bipartite
    >>> g = bipartite(np.eye(4) + np.roll(np.eye(4), 1, axis=1), "w")
    >>> fig = checkpoint_spectra_figure([Matrix(g, analyze_graph(g))], source="demo.npz", k=4)
    >>> len(fig.axes)
    1
    """
    check_k(k)
    if not matrices:
        raise GraphtoolsError("no matrix to plot")
    fig, axes = _grid(len(matrices))
    for ax, m in zip(axes, matrices):
        values = top_singular_values(m.graph.binary, k, method)
        index = np.arange(1, values.size + 1)
        ax.plot(index, values, color="black", linewidth=1.0, marker=".", markersize=5)
        ax.plot([1], [values[0]], linestyle="none", marker="*", markersize=12, color="black")
        colour, verdict = _verdict(m.report)
        if values.size > 1:
            ax.plot([2], [values[1]], linestyle="none", marker="o", markersize=7, color=colour)
        for series in bounds:
            value = series.value(m.report)
            if value is not None:
                ax.axhline(value, color=series.colour, linestyle=series.linestyle, linewidth=1.4)
        bound = m.report.ramanujan_bound
        sigma2 = 0.0 if m.report.sigma2 <= ZERO * values[0] else m.report.sigma2  # zero up to rounding
        note = f"σ1 = {values[0]:.3g}, σ2 = {sigma2:.3g}, bound = " + (
            "undefined" if bound is None else f"{bound:.3g} ({verdict})")
        ax.text(0.98, 0.97, note, transform=ax.transAxes, ha="right", va="top", fontsize=SMALL_FONT - 1,
                bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none", "pad": 1.5})
        ax.set_ylim(0, max(values[0], *(s.value(m.report) or 0 for s in bounds)) * 1.18)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(f"{m.label}  {_shape(m.report)}", fontsize=9)
        ax.set_xlabel("index i", fontsize=SMALL_FONT)
        ax.set_ylabel("σ_i", fontsize=SMALL_FONT)
    handles = [Line2D([], [], linestyle="none", marker="*", markersize=10, color="black", label="σ1"),
               Line2D([], [], marker=".", color="black", linewidth=1.0, label=f"σ_i, i ≤ {k}"),
               Line2D([], [], linestyle="none", marker="o", color=PASS, label="σ2 ≤ bound"),
               Line2D([], [], linestyle="none", marker="o", color=FAIL, label="σ2 > bound")]
    handles += [Line2D([], [], color=s.colour, linestyle=s.linestyle, linewidth=1.4, label=s.label) for s in bounds]
    _grid_legend(fig, handles)
    set_title(fig, title or f"Top {k} singular values of 1[W ≠ 0] — {os.path.basename(source)}")
    return fig


def check_k(k) -> int:
    """``k`` when it is an integer in 1..MAX_K; GraphtoolsError otherwise."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= MAX_K:
        raise GraphtoolsError(f"-k must be an integer from 1 to {MAX_K}, not {k}")
    return int(k)


# --------------------------------------------------------------------------- degrees

def checkpoint_degrees_figure(graphs: Sequence[BipartiteGraph], *, source: str, title: str | None = None) -> Figure:
    """One panel per matrix: how many input nodes (columns) and output nodes (rows) have each
    degree (nonzeros per column, per row), one bin per degree, as outlined steps over a light fill.
    Isolated nodes are the bin at degree 0.

    Example
    -------
    >>> import numpy as np
    >>> from graphtools.graphs import bipartite
    >>> fig = checkpoint_degrees_figure([bipartite(np.ones((3, 5)), "w")], source="demo.npz")
    >>> fig.axes[0].get_xlabel()
    'degree'
    """
    if not graphs:
        raise GraphtoolsError("no matrix to plot")
    fig, axes = _grid(len(graphs))
    for ax, graph in zip(axes, graphs):
        sides = ((input_degrees(graph.binary), INPUT_COLOUR), (output_degrees(graph.binary), OUTPUT_COLOUR))
        for degrees, colour in sides:
            counts = np.bincount(degrees) if degrees.size else np.zeros(1, dtype=int)
            low = int(np.flatnonzero(counts)[0]) if counts.any() else 0
            edges = np.arange(low, counts.size + 1) - 0.5
            ax.stairs(counts[low:], edges, fill=True, facecolor=to_rgba(colour, 0.25), edgecolor="none")
            ax.stairs(counts[low:], edges, color=colour, linewidth=1.4)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        label = graph.name + (f" [{graph.gate}]" if graph.gate else "")
        ax.set_title(f"{label}  {graph.shape[0]}×{graph.shape[1]}, {graph.nnz} edges", fontsize=9)
        ax.set_xlabel("degree", fontsize=SMALL_FONT)
        ax.set_ylabel("nodes", fontsize=SMALL_FONT)
    handles = [Patch(facecolor=to_rgba(INPUT_COLOUR, 0.25), edgecolor=INPUT_COLOUR,
                     label="input nodes (columns): nonzeros per column"),
               Patch(facecolor=to_rgba(OUTPUT_COLOUR, 0.25), edgecolor=OUTPUT_COLOUR,
                     label="output nodes (rows): nonzeros per row")]
    _grid_legend(fig, handles)
    set_title(fig, title or f"Degree histograms — {os.path.basename(source)}")
    return fig


# --------------------------------------------------------------------------- unfold

def checkpoint_unfold_figure(model: ModelDescription, *, source: str, steps: int = DEFAULT_STEPS,
                             title: str | None = None) -> Figure:
    """One panel per recurrent module: the reachability of each layer direction after t = 1..T
    steps (the fraction of pairs (input i at step 1, hidden unit j at step t) joined by a path,
    :func:`graphtools.recurrence.reachability`), with its mixing depth (the least k with every
    hidden unit reachable from every hidden unit k steps earlier) as a dotted vertical line.

    Example
    -------
    >>> import numpy as np
    >>> from graphtools.model import describe
    >>> model = describe({"rnn.weight_ih_l0": np.eye(3), "rnn.weight_hh_l0": np.ones((3, 3))})
    >>> checkpoint_unfold_figure(model, source="demo.npz", steps=3).axes[0].get_xlabel()
    'step t'
    """
    check_steps(steps)
    if not model.modules:
        raise GraphtoolsError(f"{source}: no recurrent layer to unfold")
    fig = Figure(figsize=(7.4 * len(model.modules), 4.4), layout="constrained")
    axes = fig.subplots(1, len(model.modules), squeeze=False)[0]
    t = np.arange(1, steps + 1)
    colours = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf")
    for ax, module in zip(axes, model.modules):
        for i, layer in enumerate(module.layers):
            colour = colours[i % len(colours)]
            I, M = transitions(layer)
            curve = [reachability(I, M, int(s)) for s in t]
            depth = mixing_depth(M)
            direction = "reverse" if layer.reverse else "forward"
            shown = "none" if depth is None else str(depth)
            ax.plot(t, curve, color=colour, marker="." if steps <= 40 else None,
                    label=f"layer {layer.layer} {direction}: mixing depth {shown}")
            if depth is not None and depth <= steps:
                ax.axvline(depth, color=colour, linestyle=":", linewidth=1.2)
        ax.set_ylim(-0.03, 1.05)
        ax.set_xlim(0.5, steps + 0.5)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.tick_params(labelsize=SMALL_FONT)
        ax.grid(True, alpha=0.3, linewidth=0.6)
        ax.set_xlabel("step t")
        ax.set_ylabel("reachability (input at step 1 → hidden at step t)")
        ax.set_title(f"module {module.prefix or '(no prefix)'}: {module.cell.upper()}, {module.num_layers} "
                     f"layer(s), hidden {module.hidden_size}", fontsize=10)
        ax.legend(loc="lower right", fontsize=SMALL_FONT, title="dotted: mixing depth", title_fontsize=SMALL_FONT)
    set_title(fig, title or f"Unfolded over {steps} steps: reachability and mixing — {os.path.basename(source)}")
    return fig


def check_steps(steps) -> int:
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise GraphtoolsError(f"--steps must be a positive integer, not {steps}")
    return int(steps)


# --------------------------------------------------------------------------- the command

_OPTION_KINDS = {"layer": ("layers", "spectra", "degrees"), "k": ("spectra",), "steps": ("unfold",),
                 "gates": ("layers", "spectra", "degrees")}


def plot_checkpoint(path: str | os.PathLike, kind: str, output: str | os.PathLike, *, layer: str | None = None,
                    k: int | None = None, steps: int | None = None, gates: bool = False, title: str | None = None,
                    dpi: int = 150, method: str = "auto",
                    bounds: Sequence[BoundSeries] = DEFAULT_BOUNDS) -> CheckpointPlotResult:
    """Draw figure ``kind`` (``layers``, ``spectra``, ``degrees`` or ``unfold``) of the checkpoint
    at ``path`` and write it to ``output`` (PNG, SVG or PDF by extension) atomically.

    The kind, the options (``layer`` a glob over weight names; ``k`` in 1..50; ``steps`` ≥ 1;
    each only with the kinds that use it) and the output's extension and folder are checked
    before the checkpoint is read; a failure writes nothing.

    Example
    -------
    >>> import os, tempfile, numpy as np
    >>> folder = tempfile.mkdtemp()
    >>> ckpt = os.path.join(folder, "m.npz")
    >>> np.savez(ckpt, **{"rnn.weight_ih_l0": np.eye(3), "rnn.weight_hh_l0": np.ones((3, 3))})
    >>> plot_checkpoint(ckpt, "spectra", os.path.join(folder, "s.svg"), k=3).summary()
    '2 matrices'
    """
    if kind not in CHECKPOINT_KINDS:
        raise GraphtoolsError(f"unknown kind {kind!r} for a checkpoint (kinds: {', '.join(CHECKPOINT_KINDS)})")
    given = {"layer": layer is not None, "k": k is not None, "steps": steps is not None, "gates": bool(gates)}
    for option, kinds in _OPTION_KINDS.items():
        if given[option] and kind not in kinds:
            flag = "-k" if option == "k" else f"--{option}"
            raise GraphtoolsError(f"{flag} applies to --kind {' or '.join(kinds)} of a checkpoint, not {kind}")
    if k is not None:
        check_k(k)
    if steps is not None:
        check_steps(steps)
    check_output(output)
    source = os.fspath(path)
    model = read_checkpoint(path).model
    if kind == "unfold":
        fig = checkpoint_unfold_figure(model, source=source, steps=steps or DEFAULT_STEPS, title=title)
        count = sum(len(m.layers) for m in model.modules)
    else:
        graphs = checkpoint_graphs(model, gates=gates, layer=layer)
        if kind == "degrees":
            fig = checkpoint_degrees_figure(graphs, source=source, title=title)
        else:
            matrices = [Matrix(g, analyze_graph(g, method)) for g in graphs]
            if kind == "layers":
                fig = checkpoint_layers_figure([m.report for m in matrices], source=source, bounds=bounds,
                                               title=title)
            else:
                fig = checkpoint_spectra_figure(matrices, source=source, k=k or DEFAULT_K, bounds=bounds,
                                                method=method, title=title)
        count = len(graphs)
    save_figure(fig, output, dpi=dpi)
    return CheckpointPlotResult(os.fspath(output), kind, count)
