"""graphtools.experiments.stats on synthetic data with known answers: a planted effect is found,
a null is not (at about the nominal rate), Holm adjusts exactly as defined, clustering is respected."""

import math

import numpy as np
import pytest

from graphtools.experiments.stats import (
    block_rank_correlation, bootstrap_ci, holm, minimum_detectable_effect, paired_test, partial_rank_correlation,
    spearman,
)


def test_holm_matches_hand_computed_values():
    # sorted p: 0.01 0.02 0.03 0.04 0.2 (m = 5); (m - i) p: 0.05 0.08 0.09 0.08 0.2; running max: 0.05 0.08 0.09 0.09 0.2
    assert holm([0.04, 0.2, 0.01, 0.03, 0.02]) == pytest.approx([0.09, 0.2, 0.05, 0.09, 0.08])
    # capped at 1, None kept and not counted (m = 2)
    assert holm([0.6, None, 0.01]) == pytest.approx([0.6, None, 0.02]) and holm([0.6, None, 0.01])[1] is None
    assert holm([0.7, 0.8]) == pytest.approx([1.0, 1.0])
    assert holm([]) == []


def test_holm_is_never_below_the_raw_p_and_keeps_the_order():
    rng = np.random.default_rng(3)
    p = rng.uniform(0, 0.2, 30).tolist()
    adjusted = holm(p)
    assert all(a >= q for a, q in zip(adjusted, p))
    order = np.argsort(p)
    assert np.all(np.diff(np.asarray(adjusted)[order]) >= 0)


def test_a_planted_paired_effect_is_found():
    rng = np.random.default_rng(0)
    base = rng.normal(0.9, 0.02, 12)  # per-seed parent quality, shared by both conditions
    better = base + 0.01 + rng.normal(0, 0.003, 12)
    t = paired_test(better, base, names=("expander", "poor"))
    assert (t.a, t.b, t.n) == ("expander", "poor", 12)
    assert t.p_value < 0.001 and t.rank_biserial == 1.0  # every seed improves: W- = 0
    assert t.ci_low > 0 and t.ci_low < 0.01 < t.ci_high
    assert t.dz == pytest.approx(t.mean / t.sd)
    assert t.mean == pytest.approx(float(np.mean(better - base)))


def test_a_null_paired_effect_is_rejected_at_about_the_nominal_rate():
    rng = np.random.default_rng(1)
    rejected = 0
    trials = 300
    for _ in range(trials):
        base = rng.normal(0.9, 0.02, 10)
        p = paired_test(base + rng.normal(0, 0.01, 10), base + rng.normal(0, 0.01, 10), resamples=200).p_value
        rejected += p < 0.05
    assert 0.01 <= rejected / trials <= 0.09  # exact Wilcoxon at n = 10: size 0.049


def test_paired_test_with_identical_conditions_has_no_p_value():
    t = paired_test([0.5, 0.6, 0.7], [0.5, 0.6, 0.7], resamples=100)
    assert t.p_value is None and t.rank_biserial is None and t.dz is None and t.mean == 0.0
    with pytest.raises(ValueError, match="equal length"):
        paired_test([1.0, 2.0], [1.0])


def test_bootstrap_ci_covers_the_mean_of_a_sample():
    values = np.random.default_rng(2).normal(5.0, 1.0, 40)
    lo, hi = bootstrap_ci(values, resamples=2000)
    assert lo < values.mean() < hi
    half = 1.96 * values.std(ddof=1) / math.sqrt(40)  # the normal-theory half-width
    assert hi - lo == pytest.approx(2 * half, rel=0.2)


def test_block_correlation_finds_a_within_seed_effect_hidden_by_the_seeds():
    rng = np.random.default_rng(4)
    seeds = np.repeat(np.arange(10), 6)
    parent = rng.normal(0, 1, 10)[seeds]  # seed effect: raises x, lowers y strongly
    x = parent + rng.normal(0, 0.3, seeds.size)
    y = -5 * parent + 0.5 * x + rng.normal(0, 0.1, seeds.size)
    pooled, _ = spearman(x.tolist(), y.tolist())
    assert pooled < -0.5  # pooled over seeds: the confound wins
    rho, p, n = block_rank_correlation(x, y, seeds.tolist(), permutations=999)
    assert n == 60 and rho > 0.6 and p < 0.01


