"""``--kind forest``: the paired effects of a claim test (:mod:`graphtools.experiments.claim`).

One panel per model; one row per arm, sparsity and contrast (a − b); the point is the mean
paired difference in accuracy points over seeds and the bar its percentile bootstrap 95% CI
(:func:`graphtools.experiments.stats.paired_test`).  Rows of the tested family carry their
Holm-adjusted Wilcoxon p (:func:`graphtools.experiments.claim_report.holm_family`), the same
numbers ``graphtools report`` prints.
"""

from __future__ import annotations

from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from graphtools.errors import GraphtoolsError
from graphtools.experiments.claim_report import comparisons, correlations, holm_family
from graphtools.experiments.records import ordered
from graphtools.plots.common import SMALL_FONT, figure_title, new_figure, set_title

#: Colour and marker of each contrast.
_STYLE = {("expander", "poor"): ("#2ca02c", "o"), ("expander", "magnitude"): ("#1f77b4", "s"),
          ("poor", "magnitude"): ("#d62728", "^"), ("array-code", "magnitude"): ("#9467bd", "D"),
          ("ih-only", "hh-only"): ("#8c564b", "v")}


def _p(value) -> str:
    return f"{value:.1e}" if value < 1e-3 else f"{value:.3f}"


def forest_figure(records, model: str | None = None, title: str | None = None) -> Figure:
    """Forest plot of the paired differences of ``records`` (claim-test records), one panel
    per model (only ``model`` when given)."""
    comps = comparisons(records)
    if not comps:
        raise GraphtoolsError("no paired comparison to draw: these are not claim-test results with 2 seeds or more "
                              "(graphtools claim)")
    adjusted, _, family = holm_family(comps, correlations(records))
    models = ordered(c.model for c in comps)
    if model is not None:
        if model not in models:
            raise GraphtoolsError(f"no model {model!r} in the results (models: {', '.join(models)})")
        models = [model]
    rows_per_panel = max(sum(c.model == m for c in comps) for m in models)
    fig, axes = new_figure(len(models), extra_width=2.2, extra_height=max(0.6, 0.22 * rows_per_panel - 1.4))
    for ax, name in zip(axes, models):
        mine = [(c, p) for c, p in zip(comps, adjusted) if c.model == name]
        labels = []
        for row, (c, p) in enumerate(reversed(mine)):
            t = c.test
            colour, marker = _STYLE.get((t.a, t.b), ("black", "o"))
            ax.plot([t.ci_low, t.ci_high], [row, row], color=colour, linewidth=1.6)
            ax.plot([t.mean], [row], linestyle="none", marker=marker, color=colour, markersize=6)
            labels.append(f"{c.arm} {c.sparsity:g}: {t.a} − {t.b} (n={t.n})")
            if p is not None:
                ax.annotate(f"Holm p {_p(p)}", xy=(1.01, row), xycoords=("axes fraction", "data"), va="center",
                            fontsize=SMALL_FONT - 1, color=colour, annotation_clip=False)
        ax.axvline(0.0, color="grey", linewidth=1.0, linestyle="--")
        ax.set_yticks(range(len(labels)))
        ax.set_yticklabels(labels, fontsize=SMALL_FONT)
        ax.set_ylim(-0.7, len(labels) - 0.3)
        ax.set_xlabel("accuracy difference a − b (points): mean over seeds, 95% bootstrap CI")
        ax.set_title(name, fontsize=10)
        ax.tick_params(axis="x", labelsize=SMALL_FONT)
    present = ordered((c.test.a, c.test.b) for c in comps)
    handles = [Line2D([], [], color=_STYLE.get(k, ("black", "o"))[0], marker=_STYLE.get(k, ("black", "o"))[1],
                      label=f"{k[0]} − {k[1]}") for k in present]
    for ax in axes:
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.09), ncol=min(3, len(handles)),
                  fontsize=SMALL_FONT, frameon=False,
                  title=f"contrast; Holm over the report's {family} tested p-values", title_fontsize=SMALL_FONT)
    set_title(fig, figure_title(records, "Paired effect of the mask's wiring at equal degrees", title))
    return fig
