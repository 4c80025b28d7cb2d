"""``graphtools check``: graph properties as CI assertions (exit 0 all pass, 3 a rule failed, 1 bad input)."""

from __future__ import annotations

import click

from graphtools.atomic import write_atomic
from graphtools.cli._options import FINITE, OUTPUT, loading_options
from graphtools.spectral import RAMANUJAN_DEFINITIONS
from graphtools.checks import Rules, default_config, junit_xml, load_rules, render_results, run_checks

EXIT_FAILED = 3


@click.command()
@click.argument("path", type=click.Path(path_type=str))
@click.option("--require-ramanujan", "require", multiple=True, metavar="GLOB",
              help="Weights whose names match GLOB must be Ramanujan (repeatable).")
@click.option("--definition", type=click.Choice(RAMANUJAN_DEFINITIONS), default=None,
              help="Ramanujan test for --require-ramanujan: average-degree bound (default, the paper's) or "
                   "the universal cover's spectral radius.")
@click.option("--min-spectral-gap", type=FINITE, metavar="X", help="Every selected weight: sigma1 - sigma2 >= X.")
@click.option("--min-normalized-gap", type=FINITE, metavar="X", help="Every selected weight: 1 - sigma2(N) >= X.")
@click.option("--max-isolated", type=int, metavar="N", help="Every selected weight: at most N isolated nodes.")
@click.option("--min-reachability", type=FINITE, metavar="X",
              help="Every recurrent layer: reachability over --steps T is at least X.")
@click.option("--steps", type=click.IntRange(min=1), metavar="T", help="Time steps for --min-reachability.")
@click.option("--select", multiple=True, metavar="GLOB", help="Weights the numeric rules apply to (default all).")
@click.option("--config", type=click.Path(dir_okay=False, path_type=str),
              help="TOML file with a [check] (or [tool.graphtools.check]) table; options override it "
                   "[default: ./pyproject.toml when it has a [tool.graphtools.check] table].")
@click.option("--junit", type=OUTPUT, help="Also write a JUnit XML report.")
@click.option("--module", default=None, metavar="PREFIX",
              help="--min-reachability on this recurrent module only (default: every module).")
@click.option("--html", "html_path", type=OUTPUT,
              help="Also write the HTML report of analyze, with the rule results on top.")
@loading_options
def check(path, require, definition, min_spectral_gap, min_normalized_gap, max_isolated, min_reachability, steps,
          select, config, junit, module, html_path, rename, threshold, threshold_rel):
    """Check graph properties of PATH; print PASS/FAIL per rule; exit 3 if any rule fails, 1 on bad
    input (including a pattern that matches no 2-D weight matrix)."""
    rules = Rules(tuple(require), min_spectral_gap, min_normalized_gap, max_isolated, min_reachability,
                  steps, tuple(select) or ("*",), tuple(rename), threshold, threshold_rel, module, definition)
    config = config or default_config()
    if config:
        rules = load_rules(config).merged(rules)
    report = run_checks(path, rules)
    if junit:
        write_atomic(junit, junit_xml(report))
    if html_path:
        from graphtools.analysis import analyze_checkpoint
        from graphtools.html_report import render_html

        from graphtools.loading import read_checkpoint

        options = dict(rename=rules.rename, threshold=rules.threshold, threshold_rel=rules.threshold_rel)
        analysed = analyze_checkpoint(path, **options)
        write_atomic(html_path, render_html(analysed, checks=report, model=read_checkpoint(path, **options).model))
    click.echo(render_results(report), nl=False)
    if not report.passed:
        raise SystemExit(EXIT_FAILED)
