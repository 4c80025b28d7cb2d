"""Pruning masks (graphtools.prune), ``graphtools prune``, random_bipartite and the safetensors writer."""

import json
import math
import os

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphtools.analysis import analyze_graph
from graphtools.cli import main
from graphtools.constructions import array_code, random_bipartite, random_biregular
from graphtools.errors import GraphtoolsError
from graphtools.graphs import bipartite
from graphtools.io import META_KEY, load_state
from graphtools.model import describe
from graphtools.nn import SequenceClassifier, load_model
from graphtools.prune import (
    compute_mask,
    fit_array_code,
    graph_summary,
    guard_schedule,
    keep_count,
    prune_state,
    top_k_mask,
)
from graphtools.safetensors import write_safetensors
from graphtools.structure import input_degrees, output_degrees
from conftest import write_band_mnist
from statedicts import torch_state

if "prune" not in main.commands:  # until cli/__init__.py registers it
    from graphtools.cli.prune import prune as _prune_command

    main.add_command(_prune_command)

METHODS = ["magnitude", "random", "biregular", "array-code", "ramanujan-guard"]


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def head(state, hidden, classes=3, seed=5):
    rng = np.random.default_rng(seed)
    state = dict(state)
    state["fc.weight"] = rng.standard_normal((classes, hidden)).astype(np.float32)
    state["fc.bias"] = rng.standard_normal(classes).astype(np.float32)
    return state


def spread(degrees):
    return int(degrees.max() - degrees.min())


# --------------------------------------------------------------------------- counts and densities


def test_keep_count_rounds_half_to_even_like_torch():
    assert keep_count(10, 0.25) == 8  # 2.5 pruned rounds to 2
    assert keep_count(10, 0.35) == 6  # 3.5 -> 4
    assert keep_count(100, 0.9) == 10
    assert keep_count(7, 0.0) == 7
    assert keep_count(1, 0.6) == 0


@pytest.mark.parametrize("method", ["magnitude", "random", "biregular", "ramanujan-guard"])
@pytest.mark.parametrize("shape", [(24, 5), (40, 40), (37, 100), (300, 64)])
@pytest.mark.parametrize("sparsity", [0.0, 0.3, 0.5, 0.8])
def test_exact_density(method, shape, sparsity):
    W = np.random.default_rng(1).standard_normal(shape)
    mask = compute_mask(W, method, sparsity, np.random.default_rng(2))
    assert mask.dtype == bool and mask.shape == shape
    expected = keep_count(W.size, sparsity)
    if method == "ramanujan-guard":  # may stop early, keeping more; magnitude-ranked when it reaches target
        assert np.count_nonzero(mask) >= expected
    else:
        assert np.count_nonzero(mask) == expected


# --------------------------------------------------------------------------- magnitude


def test_magnitude_keeps_exactly_the_largest_entries():
    rng = np.random.default_rng(3)
    W = rng.standard_normal((50, 30))
    for sparsity in (0.1, 0.5, 0.77, 0.99):
        mask = compute_mask(W, "magnitude", sparsity)
        k = keep_count(W.size, sparsity)
        order = np.argsort(-np.abs(W).ravel(), kind="stable")
        expected = np.zeros(W.size, bool)
        expected[order[:k]] = True
        assert np.array_equal(mask.ravel(), expected)
        assert np.abs(W[mask]).min() >= np.abs(W[~mask]).max()


def test_magnitude_ties_go_to_the_lower_flat_index():
    W = np.array([[1.0, -1.0, 1.0], [-1.0, 1.0, 2.0], [0.5, -1.0, 1.0]])
    mask = compute_mask(W, "magnitude", 1 - 4 / 9)  # keep 4: the 2, then the first three |w| = 1
    assert np.array_equal(mask, [[True, True, True], [False, False, True], [False, False, False]])
    assert np.array_equal(top_k_mask(np.zeros((2, 3)), 2), [[True, True, False], [False, False, False]])
    # int8 weights: |-128| must not overflow
    assert compute_mask(np.array([[-128, 3], [1, 2]], np.int8), "magnitude", 0.75)[0, 0]


def test_magnitude_matches_torch_l1_unstructured():
    torch = pytest.importorskip("torch")
    from torch.nn.utils import prune as tprune

    for amount, shape in [(0.3, (64, 20)), (0.9, (40, 40)), (0.25, (10, 10))]:
        lin = torch.nn.Linear(shape[1], shape[0])
        tprune.l1_unstructured(lin, "weight", amount=amount)
        W = lin.weight_orig.detach().numpy()
        assert np.array_equal(compute_mask(W, "magnitude", amount), lin.weight_mask.numpy() == 1)


