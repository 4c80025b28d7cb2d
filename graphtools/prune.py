"""Pruning masks for recurrent weight matrices, and ``graphtools prune``.

A mask is a boolean array of a weight's shape: True keeps the weight, False
prunes it (sets it to zero).  Every method keeps exactly
``n - round(sparsity * n)`` of a matrix's ``n`` entries (Python's ``round``,
half to even, as ``torch.nn.utils.prune`` counts), except array-code, whose
density is ``1/q`` by construction, and ramanujan-guard, which may stop early.

Methods (docs/pruning.md has the full rules):

* ``magnitude``: keep the largest ``|w|``; ties go to the lower flat index
  (row-major, PyTorch ``(out, in)`` layout; with ``scope="global"`` the
  matrices are concatenated in the canonical order of
  :func:`graphtools.model.describe`, so an earlier matrix wins a tie).
* ``random``: a uniformly random subset of exactly that many entries.
* ``biregular``: a random bipartite graph whose output (row) degrees and input
  (column) degrees each differ by at most one, without multi-edges
  (:func:`graphtools.constructions.random_bipartite`).
* ``array-code``: the array-code bigraph of Burnwal, Sinha and Vidyasagar
  (arXiv:1910.03937), ``q`` prime with ``1/q`` the requested density, lines on
  the longer side tiled with period ``q^2`` and points on the shorter side
  cropped (:func:`fit_array_code`).
* ``ramanujan-guard``: magnitude pruning in ``rounds`` rounds, each removing the
  same fraction ``1 - (1 - sparsity)^(1/rounds)`` of the remaining weights; a
  matrix stops at the last round whose mask is still Ramanujan
  (``sigma_2 <= sqrt(d_in - 1) + sqrt(d_out - 1)``, DESIGN.md), so every mask
  it returns is Ramanujan.

The report measures graphs with :mod:`graphtools.spectral`: "before" is the
graph of the weight's nonzeros, "after" the graph of the mask.
"""

from __future__ import annotations

import fnmatch
import json
import math
import os
import zipfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy.sparse.linalg import eigsh

from graphtools.atomic import atomic_open
from graphtools.checks import _matches
from graphtools.constructions import array_code_lines, is_prime, random_bipartite
from graphtools.errors import GraphtoolsError
from graphtools.graphs import gate_blocks
from graphtools.io import META_KEY, load_state
from graphtools.model import _KERAS, _KERAS_GATE_ORDER, _TORCH, CELL_GATES, Weight, describe
from graphtools.render import _aligned, _num
from graphtools.spectral import DENSE_LIMIT, is_ramanujan, ramanujan_bound_from_degrees, top_singular_values
from graphtools.structure import as_csr

METHODS = ("magnitude", "random", "biregular", "array-code", "ramanujan-guard")
SCOPES = ("layer", "global")
#: Weight kinds pruned by default: the recurrent matrices (see graphtools.model.Weight.kind).
DEFAULT_KINDS = ("ih", "hh", "hr")
#: Methods that accept ``scope="global"``; biregular and array-code masks are built per matrix.
GLOBAL_METHODS = ("magnitude", "random", "ramanujan-guard")
#: array-code: the requested density must be within this relative distance of ``1/q``.
ARRAY_CODE_RTOL = 0.02
MASK_SUFFIX = "_mask"
OUTPUT_FORMATS = (".npz", ".safetensors")


class _Unfit(Exception):
    """A method cannot build a mask of the requested density on a shape (the reason, no name)."""


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


# ---------------------------------------------------------------- graph summaries


@dataclass(frozen=True)
class GraphSummary:
    """The expander measures of one binary graph (a weight's nonzeros, or a mask).

    ``in_degree`` / ``out_degree`` are (min, max) over input nodes (columns) and
    output nodes (rows); ``ramanujan_bound`` uses average degrees over
    non-isolated nodes (:func:`graphtools.spectral.ramanujan_bound`).
    """

    nnz: int
    density: float
    sigma1: float
    sigma2: float
    ramanujan_bound: float | None
    is_ramanujan: bool | None
    in_degree: tuple[int, int]
    out_degree: tuple[int, int]


#: Largest matrix (entries) whose Gram matrix :func:`_top_two` may form; 2^26 float32 = 256 MB.
GRAM_LIMIT = 1 << 26


