"""Sweeps (``graphtools.experiments``, ``graphtools sweep``): configs, presets, records, the CSV
summary, resuming after Ctrl-C or a kill, failed runs, and the command line."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from click.testing import CliRunner

from graphtools.cli import main
from graphtools.errors import GraphtoolsError
from graphtools.experiments import (
    PRESETS, ModelSpec, SweepConfig, append_record, load_config, load_preset, plan, preset_text,
    read_records, run_sweep,
)
from graphtools.experiments.config import config_from_dict
from graphtools.experiments.sweep import LOCK_NAME
from graphtools.prune import prune_count
from graphtools.tomlfile import tomllib

from conftest import wait_for_records, write_band_mnist

TINY_MODEL = ModelSpec("rnn-h8", "rnn", 8)


def tiny(data, **changes) -> SweepConfig:
    """A sweep of seconds: an RNN of 8 units, 1 epoch each, on the band MNIST."""
    config = SweepConfig(dataset="seq-mnist", data=str(data), models=(TINY_MODEL,),
                         methods=("magnitude", "random"), sparsities=(0.5, 0.8), seeds=(0,), epochs=1,
                         finetune_epochs=1, batch_size=50, figures=())
    return dataclasses.replace(config, **changes)


@pytest.fixture(scope="module")
def finished_sweep(tmp_path_factory):
    """One finished ``tiny`` sweep for the whole module: (data, out folder, its SweepResult).
    Read it, or take a :func:`finished` copy to change it."""
    root = tmp_path_factory.mktemp("tiny-sweep")
    data = write_band_mnist(root / "mnist.npz")
    result = run_sweep(tiny(data), root / "out")
    return data, root / "out", result


@pytest.fixture
def finished(finished_sweep, tmp_path):
    """(data, a private copy of the finished tiny sweep's folder)."""
    data, out, _ = finished_sweep
    shutil.copytree(out, tmp_path / "out")
    return data, tmp_path / "out"


def write_config(path, text: str):
    path.write_text(text)
    return path


CONFIG = """
[sweep]
name = "t"
dataset = "seq-mnist"
data = "mnist.npz"
methods = ["magnitude", "biregular"]
sparsities = [0.5, 0.9]
seeds = [0, 1]
epochs = 2
finetune-epochs = 1

[[model]]
name = "rnn-a"
cell = "rnn"
hidden = 16
"""


# ------------------------------------------------------------------------------------------ configs


def test_config_from_toml_resolves_data_next_to_the_file(tmp_path):
    config = load_config(write_config(tmp_path / "sweep.toml", CONFIG))
    assert config.data == str(tmp_path / "mnist.npz")
    assert config.methods == ("magnitude", "biregular") and config.sparsities == (0.5, 0.9)
    assert config.seeds == (0, 1) and config.epochs == 2 and config.finetune_epochs == 1
    assert config.models == (ModelSpec("rnn-a", "rnn", 16, 1),)
    # to_toml reads back to the same config
    assert config_from_dict(tomllib.loads(config.to_toml()), "x") == config


@pytest.mark.parametrize("change, message", [
    (('name = "t"', 'nme = "t"'), "unknown [sweep] key 'nme'"),
    (('"biregular"', '"pruning"'), "unknown method 'pruning'"),
    (("0.9]", "1.0]"), "strictly between 0 and 1"),
    (("0.9]", "0.5]"), "lists a value twice"),
    (('cell = "rnn"', 'cell = "transformer"'), "cell must be one of rnn, lstm, gru"),
    (('name = "rnn-a"', 'name = "a/b"'), "model name 'a/b'"),
    (("hidden = 16", "hidden = 0"), "hidden must be a whole number >= 1"),
    (("epochs = 2", "epochs = 2.5"), "epochs must be a whole number >= 1"),
    (("seeds = [0, 1]", "seeds = [-1]"), "seeds must be a whole number >= 0"),
    (('dataset = "seq-mnist"', 'dataset = "imagenet"'), "unknown dataset 'imagenet'"),
    (("epochs = 2", "epochs = 2\nnoise_snr = [10]"), "noise_snr applies only to speech-commands"),
    (("epochs = 2", "epochs = 2\ncmvn = true"), "cmvn applies only to speech-commands"),
    (("epochs = 2", "epochs = 2\nper_gate = 1"), "per_gate must be true or false"),
    (("[[model]]", "[[modle]]"), "unknown table [modle]"),
    (("[sweep]", "[sweeep]"), "no [sweep] table"),
    (("seeds = [0, 1]", "seeds = 3"), "seeds must be a non-empty list"),
    (("epochs = 2", "epochs = 2\nfigures = [\"pie\"]"), "unknown figure kind 'pie'"),
])
def test_bad_configs_fail_with_one_line(tmp_path, change, message):
    path = write_config(tmp_path / "bad.toml", CONFIG.replace(*change))
    with pytest.raises(GraphtoolsError, match=r"^.*bad\.toml: ") as info:
        load_config(path)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_config_without_models_or_broken_toml(tmp_path):
    with pytest.raises(GraphtoolsError, match="no \\[\\[model\\]\\] tables"):
        load_config(write_config(tmp_path / "a.toml", CONFIG.split("[[model]]")[0]))
    with pytest.raises(GraphtoolsError, match="invalid TOML"):
        load_config(write_config(tmp_path / "b.toml", "[sweep\n"))
    with pytest.raises(GraphtoolsError, match="no such file"):
        load_config(tmp_path / "missing.toml")


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_parses(name, tmp_path):
    config = load_preset(name, data=str(tmp_path))
    assert config.data == str(tmp_path) and config.name == name
    assert config_from_dict(tomllib.loads(config.to_toml()), name) == config
    assert preset_text(name).startswith("#")  # each preset says what it is


def test_presets_named_in_the_issue():
    paper = load_preset("paper-seqmnist", data="mnist.npz")
    assert {m.cell for m in paper.models} == {"rnn", "lstm"} and {m.hidden for m in paper.models} == {128}
    assert paper.methods == ("magnitude", "random", "biregular", "ramanujan-guard")
    assert min(paper.sparsities) == 0.5 and max(paper.sparsities) == 0.98 and len(paper.seeds) == 3
    assert paper.limit is None  # the full dataset
    quick = load_preset("quick")  # the bundled subset, found from the checkout
    assert os.path.exists(quick.data) and quick.data.endswith(os.path.join("data", "mnist_subset.npz"))
    assert len(quick.methods) == 3 and len(quick.sparsities) == 3
    with pytest.raises(GraphtoolsError, match="preset paper-seqmnist needs the data"):
        load_preset("paper-seqmnist")
    with pytest.raises(GraphtoolsError, match="unknown preset"):
        load_preset("paper-imagenet")


def test_plan_runs_dense_first_and_names_every_run_once():
    config = tiny("x", seeds=(0, 1), methods=("magnitude", "random", "biregular"))
    runs = plan(config)
    assert len(runs) == 2 + 2 * 3 * 2
    assert [r.method for r in runs[:2]] == ["dense", "dense"]
    assert len({r.key for r in runs}) == len(runs)
    assert runs[2].key == "rnn-h8/magnitude/0.5/seed0" and runs[0].key == "rnn-h8/dense/seed0"


# ------------------------------------------------------------------------------------------ a sweep


def test_sweep_records_measures_and_summary(finished_sweep):
    mnist, out, result = finished_sweep
    assert (result.total, result.skipped, result.ran, result.failures) == (5, 0, 5, [])
    records = read_records(out)
    assert [r["key"] for r in records] == [s.key for s in plan(tiny(mnist))]
    dense = records[0]
    assert dense["method"] == "dense" and dense["accuracy_pruned"] is None
    assert dense["actual_sparsity"] == 0.0 and dense["dense_accuracy"] == dense["accuracy"]
    for record in records[1:]:
        assert record["dense_accuracy"] == dense["accuracy"]
        assert 0 <= record["accuracy"] <= 1 and 0 <= record["accuracy_pruned"] <= 1
        # the checkpoint is the fine-tuned model, still pruned to exactly round(sparsity * n) per matrix
        pruned = prune_count(8 * 28, record["sparsity"]) + prune_count(8 * 8, record["sparsity"])
        assert record["actual_sparsity"] == pytest.approx(pruned / (8 * 28 + 8 * 8), abs=1e-12)
        assert record["pruning"]["method"] == record["method"]
        assert len(record["epochs"]) == 1
    for record in records:
        kinds = [layer["kind"] for layer in record["layers"]]
        assert kinds == ["ih", "hh", "step"]
        for layer in record["layers"]:
            out_n, in_n = layer["shape"]
            sv = layer["singular_values"]
            assert len(sv) == min(out_n, in_n) and sv == sorted(sv, reverse=True)
            assert sv[0] == pytest.approx(layer["sigma1"], rel=1e-9, abs=1e-9)
            assert sv[1] == pytest.approx(layer["sigma2"], rel=1e-7, abs=1e-7)
            assert sum(c for _, c in layer["in_degrees"]) == in_n
            assert sum(c for _, c in layer["out_degrees"]) == out_n
            assert sum(d * c for d, c in layer["in_degrees"]) == layer["nnz"]
        pruned = [la for la in record["layers"] if la["kind"] != "step"]
        summary = record["summary"]
        assert summary["spectral_gap"] == pytest.approx(np.mean([la["spectral_gap"] for la in pruned]))
        flags = [la["is_ramanujan"] for la in pruned]
        assert summary["all_ramanujan"] == (None if None in flags else all(flags))
        assert record["unfolded"]["steps"] == 28 and record["unfolded"]["nodes"] == 28 * 28 + 29 * 8
        assert record["settings"]["model"]["name"] == "rnn-h8"
        assert os.path.exists(out / record["checkpoint"])
    # the step layer of the dense model is the complete bipartite graph K(8, 36): sigma2 = 0
    step = dense["layers"][2]
    assert step["shape"] == [8, 36] and step["sigma2"] == pytest.approx(0, abs=1e-9)
    assert step["sigma1"] == pytest.approx(math.sqrt(8 * 36))
    # one CSV row per record, with the accuracies and per-layer measures
    lines = (out / "summary.csv").read_text().splitlines()
    header = lines[0].split(",")
    assert len(lines) == 1 + len(records)
    assert "rnn.weight_hh_l0.ramanujan_gap" in header and "summary.all_ramanujan" in header
    row = dict(zip(header, lines[2].split(",")))
    assert row["key"] == records[1]["key"] and float(row["accuracy"]) == records[1]["accuracy"]
    # the config the sweep ran with is kept beside the results
    assert load_config(out / "config.toml") == dataclasses.replace(tiny(mnist), data=str(mnist))


def test_rerun_skips_finished_runs_and_extends_a_grid(finished):
    mnist, out = finished
    before = (out / "results.jsonl").read_bytes()
    again = run_sweep(tiny(mnist), out)
    assert (again.ran, again.skipped) == (0, 5)
    assert (out / "results.jsonl").read_bytes() == before
    # more sparsities: only the new runs run, the old lines stay as they were
    bigger = run_sweep(tiny(mnist, sparsities=(0.5, 0.8, 0.9)), out)
    assert (bigger.ran, bigger.skipped) == (2, 5)
    data = (out / "results.jsonl").read_bytes()
    assert data.startswith(before) and len(read_records(out)) == 7


def test_changed_settings_are_refused(finished):
    mnist, out = finished
    with pytest.raises(GraphtoolsError, match=r"run rnn-h8/dense/seed0 was made with other settings "
                                              r"\(epochs 1 -> 2\); use another --out folder"):
        run_sweep(tiny(mnist, epochs=2), out)
    with pytest.raises(GraphtoolsError, match="finetune_epochs 1 -> 3"):
        run_sweep(tiny(mnist, finetune_epochs=3), out)


def test_a_partial_last_line_is_cut_and_the_run_redone(finished):
    mnist, out = finished
    lines = (out / "results.jsonl").read_bytes().splitlines(keepends=True)
    # as if killed while writing the last record: half of its line, no newline
    (out / "results.jsonl").write_bytes(b"".join(lines[:-1]) + lines[-1][:40])
    assert len(read_records(out)) == 4  # the partial line is not a record
    result = run_sweep(tiny(mnist), out)
    assert result.ran == 1 and result.skipped == 4
    assert any("partial record" in note for note in result.notes)
    records = read_records(out)
    assert len(records) == 5 and len({r["key"] for r in records}) == 5
    assert (out / "results.jsonl").read_bytes().endswith(b"\n")


def test_corrupt_complete_line_is_an_error(tmp_path):
    path = tmp_path / "results.jsonl"
    append_record(path, {"key": "a", "x": float("nan")})
    path.write_bytes(path.read_bytes() + b"not json\n")
    with pytest.raises(GraphtoolsError, match="line 2 is not valid JSON"):
        read_records(path)
    assert json.loads(path.read_bytes().splitlines()[0]) == {"key": "a", "x": None}  # NaN stored as null


def test_deleted_dense_checkpoint_is_retrained_without_a_new_record(finished):
    mnist, out = finished
    os.unlink(out / "checkpoints" / "rnn-h8-dense-seed0.npz")
    result = run_sweep(tiny(mnist, sparsities=(0.5, 0.8, 0.9)), out)
    assert result.ran == 2 and any("re-training 1 dense" in n for n in result.notes)
    assert [r["method"] for r in read_records(out)].count("dense") == 1


def test_infeasible_sparsities_are_recorded_as_results(mnist, tmp_path):
    # array-code needs a density 1/q for a prime q: 0.4 (sparsity 0.6) has none; 0.2 (q = 5) fits
    out = tmp_path / "out"
    config = tiny(mnist, methods=("array-code", "magnitude"), sparsities=(0.6, 0.8), figures=("accuracy",))
    result = run_sweep(config, out)
    assert result.failures == [] and result.ran == 5
    assert [key for key, _ in result.infeasible] == ["rnn-h8/array-code/0.6/seed0"]
    assert "prime" in result.infeasible[0][1]
    (record,) = [r for r in read_records(out) if r["key"] == "rnn-h8/array-code/0.6/seed0"]
    assert record["status"] == "infeasible" and "accuracy" not in record and "prime" in record["reason"]
    assert all(r["status"] == "ok" for r in read_records(out) if r is not record and r["key"] != record["key"])
    # a result, not a failure: the next invocation does not try it again
    assert (run_sweep(config, out).ran, run_sweep(config, out).infeasible) == (0, [])
    assert "infeasible" in (out / "summary.csv").read_text()
    assert result.figures  # the figures leave the infeasible run out
    from graphtools.experiments.tables import sweep_report

    for model in (None, "rnn-h8"):  # the report shows it, with or without --model
        assert "| array-code | infeasible | " in sweep_report(out, model=model)


def test_failed_runs_are_listed_and_the_rest_is_kept(mnist, tmp_path, monkeypatch):
    import graphtools.experiments.sweep as sweep_module

    real = sweep_module.execute

    def flaky(config, spec, out_dir, **kwargs):
        if spec.key in ("rnn-h8/random/0.5/seed0", "rnn-h8/dense/seed1"):
            raise GraphtoolsError(f"{spec.key}: disk on fire")
        return real(config, spec, out_dir, **kwargs)

    monkeypatch.setattr(sweep_module, "execute", flaky)
    out = tmp_path / "out"
    result = run_sweep(tiny(mnist, seeds=(0, 1)), out)
    failed = dict(result.failures)
    assert failed["rnn-h8/random/0.5/seed0"] == "rnn-h8/random/0.5/seed0: disk on fire"
    assert failed["rnn-h8/dense/seed1"] == "rnn-h8/dense/seed1: disk on fire"
    # the pruned runs of a failed dense run are failures too; every other run is kept
    assert failed["rnn-h8/magnitude/0.8/seed1"] == "its dense run rnn-h8/dense/seed1 failed"
    assert len(failed) == 6 and result.ran == 4 and len(read_records(out)) == 4
    monkeypatch.setattr(sweep_module, "execute", real)
    retried = run_sweep(tiny(mnist, seeds=(0, 1)), out)
    assert (retried.ran, retried.skipped, retried.failures) == (6, 4, [])


def test_a_second_sweep_on_the_same_folder_is_refused(mnist, tmp_path):
    import fcntl

    out = tmp_path / "out"
    out.mkdir()
    with open(out / LOCK_NAME, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        with pytest.raises(GraphtoolsError, match="another sweep is running in this folder"):
            run_sweep(tiny(mnist), out)


def test_ctrl_c_keeps_finished_runs(mnist, tmp_path):
    out = tmp_path / "out"
    seen = []

    def interrupt_after_two(p):
        if p.event:
            seen.append(p.event)
            if len(seen) == 2:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(tiny(mnist), out, progress=interrupt_after_two)
    assert len(read_records(out)) == 2
    result = run_sweep(tiny(mnist), out)
    assert (result.skipped, result.ran) == (2, 3)


def test_noise_evaluations_for_speech_commands(speech_root, tmp_path):
    config = SweepConfig(dataset="speech-commands", data=str(speech_root), models=(ModelSpec("g", "gru", 4),),
                         methods=("random",), sparsities=(0.5,), epochs=1, finetune_epochs=1, batch_size=4,
                         noise_snr=(10.0, 0.0), words=("yes", "no"), unfold_steps=5, cmvn=True,
                         figures=("noise",))
    result = run_sweep(config, tmp_path / "out")
    assert result.figures == [str(tmp_path / "out" / "figures" / "noise.png")]
    assert (tmp_path / "out" / "figures" / "noise.png").read_bytes().startswith(b"\x89PNG")
    records = read_records(tmp_path / "out")
    assert len(records) == 2
    for record in records:
        assert [n["snr_db"] for n in record["noise"]] == [10.0, 0.0]
        assert all(0 <= n["accuracy"] <= 1 for n in record["noise"])
        assert record["unfolded"]["steps"] == 5 and "per-clip CMVN" in record["data_note"]
        assert record["settings"]["cmvn"] is True
    assert "accuracy_snr_10" in (tmp_path / "out" / "summary.csv").read_text().splitlines()[0]


def test_sweep_draws_its_figures(finished):
    mnist, out = finished  # seed 0 done: this adds seed 1, then draws
    kinds = ("accuracy", "gap", "spectra", "degrees", "noise")
    result = run_sweep(tiny(mnist, seeds=(0, 1), figures=kinds), out)
    assert result.ran == 5
    # seq-mnist has no noise evaluations: that figure is left out, the others are drawn
    assert result.figures == [str(out / "figures" / f"{k}.png") for k in kinds[:4]]
    for path in result.figures:
        assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


# ------------------------------------------------------------------------------------------ processes


def _sweep_command(config_path, out, *extra):
    return [sys.executable, "-m", "graphtools.cli", "sweep", str(config_path), "--out", str(out), "--no-figures",
            *extra]


def _write_slow_config(tmp_path, seeds=(0,)):
    """A config of many short runs, so that a kill lands in the middle of the sweep."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    write_band_mnist(tmp_path / "mnist.npz", n_train=600, n_test=100)
    return write_config(tmp_path / "sweep.toml", f"""
[sweep]
dataset = "seq-mnist"
data = "mnist.npz"
methods = ["magnitude", "random"]
sparsities = [0.3, 0.6, 0.8, 0.9]
seeds = {list(seeds)}
epochs = 2
finetune_epochs = 4
batch_size = 50
figures = []

[[model]]
name = "rnn-h16"
cell = "rnn"
hidden = 16
""")


def _foreground_sigint():  # in the child, before exec
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _interrupted_sweep(tmp_path, jobs, how):
    """Start a sweep, signal it with ``how`` once 3 records are written; returns (config, out).

    The sweep gets the default SIGINT disposition, as a terminal's foreground job has: a test run
    started in the background (``pytest &`` in a script) ignores SIGINT, its children inherit
    that, and Python then installs no KeyboardInterrupt handler -- the sweep ran to the end three
    times over on busy runs of the suite until the masks below showed it.  Should a sweep still
    finish before the signal, the attempt is made again with more runs left to do (at most three
    attempts), and the failure shows what each printed and its signal masks (Linux)."""
    attempts = []
    for attempt, seeds in enumerate(((0,), (0, 1), (0, 1, 2))):
        config = _write_slow_config(tmp_path / f"attempt{attempt}", seeds)
        out = config.parent / "out"
        process = subprocess.Popen(_sweep_command(config, out, "--jobs", str(jobs)), stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, preexec_fn=_foreground_sigint)
        wait_for_records(out / "results.jsonl", 3, process)
        try:
            with open(f"/proc/{process.pid}/status", encoding="ascii") as handle:
                masks = [line.split()[1] for line in handle if line.startswith(("SigBlk", "SigIgn", "SigCgt"))]
        except OSError:
            masks = []
        process.send_signal(how)
        _, err = process.communicate(timeout=60)
        if process.returncode == 0:  # finished before the signal came
            attempts.append(f"attempt {attempt}: signal masks blocked/ignored/caught {masks}; it printed:\n{err[-1200:]}")
            continue
        if how == signal.SIGINT:
            assert process.returncode == 130 and "run the same command again to resume" in err
            assert "Traceback" not in err
        else:
            assert process.returncode == -signal.SIGKILL
        return config, out
    pytest.fail("the sweep finished before it could be interrupted, three times\n" + "\n".join(attempts))


@pytest.mark.parametrize("jobs, how", [(1, signal.SIGKILL), (2, signal.SIGKILL), (2, signal.SIGINT)])
def test_kill_and_resume_loses_no_finished_run(tmp_path, jobs, how):
    config, out = _interrupted_sweep(tmp_path, jobs, how)
    results = out / "results.jsonl"
    time.sleep(0.5)  # let orphaned workers notice their parent is gone
    kept = results.read_bytes()
    finished = read_records(results)
    total = len(plan(load_config(config)))
    assert 3 <= len(finished) < total
    resumed = subprocess.run(_sweep_command(config, out, "--jobs", str(jobs)), capture_output=True, text=True,
                             timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{len(finished)} already finished" in resumed.stdout
    complete = kept[:kept.rfind(b"\n") + 1]
    assert results.read_bytes().startswith(complete)  # nothing finished was rewritten
    records = read_records(results)
    assert sorted(r["key"] for r in records) == sorted(s.key for s in plan(load_config(config)))
    # a run's record is the same whichever invocation made it: resuming changes no result
    for old in finished:
        assert next(r for r in records if r["key"] == old["key"]) == old


def test_resumed_results_equal_an_uninterrupted_sweep(finished_sweep, tmp_path):
    mnist, whole, _ = finished_sweep
    part = tmp_path / "part"
    run_sweep(tiny(mnist, sparsities=(0.5,)), part)
    run_sweep(tiny(mnist), part)
    strip = ("seconds", "finished", "epochs")

    def essentials(records):
        return {r["key"]: {k: v for k, v in r.items() if k not in strip} for r in records}
    assert essentials(read_records(part)) == essentials(read_records(whole))


# ------------------------------------------------------------------------------------------ CLI


def test_cli_quick_style_run_and_errors(mnist, tmp_path):
    config = write_config(tmp_path / "sweep.toml", CONFIG.replace("hidden = 16", "hidden = 4")
                          .replace("seeds = [0, 1]", "seeds = [0]").replace('"biregular"', '"random"')
                          .replace("epochs = 2", "epochs = 1") + "")
    runner = CliRunner()
    out = tmp_path / "out"
    result = runner.invoke(main, ["sweep", str(config), "--out", str(out), "--no-figures"])
    assert result.exit_code == 0, result.output
    assert "5 run(s) done (0 infeasible), 0 already finished, 0 failed, of 5" in result.output
    again = runner.invoke(main, ["sweep", str(config), "--out", str(out), "--no-figures"])
    assert "0 run(s) done (0 infeasible), 5 already finished" in again.output
    for args, message in [
        (["sweep", "--out", str(out)], "give a CONFIG.toml or --preset NAME"),
        (["sweep", str(config), "--preset", "quick", "--out", str(out)], "give a CONFIG.toml or --preset NAME"),
        (["sweep", str(config)], "--out DIR is required"),
        (["sweep", str(tmp_path / "none.toml"), "--out", str(out)], "none.toml: no such file"),
        (["sweep", str(config), "--out", str(out), "--data", str(tmp_path / "nothing.npz")],
         "nothing.npz: no such data file or folder"),
        (["sweep", str(config), "--out", str(mnist)], "exists and is not a folder"),
        (["sweep", "--preset", "paper-seqmnist", "--out", str(out)], "needs the data: pass --data PATH"),
    ]:
        bad = runner.invoke(main, args)
        assert bad.exit_code == 1, (args, bad.output)
        assert bad.output.startswith("error: ") and message in bad.output and bad.output.count("\n") == 1


def test_cli_show_config(tmp_path):
    runner = CliRunner()
    shown = runner.invoke(main, ["sweep", "--preset", "paper-seqmnist", "--show-config"])
    assert shown.exit_code == 0 and shown.output == preset_text("paper-seqmnist")
    resolved = runner.invoke(main, ["sweep", "--preset", "quick", "--data", "m.npz", "--show-config"])
    assert resolved.exit_code == 0 and 'data = "m.npz"' in resolved.output


def test_cli_reports_failed_and_infeasible_runs(mnist, tmp_path, monkeypatch):
    import graphtools.experiments.sweep as sweep_module

    config = write_config(tmp_path / "sweep.toml", CONFIG.replace('"biregular"', '"array-code"')
                          .replace("[0.5, 0.9]", "[0.6, 0.75]").replace("seeds = [0, 1]", "seeds = [0]")
                          .replace("hidden = 16", "hidden = 4").replace("epochs = 2", "epochs = 1"))
    real = sweep_module.execute

    def flaky(config, spec, out_dir, **kwargs):
        if spec.key == "rnn-a/magnitude/0.75/seed0":
            raise GraphtoolsError("disk on fire")
        return real(config, spec, out_dir, **kwargs)

    monkeypatch.setattr(sweep_module, "execute", flaky)
    result = CliRunner().invoke(main, ["sweep", str(config), "--out", str(tmp_path / "out"), "--no-figures"])
    assert result.exit_code == 1
    assert "infeasible: rnn-a/array-code/0.6/seed0: " in result.output
    assert "4 run(s) done (2 infeasible), 0 already finished, 1 failed, of 5" in result.output  # 4x4: no q fits 0.75
    assert "failed: rnn-a/magnitude/0.75/seed0: disk on fire" in result.output
    assert result.output.rstrip().splitlines()[-1].startswith("error: 1 run(s) failed")


def test_records_from_before_a_new_setting_stay_valid_under_its_default(mnist, tmp_path):
    out = tmp_path / "out"
    run_sweep(tiny(mnist, sparsities=(0.5,)), out)
    lines = (out / "results.jsonl").read_text().splitlines()
    old = []
    for line in lines:  # as written before the "cmvn" setting existed
        record = json.loads(line)
        del record["settings"]["cmvn"]
        old.append(json.dumps(record))
    (out / "results.jsonl").write_text("\n".join(old) + "\n")
    assert run_sweep(tiny(mnist, sparsities=(0.5,)), out).skipped == 3
    with pytest.raises(GraphtoolsError, match="limit None -> 50"):
        run_sweep(tiny(mnist, sparsities=(0.5,), limit=50), out)


@pytest.mark.parametrize("preset", ["paper-seqmnist", "paper-cifar10", "paper-speech"])
def test_each_paper_preset_runs_end_to_end_on_tiny_data(preset, tmp_path, speech_root):
    """The presets' own dataset settings (CMVN, words, noise for speech; CIFAR rows) on tiny files,
    with tiny models and one epoch so that the test takes seconds."""
    if preset == "paper-seqmnist":
        data = write_band_mnist(tmp_path / "mnist.npz", n_train=60, n_test=20)
    elif preset == "paper-cifar10":
        from test_data import write_cifar_bin

        rng = np.random.default_rng(0)
        batches = {name: (rng.integers(0, 256, (12, 3072), dtype=np.uint8), rng.integers(0, 10, 12).tolist())
                   for name in ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5",
                                "test_batch"]}
        data = write_cifar_bin(tmp_path / "cifar-10-batches-bin", batches)
    else:
        data = speech_root
    config = load_preset(preset, data=str(data))
    words = ("yes", "no", "up") if config.words else None
    small = dataclasses.replace(config, models=(ModelSpec("rnn-h4", "rnn", 4), ModelSpec("lstm-h4", "lstm", 4)),
                                sparsities=(0.5,), seeds=(0,), epochs=1, finetune_epochs=1, batch_size=8,
                                words=words, figures=("accuracy",))
    result = run_sweep(small, tmp_path / "out")
    assert result.failures == [] and result.ran == 2 + 2 * len(config.methods)
    records = read_records(tmp_path / "out")
    assert {r["dataset"] for r in records} == {config.dataset}
    if preset == "paper-speech":
        assert all(len(r["noise"]) == 4 and "per-clip CMVN" in r["data_note"] for r in records)
    steps = {"paper-seqmnist": 28, "paper-cifar10": 32, "paper-speech": 98}[preset]
    assert all(r["unfolded"]["steps"] == steps for r in records)


# ------------------------------------------------------------------------------------------ naming


def test_records_written_with_the_older_names_still_resume(finished):
    """Committed results (figures/*/results.jsonl) say ``hidden`` and ``settings.model.layers``;
    a sweep over them runs nothing again and its summary still shows the hidden size."""
    mnist, out = finished
    records = read_records(out)
    assert all(r["hidden_size"] == 8 and r["settings"]["model"]["num_layers"] == 1 for r in records)
    old = []
    for r in records:
        r = dict(r, hidden=r.pop("hidden_size"))
        model = r["settings"]["model"]
        r["settings"] = dict(r["settings"], model={"name": model["name"], "cell": model["cell"],
                                                     "hidden": model["hidden_size"], "layers": model["num_layers"]})
        old.append(json.dumps(r) + "\n")
    (out / "results.jsonl").write_text("".join(old))
    again = run_sweep(tiny(mnist), out)
    assert (again.ran, again.skipped, again.failures) == (0, len(records), [])
    more = run_sweep(tiny(mnist, sparsities=(0.5, 0.8, 0.9)), out)
    assert more.ran == 2 and not more.failures
    summary = (out / "summary.csv").read_text().splitlines()
    column = summary[0].split(",").index("hidden_size")
    assert {line.split(",")[column] for line in summary[1:]} == {"8"}


def test_model_tables_take_the_torch_names_and_the_older_ones(tmp_path):
    new = CONFIG.replace("hidden = 16", "hidden_size = 16\nnum_layers = 2")
    assert load_config(write_config(tmp_path / "a.toml", new)).models == (ModelSpec("rnn-a", "rnn", 16, 2),)
    old = CONFIG.replace("hidden = 16", "hidden = 16\nlayers = 2")
    assert load_config(write_config(tmp_path / "b.toml", old)).models == (ModelSpec("rnn-a", "rnn", 16, 2),)
    both = CONFIG.replace("hidden = 16", "hidden = 16\nhidden_size = 16")
    with pytest.raises(GraphtoolsError, match="gives both 'hidden_size' and its older name 'hidden'"):
        load_config(write_config(tmp_path / "c.toml", both))
    with pytest.raises(GraphtoolsError, match="lacks 'hidden_size'"):
        load_config(write_config(tmp_path / "d.toml", CONFIG.replace("hidden = 16", "")))
    config = load_config(write_config(tmp_path / "e.toml", old))
    assert "hidden_size = 16" in config.to_toml() and "num_layers = 2" in config.to_toml()
