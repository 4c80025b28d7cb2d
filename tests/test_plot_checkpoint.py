"""``graphtools plot CKPT``: the layers, spectra, degrees and unfold figures of one checkpoint."""

import os
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from matplotlib.collections import PathCollection
from matplotlib.colors import to_hex
from matplotlib.legend import Legend
from matplotlib.patches import StepPatch

from graphtools.analysis import analyze_graph
from graphtools.errors import GraphtoolsError
from graphtools.io import load_state
from graphtools.model import describe
from graphtools.plots import (
    AVERAGE_DEGREE_BOUND, BoundSeries, Matrix, checkpoint_degrees_figure, checkpoint_graphs,
    checkpoint_layers_figure, checkpoint_spectra_figure, checkpoint_unfold_figure, is_checkpoint, plot,
)
from graphtools.plots.checkpoint import FAIL, PASS
from statedicts import sparsify, torch_state
from test_plots import MAGIC, assert_one_line_error, run

WEIGHTS = ["rnn.weight_ih_l0", "rnn.weight_hh_l0", "rnn.weight_ih_l1", "rnn.weight_hh_l1", "fc.weight"]


def small_state(seed=0):
    state = sparsify(torch_state("lstm", input_size=4, hidden=6, layers=2, seed=seed), 0.5, seed=seed + 1)
    # two disjoint K(2,3): sigma1 = sigma2 = sqrt(6) > bound 1 + sqrt(2), a matrix that is not Ramanujan
    state["fc.weight"] = np.kron(np.eye(2), np.ones((2, 3))).astype(np.float32)
    return state


@pytest.fixture
def checkpoint(tmp_path):
    path = tmp_path / "lstm.npz"
    np.savez(path, **small_state())
    return path


def model_of(path):
    return describe(load_state(path).tensors)


def legend_texts(fig):
    return [t.get_text() for legend in fig.findobj(Legend) for t in legend.get_texts()]


def binary(state, name):
    return (np.asarray(state[name]) != 0).astype(float)


# --------------------------------------------------------------------------- recognising the input

def test_is_checkpoint_by_content(tmp_path, checkpoint):
    assert is_checkpoint(checkpoint)
    np.save(tmp_path / "w.npy", np.eye(3))
    assert is_checkpoint(tmp_path / "w.npy")
    from safetensors.numpy import save_file

    save_file({"w": np.eye(3, dtype=np.float32)}, str(tmp_path / "renamed.bin"))  # by content, not extension
    assert is_checkpoint(tmp_path / "renamed.bin")
    (tmp_path / "results.jsonl").write_text('{"key": "a"}\n')
    assert not is_checkpoint(tmp_path / "results.jsonl")
    assert not is_checkpoint(tmp_path)  # a sweep folder
    (tmp_path / "notes.txt").write_text("hello\n")
    with pytest.raises(GraphtoolsError, match="neither a checkpoint .* nor a sweep's results"):
        is_checkpoint(tmp_path / "notes.txt")
    assert is_checkpoint(tmp_path / "missing.npz") and not is_checkpoint(tmp_path / "missing.jsonl")
    (tmp_path / "empty.jsonl").write_text("")
    assert not is_checkpoint(tmp_path / "empty.jsonl")


# --------------------------------------------------------------------------- files

@pytest.mark.parametrize("kind, extension", [("layers", "png"), ("spectra", "png"), ("degrees", "png"),
                                             ("unfold", "png"), ("spectra", "svg"), ("layers", "pdf")])
def test_every_kind_writes_a_valid_file(tmp_path, checkpoint, kind, extension):
    output = tmp_path / f"figure.{extension}"
    result = plot(checkpoint, kind, output)
    assert result.kind == kind and result.output == str(output)
    assert result.summary() == ("2 layer directions" if kind == "unfold" else "5 matrices")
    data = output.read_bytes()
    if extension == "svg":
        assert ET.fromstring(data).tag.endswith("svg")
    else:
        assert data.startswith(MAGIC[extension])
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".tmp-")]


# --------------------------------------------------------------------------- content

