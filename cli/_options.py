"""Options shared by the commands that read a checkpoint: --rename, --threshold, --threshold-rel."""

from __future__ import annotations

import click


def loading_options(function):
    """Add ``--rename``, ``--threshold`` and ``--threshold-rel`` (passed as ``rename``, ``threshold``,
    ``threshold_rel``) to a command."""
    options = [
        click.option("--rename", multiple=True, metavar="REGEX=REPLACEMENT",
                     help="Rename tensors before recognition (Python re.sub, repeatable, applied in order), "
                          "e.g. --rename '^enc_w_(ih|hh)$=enc.weight_\\1_l0'."),
        click.option("--threshold", type=float, default=None, metavar="EPS",
                     help="Weights with |w| <= EPS are no edge (dense trained weights have a full pattern)."),
        click.option("--threshold-rel", type=float, default=None, metavar="R",
                     help="Weights with |w| <= R * max|W| (per matrix) are no edge."),
    ]
    for option in reversed(options):
        function = option(function)
    return function
