"""--rename, the naming hint, skipped tensors, --threshold / --threshold-rel, the dense note, fail fast."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from graphtools import analysis
from graphtools.analysis import analyze_checkpoint
from graphtools.checks import load_rules, run_checks
from graphtools.cli import main
from graphtools.errors import GraphtoolsError
from graphtools.loading import DENSE_NOTE
from graphtools.rename import rename_tensors
from statedicts import sparsify, torch_state


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture
def custom(tmp_path):
    """A GRU under its own names (enc_w_ih 24x5, enc_w_hh 24x8), as a numpy GRU might save it, and the
    same weights under PyTorch's names."""
    state = sparsify(torch_state("gru", input_size=5, hidden=8, prefix="enc."), 0.5)
    renamed = {"enc_w_ih": state["enc.weight_ih_l0"], "enc_w_hh": state["enc.weight_hh_l0"],
               "enc_b": state["enc.bias_ih_l0"]}
    np.savez(tmp_path / "custom.npz", **renamed)
    np.savez(tmp_path / "torch.npz", **state)
    return tmp_path / "custom.npz", tmp_path / "torch.npz"


RENAME = ["--rename", r"^enc_w_(ih|hh)$=enc.weight_\1_l0"]


def test_custom_names_get_a_hint_and_rename_makes_the_gru(custom):
    path, torch_path = custom
    plain = run("analyze", path)
    assert "architecture: no recurrent module" in plain.output
    assert "note: enc_w_ih [24, 5] and enc_w_hh [24, 8] look like the input and recurrent weights of a GRU" in plain.output
    assert "--rename" in plain.output
    got = json.loads(run("analyze", path, "--format", "json", *RENAME).output)
    want = json.loads(run("analyze", torch_path, "--format", "json").output)
    assert got["architecture"] == want["architecture"] and got["notes"] == []
    assert got["layers"] == want["layers"]
    assert got["skipped"] == [{"name": "enc_b", "shape": [24], "reason": "1-D vector (a bias or scale): never a layer"}]


def test_rename_on_check_unfold_and_prune(custom, tmp_path):
    path, torch_path = custom
    assert run("unfold", path, "--steps", "2").exit_code == 1
    got = json.loads(run("unfold", path, "--steps", "2", *RENAME).output)
    assert got == json.loads(run("unfold", torch_path, "--steps", "2").output)
    result = run("check", path, "--max-isolated", "100", "--select", "enc.*", *RENAME)
    assert result.exit_code == 0 and "enc.weight_hh_l0" in result.output
    config = tmp_path / "rules.toml"
    config.write_text('[check]\nmax-isolated = 100\nselect = "enc.*"\nrename = ["^enc_w_(ih|hh)$=enc.weight_\\\\1_l0"]\n')
    assert load_rules(config).rename == (r"^enc_w_(ih|hh)$=enc.weight_\1_l0",)
    assert run_checks(path, load_rules(config)).passed
    out = tmp_path / "pruned.npz"
    assert run("prune", path, "-o", out, "--method", "magnitude", "--sparsity", "0.5", *RENAME).exit_code == 0
    assert sorted(np.load(out)) == ["enc.weight_hh_l0", "enc.weight_hh_l0_mask", "enc.weight_ih_l0",
                                    "enc.weight_ih_l0_mask", "enc_b"]


@pytest.mark.parametrize("rule,message", [("no-equals-sign", "REGEX=REPLACEMENT"), ("([=x", "rename rule"),
                                          ("^enc_w_..$=same", "the same name"), ("^.*$=", "empty name")])
def test_bad_rename_rules_are_one_error_line(custom, rule, message):
    path, _ = custom
    for command in (["analyze"], ["check", "--max-isolated", "1"], ["unfold", "--steps", "2"]):
        result = run(*command[:1], path, *command[1:], "--rename", rule)
        assert result.exit_code == 1 and result.output.startswith("error: ") and message in result.output
        assert result.output.count("\n") == 1


def test_rename_applies_rules_in_order():
    out = rename_tensors({"a": np.zeros(1), "b": np.zeros(1)}, ["^a$=c", "^c$=d"])
    assert list(out) == ["d", "b"]


