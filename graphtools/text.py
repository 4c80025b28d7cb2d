"""Small text helpers shared by the table renderers and the weight selectors.

Lowest layer (docs/architecture.md): it imports nothing of graphtools, so
:mod:`graphtools.prune`, :mod:`graphtools.checks` and :mod:`graphtools.render`
can all use it without importing each other.
"""

from __future__ import annotations

import fnmatch


def matches_glob(name: str, patterns) -> bool:
    """Whether ``name`` matches any of the shell-style ``patterns`` (case sensitive).

    Parameters
    ----------
    name : str
        A weight name such as ``"rnn.weight_hh_l0"``.
    patterns : iterable of str
        :mod:`fnmatch` patterns; an empty iterable matches nothing.

    Returns
    -------
    bool

    Examples
    --------
    >>> matches_glob("rnn.weight_hh_l0", ["*weight_hh*"])
    True
    >>> matches_glob("rnn.weight_hh_l0", ["RNN.*", "*bias*"])
    False
    """
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def format_number(x, digits: int = 4) -> str:
    """A table cell: ``-`` for None, ``yes``/``no`` for a bool, an int as is, a float with ``digits`` decimals.

    Examples
    --------
    >>> [format_number(v) for v in (None, True, 3, 0.123456)]
    ['-', 'yes', '3', '0.1235']
    """
    if x is None:
        return "-"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return str(x)
    return f"{x:.{digits}f}"


def aligned_table(header, rows, left: int) -> list[str]:
    """Columns padded to their widest cell; the first ``left`` columns flush left, the rest right.

    Parameters
    ----------
    header : sequence of str
        The column titles.
    rows : sequence of sequences of str
        The cells, one sequence per row, as long as ``header``.
    left : int
        How many leading columns are flush left.

    Returns
    -------
    list of str
        The header line, a line of dashes, then one line per row (trailing spaces removed).

    Examples
    --------
    >>> print("\\n".join(aligned_table(("name", "n"), [("a", "10"), ("bb", "2")], left=1)))
    name   n
    ----  --
    a     10
    bb     2
    """
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(header)]

    def fmt(cells):
        return "  ".join(c.ljust(w) if i < left else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return [fmt(header), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows]
