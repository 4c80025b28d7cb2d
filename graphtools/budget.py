"""The memory budget: estimate what a piece of work needs *before* doing it, refuse it above the limit.

Every estimate is computed from headers and options alone (shapes, dtypes,
step counts, batch sizes), never by allocating.  The limit is, in order:

1. the value given to :func:`set_max_memory` (the command line's
   ``graphtools --max-memory SIZE``);
2. the environment variable ``GRAPHTOOLS_MAX_MEMORY`` (a size such as
   ``4G``, ``512M``, ``1.5GiB`` or a byte count);
3. :data:`DEFAULT_SHARE` (one half) of this machine's physical RAM
   (``os.sysconf``; 8 GiB where the RAM cannot be read).

A refusal is one :class:`~graphtools.errors.GraphtoolsError` line naming the
work, its estimate and the limit.  The estimates are deliberately simple
upper bounds of the dominant arrays; the constant overhead of Python and the
libraries is not counted.
"""

from __future__ import annotations

import os
import re

from graphtools.errors import GraphtoolsError

#: Share of physical RAM a single command may plan to use when no limit is given.
DEFAULT_SHARE = 0.5
ENV_VAR = "GRAPHTOOLS_MAX_MEMORY"
_FALLBACK_RAM = 16 * 2**30
_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "kib": 2**10, "m": 10**6, "mb": 10**6, "mib": 2**20,
          "g": 10**9, "gb": 10**9, "gib": 2**30, "t": 10**12, "tb": 10**12, "tib": 2**40}
_SIZE = re.compile(r"\s*([0-9]+(?:\.[0-9]*)?)\s*([a-zA-Z]*)\s*")

_limit: int | None = None


def parse_size(text: str) -> int:
    """Bytes of a size such as ``4G`` (10**9), ``4GiB`` (2**30), ``512M`` or ``1000``.

    Example
    -------
    >>> parse_size("1.5k"), parse_size("2GiB")
    (1500, 2147483648)
    """
    m = _SIZE.fullmatch(str(text))
    unit = m.group(2).lower() if m else None
    if m is None or unit not in _UNITS:
        raise GraphtoolsError(f"invalid memory size {text!r} (expected e.g. 4G, 512M, 2GiB or a byte count)")
    value = int(float(m.group(1)) * _UNITS[unit])
    if value <= 0:
        raise GraphtoolsError(f"invalid memory size {text!r}: must be positive")
    return value


def format_size(nbytes: float) -> str:
    """``1.5 GB``-style rendering (powers of 1000) of a byte count."""
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if nbytes >= scale:
            return f"{nbytes / scale:.1f} {unit}"
    return f"{int(nbytes)} bytes"


def physical_ram() -> int | None:
    """Bytes of physical memory of this machine, or None where the system does not say."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None


def set_max_memory(nbytes: int | None) -> None:
    """Set (or with None, unset) the limit for this process; see the module docstring for the order."""
    global _limit
    _limit = nbytes


def max_memory() -> int:
    """The limit in bytes now in force (module docstring)."""
    if _limit is not None:
        return _limit
    env = os.environ.get(ENV_VAR)
    if env:
        return parse_size(env)
    return int(DEFAULT_SHARE * (physical_ram() or _FALLBACK_RAM))


def check(nbytes: int, what: str) -> None:
    """Raise GraphtoolsError when the estimate ``nbytes`` for ``what`` exceeds :func:`max_memory`.

    Example
    -------
    >>> check(1000, "a small array")  # well below any limit: nothing happens
    """
    limit = max_memory()
    if nbytes > limit:
        raise GraphtoolsError(
            f"{what} would need about {format_size(nbytes)} of memory, more than the limit of "
            f"{format_size(limit)} (set it with --max-memory or {ENV_VAR})"
        )


# ---------------------------------------------------------------- estimates


def graph_bytes(rows: int, cols: int, nnz: int) -> int:
    """Bytes to measure one ``rows x cols`` weight with ``nnz`` entries as a bipartite graph.

    Binary and weighted CSR copies (``2 * (12 * nnz + 4 * rows)``), a float64 dense
    copy of the matrix for LAPACK (``8 * rows * cols``; the SVD workspace is of the
    same order) and per-node degree arrays (``16 * (rows + cols)``).  A matrix without
    entries is measured in closed form and costs nothing here.
    """
    if rows * cols == 0:
        return 0
    return 2 * (12 * nnz + 4 * rows) + 16 * rows * cols + 16 * (rows + cols)


def unfolded_bytes(nodes: int, edges: int, steps: int) -> int:
    """Bytes to measure an unfolded graph of ``steps`` time steps: the dense Cholesky block of
    each step (``8 * n_t**2`` for ``n_t = nodes / (steps + 1)`` nodes per step, ``steps + 1``
    blocks) behind its top eigenvalues, about 25 float64 vectors over the nodes (``200`` bytes
    per node) and ``8`` bytes per edge."""
    per_step = nodes // (steps + 1) + 1
    return 8 * per_step * per_step * (steps + 1) + 200 * nodes + 8 * edges


def export_bytes(nodes: int, edges: int) -> int:
    """Bytes to stream an unfolded graph as GraphML or an edge list: every node's name as a
    Python string (``80`` per node) and, one edge family at a time, its source, target and
    weight arrays with their Python lists (``130`` per edge, counted over all edges)."""
    return 80 * nodes + 130 * edges


def training_bytes(*, gates: int, features: int, hidden: int, layers: int, classes: int, batch: int,
                   steps: int, itemsize: int = 4) -> int:
    """Bytes of a training run of the numpy trainer, before the data it reads.

    Parameters with gradients and two Adam moments (``4 * P`` values, ``P`` the parameter
    count of a ``gates``-gate cell) plus the backpropagation-through-time buffers: per
    layer and step, the batch's gate pre-activations, states and their gradients
    (``batch * steps * layers * hidden * (gates + 6)`` values).
    """
    params = 0
    width = features
    for _ in range(layers):
        params += gates * hidden * (width + hidden + 2)
        width = hidden
    params += classes * (hidden + 1)
    activations = batch * steps * layers * hidden * (gates + 6)
    return itemsize * (4 * params + activations)
