"""``--threshold EPS`` / ``--threshold-rel R``: which small weights are no edge.

A trained, unpruned matrix has no zero entries, so its binary graph is
complete bipartite (sigma_2 = 0, every Ramanujan test passes trivially).  With
a threshold, ``|w| <= EPS`` (absolute) or ``|w| <= R * max|W|`` (relative, per
tensor, i.e. per weight matrix) counts as no edge: those entries are set to 0
before the graphs are built.  Both may be given; the larger cut-off wins.
"""

from __future__ import annotations

import numpy as np

from graphtools.model import MASK_SUFFIX
from graphtools.validate import check_scalar


def check_threshold(*, threshold: float | None = None, threshold_rel: float | None = None) -> None:
    """Raise GraphtoolsError unless ``threshold >= 0`` and ``0 <= threshold_rel < 1`` (finite numbers).

    Example
    -------
    >>> check_threshold(threshold=0.01, threshold_rel=0.1)
    """
    for name, value, high in (("--threshold", threshold, None), ("--threshold-rel", threshold_rel, 1.0)):
        if value is None:
            continue
        value = check_scalar(value, name, float)  # "a number", "a finite number"
        check_scalar(value, name, float, min_val=0.0, max_val=high, include_boundaries="left",
                     expected=None if high else "at least 0")


def threshold_tensors(tensors: dict[str, np.ndarray], *, threshold: float | None = None,
                      threshold_rel: float | None = None) -> dict[str, np.ndarray]:
    """``tensors`` with every entry ``|w| <= max(threshold, threshold_rel * max|W|)`` of each
    floating tensor of 2 or more dimensions set to 0 (masks ``*_mask`` untouched).

    Example
    -------
    >>> import numpy as np
    >>> threshold_tensors({"w": np.array([[1.0, 0.05], [-0.2, 0.0]])}, threshold_rel=0.1)["w"].tolist()
    [[1.0, 0.0], [-0.2, 0.0]]
    """
    check_threshold(threshold=threshold, threshold_rel=threshold_rel)
    if threshold is None and threshold_rel is None:
        return dict(tensors)
    out = {}
    for name, arr in tensors.items():
        if arr.ndim >= 2 and arr.dtype.kind == "f" and not name.endswith(MASK_SUFFIX) and arr.size:
            magnitude = np.abs(arr)
            cut = max(threshold or 0.0, (threshold_rel or 0.0) * float(magnitude.max()))
            arr = np.where(magnitude <= cut, np.zeros((), arr.dtype), arr)
        out[name] = arr
    return out
