"""``graphtools sweep``: train -> prune -> fine-tune -> evaluate -> analyze over a grid, resumable."""

from __future__ import annotations

import sys
import time

import click

from graphtools.errors import GraphtoolsError
from graphtools.experiments import PRESETS, TRAINERS, check_trainer, load_config, load_preset, preset_text, run_sweep, with_overrides
from graphtools.cli._format import duration


class _Bar:
    """One status line rewritten in place on a terminal; on a log, one line per finished run."""

    def __init__(self):
        self.tty = sys.stderr.isatty()
        self.width = 0
        self.last = 0.0

    def __call__(self, p):
        if self.tty and not p.event and time.monotonic() - self.last < 0.25:
            return  # at most four redraws a second
        self.last = time.monotonic()
        failed = f", {p.failed} failed" if p.failed else ""
        head = f"[{p.done}/{p.total} {100 * p.done / max(p.total, 1):.0f}%{failed}]"
        if p.dashboard and p.dashboard != getattr(self, "dashboard", None):
            self.dashboard = p.dashboard
            click.echo(("\r" + " " * self.width + "\r" if self.tty else "") + f"dashboard: {p.dashboard}", err=True)
        eta = "" if p.eta is None else f", ETA {duration(p.eta)}"
        if self.tty:
            running = "; ".join(f"{k} ({v})" for k, v in p.running.items()) or "-"
            line = f"{head} {duration(p.elapsed)} elapsed{eta} | running: {running}"
            if p.event:
                click.echo("\r" + " " * self.width + "\r" + p.event, err=True)
            padded = line.ljust(self.width)  # blank out the rest of a longer previous line
            self.width = len(line)
            click.echo("\r" + padded, err=True, nl=False)
        elif p.event:
            click.echo(f"{head} {p.event} ({duration(p.elapsed)} elapsed{eta})", err=True)

    def close(self):
        if self.tty and self.width:
            click.echo("", err=True)


@click.command()
@click.argument("config", required=False, type=click.Path(dir_okay=False, path_type=str))
@click.option("--preset", type=click.Choice(PRESETS), default=None, help="A built-in config instead of CONFIG.")
@click.option("--out", "out", type=click.Path(path_type=str), default=None,
              help="Folder for results.jsonl, summary.csv, checkpoints/ and figures/ (the same command "
                   "again resumes).  Required unless --show-config.")
@click.option("--data", type=click.Path(path_type=str), default=None, help="Data file or folder (replaces the config's).")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="Runs at once, each in its own process (default 1).")
@click.option("--cluster", default=None, metavar="local:N|tcp://HOST:PORT|FILE",
              help="Run on a Dask cluster (replaces the config's cluster; needs graphtools[dask]; docs/scaling.md).")
@click.option("--trainer", type=click.Choice(TRAINERS), default=None,
              help="Train with graphtools' numpy trainer or with PyTorch (the graphtools[torch] extra); "
                   "replaces the config's (default numpy).")
@click.option("--device", default=None, metavar="cpu|cuda|cuda:N",
              help="Where the torch trainer runs (replaces the config's; default cpu).")
@click.option("--no-figures", is_flag=True, help="Do not draw the figures at the end.")
@click.option("--show-config", is_flag=True, help="Print the config (as TOML) and exit.")
def sweep(config, preset, out, data, jobs, cluster, trainer, device, no_figures, show_config):
    """Reproduce the paper's experiment: for every model and seed train a dense model, then prune it
    with every method to every sparsity, fine-tune, evaluate and measure every layer.  One JSON
    record per finished run goes to OUT/results.jsonl; interrupted sweeps resume where they stopped."""
    if (config is None) == (preset is None):
        raise GraphtoolsError("give a CONFIG.toml or --preset NAME (one of them)")
    if show_config and preset and data is None and trainer is None and device is None:
        click.echo(preset_text(preset), nl=False)
        return
    settings = load_preset(preset, data) if preset else with_overrides(load_config(config), data=data)
    settings = check_trainer(with_overrides(settings, trainer=trainer, device=device), "options")
    if show_config:
        click.echo(settings.to_toml(), nl=False)
        return
    if not out:
        raise GraphtoolsError("--out DIR is required (the folder for the results)")
    if cluster and jobs:
        raise GraphtoolsError("give --jobs or --cluster, not both")
    cluster = cluster or (None if jobs else settings.cluster or None)
    bar = _Bar()
    start = time.perf_counter()
    try:
        result = run_sweep(settings, out, jobs=jobs or 1, progress=bar, figures=not no_figures, cluster=cluster)
    except KeyboardInterrupt:
        bar.close()
        click.echo(f"interrupted after {duration(time.perf_counter() - start)}: every finished run is in "
                   f"{out}/results.jsonl; run the same command again to resume", err=True)
        raise SystemExit(130) from None
    bar.close()
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    for key, reason in result.infeasible:
        click.echo(f"infeasible: {key}: {reason}", err=True)
    click.echo(f"{result.ran} run(s) done ({len(result.infeasible)} infeasible), {result.skipped} already finished, "
               f"{len(result.failures)} failed, of {result.total} in {duration(result.seconds)}")
    click.echo(f"results: {result.results}\nsummary: {result.summary}")
    for path in result.figures:
        click.echo(f"figure: {path}")
    if result.failures:
        for key, message in result.failures:
            click.echo(f"failed: {key}: {message}", err=True)
        raise GraphtoolsError(f"{len(result.failures)} run(s) failed (see above); the others are saved, and "
                              "running the same command again retries the failed ones")
