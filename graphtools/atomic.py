"""Atomic file writes: a reader sees the old file or the new one, never half of either."""

from __future__ import annotations

import contextlib
import os
import tempfile

from graphtools.errors import GraphtoolsError


def _mode_for(path: str) -> int:
    """The permissions ``path`` has now, or those a new file gets under the current umask."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


#: the extensions a checkpoint (weights plus masks) may be written as
CHECKPOINT_FORMATS = (".npz", ".safetensors")


def check_output(path: str | os.PathLike, *, formats: tuple[str, ...] | None = None) -> str:
    """GraphtoolsError (one line) unless ``path`` can be written: its folder exists and, when
    ``formats`` (extensions such as ``(".npz", ".safetensors")``) is given, it ends in one of them.
    Commands call it before any work, so a typo in an output path costs no time.  Returns the
    extension, lower case."""
    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower()
    if formats is not None and ext not in formats:
        raise GraphtoolsError(f"{path}: the output must end in {' or '.join(formats)}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise GraphtoolsError(f"cannot write {path}: folder {folder} does not exist")
    if os.path.isdir(path):
        raise GraphtoolsError(f"cannot write {path}: it is a folder")
    return ext


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w"):
    """Open a temporary file beside ``path`` for writing; on success it replaces ``path``.

    On any failure (an exception, Ctrl-C) the temporary file is removed and an existing
    ``path`` is left untouched.  ``mode`` is ``"w"`` (UTF-8 text) or ``"wb"``.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    check_output(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
    except OSError as exc:
        raise GraphtoolsError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        os.chmod(tmp, _mode_for(path))  # mkstemp makes 0600; give the file its usual permissions
        with os.fdopen(fd, mode, **({"encoding": "utf-8"} if "b" not in mode else {})) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise GraphtoolsError(f"cannot write {path}: {exc.strerror or exc}") from None
        raise


def write_atomic(path: str | os.PathLike, data: str | bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_open`)."""
    with atomic_open(path, "w" if isinstance(data, str) else "wb") as handle:
        handle.write(data)
