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
  (``sigma_2 <= sqrt(d_in - 1) + sqrt(d_out - 1)``, docs/measures.md), so every mask
  it returns is Ramanujan.

The report measures graphs with :mod:`graphtools.spectral`: "before" is the
graph of the weight's nonzeros, "after" the graph of the mask.
"""

from graphtools.prune.common import (
    ARRAY_CODE_RTOL, DEFAULT_KINDS, GLOBAL_METHODS, METHODS, OUTPUT_FORMATS, SCOPES, InfeasibleSparsity,
    keep_count, prune_count,
)
from graphtools.prune.summary import GRAM_LIMIT, GraphSummary, graph_summary
from graphtools.prune.methods import (
    ArrayCodeFit, GuardStop, biregular_mask, compute_mask, fit_array_code, guard_mask,
    guard_schedule, magnitude_mask, random_mask, top_k_mask,
)
from graphtools.prune.report import MatrixPruning, PruneReport
from graphtools.prune.selection import select_weights, to_stored_layout
from graphtools.prune.state import prune_state, unit_rng
from graphtools.prune.files import prune_file, write_pruned
from graphtools.prune.table import render_prune_table

__all__ = [
    "ARRAY_CODE_RTOL",
    "DEFAULT_KINDS",
    "GLOBAL_METHODS",
    "METHODS",
    "OUTPUT_FORMATS",
    "SCOPES",
    "InfeasibleSparsity",
    "keep_count",
    "prune_count",
    "GRAM_LIMIT",
    "GraphSummary",
    "graph_summary",
    "ArrayCodeFit",
    "GuardStop",
    "biregular_mask",
    "compute_mask",
    "fit_array_code",
    "guard_mask",
    "guard_schedule",
    "magnitude_mask",
    "random_mask",
    "top_k_mask",
    "MatrixPruning",
    "PruneReport",
    "select_weights",
    "to_stored_layout",
    "prune_state",
    "unit_rng",
    "prune_file",
    "write_pruned",
    "render_prune_table",
]
