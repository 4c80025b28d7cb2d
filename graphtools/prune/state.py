"""``prune_state``: prune the selected matrices of a state dict."""

from __future__ import annotations

import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from graphtools.errors import GraphtoolsError
from graphtools.graphs import gate_blocks
from graphtools.model import MASK_SUFFIX, Weight, describe
from graphtools.prune.common import (
    GLOBAL_METHODS, SCOPES, InfeasibleSparsity, Method, Scope, Unfit, check_method, check_rounds, check_sparsity,
    keep_count,
)
from graphtools.prune.summary import GraphSummary, graph_summary
from graphtools.prune.methods import (
    ArrayCodeFit, GuardStop, Guard, magnitude_scores, matrix_mask, guard_schedule, magnitude_mask, top_k_mask,
)
from graphtools.rewiring import REWIRE_TARGETS, RewireResult, RewireTarget, rewire
from graphtools.spectral import RAMANUJAN_DEFINITIONS
from graphtools.prune.report import MatrixPruning, PruneReport, RewireStats
from graphtools.prune.selection import as_patterns, select_weights, to_stored_layout
from graphtools.threads import single_threaded, threads, with_blas_threads
from graphtools.validate import check_choice, check_scalar, check_seed


def _rewired(u, source: np.ndarray, sparsity: float, rng, target: str, steps: int | None):
    """rewire on one matrix: the magnitude mask of ``source`` at ``sparsity`` (a masked
    ``source`` at that sparsity gives back its own mask), then degree-preserving swaps."""
    if source.shape != u.matrix.shape:
        raise GraphtoolsError(f"{u.label}: --from weight has shape {list(source.shape)}, not {list(u.matrix.shape)}")
    keep = keep_count(source.size, sparsity)
    have = int(np.count_nonzero(source))
    if have < keep:
        raise GraphtoolsError(f"{u.label}: the starting weights have {have} nonzeros, fewer than the {keep} that "
                              f"sparsity {sparsity:g} keeps")
    result = rewire(magnitude_mask(source, sparsity), target, rng, steps=steps)
    return result.mask, result, None


def unit_rng(seed: int, name: str, block: int) -> np.random.Generator:
    """A generator per matrix (and gate block) from the seed and the weight's name, so a
    matrix's mask does not depend on which other matrices are selected.

    Parameters
    ----------
    seed : int
        The user's seed.
    name : str
        The weight's name (hashed with CRC-32).
    block : int
        0 for a whole matrix, ``1 + g`` for gate block ``g``.

    Returns
    -------
    numpy.random.Generator

    Examples
    --------
    >>> a, b = unit_rng(0, "rnn.weight_hh_l0", 0), unit_rng(0, "rnn.weight_hh_l0", 0)
    >>> bool(a.integers(1000) == b.integers(1000))
    True
    """
    return np.random.default_rng([seed, zlib.crc32(name.encode("utf-8")), block])


@dataclass
class _Unit:
    weight: Weight
    gate: str | None
    rows: slice
    matrix: np.ndarray
    mask: np.ndarray | None = None
    extra: object = None
    summary: GraphSummary | None = None

    @property
    def label(self) -> str:
        gate = f" gate {self.gate}" if self.gate else ""
        return f"{self.weight.name}{gate} ({self.matrix.shape[0]}x{self.matrix.shape[1]})"


def _units(weights: list[Weight], per_gate: bool) -> list[_Unit]:
    units = []
    for w in weights:
        matrix = np.asarray(w.matrix)
        if per_gate and w.gates:
            size = matrix.shape[0] // len(w.gates)
            for g, (gate, block) in enumerate(gate_blocks(matrix, w.gates)):
                units.append(_Unit(w, gate, slice(g * size, (g + 1) * size), block))
        else:
            units.append(_Unit(w, None, slice(0, matrix.shape[0]), matrix))
    return units


