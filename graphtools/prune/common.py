"""Method names, counts and the checks every pruning entry point shares."""

from __future__ import annotations


import numpy as np

from graphtools.atomic import CHECKPOINT_FORMATS
from graphtools.errors import GraphtoolsError


METHODS = ("magnitude", "random", "biregular", "array-code", "ramanujan-guard", "rewire")
SCOPES = ("layer", "global")
#: Weight kinds pruned by default: the recurrent matrices (see graphtools.model.Weight.kind).
DEFAULT_KINDS = ("ih", "hh", "hr")
#: Methods that accept ``scope="global"``; biregular and array-code masks are built per matrix.
GLOBAL_METHODS = ("magnitude", "random", "ramanujan-guard")
#: array-code: the requested density must be within this relative distance of ``1/q``.
ARRAY_CODE_RTOL = 0.02
OUTPUT_FORMATS = CHECKPOINT_FORMATS


class _Unfit(Exception):
    """A method cannot build a mask of the requested density on a shape (the reason, no name)."""


class InfeasibleSparsity(GraphtoolsError):
    """A method cannot build a mask of the requested sparsity on some matrix (e.g. a biregular
    mask needs an edge per neuron; an array code needs density 1/q, q prime).  A property of
    the method, shape and sparsity, not a bad input: sweeps record it as a result."""


# ---------------------------------------------------------------- counts and validation


def prune_count(n: int, sparsity: float) -> int:
    """How many of ``n`` entries are pruned: ``round(sparsity * n)`` (half to even, as
    ``torch.nn.utils.prune`` rounds an amount given as a fraction)."""
    return int(round(sparsity * n))


def keep_count(n: int, sparsity: float) -> int:
    """How many of ``n`` entries a mask of this sparsity keeps: ``n - prune_count(n, sparsity)``."""
    return n - prune_count(n, sparsity)


def _check_sparsity(sparsity) -> float:
    try:
        value = float(sparsity)
    except (TypeError, ValueError):
        raise GraphtoolsError(f"sparsity must be a number in [0, 1), got {sparsity!r}") from None
    if isinstance(sparsity, bool) or not (0.0 <= value < 1.0):
        raise GraphtoolsError(f"sparsity must be in [0, 1) (the fraction of weights pruned), got {sparsity!r}")
    return value


def _check_rounds(rounds) -> int:
    if isinstance(rounds, bool) or not isinstance(rounds, (int, np.integer)) or rounds < 1:
        raise GraphtoolsError(f"rounds must be a whole number >= 1, got {rounds!r}")
    return int(rounds)


def _check_method(method) -> str:
    if method not in METHODS:
        raise GraphtoolsError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    return method
