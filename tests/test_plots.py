"""graphtools.plots and ``graphtools plot``: figure files, figure content, correlations, CLI errors."""

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
import zlib

import numpy as np
import pytest
from click.testing import CliRunner
from matplotlib.legend import Legend
from scipy.stats import spearmanr

from graphtools.cli import main
from graphtools.errors import GraphtoolsError
from graphtools.experiments.results import read_records
from graphtools.plots import (
    accuracy_figure,
    accuracy_points,
    degrees_figure,
    gap_figure,
    noise_figure,
    plot,
    rank_correlations,
    select_layer,
    spectra_figure,
    within_sparsity_correlations,
)

MODELS = {"rnn-h8": "rnn", "lstm-h8": "lstm"}
METHODS = ["magnitude", "random", "biregular"]
SPARSITIES = [0.5, 0.8, 0.9]
SEEDS = [0, 1]
MAGIC = {"png": b"\x89PNG\r\n\x1a\n", "pdf": b"%PDF"}


def graph_entry(name, kind, mask):
    """A per-graph measure entry of the binary graph ``mask`` (out × in)."""
    sv = np.linalg.svd(mask.astype(float), compute_uv=False)
    cols, rows = mask.sum(axis=0), mask.sum(axis=1)
    nnz = int(mask.sum())
    bound = None
    if nnz:
        d_in, d_out = nnz / max(1, (cols > 0).sum()), nnz / max(1, (rows > 0).sum())
        bound = float(np.sqrt(max(d_in - 1, 0)) + np.sqrt(max(d_out - 1, 0)))
    s2 = float(sv[1]) if sv.size > 1 else 0.0
    hist = lambda d: [[int(v), int(c)] for v, c in zip(*np.unique(d, return_counts=True))]  # noqa: E731
    return {"name": name, "kind": kind, "shape": list(mask.shape), "nnz": nnz, "density": nnz / mask.size,
            "sigma1": float(sv[0]), "sigma2": s2, "spectral_gap": float(sv[0]) - s2, "normalized_gap": None,
            "ramanujan_bound": bound, "ramanujan_gap": None if bound is None else bound - s2,
            "is_ramanujan": None if bound is None else bound >= s2, "delta_s": None, "weighted_spectral_gap": None,
            "singular_values": [float(v) for v in sv], "in_degrees": hist(cols), "out_degrees": hist(rows)}


def accuracy_of(model, method, sparsity, seed):
    if method == "dense":
        return 0.95 - 0.02 * seed - (0.05 if model == "lstm-h8" else 0.0)
    offset = {"magnitude": 0.0, "random": -0.1, "biregular": -0.03}[method]
    return round(0.9 - 0.3 * sparsity + offset + 0.01 * seed, 6)


def all_ramanujan(method, sparsity, seed):
    if method == "random":
        return sparsity < 0.9  # both seeds stop being Ramanujan at 0.9
    if method == "magnitude":
        return not (sparsity >= 0.8 and seed == 1)  # one seed of two from 0.8: hollow at 0.8 and 0.9
    return True


def mask(rng, shape, keep):
    """A binary matrix with round(keep * size) ones (at least 2) at random places."""
    flat = np.zeros(shape[0] * shape[1], bool)
    flat[rng.permutation(flat.size)[:max(2, round(keep * flat.size))]] = True
    return flat.reshape(shape)


