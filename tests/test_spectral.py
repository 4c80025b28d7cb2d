"""Closed forms and solver agreement for the spectral and structural measures."""

import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from graphtools.analysis import analyze_graph
from graphtools.constructions import array_code, complete_bipartite, random_biregular
from graphtools.graphs import bipartite
from graphtools.spectral import (
    average_degrees,
    delta_s,
    is_ramanujan,
    normalized_biadjacency,
    normalized_gap,
    ramanujan_bound,
    spectral_gap,
    top_singular_values,
)
from graphtools.structure import bipartite_components, biregular_degrees, input_degrees, output_degrees

METHODS = ["auto", "dense", "sparse"]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("m,n", [(3, 5), (12, 7), (40, 40), (600, 500)])
def test_complete_bipartite(m, n, method):
    report = analyze_graph(bipartite(complete_bipartite(m, n)), method)
    assert report.sigma1 == pytest.approx(math.sqrt(m * n), rel=1e-12)
    assert report.sigma2 == pytest.approx(0.0, abs=1e-9 * math.sqrt(m * n))
    assert report.biregular == (m, n)  # every input has m outputs, every output n inputs
    assert report.ramanujan_bound == pytest.approx(math.sqrt(m - 1) + math.sqrt(n - 1))
    assert report.is_ramanujan is True
    assert report.normalized_gap == pytest.approx(1.0)
    assert report.components == 1
    assert report.delta_s == pytest.approx(2 * math.sqrt(math.sqrt(m * n) - 1) - report.sigma2)


@pytest.mark.parametrize("method", METHODS)
def test_two_equal_blocks_have_no_gap(method):
    rng = np.random.default_rng(3)
    block = (rng.random((30, 20)) < 0.3).astype(float)
    block[0, :] = 1.0  # connected block
    block[:, 0] = 1.0
    B = sp.block_diag([block, block]).toarray()
    s1, s2 = top_singular_values(B, 2, method)
    assert s1 == s2  # exact: both values come from identical components
    assert spectral_gap(B, method) == 0.0
    assert normalized_gap(B, method) == 0.0
    assert bipartite_components(B)[0] == 2


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("q,l", [(3, 2), (5, 3), (7, 7), (11, 4), (23, 5)])
def test_array_code_is_ramanujan_with_sigma2_sqrt_q(q, l, method):
    B = array_code(q, l)
    assert B.shape == (q * q, l * q)
    assert biregular_degrees(B) == (q, l)  # inputs have degree q, outputs degree l
    report = analyze_graph(bipartite(B), method)
    assert report.sigma1 == pytest.approx(math.sqrt(l * q), rel=1e-12)
    assert report.sigma2 == pytest.approx(math.sqrt(q), rel=1e-10)
    assert report.ramanujan_bound == pytest.approx(math.sqrt(q - 1) + math.sqrt(l - 1))
    assert report.is_ramanujan is True
    assert report.ramanujan_gap > 0


def test_array_code_full_spectrum():
    q, l = 7, 4
    s = np.linalg.svd(array_code(q, l), compute_uv=False)
    assert s[0] == pytest.approx(math.sqrt(l * q))
    assert np.allclose(s[1 : 1 + l * (q - 1)], math.sqrt(q))
    assert np.allclose(s[1 + l * (q - 1) :], 0.0, atol=1e-10)


def test_array_code_with_one_block_column_is_not_ramanujan():
    # l = 1: q stacked identities, q disjoint stars: sigma1 = sigma2 = sqrt(q) > sqrt(q - 1)
    report = analyze_graph(bipartite(array_code(5, 1)))
    assert report.sigma2 == pytest.approx(math.sqrt(5))
    assert report.is_ramanujan is False


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("n_out,n_in,d", [(20, 10, 3), (64, 32, 5), (256, 128, 6), (900, 600, 4)])
def test_random_biregular_sigma1(n_out, n_in, d, method):
    B = random_biregular(n_out, n_in, d, rng=n_out)
    c = n_out * d // n_in
    assert set(output_degrees(B)) == {d} and set(input_degrees(B)) == {c}
    assert B.max() == 1.0  # no multi-edges
    s1, s2 = top_singular_values(B, 2, method)
    assert s1 == pytest.approx(math.sqrt(c * d), rel=1e-12)
    assert s2 < s1