def test_layers_rows_values_and_verdicts(checkpoint):
    graphs = checkpoint_graphs(model_of(checkpoint), gates=True)
    reports = [analyze_graph(g) for g in graphs]
    assert len(reports) == 4 * 5 + 1  # every LSTM weight and its 4 gate blocks, then the head
    fig = checkpoint_layers_figure(reports, source=str(checkpoint), bounds=(AVERAGE_DEGREE_BOUND,))
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[0] == "rnn.weight_ih_l0  24×4" and labels[1] == "rnn.weight_ih_l0 [i]  6×4"
    assert labels[-1] == "fc.weight  4×6"
    points = [c for c in ax.collections if isinstance(c, PathCollection)]
    ticks, dots = points[0], points[1:]
    bounds = [r.ramanujan_bound for r in reports]
    assert np.allclose(ticks.get_offsets()[:, 0], [b for b in bounds if b is not None])
    assert len(dots) == len(reports)
    for dot, report in zip(dots, reports):
        (x, y), = dot.get_offsets()
        assert x == pytest.approx(report.sigma2)
        colour = to_hex(dot.get_edgecolor()[0])
        assert colour == (PASS if report.is_ramanujan else FAIL)
    assert {r.is_ramanujan for r in reports} == {True, False}  # the fixture has both verdicts
    density = [p.get_width() for bars in fig.axes[1].containers for p in bars]
    assert np.allclose(density, [r.density for r in reports])
    isolated = [p.get_width() for bars in fig.axes[2].containers for p in bars]
    assert np.allclose(isolated, [r.inputs.isolated for r in reports] + [r.outputs.isolated for r in reports])
    assert "lstm.npz" in fig._suptitle.get_text()


def test_bounds_are_a_list_of_series(checkpoint):
    """Another bound (e.g. the universal-cover one) is one more BoundSeries, drawn on both figures."""
    graphs = checkpoint_graphs(model_of(checkpoint), layer="rnn.weight_hh_*")
    matrices = [Matrix(g, analyze_graph(g)) for g in graphs]
    extra = BoundSeries("sigma1 as a test bound", lambda r: r.sigma1, "#000000", "-.")
    fig = checkpoint_layers_figure([m.report for m in matrices], source="x.npz", bounds=(AVERAGE_DEGREE_BOUND, extra))
    ticks = [c for c in fig.axes[0].collections if isinstance(c, PathCollection)][1]
    assert np.allclose(ticks.get_offsets()[:, 0], [m.report.sigma1 for m in matrices])
    assert "sigma1 as a test bound" in legend_texts(fig)
    fig = checkpoint_spectra_figure(matrices, source="x.npz", k=5, bounds=(AVERAGE_DEGREE_BOUND, extra))
    for ax, m in zip(fig.axes, matrices):
        levels = {round(line.get_ydata()[0], 9) for line in ax.get_lines() if line.get_linestyle() in (":", "-.")}
        assert levels == {round(m.report.ramanujan_bound, 9), round(m.report.sigma1, 9)}
    fig = checkpoint_layers_figure([m.report for m in matrices], source="x.npz", bounds=())
    assert not any("bound √" in t for t in legend_texts(fig))


def test_default_figures_draw_both_ramanujan_bounds(checkpoint):
    """By default the average-degree bound and the universal-cover bound are both drawn, at the
    values analyze reports."""
    graphs = checkpoint_graphs(model_of(checkpoint), layer="rnn.weight_hh_*")
    matrices = [Matrix(g, analyze_graph(g)) for g in graphs]
    assert all(m.report.cover_bound is not None for m in matrices)
    fig = checkpoint_layers_figure([m.report for m in matrices], source="x.npz")
    average, cover = [c for c in fig.axes[0].collections if isinstance(c, PathCollection)][:2]
    assert np.allclose(average.get_offsets()[:, 0], [m.report.ramanujan_bound for m in matrices])
    assert np.allclose(cover.get_offsets()[:, 0], [m.report.cover_bound for m in matrices])
    assert any("universal-cover" in t for t in legend_texts(fig))
    fig = checkpoint_spectra_figure(matrices, source="x.npz", k=5)
    for ax, m in zip(fig.axes, matrices):
        levels = {round(line.get_ydata()[0], 9) for line in ax.get_lines() if line.get_linestyle() in (":", "--")}
        assert levels == {round(m.report.ramanujan_bound, 9), round(m.report.cover_bound, 9)}


