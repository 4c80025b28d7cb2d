"""``--kind accuracy``: test accuracy against requested sparsity, one line per method."""

from __future__ import annotations

from dataclasses import dataclass

from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from graphtools.errors import GraphtoolsError
from graphtools.experiments.records import (
    is_dense, methods_of, models_of, number, ordered, select_model, sparsity_key,
)
from graphtools.plots.common import (
    SMALL_FONT, figure_title, legend_outside, mean_std, method_colours, method_handle, new_figure, set_title,
)


@dataclass(frozen=True)
class AccuracyPoint:
    """One method at one sparsity: mean and sample std (None with one seed) of the accuracy
    over ``n`` seeds, and whether every seed's layers are all Ramanujan."""

    sparsity: float
    mean: float
    std: float | None
    n: int
    all_ramanujan: bool
    actual_sparsity: float | None = None  # mean over seeds of the sparsity reached


def accuracy_points(records, method: str) -> list[AccuracyPoint]:
    """The points of ``method`` (records of one model), by increasing sparsity.

    ``all_ramanujan`` is true only when every seed's ``summary.all_ramanujan`` is true
    (null, i.e. undefined, counts as not Ramanujan). Runs with a null accuracy are skipped.
    """
    by_sparsity: dict[float, list[dict]] = {}
    for record in records:
        if record.get("method") == method and number(record.get("sparsity")) is not None:
            by_sparsity.setdefault(sparsity_key(record["sparsity"]), []).append(record)
    points = []
    for sparsity, runs in sorted(by_sparsity.items()):
        accuracies = [number(r.get("accuracy")) for r in runs]
        accuracies = [a for a in accuracies if a is not None]
        if not accuracies:
            continue
        ramanujan = all((r.get("summary") or {}).get("all_ramanujan") is True for r in runs)
        reached = [number(r.get("actual_sparsity")) for r in runs]
        reached = [a for a in reached if a is not None]
        points.append(AccuracyPoint(sparsity, *mean_std(accuracies), ramanujan,
                                    sum(reached) / len(reached) if reached else None))
    return points


def dense_accuracy(records) -> tuple[float, int] | None:
    """Mean accuracy of the dense runs (records of one model) and their count; without dense
    records, the mean ``dense_accuracy`` of the pruned runs, one value per seed."""
    values = [number(r.get("accuracy")) for r in records if is_dense(r)]
    values = [v for v in values if v is not None]
    if not values:
        per_seed = {}
        for r in records:
            if number(r.get("dense_accuracy")) is not None:
                per_seed.setdefault(r.get("seed"), float(r["dense_accuracy"]))
        values = list(per_seed.values())
    if not values:
        return None
    return sum(values) / len(values), len(values)


def first_not_ramanujan(points) -> AccuracyPoint | None:
    """The point of smallest sparsity that is not Ramanujan in every seed."""
    return next((p for p in points if not p.all_ramanujan), None)


#: x axis of the accuracy figure: the requested sparsity, or the one the pruned model reached.
X_AXES = ("actual", "requested")


def _x(point: AccuracyPoint, x: str) -> float:
    if x == "actual" and point.actual_sparsity is not None:
        return point.actual_sparsity
    return point.sparsity


def _panel(ax, records, methods, colours, x: str = "actual") -> None:
    dense = dense_accuracy(records)
    if dense is not None:
        ax.axhline(dense[0], color=colours.get("dense", "black"), linestyle="--", linewidth=1.2, label="dense")
    ticks = set()
    for method in methods:
        points = accuracy_points(records, method)
        if not points:
            continue
        colour = colours[method]
        xs = [_x(p, x) for p in points]
        ys = [p.mean for p in points]
        ticks.update(p.sparsity for p in points)
        ax.plot(xs, ys, color=colour, linewidth=1.5, label=method)
        bars = [p for p in points if p.std is not None]
        if bars:
            ax.errorbar([_x(p, x) for p in bars], [p.mean for p in bars], yerr=[p.std for p in bars],
                        fmt="none", ecolor=colour, elinewidth=1.0, capsize=3, label=f"_{method} std")
        for filled in (True, False):
            chosen = [p for p in points if p.all_ramanujan is filled]
            if chosen:
                ax.plot([_x(p, x) for p in chosen], [p.mean for p in chosen], linestyle="none", marker="o",
                        markersize=6, color=colour, markerfacecolor=colour if filled else "white",
                        markeredgewidth=1.3, label=f"_{method} {'ramanujan' if filled else 'not ramanujan'}")
        stop = first_not_ramanujan(points)
        if stop is not None:
            ax.axvline(_x(stop, x), color=colour, linestyle=":", linewidth=1.2, label=f"_{method} not ramanujan from")
    if ticks:
        ax.set_xticks(sorted(ticks))
        ax.set_xticklabels([f"{t:g}" for t in sorted(ticks)], rotation=45 if len(ticks) > 6 else 0)
    ax.set_xlabel("sparsity reached (fraction of recurrent weights pruned)" if x == "actual"
                  else "requested sparsity (fraction of recurrent weights to prune)")
    ax.set_ylabel("test accuracy")


def accuracy_figure(records, model: str | None = None, title: str | None = None, x: str = "actual") -> Figure:
    """Test accuracy (after fine-tuning) against sparsity, one panel per model.

    ``x="actual"`` (default) places each point at the mean sparsity its runs reached
    (``actual_sparsity``: ramanujan-guard may stop short of the request, e.g. at 0.77 when 0.98
    was asked), ``x="requested"`` at the requested one; ticks are the requested sparsities.

    Each method is a line through the mean accuracy over seeds at each sparsity, with
    error bars of one sample standard deviation over seeds (no bar with a single seed).
    The dense baseline is a dashed horizontal line at the mean dense accuracy over seeds.
    A hollow marker means that at that sparsity not every seed has all its pruned layers
    Ramanujan (``summary.all_ramanujan``); a dotted vertical line in the method's colour
    marks the smallest such sparsity.
    """
    if x not in X_AXES:
        raise GraphtoolsError(f"x must be one of {', '.join(X_AXES)}, not {x!r}")
    records = select_model(records, model)
    models = models_of(records)
    if not models:
        raise GraphtoolsError("no record names its model")
    methods = methods_of(records)
    if not methods:
        raise GraphtoolsError("no pruned runs to plot (only dense baselines)")
    colours = method_colours(methods_of(records, dense=True))
    fig, axes = new_figure(len(models), extra_width=2.6)
    for ax, name in zip(axes, models):
        _panel(ax, [r for r in records if r.get("model") == name], methods, colours, x)
        ax.set_title(name, fontsize=10)
    low = min(ax.get_ylim()[0] for ax in axes)
    high = max(ax.get_ylim()[1] for ax in axes)
    for ax in axes:  # shared accuracy scale, so that panels compare at a glance
        ax.set_ylim(low, high)
    seeds = ordered(r.get("seed") for r in records)
    handles = [method_handle("dense", colours.get("dense", "black"), linestyle="--")]
    handles += [method_handle(m, colours[m], marker="o") for m in methods]
    handles += [
        Line2D([], [], linestyle="none", marker="o", color="grey", markerfacecolor="white",
               label="hollow: not all seeds Ramanujan"),
        Line2D([], [], linestyle=":", color="grey", label="dotted: first such sparsity"),
    ]
    legend_outside(axes[-1], handles, title=f"mean ± std over {len(seeds)} seed{'s' * (len(seeds) != 1)}")
    set_title(fig, figure_title(records, "Test accuracy after pruning and fine-tuning", title))
    for ax in axes:
        ax.tick_params(labelsize=SMALL_FONT)
    return fig
