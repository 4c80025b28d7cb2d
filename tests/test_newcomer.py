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


# ---------------------------------------------------------------- 7: check reads ./pyproject.toml


def test_check_reads_pyproject_by_default_and_config_overrides(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n\n[tool.graphtools.check]\n'
                                             'min-spectral-gap = 1000.0\n')
    result = run("check", EXAMPLE)
    assert result.exit_code == 3, result.output
    assert "min-spectral-gap" in result.output
    (tmp_path / "other.toml").write_text("[check]\nmin-spectral-gap = 0.0\n")
    assert run("check", EXAMPLE, "--config", tmp_path / "other.toml").exit_code == 0
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')  # no table: no rules, as before
    result = run("check", EXAMPLE)
    assert result.exit_code == 1 and "no rules to check" in result.output


# ---------------------------------------------------------------- 8: messages


def test_rule_errors_name_options_in_kebab_case():
    result = run("check", EXAMPLE, "--min-reachability", "2", "--steps", "3")
    assert result.exit_code == 1
    assert "min-reachability must be between 0 and 1" in result.output and "min_" not in result.output
    result = run("check", EXAMPLE, "--min-reachability", "0.5")
    assert "min-reachability needs steps" in result.output


def test_toml_rule_errors_name_the_file_and_kebab_keys(tmp_path):
    config = tmp_path / "rules.toml"
    config.write_text("[check]\nmin-normalized-gap = 3\n")
    result = run("check", EXAMPLE, "--config", config)
    assert result.exit_code == 1
    assert result.output == f"error: {config}: min-normalized-gap must be between 0 and 1, not 3\n"
    config.write_text("[check]\nmin-gap = 1\n")
    result = run("check", EXAMPLE, "--config", config)
    assert "unknown rule 'min-gap'" in result.output and "min-spectral-gap" in result.output
    assert "min_spectral_gap" not in result.output


def test_check_steps_0_exits_like_unfold_steps_0():
    checked = run("check", EXAMPLE, "--min-reachability", "0.5", "--steps", "0")
    unfolded = run("unfold", EXAMPLE, "--steps", "0")
    assert checked.exit_code == unfolded.exit_code == 2


def test_no_2d_matrix_names_the_file(tmp_path):
    path = tmp_path / "vectors.npz"
    np.savez(path, a=np.ones(3))
    result = run("analyze", path)
    assert result.exit_code == 1
    assert result.output.startswith(f"error: {path}: no 2-D weight matrix")


def test_png_renamed_npy_is_not_an_npy_file(tmp_path):
    path = tmp_path / "picture.npy"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    result = run("analyze", path)
    assert result.exit_code == 1
    assert result.output.startswith(f"error: {path}: not an .npy file")


def test_sweep_with_missing_data_leaves_no_folder(tmp_path):
    out = tmp_path / "X"
    result = run("sweep", "--preset", "quick", "--data", tmp_path / "nope.npz", "--out", out)
    assert result.exit_code == 1 and "no such data file" in result.output
    assert not out.exists()


# ---------------------------------------------------------------- 4: train --init / --mask architecture


def _train(mnist, out, *args):
    return run("train", "--data", mnist, "--epochs", "1", "--limit", "40", "--batch-size", "20", *args, "-o", out)


def test_train_init_refuses_contradicting_architecture(mnist, tmp_path):
    first = tmp_path / "a.npz"
    assert _train(mnist, first, "--cell", "lstm", "--hidden", "6").exit_code == 0
    result = _train(mnist, tmp_path / "b.npz", "--init", first, "--cell", "gru", "--hidden", "32")
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and result.output.startswith(f"error: {first} holds a lstm of hidden size 6")
    assert "--cell gru, --hidden 32 contradicts it" in result.output
    assert not (tmp_path / "b.npz").exists()
    agreeing = _train(mnist, tmp_path / "c.npz", "--init", first, "--cell", "lstm", "--hidden", "6")
    assert agreeing.exit_code == 0, agreeing.output


def test_train_mask_takes_the_architecture_from_the_masks(mnist, tmp_path):
    rng = np.random.default_rng(0)
    masks = {"rnn.weight_hh_l0_mask": rng.random((3 * 5, 5)) < 0.5, "rnn.weight_hh_l1_mask": rng.random((15, 5)) < 0.5}
    np.savez(tmp_path / "mask.npz", **masks)
    result = _train(mnist, tmp_path / "m.npz", "--mask", tmp_path / "mask.npz")
    assert result.exit_code == 0, result.output
    model = load_model(tmp_path / "m.npz")
    assert (model.cell, model.hidden_size, model.num_layers) == ("gru", 5, 2)
    assert not model.params["rnn.weight_hh_l1"][~masks["rnn.weight_hh_l1_mask"]].any()
    refused = _train(mnist, tmp_path / "n.npz", "--mask", tmp_path / "mask.npz", "--hidden", "7")
    assert refused.exit_code == 1 and "--hidden 7 contradicts it" in refused.output


