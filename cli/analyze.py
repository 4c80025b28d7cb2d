"""``graphtools analyze``: expander measures of every weight matrix of a checkpoint."""

from __future__ import annotations

import click

from graphtools.analysis import analyze_checkpoint
from graphtools.cli._options import OUTPUT, loading_options
from graphtools.atomic import write_atomic
from graphtools.cli.analyze_batch import BATCH_FORMATS, analyze_batch
from graphtools.errors import GraphtoolsError
from graphtools.render import FORMATS, RENDERERS


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(dir_okay=True, path_type=str))
@click.option("--format", "fmt", type=click.Choice((*FORMATS, "html", *BATCH_FORMATS)), default="table",
              show_default=True, help="table for people, json (the machine contract), csv, html (one "
                                      "self-contained page with figures); jsonl: one line per file of a batch.")
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
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None, help="Batch: files at once, in processes.")
@click.option("--cluster", default=None, metavar="local:N|tcp://HOST:PORT|FILE",
              help="Batch: analyze the files on a Dask cluster (needs graphtools[dask]).")
@loading_options
def analyze(paths, fmt, output, gates, method, bounds, unfold_steps, module, jobs, cluster, rename, threshold,
            threshold_rel):
    """Report degrees, spectral gaps and Ramanujan checks of every 2-D weight in PATH
    (.npz, .npy, .safetensors, .onnx, Keras .h5/.keras; PyTorch, Keras or ONNX layouts).  Several
    PATHs, folders or globs with --format jsonl: one JSON line per file (docs/scaling.md)."""
    if fmt == "csv" and unfold_steps is not None:
        raise GraphtoolsError("--format csv holds one row per weight matrix and has no room for --unfold: "
                              "use --format json, table or html with --unfold")
    options = dict(gates=gates, method=method, bounds=bounds, unfold_steps=unfold_steps, rename=rename,
                   threshold=threshold, threshold_rel=threshold_rel, module=module)
    if fmt in BATCH_FORMATS or len(paths) > 1 or jobs or cluster:
        return analyze_batch(paths, fmt, output, jobs, cluster, **options)
    path = paths[0]
    report = analyze_checkpoint(path, **options)
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