def test_skipped_tensors_listed_in_table_and_json(tmp_path):
    state = torch_state("lstm", input_size=3, hidden=2)
    state["conv.weight"] = np.ones((4, 3, 3, 3))
    state["scale"] = np.ones(7)
    state["step"] = np.array(3)
    np.savez(tmp_path / "m.npz", **state)
    report = json.loads(run("analyze", tmp_path / "m.npz", "--format", "json").output)
    skipped = {s["name"]: (s["shape"], s["reason"]) for s in report["skipped"]}
    assert skipped["conv.weight"] == ([4, 3, 3, 3], "4-D tensor: not a weight matrix "
                                                    "(only 2-D tensors and recurrent layouts are analysed)")
    assert skipped["scale"][0] == [7] and skipped["step"] == ([], "scalar")
    assert {"rnn.bias_ih_l0", "rnn.bias_hh_l0"} <= set(skipped)
    assert not any(layer["shape"][0] == 1 or len(layer["shape"]) != 2 for layer in report["layers"])
    table = run("analyze", tmp_path / "m.npz").output
    assert "skipped: 5 tensor(s) not analysed" in table
    assert any(line.split()[:2] == ["conv.weight", "4x3x3x3"] for line in table.splitlines())


def test_dense_note_threshold_and_exact_zero(tmp_path):
    rng = np.random.default_rng(0)
    W = rng.standard_normal((12, 10))
    np.savez(tmp_path / "dense.npz", fc=W)
    dense = analyze_checkpoint(tmp_path / "dense.npz")
    assert dense.notes == [DENSE_NOTE] and dense.layers[0].density == 1.0
    assert dense.layers[0].sigma2 == 0.0  # rounding noise of a rank-one pattern is reported as 0
    cut = 0.3 * np.abs(W).max()
    np.savez(tmp_path / "cut.npz", fc=np.where(np.abs(W) <= cut, 0.0, W))
    want = analyze_checkpoint(tmp_path / "cut.npz").to_dict()
    for options in ({"threshold_rel": 0.3}, {"threshold": cut}, {"threshold": cut / 2, "threshold_rel": 0.3}):
        got = analyze_checkpoint(tmp_path / "dense.npz", **options)
        assert got.notes == [] and got.to_dict()["layers"] == want["layers"]
    result = run("check", tmp_path / "dense.npz", "--min-spectral-gap", "0")
    assert result.exit_code == 0 and "note: every analysed matrix is dense" in result.output
    result = run("check", tmp_path / "dense.npz", "--min-spectral-gap", "0", "--threshold-rel", "0.3")
    assert result.exit_code == 0 and "note:" not in result.output
    out = tmp_path / "p.npz"
    assert run("prune", tmp_path / "dense.npz", "-o", out, "--method", "magnitude", "--sparsity", "0.1",
               "--include", "fc", "--threshold-rel", "0.3").exit_code == 0
    assert np.count_nonzero(np.load(out)["fc"]) <= np.count_nonzero(np.abs(W) > cut)


@pytest.mark.parametrize("args,message", [(["--threshold", "-1"], "--threshold must be at least 0"),
                                          (["--threshold-rel", "1"], "--threshold-rel must be in [0, 1)"),
                                          (["--threshold", "nan"], "finite")])
def test_bad_thresholds(tmp_path, args, message):
    np.savez(tmp_path / "m.npz", fc=np.ones((3, 3)))
    for command in (["analyze"], ["check", "--max-isolated", "1"], ["unfold", "--steps", "2"]):
        result = run(command[0], tmp_path / "m.npz", *command[1:], *args)
        assert result.exit_code == 1 and message in result.output and result.output.count("\n") == 1


def test_structure_errors_come_before_spectral_work(tmp_path, monkeypatch):
    def no_spectral_work(*args, **kwargs):
        raise AssertionError("spectral work before the error")

    monkeypatch.setattr(analysis, "analyze_graph", no_spectral_work)
    np.savez(tmp_path / "fc.npz", fc=np.ones((3, 3)))
    np.savez(tmp_path / "rnn.npz", **torch_state("gru", input_size=3, hidden=2))
    for args, message in [(["fc.npz", "--unfold", "3"], "no recurrent layer"),
                          (["rnn.npz", "--unfold", "3", "--module", "enc"], "--module 'enc'"),
                          (["rnn.npz", "--module", "rnn"], "give --unfold T too"),
                          (["rnn.npz", "--unfold", "2", "--rename", "(="], "rename rule")]:
        args[0] = tmp_path / args[0]
        result = run("analyze", *args)
        assert result.exit_code == 1 and message in result.output, result.output
    with pytest.raises(GraphtoolsError, match="give that rule too"):
        run_checks(tmp_path / "rnn.npz", load_rules_from({"max-isolated": 1, "module": "rnn"}, tmp_path))


def load_rules_from(table: dict, tmp_path):
    lines = ["[check]"] + [f"{k} = {json.dumps(v)}" for k, v in table.items()]
    (tmp_path / "r.toml").write_text("\n".join(lines) + "\n")
    return load_rules(tmp_path / "r.toml")