def test_global_and_layer_scope_differ_as_they_should():
    rng = np.random.default_rng(4)
    state = torch_state("rnn", 6, 6, seed=0, bias=False)
    state["rnn.weight_ih_l0"] = rng.uniform(10, 20, (6, 6)).astype(np.float32)  # all larger than weight_hh
    state["rnn.weight_hh_l0"] = rng.uniform(-1, 1, (6, 6)).astype(np.float32)
    _, layer, _ = prune_state(state, method="magnitude", sparsity=0.5)
    _, glob, report = prune_state(state, method="magnitude", sparsity=0.5, scope="global")
    assert np.count_nonzero(layer["rnn.weight_ih_l0"]) == np.count_nonzero(layer["rnn.weight_hh_l0"]) == 18
    assert glob["rnn.weight_ih_l0"].all() and not glob["rnn.weight_hh_l0"].any()
    assert [m.after.density for m in report.matrices] == [1.0, 0.0]
    # global ties: the earlier matrix (canonical order) wins
    equal = {k: np.ones_like(v) for k, v in state.items()}
    _, masks, _ = prune_state(equal, method="magnitude", sparsity=0.5, scope="global")
    assert masks["rnn.weight_ih_l0"].all() and not masks["rnn.weight_hh_l0"].any()
    # same total as layer scope
    wide = torch_state("gru", 4, 5, seed=1)
    _, g, _ = prune_state(wide, method="magnitude", sparsity=0.6, scope="global")
    total = sum(v.size for k, v in wide.items() if ".weight" in k)
    assert sum(np.count_nonzero(m) for m in g.values()) == keep_count(total, 0.6)


def test_global_magnitude_matches_torch_global_unstructured():
    torch = pytest.importorskip("torch")
    from torch.nn.utils import prune as tprune

    torch.manual_seed(0)
    lstm = torch.nn.LSTM(7, 9, num_layers=2)
    params = [(lstm, name) for name, p in lstm.named_parameters() if "weight" in name]
    state = {k: v.numpy().copy() for k, v in lstm.state_dict().items()}
    tprune.global_unstructured(params, pruning_method=tprune.L1Unstructured, amount=0.7)
    _, masks, _ = prune_state(state, method="magnitude", sparsity=0.7, scope="global")
    for module, name in params:
        assert np.array_equal(masks[name], getattr(module, name + "_mask").numpy() == 1), name


# --------------------------------------------------------------------------- random and biregular


@pytest.mark.parametrize("method", ["random", "biregular"])
def test_same_seed_same_mask_different_seed_different_mask(method, tmp_path):
    W = np.ones((60, 40))
    a = compute_mask(W, method, 0.7, np.random.default_rng(7))
    b = compute_mask(W, method, 0.7, np.random.default_rng(7))
    c = compute_mask(W, method, 0.7, np.random.default_rng(8))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    state = head(torch_state("lstm", 6, 8, seed=2), 8)
    outs = {}
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        outs[name] = prune_state(state, method=method, sparsity=0.6, seed=seed, include=["fc.*"])[1]
    assert all(np.array_equal(outs["a"][k], outs["b"][k]) for k in outs["a"])
    assert all(not np.array_equal(outs["a"][k], outs["c"][k]) for k in outs["a"])
    # a matrix's mask does not depend on which other matrices are selected
    alone = prune_state(state, method=method, sparsity=0.6, seed=1)[1]
    assert all(np.array_equal(alone[k], outs["a"][k]) for k in alone)
    # through the CLI: identical files
    np.savez(tmp_path / "in.npz", **state)
    for name in ("x", "y"):
        assert run("prune", tmp_path / "in.npz", "-o", tmp_path / f"{name}.npz", "--method", method,
                   "--sparsity", "0.5", "--seed", "3").exit_code == 0
    x, y = load_state(tmp_path / "x.npz").tensors, load_state(tmp_path / "y.npz").tensors
    assert x.keys() == y.keys() and all(np.array_equal(x[k], y[k]) for k in x)


@pytest.mark.parametrize("shape", [(24, 5), (100, 37), (256, 64), (37, 100), (7, 7), (64, 256)])
@pytest.mark.parametrize("sparsity", [0.0, 0.35, 0.5, 0.8])
def test_biregular_degree_spreads_at_most_one(shape, sparsity):
    mask = compute_mask(np.zeros(shape), "biregular", sparsity, np.random.default_rng(shape[0]))
    assert np.count_nonzero(mask) == keep_count(mask.size, sparsity)
    assert spread(input_degrees(mask)) <= 1 and spread(output_degrees(mask)) <= 1
    assert input_degrees(mask).min() >= 1 and output_degrees(mask).min() >= 1


def test_biregular_is_exactly_biregular_when_shapes_divide():
    mask = compute_mask(np.zeros((64, 32)), "biregular", 0.75, 0)  # 512 edges: degrees 8 and 16
    assert set(output_degrees(mask)) == {8} and set(input_degrees(mask)) == {16}
    assert analyze_graph(bipartite(mask)).biregular == (16, 8)


def test_biregular_refuses_a_degree_below_one():
    with pytest.raises(GraphtoolsError, match="at least one edge per output"):
        compute_mask(np.zeros((100, 10)), "biregular", 0.95)  # 50 edges < 100 rows
    state = torch_state("lstm", 3, 4)
    with pytest.raises(GraphtoolsError, match=r"rnn.weight_ih_l0 \(16x3\): a biregular mask needs"):
        prune_state(state, method="biregular", sparsity=0.9)


def test_random_bipartite_degrees_and_errors():
    rng = np.random.default_rng(0)
    rows = rng.integers(0, 9, 50)
    cols = np.zeros(30, int)
    for _ in range(rows.sum()):  # spread the same total over the columns, at most 50 each
        cols[rng.choice(np.flatnonzero(cols < 50))] += 1
    B = random_bipartite(rows, cols, rng)
    assert np.array_equal(output_degrees(B), rows) and np.array_equal(input_degrees(B), cols) and B.max() == 1
    assert random_bipartite([3, 0], [1, 1, 1], 0).tolist() == [[1, 1, 1], [0, 0, 0]]
    with pytest.raises(ValueError, match="no simple bipartite graph"):
        random_bipartite([2, 0], [2, 0], 0)  # equal sums, but Gale-Ryser fails
    with pytest.raises(ValueError, match="no simple bipartite graph"):
        random_bipartite([2, 2], [2, 1, 0], 0)  # unequal sums
    with pytest.raises(ValueError):
        random_biregular(10, 4, 3)  # 4 does not divide 30


