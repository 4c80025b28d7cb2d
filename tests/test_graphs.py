"""Bipartite graphs of weights, gate blocks, and exports to networkx and igraph."""

import numpy as np
import pytest

from graphtools.graphs import bipartite, gate_blocks, to_igraph, to_networkx


@pytest.fixture
def weight():
    rng = np.random.default_rng(5)
    return rng.standard_normal((6, 4)) * (rng.random((6, 4)) < 0.5)


def test_binary_and_weighted_share_the_pattern(weight):
    g = bipartite(weight, "w")
    assert g.shape == (6, 4) and g.n_outputs == 6 and g.n_inputs == 4
    assert g.nnz == np.count_nonzero(weight)
    assert np.array_equal(g.binary.toarray(), (weight != 0).astype(float))
    assert np.array_equal(g.weighted.toarray(), np.abs(weight))


def test_negative_zero_is_no_edge():
    assert bipartite(np.array([[-0.0, 1.0]])).nnz == 1


def test_networkx_export(weight):
    nx = pytest.importorskip("networkx")
    G = to_networkx(bipartite(weight))
    assert G.number_of_nodes() == 10 and G.number_of_edges() == np.count_nonzero(weight)
    inputs = {n for n, d in G.nodes(data=True) if d["bipartite"] == 0}
    assert inputs == {("in", j) for j in range(4)}
    assert nx.is_bipartite(G)
    i, j = map(int, np.argwhere(weight)[0])
    assert G[("in", j)][("out", i)]["weight"] == abs(weight[i, j])
    # the biadjacency networkx rebuilds is the one we started from
    B = nx.bipartite.biadjacency_matrix(G, row_order=[("out", i) for i in range(6)],
                                        column_order=[("in", j) for j in range(4)], weight="weight")
    assert np.array_equal(B.toarray(), np.abs(weight))


def test_igraph_export(weight):
    pytest.importorskip("igraph")
    G = to_igraph(bipartite(weight))
    assert G.vcount() == 10 and G.ecount() == np.count_nonzero(weight)
    assert G.is_bipartite()
    assert G.vs["type"] == [False] * 4 + [True] * 6
    edge = G.es[0]
    j, i = edge.tuple[0], edge.tuple[1] - 4
    assert G.vs[edge.tuple[0]]["name"] == f"in[{j}]"
    assert edge["weight"] == abs(weight[i, j])


def test_gate_blocks_split_rows_in_order():
    W = np.arange(12 * 2).reshape(12, 2)
    blocks = gate_blocks(W, ("i", "f", "g", "o"))
    assert [g for g, _ in blocks] == ["i", "f", "g", "o"]
    assert np.array_equal(np.vstack([b for _, b in blocks]), W)
    with pytest.raises(ValueError):
        gate_blocks(np.ones((10, 2)), ("r", "z", "n"))


def test_as_csr_widens_float16_weights():
    from graphtools.structure import as_csr

    w = np.array([[0.0, 1.5], [-2.0, 0.0]], dtype=np.float16)
    M = as_csr(w)
    assert M.dtype == np.float64 and M.nnz == 2
    assert np.array_equal(M.toarray(), w.astype(np.float64))
