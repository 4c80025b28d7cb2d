"""`graphtools analyze`: the JSON contract, table and CSV renderings, --output, --gates."""

import csv
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from graphtools.cli import main

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "data", "examples", "lstm_pruned.npz")

LAYER_KEYS = {"name", "gate", "shape", "nnz", "density", "inputs", "outputs", "components", "sigma1", "sigma2",
              "spectral_gap", "normalized_gap", "ramanujan_bound", "ramanujan_gap", "is_ramanujan", "delta_s",
              "biregular", "weighted", "cover_bound", "cover_gap", "is_ramanujan_cover"}
DEGREE_KEYS = {"degree_min", "degree_mean", "degree_max", "isolated"}


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture
def gru_checkpoint(tmp_path):
    rng = np.random.default_rng(0)
    W = rng.standard_normal((3 * 8, 5)) * (rng.random((24, 5)) < 0.6)
    state = {"gru.weight_ih_l0": W, "gru.weight_hh_l0": rng.standard_normal((24, 8)),
             "gru.bias_ih_l0": np.zeros(24), "gru.bias_hh_l0": np.zeros(24), "head.weight": np.ones((2, 8))}
    path = tmp_path / "gru.npz"
    np.savez(path, **state)
    return path


def test_json_contract(gru_checkpoint):
    result = run("analyze", gru_checkpoint, "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert set(report) == {"checkpoint", "format", "architecture", "layers", "skipped", "notes"}
    assert report["format"] == "npz"
    modules = report["architecture"].pop("modules")
    assert report["architecture"] == {"cell": "gru", "num_layers": 1, "bidirectional": False,
                                      "input_size": 5, "hidden_size": 8, "proj_size": 0}
    assert modules == [dict(report["architecture"], prefix="gru.")]
    assert report["skipped"] == [
        {"name": f"gru.bias_{k}_l0", "shape": [24], "reason": "1-D vector (a bias or scale): never a layer"}
        for k in ("hh", "ih")]
    assert report["notes"] == []
    assert [layer["name"] for layer in report["layers"]] == ["gru.weight_ih_l0", "gru.weight_hh_l0", "head.weight"]
    for layer in report["layers"]:
        assert set(layer) == LAYER_KEYS
        assert set(layer["inputs"]) == DEGREE_KEYS and set(layer["outputs"]) == DEGREE_KEYS
        assert set(layer["weighted"]) == {"sigma1", "sigma2", "spectral_gap"}
        assert layer["gate"] is None
    assert "NaN" not in result.output and "Infinity" not in result.output
    head = report["layers"][2]
    assert head["biregular"] == [2, 8] and head["shape"] == [2, 8]


def test_gates_add_one_row_per_gate_block(gru_checkpoint):
    report = json.loads(run("analyze", gru_checkpoint, "--format", "json", "--gates").output)
    rows = [(layer["name"], layer["gate"]) for layer in report["layers"]]
    assert rows == [("gru.weight_ih_l0", None), ("gru.weight_ih_l0", "r"), ("gru.weight_ih_l0", "z"),
                    ("gru.weight_ih_l0", "n"), ("gru.weight_hh_l0", None), ("gru.weight_hh_l0", "r"),
                    ("gru.weight_hh_l0", "z"), ("gru.weight_hh_l0", "n"), ("head.weight", None)]
    whole, *blocks = report["layers"][:4]
    assert sum(b["nnz"] for b in blocks) == whole["nnz"]
    assert all(b["shape"] == [8, 5] for b in blocks)


def test_csv_has_one_row_per_layer_and_flat_columns(gru_checkpoint):
    result = run("analyze", gru_checkpoint, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert [r["name"] for r in rows] == ["gru.weight_ih_l0", "gru.weight_hh_l0", "head.weight"]
    assert {"rows", "cols", "inputs_degree_min", "weighted_sigma2", "biregular_c", "biregular_d"} <= set(rows[0])
    as_json = json.loads(run("analyze", gru_checkpoint, "--format", "json").output)
    for row, layer in zip(rows, as_json["layers"]):
        assert float(row["sigma2"]) == layer["sigma2"]  # full precision in CSV
        assert row["gate"] == ""


def test_table_lists_every_matrix(gru_checkpoint):
    result = run("analyze", gru_checkpoint)
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[1] == "architecture: GRU, 1 layer(s), unidirectional, input 5, hidden 8"
    body = [line for line in lines if line.startswith(("gru.", "head."))]
    assert [line.split()[0] for line in body] == ["gru.weight_ih_l0", "gru.weight_hh_l0", "head.weight"]
    assert body[2].split()[2] == "2x8"


def test_output_file_is_written(gru_checkpoint, tmp_path):
    out = tmp_path / "report.json"
    result = run("analyze", gru_checkpoint, "--format", "json", "--output", out)
    assert result.exit_code == 0 and result.output == ""
    assert json.loads(out.read_text())["layers"][0]["name"] == "gru.weight_ih_l0"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp-")] == []


def test_output_into_missing_folder_is_an_error(gru_checkpoint, tmp_path):
    result = run("analyze", gru_checkpoint, "-o", tmp_path / "nope" / "r.json")
    assert result.exit_code == 1
    assert result.output.startswith("error: cannot write")


def test_bundled_example_through_the_console_script():
    exe = os.path.join(os.path.dirname(sys.executable), "graphtools")
    done = subprocess.run([exe, "analyze", EXAMPLE, "--format", "json"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    del report["architecture"]["modules"]
    assert report["architecture"] == {"cell": "lstm", "num_layers": 2, "bidirectional": False,
                                      "input_size": 28, "hidden_size": 64, "proj_size": 0}
    recurrent = [layer for layer in report["layers"] if layer["name"].startswith("rnn.")]
    assert len(recurrent) == 4
    assert all(layer["density"] == pytest.approx(0.2, abs=1e-3) for layer in recurrent)


def test_bundled_example_script_is_deterministic(tmp_path):
    sys.path.insert(0, os.path.dirname(EXAMPLE))
    try:
        import make_example
    finally:
        sys.path.pop(0)
    for name in ("a.npz", "b.npz"):  # a short run of the very script that made the bundled file
        make_example.main(str(tmp_path / name), epochs=1, finetune=1, limit=300)
    a, b = np.load(tmp_path / "a.npz"), np.load(tmp_path / "b.npz")
    assert sorted(a.files) == sorted(b.files)
    assert all(np.array_equal(a[k], b[k]) for k in a.files)
    mask = a["rnn.weight_hh_l0_mask"]
    assert mask.mean() == pytest.approx(0.2, abs=1 / mask.size) and not a["rnn.weight_hh_l0"][~mask].any()


def test_bundled_example_records_how_it_was_made():
    meta = json.loads(str(np.load(EXAMPLE)["graphtools.meta"]))
    assert (meta["cell"], meta["hidden_size"], meta["num_layers"], meta["sparsity"]) == ("lstm", 64, 2, 0.8)
    assert meta["test_accuracy"] > 0.85


def test_version_and_help():
    assert run("--version").output.startswith("graphtools, version")
    assert "analyze" in run("--help").output


def test_bounds_are_added_only_on_request(gru_checkpoint):
    plain = json.loads(run("analyze", gru_checkpoint, "--format", "json").output)
    assert all("bounds" not in layer for layer in plain["layers"])
    result = run("analyze", gru_checkpoint, "--format", "json", "--bounds")
    assert result.exit_code == 0, result.output
    head = json.loads(result.output)["layers"][2]  # head.weight: K_{2,8}, biregular
    assert set(head["bounds"]) == {"mixing", "tanner", "cheeger", "imdb", "exact"}
    assert head["bounds"]["mixing"]["form"] == "biregular"
    assert head["bounds"]["exact"]["vertex_expansion"] == 0.5  # 4 of the 8 inputs reach just the 2 outputs
    table = run("analyze", gru_checkpoint, "--bounds").output
    assert "expansion bounds:" in table and "cheeger interval" in table
