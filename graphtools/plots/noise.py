"""``--kind noise``: accuracy under additive noise against its SNR, per method at one sparsity."""

from __future__ import annotations

from dataclasses import dataclass

from matplotlib.figure import Figure

from graphtools.errors import GraphtoolsError
from graphtools.experiments.records import (
    choose_sparsity, is_dense, methods_of, models_of, number, select_model, sparsity_key,
)
from graphtools.plots.common import (
    figure_title, legend_outside, mean_std, method_colours, method_handle, new_figure, set_title,
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


def _draw(ax, points, colour, label, dashed=False) -> None:
    xs, ys = [p.snr_db for p in points], [p.mean for p in points]
    ax.plot(xs, ys, color=colour, marker="o", markersize=4, linewidth=1.4, linestyle="--" if dashed else "-",
            label=label)
    bars = [p for p in points if p.std is not None]
    if bars:
        ax.errorbar([p.snr_db for p in bars], [p.mean for p in bars], yerr=[p.std for p in bars], fmt="none",
                    ecolor=colour, elinewidth=1.0, capsize=3, label=f"_{label} std")


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
        dense = noise_points([r for r in runs if is_dense(r)])
        if dense:
            _draw(ax, dense, colours.get("dense", "black"), "dense", dashed=True)
            shown.append("dense")
        for method in methods_of(runs) if chosen is not None else ():
            points = noise_points([r for r in runs if r.get("method") == method
                                   and number(r.get("sparsity")) is not None
                                   and sparsity_key(r["sparsity"]) == chosen])
            if points:
                _draw(ax, points, colours[method], method)
                shown.append(method)
        ax.set_title(f"{name}, sparsity {chosen:g}" if chosen is not None else f"{name}, dense only", fontsize=10)
        ax.set_xlabel("signal-to-noise ratio (dB)")
        ax.set_ylabel("test accuracy under noise")
    handles = [method_handle(m, colours[m], marker="o", linestyle="--" if m == "dense" else "-")
               for m in methods_of([{"method": m} for m in shown], dense=True)]
    legend_outside(axes[-1], handles, title="mean ± std over seeds")
    set_title(fig, figure_title(records, "Test accuracy under noise", title))
    return fig
