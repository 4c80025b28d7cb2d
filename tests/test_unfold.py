"""Time-unfolded graphs: counts, operator vs explicit adjacency, eigenvalues, paths, exports, CLI."""

import json

import numpy as np
import pytest
import scipy.sparse as sp
from click.testing import CliRunner
from scipy.sparse.csgraph import breadth_first_order

import graphtools.unfolded_spectrum as unfolded_spectrum
from graphtools.cli import main
from graphtools.errors import GraphtoolsError
from graphtools.graphs import gate_union
from graphtools.model import describe
from graphtools.recurrence import mixing_depth, reachability, transitions
from graphtools.unfolded_spectrum import unfolded_top_eigenvalues
from graphtools.unfolding import unfold
from statedicts import sparsify, torch_state

CASES = {
    "rnn": dict(cell="rnn", hidden=7),
    "lstm-2": dict(cell="lstm", hidden=6, layers=2),
    "gru-bi-2": dict(cell="gru", hidden=5, layers=2, bidirectional=True),
    "lstm-proj-bi": dict(cell="lstm", hidden=6, proj=3, layers=2, bidirectional=True),
}


def model_for(name, density=0.4, input_size=4):
    return describe(sparsify(torch_state(input_size=input_size, **CASES[name]), density))


def union_nnz(W, gates):
    return gate_union(W, gates).nnz


@pytest.mark.parametrize("T", [1, 3, 10])
def test_counts_follow_design_for_one_layer(T):
    model = model_for("rnn")
    layer = model.modules[0].layers[0]
    g = unfold(model, T)
    assert g.nodes == T * 4 + (T + 1) * 7
    assert g.edges == T * (np.count_nonzero(layer.weight_ih.matrix) + np.count_nonzero(layer.weight_hh.matrix))
    assert g.adjacency().nnz == 2 * g.edges  # symmetric, no self-loops, no repeated edges


@pytest.mark.parametrize("T", [1, 4])
def test_counts_for_stacked_bidirectional_and_per_gate(T):
    model = model_for("gru-bi-2")
    H, G, n_in = 5, 3, 4
    g = unfold(model, T)
    assert g.nodes == T * n_in + 2 * 2 * (T + 1) * H
    expected = sum(T * (union_nnz(r.weight_ih.matrix, G) + union_nnz(r.weight_hh.matrix, G))
                   for r in model.modules[0].layers)
    assert g.edges == expected
    per_gate = unfold(model, T, "per-gate")
    assert per_gate.nodes == g.nodes + 4 * T * G * H
    assert per_gate.edges == sum(
        T * (np.count_nonzero(r.weight_ih.matrix) + np.count_nonzero(r.weight_hh.matrix) + G * H)
        for r in model.modules[0].layers)


def test_projection_counts():
    model = model_for("lstm-proj-bi")
    T, H, P = 3, 6, 3
    g = unfold(model, T)
    # per layer and direction: h at steps 1..T, projection p at steps 0..T (or 1..T+1)
    assert g.nodes == T * 4 + 2 * 2 * (T * H + (T + 1) * P)
    hr_edges = sum(T * np.count_nonzero(r.weight_hr.matrix) for r in model.modules[0].layers)
    rest = sum(T * (union_nnz(r.weight_ih.matrix, 4) + union_nnz(r.weight_hh.matrix, 4))
               for r in model.modules[0].layers)
    assert g.edges == hr_edges + rest


def test_single_layer_selection():
    model = model_for("lstm-2")
    g1 = unfold(model, 5, layer=1)
    assert list(g1.blocks) == ["h0", "h1"]
    assert g1.blocks["h0"].t_first == 1  # the previous layer's outputs at steps 1..T are the inputs
    assert g1.nodes == 5 * 6 + 6 * 6
    with pytest.raises(GraphtoolsError, match="layer 2 does not exist"):
        unfold(model, 5, layer=2)


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("gates", ["union", "per-gate"])
@pytest.mark.parametrize("weighted", [False, True])
def test_operator_equals_explicit_adjacency(name, gates, weighted):
    g = unfold(model_for(name), 4, gates)
    A = g.adjacency(weighted)
    assert (A != A.T).nnz == 0
    v = np.random.default_rng(0).standard_normal(g.nodes)
    assert np.allclose(g.operator(weighted).matvec(v), A @ v, rtol=1e-12, atol=1e-12)


