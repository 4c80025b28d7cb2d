"""The five methods on one matrix: magnitude, random, biregular, array-code, ramanujan-guard."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from graphtools.constructions import array_code_lines, is_prime, random_bipartite
from graphtools.errors import GraphtoolsError
from graphtools.prune.common import (
    ARRAY_CODE_RTOL, InfeasibleSparsity, Unfit, check_method, check_rounds, check_sparsity, keep_count,
)
from graphtools.prune.summary import GraphSummary, graph_summary


def top_k_mask(scores, k: int) -> np.ndarray:
    """Boolean mask of the ``k`` largest ``scores``; among equal scores the lower flat
    (row-major) index is kept first.  O(n): one ``np.partition`` plus the ties.

    Parameters
    ----------
    scores : array_like
        Any shape; compared as float64.
    k : int
        How many entries to keep; ``k >= scores.size`` keeps all, ``k <= 0`` none.

    Returns
    -------
    numpy.ndarray
        A bool array of the shape of ``scores`` with exactly ``min(max(k, 0), size)`` True.

    Examples
    --------
    >>> top_k_mask([3, 1, 3, 2], 2)
    array([ True, False,  True, False])
    """
    scores = np.asarray(scores, dtype=np.float64)
    flat = scores.ravel()
    mask = np.zeros(flat.size, dtype=bool)
    if k >= flat.size:
        mask[:] = True
    elif k > 0:
        threshold = np.partition(flat, flat.size - k)[flat.size - k]  # the k-th largest
        mask = flat > threshold
        need = k - int(np.count_nonzero(mask))
        mask[np.flatnonzero(flat == threshold)[:need]] = True
    return mask.reshape(scores.shape)


def magnitude_scores(weight) -> np.ndarray:
    """``|w|`` in float64 (integer weights included: ``abs`` of int8 -128 would overflow).

    Examples
    --------
    >>> magnitude_scores(np.array([-128, 3], dtype=np.int8))
    array([128.,   3.])
    """
    return np.abs(np.asarray(weight, dtype=np.float64))


def magnitude_mask(weight, sparsity: float) -> np.ndarray:
    """Keep the ``keep_count`` entries of largest ``|w|`` (ties: lower flat index).

    Parameters
    ----------
    weight : array_like
        The weights, any shape.
    sparsity : float
        The fraction pruned, in ``[0, 1)``.

    Returns
    -------
    numpy.ndarray
        Bool mask of ``weight``'s shape, True where kept.

    Examples
    --------
    >>> magnitude_mask(np.array([[0.5, -2.0], [1.0, 0.1]]), 0.5).astype(int)
    array([[0, 1],
           [1, 0]])
    """
    scores = magnitude_scores(weight)
    return top_k_mask(scores, keep_count(scores.size, sparsity))


def random_mask(shape, sparsity: float, rng) -> np.ndarray:
    """Exactly ``keep_count`` entries, chosen uniformly at random without replacement.

    Parameters
    ----------
    shape : tuple of int
        The mask's shape.
    sparsity : float
        The fraction pruned, in ``[0, 1)``.
    rng : numpy.random.Generator
        The source of randomness.

    Returns
    -------
    numpy.ndarray
        Bool mask of ``shape``.

    Examples
    --------
    >>> int(random_mask((3, 4), 0.5, np.random.default_rng(0)).sum())
    6
    """
    size = math.prod(shape)
    mask = np.zeros(size, dtype=bool)
    mask[rng.choice(size, size=keep_count(size, sparsity), replace=False)] = True
    return mask.reshape(shape)


def biregular_mask(shape, sparsity: float, rng) -> np.ndarray:
    """A random mask with exactly ``E = keep_count`` edges whose row degrees are ``floor(E/m)``
    or one more (the rows getting one more chosen uniformly at random) and likewise its
    column degrees: (c, d)-biregular when ``m`` and ``n`` divide ``E``, otherwise degrees
    differ by at most one on each side.  No multi-edges.  Parameters and result as in
    :func:`random_mask`, with ``shape = (m, n)``: outputs (rows) by inputs (columns).

    Raises
    ------
    Unfit
        When ``E < max(m, n)``: every node needs at least one edge.

    Examples
    --------
    >>> mask = biregular_mask((4, 6), 0.5, np.random.default_rng(0))
    >>> mask.sum(axis=1).tolist(), mask.sum(axis=0).tolist()
    ([3, 3, 3, 3], [2, 2, 2, 2, 2, 2])
    """
    m, n = shape
    edges = keep_count(m * n, sparsity)
    if edges < max(m, n):
        raise Unfit(
            f"a biregular mask needs at least one edge per output ({m}) and per input ({n}) neuron, "
            f"but density {edges / (m * n):.4g} keeps {edges} edge(s) (least density {max(m, n) / (m * n):.4g})"
        )
    rows = np.full(m, edges // m)
    rows[rng.choice(m, size=edges % m, replace=False)] += 1
    cols = np.full(n, edges // n)
    cols[rng.choice(n, size=edges % n, replace=False)] += 1
    return random_bipartite(rows, cols, rng, dtype=bool)


@dataclass(frozen=True)
class ArrayCodeFit:
    """How an array code was fitted to a matrix (see :func:`fit_array_code`).

    ``lines`` is the side that holds the code's ``q^2`` lines (``"rows"`` or
    ``"columns"``: the longer side), tiled ``copies`` times (the last copy cropped
    when ``copies`` is not whole); ``l = ceil(points / q)`` column blocks hold the
    points of the shorter side, the last block cropped when ``q`` does not divide
    it.  ``exact`` says the mask is exactly the array code (one copy, nothing
    cropped), whose ``sigma_2 = sqrt(q)``.  ``in_spread`` / ``out_spread`` are
    max - min of the input / output degrees: 0 on both sides means biregular.
    """

    q: int
    l: int
    lines: str
    copies: float
    exact: bool
    in_spread: int
    out_spread: int

    @property
    def biregular(self) -> bool:
        return self.in_spread == 0 and self.out_spread == 0


def _primes_around(x: float) -> tuple[int | None, int]:
    """The largest prime <= x (None if there is none) and the smallest prime >= x."""
    below = next((p for p in range(math.floor(x), 1, -1) if is_prime(p)), None)
    above = next(p for p in range(max(2, math.ceil(x)), 2 * max(2, math.ceil(x)) + 2) if is_prime(p))
    return below, above


def fit_array_code(shape, sparsity: float) -> tuple[np.ndarray, ArrayCodeFit]:
    """An array-code mask for an ``m x n`` matrix at the requested sparsity, and how it fits.

    The code is the array-code bigraph of Burnwal, Sinha and Vidyasagar (arXiv:1910.03937;
    docs/pruning.md): lines ``y = a x + b`` against points ``(x, y)`` over ``Z_q``.

    Rule.  An array code over ``Z_q`` has density exactly ``1/q``, so:

    1. ``q`` is the prime whose ``1/q`` is nearest (relatively) to the requested
       density ``rho = keep_count / (m n)``; it must be within ``ARRAY_CODE_RTOL``
       (2%) of ``rho``, otherwise the request cannot be met (the error names the
       nearest sparsities ``1 - 1/q`` that can).
    2. The longer side holds the lines ``y = a x + b``: line ``L`` is
       ``(a, b) = divmod(L mod q^2, q)``, repeating with period ``q^2`` (vertical
       tiling keeps the graph Ramanujan: ``t`` copies of ``B(q, l)`` have
       ``sigma_2 = sqrt(t q) <= sqrt(t q - 1) + sqrt(l - 1)`` for ``l >= 2``).
    3. The shorter side holds the points ``(x, y) = divmod(P, q)``, ``l =
       ceil(points / q) <= q`` column blocks, the last one cropped.  The shorter side
       must therefore have at most ``q^2`` nodes; otherwise both sides would repeat,
       a blow-up that stops being Ramanujan, and the request is refused.

    Degrees: lines have degree ``l`` or ``l - 1`` (cropped last block), points
    ``floor(lines / q)`` or one more (cropped last copy), so both spreads are at most
    one; with ``lines = t q^2`` and ``points = l q`` the mask is (``t q``, ``l``)-biregular
    and for ``t = 1`` exactly :func:`graphtools.constructions.array_code` ``(q, l)``.

    Parameters
    ----------
    shape : tuple of (int, int)
        ``(m, n)`` of the weight.
    sparsity : float
        The requested fraction pruned; ``1 - 1/q`` for a prime ``q`` (within 2%).

    Returns
    -------
    mask : numpy.ndarray
        Bool mask of ``shape``.
    fit : ArrayCodeFit
        ``q``, ``l``, the side holding the lines, the copies and the degree spreads.

    Raises
    ------
    Unfit
        When no prime ``q`` fits the density, or the shorter side has more than ``q^2`` nodes.

    Examples
    --------
    >>> mask, fit = fit_array_code((25, 5), 0.8)
    >>> int(mask.sum()), fit.q, fit.l, fit.exact, fit.biregular
    (25, 5, 1, True, True)
    """
    m, n = shape
    size = m * n
    rho = keep_count(size, sparsity) / size if size else 0.0
    if rho <= 0:
        raise Unfit("an array-code mask keeps at least one weight; the requested sparsity keeps none")
    asked = 1.0 - sparsity  # the density as typed; ``rho`` is it after rounding the kept count

    def miss(p: int) -> float:  # relative distance of 1/p to the density, as asked or as rounded
        return min(abs(1.0 / p - rho) / rho, abs(1.0 / p - asked) / asked)

    below, above = _primes_around(1.0 / rho)
    choices = [p for p in (below, above) if p is not None]
    q = min(choices + [p for p in _primes_around(1.0 / asked) if p is not None], key=miss)
    if miss(q) > ARRAY_CODE_RTOL:
        near = " or ".join(f"{1 - 1 / p:.6g} (q = {p})" for p in choices)
        raise Unfit(
            f"array-code masks have density 1/q for a prime q, and the requested density {rho:.6g} is not "
            f"within {ARRAY_CODE_RTOL:.0%} of any; nearest sparsities: {near}"
        )
    lines_side = "rows" if m >= n else "columns"
    n_lines, n_points = (m, n) if lines_side == "rows" else (n, m)
    if n_points > q * q:
        smallest = next(p for p in range(max(2, math.isqrt(n_points - 1) + 1), 2 * n_points + 3) if is_prime(p))
        raise Unfit(
            f"an array code with q = {q} (density 1/{q}) has {q * q} points, fewer than the {n_points} "
            f"{'columns' if lines_side == 'rows' else 'rows'} of the shorter side, so both sides would repeat "
            f"(never Ramanujan); the least q that fits is {smallest} (sparsity {1 - 1 / smallest:.6g})"
        )
    mask = array_code_lines(q, n_lines, n_points)
    if lines_side == "columns":
        mask = mask.T
    l = -(-n_points // q)
    d_out = np.count_nonzero(mask, axis=1)
    d_in = np.count_nonzero(mask, axis=0)
    fit = ArrayCodeFit(
        q=q, l=l, lines=lines_side, copies=n_lines / (q * q), exact=(n_lines == q * q and n_points == l * q),
        in_spread=int(d_in.max() - d_in.min()), out_spread=int(d_out.max() - d_out.min()),
    )
    return mask, fit


@dataclass(frozen=True)
class GuardStop:
    """Where ramanujan-guard stopped one matrix: after ``round`` of ``rounds`` rounds, and why
    (``"reached target"`` or ``"next round (r) not Ramanujan: sigma2 X > bound Y"``)."""

    round: int
    rounds: int
    reason: str


def guard_schedule(n: int, sparsity: float, rounds: int) -> list[int]:
    """Entries kept after rounds ``0..rounds``: ``n - round(n (1 - (1 - s)^(r/K)))``, i.e. each
    round removes the fraction ``1 - (1 - s)^(1/K)`` of the remaining weights; the last
    round keeps exactly ``keep_count(n, s)``.

    Parameters
    ----------
    n : int
        The number of entries.
    sparsity : float
        The final fraction pruned, ``s``.
    rounds : int
        ``K``, the number of rounds.

    Returns
    -------
    list of int
        ``rounds + 1`` non-increasing counts, starting at ``n``.

    Examples
    --------
    >>> guard_schedule(100, 0.9, 3)
    [100, 46, 22, 10]
    """
    keep = [n - int(round(n * (1.0 - (1.0 - sparsity) ** (r / rounds)))) for r in range(rounds)]
    keep.append(keep_count(n, sparsity))
    return list(np.minimum.accumulate(keep).tolist())


def _not_ramanujan(r: int, summary: GraphSummary, definition: str | None = None) -> str:
    bound = summary.cover_bound if definition == "cover" else summary.ramanujan_bound
    if bound is None:
        return f"next round ({r}) not Ramanujan: it leaves no edge (bound undefined)"
    what = "cover bound" if definition == "cover" else "bound"
    return f"next round ({r}) not Ramanujan: sigma2 {summary.sigma2:.6g} > {what} {bound:.6g}"


class Guard:
    """One matrix (or gate block) under ramanujan-guard: its last accepted mask and summary.

    :func:`guard_mask` runs one; :func:`graphtools.prune.prune_state` with ``scope="global"``
    offers every matrix's guard the masks of one shared ranking, round by round."""

    def __init__(self, shape, rounds: int, start: np.ndarray | None = None, definition: str | None = None):
        # round 0: nothing (more) pruned -- the complete graph, Ramanujan, unless ``start`` is given
        self.mask = np.ones(shape, dtype=bool) if start is None else np.array(start, dtype=bool)
        self.summary: GraphSummary | None = None
        self.stop: GuardStop | None = None
        self.rounds = rounds
        self.definition = definition

    def offer(self, r: int, candidate: np.ndarray) -> None:
        """Accept round ``r``'s mask if it is Ramanujan; otherwise stop at round ``r - 1``."""
        if self.stop is not None:
            return
        if np.count_nonzero(candidate) != np.count_nonzero(self.mask):  # an unchanged mask needs no check
            summary = graph_summary(candidate, cover=self.definition == "cover")
            if not summary.is_ramanujan_by(self.definition):
                self.stop = GuardStop(r - 1, self.rounds, _not_ramanujan(r, summary, self.definition))
                return
            self.mask, self.summary = candidate, summary
        if r == self.rounds:
            self.stop = GuardStop(r, self.rounds, "reached target")

    def result(self) -> tuple[np.ndarray, GuardStop, GraphSummary]:
        summary = self.summary
        if summary is None or summary.cover_bound is None:  # the report shows the cover bound too
            summary = graph_summary(self.mask)
        return self.mask, self.stop, summary


