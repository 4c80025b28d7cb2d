"""Tables of a sweep's results (``graphtools report``): accuracy per method and sparsity, and how
well each graph measure ranks the pruned runs by accuracy."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from graphtools.errors import GraphtoolsError
from graphtools.experiments.results import read_records
from graphtools.experiments.records import completed, mean_std, number, ordered, sparsity_key
from graphtools.experiments.stats import (
    MEASURES, holm, partial_rank_correlation, rank_correlations, spearman, stratified_rank_correlation,
    within_sparsity_correlations,
)

#: Measures ranked against accuracy by default (``summary`` keys of a record).
DEFAULT_MEASURES = ("spectral_gap", "normalized_gap", "ramanujan_gap", "weighted_spectral_gap",
                    "step_normalized_gap")
#: Methods that prune to exactly the requested sparsity (ramanujan-guard may stop before it).
EXACT_METHODS = ("magnitude", "random", "biregular")


@dataclass(frozen=True)
class AccuracyRow:
    """One model, method and requested sparsity, over its seeds (accuracies as fractions)."""

    model: str
    method: str
    sparsity: float
    n: int
    accuracy: float
    accuracy_std: float | None
    accuracy_pruned: float | None  # before fine-tuning
    actual_sparsity: float
    ramanujan_runs: int  # runs whose every pruned layer is Ramanujan
    ramanujan_gap: float | None  # mean of the runs' smallest Ramanujan gap


def accuracy_rows(records: list[dict]) -> list[AccuracyRow]:
    """Rows by model, method (dense first) and sparsity, of the completed runs."""
    groups: dict[tuple, list[dict]] = {}
    records = completed(records)
    for r in records:
        groups.setdefault((r["model"], r["method"], sparsity_key(r["sparsity"])), []).append(r)
    models = ordered(r["model"] for r in records)
    methods = ordered(r["method"] for r in records)
    rows = []
    for key in sorted(groups, key=lambda k: (models.index(k[0]), methods.index(k[1]), k[2])):
        runs = groups[key]
        accuracy, std, n = mean_std([r["accuracy"] for r in runs])
        before = [r["accuracy_pruned"] for r in runs if number(r.get("accuracy_pruned")) is not None]
        gaps = [r["summary"]["ramanujan_gap"] for r in runs if number(r["summary"].get("ramanujan_gap")) is not None]
        rows.append(AccuracyRow(*key, n, accuracy, std, float(np.mean(before)) if before else None,
                                float(np.mean([r["actual_sparsity"] for r in runs])),
                                sum(r["summary"].get("all_ramanujan") is True for r in runs),
                                float(np.mean(gaps)) if gaps else None))
    return rows


@dataclass(frozen=True)
class CorrelationRow:
    """How a measure ranks one model's pruned runs by accuracy: overall (Spearman), within each
    requested sparsity (all methods, and the exact-sparsity methods only), and given the
    actual sparsity (partial Spearman)."""

    model: str
    measure: str
    n: int
    rho: float | None
    p_value: float | None
    within_rho: float | None
    within_p: float | None
    within_exact_rho: float | None
    within_exact_p: float | None
    partial_rho: float | None
    partial_p: float | None
    within_method_rho: float | None = None  # strata: method x requested sparsity
    within_method_p: float | None = None
    sparsity_rho: float | None = None  # the measure against the sparsity reached
    sparsity_p: float | None = None


def correlation_rows(records: list[dict], measures=DEFAULT_MEASURES) -> list[CorrelationRow]:
    """One row per model and measure (pruned runs only)."""
    rows = []
    pruned = [r for r in completed(records) if r["method"] != "dense"]
    exact = [r for r in pruned if r["method"] in EXACT_METHODS]
    for model in ordered(r["model"] for r in pruned):
        mine = [r for r in pruned if r["model"] == model]
        for measure in measures:
            (overall,) = rank_correlations(mine, measure, by=()) or [None]
            within = within_sparsity_correlations(mine, measure, by=())
            within_exact = within_sparsity_correlations([r for r in exact if r["model"] == model], measure, by=())
            usable = [r for r in mine if number(r["summary"].get(measure)) is not None]
            partial = partial_rank_correlation([r["summary"][measure] for r in usable],
                                               [r["accuracy"] for r in usable],
                                               [r["actual_sparsity"] for r in usable])
            strata: dict = {}
            for r in usable:
                xs, ys = strata.setdefault((r["method"], sparsity_key(r["sparsity"])), ([], []))
                xs.append(r["summary"][measure])
                ys.append(r["accuracy"])
            by_method = stratified_rank_correlation(list(strata.values()))
            proxy = spearman([r["summary"][measure] for r in usable], [r["actual_sparsity"] for r in usable])
            rows.append(CorrelationRow(
                model, measure, overall.n if overall else 0, overall and overall.rho, overall and overall.p_value,
                within[0].rho if within else None, within[0].p_value if within else None,
                within_exact[0].rho if within_exact else None,
                within_exact[0].p_value if within_exact else None, partial[0], partial[1],
                by_method[0], by_method[1], proxy[0], proxy[1]))
    return rows


def sparsity_rows(records: list[dict]) -> list[tuple[str, int, float | None, float | None]]:
    """Per model ``(model, n, rho, p)``: Spearman's rho of the sparsity reached with accuracy over
    the pruned runs (how much sparsity alone ranks them)."""
    pruned = [r for r in completed(records) if r["method"] != "dense"]
    out = []
    for model in ordered(r["model"] for r in pruned):
        mine = [r for r in pruned if r["model"] == model]
        out.append((model, len(mine), *spearman([r["actual_sparsity"] for r in mine], [r["accuracy"] for r in mine])))
    return out


def guard_vs_magnitude(records: list[dict]) -> list[tuple[str, int, float, float | None]]:
    """Per model ``(model, n, mean, sd)`` of ramanujan-guard's accuracy minus magnitude's at the
    sparsity the guard reached, in points: for each guard run, the magnitude runs of the same
    seed interpolated linearly in sparsity between the two requests that bracket it (runs
    outside the requested range are left out)."""
    runs = completed(records)
    out = []
    for model in ordered(r["model"] for r in runs):
        diffs = []
        for g in (r for r in runs if r["model"] == model and r["method"] == "ramanujan-guard"):
            mag = sorted((r["actual_sparsity"], r["accuracy"]) for r in runs
                         if r["model"] == model and r["method"] == "magnitude" and r["seed"] == g["seed"])
            xs = [x for x, _ in mag]
            if len(mag) >= 2 and xs[0] <= g["actual_sparsity"] <= xs[-1]:
                diffs.append(100 * (g["accuracy"] - float(np.interp(g["actual_sparsity"], xs, [y for _, y in mag]))))
        if diffs:
            mean, sd, n = mean_std(diffs)
            out.append((model, n, mean, sd))
    return out


def ramanujan_count_lines(records: list[dict]) -> list[str]:
    """Markdown table: per model, method and sparsity, how many seeds' W_ih, W_hh and step layer
    are Ramanujan under the average-degree bound and under the universal-cover bound."""
    lines = ["| model | method | sparsity | runs | W_ih avg / cover | W_hh avg / cover | step avg / cover |",
             "|---|---|---|---|---|---|---|"]
    groups: dict = {}
    for r in completed(records):
        if r["method"] != "dense":
            groups.setdefault((r["model"], r["method"], sparsity_key(r["sparsity"])), []).append(r)
    for (model, method, s), runs in groups.items():
        cells = []
        for kind in ("ih", "hh", "step"):
            layers = [next((g for g in r.get("layers") or () if g.get("kind") == kind), {}) for r in runs]
            cover = ("n/a" if not any("is_ramanujan_cover" in g for g in layers)  # records before the cover test
                     else sum(g.get("is_ramanujan_cover") is True for g in layers))
            cells.append(f"{sum(g.get('is_ramanujan') is True for g in layers)} / {cover}")
        lines.append(f"| {model} | {method} | {s:g} | {len(runs)} | " + " | ".join(cells) + " |")
    return lines


def _num(value, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _p(value) -> str:
    return "–" if value is None else (f"{value:.1e}" if value < 1e-3 else f"{value:.3f}")


def _cell(row: AccuracyRow) -> str:
    std = "" if row.accuracy_std is None else f" ± {100 * row.accuracy_std:.2f}"
    return f"{100 * row.accuracy:.2f}{std}"


def render_accuracy_grid(records: list[dict]) -> list[str]:
    """Per model a Markdown table, methods x requested sparsities: mean accuracy % ± std over seeds,
    ``†`` when not every seed's pruned layers are all Ramanujan, the sparsity reached when it
    differs from the request by more than 0.005 (``@0.77``), ``infeasible`` where the method
    cannot reach the sparsity; the dense accuracy heads the table."""
    rows = accuracy_rows(records)
    infeasible = {(r["model"], r["method"], sparsity_key(r["sparsity"])) for r in records
                  if r.get("status") == "infeasible"}
    lines = []
    for model in ordered(r["model"] for r in records):
        mine = [r for r in rows if r.model == model]
        dense = [r for r in mine if r.method == "dense"]
        sparsities = sorted({r.sparsity for r in mine if r.method != "dense"} |
                            {s for m, _, s in infeasible if m == model})
        lines += [f"**{model}**: test accuracy %, mean ± std over seeds (dense: "
                  f"{_cell(dense[0]) if dense else '–'}); † not all layers Ramanujan; @s: sparsity reached", "",
                  "| method | " + " | ".join(f"{s:g}" for s in sparsities) + " |",
                  "|---|" + "---|" * len(sparsities)]
        methods = ordered([r.method for r in mine if r.method != "dense"] +
                          [m for mo, m, _ in sorted(infeasible) if mo == model])
        for method in methods:
            by = {r.sparsity: r for r in mine if r.method == method}
            cells = []
            for s in sparsities:
                row = by.get(s)
                if row is None:
                    cells.append("infeasible" if (model, method, s) in infeasible else "–")
                    continue
                dagger = "" if row.ramanujan_runs == row.n else " †"
                reached = f" @{row.actual_sparsity:.2f}" if abs(row.actual_sparsity - row.sparsity) > 0.005 else ""
                cells.append(f"{_cell(row)}{dagger}{reached}")
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


#: Fields every record needs for the tables (completed runs; infeasible ones need the first four).
REQUIRED = ("model", "method", "sparsity", "seed", "accuracy", "actual_sparsity", "summary")


def check_records(records: list[dict]) -> None:
    """Raise a one-line GraphtoolsError naming the first record that lacks a field the tables use."""
    for r in records:
        needed = REQUIRED if r.get("status", "ok") == "ok" else REQUIRED[:4]
        missing = [k for k in needed if k not in r]
        if missing:
            raise GraphtoolsError(f"record {r.get('key')!r} lacks {', '.join(missing)}: not a graphtools sweep record")


def render_report(records: list[dict], measures=DEFAULT_MEASURES) -> str:
    """The accuracy grid, the long accuracy table and the correlation table, as Markdown."""
    if not records:
        raise GraphtoolsError("no records: nothing to report")
    check_records(records)
    lines = render_accuracy_grid(records)
    lines += ["| model | method | sparsity | actual | runs | accuracy % (mean ± std) | before fine-tuning % "
             "| all layers Ramanujan | mean min Δr |", "|---|---|---|---|---|---|---|---|---|"]
    for row in accuracy_rows(records):
        std = "" if row.accuracy_std is None else f" ± {100 * row.accuracy_std:.2f}"
        before = "–" if row.accuracy_pruned is None else f"{100 * row.accuracy_pruned:.2f}"
        lines.append(f"| {row.model} | {row.method} | {row.sparsity:g} | {row.actual_sparsity:.3f} | {row.n} | "
                     f"{100 * row.accuracy:.2f}{std} | {before} | {row.ramanujan_runs}/{row.n} | "
                     f"{_num(row.ramanujan_gap, 2)} |")
    rows = correlation_rows(records, measures)
    proxies = sparsity_rows(records)
    fields = ("p_value", "within_p", "within_exact_p", "within_method_p", "partial_p", "sparsity_p")
    pvals = [getattr(c, f) for c in rows for f in fields] + [p for *_, p in proxies]
    adjusted = holm(pvals)
    family = sum(p is not None for p in pvals)
    adj = dict(zip(((i, f) for i in range(len(rows)) for f in fields), adjusted))

    def cell(i, field):
        value = getattr(rows[i], field)
        return f"{_p(value)} ({_p(adj[(i, field)])})"

    lines += ["", f"Rank correlations with accuracy (pruned runs of one model; never pooled across models). Each p is "
              f"followed by its Holm-adjusted value over all {family} p-values of this report. Within sparsity: strata "
              "= requested sparsity; exact methods: magnitude, random and biregular only; within method: strata = "
              "method × requested sparsity; partial: given the sparsity reached; ρ with sparsity: the measure "
              "against the sparsity reached. Permutation p-values ignore that runs of one seed share a dense "
              "parent.", "",
              "| model | measure | runs | Spearman ρ | p (Holm) | within-sparsity ρ | p (Holm) | within, exact methods ρ "
              "| p (Holm) | within method ρ | p (Holm) | partial ρ given actual sparsity | p (Holm) "
              "| ρ with sparsity | p (Holm) |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for i, c in enumerate(rows):
        lines.append(f"| {c.model} | {c.measure} | {c.n} | {_num(c.rho)} | {cell(i, 'p_value')} | {_num(c.within_rho)} | "
                     f"{cell(i, 'within_p')} | {_num(c.within_exact_rho)} | {cell(i, 'within_exact_p')} | "
                     f"{_num(c.within_method_rho)} | {cell(i, 'within_method_p')} | "
                     f"{_num(c.partial_rho)} | {cell(i, 'partial_p')} | {_num(c.sparsity_rho)} | {cell(i, 'sparsity_p')} |")
    lines += ["", "Sparsity alone: Spearman ρ of the sparsity reached with accuracy (pruned runs).", "",
              "| model | runs | ρ | p (Holm) |", "|---|---|---|---|"]
    for (model, n, rho, p), a in zip(proxies, adjusted[len(rows) * len(fields):]):
        lines.append(f"| {model} | {n} | {_num(rho)} | {_p(p)} ({_p(a)}) |")
    guard = guard_vs_magnitude(records)
    if guard:
        lines += ["", "ramanujan-guard against magnitude at the sparsity the guard reached (magnitude of the same seed "
                  "interpolated linearly between the bracketing requests), accuracy points:", "",
                  "| model | guard runs | guard − magnitude, mean ± sd |", "|---|---|---|"]
        lines += [f"| {m} | {n} | {mean:+.2f} ± {_num(sd, 2)} |" for m, n, mean, sd in guard]
    lines += ["", "Ramanujan seeds per matrix: average-degree bound / universal-cover bound (docs/measures.md; n/a: "
              "the records predate the universal-cover test).", ""]
    lines += ramanujan_count_lines(records)
    return "\n".join(lines) + "\n"


def sweep_report(results, measures=None, model: str | None = None) -> str:
    """:func:`render_report` of a results file or sweep folder (only ``model``'s runs if given);
    what ``graphtools report`` prints.  Records of a claim test
    (:mod:`graphtools.experiments.claim`) get :func:`graphtools.experiments.claim_report.claim_report`."""
    from graphtools.experiments.claim_report import claim_report, is_claim
    from graphtools.experiments.records import select_model

    records = read_records(results)
    if is_claim(records):
        if model is not None:
            records = [r for r in records if r.get("model") == model]
        return claim_report(records)
    for measure in measures or ():
        if measure not in MEASURES:
            raise GraphtoolsError(f"unknown measure {measure!r} (measures: {', '.join(MEASURES)})")
    if model is not None:
        select_model(records, model)  # an unknown model is an error naming the models
        records = [r for r in records if r.get("model") == model]  # infeasible runs included
    return render_report(records, tuple(measures) if measures else DEFAULT_MEASURES)
