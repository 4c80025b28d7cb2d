"""``graphtools claim``: the controlled test of the paper's claim (degree-matched masks, paired seeds), resumable."""

from __future__ import annotations

import click


@click.command()
@click.argument("preset", type=click.Choice(["claim-seqmnist", "claim-quick"]))
@click.option("--data", default=None, metavar="PATH",
              help="The dataset (claim-seqmnist: the full MNIST, mnist.npz or a folder of the IDX files); "
                   "claim-quick uses the bundled subset.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=str),
              help="Folder of results.jsonl (one record per finished run; a rerun skips the runs already there).")
@click.option("--checkpoints", default=None, type=click.Path(file_okay=False, path_type=str),
              help="Folder for the dense parents and every run's model [default: OUT/checkpoints].")
@click.option("--max-runs", type=click.IntRange(min=1), default=None, help="Stop after this many runs.")
def claim(preset, data, out_dir, checkpoints, max_runs):
    """Run PRESET (docs/reproduction.md): per model and seed a dense parent, its magnitude mask and
    two degree-preserving rewirings of it (towards an expander and a poor expander), each fine-tuned
    from the parent and trained from scratch; appends each run's record to OUT/results.jsonl."""
    from graphtools.experiments.claim import load_claim_preset, run_claim

    config = load_claim_preset(preset, data)
    ran = run_claim(config, out_dir, checkpoints=checkpoints, max_runs=max_runs,
                    log=lambda line: click.echo(line, err=True))
    click.echo(f"{len(ran)} run(s) made; results in {out_dir}")
