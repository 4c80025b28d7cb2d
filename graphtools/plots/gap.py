"""``--kind gap``: a graph measure of the pruned layers against test accuracy."""

from __future__ import annotations

from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from graphtools.errors import GraphtoolsError
from graphtools.experiments.records import is_dense, methods_of, models_of, number, select_model
from graphtools.plots.common import (
    SMALL_FONT, figure_title, legend_outside, method_colours, model_markers, new_figure, set_title,
)
from graphtools.experiments.stats import MEASURES, rank_correlations, within_sparsity_correlations

DEFAULT_MEASURES = ("spectral_gap", "ramanujan_gap")
#: Axis label of each summary measure.
MEASURE_LABELS = {
    "spectral_gap": "spectral gap σ1 − σ2 (mean over pruned layers)",
    "normalized_gap": "normalized gap 1 − σ2(N) (mean over pruned layers)",
    "ramanujan_gap": "Ramanujan gap Δr = bound − σ2 (min over pruned layers; ≥ 0: Ramanujan)",
    "weighted_spectral_gap": "weighted spectral gap of |W| (mean over pruned layers)",
    "delta_s": "Δs = 2√(σ1 − 1) − σ2 (mean over pruned layers)",
}
MEASURE_LABELS.update({f"step_{k}": v.replace("pruned layers", "unfolded step layers")
                       for k, v in list(MEASURE_LABELS.items())})


def format_correlation(rho: float | None, p_value: float | None, n: int) -> str:
    """``ρ = 0.83, p = 1.2e-05, n = 18``, or ``ρ undefined, n = 2``."""
    if rho is None:
        return f"ρ undefined, n = {n}"
    p = "p n/a" if p_value is None else f"p = {p_value:.2g}"
    return f"ρ = {rho:.2f}, {p}, n = {n}"


def _correlation_handles(records, measure, models, markers) -> list[Line2D]:
    overall = {c.group: c for c in rank_correlations(records, measure)}
    within = {c.group: c for c in within_sparsity_correlations(records, measure)}
    handles = []
    for model in models:
        c = overall.get(model)
        if c is None:
            continue
        label = f"{model}: {format_correlation(c.rho, c.p_value, c.n)}"
        w = within.get(model)
        if w is not None and w.rho is not None:
            label += f"\n   within sparsity: ρ = {w.rho:.2f}, p = {w.p_value:.2g}"
        handles.append(Line2D([], [], linestyle="none", marker=markers[model], color="dimgrey", label=label))
    return handles  # no correlation pooled across models: each model's accuracy scale differs


def gap_figure(records, measures=DEFAULT_MEASURES, model: str | None = None, title: str | None = None) -> Figure:
    """Scatter of a summary graph measure (x) against test accuracy (y) for the pruned runs
    (dense runs left out), one panel per measure: colour = pruning method, marker = model.

    Each panel's legend (below it) gives Spearman's rho between measure and accuracy with
    its two-sided p-value (scipy.stats.spearmanr) per model (never pooled across models), and the
    within-sparsity correlation of each model (see
    :func:`graphtools.plots.within_sparsity_correlations`). Runs with a null measure or
    accuracy are not drawn.
    """
    measures = tuple(measures) or DEFAULT_MEASURES
    for measure in measures:
        if measure not in MEASURES:
            raise GraphtoolsError(f"unknown measure {measure!r} (measures: {', '.join(MEASURES)})")
    records = select_model(records, model)
    pruned = [r for r in records if not is_dense(r)]
    if not pruned:
        raise GraphtoolsError("no pruned runs to plot (only dense baselines)")
    models = models_of(pruned)
    methods = methods_of(pruned)
    colours = method_colours(methods_of(records, dense=True))
    markers = model_markers(models)
    fig, axes = new_figure(len(measures), extra_width=1.8, extra_height=1.0)
    total = 0
    for ax, measure in zip(axes, measures):
        drawn = 0
        for model_name in models:
            for method in methods:
                points = [(number((r.get("summary") or {}).get(measure)), number(r.get("accuracy"))) for r in pruned
                          if r.get("model") == model_name and r.get("method") == method]
                points = [(x, y) for x, y in points if x is not None and y is not None]
                if points:
                    ax.scatter([x for x, _ in points], [y for _, y in points], color=colours[method],
                               marker=markers[model_name], s=28, alpha=0.85, edgecolors="none",
                               label=f"_{model_name} {method}")
                    drawn += len(points)
        total += drawn
        if not drawn:
            ax.text(0.5, 0.5, f"no run has summary.{measure}", transform=ax.transAxes, ha="center",
                    fontsize=SMALL_FONT)
        if measure.endswith("ramanujan_gap"):
            ax.axvline(0.0, color="grey", linestyle=":", linewidth=1.0, label="_ramanujan bound")
        ax.set_xlabel(MEASURE_LABELS.get(measure, measure))
        ax.set_ylabel("test accuracy")
        ax.set_title(measure, fontsize=10)
        if ax is axes[-1]:  # the method colours, to the right; the correlations stay the axes' legend
            methods_legend = legend_outside(ax, [Line2D([], [], linestyle="none", marker="o", color=colours[m],
                                                        label=m) for m in methods], title="method")
            ax.add_artist(methods_legend)
            methods_legend.set_clip_on(False)  # add_artist clips to the axes, and the legend is outside
        ax.legend(handles=_correlation_handles(pruned, measure, models, markers), loc="upper center",
                  bbox_to_anchor=(0.5, -0.16), fontsize=SMALL_FONT, frameon=False,
                  title="Spearman rank correlation with accuracy", title_fontsize=SMALL_FONT)
    if not total:
        raise GraphtoolsError(f"no pruned run has both accuracy and summary.{' or summary.'.join(measures)}")
    set_title(fig, figure_title(records, "Graph measures of the pruned layers vs test accuracy", title))
    return fig