def _global_masks(units: list[_Unit], method: str, sparsity: float, seed: int, rounds: int,
                  definition: str | None = None) -> None:
    """scope="global": one ranking (magnitude, ramanujan-guard) or one draw (random) over the
    entries of all units, concatenated in order."""
    sizes = [u.matrix.size for u in units]
    splits = np.cumsum(sizes)[:-1]
    total = int(sum(sizes))

    def split(flat):
        return [part.reshape(u.matrix.shape) for part, u in zip(np.split(flat, splits), units)]

    if method == "random":
        flat = np.zeros(total, dtype=bool)
        flat[np.random.default_rng([seed]).choice(total, size=keep_count(total, sparsity), replace=False)] = True
        for u, mask in zip(units, split(flat)):
            u.mask = mask
        return
    scores = np.concatenate([magnitude_scores(u.matrix).ravel() for u in units]) if units else np.zeros(0)
    if method == "magnitude":
        for u, mask in zip(units, split(top_k_mask(scores, keep_count(total, sparsity)))):
            u.mask = mask
        return
    guards = [Guard(u.matrix.shape, rounds, definition=definition) for u in units]
    for r, keep in enumerate(guard_schedule(total, sparsity, rounds)[1:], start=1):
        _parallel(lambda pair, r=r: pair[0].offer(r, pair[1]), list(zip(guards, split(top_k_mask(scores, keep)))))
        if all(g.stop is not None for g in guards):
            break
    for u, guard in zip(units, guards):
        u.mask, u.extra, u.summary = guard.result()


def _parallel(function, items: list) -> list:
    """``[function(x) for x in items]``, on up to :func:`graphtools.threads.threads` threads (numpy,
    BLAS and ARPACK release the interpreter lock for most of their work), each on one BLAS thread;
    the first exception is raised, in order."""
    workers = min(len(items), threads())
    if workers <= 1:
        return [function(x) for x in items]
    with single_threaded(), ThreadPoolExecutor(workers) as pool:
        return list(pool.map(function, items))


