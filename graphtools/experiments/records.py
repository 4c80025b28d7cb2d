"""Reading and selecting sweep records: the rows every figure and table is made from.

One layer below :mod:`graphtools.plots` and the sweep drivers (docs/architecture.md):
plots draw what these functions select, and :mod:`graphtools.experiments` writes the
records (:mod:`graphtools.experiments.results`) these functions read.
"""

from __future__ import annotations

import math
import os

from graphtools.errors import GraphtoolsError
from graphtools.experiments.results import read_records, results_path

DENSE = "dense"
#: Canonical order (and colour) of the methods; methods not listed come after, in order of appearance.
METHOD_ORDER = ("dense", "magnitude", "random", "biregular", "array-code", "ramanujan-guard")


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


def number(value) -> float | None:
    """``value`` as a float when it is a finite number (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def sparsity_key(value) -> float:
    """A requested sparsity rounded so that 0.9 and 0.9000000001 are the same group."""
    return round(float(value), 6)


def is_dense(record: dict) -> bool:
    return record.get("method") == DENSE


def mean_std(values) -> tuple[float, float | None, int]:
    """Mean, sample standard deviation (ddof=1; None for one value) and count of ``values``."""
    values = [float(v) for v in values]
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, None, n
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)), n


def ordered(values) -> list:
    """Distinct values in order of first appearance."""
    seen = {}
    for value in values:
        seen.setdefault(value, None)
    return list(seen)


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
