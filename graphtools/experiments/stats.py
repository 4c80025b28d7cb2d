"""Statistics of sweep results: rank correlations, paired seed-level tests, multiple testing.

Every function here is pure (arrays or records in, numbers out); the reports
(:mod:`graphtools.experiments.tables`, :mod:`graphtools.experiments.claim_report`) and the
figures (:mod:`graphtools.plots`) only call them.

* Correlations: Spearman's rho (:func:`spearman`), the stratified Spearman correlation with a
  permutation p-value that shuffles only within blocks (:func:`block_rank_correlation`: blocks
  are sparsities, or seeds, or seed x sparsity, so runs that share a dense parent are never
  exchanged with runs of another parent), the partial Spearman correlation
  (:func:`partial_rank_correlation`), and their per-record forms
  (:func:`rank_correlations`, :func:`within_sparsity_correlations`).
* Paired comparisons (:func:`paired_test`): per seed the difference of two conditions; the
  Wilcoxon signed-rank test, the matched-pairs rank-biserial correlation and Cohen's d_z as
  effect sizes, a percentile bootstrap 95% CI of the mean difference.
* :func:`holm`: Holm's step-down adjustment of a family of p-values.
* :func:`minimum_detectable_effect`: the smallest standardised paired difference a two-sided
  test at level alpha detects with the given power at n pairs.

Results are plain Python numbers (no numpy types), so a report can serialise them.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass

import numpy as np

from graphtools.errors import GraphtoolsError
from graphtools.experiments.records import is_dense, number, ordered, sparsity_key

#: Shufflings of every permutation test here, and resamples of every bootstrap.
PERMUTATIONS = 9999
BOOTSTRAPS = 10000

#: The ``summary`` keys a correlation (and ``graphtools plot --kind gap --measure``) can use: over the
#: pruned weights (ih/hh/hr), and the same over the unfolded step layers (``step_`` prefix).
_BASE = ("spectral_gap", "normalized_gap", "ramanujan_gap", "weighted_spectral_gap", "delta_s")
MEASURES = _BASE + tuple(f"step_{m}" for m in _BASE)


# --------------------------------------------------------------------------- correlations


def spearman(xs, ys) -> tuple[float | None, float | None]:
    """Spearman's rho and its two-sided p-value (:func:`scipy.stats.spearmanr`); (None, None)
    below 3 points or for constant data.

    Examples
    --------
    >>> spearman([1, 2, 3, 4], [10, 20, 30, 40])[0]
    1.0
    """
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


def stratified_rank_correlation(strata, *, permutations: int = PERMUTATIONS,
                                seed: int = 0) -> tuple[float | None, float | None, int]:
    """``(rho, p_value, n)`` for ``strata``, a list of ``(xs, ys)`` pairs (strata of fewer than
    2 points are left out).

    Within each stratum both variables are replaced by their centred ranks (average ranks for
    ties) and ``rho = sum(cx * cy) / sqrt(sum(cx^2) * sum(cy^2))`` over all strata, so only the
    order *within* a stratum counts.  ``p``: two-sided permutation p of rho, shuffling ``ys``
    within each stratum only (``permutations`` shufflings from ``seed``;
    ``p = (1 + #{|rho_perm| >= |rho|}) / (1 + permutations)``), valid however small a stratum.

    Examples
    --------
    >>> rho, p, n = stratified_rank_correlation([([1, 2, 3], [1, 2, 3]), ([1, 2, 3], [3, 4, 5])])
    >>> rho, n
    (1.0, 6)
    """
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
    rng = np.random.default_rng(seed)
    bounds = np.cumsum([0] + [len(c[1]) for c in centred])
    shuffled = np.empty((permutations, n))
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        shuffled[:, lo:hi] = rng.permuted(np.broadcast_to(cy[lo:hi], (permutations, hi - lo)), axis=1)
    extreme = int(np.count_nonzero(np.abs(shuffled @ cx) / norm >= abs(rho) - 1e-12))
    return rho, (1 + extreme) / (1 + permutations), n


def block_rank_correlation(x, y, blocks, *, permutations: int = PERMUTATIONS,
                           seed: int = 0) -> tuple[float | None, float | None, int]:
    """:func:`stratified_rank_correlation` of ``x`` and ``y`` with strata given by ``blocks``
    (one hashable label per point, e.g. ``(seed, sparsity)``): the correlation within blocks,
    and a permutation p that exchanges accuracies only inside a block.

    With seeds as (part of) the blocks this is the seed-clustered test: runs from one dense
    parent share its quality, so they are compared with each other, never across parents.
    """
    if not (len(x) == len(y) == len(blocks)):
        raise ValueError("x, y and blocks must have the same length")
    groups: dict = {}
    for xi, yi, b in zip(x, y, blocks):
        xs, ys = groups.setdefault(b, ([], []))
        xs.append(float(xi))
        ys.append(float(yi))
    return stratified_rank_correlation(list(groups.values()), permutations=permutations, seed=seed)


def partial_rank_correlation(x, y, control) -> tuple[float | None, float | None, int]:
    """Spearman's partial correlation of ``x`` and ``y`` given ``control``: the Pearson correlation
    of the residuals of rank(x) and rank(y) after a least-squares fit on rank(control), with the
    two-sided p-value of ``t = r sqrt((n - 3) / (1 - r^2))`` on ``n - 3`` degrees of freedom
    (Conover, *Practical Nonparametric Statistics*, 3rd ed., 1999, sec. 5.4).  Returns
    ``(rho, p, n)``; rho is None below 4 points or when a residual is constant.

    Examples
    --------
    >>> r, p, n = partial_rank_correlation([1, 2, 3, 4, 5], [2, 1, 4, 3, 5], [1, 2, 3, 4, 5])
    >>> n
    5
    """
    from scipy.stats import rankdata, t

    x, y, z = (np.asarray(v, dtype=np.float64) for v in (x, y, control))
    n = len(x)
    if n < 4:
        return None, None, n
    design = np.column_stack([np.ones(n), rankdata(z)])

    def residual(v):
        ranks = rankdata(v)
        return ranks - design @ np.linalg.lstsq(design, ranks, rcond=None)[0]

    rx, ry = residual(x), residual(y)
    norm = math.sqrt(float(rx @ rx) * float(ry @ ry))
    if norm < 1e-12:
        return None, None, n
    r = max(-1.0, min(1.0, float(rx @ ry) / norm))
    if abs(r) == 1.0:
        return r, 0.0, n
    stat = r * math.sqrt((n - 3) / (1 - r * r))
    return r, float(2 * t.sf(abs(stat), n - 3)), n


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
    (across methods and seeds).  ``rho`` and ``p_value``: :func:`stratified_rank_correlation`
    with the sparsities as strata.  ``n`` counts the runs in strata of at least 2 runs.
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


# --------------------------------------------------------------------------- paired tests


def bootstrap_ci(values, *, level: float = 0.95, resamples: int = BOOTSTRAPS,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean of ``values`` (``resamples`` resamples with
    replacement from ``seed``; Efron and Tibshirani 1993, ch. 13).

    Examples
    --------
    >>> lo, hi = bootstrap_ci([1.0, 2.0, 3.0, 4.0])
    >>> 1.0 <= lo < 2.5 < hi <= 4.0
    True
    """
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        raise ValueError("bootstrap_ci needs at least one value")
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, v.size, size=(resamples, v.size))].mean(axis=1)
    tail = (1 - level) / 2
    lo, hi = np.quantile(means, [tail, 1 - tail])
    return float(lo), float(hi)


