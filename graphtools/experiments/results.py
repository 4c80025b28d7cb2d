"""The results of a sweep: one JSON record per finished run, appended to a JSONL file.

Only the sweep's parent process appends.  Each record is one line written with a
single ``write`` and then ``fsync``-ed, so a run is either in the file or not:
a kill during the write can leave at most a partial last line without its
newline, which :func:`read_records` ignores and :func:`repair_results` cuts off
before the next append.  Nothing that was finished is ever rewritten.
"""

from __future__ import annotations

import json
import os

from graphtools.errors import GraphtoolsError
from graphtools.jsonvalues import json_safe

#: Version of the record layout (docs/reproduction.md describes it).
SCHEMA = 1
RESULTS_NAME = "results.jsonl"
SUMMARY_NAME = "summary.csv"


def results_path(path: str | os.PathLike) -> str:
    """A JSONL file, or a sweep folder (then its ``results.jsonl``)."""
    path = os.fspath(path)
    return os.path.join(path, RESULTS_NAME) if os.path.isdir(path) else path


def read_records(path: str | os.PathLike) -> list[dict]:
    """Every complete record of a results file (a partial last line, left by a kill, is skipped).

    Raises GraphtoolsError for a missing file or a complete line that is not a JSON object
    with a ``key``, naming the line.
    """
    path = results_path(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        raise GraphtoolsError(f"{path}: no such results file") from None
    except OSError as exc:
        raise GraphtoolsError(f"{path}: cannot read ({exc.strerror or exc})") from None
    records = []
    lines = data.split(b"\n")
    for number, line in enumerate(lines[:-1], start=1):  # the last piece lacks its newline
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            raise GraphtoolsError(f"{path}: line {number} is not valid JSON") from None
        if not isinstance(record, dict) or not isinstance(record.get("key"), str):
            raise GraphtoolsError(f"{path}: line {number} is not a sweep record (a JSON object with a key)")
        records.append(record)
    return records


def repair_results(path: str | os.PathLike) -> int:
    """Cut a partial last line (a run killed while its record was written) off ``path``;
    returns the number of bytes removed (0 when the file ends cleanly or does not exist)."""
    path = os.fspath(path)
    try:
        with open(path, "rb+") as handle:
            data = handle.read()
            end = data.rfind(b"\n") + 1
            if end == len(data):
                return 0
            handle.truncate(end)
            handle.flush()
            os.fsync(handle.fileno())
            return len(data) - end
    except FileNotFoundError:
        return 0


def append_record(path: str | os.PathLike, record: dict) -> None:
    """Append ``record`` as one line (one ``write`` call, then fsync)."""
    line = (json.dumps(json_safe(record), allow_nan=False, separators=(",", ":")) + "\n").encode("utf-8")
    try:
        fd = os.open(os.fspath(path), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    except OSError as exc:
        raise GraphtoolsError(f"{path}: cannot append ({exc.strerror or exc})") from None
    try:
        view = memoryview(line)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except OSError as exc:  # e.g. a full disk: the next sweep cuts the partial line (repair_results)
        raise GraphtoolsError(f"{path}: cannot append the record ({exc.strerror or exc}); run the same "
                              "command again once there is room: a partial line is repaired") from None
    finally:
        os.close(fd)
