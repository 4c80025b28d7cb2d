"""``graphtools report``: the accuracy and rank-correlation tables of a sweep, as Markdown."""

from __future__ import annotations

import click

from graphtools.cli._options import OUTPUT


@click.command()
@click.argument("results", type=click.Path(path_type=str))
@click.option("--measure", "measures", multiple=True, metavar="NAME",
              help="Summary measure to rank runs by (repeatable) [default: spectral_gap, normalized_gap, "
                   "ramanujan_gap, weighted_spectral_gap, step_normalized_gap].")
@click.option("--model", default=None, metavar="NAME", help="Only this model of the sweep.")
@click.option("--output", "-o", type=OUTPUT, default=None,
              help="Write the tables to this file (atomically) instead of standard output.")
def report(results, measures, model, output):
    """Tables of RESULTS (a results.jsonl or a sweep folder): accuracy per model, method and
    sparsity, and Spearman / within-sparsity / partial rank correlations of graph measures with
    accuracy.  For the results of `graphtools claim`: masks, accuracies, paired seed-level tests
    (Wilcoxon, effect sizes, bootstrap CIs), block-permutation correlations, Holm over every
    p-value printed and the smallest detectable effect (docs/reproduction.md)."""
    from graphtools.experiments.tables import sweep_report

    text = sweep_report(results, measures or None, model)
    if output is None:
        click.echo(text, nl=False)
    else:
        from graphtools.atomic import write_atomic

        write_atomic(output, text)
        click.echo(f"wrote {output}")
