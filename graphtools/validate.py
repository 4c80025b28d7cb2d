"""The checks every option goes through, in the library and on the command line alike.

Two general checks in scikit-learn's pattern (``sklearn.utils.check_scalar``):
:func:`check_scalar` (type, finiteness and bounds of one number) and
:func:`check_choice` (one of a fixed set of names).  The named checks below
them (:func:`check_seed`, :func:`check_finite`, :func:`check_count`) decide
once what a seed is and that a number must be finite, so that
``train --seed -1``, ``prune --seed -1`` and a sweep config's ``seeds = [-1]``
are refused with the same words, and NaN or infinity never reaches the math
(``--lr nan`` would otherwise train to an all-NaN checkpoint).

Every check raises :class:`~graphtools.errors.GraphtoolsError` by default (the
user's input is wrong); a math function checking its programmer's arguments
passes ``error=ValueError`` (the rule in :mod:`graphtools.errors`).  A bool is
never a number here, although Python counts it as an int.
"""

from __future__ import annotations

import math
import numbers
from typing import Literal

from graphtools.errors import GraphtoolsError

#: Seeds are what numpy's generators take: whole numbers 0 .. 2**63 - 1.
SEED_MAX = 2**63 - 1
#: Epochs beyond this are a typo, not a plan (a million epochs of the smallest model take days).
EPOCHS_MAX = 100_000

Boundaries = Literal["both", "left", "right", "neither"]


def _bounds_text(target_type: type, min_val, max_val, include_boundaries: Boundaries) -> str:
    """How the message names the allowed range: ``a whole number >= 1``, ``in [0, 1)``, ``> 0``."""
    left = include_boundaries in ("both", "left")
    right = include_boundaries in ("both", "right")
    if target_type is int and max_val is None:
        return f"a whole number {'>=' if left else '>'} {min_val}"
    if min_val is not None and max_val is not None:
        return f"in {'[' if left else '('}{min_val:g}, {max_val:g}{']' if right else ')'}"
    if min_val is not None:
        return f"{'>=' if left else '>'} {min_val:g}"
    return f"{'<=' if right else '<'} {max_val:g}"


def check_scalar(value, name: str, target_type: type[int] | type[float], *, min_val=None, max_val=None,
                 include_boundaries: Boundaries = "both", expected: str | None = None,
                 error: type[Exception] = GraphtoolsError):
    """``value`` as a Python ``int`` or ``float`` when it is one of ``target_type`` within the bounds.

    Parameters
    ----------
    value : object
        What the caller passed.
    name : str
        The parameter's name, as the message shows it (``"rounds"``, ``"--threshold"``).
    target_type : int or float
        ``int``: any whole number (``numbers.Integral``, numpy integers too).  ``float``: any
        real number (``numbers.Real``), which must also be finite.  Never a bool.
    min_val, max_val : number, optional
        Bounds; None for none.
    include_boundaries : {"both", "left", "right", "neither"}
        Which bounds are allowed values themselves (closed).
    expected : str, optional
        What the value must be, in every message (``"a positive integer"``).  By default the
        message names what failed: the type (``"a number"``, ``"a whole number"``, with its
        lower bound when there is only that), finiteness
        (``"a finite number"``) or the bounds (``"a whole number >= 1"``, ``"in [0, 1)"``).
    error : exception class
        What is raised: GraphtoolsError (default) at a user-facing entry point, ValueError
        for a programmer's misuse of a math function.

    Returns
    -------
    int or float
        ``value`` converted to ``target_type``.

    Raises
    ------
    error
        ``"{name} must be {expected}, got {value!r}"``, for the wrong type, a non-finite
        float or a value out of bounds.

    Examples
    --------
    >>> check_scalar(3, "rounds", int, min_val=1)
    3
    >>> check_scalar(0.5, "sparsity", float, min_val=0, max_val=1, include_boundaries="left")
    0.5
    >>> check_scalar(1.0, "sparsity", float, min_val=0, max_val=1, include_boundaries="left")
    Traceback (most recent call last):
    ...
    graphtools.errors.GraphtoolsError: sparsity must be in [0, 1), got 1.0
    >>> check_scalar(True, "rounds", int, min_val=1, error=ValueError)
    Traceback (most recent call last):
    ...
    ValueError: rounds must be a whole number >= 1, got True
    """
    if include_boundaries not in ("both", "left", "right", "neither"):
        raise ValueError(f"include_boundaries must be both, left, right or neither, not {include_boundaries!r}")
    integer = target_type is int
    kind = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kind):
        if expected is None and integer and min_val is not None and max_val is None:
            expected = _bounds_text(int, min_val, None, include_boundaries)  # "a whole number >= 1"
        raise error(f"{name} must be {expected or ('a whole number' if integer else 'a number')}, got {value!r}")
    converted = int(value) if integer else float(value)
    if not integer and not math.isfinite(converted):
        raise error(f"{name} must be {expected or 'a finite number'}, got {value!r}")
    left = include_boundaries in ("both", "left")
    right = include_boundaries in ("both", "right")
    if (min_val is not None and (converted < min_val or (not left and converted == min_val))) or \
            (max_val is not None and (converted > max_val or (not right and converted == max_val))):
        expected = expected or _bounds_text(target_type, min_val, max_val, include_boundaries)
        raise error(f"{name} must be {expected}, got {value!r}")
    return converted


def check_choice(value, name: str, choices, *, error: type[Exception] = GraphtoolsError):
    """``value`` when it is one of ``choices`` (names such as methods or scopes).

    Parameters
    ----------
    value : object
        What the caller passed.
    name : str
        The parameter's name, as the message shows it.
    choices : sequence of str
        The allowed values, in the order the message lists them.
    error : exception class
        GraphtoolsError (default) or ValueError, as in :func:`check_scalar`.

    Returns
    -------
    str
        ``value``, unchanged.

    Examples
    --------
    >>> check_choice("layer", "scope", ("layer", "global"))
    'layer'
    >>> check_choice("model", "scope", ("layer", "global"))
    Traceback (most recent call last):
    ...
    graphtools.errors.GraphtoolsError: scope must be one of layer, global, not 'model'
    """
    if not isinstance(value, str) or value not in choices:
        raise error(f"{name} must be one of {', '.join(choices)}, not {value!r}")
    return value


def check_seed(value, what: str = "seed") -> int:
    """``value`` as an int when it is a whole number in ``0 .. SEED_MAX``; GraphtoolsError otherwise.

    Examples
    --------
    >>> check_seed(7)
    7
    """
    return check_scalar(value, what, int, min_val=0, max_val=SEED_MAX,
                        expected="a whole number >= 0 (and below 2**63)")


def check_finite(value, what: str, *, minimum: float | None = None, min_open: bool = False,
                 maximum: float | None = None) -> float:
    """``value`` as a float when it is a finite real number within the bounds; GraphtoolsError otherwise.

    Examples
    --------
    >>> check_finite(0.5, "lr", minimum=0, min_open=True)
    0.5
    """
    return check_scalar(value, what, float, min_val=minimum, max_val=maximum,
                        include_boundaries="right" if min_open else "both")


def check_count(value, what: str, *, minimum: int = 1, maximum: int | None = None) -> int:
    """``value`` as an int when it is a whole number in ``minimum .. maximum``; GraphtoolsError otherwise.

    Examples
    --------
    >>> check_count(3, "epochs", maximum=EPOCHS_MAX)
    3
    """
    upper = "" if maximum is None else f" to {maximum:,}"
    return check_scalar(value, what, int, min_val=minimum, max_val=maximum,
                        expected=f"a whole number from {minimum}{upper}")