def _top_two(nz: np.ndarray, edges: int) -> tuple[float, float]:
    """``sigma_1, sigma_2`` of the 0/1 matrix ``nz``; never a full SVD of a large matrix.

    In general :func:`graphtools.spectral.top_singular_values` (components split,
    ARPACK on large ones).  A large mask with ``E > k^2 / 4`` edges (``k`` its shorter
    side) whose graph is certified connected takes a faster exact route, which makes
    ramanujan-guard's checks of dense early rounds about 3x cheaper:

    * ``G = B^T B`` (or ``B B^T``), ``k x k``, is exact: integer counts below 2^24 add
      up exactly in float32.  ``G`` is positive semidefinite with eigenvalues
      ``sigma_i(B)^2``; isolated nodes (zero rows of ``G``) only add zeros and are dropped.
    * Certificate: if some node shares a neighbour with every other node (a row of
      ``G`` with no zero), the graph without isolated nodes is connected, so ``G`` is
      irreducible and ``lambda_1`` simple (Perron-Frobenius): a Lanczos run cannot
      mistake a second copy of ``lambda_1`` for ``lambda_2`` (the reason
      ``top_singular_values`` splits components).  Without the certificate the general
      route is taken.
    * ``lambda_1, lambda_2`` by ARPACK (``eigsh``, ``which="LA"``, ``tol=0``) on the dense
      ``G``; ``sigma_i = sqrt(lambda_i)``.  Eigenvalue error ``~ eps lambda_1``, so
      ``sigma_2`` is off by ``~ eps sigma_1^2 / (2 sigma_2)``, far below the
      ``1e-12 sigma_1`` rounding allowance of :func:`graphtools.spectral.is_ramanujan`;
      agreement with a full SVD is tested.
    """
    m, n = nz.shape
    k = min(m, n)
    if 4 * edges > k * k and DENSE_LIMIT < m * n <= GRAM_LIMIT:
        F = nz.astype(np.float32)
        G = (F.T @ F if m >= n else F @ F.T).astype(np.float64)
        alive = np.flatnonzero(np.diagonal(G) > 0)
        if alive.size < k:
            G = G[np.ix_(alive, alive)]
        if alive.size > 2 and (G > 0).all(axis=1).any():
            v0 = np.random.default_rng(0).uniform(0.5, 1.5, alive.size)
            lam = np.sort(eigsh(G, k=2, which="LA", tol=0, v0=v0, return_eigenvectors=False))[::-1]
            return float(np.sqrt(lam[0])), float(np.sqrt(max(lam[1], 0.0)))
    s1, s2 = top_singular_values(as_csr(nz), 2)
    return float(s1), float(s2)


def graph_summary(B) -> GraphSummary:
    """Density, ``sigma_1``, ``sigma_2``, Ramanujan bound and check, degree ranges of ``1[B != 0]``.

    Singular values: :func:`_top_two` (ARPACK for large components, never a full SVD
    of a large matrix).  The complete bipartite graph is answered in closed form:
    ``sigma_1 = sqrt(mn)``, ``sigma_2 = 0`` (rank one), so unpruned dense weights cost
    nothing.  The bound is DESIGN.md's: ``sqrt(d_in - 1) + sqrt(d_out - 1)`` with
    ``d_in = E / #non-isolated inputs``, ``d_out = E / #non-isolated outputs``
    (:func:`graphtools.spectral.ramanujan_bound_from_degrees`).
    """
    nz = np.asarray(B) != 0
    m, n = nz.shape
    if nz.size == 0:
        return GraphSummary(0, 0.0, 0.0, 0.0, None, None, (0, 0), (0, 0))
    d_out = np.count_nonzero(nz, axis=1)
    d_in = np.count_nonzero(nz, axis=0)
    edges = int(d_out.sum())
    if edges == m * n:
        s1, s2 = math.sqrt(m * n), 0.0
    else:
        s1, s2 = _top_two(nz, edges)
    bound = None
    if edges:
        bound = ramanujan_bound_from_degrees(edges / np.count_nonzero(d_in), edges / np.count_nonzero(d_out))
    return GraphSummary(
        nnz=edges,
        density=edges / nz.size,
        sigma1=s1,
        sigma2=s2,
        ramanujan_bound=bound,
        is_ramanujan=is_ramanujan(s1, s2, bound),
        in_degree=(int(d_in.min()), int(d_in.max())),
        out_degree=(int(d_out.min()), int(d_out.max())),
    )


