"""Read a TOML file, every failure as one GraphtoolsError line."""

from __future__ import annotations

import os
import sys

from graphtools.errors import GraphtoolsError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


def read_toml(path: str | os.PathLike) -> dict:
    """The parsed TOML document at ``path``."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise GraphtoolsError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise GraphtoolsError(f"{path}: is a folder, not a TOML file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise GraphtoolsError(f"{path}: invalid TOML ({exc})") from None
    except OSError as exc:
        raise GraphtoolsError(f"{path}: cannot read ({exc.strerror or exc})") from None
