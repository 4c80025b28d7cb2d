"""validate.check_scalar / check_choice, and the rule of errors.py applied at the entry points."""

from __future__ import annotations

import math

import numpy as np
import pytest

from graphtools.analysis import analyze_checkpoint
from graphtools.errors import GraphtoolsError
from graphtools.prune import prune_state
from graphtools.rewiring import rewire
from graphtools.spectral import top_singular_values
from graphtools.validate import check_choice, check_scalar

EXAMPLE = "data/examples/lstm_pruned.npz"


def test_check_scalar_converts_numpy_numbers_and_refuses_bools_and_non_finite():
    assert check_scalar(np.int64(3), "n", int, min_val=1) == 3 and type(check_scalar(np.int64(3), "n", int)) is int
    assert check_scalar(np.float32(0.5), "x", float) == 0.5
    assert check_scalar(2, "x", float) == 2.0
    for bad in (True, "3", 2.5, None):
        with pytest.raises(GraphtoolsError, match="n must be a whole number >= 1, got"):
            check_scalar(bad, "n", int, min_val=1)
    for bad in (math.nan, math.inf, -math.inf):
        with pytest.raises(GraphtoolsError, match="x must be a finite number, got"):
            check_scalar(bad, "x", float)


@pytest.mark.parametrize("boundaries, allowed", [
    ("both", [0.0, 0.5, 1.0]), ("left", [0.0, 0.5]), ("right", [0.5, 1.0]), ("neither", [0.5]),
])
def test_check_scalar_boundaries(boundaries, allowed):
    for value in (-0.1, 0.0, 0.5, 1.0, 1.1):
        if value in allowed:
            assert check_scalar(value, "x", float, min_val=0, max_val=1, include_boundaries=boundaries) == value
        else:
            with pytest.raises(GraphtoolsError, match=r"x must be in (\[|\()0, 1(\]|\)), got"):
                check_scalar(value, "x", float, min_val=0, max_val=1, include_boundaries=boundaries)


def test_check_scalar_and_check_choice_raise_what_they_are_told():
    with pytest.raises(ValueError, match="k must be a whole number >= 0, got -1") as caught:
        check_scalar(-1, "k", int, min_val=0, error=ValueError)
    assert not isinstance(caught.value, GraphtoolsError)
    with pytest.raises(GraphtoolsError, match="k must be a positive count, got 0"):
        check_scalar(0, "k", int, min_val=1, expected="a positive count")
    assert check_choice("b", "pick", ("a", "b")) == "b"
    for bad in ("c", None, ["a"]):
        with pytest.raises(ValueError, match="pick must be one of a, b, not"):
            check_choice(bad, "pick", ("a", "b"), error=ValueError)


def test_math_functions_raise_value_error_and_entry_points_graphtools_error():
    # errors.py: ValueError for a programmer's misuse of a math function ...
    with pytest.raises(ValueError, match="method must be"):
        top_singular_values(np.eye(3), 2, "bogus")
    with pytest.raises(ValueError, match="steps must be a whole number >= 0") as caught:
        rewire(np.eye(3), "random", 0, steps=-1)
    assert not isinstance(caught.value, GraphtoolsError)
    # ... GraphtoolsError where a user's input arrives, checked before the math sees it
    with pytest.raises(GraphtoolsError, match="method must be one of auto, dense, sparse, not 'bogus'"):
        analyze_checkpoint(EXAMPLE, method="bogus")
    with pytest.raises(GraphtoolsError, match="steps must be a whole number >= 0"):
        prune_state({"fc.weight": np.ones((3, 3))}, method="rewire", sparsity=0.5, include="fc.*", steps=-1)


def test_prune_entry_points_take_their_options_by_keyword_only():
    with pytest.raises(TypeError):
        prune_state({"fc.weight": np.ones((3, 3))}, "magnitude", 0.5)  # the old positional call