def test_dense_and_sparse_paths_agree_on_large_random_matrices():
    rng = np.random.default_rng(7)
    for shape, density in [((2048, 512), 0.05), ((1024, 1024), 0.01), ((800, 700), 0.3)]:
        W = rng.standard_normal(shape) * (rng.random(shape) < density)
        for M in (W != 0, np.abs(W)):
            dense = top_singular_values(M, 2, "dense")
            sparse = top_singular_values(M, 2, "sparse")
            assert np.allclose(sparse, dense, rtol=1e-8, atol=0)
        assert normalized_gap(W, "sparse") == pytest.approx(normalized_gap(W, "dense"), rel=1e-8)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 25),
    st.integers(1, 25),
    st.floats(0.0, 1.0),
    st.integers(0, 2**31 - 1),
)
def test_measures_match_numpy_svd_on_random_graphs(m, n, density, seed):
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((m, n)) * (rng.random((m, n)) < density)
    expect = np.zeros(2)
    s = np.linalg.svd((W != 0).astype(float), compute_uv=False)
    expect[: min(2, s.size)] = s[:2]
    for method in METHODS:
        assert np.allclose(top_singular_values(W != 0, 2, method), expect, rtol=1e-8, atol=1e-9)
    # isolated nodes do not change the top singular values
    padded = np.zeros((m + 3, n + 2))
    padded[:m, :n] = W != 0
    assert np.allclose(top_singular_values(padded, 2), expect, rtol=1e-8, atol=1e-9)
    # normalized matrix: top singular value 1 whenever there is an edge
    N = normalized_biadjacency(W)
    if N.nnz:
        assert top_singular_values(N, 1)[0] == pytest.approx(1.0)
        assert 0.0 - 1e-12 <= normalized_gap(W) <= 1.0 + 1e-12


def test_components_and_degrees_match_networkx():
    nx = pytest.importorskip("networkx")
    from graphtools.graphs import to_networkx

    rng = np.random.default_rng(11)
    W = rng.standard_normal((30, 40)) * (rng.random((30, 40)) < 0.04)
    G = to_networkx(bipartite(W))
    assert bipartite_components(W)[0] == nx.number_connected_components(G)
    assert [G.degree(("in", j)) for j in range(40)] == input_degrees(W).tolist()
    assert [G.degree(("out", i)) for i in range(30)] == output_degrees(W).tolist()


@pytest.mark.parametrize("seed", range(4))
def test_components_equal_scipys_search_label_for_label(seed):
    """The sweep shortcut for one component with edges, and the general search, against scipy's
    search on the whole adjacency: same count, same labels (isolated nodes, negative weights,
    disconnected graphs and long paths that the sweeps cannot cross included)."""
    from scipy.sparse.csgraph import connected_components

    rng = np.random.default_rng(seed)
    cases = [np.eye(7), np.eye(6, 9, 1) + np.eye(6, 9), np.zeros((3, 4))]
    cases[-1][1, 2] = -2.0
    for k in range(300):
        m, n = rng.integers(1, 14, 2)
        W = (rng.random((m, n)) < rng.random()) * rng.uniform(-1 if k % 2 else 0.1, 2, (m, n))
        cases.append(W)
    shortcut = 0
    for W in cases:
        M = sp.csr_matrix(W)
        M.eliminate_zeros()
        m, n = M.shape
        adjacency = sp.bmat([[sp.csr_matrix((m, m)), M], [M.T, sp.csr_matrix((n, n))]]).tocsr()
        count, labels = connected_components(adjacency, directed=False)
        got = bipartite_components(W)
        assert got[0] == count and got[1].tolist() == labels.tolist()
        shortcut += M.nnz > 0 and (M.data > 0).all() and len(set(labels[np.r_[np.diff(M.indptr), np.diff(M.tocsc().indptr)] > 0])) == 1
    assert shortcut > 50  # the shortcut's case was exercised


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16, np.int8, bool])
@pytest.mark.parametrize("layout", ["C", "F", "strided"])
def test_dense_weights_become_the_csr_scipy_builds(dtype, layout, monkeypatch):
    """as_csr reads a dense array in blocks of rows (several blocks here): the same float64 CSR
    matrix, bit for bit, as scipy's route from the dense array, whatever the dtype and memory layout."""
    import graphtools.structure as structure
    from graphtools.structure import as_csr

    monkeypatch.setattr(structure, "DENSE_BLOCK_ENTRIES", 64)
    rng = np.random.default_rng(4)
    W = rng.standard_normal((37, 23)) * (rng.random((37, 23)) < 0.3)
    W[2, 3], W[5] = -0.0, 0.0
    W = W.astype(dtype)
    W = {"C": W, "F": np.asfortranarray(W), "strided": W[::2, ::3]}[layout]
    expected = sp.csr_matrix(W.astype(np.float32) if W.dtype == np.float16 else W).astype(np.float64)
    expected.eliminate_zeros()
    got = as_csr(W)
    assert got.has_canonical_format and got.dtype == np.float64 and got.indices.dtype == expected.indices.dtype
    assert got.indptr.tolist() == expected.indptr.tolist() and got.indices.tolist() == expected.indices.tolist()
    assert got.data.tobytes() == expected.data.tobytes()


