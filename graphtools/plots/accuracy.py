"""``--kind accuracy``: test accuracy against requested sparsity, one line per method."""

from __future__ import annotations

from dataclasses import dataclass

from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import NullLocator
from matplotlib.transforms import blended_transform_factory

from graphtools.errors import GraphtoolsError
from graphtools.experiments.records import (
    is_dense, mean_std, methods_of, models_of, number, ordered, select_model, sparsity_key,
)
from graphtools.plots.common import (
    SMALL_FONT, figure_title, legend_outside, method_colours, method_handle, new_figure,
    set_title,
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
    """Where ``point`` sits: the density ``1 - sparsity`` (reached or requested), drawn on a log axis."""
    if x == "actual" and point.actual_sparsity is not None:
        return 1.0 - point.actual_sparsity
    return 1.0 - point.sparsity


#: Marker of the i-th method; sizes shrink with i, so a marker drawn later on the same point sits
#: inside the earlier ones and every method stays visible.
METHOD_MARKERS = ("o", "s", "D", "^", "v", "P", "X")


def _marker(i: int) -> tuple[str, float]:
    return METHOD_MARKERS[i % len(METHOD_MARKERS)], max(3.5, 9.0 - 1.4 * i)


def _panel(ax, records, methods, colours, x: str = "actual") -> None:
    dense = dense_accuracy(records)
    if dense is not None:
        ax.axhline(dense[0], color=colours.get("dense", "black"), linestyle="--", linewidth=1.2, label="dense")
    ticks = set()
    top = blended_transform_factory(ax.transData, ax.transAxes)
    for i, method in enumerate(methods):
        points = accuracy_points(records, method)
        if not points:
            continue
        colour = colours[method]
        marker, size = _marker(i)
        xs = [_x(p, x) for p in points]
        ys = [p.mean for p in points]
        ticks.update(p.sparsity for p in points)
        ax.plot(xs, ys, color=colour, linewidth=1.5, label=method, zorder=2 + i)
        bars = [p for p in points if p.std is not None]
        if bars:
            ax.errorbar([_x(p, x) for p in bars], [p.mean for p in bars], yerr=[p.std for p in bars],
                        fmt="none", ecolor=colour, elinewidth=1.0, capsize=3, label=f"_{method} std", zorder=2 + i)
        for filled in (True, False):
            chosen = [p for p in points if p.all_ramanujan is filled]
            if chosen:
                ax.plot([_x(p, x) for p in chosen], [p.mean for p in chosen], linestyle="none", marker=marker,
                        markersize=size, color=colour, markerfacecolor=colour if filled else "white",
                        markeredgewidth=1.3, label=f"_{method} {'ramanujan' if filled else 'not ramanujan'}",
                        zorder=3 + i)
        if x == "actual":  # where the reached sparsity is not the request (ramanujan-guard): say what was asked
            short = [p for p in points if p.actual_sparsity is not None and abs(p.actual_sparsity - p.sparsity) > 0.005]
            for j, p in enumerate(short):  # stacked downwards: close points do not overprint
                ax.annotate(f"asked {p.sparsity:g} → {p.actual_sparsity:.2f}", (_x(p, x), p.mean),
                            textcoords="offset points", xytext=(6, -14 - 9 * j), fontsize=SMALL_FONT - 2,
                            color=colour, arrowprops={"arrowstyle": "-", "color": colour, "linewidth": 0.4})
        stop = first_not_ramanujan(points)
        if stop is not None:  # a tick at the top edge, one row per method: none hides another
            ax.plot([_x(stop, x)], [1.0 - 0.035 * (i + 1)], transform=top, linestyle="none", marker="v",
                    markersize=6, color=colour, clip_on=False, label=f"_{method} not ramanujan from")
    ax.set_xscale("log")
    ax.invert_xaxis()  # sparsity grows to the right
    if ticks:
        ax.set_xticks([1.0 - t for t in sorted(ticks)])
        ax.set_xticklabels([f"{t:g}" for t in sorted(ticks)], rotation=45 if len(ticks) > 6 else 0)
        ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel(("sparsity reached" if x == "actual" else "requested sparsity")
                  + " (log scale of density 1 − sparsity)")
    ax.set_ylabel("test accuracy")


def accuracy_figure(records, model: str | None = None, title: str | None = None, x: str = "actual") -> Figure:
    """Test accuracy (after fine-tuning) against sparsity, one panel per model.

    ``x="actual"`` (default) places each point at the mean sparsity its runs reached
    (``actual_sparsity``: ramanujan-guard may stop short of the request, e.g. at 0.77 when 0.98
    was asked; such points are labelled "asked 0.98"), ``x="requested"`` at the requested one;
    ticks are the requested sparsities.  The axis is the density ``1 - sparsity`` on a log
    scale, reversed, so that 0.9, 0.95 and 0.98 are as far apart as 0.5, 0.8 and 0.9.

    Each method is a line through the mean accuracy over seeds at each sparsity, with
    error bars of one sample standard deviation over seeds (no bar with a single seed).
    The dense baseline is a dashed horizontal line at the mean dense accuracy over seeds.
    A hollow marker means that at that sparsity not every seed has all its pruned layers
    Ramanujan (``summary.all_ramanujan``); a ▼ at the top edge in the method's colour (one row
    per method) marks the smallest such sparsity.  Each method has its own marker shape and size,
    so markers on the same point nest instead of hiding each other.
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
    handles += [method_handle(m, colours[m], marker=_marker(i)[0]) for i, m in enumerate(methods)]
    handles += [
        Line2D([], [], linestyle="none", marker="o", color="grey", markerfacecolor="white",
               label="hollow: not all seeds Ramanujan"),
        Line2D([], [], linestyle="none", marker="v", color="grey", label="▼ at top: first such sparsity"),
    ]
    legend_outside(axes[-1], handles, title=f"mean ± std over {len(seeds)} seed{'s' * (len(seeds) != 1)}")
    set_title(fig, figure_title(records, "Test accuracy after pruning and fine-tuning", title))
    for ax in axes:
        ax.tick_params(labelsize=SMALL_FONT)
    return fig
