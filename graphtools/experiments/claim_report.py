"""The report of a claim test (:mod:`graphtools.experiments.claim`): masks, accuracies, paired
seed-level tests, correlations held within sparsity and within method, Holm over every p-value
printed, and the smallest effect the number of seeds can detect.

Differences are in accuracy points (percent).  Every p-value the report prints is in one Holm
family whose size is printed; "Holm p" is the adjusted value.  Correlations are never pooled
across models or arms.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from graphtools.errors import GraphtoolsError
from graphtools.experiments.records import number, ordered, sparsity_key
from graphtools.experiments.stats import (
    PairedTest, block_rank_correlation, holm, minimum_detectable_effect, paired_test,
)

#: Masks built from the dense parent of a claim test (:mod:`graphtools.experiments.claim`).
MASKS = ("magnitude", "expander", "poor")
#: (a, b) of every paired comparison within a model, arm and sparsity.
CONTRASTS = (("expander", "poor"), ("expander", "magnitude"), ("poor", "magnitude"))
#: Graph measures correlated with accuracy: per-matrix mean (W_ih, W_hh), step layer, unfolded graph.
CORRELATION_MEASURES = ("spectral_gap", "step_spectral_gap", "unfolded_eigengap")
#: The tested family (p-values printed, Holm-adjusted together): the claim's contrast expander - poor,
#: the extras (array-code - magnitude, ih-only - hh-only) and the layerwise spectral gap's correlations.
#: The other contrasts and measures are shown with effect sizes and CIs only.  The family is kept small
#: because an exact Wilcoxon test on n pairs cannot give p below 2 / 2^n (0.002 at 10 seeds).
TESTED_CONTRASTS = (("expander", "poor"), ("array-code", "magnitude"), ("ih-only", "hh-only"))
TESTED_MEASURES = ("spectral_gap",)


def _measure(record: dict, name: str) -> float | None:
    if name == "unfolded_eigengap":
        return number((record.get("unfolded") or {}).get("eigengap"))
    return number((record.get("summary") or {}).get(name))


def _layer(record: dict, kind: str) -> dict | None:
    for layer in record.get("layers") or ():
        if layer.get("kind") == kind:
            return layer
    return None


@dataclass(frozen=True)
class Comparison:
    model: str
    arm: str
    sparsity: float
    test: PairedTest
    seeds: tuple[int, ...]

    @property
    def tested(self) -> bool:
        return (self.test.a, self.test.b) in TESTED_CONTRASTS


@dataclass(frozen=True)
class Correlation:
    model: str
    arm: str
    measure: str
    held: str  # "sparsity" (blocks: seed x sparsity) or "method" (blocks: mask x sparsity)
    rho: float | None
    p_value: float | None
    n: int

    @property
    def tested(self) -> bool:
        return self.measure in TESTED_MEASURES


def ok_records(records) -> list[dict]:
    """The completed claim runs, the last record of each key (a dense parent rerun after its
    checkpoint was lost appends a second record)."""
    last = {r.get("key"): r for r in records}
    return [r for r in last.values() if r.get("status") == "ok" and "arm" in r]


def _by(records, **fields) -> dict[int, dict]:
    """``{seed: record}`` of the records whose fields equal ``fields``."""
    return {r["seed"]: r for r in records
            if all((sparsity_key(r[k]) if k == "sparsity" else r.get(k)) == v for k, v in fields.items())}


def comparisons(records, *, resamples: int = 10000) -> list[Comparison]:
    """Paired tests (seed = pair) of accuracy in points: every contrast of :data:`CONTRASTS` per
    model, arm and sparsity, then the extras (array-code vs magnitude from scratch, W_ih-only vs
    W_hh-only fine-tuned), where both sides exist for at least 2 seeds."""
    runs = ok_records(records)
    out = []
    for model in ordered(r["model"] for r in runs):
        mine = [r for r in runs if r["model"] == model]
        sparsities = sorted({sparsity_key(r["sparsity"]) for r in mine if r["arm"] != "dense"})
        pairs = [(arm, s, a, b) for arm in ("finetune", "scratch") for s in sparsities for a, b in CONTRASTS]
        pairs += [("scratch", s, "array-code", "magnitude") for s in sparsities]
        pairs += [("finetune", s, "ih-only", "hh-only") for s in sparsities]
        for arm, s, a, b in pairs:
            ra, rb = _by(mine, arm=arm, sparsity=s, mask=a), _by(mine, arm=arm, sparsity=s, mask=b)
            seeds = tuple(sorted(set(ra) & set(rb)))
            if len(seeds) < 2:
                continue
            test = paired_test([100 * ra[k]["accuracy"] for k in seeds], [100 * rb[k]["accuracy"] for k in seeds],
                               names=(a, b), resamples=resamples)
            out.append(Comparison(model, arm, s, test, seeds))
    return out


def correlations(records, measures=CORRELATION_MEASURES, *, permutations: int = 9999) -> list[Correlation]:
    """Per model and arm (never pooled), the rank correlation of each measure with accuracy over
    the three masks of :data:`MASKS`: held within sparsity (blocks seed x sparsity: the three
    masks of one parent compared with each other; seed-clustered) and within method (blocks
    mask x sparsity: seeds compared within one kind of mask)."""
    runs = [r for r in ok_records(records) if r.get("mask") in MASKS]
    out = []
    for model in ordered(r["model"] for r in runs):
        for arm in ("finetune", "scratch"):
            mine = [r for r in runs if r["model"] == model and r["arm"] == arm]
            for measure in measures:
                points = [(r, _measure(r, measure)) for r in mine]
                points = [(r, x) for r, x in points if x is not None]
                if len(points) < 4:
                    continue
                x = [v for _, v in points]
                y = [r["accuracy"] for r, _ in points]
                for held, block in (("sparsity", lambda r: (r["seed"], sparsity_key(r["sparsity"]))),
                                    ("method", lambda r: (r["mask"], sparsity_key(r["sparsity"])))):
                    rho, p, n = block_rank_correlation(x, y, [block(r) for r, _ in points], permutations=permutations)
                    out.append(Correlation(model, arm, measure, held, rho, p, n))
    return out


def holm_family(comps: list[Comparison], corrs: list[Correlation]) -> tuple[list, list, int]:
    """Holm-adjusted p-values of the tested family (:data:`TESTED_CONTRASTS`,
    :data:`TESTED_MEASURES`) as ``(per comparison, per correlation, family size)``; None
    for members outside the family or without a p-value."""
    pvals = [c.test.p_value if c.tested else None for c in comps] + [c.p_value if c.tested else None for c in corrs]
    adjusted = holm(pvals)
    return adjusted[:len(comps)], adjusted[len(comps):], sum(p is not None for p in pvals)


def _f(value, digits=2, signed=False) -> str:
    if value is None:
        return "–"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def _p(value) -> str:
    return "–" if value is None else (f"{value:.1e}" if value < 1e-3 else f"{value:.3f}")


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def _mask_rows(runs) -> list[str]:
    lines = ["## Masks", "",
             "Per model, sparsity and mask, over the fine-tune arm's runs: reached sparsity, mean σ2 of the 0/1 "
             "graphs, and how many seeds are Ramanujan under the average-degree bound (avg) and the "
             "universal-cover bound (cover) for W_ih, W_hh and the step layer [U_ih | U_hh]; degrees: seeds whose "
             "rewired masks kept every row and column degree of the magnitude mask; swaps: mean double-edge swaps "
             "made (each moves 2 edges of the magnitude mask) of the steps tried.", "",
             "| model | sparsity | mask | seeds | reached | σ2 W_ih | σ2 W_hh | σ2 step | W_ih avg/cover "
             "| W_hh avg/cover | step avg/cover | unfolded eigengap | degrees kept | swaps W_ih / W_hh |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    mine = [r for r in runs if r["arm"] == "finetune" and r["mask"] in MASKS]
    for model in ordered(r["model"] for r in mine):
        for s in sorted({sparsity_key(r["sparsity"]) for r in mine if r["model"] == model}):
            for mask in MASKS:
                group = [r for r in mine if r["model"] == model and sparsity_key(r["sparsity"]) == s and r["mask"] == mask]
                if not group:
                    continue
                cells = []
                for kind in ("ih", "hh", "step"):
                    cells.append(_f(_mean([(_layer(r, kind) or {}).get("sigma2") for r in group])))
                flags = []
                for kind in ("ih", "hh", "step"):
                    layers = [_layer(r, kind) or {} for r in group]
                    flags.append(f"{sum(l.get('is_ramanujan') is True for l in layers)}/"
                                 f"{sum(l.get('is_ramanujan_cover') is True for l in layers)}")
                kept = "–" if mask == "magnitude" else f"{sum(r.get('degrees_match_magnitude') is True for r in group)}/{len(group)}"
                swaps = "–"
                if mask != "magnitude":
                    per = [[v["swaps"] for k, v in sorted((r.get("rewire") or {}).items()) if ("_ih_" in k) == ih]
                           for r in group for ih in (True, False)]
                    ih_swaps = [x for i, xs in enumerate(per) if i % 2 == 0 for x in xs]
                    hh_swaps = [x for i, xs in enumerate(per) if i % 2 == 1 for x in xs]
                    steps = [v["steps"] for r in group for v in (r.get("rewire") or {}).values()]
                    swaps = f"{_f(_mean(ih_swaps), 0)} / {_f(_mean(hh_swaps), 0)} of {max(steps) if steps else '–'}"
                lines.append(f"| {model} | {s:g} | {mask} | {len(group)} | "
                             f"{_f(_mean([r['actual_sparsity'] for r in group]), 3)} | " + " | ".join(cells) + " | "
                             + " | ".join(flags) + f" | {_f(_mean([_measure(r, 'unfolded_eigengap') for r in group]), 3)}"
                             f" | {kept} | {swaps} |")
    return lines + [""]


def _accuracy_rows(runs) -> list[str]:
    lines = ["## Accuracy", "", "Test accuracy %, mean ± sd over seeds (n seeds).", "",
             "| model | arm | sparsity | mask | n | accuracy % | before fine-tuning % |", "|---|---|---|---|---|---|---|"]
    for model in ordered(r["model"] for r in runs):
        mine = [r for r in runs if r["model"] == model]
        dense = [100 * r["accuracy"] for r in mine if r["arm"] == "dense"]
        if dense:
            lines.append(f"| {model} | dense parent | 0 | – | {len(dense)} | {np.mean(dense):.2f} ± "
                         f"{np.std(dense, ddof=1) if len(dense) > 1 else 0:.2f} | – |")
        keys = ordered((r["arm"], sparsity_key(r["sparsity"]), r["mask"]) for r in mine if r["arm"] != "dense")
        for arm, s, mask in sorted(keys, key=lambda k: (k[0], k[1], (MASKS + ("array-code", "ih-only", "hh-only")).index(k[2]))):
            group = [r for r in mine if r["arm"] == arm and sparsity_key(r["sparsity"]) == s and r["mask"] == mask]
            acc = [100 * r["accuracy"] for r in group]
            before = [100 * r["accuracy_pruned"] for r in group if number(r.get("accuracy_pruned")) is not None]
            sd = np.std(acc, ddof=1) if len(acc) > 1 else 0.0
            lines.append(f"| {model} | {arm} | {s:g} | {mask} | {len(acc)} | {np.mean(acc):.2f} ± {sd:.2f} | "
                         f"{_f(_mean(before))} |")
    return lines + [""]


def is_claim(records) -> bool:
    """Whether ``records`` come from a claim test (they carry an ``arm``)."""
    return any("arm" in r for r in records)


def claim_report(records, *, resamples: int = 10000, permutations: int = 9999) -> str:
    """The Markdown report of a claim test's records (what ``graphtools report`` prints for them).

    Examples
    --------
    >>> claim_report([])
    Traceback (most recent call last):
    ...
    graphtools.errors.GraphtoolsError: no completed claim runs (records with an 'arm') to report
    """
    runs = ok_records(records)
    if not runs:
        raise GraphtoolsError("no completed claim runs (records with an 'arm') to report")
    first = runs[0]
    env = first.get("environment") or {}
    blas = "; ".join(f"{b.get('internal_api')} {b.get('version')} ({b.get('architecture')})" for b in env.get("blas") or [])
    lines = [f"# {first.get('claim', 'claim')}: degree-matched masks, paired by seed", "",
             f"Data: {first.get('data_note')}; settings: {first.get('settings')}.",
             f"Software: numpy {env.get('numpy')}, scipy {env.get('scipy')}, BLAS {blas or '–'}; CPU {env.get('cpu')}"
             f" ({env.get('cores')} cores), Python {env.get('python')}.", "",
             f"Runs: {len(runs)} completed, {sum(r.get('status') == 'infeasible' for r in records)} infeasible; "
             f"compute {sum(r.get('seconds', 0) for r in runs) / 3600:.2f} h.", ""]
    lines += _mask_rows(runs) + _accuracy_rows(runs)
    comps = comparisons(records, resamples=resamples)
    corrs = correlations(records, permutations=permutations)
    comp_adjusted, corr_adjusted, family = holm_family(comps, corrs)
    lines += ["## Paired differences (a − b, accuracy points; pairs = seeds)", "",
              f"Wilcoxon signed-rank, two-sided; Holm over all {family} p-values of this report (this table and the "
              "correlations); 95% CI: percentile bootstrap of the mean difference; r: matched-pairs rank-biserial; "
              "d_z: mean / sd of the differences. Contrasts outside the tested family (against magnitude) are "
              "shown without a p-value.", "",
              "| model | arm | sparsity | a − b | n | mean | 95% CI | median | W | p | Holm p | r | d_z |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for c, adj in zip(comps, comp_adjusted):
        t = c.test
        lines.append(f"| {c.model} | {c.arm} | {c.sparsity:g} | {t.a} − {t.b} | {t.n} | {_f(t.mean, 2, True)} | "
                     f"[{_f(t.ci_low, 2, True)}, {_f(t.ci_high, 2, True)}] | {_f(t.median, 2, True)} | "
                     f"{_f(t.statistic, 1) if c.tested else '–'} | {_p(t.p_value) if c.tested else 'not tested'} | "
                     f"{_p(adj)} | {_f(t.rank_biserial, 2, True)} | "
                     f"{_f(t.dz, 2, True)} |")
    lines += ["", "## Graph measures vs accuracy (Spearman, never pooled across models or arms)", "",
              "Over the magnitude, expander and poor runs of one model and arm. Held within sparsity: ranks "
              "compared only among the three masks of one dense parent at one sparsity (blocks seed × sparsity; "
              "permutation p shuffles within a block, so runs of one parent are never exchanged with another's). "
              "Held within method: ranks compared only among seeds of one mask kind at one sparsity. "
              "spectral_gap: mean σ1 − σ2 of W_ih and W_hh; step_spectral_gap: of [U_ih | U_hh]; "
              "unfolded_eigengap: λ1 − λ2 of the graph unfolded over 28 steps.", "",
              "| model | arm | measure | held within | n | ρ | p | Holm p |", "|---|---|---|---|---|---|---|---|"]
    for c, adj in zip(corrs, corr_adjusted):
        lines.append(f"| {c.model} | {c.arm} | {c.measure} | {c.held} | {c.n} | {_f(c.rho, 2, True)} | "
                     f"{_p(c.p_value) if c.tested else 'not tested'} | {_p(adj)} |")
    lines += ["", "## Smallest detectable effect", "",
              "Two-sided paired test, power 0.8, at the largest number of pairs of a model and arm: d_z at alpha = "
              f"0.05 and at the Holm worst case alpha = 0.05 / {max(family, 1)}; in points: d_z times the median sd "
              "of that model and arm's paired differences (the Wilcoxon test needs about π/3 times more pairs "
              "under normality). An exact Wilcoxon test on n pairs cannot give p below 2 / 2^n.", "",
              "| model | arm | pairs | smallest Wilcoxon p | d_z (0.05) | points | d_z (Holm) | points |",
              "|---|---|---|---|---|---|---|---|"]
    for model in ordered(c.model for c in comps):
        for arm in ordered(c.arm for c in comps if c.model == model):
            mine = [c for c in comps if c.model == model and c.arm == arm and c.test.sd is not None]
            if not mine:
                continue
            n = max(c.test.n for c in mine)
            sd = float(np.median([c.test.sd for c in mine if c.test.n == n]))
            d1 = minimum_detectable_effect(n)
            d2 = minimum_detectable_effect(n, alpha=0.05 / max(family, 1))
            lines.append(f"| {model} | {arm} | {n} | {_p(2 / 2 ** n)} | {_f(d1)} | {_f(d1 * sd)} | {_f(d2)} | "
                         f"{_f(d2 * sd)} |")
    return "\n".join(lines) + "\n"


__all__ = ["CONTRASTS", "CORRELATION_MEASURES", "TESTED_CONTRASTS", "TESTED_MEASURES", "Comparison", "Correlation",
           "claim_report", "comparisons", "correlations", "holm_family", "is_claim"]