def test_edges_join_the_right_nodes():
    state = {"rnn.weight_ih_l0": np.array([[2.0, 0.0], [0.0, -3.0]]),
             "rnn.weight_hh_l0": np.array([[0.0, 1.0], [0.0, 0.0]])}
    g = unfold(describe(state), 2)
    names = g.node_names()
    edges = set()
    for family in g.families:
        s, t, w = g.edge_arrays(family)
        edges |= {(names[a], names[b], c) for a, b, c in zip(s, t, w)}
    assert edges == {("x[1][0]", "h0[1][0]", 2.0), ("x[1][1]", "h0[1][1]", 3.0),
                     ("x[2][0]", "h0[2][0]", 2.0), ("x[2][1]", "h0[2][1]", 3.0),
                     ("h0[0][1]", "h0[1][0]", 1.0), ("h0[1][1]", "h0[2][0]", 1.0)}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("gates", ["union", "per-gate"])
def test_shift_invert_eigenvalues_match_dense(name, gates, monkeypatch):
    monkeypatch.setattr(unfolded_spectrum, "DENSE_LIMIT", 0)  # force the fast path on a small graph
    g = unfold(model_for(name, density=0.5), 12, gates)
    for weighted in (False, True):
        exact = np.linalg.eigvalsh(g.adjacency(weighted).toarray())[::-1][:2]
        fast = unfolded_top_eigenvalues(g, 2, weighted)
        assert np.allclose(fast, exact, rtol=1e-10, atol=1e-10)


def test_repeated_top_eigenvalue_is_found(monkeypatch):
    # two identical disconnected halves: hidden units {0,1} and {2,3} never meet
    W = np.kron(np.eye(2), np.ones((2, 2)))
    g = unfold(describe({"rnn.weight_ih_l0": W, "rnn.weight_hh_l0": W}), 30)
    monkeypatch.setattr(unfolded_spectrum, "DENSE_LIMIT", 0)
    lam = unfolded_top_eigenvalues(g)
    assert lam[0] == pytest.approx(lam[1], rel=1e-10)
    assert lam[0] == pytest.approx(np.linalg.eigvalsh(g.adjacency().toarray())[-1], rel=1e-10)


def _reachable(graph, sources, targets):
    """Brute force over the explicit directed graph: pairs (s, t) with a path."""
    rows, cols = [], []
    for family in graph.families:
        s, t, _ = graph.edge_arrays(family)
        rows.append(s)
        cols.append(t)
    n = graph.nodes
    D = sp.csr_matrix((np.ones(sum(map(len, rows))), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
    hit = 0
    for s in sources:
        seen = breadth_first_order(D, s, directed=True, return_predecessors=False)
        hit += np.isin(targets, seen).sum()
    return hit / (len(sources) * len(targets))


@pytest.mark.parametrize("density", [0.08, 0.15, 0.3])
@pytest.mark.parametrize("T", [1, 2, 5, 9])
def test_reachability_matches_graph_search(density, T):
    model = model_for("lstm-2", density=density)
    g = unfold(model, T, layer=0)
    x, h = g.blocks["x"], g.blocks["h0"]
    sources = x.index(1, np.arange(x.size))
    targets = h.index(T, np.arange(h.size))
    I, M = transitions(model.modules[0].layers[0])
    assert reachability(I, M, T) == pytest.approx(_reachable(g, sources, targets))


def test_reachability_through_a_projection():
    model = model_for("lstm-proj-bi", density=0.3)
    layer = model.modules[0].layers[0]
    g = unfold(model, 4, layer=0)
    h = g.blocks["h0"]
    sources = g.blocks["x"].index(1, np.arange(4))
    I, M = transitions(layer)
    assert reachability(I, M, 4) == pytest.approx(_reachable(g, sources, h.index(4, np.arange(h.size))))


def _brute_mixing_depth(M, limit=200):
    P = M.copy()
    for k in range(1, limit):
        if P.all():
            return k
        P = (P.astype(int) @ M.astype(int)) > 0
    return None


@pytest.mark.parametrize("seed", range(25))
def test_mixing_depth_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 9))
    M = rng.random((n, n)) < rng.uniform(0.15, 0.6)
    assert mixing_depth(M) == _brute_mixing_depth(M)


def test_mixing_depth_known_cases():
    cycle = np.roll(np.eye(5, dtype=bool), 1, axis=0)
    assert mixing_depth(cycle) is None  # periodic: never mixes
    wielandt = cycle.copy()
    wielandt[0, 3] = True  # the Wielandt digraph: exponent (n-1)^2 + 1
    assert mixing_depth(wielandt) == 17
    assert mixing_depth(np.ones((3, 3), bool)) == 1
    assert mixing_depth(np.eye(3, dtype=bool)) is None


