"""The checks every numeric option goes through, in the library and on the command line alike.

One place decides what a seed is and that a number must be finite, so that
``train --seed -1``, ``prune --seed -1`` and a sweep config's ``seeds = [-1]``
are refused with the same words, and NaN or infinity never reaches the math
(``--lr nan`` would otherwise train to an all-NaN checkpoint).
"""

from __future__ import annotations

import math
import numbers

from graphtools.errors import GraphtoolsError

#: Seeds are what numpy's generators take: whole numbers 0 .. 2**63 - 1.
SEED_MAX = 2**63 - 1
#: Epochs beyond this are a typo, not a plan (a million epochs of the smallest model take days).
EPOCHS_MAX = 100_000


def check_seed(value, what: str = "seed") -> int:
    """``value`` as an int when it is a whole number in ``0 .. SEED_MAX``; GraphtoolsError otherwise.

    Example
    -------
    >>> check_seed(7)
    7
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 0 <= value <= SEED_MAX:
        raise GraphtoolsError(f"{what} must be a whole number >= 0 (and below 2**63), got {value!r}")
    return int(value)


def check_finite(value, what: str, *, minimum: float | None = None, min_open: bool = False,
                 maximum: float | None = None) -> float:
    """``value`` as a float when it is a finite real number within the bounds; GraphtoolsError otherwise.

    Example
    -------
    >>> check_finite(0.5, "lr", minimum=0, min_open=True)
    0.5
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise GraphtoolsError(f"{what} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise GraphtoolsError(f"{what} must be a finite number, got {value!r}")
    if minimum is not None and (value < minimum or (min_open and value == minimum)):
        raise GraphtoolsError(f"{what} must be {'>' if min_open else '>='} {minimum:g}, got {value:g}")
    if maximum is not None and value > maximum:
        raise GraphtoolsError(f"{what} must be <= {maximum:g}, got {value:g}")
    return value


def check_count(value, what: str, *, minimum: int = 1, maximum: int | None = None) -> int:
    """``value`` as an int when it is a whole number in ``minimum .. maximum``; GraphtoolsError otherwise.

    Example
    -------
    >>> check_count(3, "epochs", maximum=EPOCHS_MAX)
    3
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum \
            or (maximum is not None and value > maximum):
        upper = "" if maximum is None else f" to {maximum:,}"
        raise GraphtoolsError(f"{what} must be a whole number from {minimum}{upper}, got {value!r}")
    return int(value)