# ---------------------------------------------------------------- 9: progress


def test_fit_progress_true_prints_each_epoch_as_it_ends(capsys):
    from graphtools.nn import SequenceClassifier, fit

    model = SequenceClassifier("rnn", 2, 3, 1, 2)
    x = np.random.default_rng(0).standard_normal((8, 3, 2)).astype(np.float32)
    y = np.array([0, 1] * 4)
    seen = []

    def on_epoch(record):
        seen.append((record["epoch"], capsys.readouterr().err))

    fit(model, x, y, epochs=2, batch_size=4, test=(x, y), progress=True, on_epoch=on_epoch)
    assert [epoch for epoch, _ in seen] == [1, 2]
    fit(model, x, y, epochs=2, batch_size=4, test=(x, y), progress=True)
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(":")[0] for line in lines] == ["epoch 1", "epoch 2"]
    assert all("test accuracy" in line for line in lines)


def test_train_cli_prints_each_epoch_before_the_next_starts(mnist, tmp_path, monkeypatch):
    import graphtools.nn.training as training

    printed = []
    original = training.run_epochs

    class Record(training.Callback):  # runs after the CLI's own epoch line
        def on_epoch_end(self, r, result):
            printed.append(r["epoch"])

    def spy(*args, callbacks=(), **kwargs):
        return original(*args, callbacks=[*callbacks, Record()], **kwargs)

    monkeypatch.setattr(training, "run_epochs", spy)
    result = _train(mnist, tmp_path / "p.npz", "--cell", "rnn", "--hidden", "4", "--epochs", "2")
    assert result.exit_code == 0, result.output
    assert printed == [1, 2]
    assert result.output.count("test accuracy") == 3  # two epoch lines and the final line


def test_piped_sweep_prints_a_line_per_finished_run(mnist, tmp_path):
    config = tmp_path / "sweep.toml"
    config.write_text('[sweep]\nname = "t"\ndataset = "seq-mnist"\ndata = "mnist.npz"\nmethods = ["random"]\n'
                      'sparsities = [0.5]\nseeds = [0]\nepochs = 1\nfinetune-epochs = 1\nlimit = 40\n\n'
                      '[[model]]\nname = "r"\ncell = "rnn"\nhidden = 4\n')
    result = CliRunner().invoke(main, ["sweep", str(config), "--out", str(tmp_path / "out"), "--no-figures"])
    assert result.exit_code == 0, result.output
    assert sum(line.startswith("[") and "/2" in line for line in result.output.splitlines()) == 2


# ---------------------------------------------------------------- 10: pruning a pruned checkpoint


@pytest.mark.parametrize("method", ["random", "magnitude"])
def test_pruning_a_pruned_file_keeps_masks_subsets_and_reports_real_density(tmp_path, method):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", **{"rnn.weight_ih_l0": rng.standard_normal((32, 5)),
                                    "rnn.weight_hh_l0": rng.standard_normal((32, 8))})
    assert run("prune", tmp_path / "d.npz", "--method", "random", "--sparsity", "0.9",
               "-o", tmp_path / "p.npz").exit_code == 0
    result = run("prune", tmp_path / "p.npz", "--method", method, "--sparsity", "0.5", "--format", "json",
                 "-o", tmp_path / "q.npz")
    assert result.exit_code == 0, result.output
    before, after = load_state(tmp_path / "p.npz").tensors, load_state(tmp_path / "q.npz").tensors
    for row in json.loads(result.output)["matrices"]:
        name = row["name"]
        old, new = before[name + "_mask"], after[name + "_mask"]
        assert not (new & ~old).any()  # a subset of the old mask
        real = np.count_nonzero(after[name]) / after[name].size
        assert row["after"]["density"] == pytest.approx(new.mean())
        assert row["after"]["density"] <= before[name + "_mask"].mean() + 1e-12
        assert real <= row["after"]["density"] + 1e-12


# ---------------------------------------------------------------- 6: the edge list says what it leaves out


