"""``--kind noise``: accuracy under additive noise against its SNR, per method at one sparsity."""

from __future__ import annotations

from dataclasses import dataclass

from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from graphtools.errors import GraphtoolsError
from graphtools.experiments.records import (
    choose_sparsity, is_dense, mean_std, methods_of, models_of, number, select_model, sparsity_key,
)
from graphtools.plots.common import (
    figure_title, legend_outside, method_colours, method_handle, new_figure, set_title,
)

NO_NOISE = "has no noise evaluations (only speech-commands sweeps evaluate under noise)"


@dataclass(frozen=True)
class NoisePoint:
    """Mean and sample std (None with one seed) of the accuracy at one SNR over ``n`` seeds."""

    snr_db: float
    mean: float
    std: float | None
    n: int


def has_noise(record: dict) -> bool:
    return isinstance(record.get("noise"), list) and any(isinstance(e, dict) for e in record["noise"])


def noise_points(runs) -> list[NoisePoint]:
    """The noise curve of ``runs`` (one method, model and sparsity; several seeds), by increasing SNR."""
    by_snr: dict[float, list[float]] = {}
    for record in runs:
        for entry in record.get("noise") or []:
            if not isinstance(entry, dict):
                continue
            snr, accuracy = number(entry.get("snr_db")), number(entry.get("accuracy"))
            if snr is not None and accuracy is not None:
                by_snr.setdefault(round(snr, 6), []).append(accuracy)
    return [NoisePoint(snr, *mean_std(values)) for snr, values in sorted(by_snr.items())]


def _draw(ax, points, colour, label, dashed=False, clean=None, clean_x=None) -> None:
    """The noisy points as a line; ``clean`` (mean accuracy without noise) as a square at ``clean_x``
    joined by a dotted segment, so the drop from clean to noisy is visible."""
    xs, ys = [p.snr_db for p in points], [p.mean for p in points]
    ax.plot(xs, ys, color=colour, marker="o", markersize=4, linewidth=1.4, linestyle="--" if dashed else "-",
            label=label)
    if clean is not None and clean_x is not None:
        ax.plot([xs[-1], clean_x], [ys[-1], clean], color=colour, linestyle=":", linewidth=1.0, label=f"_{label} to clean")
        ax.plot([clean_x], [clean], color=colour, marker="s", markersize=6, linestyle="none", label=f"_{label} clean")
    bars = [p for p in points if p.std is not None]
    if bars:
        ax.errorbar([p.snr_db for p in bars], [p.mean for p in bars], yerr=[p.std for p in bars], fmt="none",
                    ecolor=colour, elinewidth=1.0, capsize=3, label=f"_{label} std")


def _clean(runs) -> float | None:
    """Mean accuracy of ``runs`` on the clean test set (their ``accuracy``)."""
    values = [number(r.get("accuracy")) for r in runs]
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def noise_figure(records, model: str | None = None, sparsity: float | None = None, title: str | None = None,
                 source: str = "RESULTS") -> Figure:
    """Test accuracy under additive noise against the signal-to-noise ratio (dB), one panel per
    model: each method at one sparsity (default: per model the largest sparsity present for
    every method) and the dense baseline (dashed), mean over seeds with error bars of one
    sample standard deviation (no bar with a single seed). ``source`` names the results in
    the error raised when no record has noise evaluations."""
    records = select_model(records, model)
    noisy = [r for r in records if has_noise(r)]
    if not noisy:
        raise GraphtoolsError(f"{source} {NO_NOISE}")
    models = models_of(noisy)
    colours = method_colours(methods_of(records, dense=True))
    fig, axes = new_figure(len(models), extra_width=1.8)
    shown = []
    for ax, name in zip(axes, models):
        runs = [r for r in records if r.get("model") == name]
        chosen = choose_sparsity(runs, sparsity) if methods_of(runs) else None  # None: dense runs only
        snrs = [p.snr_db for p in noise_points([r for r in runs if has_noise(r)])]
        clean_x = max(snrs) + max(5.0, 0.25 * (max(snrs) - min(snrs))) if snrs else None
        dense_runs = [r for r in runs if is_dense(r)]
        dense = noise_points(dense_runs)
        if dense:
            _draw(ax, dense, colours.get("dense", "black"), "dense", dashed=True, clean=_clean(dense_runs),
                  clean_x=clean_x)
            shown.append("dense")
        for method in methods_of(runs) if chosen is not None else ():
            mine = [r for r in runs if r.get("method") == method and number(r.get("sparsity")) is not None
                    and sparsity_key(r["sparsity"]) == chosen]
            points = noise_points(mine)
            if points:
                _draw(ax, points, colours[method], method, clean=_clean(mine), clean_x=clean_x)
                shown.append(method)
        if clean_x is not None:
            ticks = [t for t in ax.get_xticks() if min(snrs) <= t <= max(snrs)]
            ax.set_xticks(ticks + [clean_x])
            ax.set_xticklabels([f"{t:g}" for t in ticks] + ["clean"])
        ax.set_title(f"{name}, requested sparsity {chosen:g}" if chosen is not None else f"{name}, dense only",
                     fontsize=10)
        ax.set_xlabel("signal-to-noise ratio (dB)")
        ax.set_ylabel("test accuracy under noise")
    handles = [method_handle(m, colours[m], marker="o", linestyle="--" if m == "dense" else "-")
               for m in methods_of([{"method": m} for m in shown], dense=True)]
    handles.append(Line2D([], [], linestyle="none", marker="s", color="grey", label="square: clean test set"))
    legend_outside(axes[-1], handles, title="mean ± std over seeds")
    set_title(fig, figure_title(records, "Test accuracy under noise", title))
    return fig
