"""What every figure kind shares: reading and selecting sweep records, colours, titles, saving.

Figures are built on :class:`matplotlib.figure.Figure` directly (never pyplot), so plotting
neither selects a backend nor registers figures for a notebook user; :func:`save_figure`
renders with the format's own canvas (Agg for PNG, the vector backends for SVG and PDF).
"""

from __future__ import annotations

import math
import os

from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from graphtools.atomic import atomic_open
from graphtools.errors import GraphtoolsError
from graphtools.experiments.results import read_records, results_path
from graphtools.experiments.stats import DENSE, number, ordered, sparsity_key

#: Output formats, chosen by the output file's extension.
FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
#: Canonical order (and colour) of the methods; methods not listed come after, in order of appearance.
METHOD_ORDER = ("dense", "magnitude", "random", "biregular", "array-code", "ramanujan-guard")
_METHOD_COLOURS = {"dense": "black", "magnitude": "#1f77b4", "random": "#ff7f0e", "biregular": "#2ca02c",
                   "array-code": "#d62728", "ramanujan-guard": "#9467bd"}
_SPARE_COLOURS = ("#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
_MODEL_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">")
#: Width and height of one panel, in inches.
PANEL_SIZE = (6.4, 4.2)
#: The smallest font used anywhere (legends, notes, tick labels).
SMALL_FONT = 9


# --------------------------------------------------------------------------- records

def load_records(records_or_path) -> tuple[list[dict], str]:
    """The records of a results file, sweep folder or list, and a name for messages.

    Raises GraphtoolsError when there is no record at all.
    """
    if isinstance(records_or_path, (str, os.PathLike)):
        source = results_path(records_or_path)
        records = read_records(source)
    else:
        source = "RESULTS"
        records = list(records_or_path)
    if not records:
        raise GraphtoolsError(f"{source}: no finished runs to plot (empty results file)")
    return records, source


def models_of(records) -> list[str]:
    return ordered(r.get("model") for r in records if r.get("model") is not None)


def methods_of(records, dense: bool = False) -> list[str]:
    """The methods in the records, in :data:`METHOD_ORDER` then order of appearance."""
    present = ordered(r.get("method") for r in records if r.get("method") is not None)
    known = [m for m in METHOD_ORDER if m in present]
    methods = known + [m for m in present if m not in METHOD_ORDER]
    return methods if dense else [m for m in methods if m != DENSE]


def completed(records) -> list[dict]:
    """The records of runs that were made: ``status`` "ok" (or none, as before the field existed);
    runs whose method could not reach the sparsity (``"infeasible"``) have nothing to plot."""
    return [r for r in records if r.get("status", "ok") == "ok"]


def select_model(records, model: str | None) -> list[dict]:
    """The completed records (:func:`completed`) of ``model`` (all models when None); an unknown
    name is an error listing the models."""
    records = completed(records)
    if model is None:
        return records
    models = models_of(records)
    if model not in models:
        raise GraphtoolsError(f"unknown model {model!r} (models: {', '.join(models) or 'none'})")
    return [r for r in records if r.get("model") == model]


def one_model(records, model: str | None) -> tuple[str, list[dict]]:
    """``model`` and its records; without a name the first model of the results."""
    records = select_model(records, model)
    if model is None:
        models = models_of(records)
        if not models:
            raise GraphtoolsError("no record names its model")
        model = models[0]
        records = [r for r in records if r.get("model") == model]
    return model, records


def pruned_sparsities(records, method: str) -> list[float]:
    return sorted({sparsity_key(r["sparsity"]) for r in records
                   if r.get("method") == method and number(r.get("sparsity")) is not None})


def choose_sparsity(records, sparsity: float | None) -> float:
    """``sparsity`` if some pruned run has it, else the largest sparsity every method has.

    Raises GraphtoolsError naming the sparsities present when ``sparsity`` is not one of them.
    """
    methods = methods_of(records)
    if not methods:
        raise GraphtoolsError("no pruned runs (only dense baselines)")
    present = sorted(set().union(*(pruned_sparsities(records, m) for m in methods)))
    if sparsity is not None:
        if sparsity_key(sparsity) not in present:
            raise GraphtoolsError(f"no run at sparsity {sparsity:g} (sparsities: "
                                  f"{', '.join(f'{s:g}' for s in present)})")
        return sparsity_key(sparsity)
    common = set(present).intersection(*(pruned_sparsities(records, m) for m in methods))
    if not common:
        raise GraphtoolsError("no sparsity is present for every method; choose one with --sparsity "
                              f"({', '.join(f'{s:g}' for s in present)})")
    return max(common)


