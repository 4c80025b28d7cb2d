"""What every figure kind shares: colours, titles, saving (records come from :mod:`graphtools.experiments.records`).

Figures are built on :class:`matplotlib.figure.Figure` directly (never pyplot), so plotting
neither selects a backend nor registers figures for a notebook user; :func:`save_figure`
renders with the format's own canvas (Agg for PNG, the vector backends for SVG and PDF).
"""

from __future__ import annotations

import os

from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from graphtools.atomic import atomic_open
from graphtools.errors import GraphtoolsError
from graphtools.experiments.records import number, ordered

#: Output formats, chosen by the output file's extension.
FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
#: The colour of each method of :data:`graphtools.experiments.records.METHOD_ORDER`.
_METHOD_COLOURS = {"dense": "black", "magnitude": "#1f77b4", "random": "#ff7f0e", "biregular": "#2ca02c",
                   "array-code": "#d62728", "ramanujan-guard": "#9467bd"}
_SPARE_COLOURS = ("#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
_MODEL_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">")
#: Width and height of one panel, in inches.
PANEL_SIZE = (6.4, 4.2)
#: The smallest font used anywhere (legends, notes, tick labels).
SMALL_FONT = 9


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