# ---------------------------------------------------------------- the methods on one matrix


def top_k_mask(scores, k: int) -> np.ndarray:
    """Boolean mask of the ``k`` largest ``scores``; among equal scores the lower flat
    (row-major) index is kept first.  O(n): one ``np.partition`` plus the ties."""
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


def _scores(weight) -> np.ndarray:
    """``|w|`` in float64 (integer weights included: ``abs`` of int8 -128 would overflow)."""
    return np.abs(np.asarray(weight, dtype=np.float64))


def magnitude_mask(weight, sparsity: float) -> np.ndarray:
    """Keep the ``keep_count`` entries of largest ``|w|`` (ties: lower flat index)."""
    scores = _scores(weight)
    return top_k_mask(scores, keep_count(scores.size, sparsity))


def random_mask(shape, sparsity: float, rng) -> np.ndarray:
    """Exactly ``keep_count`` entries, chosen uniformly at random without replacement."""
    size = math.prod(shape)
    mask = np.zeros(size, dtype=bool)
    mask[rng.choice(size, size=keep_count(size, sparsity), replace=False)] = True
    return mask.reshape(shape)


def biregular_mask(shape, sparsity: float, rng) -> np.ndarray:
    """A random mask with exactly ``E = keep_count`` edges whose row degrees are ``floor(E/m)``
    or one more (the rows getting one more chosen uniformly at random) and likewise its
    column degrees: (c, d)-biregular when ``m`` and ``n`` divide ``E``, otherwise degrees
    differ by at most one on each side.  No multi-edges.  Needs ``E >= max(m, n)``
    (every node at least one edge)."""
    m, n = shape
    edges = keep_count(m * n, sparsity)
    if edges < max(m, n):
        raise _Unfit(
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
    DESIGN.md): lines ``y = a x + b`` against points ``(x, y)`` over ``Z_q``.

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
    """
    m, n = shape
    size = m * n
    rho = keep_count(size, sparsity) / size if size else 0.0
    if rho <= 0:
        raise _Unfit("an array-code mask keeps at least one weight; the requested sparsity keeps none")
    below, above = _primes_around(1.0 / rho)
    choices = [p for p in (below, above) if p is not None]
    q = min(choices, key=lambda p: abs(1.0 / p - rho))
    if abs(1.0 / q - rho) > ARRAY_CODE_RTOL * rho:
        near = " or ".join(f"{1 - 1 / p:.6g} (q = {p})" for p in choices)
        raise _Unfit(
            f"array-code masks have density 1/q for a prime q, and the requested density {rho:.6g} is not "
            f"within {ARRAY_CODE_RTOL:.0%} of any; nearest sparsities: {near}"
        )
    lines_side = "rows" if m >= n else "columns"
    n_lines, n_points = (m, n) if lines_side == "rows" else (n, m)
    if n_points > q * q:
        smallest = next(p for p in range(max(2, math.isqrt(n_points - 1) + 1), 2 * n_points + 3) if is_prime(p))
        raise _Unfit(
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
    round keeps exactly ``keep_count(n, s)``."""
    keep = [n - int(round(n * (1.0 - (1.0 - sparsity) ** (r / rounds)))) for r in range(rounds)]
    keep.append(keep_count(n, sparsity))
    return list(np.minimum.accumulate(keep).tolist())


def _not_ramanujan(r: int, summary: GraphSummary) -> str:
    if summary.ramanujan_bound is None:
        return f"next round ({r}) not Ramanujan: it leaves no edge (bound undefined)"
    return (f"next round ({r}) not Ramanujan: sigma2 {summary.sigma2:.6g} > bound "
            f"{summary.ramanujan_bound:.6g}")


