"""Assertions for users' own test suites (pytest or unittest).

    from graphtools.testing import assert_expander

    def test_pruned_model_is_still_an_expander():
        assert_expander("model.safetensors", require_ramanujan="rnn.weight_hh_*", min_spectral_gap=2.0)
"""

from __future__ import annotations

import os

from graphtools.checks import Rules, run_checks


def assert_expander(path: str | os.PathLike, require_ramanujan: str | tuple[str, ...] = (),
                    min_spectral_gap: float | None = None, min_normalized_gap: float | None = None,
                    max_isolated: int | None = None, min_reachability: float | None = None,
                    steps: int | None = None, select: str | tuple[str, ...] = ("*",)) -> None:
    """Raise AssertionError naming every failing layer and rule, as ``graphtools check`` would
    report them; bad input raises :class:`graphtools.GraphtoolsError`."""
    as_tuple = (lambda v: (v,) if isinstance(v, str) else tuple(v))
    rules = Rules(as_tuple(require_ramanujan), min_spectral_gap, min_normalized_gap, max_isolated,
                  min_reachability, steps, as_tuple(select))
    report = run_checks(path, rules)
    if not report.passed:
        lines = [f"{r.subject}: {r.rule}: {r.detail}" for r in report.failures]
        raise AssertionError(f"{len(lines)} expander check(s) failed on {os.fspath(path)}:\n" + "\n".join(lines))
