"""``graphtools analyze PATH... --format jsonl``: many files, one JSON line each."""

from __future__ import annotations

import click

from graphtools.atomic import write_atomic
from graphtools.batch import analyze_many
from graphtools.errors import GraphtoolsError

BATCH_FORMATS = ("jsonl",)


def analyze_batch(paths, fmt, output, jobs, cluster, **options) -> None:
    """Analyze every file of ``paths`` (files, folders, globs) and write one JSON line per file
    to ``output`` (atomically) or standard output; a count of error records goes to stderr."""
    if fmt not in BATCH_FORMATS:
        raise GraphtoolsError(f"several files, --jobs or --cluster need --format jsonl (not {fmt})")
    result = analyze_many(list(paths), jobs=jobs or 1, cluster=cluster, **options)
    text = result.jsonl()
    if output:
        write_atomic(output, text)
    else:
        click.echo(text, nl=False)
    click.echo(f"{len(result.records)} file(s) analyzed, {result.errors} with errors (status \"error\" in their "
               "records)", err=True)