class _Guard:
    """One matrix (or gate block) under ramanujan-guard: its last accepted mask and summary."""

    def __init__(self, shape, rounds: int):
        self.mask = np.ones(shape, dtype=bool)  # round 0: nothing pruned (complete graph, Ramanujan)
        self.summary: GraphSummary | None = None
        self.stop: GuardStop | None = None
        self.rounds = rounds

    def offer(self, r: int, candidate: np.ndarray) -> None:
        """Accept round ``r``'s mask if it is Ramanujan; otherwise stop at round ``r - 1``."""
        if self.stop is not None:
            return
        if np.count_nonzero(candidate) != np.count_nonzero(self.mask):  # an unchanged mask needs no check
            summary = graph_summary(candidate)
            if not summary.is_ramanujan:
                self.stop = GuardStop(r - 1, self.rounds, _not_ramanujan(r, summary))
                return
            self.mask, self.summary = candidate, summary
        if r == self.rounds:
            self.stop = GuardStop(r, self.rounds, "reached target")

    def result(self) -> tuple[np.ndarray, GuardStop, GraphSummary]:
        return self.mask, self.stop, self.summary if self.summary is not None else graph_summary(self.mask)


def guard_mask(weight, sparsity: float, rounds: int = 10) -> tuple[np.ndarray, GuardStop, GraphSummary]:
    """ramanujan-guard on one matrix: the mask, where it stopped, and the mask's summary.

    Round ``r`` keeps the ``guard_schedule(n, s, K)[r]`` largest ``|w|`` (the ranking of
    :func:`magnitude_mask`, so rounds are nested); the matrix stops at the last round
    whose mask is Ramanujan.  Round 0 keeps everything (the complete graph, Ramanujan)."""
    scores = _scores(weight)
    guard = _Guard(scores.shape, rounds)
    for r, keep in enumerate(guard_schedule(scores.size, sparsity, rounds)[1:], start=1):
        guard.offer(r, top_k_mask(scores, keep))
        if guard.stop is not None:
            break
    return guard.result()


def compute_mask(weight, method: str, sparsity: float, rng=None, *, rounds: int = 10) -> np.ndarray:
    """The boolean mask (True = keep) of one 2-D ``weight`` by ``method`` at ``sparsity``.

    ``rng`` (a ``numpy.random.Generator``, a seed, or None for fresh entropy) drives
    ``random`` and ``biregular``; ``rounds`` is used by ``ramanujan-guard``.  Raises
    GraphtoolsError when the method cannot reach the density on this shape.
    """
    method = _check_method(method)
    sparsity = _check_sparsity(sparsity)
    rounds = _check_rounds(rounds)
    weight = np.asarray(weight)
    if weight.ndim != 2:
        raise GraphtoolsError(f"a weight to prune must be 2-D, got shape {list(weight.shape)}")
    try:
        return _unit_mask(weight, method, sparsity, np.random.default_rng(rng), rounds)[0]
    except _Unfit as exc:
        raise GraphtoolsError(f"{weight.shape[0]}x{weight.shape[1]} matrix: {exc}") from None


def _unit_mask(weight: np.ndarray, method: str, sparsity: float, rng, rounds: int):
    """(mask, extra, summary or None) of one matrix or gate block, layer scope."""
    if method == "magnitude":
        return magnitude_mask(weight, sparsity), None, None
    if method == "random":
        return random_mask(weight.shape, sparsity, rng), None, None
    if method == "biregular":
        return biregular_mask(weight.shape, sparsity, rng), None, None
    if method == "array-code":
        mask, fit = fit_array_code(weight.shape, sparsity)
        return mask, fit, None
    mask, stop, summary = guard_mask(weight, sparsity, rounds)
    return mask, stop, summary


# ---------------------------------------------------------------- the report


@dataclass(frozen=True)
class MatrixPruning:
    """One pruned matrix (``gate`` None) or gate block: its graph before and after.

    ``before`` is the graph of the weight's nonzeros, ``after`` the graph of the
    mask.  ``kept_zeros`` counts weights the mask keeps that are already zero (from an
    earlier pruning): they are trainable but not yet edges of the weights' own graph.
    ``guard`` (ramanujan-guard) says where the matrix or block stopped; ``array_code``
    how the code was fitted.
    """

    name: str
    gate: str | None
    shape: tuple[int, int]
    before: GraphSummary
    after: GraphSummary
    kept_zeros: int = 0
    guard: GuardStop | None = None
    array_code: ArrayCodeFit | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["shape"] = list(self.shape)
        for side in ("before", "after"):
            d[side]["in_degree"] = list(d[side]["in_degree"])
            d[side]["out_degree"] = list(d[side]["out_degree"])
        if self.array_code is not None:
            d["array_code"]["biregular"] = self.array_code.biregular
        return d