def test_random_biregular_large_and_dense():
    B = random_biregular(4096, 1024, 512, rng=1)  # density 1/2: the old scan took minutes
    assert set(output_degrees(B)) == {512} and set(input_degrees(B)) == {2048} and B.max() == 1.0
    summary = graph_summary(B)
    assert summary.is_ramanujan and summary.sigma1 == pytest.approx(1024.0)


@pytest.mark.parametrize("tries", [20, 1])  # 1: every non-simple pairing goes through repair + switch sweeps
def test_random_bipartite_is_uniform_on_a_small_case(tries, monkeypatch):
    import graphtools.constructions as constructions

    monkeypatch.setattr(constructions, "_TRIES", tries)
    # the 90 2-regular bipartite graphs on 4 + 4 nodes, each drawn about equally often
    rng = np.random.default_rng(0)
    counts = {}
    for _ in range(9000):
        key = random_biregular(4, 4, 2, rng).astype(bool).tobytes()
        counts[key] = counts.get(key, 0) + 1
    assert len(counts) == 90
    values = np.array(list(counts.values()))
    chi2 = ((values - 100) ** 2 / 100).sum()
    assert chi2 < 89 + 5 * math.sqrt(2 * 89)


# --------------------------------------------------------------------------- array code


@pytest.mark.parametrize("q,l", [(3, 2), (5, 3), (7, 4), (11, 11), (13, 5)])
def test_array_code_sigma2_is_sqrt_q_where_the_shape_fits_exactly(q, l):
    mask, fit = fit_array_code((q * q, l * q), 1 - 1 / q)
    assert np.array_equal(mask, array_code(q, l).astype(bool))
    assert (fit.q, fit.l, fit.exact, fit.biregular) == (q, l, True, True)
    assert np.count_nonzero(mask) / mask.size == pytest.approx(1 / q, abs=1e-15)  # l q^2 ones in q^2 x lq
    report = analyze_graph(bipartite(mask))
    assert report.sigma2 == pytest.approx(math.sqrt(q), rel=1e-10)
    assert report.is_ramanujan and report.biregular == (q, l)
    assert graph_summary(mask).sigma2 == pytest.approx(math.sqrt(q), rel=1e-10)
    if l < q:  # the other orientation: lines on the (longer) columns
        transposed, fit_t = fit_array_code((l * q, q * q), 1 - 1 / q)
        assert np.array_equal(transposed, mask.T) and fit_t.lines == "columns"


@pytest.mark.parametrize("copies", [2, 3])
def test_array_code_tiled_lines_stay_ramanujan(copies):
    q, l = 5, 3
    mask, fit = fit_array_code((copies * q * q, l * q), 0.8)
    assert fit.copies == copies and fit.biregular and not fit.exact
    s = np.linalg.svd(mask.astype(float), compute_uv=False)
    assert s[1] == pytest.approx(math.sqrt(copies * q))
    assert graph_summary(mask).is_ramanujan


@pytest.mark.parametrize("shape", [(100, 8), (256, 64), (30, 97), (200, 121), (4, 2)])
def test_array_code_fitted_by_cropping_has_degree_spread_at_most_one(shape):
    sparsity = 0.5 if shape == (4, 2) else 1 - 1 / 11
    mask, fit = fit_array_code(shape, sparsity)
    assert mask.shape == shape
    assert fit.in_spread == spread(input_degrees(mask)) <= 1
    assert fit.out_spread == spread(output_degrees(mask)) <= 1
    assert abs(np.count_nonzero(mask) / mask.size - 1 / fit.q) <= 1 / max(shape)


def test_array_code_refuses_what_it_cannot_fit():
    with pytest.raises(GraphtoolsError, match=r"0\.909091 \(q = 11\)"):
        compute_mask(np.ones((121, 110)), "array-code", 0.9)  # density 0.1 is not 1/q
    with pytest.raises(GraphtoolsError, match="both sides would repeat"):
        compute_mask(np.ones((64, 64)), "array-code", 0.8)  # q = 5: 25 points < 64
    state = torch_state("lstm", 8, 16)
    with pytest.raises(GraphtoolsError, match=r"rnn.weight_hh_l0 \(64x16\): an array code with q = 3"):
        prune_state(state, method="array-code", sparsity=2 / 3, include=None)


# --------------------------------------------------------------------------- ramanujan-guard


def test_guard_schedule_removes_a_fixed_fraction_of_the_remaining_weights():
    keep = guard_schedule(10_000, 0.9, 10)
    assert keep[0] == 10_000 and keep[-1] == 1000 and len(keep) == 11
    ratios = np.array(keep[1:]) / np.array(keep[:-1])
    assert np.allclose(ratios, 0.1 ** 0.1, atol=2e-3)


weights_strategy = st.tuples(st.integers(1, 24), st.integers(1, 24), st.integers(0, 2**32 - 1),
                             st.sampled_from(["normal", "ties", "blocks"]))