@with_blas_threads
def prune_state(state, *, method: Method, sparsity: float, scope: Scope = "layer", include=None, exclude=None,
                seed: int = 0, per_gate: bool = False, rounds: int = 10, definition: str | None = None,
                target: RewireTarget = "random", steps: int | None = None, start=None):
    """Prune a state dict (name -> array, as :func:`graphtools.io.load_state` gives it).

    Parameters
    ----------
    state : dict of str to numpy.ndarray, or graphtools.io.Checkpoint
        The tensors; the recurrent weights are found by :func:`graphtools.model.describe`.
    method : {"magnitude", "random", "biregular", "array-code", "ramanujan-guard", "rewire"}
        How each mask is built (the package docstring and docs/pruning.md give the rules).
    sparsity : float
        The fraction of each matrix's entries pruned, in ``[0, 1)``.
    scope : {"layer", "global"}
        ``"layer"``: each matrix (or each gate block with ``per_gate``) gets the sparsity;
        ``"global"``: one ranking or draw over all selected matrices (magnitude, random and
        ramanujan-guard only).
    include, exclude : str or sequence of str, optional
        Globs adding 2-D weights to the recurrent ones, or removing weights
        (:func:`select_weights`).
    seed : int
        Drives random, biregular and rewire, per matrix (:func:`unit_rng`).
    per_gate : bool
        Prune each gate block of a gated weight separately.
    rounds : int
        ramanujan-guard's number of rounds (>= 1).
    definition : {"average", "cover"}, optional
        ramanujan-guard's Ramanujan test (``graphtools.spectral.RAMANUJAN_DEFINITIONS``;
        None is "average").
    target : {"random", "expander", "poor"}
        rewire: uniform swaps, or swaps steered to lower or raise sigma2.
    steps : int, optional
        rewire: swap attempts (default 10 E for random, 200 steered).
    start : dict of str to numpy.ndarray, optional
        rewire: weight name -> matrix to start from (e.g. a checkpoint with masks); by
        default the state's own weights.

    Returns
    -------
    state : dict of str to numpy.ndarray
        Every tensor unchanged except the pruned weights, which hold zeros where pruned,
        plus a bool ``<name>_mask`` for each, next to its weight or replacing an old mask.
    masks : dict of str to numpy.ndarray
        Weight name -> the bool mask as stored, i.e. in the tensor's own layout.
    report : PruneReport
        The graphs before and after, per matrix (and gate block).

    Raises
    ------
    GraphtoolsError
        For a bad setting; :class:`InfeasibleSparsity` (a GraphtoolsError) when the method
        cannot reach the density on some matrix, naming it.

    Examples
    --------
    >>> import numpy as np
    >>> state = {"rnn.weight_ih_l0": np.ones((4, 3)), "rnn.weight_hh_l0": np.arange(16.0).reshape(4, 4)}
    >>> new, masks, report = prune_state(state, method="magnitude", sparsity=0.5)
    >>> sorted(new)
    ['rnn.weight_hh_l0', 'rnn.weight_hh_l0_mask', 'rnn.weight_ih_l0', 'rnn.weight_ih_l0_mask']
    >>> masks["rnn.weight_hh_l0"].astype(int)
    array([[0, 0, 0, 0],
           [0, 0, 0, 0],
           [1, 1, 1, 1],
           [1, 1, 1, 1]])
    >>> [round(m.after.density, 2) for m in report.matrices]
    [0.5, 0.5]
    """
    method = check_method(method)
    sparsity = check_sparsity(sparsity)
    rounds = check_rounds(rounds)
    if definition is not None:
        check_choice(definition, "definition", RAMANUJAN_DEFINITIONS)
    check_choice(target, "target", REWIRE_TARGETS)
    if steps is not None:
        check_scalar(steps, "steps", int, min_val=0)
    if method == "rewire" and per_gate:
        raise GraphtoolsError("rewire works on whole matrices; drop --per-gate")
    check_choice(scope, "scope", SCOPES)
    if scope == "global" and method not in GLOBAL_METHODS:
        raise GraphtoolsError(f"--scope global applies to {', '.join(GLOBAL_METHODS)}; {method} masks are "
                              "built per matrix (use --scope layer)")
    seed = check_seed(seed)
    include, exclude = as_patterns(include), as_patterns(exclude)
    tensors = dict(getattr(state, "tensors", state))  # a state dict, or a Checkpoint
    model = describe(tensors)
    selected = select_weights(model.weights, tensors, include, exclude)
    units = _units(selected, per_gate)
    if scope == "global":
        _global_masks(units, method, sparsity, seed, rounds, definition)
    else:
        def work(u: _Unit):
            block = 0 if u.gate is None else 1 + u.weight.gates.index(u.gate)
            rng = unit_rng(seed, u.weight.name, block)
            if method == "rewire":
                source = u.matrix if start is None else start.get(u.weight.name)
                if source is None:
                    raise GraphtoolsError(f"{u.label}: the --from checkpoint has no weight {u.weight.name!r}")
                return _rewired(u, np.asarray(source), sparsity, rng, target, steps)
            try:
                return matrix_mask(u.matrix, method, sparsity, rng, rounds, definition)
            except Unfit as exc:
                raise InfeasibleSparsity(f"{u.label}: {exc}") from None

        for u, result in zip(units, _parallel(work, units)):
            u.mask, u.extra, u.summary = result
    if method != "rewire":  # rewiring moves edges (keeping degrees): its mask is no subset by design
        _keep_old_masks(tensors, units)
    report = PruneReport(method, sparsity, scope, seed, rounds, bool(per_gate), include, exclude,
                         target=target if method == "rewire" else None)
    new_state, masks = _apply(tensors, selected, units)
    _verify(new_state, selected, units)
    # rows of the report: (name, gate, graph before, mask after, summary already known, extra)
    rows = []
    for w in selected:
        own = [u for u in units if u.weight is w]
        if len(own) == 1:
            u = own[0]
            rows.append((w.name, None, u.matrix, u.mask, u.summary, u.extra))
        else:
            rows.append((w.name, None, np.asarray(w.matrix), np.concatenate([u.mask for u in own]), None, None))
            rows += [(w.name, u.gate, u.matrix, u.mask, u.summary, u.extra) for u in own]

    def measure(row):
        name, gate, matrix, mask, known, extra = row
        return MatrixPruning(
            name, gate, matrix.shape, graph_summary(matrix), known if known is not None else graph_summary(mask),
            kept_zeros=int(np.count_nonzero(mask & (matrix == 0))),
            guard=extra if isinstance(extra, GuardStop) else None,
            array_code=extra if isinstance(extra, ArrayCodeFit) else None,
            rewire=RewireStats.of(extra) if isinstance(extra, RewireResult) else None,
        )

    report.matrices.extend(_parallel(measure, rows))
    return new_state, masks, report