@dataclass(frozen=True)
class PruneReport:
    """What :func:`prune_state` did: the settings and one entry per matrix (then its gate blocks
    when ``per_gate``), in the canonical order of :func:`graphtools.model.describe`."""

    method: str
    sparsity: float
    scope: str
    seed: int
    rounds: int
    per_gate: bool
    include: tuple[str, ...]
    exclude: tuple[str, ...]
    matrices: list[MatrixPruning] = field(default_factory=list)

    def record(self) -> dict:
        """The ``pruning`` record written into ``graphtools.meta``."""
        return {"method": self.method, "sparsity": self.sparsity, "scope": self.scope, "seed": self.seed,
                "rounds": self.rounds, "per_gate": self.per_gate, "include": list(self.include),
                "exclude": list(self.exclude), "weights": [m.name for m in self.matrices if m.gate is None]}

    def to_dict(self) -> dict:
        d = self.record()
        d["matrices"] = [m.to_dict() for m in self.matrices]
        return d


# ---------------------------------------------------------------- selection and layouts


def _as_patterns(patterns) -> tuple[str, ...]:
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
    sensitive).  A pattern that selects nothing, or an empty selection, is an error."""
    names = [w.name for w in weights]
    for pattern in include:
        if not _matches_any(names, pattern):
            raise _no_match("include", pattern, names, "2-D", tensors)
    chosen = [w for w in weights if w.kind in DEFAULT_KINDS or _matches(w.name, include)]
    for pattern in exclude:
        if not _matches_any([w.name for w in chosen], pattern):
            raise _no_match("exclude", pattern, [w.name for w in chosen], "selected", tensors)
    chosen = [w for w in chosen if not _matches(w.name, exclude)]
    if not chosen:
        raise GraphtoolsError(
            "no weight matrix selected: the checkpoint has no recurrent weight_ih/weight_hh/weight_hr "
            f"(or all were excluded); select others with --include GLOB (2-D weights: {', '.join(names)})"
        )
    return chosen


def _matches_any(names: list[str], pattern: str) -> bool:
    return any(_matches(n, [pattern]) for n in names)


_CELL_OF_GATES = {len(g): cell for cell, g in CELL_GATES.items()}


def _keras_layout(weight: Weight) -> bool:
    """Whether ``weight`` was stored as a Keras kernel ``(in, out)`` (model.describe's naming rules)."""
    match = _KERAS.match(weight.name)
    return _TORCH.match(weight.name) is None and match is not None and match["kind"] != "bias"


def to_stored_layout(weight: Weight, mask: np.ndarray) -> np.ndarray:
    """A mask in ``Weight.matrix`` layout (PyTorch ``(out, in)``, gates in PyTorch order) put back
    into the layout the tensor is stored in: unchanged for PyTorch names; for Keras kernels the
    gate blocks back in Keras order (GRU r, z, n -> z, r, h) and transposed to ``(in, out)``."""
    if not _keras_layout(weight):
        return mask
    if weight.kind in ("ih", "hh"):
        cell = _CELL_OF_GATES[len(weight.gates)]
        order = _KERAS_GATE_ORDER[cell]
        hidden = mask.shape[0] // len(order)
        stored = np.empty_like(mask)
        for torch_block, keras_block in enumerate(order):
            rows = slice(torch_block * hidden, (torch_block + 1) * hidden)
            stored[keras_block * hidden:(keras_block + 1) * hidden] = mask[rows]
        mask = stored
    return mask.T


# ---------------------------------------------------------------- prune a state dict


def _unit_rng(seed: int, name: str, block: int) -> np.random.Generator:
    """A generator per matrix (and gate block) from the seed and the weight's name, so a
    matrix's mask does not depend on which other matrices are selected."""
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


def _global_masks(units: list[_Unit], method: str, sparsity: float, seed: int, rounds: int) -> None:
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
    scores = np.concatenate([_scores(u.matrix).ravel() for u in units]) if units else np.zeros(0)
    if method == "magnitude":
        for u, mask in zip(units, split(top_k_mask(scores, keep_count(total, sparsity)))):
            u.mask = mask
        return
    guards = [_Guard(u.matrix.shape, rounds) for u in units]
    for r, keep in enumerate(guard_schedule(total, sparsity, rounds)[1:], start=1):
        _parallel(lambda pair, r=r: pair[0].offer(r, pair[1]), list(zip(guards, split(top_k_mask(scores, keep)))))
        if all(g.stop is not None for g in guards):
            break
    for u, guard in zip(units, guards):
        u.mask, u.extra, u.summary = guard.result()


def _parallel(function, items: list) -> list:
    """``[function(x) for x in items]``, on up to ``os.cpu_count()`` threads (numpy, BLAS and ARPACK
    release the interpreter lock for most of their work); the first exception is raised, in order."""
    workers = min(len(items), os.cpu_count() or 1)
    if workers <= 1:
        return [function(x) for x in items]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(function, items))