def guard_mask(weight, sparsity: float, rounds: int = 10, *, definition: str | None = None,
               within: np.ndarray | None = None) -> tuple[np.ndarray, GuardStop, GraphSummary]:
    """ramanujan-guard on one matrix: the mask, where it stopped, and the mask's summary.

    Round ``r`` keeps the ``guard_schedule(n, s, K)[r]`` largest ``|w|`` (the ranking of
    :func:`magnitude_mask`, so rounds are nested); the matrix stops at the last round
    whose mask is Ramanujan.  Round 0 keeps everything (the complete graph, Ramanujan).

    Parameters
    ----------
    weight : array_like
        A 2-D weight.
    sparsity : float
        The target fraction pruned.
    rounds : int
        ``K``, the number of rounds.
    definition : {"average", "cover"}, optional
        The Ramanujan test, as in :meth:`GraphSummary.is_ramanujan_by`; None is "average".
    within : numpy.ndarray, optional
        A bool mask (e.g. an earlier pruning's) restricting the search: ``n`` is its count,
        round 0 is ``within`` itself, and every mask is a subset of it.

    Returns
    -------
    mask : numpy.ndarray
        The last accepted (Ramanujan) mask.
    stop : GuardStop
        The round it stopped after, and why.
    summary : GraphSummary
        The graph of ``mask``.

    Examples
    --------
    >>> weight = np.random.default_rng(0).standard_normal((8, 8))
    >>> mask, stop, summary = guard_mask(weight, 0.5, rounds=4)
    >>> int(mask.sum()), stop.reason
    (32, 'reached target')
    """
    scores = magnitude_scores(weight)
    n = scores.size
    if within is not None:
        within = np.asarray(within, dtype=bool)
        scores = np.where(within, scores, -1.0)  # below every kept |w|: never chosen (keep <= n)
        n = int(np.count_nonzero(within))
    guard = Guard(scores.shape, rounds, within, definition)
    for r, keep in enumerate(guard_schedule(n, sparsity, rounds)[1:], start=1):
        guard.offer(r, top_k_mask(scores, keep))
        if guard.stop is not None:
            break
    return guard.result()