def old_mask(tensors: dict, weight: Weight) -> np.ndarray | None:
    """The bool mask a weight already has (its stored ``X_mask``, in ``Weight.matrix`` layout), or None."""
    if len(weight.sources) < 2:
        return None
    stored = np.asarray(tensors[weight.sources[1]]) != 0
    shape = np.asarray(weight.matrix).shape
    index = to_stored_layout(weight, np.arange(int(np.prod(shape))).reshape(shape))
    if index.shape != stored.shape:
        return None
    mask = np.empty(shape, dtype=bool)
    mask.flat[index.ravel()] = stored.ravel()
    return mask


def _keep_old_masks(tensors: dict, units: list[_Unit]) -> None:
    """Pruning a pruned checkpoint prunes further: each new mask is cut to a subset of the weight's
    old mask (what was pruned stays pruned), and its summary then describes that real mask."""
    cache: dict[str, np.ndarray | None] = {}
    for u in units:
        if u.weight.name not in cache:
            cache[u.weight.name] = old_mask(tensors, u.weight)
        old = cache[u.weight.name]
        if old is not None:
            kept = u.mask & old[u.rows]
            if not np.array_equal(kept, u.mask):
                u.mask, u.summary = kept, None


def _apply(tensors: dict, selected: list[Weight], units: list[_Unit]):
    """The new state dict (file order kept, each new mask right after its weight) and the masks."""
    replaced: dict[str, np.ndarray] = {}
    added: dict[str, tuple[str, np.ndarray]] = {}  # stored-weight key -> (mask key, mask)
    masks: dict[str, np.ndarray] = {}
    for w in selected:
        whole = np.concatenate([u.mask for u in units if u.weight is w], axis=0)
        stored_mask = np.ascontiguousarray(to_stored_layout(w, whole))
        source = w.sources[0]
        stored = tensors[source]
        if stored_mask.shape != stored.shape:  # pragma: no cover - a layout bug of ours
            raise RuntimeError(f"mask of {w.name} has shape {stored_mask.shape}, tensor {source} {stored.shape}")
        pruned = np.array(stored, copy=True)
        pruned[~stored_mask] = 0
        if len(w.sources) > 1:  # X or X_orig with an old X_mask: what it pruned stays zero
            pruned[tensors[w.sources[1]] == 0] = 0
        replaced[source] = pruned
        mask_key = w.name + MASK_SUFFIX
        masks[w.name] = stored_mask
        if mask_key in tensors:
            replaced[mask_key] = stored_mask
        else:
            added[source] = (mask_key, stored_mask)
    out: dict[str, np.ndarray] = {}
    for key, value in tensors.items():
        out[key] = replaced.get(key, value)
        if key in added:
            mask_key, mask = added[key]
            out[mask_key] = mask
    return out, masks


def _verify(new_state: dict, selected: list[Weight], units: list[_Unit]) -> None:
    """Read the new state back as the analyzer will: each pruned matrix must be the old one with
    exactly the masked entries zeroed (catches any layout mistake)."""
    after = {w.name: w for w in describe(new_state).weights}
    for w in selected:
        whole = np.concatenate([u.mask for u in units if u.weight is w], axis=0)
        expected = np.where(whole, np.asarray(w.matrix), 0)
        if w.name not in after or not np.array_equal(np.asarray(after[w.name].matrix), expected):
            raise RuntimeError(f"pruned {w.name} does not read back as the masked weight")  # pragma: no cover