def choose_seed(records, seed: int | None) -> int:
    seeds = sorted({r["seed"] for r in records if isinstance(r.get("seed"), int)})
    if not seeds:
        raise GraphtoolsError("no record names its seed")
    if seed is None:
        return seeds[0]
    if seed not in seeds:
        raise GraphtoolsError(f"no run with seed {seed} (seeds: {', '.join(map(str, seeds))})")
    return seed


def graph_measures(record: dict) -> list[dict]:
    """The per-graph measures of a record (its ``layers`` list; empty when absent)."""
    layers = record.get("layers")
    if not isinstance(layers, list):
        layers = record.get("graphs")
    return [g for g in layers if isinstance(g, dict)] if isinstance(layers, list) else []


def mean_std(values) -> tuple[float, float | None, int]:
    """Mean, sample standard deviation (ddof=1; None for one value) and count of ``values``."""
    values = [float(v) for v in values]
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, None, n
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)), n


# --------------------------------------------------------------------------- styling

def method_colours(methods) -> dict[str, str]:
    """A fixed colour per known method (the same in every figure), spare colours for others."""
    colours, spare = {}, 0
    for method in methods:
        if method in _METHOD_COLOURS:
            colours[method] = _METHOD_COLOURS[method]
        else:
            colours[method] = _SPARE_COLOURS[spare % len(_SPARE_COLOURS)]
            spare += 1
    return colours


def model_markers(models) -> dict[str, str]:
    return {model: _MODEL_MARKERS[i % len(_MODEL_MARKERS)] for i, model in enumerate(models)}


def new_figure(panels: int = 1, extra_width: float = 0.0, extra_height: float = 0.0) -> tuple[Figure, list]:
    """A constrained-layout figure of ``panels`` side-by-side axes, PANEL_SIZE each."""
    width, height = PANEL_SIZE
    fig = Figure(figsize=(width * panels + extra_width, height + extra_height), layout="constrained")
    axes = fig.subplots(1, panels, squeeze=False)[0]
    for ax in axes:
        ax.tick_params(labelsize=SMALL_FONT)
        ax.grid(True, alpha=0.3, linewidth=0.6)
    return fig, list(axes)


def legend_outside(ax, handles, title: str | None = None):
    """A legend to the right of ``ax``, outside the data."""
    return ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0,
                     fontsize=SMALL_FONT, title=title, title_fontsize=SMALL_FONT, frameon=False)


def method_handle(method: str, colour: str, **style) -> Line2D:
    return Line2D([], [], color=colour, label=method, **style)


def figure_title(records, what: str, title: str | None) -> str:
    """``title`` or ``what — dataset``; a non-empty ``data_note`` (e.g. a synthetic stand-in) is
    always shown, on a second line under a custom title."""
    datasets = ordered(str(r["dataset"]) for r in records if r.get("dataset"))
    notes = ordered(str(r["data_note"]).strip() for r in records if r.get("data_note"))
    notes = [n for n in notes if n]
    if title is None:
        title = what + (f" — {', '.join(datasets)}" if datasets else "")
        return title + (f" [{'; '.join(notes)}]" if notes else "")
    missing = [n for n in notes if n not in title]
    return title + (f"\n[{'; '.join(missing)}]" if missing else "")


def set_title(fig: Figure, text: str) -> None:
    fig.suptitle(text, fontsize=11)


# --------------------------------------------------------------------------- output

def output_format(path: str | os.PathLike) -> str:
    """The format of ``path`` from its extension; GraphtoolsError for any other."""
    extension = os.path.splitext(os.fspath(path))[1].lower()
    if extension not in FORMATS:
        raise GraphtoolsError(f"cannot tell the format of {os.fspath(path)}: use one of the extensions "
                              f"{', '.join(FORMATS)}")
    return FORMATS[extension]


def check_output(path: str | os.PathLike) -> str:
    """The format of ``path``, after checking that its folder exists (before any plotting)."""
    fmt = output_format(path)
    folder = os.path.dirname(os.path.abspath(os.fspath(path)))
    if not os.path.isdir(folder):
        raise GraphtoolsError(f"cannot write {os.fspath(path)}: folder {folder} does not exist")
    return fmt


def save_figure(fig: Figure, path: str | os.PathLike, dpi: int = 150) -> None:
    """Render ``fig`` as PNG, SVG or PDF (by the extension of ``path``) and write it atomically:
    a failure leaves an existing ``path`` untouched. ``dpi`` matters for PNG only."""
    fmt = check_output(path)
    if number(dpi) is None or dpi <= 0:
        raise GraphtoolsError(f"--dpi must be positive, not {dpi}")
    with atomic_open(path, "wb") as handle:
        fig.savefig(handle, format=fmt, dpi=dpi)
