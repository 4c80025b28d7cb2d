"""``graphtools analyze``: expander measures of every weight matrix of a checkpoint."""

from __future__ import annotations

import click

from graphtools.analysis import analyze_checkpoint
from graphtools.cli._options import OUTPUT, loading_options
from graphtools.atomic import write_atomic
from graphtools.errors import GraphtoolsError
from graphtools.render import FORMATS, RENDERERS


@click.command()
@click.argument("path", type=click.Path(dir_okay=True, path_type=str))
@click.option("--format", "fmt", type=click.Choice((*FORMATS, "html")), default="table", show_default=True,
              help="table for people, json (the machine contract), csv, or html (one self-contained page "
                   "with figures).")
@click.option("--output", "-o", type=OUTPUT,
              help="Write the report to FILE (atomically) instead of standard output.")
@click.option("--gates", is_flag=True, help="Add one row per gate block (LSTM i,f,g,o; GRU r,z,n).")
@click.option("--method", type=click.Choice(["auto", "dense", "sparse"]), default="auto", show_default=True,
              help="Singular values by LAPACK (dense), ARPACK (sparse), or by size (auto).")
@click.option("--bounds", is_flag=True,
              help="Add expansion bounds (mixing lemma, Tanner, Cheeger, IMDB; exact values on small graphs).")
@click.option("--unfold", "unfold_steps", type=click.IntRange(min=1), default=None, metavar="T",
              help="Add the graph unfolded over T steps: eigenvalues, step layers, reachability, mixing depth.")
@click.option("--module", default=None, metavar="PREFIX",
              help="With --unfold: unfold only the recurrent module with this prefix (default: every module).")
@loading_options
def analyze(path, fmt, output, gates, method, bounds, unfold_steps, module, rename, threshold, threshold_rel):
    """Report degrees, spectral gaps and Ramanujan checks of every 2-D weight in PATH
    (.npz, .npy, .safetensors, .onnx, Keras .h5/.keras; PyTorch, Keras or ONNX layouts)."""
    if fmt == "csv" and unfold_steps is not None:
        raise GraphtoolsError("--format csv holds one row per weight matrix and has no room for --unfold: "
                              "use --format json, table or html with --unfold")
    report = analyze_checkpoint(path, gates=gates, method=method, bounds=bounds, unfold_steps=unfold_steps,
                                rename=rename, threshold=threshold, threshold_rel=threshold_rel, module=module)
    if fmt == "html":
        from graphtools.html_report import render_html
        from graphtools.loading import read_checkpoint

        model = read_checkpoint(path, rename=rename, threshold=threshold, threshold_rel=threshold_rel).model
        text = render_html(report, model=model)
    else:
        text = RENDERERS[fmt](report)
    if output:
        write_atomic(output, text)
    else:
        click.echo(text, nl=False)
