"""The claim test (graphtools.experiments.claim, `graphtools claim`, `graphtools report` on its
results): the claim-quick preset end to end on the bundled subset."""

import dataclasses
import json

import numpy as np
import pytest
from click.testing import CliRunner

from graphtools.cli import main
from graphtools.errors import GraphtoolsError
from graphtools.experiments.claim import Phase, load_claim_preset, plan, run_claim
from graphtools.experiments.claim_report import claim_report, comparisons
from graphtools.experiments.results import read_records
from graphtools.io import load_state


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """claim-quick cut to the RNN (2 seeds, extras for seed 0): 30 runs of a hidden-16 RNN."""
    config = load_claim_preset("claim-quick")
    config = dataclasses.replace(config, phases=(Phase("rnn-h16", "main", (0, 1)), Phase("rnn-h16", "extras", (0,))))
    out = tmp_path_factory.mktemp("claim")
    ran = run_claim(config, str(out))
    return config, out, ran


def test_the_plan_pairs_every_mask_and_arm_per_seed():
    config = load_claim_preset("claim-quick")
    keys = [r.key for r in plan(config)]
    assert len(keys) == len(set(keys))
    for arm in ("finetune", "scratch"):
        for mask in ("magnitude", "expander", "poor"):
            for s in config.sparsities:
                assert f"rnn-h16/{arm}/{mask}/{s:g}/seed1" in keys
    assert keys.index("rnn-h16/dense/seed0") < keys.index("rnn-h16/finetune/magnitude/0.8/seed0")
    full = load_claim_preset("claim-seqmnist", data="mnist.npz")
    assert {m.cell for m in full.models} == {"rnn", "lstm"} and {m.hidden for m in full.models} == {128}
    assert len(full.sparsities) >= 2 and full.limit is None
    for model in ("rnn-h128", "lstm-h128"):
        seeds = {s for p in full.phases if p.model == model and p.part == "main" for s in p.seeds}
        assert len(seeds) >= 10


def test_rewired_masks_keep_sparsity_and_degrees_and_differ_in_sigma2(quick):
    config, out, ran = quick
    assert len(ran) == 30
    records = {r["key"]: r for r in read_records(out / "results.jsonl")}
    for seed in (0, 1):
        for s in config.sparsities:
            masks = {}
            for mask in ("magnitude", "expander", "poor"):
                record = records[f"rnn-h16/finetune/{mask}/{s:g}/seed{seed}"]
                state = load_state(out / "checkpoints" / record["checkpoint"]).tensors
                masks[mask] = {k: v != 0 for k, v in state.items() if k.endswith("_mask")}
                for layer in record["layers"]:  # both Ramanujan definitions recorded, step layer included
                    assert "is_ramanujan" in layer and "is_ramanujan_cover" in layer
                assert {layer["kind"] for layer in record["layers"]} == {"ih", "hh", "step"}
                assert record["unfolded"]["steps"] == 28 and record["environment"]["numpy"] == np.__version__
            for name, base in masks["magnitude"].items():
                for other in ("expander", "poor"):
                    m = masks[other][name]
                    assert m.sum() == base.sum()
                    assert np.array_equal(m.sum(0), base.sum(0)) and np.array_equal(m.sum(1), base.sum(1))
            e = records[f"rnn-h16/finetune/expander/{s:g}/seed{seed}"]
            p = records[f"rnn-h16/finetune/poor/{s:g}/seed{seed}"]
            assert e["degrees_match_magnitude"] is True
            for name, stats in e["rewire"].items():
                assert stats["sigma2_reached"] < p["rewire"][name]["sigma2_reached"]


def test_a_rerun_makes_no_run_and_a_partial_line_is_redone(quick):
    config, out, _ = quick
    assert run_claim(config, str(out)) == []
    path = out / "results.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    last = json.loads(lines[-1])["key"]
    path.write_text("".join(lines[:-1]) + lines[-1][:40])  # a kill while writing the last record
    assert run_claim(config, str(out)) == [last]
    assert len(read_records(path)) == 30


def test_report_of_claim_results(quick):
    config, out, _ = quick
    result = CliRunner().invoke(main, ["report", str(out / "results.jsonl")])
    assert result.exit_code == 0, result.output
    text = result.output
    assert "Holm over all" in text and "expander − poor" in text and "Smallest detectable effect" in text
    records = read_records(out / "results.jsonl")
    comps = comparisons(records, resamples=100)
    tested = [c for c in comps if c.tested]
    assert f"Holm over all {len([c for c in tested if c.test.p_value is not None]) + 4} p-values" in text
    assert "all models" not in text
    assert claim_report(records, resamples=100, permutations=99).startswith("# claim-quick")


def test_claim_command_errors_are_one_line(tmp_path):
    result = CliRunner().invoke(main, ["claim", "claim-seqmnist", "--out", str(tmp_path)])
    assert result.exit_code == 1 and result.output.strip().startswith("error: preset claim-seqmnist needs the data")
    with pytest.raises(GraphtoolsError, match="unknown claim preset"):
        load_claim_preset("claim-nope")


def test_forest_plot_of_claim_results(quick, tmp_path):
    from graphtools.plots import plot
    from graphtools.plots.forest import forest_figure

    config, out, _ = quick
    records = read_records(out / "results.jsonl")
    fig = forest_figure(records)
    (ax,) = fig.axes
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert "finetune 0.8: expander − poor (n=2)" in labels and len(labels) == len(comparisons(records, resamples=10))
    assert "mnist_subset.npz" in fig._suptitle.get_text()  # the data label names the file used
    assert plot(str(out / "results.jsonl"), "forest", tmp_path / "f.png").runs == sum(r["status"] == "ok" for r in records)
    with pytest.raises(GraphtoolsError, match="no paired comparison"):
        forest_figure([r for r in records if r["arm"] == "dense"])


def test_a_second_run_on_this_machine_gives_identical_records(quick, tmp_path):
    config, out, _ = quick
    again = run_claim(config, str(tmp_path), max_runs=3)  # dense parent, then two fine-tuned masks
    first = {r["key"]: r for r in read_records(out / "results.jsonl")}
    for record in read_records(tmp_path / "results.jsonl"):
        assert record["key"] in again
        old = first[record["key"]]
        assert (record["accuracy"], record["loss"], record["epochs"][-1]["loss"]) == \
            (old["accuracy"], old["loss"], old["epochs"][-1]["loss"])
        assert [layer["sigma2"] for layer in record["layers"]] == [layer["sigma2"] for layer in old["layers"]]
