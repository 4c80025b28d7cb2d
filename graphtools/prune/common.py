"""Method names, counts and the checks every pruning entry point shares."""

from __future__ import annotations

from typing import Literal, get_args

from graphtools.atomic import CHECKPOINT_FORMATS
from graphtools.errors import GraphtoolsError
from graphtools.validate import check_choice, check_scalar


#: A pruning method (docs/pruning.md).
Method = Literal["magnitude", "random", "biregular", "array-code", "ramanujan-guard", "rewire"]
#: Where the sparsity applies: each matrix (or gate block), or all selected matrices together.
Scope = Literal["layer", "global"]
METHODS: tuple[str, ...] = get_args(Method)
SCOPES: tuple[str, ...] = get_args(Scope)
#: Weight kinds pruned by default: the recurrent matrices (see graphtools.model.Weight.kind).
DEFAULT_KINDS = ("ih", "hh", "hr")
#: Methods that accept ``scope="global"``; biregular and array-code masks are built per matrix.
GLOBAL_METHODS = ("magnitude", "random", "ramanujan-guard")
#: array-code: the requested density must be within this relative distance of ``1/q``.
ARRAY_CODE_RTOL = 0.02
OUTPUT_FORMATS = CHECKPOINT_FORMATS


class Unfit(Exception):
    """A method cannot build a mask of the requested density on a shape (the reason, no name).

    Raised inside the package only; :func:`graphtools.prune.prune_state` turns it into
    :class:`InfeasibleSparsity` naming the matrix."""


class InfeasibleSparsity(GraphtoolsError):
    """A method cannot build a mask of the requested sparsity on some matrix (e.g. a biregular
    mask needs an edge per neuron; an array code needs density 1/q, q prime).  A property of
    the method, shape and sparsity, not a bad input: sweeps record it as a result."""


# ---------------------------------------------------------------- counts and validation


def prune_count(n: int, sparsity: float) -> int:
    """How many of ``n`` entries are pruned: ``round(sparsity * n)`` (half to even, as
    ``torch.nn.utils.prune`` rounds an amount given as a fraction).

    Parameters
    ----------
    n : int
        The number of entries.
    sparsity : float
        The fraction pruned.

    Returns
    -------
    int

    Examples
    --------
    >>> prune_count(10, 0.25), prune_count(10, 0.35)
    (2, 4)
    """
    return int(round(sparsity * n))


def keep_count(n: int, sparsity: float) -> int:
    """How many of ``n`` entries a mask of this sparsity keeps: ``n - prune_count(n, sparsity)``
    (parameters as in :func:`prune_count`).

    Examples
    --------
    >>> keep_count(10, 0.25)
    8
    """
    return n - prune_count(n, sparsity)


def check_sparsity(sparsity) -> float:
    """``sparsity`` as a float in ``[0, 1)``, the fraction of weights pruned; GraphtoolsError otherwise.

    Examples
    --------
    >>> check_sparsity(0.9)
    0.9
    """
    return check_scalar(sparsity, "sparsity", float, min_val=0.0, max_val=1.0, include_boundaries="left",
                        expected="in [0, 1) (the fraction of weights pruned)")


def check_rounds(rounds) -> int:
    """``rounds`` (of ramanujan-guard) as an int >= 1; GraphtoolsError otherwise.

    Examples
    --------
    >>> check_rounds(10)
    10
    """
    return check_scalar(rounds, "rounds", int, min_val=1)


def check_method(method) -> Method:
    """``method`` when it is one of :data:`METHODS`; GraphtoolsError otherwise.

    Examples
    --------
    >>> check_method("magnitude")
    'magnitude'
    """
    return check_choice(method, "method", METHODS)