@dataclass(frozen=True)
class PairedTest:
    """Condition ``a`` minus condition ``b`` over ``n`` pairs (seeds).

    ``mean``/``median``: of the differences; ``ci``: percentile bootstrap 95% CI of the mean;
    ``p_value``: two-sided Wilcoxon signed-rank (exact for n <= 50 without ties or zeros,
    :func:`scipy.stats.wilcoxon`); ``rank_biserial``: the matched-pairs rank-biserial
    correlation ``(W+ - W-) / (W+ + W-)`` (Kerby 2014), in [-1, 1]; ``dz``: Cohen's d_z,
    mean / sd of the differences (None when sd is 0).
    """

    a: str
    b: str
    n: int
    mean: float
    median: float
    sd: float | None
    ci_low: float
    ci_high: float
    statistic: float | None
    p_value: float | None
    rank_biserial: float | None
    dz: float | None

    def to_dict(self) -> dict:
        return asdict(self)


def paired_test(a, b, *, names: tuple[str, str] = ("a", "b"), resamples: int = BOOTSTRAPS,
                seed: int = 0) -> PairedTest:
    """:class:`PairedTest` of ``a - b`` (equal-length sequences, element i of both from seed i).

    Examples
    --------
    >>> t = paired_test([0.9, 0.8, 0.85, 0.7, 0.95, 0.9], [0.8, 0.7, 0.8, 0.6, 0.9, 0.85])
    >>> t.n, round(t.mean, 3), t.rank_biserial
    (6, 0.075, 1.0)
    """
    from scipy.stats import rankdata, wilcoxon

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired_test needs two 1-D sequences of equal length, got {a.shape} and {b.shape}")
    d = a - b
    n = int(d.size)
    if n == 0:
        raise ValueError("paired_test needs at least one pair")
    sd = float(np.std(d, ddof=1)) if n > 1 else None
    lo, hi = bootstrap_ci(d, resamples=resamples, seed=seed)
    nonzero = d[d != 0]
    statistic = p = rb = None
    if nonzero.size:
        ranks = rankdata(np.abs(nonzero))
        plus, minus = float(ranks[nonzero > 0].sum()), float(ranks[nonzero < 0].sum())
        rb = (plus - minus) / (plus + minus)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = wilcoxon(d, zero_method="wilcox", alternative="two-sided")
        statistic, p = float(result.statistic), float(result.pvalue)
    dz = float(d.mean() / sd) if sd else None
    return PairedTest(names[0], names[1], n, float(d.mean()), float(np.median(d)), sd, lo, hi, statistic, p, rb, dz)


