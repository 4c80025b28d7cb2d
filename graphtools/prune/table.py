"""The before/after table ``graphtools prune`` prints."""

from __future__ import annotations

from graphtools.prune.report import PruneReport
from graphtools.text import aligned_table, format_number


def _yes(value) -> str:
    return "-" if value is None else ("yes" if value else "no")


def _fitted_verdict(after) -> str:
    """Whether the fitted array-code mask passed the Ramanujan tests (cropping can break it)."""
    if after.ramanujan_bound is None:
        return "; fitted mask: no Ramanujan bound"
    text = (f"; fitted mask {'is' if after.is_ramanujan else 'is NOT'} Ramanujan (sigma2 {after.sigma2:.4g} "
            f"{'<=' if after.is_ramanujan else '>'} bound {after.ramanujan_bound:.4g}")
    if after.cover_bound is not None:
        text += f"; cover bound {after.cover_bound:.4g}: {'yes' if after.is_ramanujan_cover else 'no'}"
    return text + ")"


def render_prune_table(report: PruneReport, source: str = "", output: str = "") -> str:
    """The before/after table of ``graphtools prune``: per matrix (and gate block) density,
    sigma2, the bound after and the Ramanujan check before and after; then where
    ramanujan-guard stopped each matrix, or how each array code was fitted.

    Parameters
    ----------
    report : PruneReport
        What :func:`prune_state` or :func:`prune_file` returned.
    source, output : str
        The file names for the first line (``pruned SOURCE -> OUTPUT: ...``); empty for none.

    Returns
    -------
    str
        The table, ending with a newline.

    Examples
    --------
    >>> import numpy as np
    >>> from graphtools.prune import prune_state
    >>> _, _, report = prune_state({"rnn.weight_hh_l0": np.ones((4, 4)), "rnn.weight_ih_l0": np.ones((4, 2))},
    ...                            method="random", sparsity=0.5, seed=3)
    >>> print(render_prune_table(report, "in.npz", "out.npz").splitlines()[0])
    pruned in.npz -> out.npz: method random, sparsity 0.5, scope layer, seed 3
    """
    settings = f"method {report.method}, sparsity {report.sparsity:g}, scope {report.scope}"
    if report.method in ("random", "biregular"):
        settings += f", seed {report.seed}"
    if report.method == "ramanujan-guard":
        settings += f", {report.rounds} round(s)"
    if report.target is not None:
        settings += f", target {report.target}, seed {report.seed}"
    if report.per_gate:
        settings += ", per gate"
    lines = [f"pruned {source} -> {output}: {settings}" if source else f"pruned: {settings}", ""]
    header = ("name", "gate", "shape", "density", "-> after", "sigma2", "-> after", "bound after",
              "ramanujan", "-> after", "cover after", "cover ram.", "-> after")
    rows = []
    for m in report.matrices:
        rows.append((m.name, m.gate or "-", f"{m.shape[0]}x{m.shape[1]}", format_number(m.before.density, 4),
                     format_number(m.after.density, 4), format_number(m.before.sigma2), format_number(m.after.sigma2),
                     format_number(m.after.ramanujan_bound), _yes(m.before.is_ramanujan), _yes(m.after.is_ramanujan),
                     format_number(m.after.cover_bound), _yes(m.before.is_ramanujan_cover),
                     _yes(m.after.is_ramanujan_cover)))
    lines += aligned_table(header, rows, left=2)
    notes = []
    for m in report.matrices:
        label = m.name + (f" gate {m.gate}" if m.gate else "")
        if m.kept_zeros:
            own = (m.after.nnz - m.kept_zeros) / (m.shape[0] * m.shape[1])
            notes.append(f"{label}: the mask keeps {m.kept_zeros} weight(s) that are already zero; until training "
                         f"moves them, the weights' own graph has density {own:.4f}")
        if m.guard is not None:
            notes.append(f"{label}: stopped after round {m.guard.round} of {m.guard.rounds}: {m.guard.reason}")
        if m.rewire is not None:
            w = m.rewire
            notes.append(f"{label}: rewired ({w.target}): {w.swaps} swap(s) in {w.steps} step(s), degrees kept; "
                         f"sigma2 {w.sigma2_start:.6g} -> {w.sigma2_reached:.6g}")
        if m.array_code is not None:
            a = m.array_code
            copies = f"{a.copies:.4g} cop{'y' if a.copies == 1 else 'ies'} of the {a.q * a.q} lines on the {a.lines}"
            notes.append(
                f"{label}: q = {a.q}, l = {a.l}, {copies}; degree spread in {a.in_spread}, out {a.out_spread}"
                + (" (biregular" + (", exactly the array code)" if a.exact else ")") if a.biregular else "")
                + _fitted_verdict(m.after)
            )
    if notes:
        lines += [""] + notes
    return "\n".join(lines) + "\n"
