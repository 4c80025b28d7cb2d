"""Plain JSON values from what the library computes: the one NaN -> null rule.

JSON has no NaN or infinity (``json.dumps(..., allow_nan=False)`` refuses them), and numpy
scalars are not JSON types.  Every report and record that is written as JSON goes through
:func:`json_safe` first, so a measure that is undefined (``nan``) or unbounded (``inf``) is
written as ``null`` the same way everywhere.
"""

from __future__ import annotations

import math

import numpy as np


def json_safe(value):
    """``value`` with numpy scalars made Python ones and non-finite floats made ``None``, recursively.

    Dict keys become strings; lists and tuples become lists; anything else is returned unchanged.

    Parameters
    ----------
    value : object
        A number, a string, None, or dicts/lists/tuples of those (numpy scalars allowed).

    Returns
    -------
    object
        The same structure in plain JSON types.

    Examples
    --------
    >>> import numpy as np
    >>> json_safe({"sigma2": np.float64("nan"), "nnz": np.int64(3), "ok": np.bool_(True), "gaps": (1.5, float("inf"))})
    {'sigma2': None, 'nnz': 3, 'ok': True, 'gaps': [1.5, None]}
    """
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    return value
