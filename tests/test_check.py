"""`graphtools check` and `graphtools.testing.assert_expander`: rules, exit codes, config, JUnit."""

import xml.etree.ElementTree as ET

import numpy as np
import pytest
import scipy.sparse as sp
from click.testing import CliRunner

from graphtools.checks import Rules, load_rules, run_checks
from graphtools.cli import main
from graphtools.constructions import array_code
from graphtools.errors import GraphtoolsError
from graphtools.testing import assert_expander
from statedicts import torch_state


@pytest.fixture
def ckpt(tmp_path):
    """good.weight: an array-code bigraph (Ramanujan, gap sqrt(15) - sqrt(5));
    bad.weight: two equal disconnected blocks (gap 0, not Ramanujan); plus an RNN."""
    block = np.ones((4, 3))
    state = {"good.weight": array_code(5, 3), "bad.weight": sp.block_diag([block, block]).toarray()}
    state.update(torch_state("rnn", input_size=3, hidden=4))
    path = tmp_path / "m.npz"
    np.savez(path, **state)
    return path


def run(*args):
    return CliRunner().invoke(main, ["check", *map(str, args)])


def lines_for(output, rule):
    return [line for line in output.splitlines() if f" {rule} " in line]


def test_all_pass_exits_0(ckpt):
    result = run(ckpt, "--require-ramanujan", "good.*", "--min-spectral-gap", "1.0", "--select", "good.*")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].startswith("PASS  require-ramanujan  good.weight")
    assert "all passed" in result.output.splitlines()[-1]


def test_failing_rule_exits_3_with_measured_value(ckpt):
    result = run(ckpt, "--require-ramanujan", "*.weight", "--min-spectral-gap", "0.5")
    assert result.exit_code == 3
    ram = lines_for(result.output, "require-ramanujan")
    assert [line.split()[0] for line in ram] == ["FAIL", "PASS"]  # bad.weight, then good.weight (by name)
    assert "sigma2 3.4641 > bound" in ram[0]  # sqrt(12): the two blocks' shared top value
    gap = {line.split()[2]: line.split()[0] for line in lines_for(result.output, "min-spectral-gap")}
    assert gap["bad.weight"] == "FAIL" and gap["good.weight"] == "PASS"
    assert "FAILED" in result.output.splitlines()[-1]


def test_isolated_and_normalized_gap_rules(ckpt):
    result = run(ckpt, "--max-isolated", "0", "--min-normalized-gap", "0.1", "--select", "bad.weight")
    assert result.exit_code == 3
    assert lines_for(result.output, "max-isolated")[0].startswith("PASS")
    assert "normalized gap 0 < 0.1" in lines_for(result.output, "min-normalized-gap")[0]


def test_reachability_rule(ckpt, tmp_path):
    assert run(ckpt, "--min-reachability", "1", "--steps", "5").exit_code == 0
    chain = tmp_path / "chain.npz"  # h_j feeds only h_{j+1}: step-1 inputs reach one unit at step 3
    np.savez(chain, **{"rnn.weight_ih_l0": np.eye(3), "rnn.weight_hh_l0": np.eye(3, k=-1)})
    result = run(chain, "--min-reachability", "0.5", "--steps", "3")
    assert result.exit_code == 3
    assert "reachability over 3 steps 0.111111 < 0.5" in result.output


@pytest.mark.parametrize("args,message", [
    (["--require-ramanujan", "nothing.*"], "matches no 2-D weight matrix"),
    (["--min-spectral-gap", "1", "--select", "zz*"], "matches no 2-D weight matrix"),
    ([], "no rules to check"),
    (["--min-reachability", "0.5"], "needs steps"),
    (["--min-normalized-gap", "2"], "between 0 and 1"),
    (["--max-isolated", "-1"], "at least 0"),
])
def test_bad_rules_exit_1(ckpt, args, message):
    result = run(ckpt, *args)
    assert result.exit_code == 1 and result.output.startswith("error: ") and message in result.output


def test_bad_checkpoint_exits_1_and_writes_no_junit(tmp_path):
    junit = tmp_path / "j.xml"
    result = run(tmp_path / "missing.npz", "--min-spectral-gap", "1", "--junit", junit)
    assert result.exit_code == 1 and "no such file" in result.output
    assert not junit.exists()