@pytest.mark.parametrize("fmt", ["graphml", "edgelist"])
def test_exports_load_in_networkx_and_igraph(fmt, tmp_path):
    nx = pytest.importorskip("networkx")
    ig = pytest.importorskip("igraph")
    path = tmp_path / "m.npz"
    np.savez(path, **sparsify(torch_state("gru", hidden=5, layers=2, bidirectional=True), 0.5))
    graph = unfold(describe(dict(np.load(path))), 3)
    out = tmp_path / f"g.{fmt}"
    result = CliRunner().invoke(main, ["unfold", str(path), "--steps", "3", "--format", fmt, "-o", str(out)])
    assert result.exit_code == 0, result.output
    if fmt == "graphml":
        G = nx.read_graphml(out)
        H = ig.Graph.Read_GraphML(str(out))
        assert (G.number_of_nodes(), G.number_of_edges()) == (graph.nodes, graph.edges)
        assert (H.vcount(), H.ecount()) == (graph.nodes, graph.edges)
        assert G.nodes["h1_reverse[4][2]"] == {"block": "h1_reverse", "t": 4, "j": 2}
        weights = sorted(d["weight"] for _, _, d in G.edges(data=True))
        A = graph.adjacency(weighted=True)
        assert np.allclose(weights, np.sort(sp.triu(A).data))
    else:
        G = nx.read_weighted_edgelist(out, create_using=nx.DiGraph)
        assert G.number_of_edges() == graph.edges
        H = ig.Graph.Read_Ncol(str(out), directed=True)
        assert H.ecount() == graph.edges
        # an edge list only names nodes that have edges
        assert G.number_of_nodes() == np.count_nonzero(np.diff(graph.adjacency().indptr))


def test_unfold_json_totals_and_layers(tmp_path):
    path = tmp_path / "m.npz"
    np.savez(path, **sparsify(torch_state("lstm", hidden=6, layers=2), 0.5))
    result = CliRunner().invoke(main, ["unfold", str(path), "--steps", "6"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    graph = unfold(describe(dict(np.load(path))), 6)
    assert (report["steps"], report["gates"], report["nodes"], report["edges"]) == (6, "union", graph.nodes,
                                                                                    graph.edges)
    assert [layer["layer"] for layer in report["layers"]] == [0, 1]
    direction = report["layers"][0]["directions"][0]
    assert direction["direction"] == "forward"
    assert direction["step"]["name"] == "rnn.weight_ih_l0 | rnn.weight_hh_l0"
    assert direction["step"]["shape"] == [6, 5 + 6]
    assert 0.0 <= direction["reachability"] <= 1.0
    lam = np.linalg.eigvalsh(graph.adjacency().toarray())[::-1]
    assert report["lambda1"] == pytest.approx(lam[0]) and report["lambda2"] == pytest.approx(lam[1])
    assert report["eigengap"] == pytest.approx(lam[0] - lam[1])


def test_analyze_with_unfold_adds_the_section(tmp_path):
    path = tmp_path / "m.npz"
    np.savez(path, **torch_state("rnn", hidden=4))
    report = json.loads(CliRunner().invoke(main, ["analyze", str(path), "--unfold", "3", "--format", "json"]).output)
    assert report["unfolded"]["steps"] == 3 and report["unfolded"]["nodes"] == 3 * 5 + 4 * 4
    table = CliRunner().invoke(main, ["analyze", str(path), "--unfold", "3"]).output
    assert "unfolded over 3 steps (union gates): 31 nodes" in table


@pytest.mark.parametrize("args,message", [
    (["--steps", "0"], "Invalid value"),
    (["--steps", "3", "--layer", "5"], "layer 5 does not exist"),
    (["--steps", "3", "--gates", "some"], "Invalid value"),
])
def test_unfold_bad_options(args, message, tmp_path):
    path = tmp_path / "m.npz"
    np.savez(path, **torch_state("rnn", hidden=4))
    result = CliRunner().invoke(main, ["unfold", str(path), *args])
    assert result.exit_code in (1, 2) and message in result.output


def test_unfold_needs_a_recurrent_layer(tmp_path):
    path = tmp_path / "fc.npz"
    np.savez(path, **{"fc.weight": np.ones((3, 4))})
    result = CliRunner().invoke(main, ["unfold", str(path), "--steps", "3"])
    assert result.exit_code == 1 and "no recurrent layer" in result.output