# --------------------------------------------------------------------------- multiple testing, power


def holm(p_values) -> list[float]:
    """Holm's step-down adjusted p-values (Holm 1979), in the input order.

    With the m p-values sorted ascending, ``p_(1) <= ... <= p_(m)``, the adjusted value of the
    i-th is ``max_{j <= i} min(1, (m - j + 1) p_(j))``.  Rejecting where the adjusted p is
    below alpha controls the family-wise error rate at alpha.  None entries stay None and do
    not count in m.

    Examples
    --------
    >>> holm([0.01, 0.04, 0.03])
    [0.03, 0.06, 0.06]
    """
    indexed = [(p, i) for i, p in enumerate(p_values) if p is not None]
    m = len(indexed)
    out: list = [None] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(sorted(indexed)):
        running = max(running, min(1.0, (m - rank) * float(p)))
        out[i] = running
    return out


def minimum_detectable_effect(n: int, *, alpha: float = 0.05, power: float = 0.8) -> float | None:
    """The smallest standardised paired difference ``d_z = mean / sd`` that a two-sided paired
    t-test at level ``alpha`` detects with probability ``power`` at ``n`` pairs (solved exactly
    with the noncentral t distribution, noncentrality ``d_z sqrt(n)``, n - 1 degrees of
    freedom).  Multiply by the sd of the differences for the effect in the data's units; the
    Wilcoxon test needs about ``pi / 3`` times more pairs for the same power under normality.
    None below 2 pairs.

    Examples
    --------
    >>> round(minimum_detectable_effect(10), 1)
    1.0
    """
    from scipy.optimize import brentq
    from scipy.stats import nct, t

    if n < 2:
        return None
    df = n - 1
    crit = float(t.ppf(1 - alpha / 2, df))

    def shortfall(dz):
        nc = dz * math.sqrt(n)
        reached = float(nct.sf(crit, df, nc) + nct.cdf(-crit, df, nc))
        return (1.0 if math.isnan(reached) else reached) - power  # nan: far in the tail, power ~ 1

    return float(brentq(shortfall, 1e-9, 50.0))


__all__ = ["BOOTSTRAPS", "MEASURES", "PERMUTATIONS", "PairedTest", "RankCorrelation",
           "SparsityCorrelation", "WithinSparsityCorrelation", "block_rank_correlation", "bootstrap_ci",
           "holm", "minimum_detectable_effect", "paired_test", "partial_rank_correlation",
           "rank_correlations", "spearman", "stratified_rank_correlation", "within_sparsity_correlations"]