def test_normalized_biadjacency_rounds_as_the_diagonal_products():
    rng = np.random.default_rng(2)
    W = rng.uniform(0.1, 3, (50, 70)) * (rng.random((50, 70)) < 0.2)
    W[3] = 0
    W[:, 5] = 0
    A = abs(sp.csr_matrix(W))
    r, c = np.asarray(A.sum(1)).ravel(), np.asarray(A.sum(0)).ravel()
    rows, cols = np.flatnonzero(r > 0), np.flatnonzero(c > 0)
    expected = sp.diags(1 / np.sqrt(r[rows])) @ A[rows][:, cols] @ sp.diags(1 / np.sqrt(c[cols]))
    got = normalized_biadjacency(W)
    assert got.shape == expected.shape and (got != expected).nnz == 0
    assert got.data.tobytes() == sp.csr_matrix(expected).data.tobytes()


def test_ramanujan_bound_uses_non_isolated_average_degrees():
    B = np.zeros((5, 6))
    B[0, :3] = 1  # output 0 -> inputs 0,1,2
    B[1, :2] = 1  # output 1 -> inputs 0,1
    # E = 5, non-isolated inputs 3, non-isolated outputs 2
    assert average_degrees(B) == (5 / 3, 5 / 2)
    assert ramanujan_bound(B) == pytest.approx(math.sqrt(5 / 3 - 1) + math.sqrt(5 / 2 - 1))
    assert ramanujan_bound(np.zeros((3, 3))) is None
    assert normalized_gap(np.zeros((3, 3))) is None


def test_empty_graph_report_has_nulls_not_nans():
    report = analyze_graph(bipartite(np.zeros((4, 3))))
    assert (report.sigma1, report.sigma2, report.nnz) == (0.0, 0.0, 0)
    assert report.ramanujan_bound is None and report.is_ramanujan is None
    assert report.delta_s is None and report.normalized_gap is None
    assert report.inputs.isolated == 3 and report.outputs.isolated == 4
    assert report.components == 7


def test_small_formulas():
    assert delta_s(5.0, 1.0) == pytest.approx(2 * 2 - 1)
    assert delta_s(0.5, 0.1) is None
    assert is_ramanujan(3.0, 2.0, 2.0) is True
    assert is_ramanujan(3.0, 2.1, 2.0) is False
    assert is_ramanujan(3.0, 2.0, None) is None


def test_weighted_spectrum_uses_absolute_values():
    W = np.array([[1.0, -2.0], [-3.0, 4.0]])
    report = analyze_graph(bipartite(W))
    s = np.linalg.svd(np.abs(W), compute_uv=False)
    assert report.weighted.sigma1 == pytest.approx(s[0])
    assert report.weighted.sigma2 == pytest.approx(s[1])
    assert report.weighted.spectral_gap == pytest.approx(s[0] - s[1])


def test_gram_route_agrees_with_full_svd():
    """``auto`` on components with a short side is the Gram route (dense or sparse product,
    Rayleigh-Ritz, SVD fallback for a tiny sigma_2); each branch agrees with LAPACK's SVD."""
    rng = np.random.default_rng(11)
    cases = [
        rng.standard_normal((300, 80)) * (rng.random((300, 80)) < 0.5),  # dense Gram product
        rng.standard_normal((90, 600)) * (rng.random((90, 600)) < 0.5),  # wide: B B^T
        rng.standard_normal((3000, 200)) * (rng.random((3000, 200)) < 0.01),  # sparse Gram product
        np.outer(rng.random(50) + 0.5, rng.random(40) + 0.5),  # rank one: sigma_2 = 0, SVD fallback
    ]
    for W in cases:
        for M in (W != 0, np.abs(W), normalized_biadjacency(W)):
            gram = top_singular_values(M, 2, "auto")
            full = top_singular_values(M, 2, "dense")
            assert np.allclose(gram, full, rtol=1e-10, atol=1e-12 * full[0])
    assert top_singular_values(cases[3], 2)[1] < 1e-12 * top_singular_values(cases[3], 2)[0]


def test_as_csr_without_copy_returns_a_canonical_matrix_itself():
    from graphtools.structure import as_csr

    M = as_csr(np.array([[0.0, 2.0], [3.0, 0.0]]))
    assert as_csr(M, copy=False) is M and as_csr(M) is not M
    stored_zero = sp.csr_matrix((np.array([0.0, 1.0]), np.array([0, 1]), np.array([0, 1, 2])), shape=(2, 2))
    cleaned = as_csr(stored_zero, copy=False)
    assert cleaned is not stored_zero and cleaned.nnz == 1  # a stored zero is no edge


def test_a_float32_weight_is_never_copied_to_dense_float64():
    """analyze builds its graphs from a float32 weight's nonzeros: the peak allocation stays below
    the size of one dense float64 copy of the weight (issue 10: memory)."""
    import tracemalloc

    rng = np.random.default_rng(3)
    W = rng.standard_normal((2000, 1000), dtype=np.float32)
    W[rng.random(W.shape) < 0.9] = 0
    tracemalloc.start()
    try:
        graph = bipartite(W)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert graph.nnz == np.count_nonzero(W)
    assert graph.weighted.dtype == np.float64 and np.allclose(graph.weighted.toarray(), np.abs(W))
    assert peak < 0.5 * W.size * 8, peak