def test_junit_report(ckpt, tmp_path):
    junit = tmp_path / "j.xml"
    result = run(ckpt, "--require-ramanujan", "*.weight", "--junit", junit)
    assert result.exit_code == 3
    root = ET.parse(junit).getroot()
    suite = root.find("testsuite")
    assert (suite.get("tests"), suite.get("failures")) == ("2", "1")
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert cases["bad.weight"].find("failure") is not None
    assert cases["good.weight"].find("failure") is None
    assert cases["bad.weight"].get("classname") == "graphtools.require-ramanujan"


def test_config_file_and_override(ckpt, tmp_path):
    config = tmp_path / "rules.toml"
    config.write_text('[check]\nrequire-ramanujan = "good.*"\nmin_spectral_gap = 100.0\nselect = ["good.*"]\n')
    assert run(ckpt, "--config", config).exit_code == 3  # gap sqrt(15)-sqrt(5) < 100
    assert run(ckpt, "--config", config, "--min-spectral-gap", "1").exit_code == 0  # the option wins
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "x"\n\n[tool.graphtools.check]\nrequire_ramanujan = ["good.*"]\n')
    assert load_rules(pyproject) == Rules(require_ramanujan=("good.*",))
    assert run(ckpt, "--config", pyproject).exit_code == 0


@pytest.mark.parametrize("text,message", [
    ("[check]\nmin_spectral_gap = \"big\"\n", "must be a number"),
    ("[check]\nmin_gap = 1\n", "unknown rule 'min_gap'"),
    ("[other]\nx = 1\n", "no [check]"),
    ("[check\n", "invalid TOML"),
])
def test_bad_config_exits_1(ckpt, tmp_path, text, message):
    config = tmp_path / "rules.toml"
    config.write_text(text)
    result = run(ckpt, "--config", config)
    assert result.exit_code == 1 and message in result.output


def test_assert_expander(ckpt):
    assert_expander(ckpt, require_ramanujan="good.*")
    with pytest.raises(AssertionError) as failure:
        assert_expander(ckpt, require_ramanujan=("*.weight",), min_spectral_gap=0.5)
    message = str(failure.value)
    assert "2 expander check(s) failed" in message
    assert "bad.weight: require-ramanujan" in message and "bad.weight: min-spectral-gap" in message
    assert "good.weight" not in message
    with pytest.raises(GraphtoolsError, match="no rules"):
        assert_expander(ckpt)


def test_run_checks_results_carry_values(ckpt):
    report = run_checks(ckpt, Rules(min_spectral_gap=0.0, select=("good.weight",)))
    (result,) = report.results
    assert result.measured == pytest.approx(np.sqrt(15) - np.sqrt(5))
    assert result.passed and report.passed


def _average_fails_cover_passes():
    """An irregular 8x10 graph with sigma2 2.33 above the average-degree bound 2.24 and below
    the universal-cover radius 2.62."""
    return (np.random.default_rng(2).random((8, 10)) < 0.25).astype(np.float32)


def test_require_ramanujan_definition_average_or_cover(tmp_path):
    ckpt = tmp_path / "irregular.npz"
    np.savez(ckpt, **{"fc.weight": _average_fails_cover_passes()})
    default = CliRunner().invoke(main, ["check", str(ckpt), "--require-ramanujan", "fc.*"])
    average = CliRunner().invoke(main, ["check", str(ckpt), "--require-ramanujan", "fc.*", "--definition", "average"])
    cover = CliRunner().invoke(main, ["check", str(ckpt), "--require-ramanujan", "fc.*", "--definition", "cover"])
    assert default.exit_code == 3 and average.exit_code == 3 and default.output == average.output
    assert "> bound 2.23607" in average.output
    assert cover.exit_code == 0, cover.output
    assert "<= cover bound 2.62" in cover.output
    bad = CliRunner().invoke(main, ["check", str(ckpt), "--require-ramanujan", "fc.*", "--definition", "mean"])
    assert bad.exit_code != 0
    with pytest.raises(GraphtoolsError, match="definition"):
        run_checks(ckpt, Rules(require_ramanujan=("fc.*",), definition="mean"))
