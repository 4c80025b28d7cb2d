"""`graphtools analyze PATH... --format jsonl`: many files (folders, globs), one JSON line per
file, errors as records, the same lines with --jobs 2 as in one process."""

import json
import os
import shutil

import numpy as np
from click.testing import CliRunner

from graphtools.batch import analyze_many, expand_paths
from graphtools.cli import main

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "data", "examples", "lstm_pruned.npz")


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _folder(tmp_path):
    """Two checkpoints in a nested folder, a broken file beside them, and a file glob ignores."""
    (tmp_path / "ckpts" / "sub").mkdir(parents=True)
    shutil.copy(EXAMPLE, tmp_path / "ckpts" / "a.npz")
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "ckpts" / "sub" / "b.npz", **{"rnn.weight_hh_l0": rng.standard_normal((6, 6)),
                                                      "rnn.weight_ih_l0": rng.standard_normal((6, 3))})
    (tmp_path / "ckpts" / "broken.npz").write_bytes(b"PK\x03\x04 not a zip")
    (tmp_path / "ckpts" / "notes.txt").write_text("not a checkpoint")
    return tmp_path / "ckpts"


def test_folders_and_globs_expand_to_checkpoint_files_once(tmp_path):
    folder = _folder(tmp_path)
    files = expand_paths([folder, str(folder / "*.npz"), str(tmp_path / "missing-*.npz")])
    names = [os.path.relpath(f, folder) for f in files]
    assert names == ["a.npz", "broken.npz", os.path.join("sub", "b.npz"), os.path.join("..", "missing-*.npz")]


def test_jsonl_one_line_per_file_and_errors_as_records(tmp_path):
    folder = _folder(tmp_path)
    out = tmp_path / "report.jsonl"
    result = run("analyze", folder, tmp_path / "gone.npz", "--format", "jsonl", "-o", out)
    assert result.exit_code == 0, result.output
    assert "4 file(s) analyzed, 2 with errors" in result.output
    records = [json.loads(line) for line in out.read_text().splitlines()]
    by_name = {os.path.basename(r["path"]): r for r in records}
    assert list(by_name) == ["a.npz", "broken.npz", "b.npz", "gone.npz"]
    assert by_name["a.npz"]["status"] == "ok" and by_name["a.npz"]["report"]["layers"]
    single = json.loads(run("analyze", folder / "a.npz", "--format", "json").output)
    assert by_name["a.npz"]["report"] == single  # the same report as analyzing the file alone
    assert sorted(layer["shape"] for layer in by_name["b.npz"]["report"]["layers"]) == [[6, 3], [6, 6]]
    assert by_name["broken.npz"]["status"] == "error" and "broken.npz" in by_name["broken.npz"]["error"]
    assert by_name["gone.npz"] == {"path": str(tmp_path / "gone.npz"), "status": "error",
                                   "error": f"{tmp_path / 'gone.npz'}: no such file"}


def test_jobs_2_gives_the_same_lines_as_one_process(tmp_path):
    folder = _folder(tmp_path)
    one = analyze_many([folder], bounds=True)
    two = analyze_many([folder], jobs=2, bounds=True)
    assert one.jsonl() == two.jsonl() and one.errors == 1


def test_several_files_need_jsonl_and_a_single_file_is_unchanged(tmp_path):
    folder = _folder(tmp_path)
    result = run("analyze", folder / "a.npz", folder / "sub" / "b.npz")
    assert result.exit_code == 1
    assert result.output.strip() == "error: several files, --jobs or --cluster need --format jsonl (not table)"
    table = run("analyze", folder / "a.npz")
    assert table.exit_code == 0 and table.output.startswith("checkpoint: ")
    assert run("analyze", folder / "a.npz", "--jobs", "2", "--cluster", "local:1", "--format", "jsonl").output \
        .strip() == "error: give --jobs or --cluster, not both"


def test_nothing_of_dask_is_imported_unless_asked_for():
    import subprocess
    import sys

    code = ("import sys; import graphtools.batch, graphtools.experiments.sweep, graphtools.cli.analyze, "
            "graphtools.cli.sweep; print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stderr
