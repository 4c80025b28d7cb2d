"""Graph properties as CI assertions: rules, their evaluation, and a JUnit XML report.

A rule is checked once per subject (a weight matrix, or a recurrent layer
direction for reachability) and passes or fails with the measured value:

* ``require_ramanujan``: every whole weight whose name matches one of the glob
  patterns has ``sigma_2 <= ramanujan_bound`` (``definition = "average"``, the
  default: average degrees, the paper's) or ``sigma_2 <= cover_bound``
  (``definition = "cover"``: the universal cover's spectral radius);
* ``min_spectral_gap``, ``min_normalized_gap``: ``sigma_1 - sigma_2`` and
  ``1 - sigma_2(N)`` of every selected weight are at least the threshold;
* ``max_isolated``: isolated input plus output nodes of every selected weight
  are at most the threshold;
* ``min_reachability`` with ``steps``: the fraction of (step-1 input, step-T
  hidden unit) pairs joined by a path, per recurrent layer and direction.

``select`` (glob patterns, default all) picks the weights the numeric rules
apply to.  A pattern that matches no 2-D weight matrix is an error, not a
silent pass, and so is a check that examined no matrix at all.  ``rename``,
``threshold``, ``threshold_rel`` are :func:`graphtools.loading.read_checkpoint`'s;
``module`` limits ``min_reachability`` to one recurrent module (default all).
"""

from __future__ import annotations

import fnmatch
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field, fields, replace

from graphtools.analysis import LayerReport, analyze_weight
from graphtools.errors import GraphtoolsError
from graphtools.loading import check_options, dense_note, read_checkpoint, select_modules
from graphtools.model import ModelDescription
from graphtools.recurrence import reachability, transitions
from graphtools.spectral import RAMANUJAN_DEFINITIONS
from graphtools.text import matches_glob
from graphtools.tomlfile import read_toml
from graphtools.validate import check_scalar



@dataclass(frozen=True)
class Rules:
    """Thresholds to enforce; None (or empty) leaves a rule out."""

    require_ramanujan: tuple[str, ...] = ()
    min_spectral_gap: float | None = None
    min_normalized_gap: float | None = None
    max_isolated: int | None = None
    min_reachability: float | None = None
    steps: int | None = None
    select: tuple[str, ...] = ("*",)
    rename: tuple[str, ...] = ()
    threshold: float | None = None
    threshold_rel: float | None = None
    module: str | None = None
    definition: str | None = None  # Ramanujan definition: "average" (None means it) or "cover"

    def is_empty(self) -> bool:
        return not self.require_ramanujan and all(
            getattr(self, name) is None
            for name in ("min_spectral_gap", "min_normalized_gap", "max_isolated", "min_reachability"))

    def merged(self, override: "Rules") -> "Rules":
        """These rules with every rule that ``override`` sets taking its value."""
        changes = {}
        for f in fields(Rules):
            value = getattr(override, f.name)
            if value != f.default:
                changes[f.name] = value
        return replace(self, **changes)


@dataclass(frozen=True)
class CheckResult:
    """One rule on one subject."""

    rule: str
    subject: str
    passed: bool
    measured: float | int | bool | None
    threshold: object
    detail: str


@dataclass
class CheckReport:
    checkpoint: str
    results: list[CheckResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if not r.passed]

    @property
    def passed(self) -> bool:
        return not self.failures


def _option(name: str) -> str:
    """A rule's name as users write it: the option ``--min-spectral-gap`` and the TOML key
    ``min-spectral-gap`` (``_`` is accepted in files too)."""
    return name.replace("_", "-")


def _check_values(rules: Rules) -> None:
    """GraphtoolsError for a rule value of the wrong type or out of range (named as an option)."""
    def number(name, value, low=None, high=None, integer=False):
        if value is None:
            return
        shown = _option(name)
        check_scalar(value, shown, int if integer else float)  # a (finite) number, or a whole number
        if (low is not None and value < low) or (high is not None and value > high):
            span = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise GraphtoolsError(f"{shown} must be {span}, not {value}")

    number("min_spectral_gap", rules.min_spectral_gap)
    number("min_normalized_gap", rules.min_normalized_gap, 0, 1)
    number("max_isolated", rules.max_isolated, 0, integer=True)
    number("min_reachability", rules.min_reachability, 0, 1)
    number("steps", rules.steps, 1, integer=True)
    for name in ("require_ramanujan", "select"):
        patterns = getattr(rules, name)
        if not all(isinstance(p, str) and p for p in patterns):
            raise GraphtoolsError(f"{_option(name)} must be glob patterns (strings), not {list(patterns)!r}")
    if not all(isinstance(p, str) for p in rules.rename):
        raise GraphtoolsError(f"rename must be 'REGEX=REPLACEMENT' strings, not {list(rules.rename)!r}")
    if rules.module is not None and not isinstance(rules.module, str):
        raise GraphtoolsError(f"module must be a module prefix (a string), not {rules.module!r}")


