"""Figures of a pruning sweep's results, or of one checkpoint (``graphtools plot``; docs/plots.md).

One function per figure kind returns a :class:`matplotlib.figure.Figure` built without
pyplot; :func:`save_figure` writes it atomically; :func:`plot` does both for the command
line. :func:`rank_correlations` and :func:`within_sparsity_correlations` return plain
numbers for reports.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from graphtools.errors import GraphtoolsError
from graphtools.plots.accuracy import AccuracyPoint, accuracy_figure, accuracy_points
from graphtools.plots.checkpoint import (
    AVERAGE_DEGREE_BOUND, CHECKPOINT_KINDS, DEFAULT_BOUNDS, BoundSeries, CheckpointPlotResult, Matrix,
    checkpoint_degrees_figure, checkpoint_graphs, checkpoint_layers_figure, checkpoint_spectra_figure,
    checkpoint_unfold_figure, is_checkpoint, pair_reports, plot_checkpoint,
)
from graphtools.experiments.records import load_records, select_model
from graphtools.plots.common import FORMATS, check_output, save_figure
from graphtools.experiments.stats import (
    MEASURES, RankCorrelation, SparsityCorrelation, WithinSparsityCorrelation, rank_correlations,
    within_sparsity_correlations,
)
from graphtools.plots.forest import forest_figure
from graphtools.plots.gap import DEFAULT_MEASURES, gap_figure
from graphtools.plots.graph import LayerSelection, degrees_figure, select_layer, spectra_figure
from graphtools.plots.noise import NoisePoint, noise_figure, noise_points

#: The figure kinds of :func:`plot`, in the order of docs/plots.md.
KINDS = ("accuracy", "gap", "spectra", "degrees", "noise", "forest")
#: Which kinds take which option (``model`` and ``title`` apply to all).
_OPTIONS = {"x": ("accuracy",), "measures": ("gap",), "layer": ("spectra", "degrees"), "seed": ("spectra", "degrees"),
            "sparsity": ("spectra", "degrees", "noise")}

__all__ = [
    "AVERAGE_DEGREE_BOUND", "BoundSeries", "CHECKPOINT_KINDS", "CheckpointPlotResult", "DEFAULT_BOUNDS", "Matrix",
    "checkpoint_degrees_figure", "checkpoint_graphs", "checkpoint_layers_figure", "checkpoint_spectra_figure",
    "checkpoint_unfold_figure", "is_checkpoint", "pair_reports", "plot_checkpoint",
    "AccuracyPoint", "DEFAULT_MEASURES", "FORMATS", "KINDS", "LayerSelection", "MEASURES", "NoisePoint",
    "PlotResult", "RankCorrelation", "SparsityCorrelation", "WithinSparsityCorrelation", "accuracy_figure",
    "accuracy_points", "degrees_figure", "forest_figure", "gap_figure", "noise_figure", "noise_points", "plot",
    "rank_correlations", "save_figure", "select_layer", "spectra_figure", "within_sparsity_correlations",
]


@dataclass(frozen=True)
class PlotResult:
    """What :func:`plot` wrote: the file, the kind and the number of runs (records) it drew
    from (after ``model`` selection)."""

    output: str
    kind: str
    runs: int

    def summary(self) -> str:
        return f"{self.runs} run{'s' * (self.runs != 1)}"


def plot(records_or_path, kind: str, output: str | os.PathLike, *, model: str | None = None,
         title: str | None = None, dpi: int = 150, measures=(), layer: str | None = None,
         sparsity: float | None = None, seed: int | None = None, x: str | None = None, k: int | None = None,
         steps: int | None = None, gates: bool = False) -> PlotResult | CheckpointPlotResult:
    """Draw figure ``kind`` of a results file, sweep folder or list of records and write it to
    ``output`` (PNG, SVG or PDF by extension) atomically.

    The kind, the output's extension and folder, and the options are checked before the
    records are read; options a kind does not use are an error rather than ignored.
    A checkpoint file (recognised by :func:`is_checkpoint`) instead of results goes to
    :func:`plot_checkpoint` (kinds ``layers``, ``spectra``, ``degrees``, ``unfold``; options
    ``layer`` (a glob), ``k``, ``steps``, ``gates``, ``title``, ``dpi``).
    """
    if isinstance(records_or_path, (str, os.PathLike)) and is_checkpoint(records_or_path):
        sweep_only = {"--model": model is not None, "--measure": bool(measures), "--sparsity": sparsity is not None,
                      "--seed": seed is not None, "--x": x is not None}
        for flag, given in sweep_only.items():
            if given:
                raise GraphtoolsError(f"{flag} applies to a sweep's results, not to a checkpoint")
        return plot_checkpoint(records_or_path, kind, output, layer=layer, k=k, steps=steps, gates=gates,
                               title=title, dpi=dpi)
    for flag, given in {"-k": k is not None, "--steps": steps is not None, "--gates": bool(gates)}.items():
        if given:
            raise GraphtoolsError(f"{flag} applies to a checkpoint, not to a sweep's results")
    if kind not in KINDS:
        if kind in CHECKPOINT_KINDS:
            raise GraphtoolsError(f"kind {kind!r} draws a checkpoint, not a sweep's results (kinds: {', '.join(KINDS)})")
        raise GraphtoolsError(f"unknown kind {kind!r} (kinds: {', '.join(KINDS)})")
    check_output(output)
    given = {"x": x is not None, "measures": bool(measures), "layer": layer is not None, "seed": seed is not None,
             "sparsity": sparsity is not None}
    for option, kinds in _OPTIONS.items():
        if given[option] and kind not in kinds:
            flag = "--measure" if option == "measures" else f"--{option}"
            raise GraphtoolsError(f"{flag} applies to --kind {' or '.join(kinds)}, not {kind}")
    records, source = load_records(records_or_path)
    if kind == "accuracy":
        fig = accuracy_figure(records, model=model, title=title, x=x or "actual")
    elif kind == "gap":
        fig = gap_figure(records, measures=tuple(measures) or DEFAULT_MEASURES, model=model, title=title)
    elif kind == "spectra":
        fig = spectra_figure(records, model=model, layer=layer, sparsity=sparsity, seed=seed, title=title)
    elif kind == "degrees":
        fig = degrees_figure(records, model=model, layer=layer, sparsity=sparsity, seed=seed, title=title)
    elif kind == "forest":
        fig = forest_figure(records, model=model, title=title)
    else:
        fig = noise_figure(records, model=model, sparsity=sparsity, title=title, source=source)
    save_figure(fig, output, dpi=dpi)
    return PlotResult(os.fspath(output), kind, len(select_model(records, model)))
