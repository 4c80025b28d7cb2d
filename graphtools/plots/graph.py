"""``--kind spectra`` and ``--kind degrees``: one layer's graph, dense against each method."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.transforms import blended_transform_factory
from matplotlib.colors import to_rgba
from matplotlib.ticker import MaxNLocator

from graphtools.errors import GraphtoolsError
from graphtools.experiments.records import (
    choose_seed, choose_sparsity, graph_measures, is_dense,
    methods_of, number, one_model, ordered, sparsity_key,
)
from graphtools.plots.common import (
    SMALL_FONT, figure_title, legend_outside, method_colours, method_handle, new_figure, set_title,
)


#: Singular values at most this fraction of σ1 are zeros up to rounding (not drawn on the log axis).
ZERO = 1e-9


@dataclass(frozen=True)
class LayerSelection:
    """The measures of one layer (``graphs``: method -> the layer's entry of ``layers``, "dense"
    first when the dense run of the model and seed is in the results) at one sparsity and seed."""

    model: str
    layer: str
    sparsity: float
    seed: int
    graphs: dict[str, dict] = field(default_factory=dict)


def select_layer(records, model: str | None = None, layer: str | None = None, sparsity: float | None = None,
                 seed: int | None = None) -> LayerSelection:
    """Pick a model (default: the first), seed (default: the smallest), sparsity (default: the
    largest present for every method) and layer (default: the first of kind "hh"); the dense
    run of that model and seed and each method's run at that sparsity and seed.

    Raises GraphtoolsError listing the choices for an unknown model, seed, sparsity or layer.
    """
    model, runs = one_model(records, model)
    seed = choose_seed(runs, seed)
    sparsity = choose_sparsity(runs, sparsity)
    chosen = {}
    dense = [r for r in runs if is_dense(r) and r.get("seed") == seed]
    if dense:
        chosen["dense"] = dense[0]
    for method in methods_of(runs):
        found = [r for r in runs if r.get("method") == method and r.get("seed") == seed
                 and number(r.get("sparsity")) is not None and sparsity_key(r["sparsity"]) == sparsity]
        if found:
            chosen[method] = found[0]
    if len(chosen) == len(dense[:1]):
        raise GraphtoolsError(f"no pruned run of {model} at sparsity {sparsity:g} with seed {seed}")
    names = ordered(g.get("name") for r in chosen.values() for g in graph_measures(r) if g.get("name"))
    if not names:
        raise GraphtoolsError(f"the runs of {model} have no per-layer measures (layers)")
    if layer is None:
        first = graph_measures(next(iter(chosen.values())))
        layer = next((g["name"] for g in first if g.get("kind") == "hh" and g.get("name")), names[0])
    elif layer not in names:
        raise GraphtoolsError(f"unknown layer {layer!r} (layers: {', '.join(names)})")
    graphs = {}
    for method, record in chosen.items():
        entry = next((g for g in graph_measures(record) if g.get("name") == layer), None)
        if entry is not None:
            graphs[method] = entry
    return LayerSelection(model, layer, sparsity, seed, graphs)


def _subtitle(selection: LayerSelection, graph: dict | None) -> str:
    shape = graph.get("shape") if graph else None
    shape = f" {shape[0]}×{shape[1]}" if isinstance(shape, list) and len(shape) == 2 else ""
    return (f"{selection.model}, layer {selection.layer}{shape},\nrequested sparsity {selection.sparsity:g}, "
            f"seed {selection.seed}")


def spectra_figure(records, model: str | None = None, layer: str | None = None, sparsity: float | None = None,
                   seed: int | None = None, title: str | None = None) -> Figure:
    """Singular values of one layer's binary graph 1[W != 0], in descending order (index i on
    x, σ_i on a log y axis), for the dense run of the model and seed and each method's run
    at one sparsity (see :func:`select_layer` for the defaults).

    σ1 is drawn as a star, σ2, σ3, ... as a line; each pruned graph's Ramanujan bound is a
    dash just right of the axes in its method's colour, one column per method (σ2 below it:
    Ramanujan), and each legend entry states the sparsity the graph reached. Zero singular
    values (and those below 1e-9·σ1, zeros up to rounding) cannot appear on the log axis
    and are left out; graphs whose singular values were not stored
    (very large matrices) are listed as such in the legend.
    """
    selection = select_layer(records, model, layer, sparsity, seed)
    colours = method_colours(selection.graphs)
    fig, (ax,) = new_figure(1, extra_width=4.4)
    handles, drawn = [], 0
    for method, graph in selection.graphs.items():
        values = [number(v) for v in graph.get("singular_values") or []]
        values = np.array([v for v in values if v is not None], dtype=float)
        colour = colours[method]
        if not values.size:
            handles.append(method_handle(f"{method}: singular values not stored", colour, linestyle="none",
                                         marker="x"))
            continue
        drawn += 1
        values[values <= ZERO * values[0]] = 0.0  # rounding noise of zero singular values
        positive = values > 0
        index = np.arange(1, values.size + 1)
        ax.plot(index[1:][positive[1:]], values[1:][positive[1:]], color=colour, linewidth=1.3,
                linestyle="--" if method == "dense" else "-", label=method)
        if positive[0]:
            ax.plot([1], [values[0]], linestyle="none", marker="*", markersize=11, color=colour,
                    label=f"_{method} sigma1")
        bound = number(graph.get("ramanujan_bound"))
        label = f"{method}: σ1 = {values[0]:.3g}" + (f", σ2 = {values[1]:.3g}" if values.size > 1 else "")
        density = number(graph.get("density"))
        if density is not None and method != "dense":  # e.g. ramanujan-guard stops short of the request
            label += f", reached {1 - density:.3f}"
        if bound is not None and method != "dense":
            # a short dash in the right margin, one column per method: equal bounds do not hide each other
            ax.plot([1.03 + 0.05 * len(handles)], [bound], transform=blended_transform_factory(ax.transAxes, ax.transData),
                    linestyle="none", marker="_", markersize=7, markeredgewidth=2.0, color=colour, clip_on=False,
                    label=f"_{method} bound")
            label += f", bound = {bound:.3g}"
        handles.append(method_handle(label, colour, marker="*", markersize=8,
                                     linestyle="--" if method == "dense" else "-"))
    if not drawn:
        raise GraphtoolsError(f"layer {selection.layer} has no stored singular values (too large a matrix)")
    ax.set_yscale("log")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("index i (singular values in descending order)")
    ax.set_ylabel("singular value σ_i of 1[W ≠ 0]")
    ax.set_title(_subtitle(selection, next(iter(selection.graphs.values()), None)), fontsize=10)
    handles += [Line2D([], [], linestyle="none", marker="*", color="grey", label="star: σ1"),
                Line2D([], [], linestyle="none", marker="_", markersize=10, markeredgewidth=2.0, color="grey",
                       label="dash right of the axes: Ramanujan bound")]
    legend_outside(ax, handles).set_bbox_to_anchor((1.05 + 0.05 * len(selection.graphs), 1.0))
    set_title(fig, figure_title(records, "Singular values of the binary graph", title))
    return fig


def degree_counts(histogram) -> tuple[np.ndarray, np.ndarray] | None:
    """``[[degree, count], ...]`` as consecutive degrees (with zero counts filled in) and counts."""
    pairs = [(int(d), int(c)) for d, c in (histogram or []) if number(d) is not None and number(c) is not None]
    if not pairs:
        return None
    low, high = min(d for d, _ in pairs), max(d for d, _ in pairs)
    counts = np.zeros(high - low + 1, dtype=int)
    for d, c in pairs:
        counts[d - low] += c
    return np.arange(low, high + 1), counts


def _uniform_degree(histogram) -> int | None:
    """The degree of every node when all nodes have the same one (a dense graph), else None."""
    counted = degree_counts(histogram)
    if counted is None or np.count_nonzero(counted[1]) != 1:
        return None
    return int(counted[0][np.flatnonzero(counted[1])[0]])


def degrees_figure(records, model: str | None = None, layer: str | None = None, sparsity: float | None = None,
                   seed: int | None = None, title: str | None = None) -> Figure:
    """Degree histograms of one layer's graph: the number of input nodes (columns, left) and
    output nodes (rows, right) with each degree, from the records' ``in_degrees`` and
    ``out_degrees``, for each method's run at one sparsity (defaults as in
    :func:`select_layer`), as step outlines over lightly filled areas, one bin per degree.

    The dense graph, whose nodes all have the full degree, is a dashed outline; when that
    degree is far beyond the pruned graphs' (more than twice their largest), it is not drawn
    (it would squash them) but stated in the legend and at the panel's right edge.
    """
    selection = select_layer(records, model, layer, sparsity, seed)
    colours = method_colours(selection.graphs)
    fig, axes = new_figure(2, extra_width=2.4)
    drawn = 0
    for ax, key, side in zip(axes, ("in_degrees", "out_degrees"), ("input nodes (columns)", "output nodes (rows)")):
        pruned_max = max((degree_counts(g.get(key))[0][-1] for m, g in selection.graphs.items()
                          if m != "dense" and degree_counts(g.get(key)) is not None), default=None)
        for method, graph in selection.graphs.items():
            counted = degree_counts(graph.get(key))
            if counted is None:
                continue
            degrees, counts = counted
            drawn += 1
            dense = method == "dense"
            if dense and pruned_max is not None and degrees[0] > 2 * max(pruned_max, 1):
                ax.text(0.99, 0.97, f"dense: {counts.sum()} nodes of degree {degrees[0]}"
                        if degrees.size == 1 else f"dense: degrees {degrees[0]}..{degrees[-1]}",
                        transform=ax.transAxes, ha="right", va="top", fontsize=SMALL_FONT, color=colours[method])
                continue
            edges = np.append(degrees, degrees[-1] + 1) - 0.5
            ax.stairs(counts, edges, fill=True, facecolor=to_rgba(colours[method], 0.0 if dense else 0.2),
                      edgecolor="none", label=f"_{method} fill")
            ax.stairs(counts, edges, color=colours[method], linewidth=1.5, linestyle="--" if dense else "-",
                      label=method)
        ax.set_xlabel(f"degree (nonzero weights per {'column' if key == 'in_degrees' else 'row'})")
        ax.set_ylabel(f"number of {side.split(' (')[0]}")
        ax.set_title(side, fontsize=10)
        ax.set_ylim(0, ax.get_ylim()[1] * (1.12 if ax.texts else 1.0))  # room for the dense note
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if not drawn:
        raise GraphtoolsError(f"layer {selection.layer} has no degree histograms (in_degrees, out_degrees)")
    handles = []
    for method, graph in selection.graphs.items():
        label = method + (f" ({graph['nnz']} edges)" if isinstance(graph.get("nnz"), int) else "")
        full = (_uniform_degree(graph.get("in_degrees")), _uniform_degree(graph.get("out_degrees")))
        if method == "dense" and None not in full:
            label += f"\n   every column degree {full[0]}, every row {full[1]}"
        handles.append(method_handle(label, colours[method], linestyle="--" if method == "dense" else "-"))
    legend_outside(axes[-1], handles)
    set_title(fig, figure_title(records, f"Degree histograms — {_subtitle(selection, None)}", title))
    return fig