def _validated(rules: Rules) -> Rules:
    _check_values(rules)
    check_options(rename=rules.rename, threshold=rules.threshold, threshold_rel=rules.threshold_rel)
    if rules.module is not None and rules.min_reachability is None:
        raise GraphtoolsError("module (--module PREFIX) selects the module of min-reachability: give that rule too")
    if rules.definition not in (None, *RAMANUJAN_DEFINITIONS):
        raise GraphtoolsError(f"definition must be one of {', '.join(RAMANUJAN_DEFINITIONS)}, not {rules.definition!r}")
    if rules.min_reachability is not None and rules.steps is None:
        raise GraphtoolsError("min-reachability needs steps (--steps T): reachability is measured over T steps")
    if rules.is_empty():
        raise GraphtoolsError("no rules to check: give at least one rule or a --config file")
    return rules


def validate_rules(rules: Rules) -> Rules:
    """``rules`` if every threshold is in range and at least one rule is set; GraphtoolsError otherwise."""
    return _validated(rules)


def load_rules(path: str | os.PathLike) -> Rules:
    """Rules from a TOML file: a ``[check]`` table, or ``[tool.graphtools.check]`` (pyproject.toml).

    Keys are the :class:`Rules` fields, with ``-`` or ``_``; glob rules take a string or a list.
    """
    path = os.fspath(path)
    data = read_toml(path)
    table = data.get("tool", {}).get("graphtools", {}).get("check", data.get("check"))
    if not isinstance(table, dict):
        raise GraphtoolsError(f"{path}: no [check] or [tool.graphtools.check] table")
    known = {f.name for f in fields(Rules)}
    values = {}
    for key, value in table.items():
        name = key.replace("-", "_")
        if name not in known:
            raise GraphtoolsError(f"{path}: unknown rule {key!r} "
                                  f"(known: {', '.join(sorted(_option(k) for k in known))})")
        if name in ("require_ramanujan", "select", "rename"):
            value = (value,) if isinstance(value, str) else tuple(value) if isinstance(value, list) else value
        values[name] = value
    rules = Rules(**values)
    try:
        _check_values(rules)
    except GraphtoolsError as exc:
        raise GraphtoolsError(f"{path}: {exc}") from None
    return rules


def default_config(folder: str | os.PathLike = ".") -> str | None:
    """``folder/pyproject.toml`` when it has a ``[tool.graphtools.check]`` table (read by default,
    as black, ruff and pytest read theirs), else None.  A pyproject.toml that is not valid TOML is
    an error: it would otherwise be skipped silently."""
    path = os.path.join(os.fspath(folder), "pyproject.toml")
    if not os.path.isfile(path):
        return None
    table = read_toml(path).get("tool", {}).get("graphtools", {}).get("check")
    return path if table is not None else None


def ramanujan_verdict(report: LayerReport, definition: str | None) -> tuple[bool | None, float | None, str]:
    """``(is_ramanujan, bound, bound name)`` of a layer report under ``definition``."""
    if definition == "cover":
        return report.is_ramanujan_cover, report.cover_bound, "cover bound"
    return report.is_ramanujan, report.ramanujan_bound, "bound"


def _require_matches(rule: str, patterns, names: list[str]) -> None:
    for pattern in patterns:
        if not any(fnmatch.fnmatchcase(n, pattern) for n in names):
            raise GraphtoolsError(f"{rule} pattern {pattern!r} matches no 2-D weight matrix "
                                  f"(weight matrices: {', '.join(names)})")


def _at_least(rule, subject, measured, threshold, what) -> CheckResult:
    ok = measured is not None and measured >= threshold
    shown = "undefined" if measured is None else f"{measured:.6g}"
    return CheckResult(rule, subject, ok, measured, threshold, f"{what} {shown} {'>=' if ok else '<'} {threshold:g}")


def run_checks(path: str | os.PathLike, rules: Rules) -> CheckReport:
    """Evaluate ``rules`` on the checkpoint at ``path``."""
    rules = _validated(rules)
    loaded = read_checkpoint(path, rename=rules.rename, threshold=rules.threshold, threshold_rel=rules.threshold_rel)
    return check_model(loaded.model, rules, os.fspath(path), notes=loaded.notes)