def prune_state(state, method: str, sparsity: float, scope: str = "layer", include=None, seed: int = 0,
                per_gate: bool = False, rounds: int = 10, exclude=None):
    """Prune a state dict (name -> array, as :func:`graphtools.io.load_state` gives it).

    Returns ``(state, masks, report)``: the new state (every tensor unchanged except the
    pruned weights, which hold zeros where pruned, plus a bool ``<name>_mask`` for each,
    next to its weight or replacing an old mask), ``masks`` (weight name -> the bool mask
    as stored, i.e. in the tensor's own layout) and a :class:`PruneReport`.

    Selection: :func:`select_weights`.  ``scope`` is ``"layer"`` (each matrix, or each
    gate block with ``per_gate``, gets the sparsity) or ``"global"`` (magnitude, random
    and ramanujan-guard only).  ``seed`` drives random and biregular (per matrix:
    :func:`_unit_rng`); ``rounds`` is ramanujan-guard's.  Raises GraphtoolsError for a bad
    setting or a method that cannot reach the density on some matrix (naming it).
    """
    method = _check_method(method)
    sparsity = _check_sparsity(sparsity)
    rounds = _check_rounds(rounds)
    if scope not in SCOPES:
        raise GraphtoolsError(f"scope must be 'layer' or 'global', not {scope!r}")
    if scope == "global" and method not in GLOBAL_METHODS:
        raise GraphtoolsError(f"--scope global applies to {', '.join(GLOBAL_METHODS)}; {method} masks are "
                              "built per matrix (use --scope layer)")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise GraphtoolsError(f"seed must be a whole number >= 0, got {seed!r}")
    seed = int(seed)
    include, exclude = _as_patterns(include), _as_patterns(exclude)
    tensors = dict(getattr(state, "tensors", state))  # a state dict, or a Checkpoint
    model = describe(tensors)
    selected = select_weights(model.weights, tensors, include, exclude)
    units = _units(selected, per_gate)
    if scope == "global":
        _global_masks(units, method, sparsity, seed, rounds)
    else:
        def work(u: _Unit):
            block = 0 if u.gate is None else 1 + u.weight.gates.index(u.gate)
            try:
                return _unit_mask(u.matrix, method, sparsity, _unit_rng(seed, u.weight.name, block), rounds)
            except _Unfit as exc:
                raise GraphtoolsError(f"{u.label}: {exc}") from None

        for u, result in zip(units, _parallel(work, units)):
            u.mask, u.extra, u.summary = result
    report = PruneReport(method, sparsity, scope, seed, rounds, bool(per_gate), include, exclude)
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
        )

    report.matrices.extend(_parallel(measure, rows))
    return new_state, masks, report


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


# ---------------------------------------------------------------- files