def test_edgelist_loads_as_documented_and_counts_what_it_leaves_out(tmp_path):
    nx = pytest.importorskip("networkx")
    ig = pytest.importorskip("igraph")
    out = tmp_path / "e.txt"
    result = run("unfold", EXAMPLE, "--steps", "3", "--format", "edgelist", "-o", out)
    assert result.exit_code == 0, result.output
    report = json.loads(run("unfold", EXAMPLE, "--steps", "3").output)
    G = nx.read_weighted_edgelist(out, create_using=nx.DiGraph)
    H = ig.Graph.Read_Ncol(str(out), directed=True)
    assert G.number_of_edges() == H.ecount() == report["edges"]
    missing = report["nodes"] - G.number_of_nodes()
    assert missing > 0  # the example's isolated border pixel
    assert f"note: {missing} of {report['nodes']} nodes have no edge" in result.output
    graphml = tmp_path / "g.graphml"
    assert run("unfold", EXAMPLE, "--steps", "3", "--format", "graphml", "-o", graphml).exit_code == 0
    assert nx.read_graphml(graphml).number_of_nodes() == report["nodes"]


# ---------------------------------------------------------------- --help


@pytest.mark.parametrize("command", ["train", "evaluate"])
def test_every_train_and_evaluate_option_has_help(command):
    from graphtools.cli import train as train_module

    cmd = getattr(train_module, command)
    missing = [p.name for p in cmd.params if isinstance(p, __import__("click").Option) and not p.help]
    assert missing == []


def test_plot_kind_shows_its_choices():
    text = run("plot", "--help").output
    assert "--kind [accuracy|gap|spectra|degrees|noise|forest|layers|unfold]" in text


# ---------------------------------------------------------------- docs/getting-started.md runs as written

ROOT = os.path.join(os.path.dirname(__file__), "..")
TIMING = __import__("re").compile(r"\d s\b|\d s per epoch|samples/s")


def _blocks(text):
    """(bash block, the output block right after it or None) in order."""
    import re

    fences = re.findall(r"```(\w*)\n(.*?)```", text, flags=re.S)
    pairs = []
    for i, (lang, body) in enumerate(fences):
        if lang == "bash":
            after = fences[i + 1] if i + 1 < len(fences) and fences[i + 1][0] == "" else None
            pairs.append((body, None if after is None else after[1]))
    return pairs


def test_getting_started_runs_as_written(tmp_path):
    """Every bash block of docs/getting-started.md, in order, in a copy of the shipped files; each
    shown output line (but timings and '...') appears in what the commands print.  The sweep is
    left out here (a minute of training); the rest runs as written."""
    import shutil
    import subprocess
    import sys

    for folder in ("data", os.path.join("figures", "paper-seqmnist")):
        shutil.copytree(os.path.join(ROOT, folder), tmp_path / folder)
    with open(os.path.join(ROOT, "docs", "getting-started.md"), encoding="utf-8") as handle:
        pairs = _blocks(handle.read())
    assert len(pairs) >= 6
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    for script, shown in pairs:
        kept = [line for line in script.splitlines() if not line.startswith("graphtools sweep")]
        if len(kept) < len(script.splitlines()):
            shown = None  # the sweep's output is not compared: it did not run here
        script = "\n".join(kept)
        done = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=300)
        assert "error" not in done.stderr.lower(), (script, done.stderr)
        for line in (shown or "").splitlines():
            if line.strip() and line.strip() != "..." and not TIMING.search(line):
                assert line in done.stdout, (script, line, done.stdout)


def test_readme_usage_lines_use_the_metavars_of_help():
    """Every usage synopsis of the README (a plain block of ``graphtools CMD ...`` lines) names each
    option's value as that command's --help does (--steps T, -o OUT, --sparsity S, ...)."""
    import re

    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as handle:
        readme = handle.read()
    synopses = re.findall(r"^```\n(graphtools [a-z].*?)^```", readme, flags=re.S | re.M)
    usages = [u for block in synopses for u in re.split(r"\n(?=graphtools )", block)]
    assert {u.split()[1] for u in usages} >= {"analyze", "unfold", "check", "prune", "train", "evaluate"}
    checked = 0
    for usage in usages:
        helps = run(usage.split()[1], "--help").output
        for option, metavar in re.findall(r"(--[a-z-]+|-[a-zA-Z]) ([A-Z][^\s\[\]|]*)", usage):
            pattern = rf"(^\s+|, ){re.escape(option)}(, --[a-z-]+)? {re.escape(metavar)}(\s|$)"
            assert re.search(pattern, helps, flags=re.M), (usage.split()[1], option, metavar)
            checked += 1
    assert checked >= 30
