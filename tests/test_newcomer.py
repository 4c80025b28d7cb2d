"""The defects a first user hits (issue: the newcomer's path): one test per defect, each failing
before its fix."""

import csv
import io
import json
import os

import numpy as np
import pytest
from click.testing import CliRunner

from graphtools.cli import main
from graphtools.io import load_state
from graphtools.nn import load_model

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "data", "examples", "lstm_pruned.npz")


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


# ---------------------------------------------------------------- 1: CSV holds the union of fields


@pytest.mark.parametrize("flags", [["--bounds"], ["--gates"], ["--bounds", "--gates"]])
def test_csv_has_the_union_of_fields(flags):
    result = run("analyze", EXAMPLE, "--format", "csv", *flags)
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    layers = json.loads(run("analyze", EXAMPLE, "--format", "json", *flags).output)["layers"]
    assert len(rows) == len(layers)
    if "--bounds" in flags:
        assert any(k.startswith("bounds_tanner") for k in rows[0])
    if "--gates" in flags:
        assert {r["gate"] for r in rows} >= {"", "i", "f", "g", "o"}


def test_csv_with_unfold_is_refused_in_one_line():
    result = run("analyze", EXAMPLE, "--format", "csv", "--unfold", "3")
    assert result.exit_code == 1
    assert result.output.startswith("error: ") and result.output.count("\n") == 1
    assert "--unfold" in result.output and "json" in result.output


# ---------------------------------------------------------------- 2, 3: train's output


def test_train_writes_safetensors_for_safetensors(mnist, tmp_path):
    out = tmp_path / "t.safetensors"
    result = run("train", "--cell", "rnn", "--hidden", "4", "--data", mnist, "--epochs", "1", "--limit", "40",
                 "-o", out)
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:2] != b"PK"  # not a zip (npz)
    header_len = int.from_bytes(out.read_bytes()[:8], "little")
    header = json.loads(out.read_bytes()[8:8 + header_len])
    assert "rnn.weight_hh_l0" in header and "graphtools.meta" in header["__metadata__"]
    model = load_model(out)
    assert (model.cell, model.hidden_size) == ("rnn", 4)
    assert load_state(out).tensors["rnn.weight_hh_l0"].shape == (4, 4)


@pytest.mark.parametrize("name", ["t.pt", "t", "t.npy"])
def test_train_refuses_other_extensions_before_work(mnist, tmp_path, name):
    result = run("train", "--data", tmp_path / "absent.npz", "-o", tmp_path / name)
    assert result.exit_code == 1
    assert result.output == f"error: {tmp_path / name}: the output must end in .npz or .safetensors\n"


def test_train_checks_the_output_folder_before_loading_anything(tmp_path):
    # the data file does not exist either: the folder is reported first, so nothing was loaded or trained
    result = run("train", "--data", tmp_path / "absent.npz", "-o", tmp_path / "nodir" / "t.npz")
    assert result.exit_code == 1
    assert "nodir" in result.output and "does not exist" in result.output
    assert "absent.npz" not in result.output


@pytest.mark.parametrize("command", [
    ["analyze", EXAMPLE, "-o", "OUT"],
    ["unfold", EXAMPLE, "--steps", "2", "-o", "OUT"],
    ["check", EXAMPLE, "--junit", "OUT"],
    ["check", EXAMPLE, "--html", "OUT"],
    ["prune", EXAMPLE, "--method", "magnitude", "--sparsity", "0.5", "-o", "OUT.npz"],
    ["plot", EXAMPLE, "-o", "OUT.png"],
    ["report", "missing-results", "-o", "OUT"],
])
def test_every_output_folder_is_checked_before_work(tmp_path, command):
    out = str(tmp_path / "nodir" / "x")
    result = run(*[a.replace("OUT", out) if isinstance(a, str) else a for a in command])
    assert result.exit_code == 1
    assert result.output.startswith("error: cannot write ") and result.output.count("\n") == 1
    assert "does not exist" in result.output and "nodir" in result.output
