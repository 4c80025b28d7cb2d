"""Assertions for users' own test suites (pytest or unittest).

    from graphtools.testing import assert_expander

    def test_pruned_model_is_still_an_expander():
        assert_expander("model.safetensors", require_ramanujan="rnn.weight_hh_*", min_spectral_gap=2.0)

The first argument may also be a live ``torch.nn.Module`` (needs the ``graphtools[torch]`` extra).
"""

from __future__ import annotations

import os
import sys

from graphtools.checks import Rules, run_checks


def assert_expander(path, require_ramanujan: str | tuple[str, ...] = (),
                    min_spectral_gap: float | None = None, min_normalized_gap: float | None = None,
                    max_isolated: int | None = None, min_reachability: float | None = None,
                    steps: int | None = None, select: str | tuple[str, ...] = ("*",)) -> None:
    """Raise AssertionError naming every failing layer and rule, as ``graphtools check`` would
    report them; bad input raises :class:`graphtools.GraphtoolsError`.  ``path`` is a checkpoint
    file or a ``torch.nn.Module`` (read live, see :func:`graphtools.torch.analyze_module`)."""
    as_tuple = (lambda v: (v,) if isinstance(v, str) else tuple(v))
    rules = Rules(as_tuple(require_ramanujan), min_spectral_gap, min_normalized_gap, max_isolated,
                  min_reachability, steps, as_tuple(select))
    if _is_torch_module(path):
        from graphtools.torch import check_module

        report = check_module(path, rules)
    else:
        report = run_checks(path, rules)
    if not report.passed:
        lines = [f"{r.subject}: {r.rule}: {r.detail}" for r in report.failures]
        raise AssertionError(f"{len(lines)} expander check(s) failed on {report.checkpoint}:\n" + "\n".join(lines))


def _is_torch_module(obj) -> bool:
    """Whether ``obj`` is a ``torch.nn.Module`` (without importing torch when it is not loaded)."""
    nn = getattr(sys.modules.get("torch"), "nn", None)
    return nn is not None and isinstance(obj, nn.Module)
