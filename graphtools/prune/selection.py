"""Which weights are pruned, and masks written back in the stored (e.g. Keras) layout."""

from __future__ import annotations

import fnmatch

import numpy as np

from graphtools.errors import GraphtoolsError
from graphtools.model import KERAS_NAME, KERAS_GATE_ORDER, TORCH_NAME, CELL_OF_BLOCKS, Weight
from graphtools.prune.common import DEFAULT_KINDS
from graphtools.text import matches_glob


def as_patterns(patterns) -> tuple[str, ...]:
    """Glob patterns as a tuple: None gives ``()``, one string a 1-tuple."""
    if patterns is None:
        return ()
    if isinstance(patterns, str):
        return (patterns,)
    return tuple(patterns)


def _no_match(option: str, pattern: str, pool: list[str], what: str, tensors) -> GraphtoolsError:
    others = [k for k, v in tensors.items() if np.ndim(v) != 2 and fnmatch.fnmatchcase(k, pattern)]
    hint = (f"; it matches only tensors that are not 2-D ({', '.join(others[:3])}): biases are never "
            "pruned") if others else ""
    return GraphtoolsError(f"--{option} {pattern!r} selects no weight matrix{hint} "
                           f"({what} weights: {', '.join(pool) or 'none'})")


def select_weights(weights, tensors, include=(), exclude=()) -> list[Weight]:
    """The weights to prune: the recurrent ones (kinds ih, hh, hr), plus every 2-D weight whose
    name matches an ``include`` glob, minus those matching an ``exclude`` glob (fnmatch, case
    sensitive).

    Parameters
    ----------
    weights : list of graphtools.model.Weight
        The weights of :func:`graphtools.model.describe`, in its canonical order.
    tensors : dict of str to numpy.ndarray
        The state dict they come from (to name non-2-D tensors a pattern matched).
    include, exclude : sequence of str
        Glob patterns.

    Returns
    -------
    list of graphtools.model.Weight
        The selected weights, in the order of ``weights``.

    Raises
    ------
    GraphtoolsError
        When a pattern selects nothing, or nothing is selected.

    Examples
    --------
    >>> import numpy as np
    >>> from graphtools.model import describe
    >>> state = {"rnn.weight_ih_l0": np.ones((4, 3)), "rnn.weight_hh_l0": np.ones((4, 4)),
    ...          "fc.weight": np.ones((2, 4))}
    >>> weights = describe(state).weights
    >>> [w.name for w in select_weights(weights, state)]
    ['rnn.weight_ih_l0', 'rnn.weight_hh_l0']
    >>> [w.name for w in select_weights(weights, state, include=["fc.*"], exclude=["*_ih_*"])]
    ['rnn.weight_hh_l0', 'fc.weight']
    """
    names = [w.name for w in weights]
    for pattern in include:
        if not _matches_any(names, pattern):
            raise _no_match("include", pattern, names, "2-D", tensors)
    chosen = [w for w in weights if w.kind in DEFAULT_KINDS or matches_glob(w.name, include)]
    for pattern in exclude:
        if not _matches_any([w.name for w in chosen], pattern):
            raise _no_match("exclude", pattern, [w.name for w in chosen], "selected", tensors)
    chosen = [w for w in chosen if not matches_glob(w.name, exclude)]
    if not chosen:
        raise GraphtoolsError(
            "no weight matrix selected: the checkpoint has no recurrent weight_ih/weight_hh/weight_hr "
            f"(or all were excluded); select others with --include GLOB (2-D weights: {', '.join(names)})"
        )
    return chosen


def _matches_any(names: list[str], pattern: str) -> bool:
    return any(matches_glob(n, [pattern]) for n in names)


def _keras_layout(weight: Weight) -> bool:
    """Whether ``weight`` was stored as a Keras kernel ``(in, out)`` (model.describe's naming rules)."""
    match = KERAS_NAME.match(weight.name)
    return TORCH_NAME.match(weight.name) is None and match is not None and match["kind"] != "bias"


def to_stored_layout(weight: Weight, mask: np.ndarray) -> np.ndarray:
    """A mask in ``Weight.matrix`` layout (PyTorch ``(out, in)``, gates in PyTorch order) put back
    into the layout the tensor is stored in: unchanged for PyTorch names; for Keras kernels the
    gate blocks back in Keras order (GRU r, z, n -> z, r, h) and transposed to ``(in, out)``.

    Parameters
    ----------
    weight : graphtools.model.Weight
        The weight the mask belongs to.
    mask : numpy.ndarray
        The mask in ``weight.matrix`` layout.

    Returns
    -------
    numpy.ndarray
        The mask in the stored tensor's layout.

    Examples
    --------
    >>> import numpy as np
    >>> from graphtools.model import describe
    >>> state = {"gru/gru_cell/kernel": np.ones((2, 9)), "gru/gru_cell/recurrent_kernel": np.ones((3, 9))}
    >>> kernel = describe(state).weights[0]  # stored (in, out) = (2, 9), gates z, r, h
    >>> np.asarray(kernel.matrix).shape  # read as PyTorch (out, in), gates r, z, n
    (9, 2)
    >>> mask = np.zeros((9, 2), dtype=bool)
    >>> mask[0:3] = True  # keep PyTorch's first gate block, r
    >>> to_stored_layout(kernel, mask).astype(int)  # Keras's second block
    array([[0, 0, 0, 1, 1, 1, 0, 0, 0],
           [0, 0, 0, 1, 1, 1, 0, 0, 0]])
    """
    if not _keras_layout(weight):
        return mask
    if weight.kind in ("ih", "hh"):
        cell = CELL_OF_BLOCKS[max(1, len(weight.gates))]
        order = KERAS_GATE_ORDER[cell]
        hidden = mask.shape[0] // len(order)
        stored = np.empty_like(mask)
        for torch_block, keras_block in enumerate(order):
            rows = slice(torch_block * hidden, (torch_block + 1) * hidden)
            stored[keras_block * hidden:(keras_block + 1) * hidden] = mask[rows]
        mask = stored
    return mask.T
