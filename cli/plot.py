"""``graphtools plot``: draw one figure of a sweep's results or of one checkpoint (docs/plots.md)."""

from __future__ import annotations

import click

from graphtools.cli._options import FINITE, OUTPUT, SEED

@click.command()
@click.argument("results", type=click.Path(path_type=str))
@click.option("--kind", required=True, metavar="[accuracy|gap|spectra|degrees|noise|forest|layers|unfold]",
              help="results: accuracy, gap, spectra, degrees, noise or forest (claim tests); checkpoint: layers, spectra, degrees or "
                   "unfold (docs/plots.md).")
@click.option("--output", "-o", type=OUTPUT, required=True,
              help="Figure to write, atomically; the format comes from the extension: .png, .svg or .pdf.")
@click.option("--model", default=None, metavar="NAME", help="Only this model of the sweep.")
@click.option("--title", default=None, metavar="TEXT", help="Figure title (a data note is still shown).")
@click.option("--dpi", type=int, default=150, show_default=True, help="Resolution of a PNG.")
@click.option("--x", "x", type=click.Choice(["actual", "requested"]), default=None,
              help="accuracy: place points at the sparsity reached (default) or the requested one.")
@click.option("--measure", "measures", multiple=True, metavar="NAME",
              help="gap: summary measure on x (repeatable; default spectral_gap and ramanujan_gap).")
@click.option("--layer", default=None, metavar="NAME",
              help="spectra, degrees: layer name (default: the first recurrent hh weight); of a checkpoint, "
                   "layers, spectra, degrees: a glob over weight names (default: every weight).")
@click.option("--sparsity", type=FINITE, default=None,
              help="spectra, degrees, noise: requested sparsity (default: the largest every method has).")
@click.option("--seed", type=SEED, default=None, help="spectra, degrees: seed (default: the smallest).")
@click.option("-k", "k", type=int, default=None, help="checkpoint spectra: singular values per matrix, 1 to 50 "
              "(default 20).")
@click.option("--steps", type=int, default=None, metavar="T", help="checkpoint unfold: time steps (default 20).")
@click.option("--gates", is_flag=True, help="checkpoint layers, spectra, degrees: add one row or panel per gate block.")
def plot(results, kind, output, model, title, dpi, x, measures, layer, sparsity, seed, k, steps, gates):
    """Draw figure KIND of RESULTS (a results.jsonl, a sweep folder or a checkpoint) into OUTPUT."""
    from graphtools.plots import plot as draw

    result = draw(results, kind, output, model=model, title=title, dpi=dpi, measures=measures, layer=layer,
                  sparsity=sparsity, seed=seed, x=x, k=k, steps=steps, gates=gates)
    click.echo(f"wrote {result.output} ({result.kind}, {result.summary()})")
