"""Write an unfolded graph as GraphML or as an edge list, streaming (never one big string).

Node ids are the names of :mod:`graphtools.unfolding` (``x[t][i]``, ``h0[t][j]``,
``h0_reverse[t][j]``, ``p0[t][j]``, ``g0[t][k]``); edges point the way the
computation flows (input to output, step ``t-1`` to ``t``) and carry
``weight = |w|`` (the gate-summed weight in ``union`` mode).  GraphML node
attributes ``block``, ``t`` and ``j`` repeat what the id says, for tools that
filter by attribute.  Both files load in networkx and igraph with the
graph's exact node and edge counts (tested).
"""

from __future__ import annotations

from typing import TextIO
from xml.sax.saxutils import quoteattr

import numpy as np

from graphtools import budget
from graphtools.unfolding import UnfoldedGraph

EXPORT_FORMATS = ("graphml", "edgelist")


def _edges(graph: UnfoldedGraph, names: list[str]):
    for family in graph.families:
        sources, targets, weights = graph.edge_arrays(family)
        for s, t, w in zip(sources.tolist(), targets.tolist(), weights.tolist()):
            yield names[s], names[t], w


def _check_budget(graph: UnfoldedGraph) -> None:
    budget.check(budget.export_bytes(graph.nodes, graph.edges),
                 f"writing the unfolded graph ({graph.nodes:,} nodes, {graph.edges:,} edges)")


def isolated_nodes(graph: UnfoldedGraph) -> int:
    """How many nodes of ``graph`` have no edge (an edge list cannot name them)."""
    return int(np.count_nonzero(np.diff(graph.adjacency().indptr) == 0))  # symmetric: row = degree


def write_edgelist(graph: UnfoldedGraph, handle: TextIO) -> None:
    """One line per edge: ``source target weight`` (weights in full precision).

    ``networkx.read_weighted_edgelist(path, create_using=networkx.DiGraph)`` and
    ``igraph.Graph.Read_Ncol(path, directed=True)`` read it as is; nodes without an edge are not
    in it (:func:`isolated_nodes` counts them; GraphML keeps every node)."""
    _check_budget(graph)
    names = graph.node_names()
    for s, t, w in _edges(graph, names):
        handle.write(f"{s} {t} {w!r}\n")


def write_graphml(graph: UnfoldedGraph, handle: TextIO) -> None:
    """GraphML 1.0, ``edgedefault="directed"``, node keys ``block``/``t``/``j``, edge key ``weight``."""
    _check_budget(graph)
    handle.write(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<graphml xmlns="http://graphml.graphdrawing.org/xmlns" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xsi:schemaLocation="http://graphml.graphdrawing.org/xmlns '
        'http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd">\n'
        '  <key id="block" for="node" attr.name="block" attr.type="string"/>\n'
        '  <key id="t" for="node" attr.name="t" attr.type="int"/>\n'
        '  <key id="j" for="node" attr.name="j" attr.type="int"/>\n'
        '  <key id="weight" for="edge" attr.name="weight" attr.type="double"/>\n'
        '  <graph id="unfolded" edgedefault="directed">\n'
    )
    names = graph.node_names()
    for block in graph.blocks.values():
        label = quoteattr(block.label)[1:-1]
        for t in range(block.t_first, block.t_last + 1):
            for j in range(block.size):
                handle.write(
                    f'    <node id="{label}[{t}][{j}]"><data key="block">{label}</data>'
                    f'<data key="t">{t}</data><data key="j">{j}</data></node>\n'
                )
    for s, t, w in _edges(graph, names):
        handle.write(f'    <edge source="{s}" target="{t}"><data key="weight">{w!r}</data></edge>\n')
    handle.write("  </graph>\n</graphml>\n")


WRITERS = {"graphml": write_graphml, "edgelist": write_edgelist}
