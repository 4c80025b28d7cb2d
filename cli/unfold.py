"""``graphtools unfold``: the time-unfolded graph of a recurrent checkpoint, as JSON, GraphML or edges."""

from __future__ import annotations

import sys

import click

from graphtools.analysis import analyze_unfolded
from graphtools.atomic import atomic_open
from graphtools.export import WRITERS
from graphtools.cli._options import OUTPUT, loading_options
from graphtools.errors import GraphtoolsError
from graphtools.loading import read_checkpoint, select_modules
from graphtools.render import render_json_object
from graphtools.export import isolated_nodes
from graphtools.unfolding import GATE_MODES, unfold as unfold_graph


@click.command()
@click.argument("path", type=click.Path(path_type=str))
@click.option("--steps", "-T", type=click.IntRange(min=1), required=True, metavar="T",
              help="Number of time steps T.")
@click.option("--gates", type=click.Choice(GATE_MODES), default="union", show_default=True,
              help="union: one node per hidden unit; per-gate: gate nodes between inputs and hidden units.")
@click.option("--layer", type=click.IntRange(min=0), default=None, metavar="K", help="Unfold only layer K.")
@click.option("--format", "fmt", type=click.Choice(["json", *WRITERS]), default="json", show_default=True,
              help="json: counts and measures; graphml: the graph itself, every node; edgelist: one "
                   "'source target weight' line per edge (nodes without an edge are not in it).")
@click.option("--output", "-o", type=OUTPUT,
              help="Write to FILE (atomically) instead of standard output.")
@click.option("--module", default=None, metavar="PREFIX",
              help="Unfold only the recurrent module with this prefix (default: every module; graphml and "
                   "edgelist need one when there are several).")
@loading_options
def unfold(path, steps, gates, layer, fmt, output, module, rename, threshold, threshold_rel):
    """Unfold the recurrent layers of PATH over T steps into one graph: nodes x[t][i] (inputs) and
    h{l}[t][j] (hidden units of layer l; gate nodes too with --gates per-gate), edges from a
    layer's input at step t (x[t], or the layer below's h[t]) and its h[t-1] to its h[t].  JSON: totals (nodes, edges, lambda1, lambda2) and per
    layer the step graph, reachability and mixing depth, for one module or {"modules": [...]};
    graphml / edgelist: the graph itself, of one module."""
    model = read_checkpoint(path, rename=rename, threshold=threshold, threshold_rel=threshold_rel).model
    chosen = select_modules(model, module)
    for index in chosen:  # every structure error before any spectral work
        count = model.modules[index].num_layers
        if layer is not None and layer >= count:
            raise GraphtoolsError(f"layer {layer} does not exist in module {model.modules[index].prefix!r}: "
                                  f"it has layers 0..{count - 1}")
    if fmt != "json" and len(chosen) > 1:
        known = ", ".join(repr(model.modules[i].prefix.rstrip("./")) for i in chosen)
        raise GraphtoolsError(f"the checkpoint has {len(chosen)} recurrent modules ({known}); "
                              f"--format {fmt} writes one graph: choose it with --module PREFIX")
    if fmt == "json":
        reports = [analyze_unfolded(model, steps, gates, layer, module=i).to_dict() for i in chosen]
        text = render_json_object(reports[0] if len(reports) == 1 else {"modules": reports})
        if output:
            with atomic_open(output) as handle:
                handle.write(text)
        else:
            click.echo(text, nl=False)
        return
    graph = unfold_graph(model, steps, gates, layer, chosen[0])
    if fmt == "edgelist":
        isolated = isolated_nodes(graph)
        if isolated:
            click.echo(f"note: {isolated} of {graph.nodes} nodes have no edge and are not in the edge list "
                       "(--format graphml keeps every node)", err=True)
    if output:
        with atomic_open(output) as handle:
            WRITERS[fmt](graph, handle)
    else:
        WRITERS[fmt](graph, sys.stdout)
