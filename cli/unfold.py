"""``graphtools unfold``: the time-unfolded graph of a recurrent checkpoint, as JSON, GraphML or edges."""

from __future__ import annotations

import sys

import click

from graphtools.analysis import analyze_unfolded
from graphtools.atomic import atomic_open
from graphtools.export import WRITERS
from graphtools.io import load_state
from graphtools.model import describe
from graphtools.render import render_json_object
from graphtools.unfolding import GATE_MODES, unfold as unfold_graph


@click.command()
@click.argument("path", type=click.Path(path_type=str))
@click.option("--steps", "-T", type=click.IntRange(min=1), required=True, help="Number of time steps T.")
@click.option("--gates", type=click.Choice(GATE_MODES), default="union", show_default=True,
              help="union: one node per hidden unit; per-gate: gate nodes between inputs and hidden units.")
@click.option("--layer", type=click.IntRange(min=0), default=None, help="Unfold only layer K.")
@click.option("--format", "fmt", type=click.Choice(["json", *WRITERS]), default="json", show_default=True,
              help="json: counts and measures; graphml / edgelist: the graph itself.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=str),
              help="Write to FILE (atomically) instead of standard output.")
def unfold(path, steps, gates, layer, fmt, output):
    """Unfold the recurrent layers of PATH over T steps: nodes x[t][i], h{l}[t][j], ..."""
    model = describe(load_state(path).tensors)
    if fmt == "json":
        text = render_json_object(analyze_unfolded(model, steps, gates, layer).to_dict())
        if output:
            with atomic_open(output) as handle:
                handle.write(text)
        else:
            click.echo(text, nl=False)
        return
    graph = unfold_graph(model, steps, gates, layer)
    if output:
        with atomic_open(output) as handle:
            WRITERS[fmt](graph, handle)
    else:
        WRITERS[fmt](graph, sys.stdout)