def test_block_correlation_does_not_call_a_seed_level_association_significant():
    rng = np.random.default_rng(5)
    seeds = np.repeat(np.arange(10), 6)
    parent = rng.normal(0, 1, 10)[seeds]
    x = parent + rng.normal(0, 0.3, seeds.size)  # x and y share only the parent
    y = parent + rng.normal(0, 0.3, seeds.size)
    assert spearman(x.tolist(), y.tolist())[1] < 1e-6  # the naive test is fooled by the clustering
    rho, p, n = block_rank_correlation(x, y, seeds.tolist(), permutations=999)
    assert p > 0.05 and abs(rho) < 0.3


def test_partial_correlation_removes_the_control():
    rng = np.random.default_rng(6)
    z = rng.uniform(0, 1, 80)  # e.g. sparsity
    x = z + rng.normal(0, 0.05, 80)
    y = -z + rng.normal(0, 0.05, 80)  # x and y depend on z only
    assert spearman(x.tolist(), y.tolist())[0] < -0.8
    r, p, n = partial_rank_correlation(x, y, z)
    assert n == 80 and abs(r) < 0.3 and p > 0.01


def test_minimum_detectable_effect_has_the_stated_power():
    n = 10
    dz = minimum_detectable_effect(n)
    assert minimum_detectable_effect(40) < dz < minimum_detectable_effect(5)
    from scipy.stats import ttest_1samp

    d = np.random.default_rng(7).normal(dz, 1.0, (4000, n))
    power = float(np.mean(ttest_1samp(d, 0.0, axis=1).pvalue < 0.05))
    assert power == pytest.approx(0.8, abs=0.03)
    assert minimum_detectable_effect(1) is None


def _sweep_record(method, sparsity, seed, accuracy, gap, reached=None):
    return {"key": f"m/{method}/{sparsity}/seed{seed}", "model": "m", "method": method, "sparsity": sparsity,
            "seed": seed, "status": "ok", "accuracy": accuracy, "actual_sparsity": sparsity if reached is None else reached,
            "summary": {"spectral_gap": gap}, "layers": []}


def test_sweep_report_separates_a_pure_sparsity_effect():
    from graphtools.experiments.tables import correlation_rows, guard_vs_magnitude, render_report, sparsity_rows

    rng = np.random.default_rng(8)
    records = []
    for seed in range(3):
        for method in ("magnitude", "random"):
            for s in (0.5, 0.7, 0.9):
                # accuracy is a function of sparsity only; the gap is sparsity plus method noise
                records.append(_sweep_record(method, s, seed, 1 - 0.5 * s, 10 * (1 - s) + rng.normal(0, 0.1)))
        # the guard stops at 0.6 and 0.8: magnitude interpolated there gives exactly its accuracy
        for s, reached in ((0.7, 0.6), (0.9, 0.8)):
            records.append(_sweep_record("ramanujan-guard", s, seed, 1 - 0.5 * reached, 10 * (1 - reached), reached))
    (model, n, rho, p), = sparsity_rows(records)
    assert model == "m" and n == 24 and rho == pytest.approx(-1.0) and p < 1e-10
    (row,) = correlation_rows(records, ("spectral_gap",))
    assert row.sparsity_rho < -0.95 and row.rho > 0.95  # the gap "tracks accuracy" only through sparsity
    assert row.within_method_rho is None  # accuracy is constant within every method x sparsity stratum
    ((name, runs, mean, sd),) = guard_vs_magnitude(records)
    assert runs == 6 and mean == pytest.approx(0.0, abs=1e-9) and sd == pytest.approx(0.0, abs=1e-9)
    text = render_report(records, ("spectral_gap",))
    family = sum(v is not None for v in (row.p_value, row.within_p, row.within_exact_p, row.within_method_p,
                                          row.partial_p, row.sparsity_p, p))
    assert f"Holm-adjusted value over all {family} p-values" in text
