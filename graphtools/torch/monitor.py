"""``ExpanderMonitor``: measure a module's layers every N training steps and enforce expander rules."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from graphtools.checks import CheckReport, Rules, validate_rules
from graphtools.errors import GraphtoolsError
from graphtools.torch.modules import check_module
from graphtools.validate import check_scalar

_LOG = logging.getLogger("graphtools.torch")
ACTIONS = ("raise", "log")


class ExpanderRuleBroken(AssertionError):
    """A monitored module broke an expander rule (raised by :class:`ExpanderMonitor` with
    ``on_failure="raise"``); the message names every failing layer and rule."""


@dataclass(frozen=True)
class MonitorRecord:
    """One measurement: the training step it was taken at and the rules' results."""

    step: int
    report: CheckReport

    @property
    def passed(self) -> bool:
        return self.report.passed


def _as_tuple(value) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


class ExpanderMonitor:
    """Check expander rules on a module's weights every ``every`` calls, from a plain training loop.

    The rules are those of ``graphtools check`` (:class:`graphtools.checks.Rules`):
    ``require_ramanujan`` globs (``sigma_2 <= sqrt(d_in - 1) + sqrt(d_out - 1)`` on the binary
    graph of each matching weight), ``min_spectral_gap`` (``sigma_1 - sigma_2``),
    ``min_normalized_gap``, ``max_isolated``, ``min_reachability`` with ``steps``.
    A broken rule raises :class:`ExpanderRuleBroken` (``on_failure="raise"``) or is logged as a
    warning on the ``graphtools.torch`` logger (``"log"``); every measurement is kept in
    :attr:`history`.

    Parameters
    ----------
    module : torch.nn.Module
        The model being trained (weights under ``torch.nn.utils.prune`` are read masked).
    every : int
        Measure on every ``every``-th call (the first measurement is on call ``every``).
    on_failure : {"raise", "log"}
        What a broken rule does.

    Example
    -------
    >>> import torch
    >>> from graphtools.torch import ExpanderMonitor
    >>> rnn = torch.nn.RNN(6, 6)
    >>> monitor = ExpanderMonitor(rnn, every=2, min_spectral_gap=0.0)
    >>> for step in range(4):
    ...     _ = monitor()  # after optimizer.step()
    >>> [record.step for record in monitor.history]
    [2, 4]
    """

    def __init__(self, module, every: int = 100, *, require_ramanujan=(), min_spectral_gap: float | None = None,
                 min_normalized_gap: float | None = None, max_isolated: int | None = None,
                 min_reachability: float | None = None, steps: int | None = None, select=("*",),
                 on_failure: str = "raise", logger: logging.Logger | None = None):
        every = check_scalar(every, "every", int, min_val=1)
        if on_failure not in ACTIONS:
            raise GraphtoolsError(f"on_failure must be one of {', '.join(ACTIONS)}, not {on_failure!r}")
        self.rules = validate_rules(Rules(_as_tuple(require_ramanujan), min_spectral_gap, min_normalized_gap,
                                          max_isolated, min_reachability, steps, _as_tuple(select)))
        self.module, self.every, self.on_failure = module, every, on_failure
        self.logger = logger or _LOG
        self.calls = 0
        self.history: list[MonitorRecord] = []

    def __call__(self, step: int | None = None) -> MonitorRecord | None:
        """Count one training step (``step`` overrides the count); measure when it is a multiple
        of ``every``.  Returns the new :class:`MonitorRecord`, or None when nothing was measured."""
        self.calls = self.calls + 1 if step is None else int(step)
        if self.calls % self.every:
            return None
        return self.check()

    def check(self) -> MonitorRecord:
        """Measure now, whatever the count."""
        record = MonitorRecord(self.calls, check_module(self.module, self.rules))
        self.history.append(record)
        if not record.passed:
            lines = [f"{r.subject}: {r.rule}: {r.detail}" for r in record.report.failures]
            message = f"step {record.step}: {len(lines)} expander rule(s) broken:\n" + "\n".join(lines)
            if self.on_failure == "raise":
                raise ExpanderRuleBroken(message)
            self.logger.warning(message)
        return record


__all__ = ["ExpanderMonitor", "ExpanderRuleBroken", "MonitorRecord"]