def _weights(shape_seed_kind):
    m, n, seed, kind = shape_seed_kind
    rng = np.random.default_rng(seed)
    if kind == "normal":
        return rng.standard_normal((m, n))
    if kind == "ties":
        return rng.integers(-2, 3, (m, n)).astype(float)
    W = rng.uniform(0, 0.1, (m, n))  # large weights on a block diagonal: magnitude pruning disconnects it
    W[: m // 2, : n // 2] += 1
    W[m // 2:, n // 2:] += 1
    return W


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(weights_strategy, st.floats(0, 0.99), st.integers(1, 10))
def test_ramanujan_guard_never_outputs_a_non_ramanujan_matrix(spec, sparsity, rounds):
    W = _weights(spec)
    mask = compute_mask(W, "ramanujan-guard", sparsity, rounds=rounds)
    assert analyze_graph(bipartite(mask)).is_ramanujan is True
    magnitude = compute_mask(W, "magnitude", sparsity)
    assert np.count_nonzero(mask) >= np.count_nonzero(magnitude)
    if np.count_nonzero(mask) == np.count_nonzero(magnitude):
        assert np.array_equal(mask, magnitude)  # reached target: the magnitude mask itself
    else:
        assert (mask | ~magnitude).all()  # stopped early: a superset (nested rounds)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.floats(0.3, 0.95), st.sampled_from(["layer", "global"]), st.booleans())
def test_ramanujan_guard_every_matrix_and_block_of_a_state_dict(seed, sparsity, scope, per_gate):
    state = torch_state("gru", 4, 5, layers=2, seed=seed % 1000)
    state = {k: v * (np.random.default_rng(seed).random(v.shape) < 0.8) for k, v in state.items()}  # some zeros
    _, masks, report = prune_state(state, method="ramanujan-guard", sparsity=sparsity, scope=scope,
                                       per_gate=per_gate, rounds=5)
    for entry in report.matrices:
        mask = masks[entry.name]
        if entry.gate is not None:
            g = "rzn".index(entry.gate)
            mask = mask[g * 5:(g + 1) * 5]
        if per_gate == (entry.gate is not None):  # the units the guard ran on
            assert analyze_graph(bipartite(mask)).is_ramanujan is True
            assert entry.guard is not None and entry.after.is_ramanujan


def test_ramanujan_guard_stops_before_disconnecting_and_says_why():
    W = _weights((20, 20, 0, "blocks"))
    magnitude = compute_mask(W, "magnitude", 0.5)
    assert analyze_graph(bipartite(magnitude)).is_ramanujan is False  # two disjoint blocks
    state = {"fc.weight": W}
    _, masks, report = prune_state(state, method="ramanujan-guard", sparsity=0.5, include=["fc.weight"], rounds=10)
    (entry,) = report.matrices
    assert entry.guard.round < 10 and entry.guard.rounds == 10
    assert entry.guard.reason.startswith(f"next round ({entry.guard.round + 1}) not Ramanujan: sigma2 ")
    assert "> bound" in entry.guard.reason
    assert entry.after.is_ramanujan and analyze_graph(bipartite(masks["fc.weight"])).is_ramanujan
    keep = guard_schedule(400, 0.5, 10)[entry.guard.round]
    assert np.count_nonzero(masks["fc.weight"]) == keep
    _, _, reached = prune_state({"fc.weight": np.random.default_rng(0).standard_normal((30, 30))},
                                method="ramanujan-guard", sparsity=0.5, include=["fc.weight"])
    assert reached.matrices[0].guard.reason == "reached target" and reached.matrices[0].guard.round == 10


# --------------------------------------------------------------------------- per gate, selection, layouts


@pytest.mark.parametrize("cell,gates", [("lstm", "ifgo"), ("gru", "rzn")])
@pytest.mark.parametrize("method", ["magnitude", "random", "biregular", "ramanujan-guard"])
def test_per_gate_density_per_block(cell, gates, method):
    H = 10
    state = torch_state(cell, 7, H, layers=2, seed=3)
    _, masks, report = prune_state(state, method=method, sparsity=0.6, per_gate=True)
    for name, mask in masks.items():
        for g in range(len(gates)):
            block = mask[g * H:(g + 1) * H]
            if method == "ramanujan-guard":
                assert np.count_nonzero(block) >= keep_count(block.size, 0.6)
            else:
                assert np.count_nonzero(block) == keep_count(block.size, 0.6)
    rows = [(m.name, m.gate) for m in report.matrices]
    assert rows[: 1 + len(gates)] == [("rnn.weight_ih_l0", None)] + [("rnn.weight_ih_l0", g) for g in gates]
    blocks = [m for m in report.matrices if m.gate is not None]
    assert all(m.after.density == pytest.approx(np.count_nonzero(masks[m.name][
        gates.index(m.gate) * H:(gates.index(m.gate) + 1) * H]) / (H * m.shape[1])) for m in blocks)


def test_per_gate_array_code_blocks():
    state = torch_state("lstm", 11, 25, seed=0)  # blocks 25x11 and 25x25, q = 5
    _, masks, report = prune_state(state, method="array-code", sparsity=0.8, per_gate=True)
    block = masks["rnn.weight_hh_l0"][25:50]
    assert np.array_equal(block, array_code(5, 5).astype(bool))
    fits = [m.array_code for m in report.matrices if m.gate is not None]
    assert all(f is not None and f.q == 5 for f in fits)


def test_selection_default_include_exclude():
    state = head(torch_state("lstm", 4, 6, layers=2, proj=3), 3)
    _, masks, _ = prune_state(state, method="magnitude", sparsity=0.5)
    assert sorted(masks) == sorted(k for k in state if "weight_" in k)
    _, masks, _ = prune_state(state, method="magnitude", sparsity=0.5, include="fc.*")
    assert "fc.weight" in masks and "fc.bias" not in masks
    _, masks, _ = prune_state(state, method="magnitude", sparsity=0.5, include=["fc.*"], exclude=["*_l1"])
    assert sorted(masks) == ["fc.weight", "rnn.weight_hh_l0", "rnn.weight_hr_l0", "rnn.weight_ih_l0"]
    with pytest.raises(GraphtoolsError, match="'nothing.*' selects no weight matrix"):
        prune_state(state, method="magnitude", sparsity=0.5, include=["nothing.*"])
    with pytest.raises(GraphtoolsError, match="biases are never pruned"):
        prune_state(state, method="magnitude", sparsity=0.5, include=["*bias*"])
    with pytest.raises(GraphtoolsError, match="--exclude 'fc.weight' selects no weight"):
        prune_state(state, method="magnitude", sparsity=0.5, exclude=["fc.weight"])
    with pytest.raises(GraphtoolsError, match="no weight matrix selected"):
        prune_state({"fc.weight": np.ones((3, 3))}, method="magnitude", sparsity=0.5)


@pytest.mark.parametrize("kwargs,message", [
    ({"sparsity": 1.0}, r"sparsity must be in \[0, 1\)"),
    ({"sparsity": -0.1}, r"sparsity must be in \[0, 1\)"),
    ({"sparsity": float("nan")}, r"sparsity must be in \[0, 1\)"),
    ({"method": "lottery"}, "method must be one of"),
    ({"scope": "model"}, "scope must be"),
    ({"method": "biregular", "scope": "global"}, "--scope global applies to"),
    ({"method": "array-code", "scope": "global"}, "--scope global applies to"),
    ({"rounds": 0}, "rounds must be"),
    ({"seed": -1}, "seed must be"),
])
def test_bad_settings(kwargs, message):
    args = {"method": "magnitude", "sparsity": 0.5, **kwargs}
    with pytest.raises(GraphtoolsError, match=message):
        prune_state(torch_state("rnn", 3, 4), **args)


def test_output_state_keeps_everything_else_and_replaces_old_masks():
    state = head(torch_state("gru", 4, 5, seed=1), 5)
    old = np.ones((15, 5), bool)
    old[0] = False
    state["rnn.weight_hh_l0_mask"] = old
    new, masks, _ = prune_state(state, method="random", sparsity=0.4, seed=2)
    assert list(new) == ["rnn.weight_ih_l0", "rnn.weight_ih_l0_mask", "rnn.weight_hh_l0", "rnn.bias_ih_l0",
                         "rnn.bias_hh_l0", "fc.weight", "fc.bias", "rnn.weight_hh_l0_mask"]
    for key in ("rnn.bias_ih_l0", "rnn.bias_hh_l0", "fc.weight", "fc.bias"):
        assert new[key] is state[key]
    for name, mask in masks.items():
        assert new[name + "_mask"].dtype == bool and np.array_equal(new[name + "_mask"], mask)
        assert new[name].dtype == state[name].dtype
        alive = old if name == "rnn.weight_hh_l0" else True  # weights pruned before stay zero
        assert np.array_equal(new[name], np.where(mask & alive, state[name], 0))
    assert not new["rnn.weight_hh_l0"][0].any()


def test_torch_prune_pairs_are_rewritten_in_place():
    rng = np.random.default_rng(0)
    state = torch_state("lstm", 3, 4)
    orig = state.pop("rnn.weight_hh_l0")
    state["rnn.weight_hh_l0_orig"] = orig
    state["rnn.weight_hh_l0_mask"] = (rng.random(orig.shape) < 0.5).astype(np.float32)  # torch masks are float
    new, masks, report = prune_state(state, method="magnitude", sparsity=0.75)
    assert "rnn.weight_hh_l0" not in new and new["rnn.weight_hh_l0_mask"].dtype == bool
    model = describe(new)
    (hh,) = [w for w in model.weights if w.name == "rnn.weight_hh_l0"]
    assert np.count_nonzero(hh.matrix) == keep_count(orig.size, 0.75)
    assert report.matrices[1].before.density == pytest.approx(np.count_nonzero(state["rnn.weight_hh_l0_mask"]) / 64)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_keras_kernels_are_masked_in_their_stored_layout(cell):
    rng = np.random.default_rng(1)
    G, H, n_in = {"rnn": 1, "gru": 3, "lstm": 4}[cell], 4, 6
    state = {
        f"{cell}/kernel:0": rng.standard_normal((n_in, G * H)),
        f"{cell}/recurrent_kernel:0": rng.standard_normal((H, G * H)),
        f"{cell}/bias:0": rng.standard_normal(G * H),
        "dense/kernel:0": rng.standard_normal((H, 3)),
        "dense/bias:0": rng.standard_normal(3),
    }
    before = {w.name: w for w in describe(state).weights}
    new, masks, report = prune_state(state, method="magnitude", sparsity=0.5, per_gate=True,
                                      include=["dense/*"])
    for name, mask in masks.items():
        assert mask.shape == state[name].shape  # stored (in, out) layout
    after = {w.name: w for w in describe(new).weights}
    for name, w in before.items():
        torch_layout = after[name].matrix
        expected = compute_mask(w.matrix, "magnitude", 0.5) if not w.gates else np.concatenate(
            [compute_mask(b, "magnitude", 0.5) for b in np.split(w.matrix, len(w.gates))])
        assert np.array_equal(torch_layout != 0, expected), name
    assert {m.gate for m in report.matrices} == {None, *describe(state).weights[0].gates}


# --------------------------------------------------------------------------- the command line


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("method", METHODS)
def test_cli_end_to_end(cell, method, tmp_path):
    H = 25 if method == "array-code" else 12
    state = head(torch_state(cell, 10, H, layers=2, seed=4), H)
    src, out = tmp_path / "in.npz", tmp_path / "out.npz"
    np.savez(src, **state)
    sparsity = "0.8" if method == "array-code" else "0.7"
    result = run("prune", src, "-o", out, "--method", method, "--sparsity", sparsity)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith(f"pruned {src} -> {out}: method {method}, sparsity {sparsity}")
    header = lines[2].split()
    assert header[:4] == ["name", "gate", "shape", "density"] and "bound" in header and "ramanujan" in header
    table = [line.split() for line in lines[4:4 + 4]]
    assert [row[0] for row in table] == ["rnn.weight_ih_l0", "rnn.weight_hh_l0", "rnn.weight_ih_l1",
                                         "rnn.weight_hh_l1"]
    assert all(len(row) == 13 for row in table)
    written = load_state(out).tensors
    masks = {k[:-5]: v for k, v in written.items() if k.endswith("_mask")}
    assert sorted(masks) == sorted(k for k in state if ".weight_" in k)
    for key, value in state.items():
        if key in masks:
            assert np.array_equal(written[key], np.where(masks[key], value, 0))
        else:
            assert np.array_equal(written[key], value)
    analyzed = json.loads(run("analyze", out, "--format", "json").output)
    densities = {layer["name"]: layer["density"] for layer in analyzed["layers"]}
    for name, mask in masks.items():
        assert densities[name] == pytest.approx(np.count_nonzero(mask) / mask.size)
        if method not in ("ramanujan-guard", "array-code"):
            assert np.count_nonzero(mask) == keep_count(mask.size, float(sparsity))
    if method == "ramanujan-guard":
        assert all(layer["is_ramanujan"] for layer in analyzed["layers"] if layer["name"] in masks)
        assert "stopped after round" in result.output
    if method == "array-code":
        assert "q = 5" in result.output


def test_cli_json_and_safetensors_output(tmp_path):
    from safetensors.numpy import load_file

    state = head(torch_state("lstm", 6, 8, seed=0), 8)
    np.savez(tmp_path / "in.npz", **state)
    out = tmp_path / "out.safetensors"
    result = run("prune", tmp_path / "in.npz", "-o", out, "--method", "magnitude", "--sparsity", "0.5",
                 "--include", "fc.weight", "--per-gate", "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["method"] == "magnitude" and report["per_gate"] and report["output"] == str(out)
    assert [(m["name"], m["gate"]) for m in report["matrices"]][:2] == [("rnn.weight_ih_l0", None),
                                                                         ("rnn.weight_ih_l0", "i")]
    assert report["matrices"][0]["after"]["density"] == 0.5
    official = load_file(str(out))
    ours = load_state(out).tensors
    assert official.keys() == ours.keys() and all(np.array_equal(official[k], ours[k]) for k in ours)
    assert official["fc.weight_mask"].dtype == bool
    assert run("analyze", out).exit_code == 0


def _expect_failure(args, message, out, code=1):
    result = run(*args)
    assert result.exit_code == code, result.output
    assert message in result.output
    return result


@pytest.mark.parametrize("extra,message,code", [
    (["--sparsity", "1"], "sparsity must be in [0, 1)", 1),
    (["--sparsity", "-0.5"], "sparsity must be in [0, 1)", 1),
    (["--sparsity", "0.5", "--include", "head.*"], "selects no weight matrix", 1),
    (["--sparsity", "0.5", "--include", "*bias*"], "biases are never pruned", 1),
    (["--sparsity", "0.5", "--scope", "global", "--method", "biregular"], "--scope global applies to", 1),
    (["--sparsity", "0.99", "--method", "biregular"], "rnn.weight_ih_l0 (48x6): a biregular mask needs", 1),
    (["--sparsity", "0.9", "--method", "array-code"], "array-code masks have density 1/q", 1),
    (["--sparsity", "0.5", "--rounds", "0", "--method", "ramanujan-guard"], "rounds must be", 1),
    (["--sparsity", "0.5", "--method", "lottery"], "Invalid value", 2),
    (["--sparsity", "0.5", "--scope", "model"], "Invalid value", 2),
])
@pytest.mark.parametrize("existing", [False, True])
def test_cli_bad_input_writes_nothing(extra, message, code, existing, tmp_path):
    np.savez(tmp_path / "in.npz", **head(torch_state("lstm", 6, 12, seed=0), 12))
    out = tmp_path / "out.npz"
    if existing:
        out.write_bytes(b"precious")
    args = ["prune", tmp_path / "in.npz", "-o", out]
    if "--method" not in extra:
        args += ["--method", "magnitude"]
    _expect_failure(args + extra, message, out, code)
    if existing:
        assert out.read_bytes() == b"precious"
    else:
        assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["in.npz"] + (["out.npz"] if existing else []))


def test_cli_bad_files(tmp_path):
    np.savez(tmp_path / "in.npz", **torch_state("rnn", 3, 4))
    _expect_failure(["prune", tmp_path / "missing.npz", "-o", tmp_path / "o.npz", "--method", "random",
                     "--sparsity", "0.5"], "no such file", None)
    _expect_failure(["prune", tmp_path / "in.npz", "-o", tmp_path / "o.txt", "--method", "random",
                     "--sparsity", "0.5"], "must end in .npz or .safetensors", None)
    _expect_failure(["prune", tmp_path / "in.npz", "-o", tmp_path / "no" / "o.npz", "--method", "random",
                     "--sparsity", "0.5"], "does not exist", None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.npz"]


def test_graphtools_meta_gets_a_pruning_record(tmp_path):
    SequenceClassifier("gru", 28, 6, 1, 3).save(tmp_path / "m.npz", note="kept")
    assert run("prune", tmp_path / "m.npz", "-o", tmp_path / "p.npz", "--method", "ramanujan-guard",
               "--sparsity", "0.6", "--rounds", "4").exit_code == 0
    meta = json.loads(load_state(tmp_path / "p.npz").metadata[META_KEY])
    assert meta["note"] == "kept" and meta["cell"] == "gru"
    assert meta["pruning"] == {"method": "ramanujan-guard", "sparsity": 0.6, "scope": "layer", "seed": 0,
                               "rounds": 4, "per_gate": False, "include": [], "exclude": [],
                               "weights": ["rnn.weight_ih_l0", "rnn.weight_hh_l0"]}
    np.savez(tmp_path / "plain.npz", **torch_state("rnn", 3, 4))
    assert run("prune", tmp_path / "plain.npz", "-o", tmp_path / "q.npz", "--method", "random",
               "--sparsity", "0.5").exit_code == 0
    assert load_state(tmp_path / "q.npz").metadata == {}


@pytest.fixture
def mnist(tmp_path):
    """A small band-MNIST (see conftest.write_band_mnist): 120 training, 40 test images."""
    return write_band_mnist(tmp_path / "mnist.npz", 120, 40)


@pytest.mark.parametrize("method", ["magnitude", "biregular"])
def test_pruned_checkpoint_trains_and_stays_pruned(method, mnist, tmp_path):
    SequenceClassifier("lstm", 28, 8, 1, 10, seed=1).save(tmp_path / "m.npz")
    pruned = tmp_path / "p.npz"
    result = run("prune", tmp_path / "m.npz", "-o", pruned, "--method", method, "--sparsity", "0.6",
                 "--include", "fc.weight", "--per-gate")
    assert result.exit_code == 0, result.output
    masks = {k[:-5]: v for k, v in load_state(pruned).tensors.items() if k.endswith("_mask")}
    assert sorted(masks) == ["fc.weight", "rnn.weight_hh_l0", "rnn.weight_ih_l0"]
    for args in (["--init", pruned], ["--cell", "lstm", "--hidden", "8", "--mask", pruned]):
        out = tmp_path / "t.npz"
        result = run("train", *args, "--data", mnist, "--epochs", "1", "--batch-size", "40", "-o", out)
        assert result.exit_code == 0, result.output
        model = load_model(out)
        for name, mask in masks.items():
            assert not model.params[name][~mask].any(), name
            assert model.params[name][mask].all(), name  # trained weights moved off zero
            assert np.array_equal(model.masks[name], mask)
    assert run("evaluate", pruned, "--data", mnist).output.startswith("accuracy ")


# --------------------------------------------------------------------------- real PyTorch checkpoints


@pytest.mark.parametrize("cell", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("fmt", ["npz", "safetensors"])
def test_real_torch_checkpoints(cell, fmt, tmp_path):
    torch = pytest.importorskip("torch")
    st_torch = pytest.importorskip("safetensors.torch")
    torch.manual_seed(0)
    module = getattr(torch.nn, cell)(9, 16, num_layers=2, batch_first=True)
    state = module.state_dict()
    src = tmp_path / f"m.{fmt}"
    if fmt == "npz":
        np.savez(src, **{k: v.numpy() for k, v in state.items()})
    else:
        st_torch.save_file({k: v.contiguous() for k, v in state.items()}, str(src))
    for method, sparsity in [("magnitude", "0.8"), ("random", "0.8"), ("biregular", "0.8"),
                             ("array-code", "0.8"), ("ramanujan-guard", "0.8")]:
        out = tmp_path / f"p.{fmt}"
        result = run("prune", src, "-o", out, "--method", method, "--sparsity", sparsity)
        assert result.exit_code == 0, (method, result.output)
        pruned = {k: torch.from_numpy(np.array(v)) for k, v in load_state(out).tensors.items()}
        masks = {k[:-5]: v for k, v in pruned.items() if k.endswith("_mask")}
        fresh = getattr(torch.nn, cell)(9, 16, num_layers=2, batch_first=True)
        fresh.load_state_dict({k: v for k, v in pruned.items() if not k.endswith("_mask")})
        for name, mask in masks.items():
            weight = getattr(fresh, name).detach()
            assert not weight[~mask].any()
            assert torch.equal(weight[mask], state[name][mask])
        x = torch.randn(2, 5, 9)
        fresh(x)  # runs


# --------------------------------------------------------------------------- the safetensors writer


def test_write_safetensors_round_trips_with_the_official_package(tmp_path):
    from safetensors.numpy import load_file, save_file

    tensors = {
        "b": np.arange(12, dtype=">f4").reshape(3, 4),  # big-endian in, little-endian out
        "a": np.array([[True, False]]),
        "i": np.arange(5, dtype=np.int64),
        "h": np.ones((2, 2), np.float16),
        "u": np.arange(3, dtype=np.uint8),
        "s": np.float64(2.5),
        "e": np.zeros((0, 4), np.int32),
    }
    write_safetensors(tmp_path / "x.safetensors", tensors, {"graphtools.meta": "{}"})
    official = load_file(str(tmp_path / "x.safetensors"))
    for key, value in tensors.items():
        assert official[key].dtype == value.dtype.newbyteorder("=") and np.array_equal(official[key], value)
    ours, metadata = load_state(tmp_path / "x.safetensors").tensors, load_state(tmp_path / "x.safetensors").metadata
    assert metadata == {"graphtools.meta": "{}"} and list(ours) == list(tensors)
    header_len = int.from_bytes((tmp_path / "x.safetensors").read_bytes()[:8], "little")
    assert header_len % 8 == 0
    save_file({k: np.asarray(v).astype(v.dtype.newbyteorder("<")) for k, v in tensors.items()},
              str(tmp_path / "y.safetensors"))
    theirs = load_state(tmp_path / "y.safetensors").tensors
    assert all(np.array_equal(theirs[k], tensors[k]) for k in tensors)
    with pytest.raises(GraphtoolsError, match="cannot hold"):
        write_safetensors(tmp_path / "z.safetensors", {"c": np.ones(2, complex)})
    assert not os.path.exists(tmp_path / "z.safetensors")


# --------------------------------------------------------------------------- graph summaries


def _svd_top(B):
    s = np.linalg.svd(B.astype(float), compute_uv=False)
    return s[0], s[1]


@pytest.mark.parametrize("case", ["connected", "isolated column", "two equal components", "wide"])
def test_graph_summary_large_paths_agree_with_a_full_svd(case, monkeypatch):
    from scipy.sparse.linalg import eigsh

    import graphtools.spectral as spectral_module  # the exact Gram route lives there (method="gram")
    from graphtools.prune.summary import _top_two

    rng = np.random.default_rng(9)
    if case == "two equal components":
        block = rng.random((400, 200)) < 0.8
        B = np.zeros((800, 400), bool)
        B[:400, :200] = B[400:, 200:] = block
    else:
        B = rng.random((800, 400)) < 0.8  # 320,000 entries: past the dense limit; E > 400^2 / 4: Gram route
        if case == "isolated column":
            B[:, 7] = False  # dropped from G: only adds a zero eigenvalue
        if case == "wide":
            B = B.T
    calls = []
    monkeypatch.setattr(spectral_module, "eigsh", lambda *a, **k: calls.append(1) or eigsh(*a, **k))
    s1, s2 = _top_two(B, int(np.count_nonzero(B)))
    assert len(calls) == (0 if case == "two equal components" else 1)  # no connectivity certificate: general route
    e1, e2 = _svd_top(B)
    assert s1 == pytest.approx(e1, rel=1e-12) and s2 == pytest.approx(e2, rel=1e-10)
    summary = graph_summary(B)
    report = analyze_graph(bipartite(B))
    assert summary.sigma2 == pytest.approx(report.sigma2, rel=1e-10)
    assert summary.ramanujan_bound == pytest.approx(report.ramanujan_bound, rel=1e-14)
    assert summary.is_ramanujan == report.is_ramanujan
    assert summary.in_degree == (report.inputs.degree_min, report.inputs.degree_max)
    assert summary.out_degree == (report.outputs.degree_min, report.outputs.degree_max)


def test_graph_summary_of_complete_and_empty_graphs():
    full = graph_summary(np.ones((30, 7)))
    assert (full.sigma1, full.sigma2, full.density, full.is_ramanujan) == (math.sqrt(210), 0.0, 1.0, True)
    assert full.ramanujan_bound == pytest.approx(math.sqrt(29) + math.sqrt(6))
    empty = graph_summary(np.zeros((3, 4)))
    assert (empty.nnz, empty.ramanujan_bound, empty.is_ramanujan) == (0, None, None)


def test_compute_mask_rejects_bad_input():
    with pytest.raises(GraphtoolsError, match="must be 2-D"):
        compute_mask(np.ones(5), "magnitude", 0.5)
    with pytest.raises(GraphtoolsError, match="sparsity"):
        compute_mask(np.ones((2, 2)), "magnitude", "lots")


def test_kept_zeros_are_counted_and_explained(tmp_path):
    state = torch_state("rnn", 8, 10, seed=3)
    state = {k: v * (np.random.default_rng(4).random(v.shape) < 0.3) if ".weight" in k else v
             for k, v in state.items()}  # an input pruned before, to density about 0.3
    _, masks, report = prune_state(state, method="random", sparsity=0.5, seed=1)
    for entry in report.matrices:
        W = state[entry.name]
        assert entry.kept_zeros == np.count_nonzero(masks[entry.name] & (W == 0)) > 0
        assert entry.before.density == pytest.approx(np.count_nonzero(W) / W.size)
    np.savez(tmp_path / "in.npz", **state)
    result = run("prune", tmp_path / "in.npz", "-o", tmp_path / "out.npz", "--method", "random", "--sparsity", "0.5")
    assert "that are already zero; until training moves them, the weights' own graph has density" in result.output
    _, masks, report = prune_state(state, method="magnitude", sparsity=0.8)  # keeps fewer than the nonzeros
    assert all(entry.kept_zeros == 0 for entry in report.matrices)
