"""``--rename 'REGEX=REPLACEMENT'``: map custom tensor names to ones graphtools recognises.

Each rule is Python's ``re.sub(REGEX, REPLACEMENT, name)``, applied in the
order given to every tensor name before any layout is recognised, so
``--rename '^enc_w_ih$=enc.weight_ih_l0' --rename '^enc_w_hh$=enc.weight_hh_l0'``
makes a GRU of two custom-named matrices.  The first unescaped ``=`` ends the
regular expression (write ``\\=`` for a literal ``=`` inside it).
"""

from __future__ import annotations

import re

import numpy as np

from graphtools.errors import GraphtoolsError

_SPLIT = re.compile(r"(?<!\\)=")


def parse_renames(rules) -> tuple[tuple[re.Pattern, str], ...]:
    """Compile ``'REGEX=REPLACEMENT'`` strings (a string or a list of them) into (pattern, replacement) pairs.

    Example
    -------
    >>> [(p.pattern, r) for p, r in parse_renames(["^enc_=enc."])]
    [('^enc_', 'enc.')]
    """
    if isinstance(rules, str):
        rules = [rules]
    compiled = []
    for rule in rules or ():
        if not isinstance(rule, str):
            raise GraphtoolsError(f"rename rules are strings 'REGEX=REPLACEMENT', not {rule!r}")
        parts = _SPLIT.split(rule, maxsplit=1)
        if len(parts) != 2 or not parts[0]:
            raise GraphtoolsError(f"rename rule {rule!r} is not of the form 'REGEX=REPLACEMENT'")
        try:
            pattern = re.compile(parts[0])
            pattern.sub(parts[1], "")  # a bad group reference in the replacement fails here or below
        except re.error as exc:
            raise GraphtoolsError(f"rename rule {rule!r}: {exc}") from None
        compiled.append((pattern, parts[1]))
    return tuple(compiled)


def rename_tensors(tensors: dict[str, np.ndarray], rules) -> dict[str, np.ndarray]:
    """``tensors`` with every rule applied in order to every name (file order kept).

    Raises GraphtoolsError when a rule empties a name or two tensors end up with one name.

    Example
    -------
    >>> import numpy as np
    >>> list(rename_tensors({"enc_w_ih": np.zeros((6, 3))}, ["_w_ih$=.weight_ih_l0"]))
    ['enc.weight_ih_l0']
    """
    compiled = parse_renames(rules)
    if not compiled:
        return dict(tensors)
    out: dict[str, np.ndarray] = {}
    origin: dict[str, str] = {}
    for name, arr in tensors.items():
        new = name
        for pattern, replacement in compiled:
            try:
                new = pattern.sub(replacement, new)
            except (re.error, IndexError) as exc:
                raise GraphtoolsError(f"rename rule {pattern.pattern!r}={replacement!r} on {name!r}: {exc}") from None
        if not new:
            raise GraphtoolsError(f"--rename turns {name!r} into an empty name")
        if new in out:
            raise GraphtoolsError(f"--rename gives {origin[new]!r} and {name!r} the same name {new!r}")
        out[new], origin[new] = arr, name
    return out