def test_spectra_are_the_top_k_singular_values(checkpoint):
    state = small_state()
    graphs = checkpoint_graphs(model_of(checkpoint), layer="rnn.weight_*_l1")
    assert [g.name for g in graphs] == ["rnn.weight_ih_l1", "rnn.weight_hh_l1"]
    fig = checkpoint_spectra_figure([Matrix(g, analyze_graph(g)) for g in graphs], source=str(checkpoint), k=7)
    assert len(fig.axes) == 2
    for ax, graph in zip(fig.axes, graphs):
        expected = np.zeros(7)  # a 24×6 matrix has 6 singular values; the seventh is drawn as 0
        expected[:6] = np.linalg.svd(binary(state, graph.name), compute_uv=False)
        curve = ax.get_lines()[0]
        assert list(curve.get_xdata()) == list(range(1, 8))
        assert np.allclose(curve.get_ydata(), expected)
        assert ax.get_title().startswith(graph.name) and "24×6" in ax.get_title()
    assert "lstm.npz" in fig._suptitle.get_text() and "Top 7" in fig._suptitle.get_text()


def test_spectra_pad_with_zeros_beyond_the_rank():
    from graphtools.graphs import bipartite

    g = bipartite(np.ones((2, 3)), "tiny")
    fig = checkpoint_spectra_figure([Matrix(g, analyze_graph(g))], source="t.npz", k=4)
    assert np.allclose(fig.axes[0].get_lines()[0].get_ydata(), [np.sqrt(6), 0, 0, 0])


def test_degrees_are_histograms_of_nonzeros(checkpoint):
    state = small_state()
    graphs = checkpoint_graphs(model_of(checkpoint))
    fig = checkpoint_degrees_figure(graphs, source=str(checkpoint))
    assert len(fig.axes) == len(WEIGHTS)
    for ax, name in zip(fig.axes, WEIGHTS):
        B = binary(state, name)
        steps = [p for p in ax.patches if isinstance(p, StepPatch) and not p.get_fill()]
        assert len(steps) == 2
        for patch, degrees in zip(steps, (B.sum(axis=0), B.sum(axis=1))):
            values, edges = patch.get_data().values, patch.get_data().edges
            low = int(degrees.min())
            assert np.array_equal(values, np.bincount(degrees.astype(int))[low:])
            assert edges[0] == low - 0.5
        assert ax.get_title().startswith(name) and f"{int(B.sum())} edges" in ax.get_title()


def brute_reachability(I, M, t):
    R = I.astype(int)
    for _ in range(t - 1):
        R = ((M.astype(int) @ R) > 0).astype(int)
    return R.mean()


def test_unfold_reachability_and_mixing(checkpoint):
    state = small_state()
    fig = checkpoint_unfold_figure(model_of(checkpoint), source=str(checkpoint), steps=6)
    (ax,) = fig.axes
    lines = [line for line in ax.get_lines() if line.get_label().startswith("layer")]
    assert [line.get_label().split(":")[0] for line in lines] == ["layer 0 forward", "layer 1 forward"]
    for k, line in enumerate(lines):
        union = lambda W: (np.abs(W).reshape(4, 6, -1).sum(axis=0) > 0)  # noqa: E731  (LSTM gates i,f,g,o)
        I, M = union(state[f"rnn.weight_ih_l{k}"]), union(state[f"rnn.weight_hh_l{k}"])
        assert np.allclose(line.get_ydata(), [brute_reachability(I, M, t) for t in range(1, 7)])
        power = M.astype(int)
        depth = 1
        while not power.all() and depth < 50:
            power, depth = ((power @ M.astype(int)) > 0).astype(int), depth + 1
        assert line.get_label().endswith(f"mixing depth {depth}")
    assert "6 steps" in fig._suptitle.get_text()