def _write_npz(handle, tensors: dict[str, np.ndarray]) -> None:
    """An uncompressed ``.npz`` (what ``numpy.savez`` writes) without keyword-name limits."""
    with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for key, value in tensors.items():
            with archive.open(key + ".npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(value), allow_pickle=False)


def _output_format(path: str) -> str:
    ext = os.path.splitext(path)[1].lower()
    if ext not in OUTPUT_FORMATS:
        raise GraphtoolsError(f"{path}: the output must end in .npz or .safetensors")
    return ext


def write_pruned(path, tensors: dict[str, np.ndarray], metadata: dict[str, str] | None,
                 report: PruneReport | None = None) -> None:
    """Write a pruned state atomically as ``.npz`` or ``.safetensors`` (by extension).

    A ``graphtools.meta`` JSON object in ``metadata`` gets a ``pruning`` record
    (:meth:`PruneReport.record`, replacing an older one); other metadata strings are kept in
    a ``.safetensors`` output (``.npz`` has room for ``graphtools.meta`` only).
    """
    path = os.fspath(path)
    ext = _output_format(path)
    metadata = dict(metadata or {})
    if META_KEY in metadata and report is not None:
        try:
            info = json.loads(metadata[META_KEY])
        except ValueError:
            raise GraphtoolsError(f"{META_KEY} of the input is not valid JSON") from None
        if not isinstance(info, dict):
            raise GraphtoolsError(f"{META_KEY} of the input is not a JSON object")
        info["pruning"] = report.record()
        metadata[META_KEY] = json.dumps(info)
    if ext == ".safetensors":
        from graphtools.safetensors import write_safetensors

        write_safetensors(path, tensors, metadata)
        return
    out = dict(tensors)
    if META_KEY in metadata:
        out[META_KEY] = np.array(metadata[META_KEY])
    with atomic_open(path, "wb") as handle:
        _write_npz(handle, out)


def prune_file(path, output, method: str, sparsity: float, scope: str = "layer", include=None, seed: int = 0,
               per_gate: bool = False, rounds: int = 10, exclude=None) -> PruneReport:
    """Load ``path``, :func:`prune_state` it, and write ``output`` atomically (nothing is written
    when anything fails).  What ``graphtools prune`` runs."""
    _output_format(os.fspath(output))
    checkpoint = load_state(path)
    state, _, report = prune_state(checkpoint.tensors, method, sparsity, scope, include, seed, per_gate,
                                   rounds, exclude)
    write_pruned(output, state, checkpoint.metadata, report)
    return report


# ---------------------------------------------------------------- rendering


def _yes(value) -> str:
    return "-" if value is None else ("yes" if value else "no")


def render_prune_table(report: PruneReport, source: str = "", output: str = "") -> str:
    """The before/after table of ``graphtools prune``: per matrix (and gate block) density,
    sigma2, the bound after and the Ramanujan check before and after; then where
    ramanujan-guard stopped each matrix, or how each array code was fitted."""
    settings = f"method {report.method}, sparsity {report.sparsity:g}, scope {report.scope}"
    if report.method in ("random", "biregular"):
        settings += f", seed {report.seed}"
    if report.method == "ramanujan-guard":
        settings += f", {report.rounds} round(s)"
    if report.per_gate:
        settings += ", per gate"
    lines = [f"pruned {source} -> {output}: {settings}" if source else f"pruned: {settings}", ""]
    header = ("name", "gate", "shape", "density", "-> after", "sigma2", "-> after", "bound after",
              "ramanujan", "-> after")
    rows = []
    for m in report.matrices:
        rows.append((m.name, m.gate or "-", f"{m.shape[0]}x{m.shape[1]}", _num(m.before.density, 4),
                     _num(m.after.density, 4), _num(m.before.sigma2), _num(m.after.sigma2),
                     _num(m.after.ramanujan_bound), _yes(m.before.is_ramanujan), _yes(m.after.is_ramanujan)))
    lines += _aligned(header, rows, left=2)
    notes = []
    for m in report.matrices:
        label = m.name + (f" gate {m.gate}" if m.gate else "")
        if m.kept_zeros:
            own = (m.after.nnz - m.kept_zeros) / (m.shape[0] * m.shape[1])
            notes.append(f"{label}: the mask keeps {m.kept_zeros} weight(s) that are already zero; until training "
                         f"moves them, the weights' own graph has density {own:.4f}")
        if m.guard is not None:
            notes.append(f"{label}: stopped after round {m.guard.round} of {m.guard.rounds}: {m.guard.reason}")
        if m.array_code is not None:
            a = m.array_code
            copies = f"{a.copies:.4g} cop{'y' if a.copies == 1 else 'ies'} of the {a.q * a.q} lines on the {a.lines}"
            notes.append(
                f"{label}: q = {a.q}, l = {a.l}, {copies}; degree spread in {a.in_spread}, out {a.out_spread}"
                + (" (biregular" + (", exactly the array code)" if a.exact else ")") if a.biregular else "")
            )
    if notes:
        lines += [""] + notes
    return "\n".join(lines) + "\n"