def make_record(model, method, sparsity, seed, noise=True):
    cell = MODELS[model]
    rng = np.random.default_rng(zlib.crc32(f"{model}/{method}/{sparsity}/{seed}".encode()))
    keep = 1.0 - sparsity
    ih, hh = mask(rng, (8, 4), keep), mask(rng, (8, 8), keep)
    layers = [graph_entry(f"{cell}.weight_ih_l0", "ih", ih), graph_entry(f"{cell}.weight_hh_l0", "hh", hh),
              graph_entry("step_l0", "step", np.hstack([ih, hh]))]
    accuracy = accuracy_of(model, method, sparsity, seed)
    dense = method == "dense"
    return {
        "key": f"{model}/{method}/{sparsity}/seed{seed}", "model": model, "cell": cell, "hidden": 8,
        "dataset": "speech-commands", "data_note": "synthetic stand-in (espeak-ng)",
        "method": method, "sparsity": sparsity, "actual_sparsity": 1 - (ih.sum() + hh.sum()) / 96, "seed": seed,
        "accuracy": accuracy, "accuracy_pruned": None if dense else accuracy - 0.1,
        "dense_accuracy": accuracy_of(model, "dense", 0.0, seed),
        "noise": [{"snr_db": snr, "accuracy": accuracy - 0.02 * (20 - snr) / 10} for snr in (0.0, 10.0, 20.0)]
        if noise else [],
        "layers": layers,
        "summary": {"spectral_gap": float(np.mean([g["spectral_gap"] for g in layers[:2]])),
                    "normalized_gap": None,
                    "ramanujan_gap": min(g["ramanujan_gap"] for g in layers[:2]),
                    "weighted_spectral_gap": None, "delta_s": None,
                    "all_ramanujan": None if dense else all_ramanujan(method, sparsity, seed)},
        "seconds": 1.0,
    }


def sweep_records(noise=True):
    records = []
    for model in MODELS:
        for seed in SEEDS:
            records.append(make_record(model, "dense", 0.0, seed, noise and model == "lstm-h8"))
            for method in METHODS:
                for sparsity in SPARSITIES:
                    records.append(make_record(model, method, sparsity, seed, noise and model == "lstm-h8"))
    return records


def write_results(folder, records, partial=None):
    """Append ``records`` to folder/results.jsonl one line each, as a sweep does; ``partial``: a
    last line cut off before its newline."""
    path = folder / "results.jsonl"
    with open(path, "a", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record) + "\n")
        if partial is not None:
            handle.write(partial)
    return path


@pytest.fixture(scope="module")
def records():
    return sweep_records()


@pytest.fixture
def results(tmp_path, records):
    return write_results(tmp_path, records)


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_one_line_error(result, *fragments):
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def lines_labelled(ax, label):
    return [line for line in ax.get_lines() if line.get_label() == label]


def legend_texts(fig):
    return [t.get_text() for legend in fig.findobj(Legend) for t in legend.get_texts()]


# --------------------------------------------------------------------------- files of every kind and format

@pytest.mark.parametrize("kind", ["accuracy", "gap", "spectra", "degrees", "noise"])
@pytest.mark.parametrize("extension", ["png", "svg", "pdf"])
def test_every_kind_writes_a_valid_file(tmp_path, results, kind, extension):
    output = tmp_path / f"figure.{extension}"
    result = plot(results, kind, output)
    assert result.kind == kind and result.runs == 40
    data = output.read_bytes()
    if extension == "svg":
        root = ET.fromstring(data)
        assert root.tag.endswith("svg") and b"<svg" in data
    else:
        assert data.startswith(MAGIC[extension])
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".tmp-")]