def test_unfold_without_a_recurrent_layer(tmp_path):
    path = tmp_path / "linear.npz"
    np.savez(path, **{"fc.weight": np.ones((3, 4))})
    with pytest.raises(GraphtoolsError, match="no recurrent layer to unfold"):
        plot(path, "unfold", tmp_path / "u.png")
    assert not (tmp_path / "u.png").exists()


# --------------------------------------------------------------------------- command line

def test_cli_writes_a_checkpoint_figure(tmp_path, checkpoint):
    output = tmp_path / "spectra.svg"
    result = run("plot", checkpoint, "--kind", "spectra", "--layer", "rnn.weight_hh_*", "-k", "50", "-o", output)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"wrote {output} (spectra, 2 matrices)\n"
    result = run("plot", checkpoint, "--kind", "layers", "--gates", "--title", "Mine", "-o", tmp_path / "l.png")
    assert result.stdout == f"wrote {tmp_path / 'l.png'} (layers, 21 matrices)\n"
    result = run("plot", checkpoint, "--kind", "unfold", "--steps", "3", "-o", tmp_path / "u.pdf")
    assert result.stdout == f"wrote {tmp_path / 'u.pdf'} (unfold, 2 layer directions)\n"


@pytest.mark.parametrize("args, fragments", [
    (["--kind", "spectra", "--layer", "lstm.*"], ["--layer 'lstm.*' matches no weight", "rnn.weight_ih_l0"]),
    (["--kind", "spectra", "-k", "0"], ["-k must be an integer from 1 to 50, not 0"]),
    (["--kind", "spectra", "-k", "51"], ["-k must be an integer from 1 to 50, not 51"]),
    (["--kind", "layers", "-k", "5"], ["-k applies to --kind spectra of a checkpoint, not layers"]),
    (["--kind", "unfold", "--steps", "0"], ["--steps must be a positive integer, not 0"]),
    (["--kind", "degrees", "--steps", "4"], ["--steps applies to --kind unfold"]),
    (["--kind", "unfold", "--layer", "*"], ["--layer applies to --kind layers or spectra or degrees"]),
    (["--kind", "accuracy"], ["unknown kind 'accuracy' for a checkpoint", "layers, spectra, degrees, unfold"]),
    (["--kind", "spectra", "--sparsity", "0.9"], ["--sparsity applies to a sweep's results, not to a checkpoint"]),
    (["--kind", "layers", "-o", "{tmp}/figure.jpg"], ["figure.jpg", ".png, .svg, .pdf"]),
])
def test_cli_errors_write_nothing(tmp_path, checkpoint, args, fragments):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if "-o" not in args:
        args += ["-o", str(tmp_path / "figure.png")]
    before = sorted(os.listdir(tmp_path))
    assert_one_line_error(run("plot", checkpoint, *args), *fragments)
    assert sorted(os.listdir(tmp_path)) == before


def test_cli_neither_checkpoint_nor_results(tmp_path):
    (tmp_path / "notes.txt").write_text("not a model\n")
    assert_one_line_error(run("plot", tmp_path / "notes.txt", "--kind", "layers", "-o", tmp_path / "f.png"),
                          "notes.txt: neither a checkpoint (.npz, .npy, .safetensors) nor a sweep's results")
    (tmp_path / "results.jsonl").write_text('{"key": "a", "model": "m"}\n')
    assert_one_line_error(run("plot", tmp_path / "results.jsonl", "--kind", "layers", "-o", tmp_path / "f.png"),
                          "kind 'layers' draws a checkpoint, not a sweep's results")
    assert_one_line_error(run("plot", tmp_path / "results.jsonl", "--kind", "accuracy", "-k", "3",
                              "-o", tmp_path / "f.png"), "-k applies to a checkpoint")
    assert_one_line_error(run("plot", tmp_path / "missing.npz", "--kind", "layers", "-o", tmp_path / "f.png"),
                          "missing.npz: no such file")
    (tmp_path / "broken.npz").write_bytes(b"PK\x03\x04 truncated")
    assert_one_line_error(run("plot", tmp_path / "broken.npz", "--kind", "layers", "-o", tmp_path / "f.png"),
                          "broken.npz")
    assert sorted(os.listdir(tmp_path)) == ["broken.npz", "notes.txt", "results.jsonl"]
