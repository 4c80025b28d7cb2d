"""Rank correlations between a graph measure and accuracy over the pruned runs of a sweep.

Both functions use pruned runs only (``method != "dense"``), read the measure from the
record's ``summary`` and the target (``accuracy`` by default) from the record, and skip
runs where either is null. Correlations are Spearman's rho with its two-sided p-value
from :func:`scipy.stats.spearmanr`; with fewer than 3 points, or when either side is
constant, rho and p are None. Results are plain numbers (no numpy types) so that a
report can serialise them.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass

from graphtools.errors import GraphtoolsError
from graphtools.experiments.records import is_dense, number, ordered, sparsity_key

#: The ``summary`` keys a correlation (and ``graphtools plot --kind gap --measure``) can use: over the
#: pruned weights (ih/hh/hr), and the same over the unfolded step layers (``step_`` prefix).
_BASE = ("spectral_gap", "normalized_gap", "ramanujan_gap", "weighted_spectral_gap", "delta_s")
MEASURES = _BASE + tuple(f"step_{m}" for m in _BASE)


@dataclass(frozen=True)
class RankCorrelation:
    """Spearman's rho between ``measure`` and accuracy over ``n`` runs of ``group``."""

    group: str
    measure: str
    n: int
    rho: float | None
    p_value: float | None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class SparsityCorrelation:
    """Spearman's rho among the ``n`` runs of one group at one requested sparsity."""

    sparsity: float
    n: int
    rho: float | None
    p_value: float | None


@dataclass(frozen=True)
class WithinSparsityCorrelation:
    """Rank correlation with the sparsity held fixed, for one group.

    ``per_sparsity``: Spearman's rho and p among the runs at each requested sparsity
    (across methods and seeds).  ``rho``: the stratified Spearman correlation — within each
    sparsity both variables are replaced by their centred ranks (average ranks for ties),
    and ``rho = sum(cx * cy) / sqrt(sum(cx^2) * sum(cy^2))`` over all strata, so only the
    order *within* a sparsity counts.  ``p_value``: two-sided permutation p of that rho
    (:data:`PERMUTATIONS` shufflings of the target within each sparsity, seeded; ``p = (1 +
    #{|rho_perm| >= |rho|}) / (1 + PERMUTATIONS)``), valid however few runs a sparsity has.
    ``n`` counts the runs in strata of at least 2 runs.
    """

    group: str
    measure: str
    n: int
    per_sparsity: tuple[SparsityCorrelation, ...]
    rho: float | None
    p_value: float | None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["per_sparsity"] = [asdict(s) for s in self.per_sparsity]
        return d


#: Shufflings of the permutation test of :class:`WithinSparsityCorrelation`.
PERMUTATIONS = 9999


def spearman(xs, ys) -> tuple[float | None, float | None]:
    """Spearman's rho and its two-sided p-value; (None, None) below 3 points or for constant data."""
    if len(xs) < 3 or len(set(xs)) < 2 or len(set(ys)) < 2:
        return None, None
    from scipy.stats import spearmanr

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = spearmanr(xs, ys)
    rho, p = float(result[0]), float(result[1])
    if not math.isfinite(rho):
        return None, None
    return rho, (p if math.isfinite(p) else None)


def _check_measure(measure: str) -> None:
    if measure not in MEASURES:
        raise GraphtoolsError(f"unknown measure {measure!r} (measures: {', '.join(MEASURES)})")


def _points(records, measure: str, target: str):
    """(record, measure value, target value) of the pruned runs with both defined."""
    _check_measure(measure)
    for record in records:
        if is_dense(record):
            continue
        summary = record.get("summary") if isinstance(record.get("summary"), dict) else {}
        x, y = number(summary.get(measure)), number(record.get(target))
        if x is not None and y is not None:
            yield record, x, y


def _group_name(record: dict, by) -> str:
    return "/".join(str(record.get(field)) for field in by) if by else "all"


def rank_correlations(records, measure: str, by=("model",), target: str = "accuracy") -> list[RankCorrelation]:
    """Spearman's rho between ``summary[measure]`` and ``target`` over the pruned runs of each
    group of records with equal ``by`` fields (``by=()``: one group, named "all"); groups are
    named by their values joined with "/", in order of first appearance."""
    groups: dict[str, tuple[list, list]] = {}
    for record, x, y in _points(records, measure, target):
        xs, ys = groups.setdefault(_group_name(record, by), ([], []))
        xs.append(x)
        ys.append(y)
    return [RankCorrelation(group, measure, len(xs), *spearman(xs, ys)) for group, (xs, ys) in groups.items()]


def stratified_rank_correlation(strata) -> tuple[float | None, float | None, int]:
    """``(rho, p_value, n)`` of :class:`WithinSparsityCorrelation` for ``strata``, a list of
    ``(xs, ys)`` pairs (strata of fewer than 2 points are left out)."""
    import numpy as np
    from scipy.stats import rankdata

    centred = [(rankdata(xs) - (len(xs) + 1) / 2, rankdata(ys) - (len(ys) + 1) / 2)
               for xs, ys in strata if len(xs) >= 2]
    n = sum(len(cx) for cx, _ in centred)
    if not centred:
        return None, None, 0
    cx = np.concatenate([c[0] for c in centred])
    cy = np.concatenate([c[1] for c in centred])
    norm = math.sqrt(float(cx @ cx) * float(cy @ cy))
    if norm == 0:
        return None, None, n
    rho = float(cx @ cy) / norm
    rng = np.random.default_rng(0)
    bounds = np.cumsum([0] + [len(c[1]) for c in centred])
    shuffled = np.empty((PERMUTATIONS, n))
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        shuffled[:, lo:hi] = rng.permuted(np.broadcast_to(cy[lo:hi], (PERMUTATIONS, hi - lo)), axis=1)
    extreme = int(np.count_nonzero(np.abs(shuffled @ cx) / norm >= abs(rho) - 1e-12))
    return rho, (1 + extreme) / (1 + PERMUTATIONS), n


def within_sparsity_correlations(records, measure: str, by=("model",),
                                 target: str = "accuracy") -> list[WithinSparsityCorrelation]:
    """Per group (as in :func:`rank_correlations`), Spearman's rho between ``summary[measure]``
    and ``target`` among the runs at each requested sparsity (methods and seeds mixed), and
    their combination: the correlation that sparsity itself cannot explain."""
    groups: dict[str, dict[float, tuple[list, list]]] = {}
    for record, x, y in _points(records, measure, target):
        s = number(record.get("sparsity"))
        if s is None:
            continue
        xs, ys = groups.setdefault(_group_name(record, by), {}).setdefault(sparsity_key(s), ([], []))
        xs.append(x)
        ys.append(y)
    results = []
    for group in ordered(groups):
        strata = sorted(groups[group].items())
        per_sparsity = tuple(SparsityCorrelation(s, len(xs), *spearman(xs, ys)) for s, (xs, ys) in strata)
        rho, p_value, n = stratified_rank_correlation([pair for _, pair in strata])
        results.append(WithinSparsityCorrelation(group, measure, n, per_sparsity, rho, p_value))
    return results