def test_plotting_leaves_pyplot_unimported(tmp_path, results):
    code = ("import sys; from graphtools.plots import plot; "
            f"plot({str(results)!r}, 'accuracy', {str(tmp_path / 'a.png')!r}); "
            "assert 'matplotlib.pyplot' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


# --------------------------------------------------------------------------- accuracy

def test_accuracy_lines_are_means_over_seeds(records):
    fig = accuracy_figure(records, model="rnn-h8", x="requested")
    (ax,) = fig.axes
    for method in METHODS:
        (line,) = lines_labelled(ax, method)
        expected = [np.mean([accuracy_of("rnn-h8", method, s, seed) for seed in SEEDS]) for s in SPARSITIES]
        np.testing.assert_allclose(line.get_xdata(), 1 - np.asarray(SPARSITIES))  # density, on a log axis
        np.testing.assert_allclose(line.get_ydata(), expected)
    (dense,) = lines_labelled(ax, "dense")
    np.testing.assert_allclose(dense.get_ydata(), np.mean([accuracy_of("rnn-h8", "dense", 0, s) for s in SEEDS]))
    assert ax.get_xlabel() == "requested sparsity (log scale of density 1 − sparsity)"
    assert ax.get_xscale() == "log" and ax.xaxis_inverted()
    assert [t.get_text() for t in ax.get_xticklabels()] == [f"{s:g}" for s in SPARSITIES]
    assert ax.get_ylabel() == "test accuracy"
    assert "synthetic stand-in (espeak-ng)" in fig._suptitle.get_text()


def test_accuracy_points_sit_at_the_sparsity_reached_by_default(records):
    (ax,) = accuracy_figure(records, model="rnn-h8").axes
    for method in METHODS:
        (line,) = lines_labelled(ax, method)
        reached = [np.mean([r["actual_sparsity"] for r in records if r["model"] == "rnn-h8"
                            and r["method"] == method and r["sparsity"] == s]) for s in SPARSITIES]
        np.testing.assert_allclose(line.get_xdata(), 1 - np.asarray(reached))
    assert ax.get_xlabel() == "sparsity reached (log scale of density 1 − sparsity)"
    np.testing.assert_allclose(ax.get_xticks(), 1 - np.asarray(SPARSITIES))  # ticks: the requested sparsities
    with pytest.raises(GraphtoolsError, match="x must be one of actual, requested"):
        accuracy_figure(records, x="reached")


def test_accuracy_error_bars_are_sample_std_over_seeds(records):
    runs = [r for r in records if r["model"] == "lstm-h8"]
    for point in accuracy_points(runs, "biregular"):
        values = [accuracy_of("lstm-h8", "biregular", point.sparsity, seed) for seed in SEEDS]
        assert point.n == 2 and point.std == pytest.approx(np.std(values, ddof=1))
    single = accuracy_points([r for r in runs if r["seed"] == 0], "biregular")
    assert all(p.std is None for p in single)


def test_accuracy_marks_non_ramanujan_points_hollow(records):
    fig = accuracy_figure(records, model="rnn-h8", x="requested")
    (ax,) = fig.axes
    (hollow,) = lines_labelled(ax, "_magnitude not ramanujan")
    np.testing.assert_allclose(hollow.get_xdata(), [0.2, 0.1])
    assert hollow.get_markerfacecolor() == "white"
    (filled,) = lines_labelled(ax, "_magnitude ramanujan")
    np.testing.assert_allclose(filled.get_xdata(), [0.5])
    (stop,) = lines_labelled(ax, "_magnitude not ramanujan from")
    np.testing.assert_allclose(stop.get_xdata(), [0.2])  # a marker at the top edge, not a line across
    assert stop.get_marker() == "v" and stop.get_color() == filled.get_color()
    (stop2,) = lines_labelled(ax, "_random not ramanujan from")
    np.testing.assert_allclose(stop2.get_xdata(), [0.1])
    assert stop2.get_ydata()[0] != stop.get_ydata()[0]  # one row per method: none hides another
    markers = {lines_labelled(ax, f"_{m} ramanujan")[0].get_marker() for m in METHODS if lines_labelled(ax, f"_{m} ramanujan")}
    assert len(markers) == len([m for m in METHODS if lines_labelled(ax, f"_{m} ramanujan")])
    assert not lines_labelled(ax, "_biregular not ramanujan") and not lines_labelled(ax, "_biregular not ramanujan from")
    assert any("hollow" in text for text in legend_texts(fig))


def test_accuracy_has_one_panel_per_model(records):
    fig = accuracy_figure(records)
    assert [ax.get_title() for ax in fig.axes] == ["rnn-h8", "lstm-h8"]


# --------------------------------------------------------------------------- gap and correlations

def test_gap_legend_shows_spearman_rho_per_model(records):
    fig = gap_figure(records)
    assert [ax.get_title() for ax in fig.axes] == ["spectral_gap", "ramanujan_gap"]
    texts = " | ".join(legend_texts(fig))
    for model in MODELS:
        pruned = [r for r in records if r["model"] == model and r["method"] != "dense"]
        rho, p = spearmanr([r["summary"]["spectral_gap"] for r in pruned], [r["accuracy"] for r in pruned])
        assert f"{model}: ρ = {rho:.2f}, p = {p:.2g}, n = 18" in texts
    assert "all models" not in texts  # no correlation pooled across models (issue 14)


def test_gap_measure_option_and_unknown_measure(records):
    fig = gap_figure(records, measures=["spectral_gap"], model="lstm-h8")
    assert len(fig.axes) == 1
    with pytest.raises(GraphtoolsError, match="no pruned run has both accuracy and summary.step_delta_s"):
        gap_figure(records, measures=["step_delta_s"])
    with pytest.raises(GraphtoolsError, match="unknown measure 'sigma9'.*ramanujan_gap"):
        gap_figure(records, measures=["sigma9"])


def monotone_records(sign, model="m"):
    return [{"key": f"{model}{i}", "model": model, "method": "magnitude", "sparsity": 0.5 + 0.1 * (i % 3),
             "seed": i, "accuracy": 0.5 + sign * 0.01 * i, "summary": {"spectral_gap": float(i) ** 2}}
            for i in range(9)]


def test_rank_correlations_of_monotone_cases():
    (up,) = rank_correlations(monotone_records(+1), "spectral_gap")
    assert (up.group, up.measure, up.n, up.rho) == ("m", "spectral_gap", 9, 1.0) and up.p_value < 1e-3
    (down,) = rank_correlations(monotone_records(-1), "spectral_gap")
    assert down.rho == -1.0
    both = rank_correlations(monotone_records(+1, "a") + monotone_records(-1, "b"), "spectral_gap")
    assert [(c.group, c.rho) for c in both] == [("a", 1.0), ("b", -1.0)]
    assert isinstance(both[0].rho, float) and isinstance(both[0].p_value, float)
    (everything,) = rank_correlations(monotone_records(+1, "a") + monotone_records(+1, "b"), "spectral_gap", by=())
    assert everything.group == "all" and everything.n == 18


def test_rank_correlations_skip_nulls_and_need_three_points():
    records = monotone_records(+1)
    records[0]["summary"]["spectral_gap"] = None
    records[1]["accuracy"] = None
    records.append(dict(records[2], key="dense", method="dense"))
    (c,) = rank_correlations(records, "spectral_gap")
    assert c.n == 7 and c.rho == 1.0
    (few,) = rank_correlations(monotone_records(+1)[:2], "spectral_gap")
    assert few.n == 2 and few.rho is None and few.p_value is None
    with pytest.raises(GraphtoolsError, match="unknown measure"):
        rank_correlations(records, "accuracy")


def test_within_sparsity_correlation():
    records = monotone_records(+1)
    for r in records:  # measure and accuracy both fall with sparsity, but within a sparsity they disagree
        r["summary"]["spectral_gap"] = -10 * r["sparsity"] + 0.01 * r["seed"]
        r["accuracy"] = 1.0 - r["sparsity"] - 0.001 * r["seed"]
    (c,) = within_sparsity_correlations(records, "spectral_gap")
    assert [s.sparsity for s in c.per_sparsity] == [0.5, 0.6, 0.7]
    assert all(s.n == 3 and s.rho == pytest.approx(-1.0) for s in c.per_sparsity)
    # stratified rho -1; permutation p: both perfect orders in all three strata, 2 / 6^3
    assert c.n == 9 and c.rho == pytest.approx(-1.0) and c.p_value == pytest.approx(2 / 216, abs=0.004)
    (overall,) = rank_correlations(records, "spectral_gap")
    assert overall.rho > 0.5
    mixed = monotone_records(+1)
    for r in mixed:  # rising at 0.5, falling at 0.6: no consistent direction
        r["accuracy"] = 0.001 * r["seed"] * (1 if r["sparsity"] < 0.55 else -1)
    (c,) = within_sparsity_correlations([r for r in mixed if r["sparsity"] < 0.65], "spectral_gap")
    assert c.rho == pytest.approx(0.0) and c.p_value == pytest.approx(1.0)
    assert c.to_dict()["per_sparsity"][0]["rho"] == pytest.approx(1.0)


# --------------------------------------------------------------------------- spectra and degrees

def test_spectra_default_layer_and_data(records):
    selection = select_layer(records, model="lstm-h8")
    assert (selection.layer, selection.sparsity, selection.seed) == ("lstm.weight_hh_l0", 0.9, 0)
    assert list(selection.graphs) == ["dense"] + METHODS
    fig = spectra_figure(records, model="lstm-h8")
    (ax,) = fig.axes
    assert ax.get_yscale() == "log"
    source = next(r for r in records if r["key"] == "lstm-h8/random/0.9/seed0")["layers"][1]["singular_values"]
    (line,) = lines_labelled(ax, "random")
    rest = [v for v in source[1:] if v > 1e-9 * source[0]]
    np.testing.assert_allclose(line.get_ydata(), rest)
    (star,) = lines_labelled(ax, "_random sigma1")
    assert star.get_ydata()[0] == pytest.approx(source[0]) and star.get_marker() == "*"


def test_spectra_options_and_errors(records):
    fig = spectra_figure(records, model="rnn-h8", layer="step_l0", sparsity=0.5, seed=1)
    assert "step_l0" in fig.axes[0].get_title() and "seed 1" in fig.axes[0].get_title()
    with pytest.raises(GraphtoolsError, match=r"unknown layer 'nope' \(layers: rnn.weight_ih_l0, rnn.weight_hh_l0, step_l0\)"):
        spectra_figure(records, model="rnn-h8", layer="nope")
    with pytest.raises(GraphtoolsError, match=r"no run at sparsity 0.7 \(sparsities: 0.5, 0.8, 0.9\)"):
        spectra_figure(records, sparsity=0.7)
    with pytest.raises(GraphtoolsError, match=r"unknown model 'gru' \(models: rnn-h8, lstm-h8\)"):
        spectra_figure(records, model="gru")
    with pytest.raises(GraphtoolsError, match=r"seeds: 0, 1"):
        spectra_figure(records, seed=7)


def test_degrees_histograms(records):
    fig = degrees_figure(records, model="rnn-h8", sparsity=0.8)
    ax_in, ax_out = fig.axes
    graph = next(r for r in records if r["key"] == "rnn-h8/biregular/0.8/seed0")["layers"][1]
    for ax, key in ((ax_in, "in_degrees"), (ax_out, "out_degrees")):
        (stairs,) = [p for p in ax.patches if p.get_label() == "biregular"]
        data = stairs.get_data()
        drawn = {int(e + 0.5): int(v) for v, e in zip(data.values, data.edges[:-1]) if v}
        assert drawn == {d: c for d, c in graph[key]}
    assert "input nodes" in ax_in.get_title() and "output nodes" in ax_out.get_title()


# --------------------------------------------------------------------------- noise

def test_noise_curves(records):
    fig = noise_figure(records)
    (ax,) = fig.axes  # only lstm-h8 has noise evaluations
    assert ax.get_title() == "lstm-h8, requested sparsity 0.9"
    (line,) = lines_labelled(ax, "magnitude")
    np.testing.assert_allclose(line.get_xdata(), [0, 10, 20])
    clean = np.mean([accuracy_of("lstm-h8", "magnitude", 0.9, s) for s in SEEDS])
    np.testing.assert_allclose(line.get_ydata(), [clean - 0.04, clean - 0.02, clean])
    assert lines_labelled(ax, "dense")
    (point,) = lines_labelled(ax, "_magnitude clean")  # the clean test accuracy, right of the noisy points
    assert point.get_xdata()[0] > 20 and point.get_ydata()[0] == pytest.approx(clean)
    assert [t.get_text() for t in ax.get_xticklabels()][-1] == "clean"


def test_noise_without_evaluations_is_an_error():
    with pytest.raises(GraphtoolsError, match="no noise evaluations"):
        noise_figure(sweep_records(noise=False))


# --------------------------------------------------------------------------- command line

def test_cli_writes_the_figure(tmp_path, results):
    output = tmp_path / "accuracy.png"
    result = run("plot", results, "--kind", "accuracy", "-o", output, "--title", "My sweep")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"wrote {output} (accuracy, 40 runs)\n"
    assert output.read_bytes().startswith(MAGIC["png"])
    result = run("plot", tmp_path, "--kind", "gap", "--measure", "delta_s", "--measure", "spectral_gap",
                 "--model", "rnn-h8", "-o", tmp_path / "gap.svg")
    assert result.exit_code == 0 and result.stdout == f"wrote {tmp_path / 'gap.svg'} (gap, 20 runs)\n"


@pytest.mark.parametrize("args, fragments", [
    (["--kind", "histogram"], ["unknown kind 'histogram'", "accuracy, gap, spectra, degrees, noise"]),
    (["--kind", "accuracy", "-o", "{tmp}/figure.jpg"], ["figure.jpg", ".png, .svg, .pdf"]),
    (["--kind", "spectra", "--layer", "nope"], ["unknown layer 'nope'", "rnn.weight_hh_l0"]),
    (["--kind", "degrees", "--sparsity", "0.95"], ["sparsity 0.95", "0.5, 0.8, 0.9"]),
    (["--kind", "accuracy", "--model", "gru"], ["unknown model 'gru'", "rnn-h8, lstm-h8"]),
    (["--kind", "accuracy", "--layer", "step_l0"], ["--layer applies to --kind spectra or degrees"]),
    (["--kind", "accuracy", "-o", "{tmp}/missing/figure.png"], ["does not exist"]),
])
def test_cli_errors_are_one_line(tmp_path, results, args, fragments):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if "-o" not in args:
        args += ["-o", str(tmp_path / "figure.png")]
    assert_one_line_error(run("plot", results, *args), *fragments)


def test_cli_missing_and_empty_results(tmp_path):
    assert_one_line_error(run("plot", tmp_path / "nothing.jsonl", "--kind", "accuracy", "-o", tmp_path / "a.png"),
                          "no such results file")
    (tmp_path / "results.jsonl").write_text("")
    assert_one_line_error(run("plot", tmp_path, "--kind", "accuracy", "-o", tmp_path / "a.png"), "no finished runs")


def test_cli_no_noise_data(tmp_path):
    path = write_results(tmp_path, sweep_records(noise=False))
    assert_one_line_error(run("plot", path, "--kind", "noise", "-o", tmp_path / "noise.png"),
                          f"{path} has no noise evaluations (only speech-commands sweeps evaluate under noise)")


def test_failed_run_leaves_existing_output_untouched(tmp_path, results, monkeypatch):
    output = tmp_path / "figure.png"
    output.write_bytes(b"the old figure")
    assert_one_line_error(run("plot", results, "--kind", "spectra", "--layer", "nope", "-o", output))
    assert output.read_bytes() == b"the old figure"

    def broken(self, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("matplotlib.figure.Figure.savefig", broken)
    assert_one_line_error(run("plot", results, "--kind", "accuracy", "-o", output), "No space left on device")
    assert output.read_bytes() == b"the old figure"
    assert sorted(os.listdir(tmp_path)) == ["figure.png", "results.jsonl"]


def test_partial_last_line_is_ignored(tmp_path, records):
    path = write_results(tmp_path, records[:5], partial=json.dumps(records[5])[:40])
    assert [r["key"] for r in read_records(path)] == [r["key"] for r in records[:5]]
    result = run("plot", tmp_path, "--kind", "accuracy", "-o", tmp_path / "a.pdf")
    assert result.exit_code == 0 and "(accuracy, 5 runs)" in result.stdout
