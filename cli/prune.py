"""``graphtools prune``: prune a checkpoint's weight matrices and write it with masks."""

from __future__ import annotations

import json

import click

from graphtools.cli._options import FINITE, OUTPUT, SEED, loading_options
from graphtools.spectral import RAMANUJAN_DEFINITIONS
from graphtools.prune import METHODS, SCOPES, prune_file, render_prune_table


@click.command()
@click.argument("path", type=click.Path(dir_okay=True, path_type=str))
@click.option("--output", "-o", type=OUTPUT, required=True, metavar="OUT",
              help="Checkpoint to write (.npz or .safetensors), atomically: pruned weights plus <weight>_mask.")
@click.option("--method", type=click.Choice(METHODS), required=True,
              help="magnitude, random, biregular, array-code, ramanujan-guard or rewire (docs/pruning.md).")
@click.option("--sparsity", type=FINITE, required=True, metavar="S", help="Fraction of each matrix's weights to prune, in [0, 1).")
@click.option("--scope", type=click.Choice(SCOPES), default="layer", show_default=True,
              help="Sparsity per matrix, or one ranking across the selected matrices (magnitude, random, "
                   "ramanujan-guard).")
@click.option("--include", multiple=True, metavar="GLOB",
              help="Also prune 2-D weights whose names match GLOB, e.g. 'fc.*' (repeatable; default: the "
                   "recurrent weight_ih/weight_hh/weight_hr).")
@click.option("--exclude", multiple=True, metavar="GLOB", help="Do not prune weights matching GLOB (repeatable).")
@click.option("--per-gate", is_flag=True, help="Apply the method to each gate block (LSTM i,f,g,o; GRU r,z,n).")
@click.option("--seed", type=SEED, default=0, show_default=True, metavar="N", help="Seed of random and biregular masks.")
@click.option("--rounds", type=int, default=10, show_default=True, metavar="K", help="Rounds of ramanujan-guard.")
@click.option("--definition", type=click.Choice(RAMANUJAN_DEFINITIONS), default=None,
              help="Ramanujan test of ramanujan-guard: average-degree bound (default, the paper's) or the "
                   "universal cover's spectral radius.")
@click.option("--target", type=click.Choice(["random", "expander", "poor"]), default="random", show_default=True,
              help="rewire: uniform degree-preserving swaps, or swaps steered to lower (expander) or raise "
                   "(poor) sigma2.")
@click.option("--steps", type=int, default=None, help="rewire: swap attempts (default 10 E random, 200 steered).")
@click.option("--from", "start_from", type=click.Path(dir_okay=False, path_type=str),
              help="rewire: start from this checkpoint's (masked) weights instead of PATH's.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True,
              help="How to print the before/after report.")
@loading_options
def prune(path, output, method, sparsity, scope, include, exclude, per_gate, seed, rounds, definition, target, steps,
          start_from, fmt, rename, threshold, threshold_rel):
    """Prune the weight matrices of PATH and write OUTPUT with the masks; print the graphs'
    density, sigma2, Ramanujan bound and check before and after."""
    report = prune_file(path, output, method=method, sparsity=sparsity, scope=scope, include=include,
                        exclude=exclude, seed=seed, per_gate=per_gate, rounds=rounds, definition=definition, target=target, steps=steps, start_from=start_from,
                        rename=rename, threshold=threshold, threshold_rel=threshold_rel)
    if fmt == "json":
        click.echo(json.dumps(dict(report.to_dict(), input=path, output=output), indent=2, allow_nan=False))
    else:
        click.echo(render_prune_table(report, path, output), nl=False)