def compute_mask(weight, method: str, sparsity: float, rng=None, *, rounds: int = 10) -> np.ndarray:
    """The boolean mask (True = keep) of one 2-D ``weight`` by ``method`` at ``sparsity``.

    Parameters
    ----------
    weight : array_like
        A 2-D weight.
    method : {"magnitude", "random", "biregular", "array-code", "ramanujan-guard"}
        How the mask is built.
    sparsity : float
        The fraction pruned, in ``[0, 1)``.
    rng : numpy.random.Generator or int, optional
        Drives ``random`` and ``biregular``; None draws fresh entropy.
    rounds : int
        ``ramanujan-guard``'s number of rounds.

    Returns
    -------
    numpy.ndarray
        Bool mask of ``weight``'s shape.

    Raises
    ------
    GraphtoolsError
        For a bad setting or a weight that is not 2-D; :class:`InfeasibleSparsity` when the
        method cannot reach the density on this shape.

    Examples
    --------
    >>> compute_mask(np.arange(6.0).reshape(2, 3), "magnitude", 0.5).astype(int)
    array([[0, 0, 0],
           [1, 1, 1]])
    """
    method = check_method(method)
    sparsity = check_sparsity(sparsity)
    rounds = check_rounds(rounds)
    weight = np.asarray(weight)
    if weight.ndim != 2:
        raise GraphtoolsError(f"a weight to prune must be 2-D, got shape {list(weight.shape)}")
    try:
        return matrix_mask(weight, method, sparsity, np.random.default_rng(rng), rounds)[0]
    except Unfit as exc:
        raise InfeasibleSparsity(f"{weight.shape[0]}x{weight.shape[1]} matrix: {exc}") from None


def matrix_mask(weight: np.ndarray, method: str, sparsity: float, rng, rounds: int, definition: str | None = None):
    """(mask, extra, summary or None) of one matrix or gate block, layer scope: what
    :func:`compute_mask` returns the mask of.  ``extra`` is the :class:`ArrayCodeFit` or the
    :class:`GuardStop`; raises :class:`~graphtools.prune.common.Unfit` when the method cannot
    reach the density on this shape."""
    if method == "magnitude":
        return magnitude_mask(weight, sparsity), None, None
    if method == "random":
        return random_mask(weight.shape, sparsity, rng), None, None
    if method == "biregular":
        return biregular_mask(weight.shape, sparsity, rng), None, None
    if method == "array-code":
        mask, fit = fit_array_code(weight.shape, sparsity)
        return mask, fit, None
    mask, stop, summary = guard_mask(weight, sparsity, rounds, definition=definition)
    return mask, stop, summary
