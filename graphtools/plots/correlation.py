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
from graphtools.plots.common import is_dense, number, ordered, sparsity_key

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

    ``per_sparsity``: rho and p among the runs at each requested sparsity (across methods
    and seeds). ``mean_rho``: the mean of the defined per-sparsity rhos weighted by their
    ``n``. ``combined_p_value``: two-sided p of a weighted Stouffer combination of the
    per-sparsity tests: each becomes the signed z-score sign(rho)·Φ⁻¹(1 − p/2), then
    Z = Σ w z / √(Σ w²) with weights w = √n and p = 2·(1 − Φ(|Z|)). It is small when the
    sparsities agree on a direction (either one); opposite directions cancel. ``n``
    counts the runs at sparsities with a defined rho. The per-sparsity p-values are
    scipy's (a t approximation), rough below about 10 runs per sparsity: a perfect rho
    among 3 runs gets p = 0.
    """

    group: str
    measure: str
    n: int
    per_sparsity: tuple[SparsityCorrelation, ...]
    mean_rho: float | None
    combined_p_value: float | None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["per_sparsity"] = [asdict(s) for s in self.per_sparsity]
        return d


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


def combine_within(per_sparsity) -> tuple[float | None, float | None]:
    """The n-weighted mean rho and the two-sided weighted-Stouffer p-value (see
    :class:`WithinSparsityCorrelation`) of per-sparsity correlations."""
    defined = [s for s in per_sparsity if s.rho is not None and s.p_value is not None]
    if not defined:
        return None, None
    total = sum(s.n for s in defined)
    mean_rho = sum(s.rho * s.n for s in defined) / total
    from scipy.stats import norm

    z_sum = weight_sq = 0.0
    for s in defined:
        sign = (s.rho > 0) - (s.rho < 0)
        z = sign * float(norm.isf(max(s.p_value, 1e-300) / 2))  # p = 0 (a perfect rho) stays finite
        weight = math.sqrt(s.n)
        z_sum += weight * z
        weight_sq += weight * weight
    z = z_sum / math.sqrt(weight_sq)
    return float(mean_rho), float(min(1.0, 2 * norm.sf(abs(z))))


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
        per_sparsity = tuple(SparsityCorrelation(s, len(xs), *spearman(xs, ys))
                             for s, (xs, ys) in sorted(groups[group].items()))
        n = sum(s.n for s in per_sparsity if s.rho is not None)
        results.append(WithinSparsityCorrelation(group, measure, n, per_sparsity, *combine_within(per_sparsity)))
    return results
