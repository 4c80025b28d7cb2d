"""Options and click types shared by the commands.

``loading_options`` adds --rename, --threshold and --threshold-rel to the commands that read a
checkpoint.  ``FINITE`` (any finite float), :func:`finite_range` (a finite float within bounds),
``SEED`` (0 .. 2**63 - 1) and ``EPOCHS``, over :mod:`graphtools.validate`: NaN, Inf and
out-of-range values are refused by click with the option's name, before any work starts.
"""

from __future__ import annotations

import click

from graphtools.atomic import check_output
from graphtools.errors import GraphtoolsError
from graphtools.validate import EPOCHS_MAX, SEED_MAX, check_finite


class FiniteFloat(click.ParamType):
    """A float that must be finite (and within the bounds given)."""

    name = "float"

    def __init__(self, minimum: float | None = None, maximum: float | None = None, min_open: bool = False):
        self.minimum, self.maximum, self.min_open = minimum, maximum, min_open

    def convert(self, value, param, ctx):
        try:
            number = value if isinstance(value, float) else float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        try:
            return check_finite(number, "the value", minimum=self.minimum, maximum=self.maximum,
                                min_open=self.min_open)
        except GraphtoolsError as exc:
            self.fail(str(exc).replace("the value ", ""), param, ctx)


FINITE = FiniteFloat()


def finite_range(minimum: float | None = None, maximum: float | None = None, *, min_open: bool = False):
    """A :class:`FiniteFloat` with bounds (``min_open``: the minimum itself is excluded)."""
    return FiniteFloat(minimum, maximum, min_open)


class OutputFile(click.Path):
    """A file to write: its folder must exist, checked when the options are parsed (before any work);
    if not, the one-line ``error: cannot write ...`` of the library (exit status 1)."""

    def __init__(self):
        super().__init__(dir_okay=False, path_type=str)

    def convert(self, value, param, ctx):
        path = super().convert(value, param, ctx)
        check_output(path)
        return path


OUTPUT = OutputFile()
SEED = click.IntRange(0, SEED_MAX)
EPOCHS = click.IntRange(1, EPOCHS_MAX)


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
