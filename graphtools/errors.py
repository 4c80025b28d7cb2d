"""The one exception type the command line turns into ``error: ...`` and exit status 1, and the rule for raising it.

The rule
--------
* **GraphtoolsError at a user-facing entry point.**  A function that receives what a user
  wrote or chose -- a file, a checkpoint, a command-line option, a sweep config, a dataset
  path -- raises :class:`GraphtoolsError` for every problem with it, in one line that names
  the input.  The entry points are the functions the CLI calls and the public functions of
  :mod:`graphtools.loading`, :mod:`graphtools.analysis` (``analyze_checkpoint``,
  ``analyze_model``, ``analyze_unfolded``), :mod:`graphtools.unfolding` (``unfold`` takes a
  described checkpoint and the user's ``--unfold T``), :mod:`graphtools.checks`,
  :mod:`graphtools.prune`, :mod:`graphtools.data`, :mod:`graphtools.nn`,
  :mod:`graphtools.torch`, :mod:`graphtools.plots` and :mod:`graphtools.experiments`.
* **ValueError for a programmer's misuse of a math function.**  The pure functions on arrays
  and graphs (:mod:`graphtools.spectral`, :mod:`graphtools.structure`, :mod:`graphtools.graphs`,
  :mod:`graphtools.expansion`, :mod:`graphtools.cover`, :mod:`graphtools.rewiring`,
  :mod:`graphtools.constructions`, ...) raise ``ValueError`` (a 3-D array, an unknown
  ``method``, a negative step count), as numpy and scipy do.
* **Entry points check before the math**, so a user's input never reaches a ``ValueError``
  (which the CLI would report as an internal error): ``prune_state`` checks ``target`` and
  ``steps`` before :func:`graphtools.rewiring.rewire` sees them, and
  :func:`graphtools.model.describe` checks the gate shapes before
  :func:`graphtools.graphs.gate_union` splits them.

:mod:`graphtools.validate` has the checks both sides use (``check_scalar``, ``check_choice``);
they raise GraphtoolsError unless given ``error=ValueError``.  docs/architecture.md repeats
this rule next to the layers.
"""


class GraphtoolsError(Exception):
    """A problem with the user's input (file, checkpoint, option), stated in one line."""