def check_model(model: ModelDescription, rules: Rules, source: str, *, notes=()) -> CheckReport:
    """Evaluate ``rules`` on a described model (:func:`run_checks` for a file); ``source`` names it,
    ``notes`` (the reader's) are passed on to the report."""
    rules = _validated(rules)
    names = [w.name for w in model.weights]
    _require_matches("require-ramanujan", rules.require_ramanujan, names)
    _require_matches("select", rules.select, names)
    modules = []
    if rules.min_reachability is not None:
        if not model.modules:
            raise GraphtoolsError("min-reachability needs a recurrent layer, and the checkpoint has none")
        modules = [model.modules[i] for i in select_modules(model, rules.module)]
    reports: dict[str, LayerReport] = {}

    def measured(weight) -> LayerReport:
        if weight.name not in reports:
            reports[weight.name] = analyze_weight(weight.matrix, weight.name)
        return reports[weight.name]

    report = CheckReport(source)
    add = report.results.append
    for weight in model.weights:
        if matches_glob(weight.name, rules.require_ramanujan):
            r = measured(weight)
            verdict, bound, what = ramanujan_verdict(r, rules.definition)
            if bound is None:
                add(CheckResult("require-ramanujan", weight.name, False, None, None, "no edges: no Ramanujan bound"))
            else:
                ok = bool(verdict)
                add(CheckResult("require-ramanujan", weight.name, ok, r.sigma2, bound,
                                f"sigma2 {r.sigma2:.6g} {'<=' if ok else '>'} {what} {bound:.6g}"))
        if not matches_glob(weight.name, rules.select):
            continue
        if rules.min_spectral_gap is not None:
            add(_at_least("min-spectral-gap", weight.name, measured(weight).spectral_gap,
                          rules.min_spectral_gap, "spectral gap"))
        if rules.min_normalized_gap is not None:
            add(_at_least("min-normalized-gap", weight.name, measured(weight).normalized_gap,
                          rules.min_normalized_gap, "normalized gap"))
        if rules.max_isolated is not None:
            r = measured(weight)
            isolated = r.inputs.isolated + r.outputs.isolated
            ok = isolated <= rules.max_isolated
            add(CheckResult("max-isolated", weight.name, ok, isolated, rules.max_isolated,
                            f"isolated nodes {isolated} ({r.inputs.isolated} inputs, {r.outputs.isolated} outputs) "
                            f"{'<=' if ok else '>'} {rules.max_isolated}"))
    if rules.min_reachability is not None:
        for module in modules:
            for layer in module.layers:
                subject = (f"{module.prefix.rstrip('./') or 'rnn'} layer {layer.layer} "
                           f"{'reverse' if layer.reverse else 'forward'}")
                add(_at_least("min-reachability", subject, reachability(*transitions(layer), rules.steps),
                              rules.min_reachability, f"reachability over {rules.steps} steps"))
    if not report.results:
        raise GraphtoolsError(f"{source}: the rules examined no weight matrix, so nothing was checked")
    report.notes.extend(notes)
    note = dense_note(r.density for r in reports.values())
    if note:
        report.notes.append(note)
    return report


def junit_xml(report: CheckReport) -> str:
    """The report as JUnit XML: one ``testcase`` per rule and subject, ``failure`` when it failed."""
    failures = str(len(report.failures))
    root = ET.Element("testsuites", name="graphtools check", tests=str(len(report.results)), failures=failures)
    suite = ET.SubElement(root, "testsuite", name=f"graphtools check {report.checkpoint}",
                          tests=str(len(report.results)), failures=failures, errors="0", skipped="0")
    for r in report.results:
        case = ET.SubElement(suite, "testcase", classname=f"graphtools.{r.rule}", name=r.subject)
        if r.passed:
            ET.SubElement(case, "system-out").text = r.detail
        else:
            ET.SubElement(case, "failure", message=r.detail, type=r.rule).text = r.detail
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def render_results(report: CheckReport) -> str:
    """One line per rule and subject, ``PASS``/``FAIL`` first, then a summary line."""
    width_rule = max((len(r.rule) for r in report.results), default=0)
    width_subject = max((len(r.subject) for r in report.results), default=0)
    lines = [f"{'PASS' if r.passed else 'FAIL'}  {r.rule.ljust(width_rule)}  {r.subject.ljust(width_subject)}  "
             f"{r.detail}" for r in report.results]
    failed = len(report.failures)
    lines += [f"note: {note}" for note in report.notes]
    lines.append(f"{len(report.results)} rule checks on {report.checkpoint}: "
                 f"{'all passed' if not failed else f'{failed} FAILED'}")
    return "\n".join(lines) + "\n"
