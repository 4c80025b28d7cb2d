"""Proof by test for graphtools.expansion: every bound holds on many random small graphs (checked
against exact values found by enumeration), is tight where theory says so, and the enumerators
agree with plain brute force."""

import itertools
import json
import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from graphtools.constructions import array_code, complete_bipartite, random_biregular
from graphtools.expansion import (
    ExpansionBounds,
    algebraic_connectivity,
    cheeger_interval,
    edge_expansion_interval,
    exact_conductance,
    exact_edge_expansion,
    exact_vertex_expansion,
    expansion_bounds,
    imdb,
    max_mixing_ratio,
    mixing_bound_biregular,
    mixing_bound_normalized,
    mixing_discrepancy,
    tanner_bound,
    volume_discrepancy,
)
from graphtools.spectral import normalized_biadjacency, normalized_gap, top_singular_values
from graphtools.structure import biregular_degrees

TOL = 1e-9

# --------------------------------------------------------------------------- strategies


@st.composite
def biregular_graphs(draw, max_n=7):
    n_r = draw(st.integers(1, max_n))
    n_l = draw(st.integers(1, max_n))
    d = draw(st.sampled_from([d for d in range(1, n_l + 1) if (n_r * d) % n_l == 0]))
    if d == n_l:
        # the unique such graph is K_{n_r, n_l}; random_biregular's edge swaps rarely reach it
        return complete_bipartite(n_r, n_l)
    seed = draw(st.integers(0, 2**32 - 1))
    try:
        B = random_biregular(n_r, n_l, d, seed)
    except RuntimeError:
        assume(False)
    return B


@st.composite
def random_graphs(draw, max_n=7, weighted=False):
    n_r = draw(st.integers(1, max_n))
    n_l = draw(st.integers(1, max_n))
    p = draw(st.floats(0.15, 0.95))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    B = (rng.random((n_r, n_l)) < p).astype(float)
    if weighted:
        B *= rng.uniform(0.05, 3.0, size=B.shape)
    return B


any_graph = st.one_of(biregular_graphs(), random_graphs(), random_graphs(weighted=True))


def subsets_matrix(n):
    """All 2^n subsets of range(n) as 0/1 rows."""
    masks = np.arange(1 << n)
    return ((masks[:, None] >> np.arange(n)) & 1).astype(float)


def sigma2(B):
    return float(top_singular_values(B, 2)[1])


def max_degree(B):
    b = B != 0
    return int(max(b.sum(axis=0).max(initial=0), b.sum(axis=1).max(initial=0)))


# --------------------------------------------------------------------------- plain brute force


def subsets(items, min_size=1, max_size=None):
    items = list(items)
    max_size = len(items) if max_size is None else max_size
    for k in range(min_size, max_size + 1):
        yield from itertools.combinations(items, k)


def full_adjacency(W):
    n_r, n_l = W.shape
    A = np.zeros((n_r + n_l, n_r + n_l))
    A[:n_r, n_r:] = W
    A[n_r:, :n_r] = W.T
    return A


def brute_edge_expansion(B):
    A = full_adjacency((B != 0).astype(float))
    n = len(A)
    best = math.inf
    for S in subsets(range(n), 1, n // 2):
        inside = np.zeros(n, bool)
        inside[list(S)] = True
        best = min(best, A[inside][:, ~inside].sum() / len(S))
    return best


def brute_conductance(B, weighted):
    A = full_adjacency(np.abs(B) if weighted else (B != 0).astype(float))
    n, deg = len(A), A.sum(axis=1)
    best = math.inf
    for S in subsets(range(n)):  # all nodes, isolated ones included
        inside = np.zeros(n, bool)
        inside[list(S)] = True
        vol = deg[inside].sum()
        if 0 < vol <= deg.sum() / 2:
            best = min(best, A[inside][:, ~inside].sum() / vol)
    return best


def brute_vertex_expansion(B, max_fraction):
    b = B != 0
    n_l = b.shape[1]
    best = math.inf
    for X in subsets(range(n_l), 1, int(math.floor(max_fraction * n_l + 1e-9))):
        best = min(best, b[:, list(X)].any(axis=1).sum() / len(X))
    return best


def brute_mixing_ratio(B):
    b = (B != 0).astype(float)
    n_r, n_l = b.shape
    E = b.sum()
    best = 0.0
    for S in subsets(range(n_l), 1, n_l - 1):
        for T in subsets(range(n_r), 1, n_r - 1):
            s, t = len(S), len(T)
            disc = abs(b[np.ix_(T, S)].sum() - E * s * t / (n_l * n_r))
            best = max(best, disc / math.sqrt(s * t * (1 - s / n_l) * (1 - t / n_r)))
    return best


# --------------------------------------------------------------------------- the bounds hold


@settings(max_examples=300, deadline=None)
@given(biregular_graphs())
def test_biregular_mixing_lemma_holds_for_every_pair(B):
    ratio = max_mixing_ratio(B)
    n_r, n_l = B.shape
    if n_r < 2 or n_l < 2:
        assert ratio is None
        return
    assert ratio <= sigma2(B) + TOL


@settings(max_examples=300, deadline=None)
@given(biregular_graphs(), st.data())
def test_biregular_mixing_lemma_on_random_sets(B, data):
    n_r, n_l = B.shape
    S = data.draw(st.lists(st.booleans(), min_size=n_l, max_size=n_l))
    T = data.draw(st.lists(st.booleans(), min_size=n_r, max_size=n_r))
    S, T = np.array(S, bool), np.array(T, bool)
    bound = mixing_bound_biregular(sigma2(B), n_l, n_r, int(S.sum()), int(T.sum()))
    disc = mixing_discrepancy(B, S, T)
    assert disc <= bound + TOL
    # index arrays give the same as masks
    assert mixing_discrepancy(B, np.flatnonzero(S), np.flatnonzero(T)) == pytest.approx(disc, abs=1e-12)


@settings(max_examples=300, deadline=None)
@given(any_graph)
def test_normalized_mixing_lemma_holds_for_every_pair(W):
    """Exhaustive over all 2^n_L x 2^n_R pairs (S, T), binary, irregular and weighted graphs."""
    W = np.abs(W)
    assume(W.any())  # an empty graph has nothing to bound (vol = 0)
    n_r, n_l = W.shape
    s2N = float(top_singular_values(normalized_biadjacency(W), 2)[1])
    XS, XT = subsets_matrix(n_l), subsets_matrix(n_r)
    e = XT @ W @ XS.T  # e[T, S]
    vol_S = XS @ W.sum(axis=0)
    vol_T = XT @ W.sum(axis=1)
    vol = W.sum()
    disc = np.abs(e - np.outer(vol_T, vol_S) / vol)
    rhs = s2N * np.sqrt(np.clip(np.outer(vol_T * (1 - vol_T / vol), vol_S * (1 - vol_S / vol)), 0, None))
    assert (disc <= rhs + TOL * max(1.0, vol)).all()
    # the scalar functions agree with the matrix computation on one pair
    iT, iS = len(XT) // 3, len(XS) // 2
    d, vs, vt, v = volume_discrepancy(W, XS[iS] > 0, XT[iT] > 0, weighted=True)
    assert (vs, vt) == pytest.approx((vol_S[iS], vol_T[iT]))
    assert v == pytest.approx(vol) and d == pytest.approx(disc[iT, iS], abs=1e-9)
    # compared squared: sqrt turns a rounding error eps in vol(S)(1 - vol(S)/vol) into sqrt(eps) ~ 1e-8
    # (the product is 0 when S or T holds every edge, and the two routes sum the degrees in different orders)
    bound = mixing_bound_normalized(s2N, vs, vt, v)
    assert bound**2 == pytest.approx(rhs[iT, iS] ** 2, rel=1e-9, abs=1e-12 * max(1.0, vol) ** 4)


@settings(max_examples=300, deadline=None)
@given(biregular_graphs())
def test_tanner_bound_holds_for_every_input_set(B):
    c, d = biregular_degrees(B)
    n_l = B.shape[1]
    s2 = sigma2(B)
    X = subsets_matrix(n_l)[1:]
    neighbours = ((X @ B.T) > 0).sum(axis=1)
    sizes = X.sum(axis=1).astype(int)
    bounds = np.array([tanner_bound(c, d, s2, n_l, k) for k in sizes])
    assert (neighbours >= bounds - TOL).all()
    # at alpha = 1 the bound is exact: N(L) = R
    assert tanner_bound(c, d, s2, n_l, n_l) == pytest.approx(B.shape[0])


@settings(max_examples=300, deadline=None)
@given(any_graph)
def test_conductance_lies_in_cheeger_interval(W):
    for weighted in (False, True):
        G = np.abs(W) if weighted else (W != 0).astype(float)
        gap = normalized_gap(G)
        if gap is None:
            continue
        lower, upper = cheeger_interval(gap)
        phi = exact_conductance(W, weighted=weighted)
        assert lower - TOL <= phi <= upper + TOL


@settings(max_examples=300, deadline=None)
@given(st.one_of(biregular_graphs(), random_graphs()))
def test_edge_expansion_lies_in_mohar_interval(B):
    assume(not (B.shape == (1, 1) and B[0, 0]))  # K_2: Mohar's stated exception, tested below
    lam2 = algebraic_connectivity(B)
    lower, upper = edge_expansion_interval(lam2, max_degree(B))
    h = exact_edge_expansion(B)
    assert lower - TOL <= h <= upper + TOL


def test_mohar_upper_bound_excludes_k2():
    B = np.ones((1, 1))
    assert algebraic_connectivity(B) == pytest.approx(2.0)
    assert exact_edge_expansion(B) == 1.0
    assert edge_expansion_interval(2.0, 1) == (1.0, 0.0)  # the documented exception


# --------------------------------------------------------------------------- tight on extremal families


@pytest.mark.parametrize("m,n", [(2, 2), (3, 3), (4, 4), (2, 5), (3, 6), (1, 4)])
def test_complete_bipartite_is_extremal(m, n):
    B = complete_bipartite(m, n)  # m outputs, n inputs; input degree c = m
    assert sigma2(B) == pytest.approx(0.0, abs=1e-12)
    for S in subsets(range(n), 0):
        for T in subsets(range(m), 0):
            assert mixing_discrepancy(B, list(S), list(T)) == pytest.approx(0.0, abs=1e-12)
    if m > 1 and n > 1:
        assert max_mixing_ratio(B) == pytest.approx(0.0, abs=1e-12)
    c, d = biregular_degrees(B)
    for k in range(1, n + 1):
        assert tanner_bound(c, d, 0.0, n, k) == pytest.approx(m, rel=1e-15)  # = |N(X)| exactly
    assert exact_vertex_expansion(B, 1.0) == pytest.approx(m / n)  # min |N(X)|/|X| at X = L
    lam = normalized_gap(B)
    assert lam == pytest.approx(1.0)
    lower, upper = cheeger_interval(lam)
    phi = exact_conductance(B)
    assert lower - TOL <= phi <= upper + TOL
    if m == n and m % 2 == 0:
        assert phi == 0.5 and lower == pytest.approx(0.5)  # Cheeger's lower bound is attained
        # Mohar's lower bound too: lambda_2(K_{n,n}) = n and h_E = n/2
        assert algebraic_connectivity(B) == pytest.approx(n)
        assert exact_edge_expansion(B) == pytest.approx(edge_expansion_interval(n, n)[0])


@pytest.mark.parametrize("q,l,ratio_over_sigma2", [(3, 2, 0.894427), (3, 3, 0.866025), (5, 2, 0.942809)])
def test_array_code_mixing_and_tanner(q, l, ratio_over_sigma2):
    B = array_code(q, l)  # q^2 outputs of degree l, lq inputs of degree q
    s2 = sigma2(B)
    assert s2 == pytest.approx(math.sqrt(q), rel=1e-12)
    ratio = max_mixing_ratio(B)
    assert ratio <= s2 + TOL
    # not attained: the best 0/1 sets reach about 0.87-0.94 of sigma_2 (measured, exact enumeration)
    assert ratio / s2 == pytest.approx(ratio_over_sigma2, abs=1e-6)
    n_l = B.shape[1]
    X = subsets_matrix(n_l)[1:]
    neighbours, sizes = ((X @ B.T) > 0).sum(axis=1), X.sum(axis=1).astype(int)
    worst = []
    for k in range(1, n_l + 1):
        exact = neighbours[sizes == k].min()
        bound = tanner_bound(q, l, s2, n_l, k)
        assert bound <= exact + TOL
        worst.append(bound / exact)
    assert min(worst) > 0.8  # within 20% of the true minimum at every size
    assert worst[-1] == pytest.approx(1.0)  # exact at X = L


def test_disconnected_graph():
    block = random_biregular(3, 3, 2, rng=1)
    B = np.zeros((6, 6))
    B[:3, :3] = block
    B[3:, 3:] = block
    assert exact_conductance(B) == 0.0
    assert exact_conductance(B * 0.7, weighted=True) == pytest.approx(0.0, abs=1e-15)
    assert exact_edge_expansion(B) == 0.0
    assert algebraic_connectivity(B) == 0.0  # exactly, from the components
    lower, upper = cheeger_interval(normalized_gap(B))
    assert lower == pytest.approx(0.0, abs=1e-12) and upper == pytest.approx(0.0, abs=1e-7)
    # sigma_2 = sigma_1 and the mixing lemma is attained by S, T = one block
    s2 = sigma2(B)
    assert s2 == pytest.approx(2.0)
    assert max_mixing_ratio(B) == pytest.approx(s2, rel=1e-12)
    assert mixing_discrepancy(B, [0, 1, 2], [0, 1, 2]) == pytest.approx(mixing_bound_biregular(s2, 6, 6, 3, 3))
    # and Tanner's bound is exact for X = one block: |N(X)| = 3
    assert tanner_bound(2, 2, s2, 6, 3) == pytest.approx(3.0)


# --------------------------------------------------------------------------- enumerators vs brute force


tiny_graphs = st.one_of(
    biregular_graphs(max_n=5), random_graphs(max_n=5), random_graphs(max_n=5, weighted=True)
)


@settings(max_examples=60, deadline=None)
@given(tiny_graphs)
def test_enumerators_agree_with_brute_force(B):
    n_r, n_l = B.shape
    h = exact_edge_expansion(B)
    assert h == pytest.approx(brute_edge_expansion(B), rel=1e-12)
    for weighted in (False, True):
        phi = exact_conductance(B, weighted=weighted)
        expected = brute_conductance(B, weighted)
        if math.isinf(expected):
            assert phi is None
        else:
            assert phi == pytest.approx(expected, rel=1e-9, abs=1e-12)
    for fraction in (0.5, 1.0, 0.34):
        value = exact_vertex_expansion(B, fraction)
        expected = brute_vertex_expansion(B, fraction)
        assert value == (None if math.isinf(expected) else pytest.approx(expected))
    ratio = max_mixing_ratio(B)
    if n_r < 2 or n_l < 2:
        assert ratio is None
    else:
        assert ratio == pytest.approx(brute_mixing_ratio(B), rel=1e-12, abs=1e-12)


def test_conductance_ignores_isolated_nodes():
    B = np.zeros((12, 12))
    B[:10, :10] = random_biregular(10, 10, 3, rng=2)  # 20 non-isolated nodes, 24 in all
    isolated = exact_conductance(B)
    assert isolated == exact_conductance(B[:10, :10])
    with pytest.raises(ValueError):
        exact_edge_expansion(B)


def test_enumerators_refuse_large_graphs():
    with pytest.raises(ValueError, match="at most 20"):
        exact_edge_expansion(np.ones((11, 10)))
    with pytest.raises(ValueError, match="at most 20"):
        exact_conductance(np.ones((11, 10)))
    with pytest.raises(ValueError, match="at most 16"):
        exact_vertex_expansion(np.ones((2, 17)))
    with pytest.raises(ValueError, match="at most 16"):
        max_mixing_ratio(np.ones((2, 17)))
    with pytest.raises(ValueError):
        exact_vertex_expansion(np.ones((2, 4)), max_fraction=0.0)
    # at the limits they run
    assert exact_edge_expansion(np.ones((10, 10))) == pytest.approx(5.0)
    assert exact_vertex_expansion(np.ones((40, 16))) == pytest.approx(40 / 8)


def test_degenerate_inputs():
    assert exact_conductance(np.zeros((3, 4))) is None
    assert exact_edge_expansion(np.zeros((3, 4))) == 0.0
    assert exact_edge_expansion(np.zeros((1, 0))) is None
    assert exact_vertex_expansion(np.ones((3, 1))) is None  # floor(0.5 * 1) = 0
    assert max_mixing_ratio(np.ones((1, 5))) is None
    assert algebraic_connectivity(np.zeros((1, 0))) is None
    with pytest.raises(ValueError):
        mixing_discrepancy(np.ones((2, 3)), [3], [0])
    with pytest.raises(ValueError):
        mixing_discrepancy(np.ones((2, 3)), np.ones(2, bool), [0])


# --------------------------------------------------------------------------- algebraic connectivity


@pytest.mark.parametrize("m,n", [(2, 3), (4, 4), (1, 5), (6, 2)])
def test_algebraic_connectivity_of_complete_bipartite(m, n):
    # Laplacian spectrum of K_{m,n}: 0, m (n-1 times), n (m-1 times), m + n
    assert algebraic_connectivity(complete_bipartite(m, n)) == pytest.approx(min(m, n))


def _sparse_cases():
    """Connected graphs of at most ~250 nodes (the dense reference stays cheap)."""
    rng = np.random.default_rng(3)
    hub = (rng.random((100, 120)) < 0.03).astype(float)
    hub[:, 0] = 1.0  # connected through a hub
    hub[0, :] = 1.0
    barbell = np.zeros((120, 120))  # two dense halves joined by one edge: lambda_2 ~ 1e-2
    barbell[:60, :60] = rng.random((60, 60)) < 0.25
    barbell[60:, 60:] = rng.random((60, 60)) < 0.25
    barbell[0, 90] = 1.0
    return {"hub": hub, "barbell": barbell, "biregular": random_biregular(80, 120, 6, rng=1)}


@pytest.mark.parametrize("name", sorted(_sparse_cases()))
def test_algebraic_connectivity_sparse_matches_dense(name):
    B = _sparse_cases()[name]
    assert sum(B.shape) > 8  # the sparse path really runs
    dense = algebraic_connectivity(B, "dense")
    sparse = algebraic_connectivity(B, "sparse")
    assert dense > 0 and sparse == pytest.approx(dense, rel=1e-8)


def test_algebraic_connectivity_closed_forms_sparse():
    # C_600 as a 300 x 300 biadjacency: lambda_2 = 2 - 2 cos(2 pi / 600) ~ 1.1e-4
    cycle = np.eye(300) + np.roll(np.eye(300), 1, axis=1)
    assert algebraic_connectivity(cycle, "sparse") == pytest.approx(2 - 2 * math.cos(math.pi / 300), rel=1e-8)
    # (c, d)-biregular: L has eigenvalues ((c + d) -+ sqrt((c - d)^2 + 4 sigma^2)) / 2 for each sigma of B,
    # and c or d for the zero ones; array_code(13, 5): c = 13, d = 5, sigma_2 = sqrt(13)
    expected = (18 - math.sqrt(64 + 4 * 13)) / 2
    assert algebraic_connectivity(array_code(13, 5), "sparse") == pytest.approx(expected, rel=1e-10)
    assert algebraic_connectivity(array_code(5, 3)) == pytest.approx((8 - math.sqrt(4 + 20)) / 2, rel=1e-10)


def test_algebraic_connectivity_sparse_fallback(monkeypatch):
    import scipy.sparse.linalg

    def broken(*args, **kwargs):
        raise np.linalg.LinAlgError("no convergence")

    monkeypatch.setattr(scipy.sparse.linalg, "lobpcg", broken)
    B = _sparse_cases()["barbell"]
    assert algebraic_connectivity(B, "sparse") == pytest.approx(algebraic_connectivity(B, "dense"), rel=1e-8)


def test_algebraic_connectivity_disconnected_is_zero():
    block = random_biregular(150, 150, 4, rng=5)
    B = np.zeros((300, 300))
    B[:150, :150] = block
    B[150:, 150:] = block
    assert algebraic_connectivity(B, "sparse") == 0.0 and algebraic_connectivity(B, "dense") == 0.0


# --------------------------------------------------------------------------- IMDB


def test_imdb_hand_built():
    cycle = np.array([[1, 1, 0], [0, 1, 1], [1, 0, 1]], float)  # C_6: sigma = 2, 1, 1; bound 2
    full = np.ones((3, 3))  # K_{3,3}: sigma_2 = 0; bound 2 sqrt(2)
    lone = np.array([[1], [0], [0]], float)  # degree 1, a group of one: skipped
    B = np.hstack([cycle, lone, full])
    assert imdb(B) == pytest.approx((1.0 + 2 * math.sqrt(2)) / 2, rel=1e-12)
    assert imdb(cycle) == pytest.approx(1.0, rel=1e-12)
    # the group's bound uses its own average output degree over non-isolated outputs
    padded = np.vstack([cycle, np.zeros((2, 3))])
    assert imdb(padded) == pytest.approx(1.0, rel=1e-12)


def test_imdb_none_without_groups_of_three():
    B = np.array([[1, 1, 1, 0], [1, 1, 0, 0], [0, 1, 1, 1]], float)  # input degrees 2, 3, 2, 1
    assert list((B != 0).sum(axis=0)) == [2, 3, 2, 1]  # groups of sizes 2, 1, 1: none qualifies
    assert imdb(B) is None
    assert imdb(np.zeros((3, 5))) is None  # isolated inputs form no group


# --------------------------------------------------------------------------- expansion_bounds


def test_expansion_bounds_biregular():
    B = array_code(3, 2)
    out = expansion_bounds(B)
    assert isinstance(out, ExpansionBounds)
    assert out.mixing == {"form": "biregular", "coefficient": pytest.approx(math.sqrt(3))}
    n_l = B.shape[1]
    sizes = [max(1, round(a * n_l)) for a in out.tanner["alpha"]]
    assert out.tanner["alpha"] == [0.05, 0.1, 0.25, 0.5]
    assert out.tanner["min_neighbours_per_node"] == pytest.approx(
        [tanner_bound(3, 2, math.sqrt(3), n_l, k) / k for k in sizes]
    )
    assert out.cheeger["lambda"] == pytest.approx(normalized_gap(B))
    assert out.cheeger["lower"] <= out.exact["conductance"] <= out.cheeger["upper"]
    assert out.exact["mixing_ratio"] <= out.mixing["coefficient"] + TOL
    assert out.exact["vertex_expansion"] == exact_vertex_expansion(B)
    assert out.imdb == pytest.approx(imdb(B))
    # given sigma values are used as they are
    given_values = expansion_bounds(B, sigma2=1.5, normalized_sigma2=0.25)
    assert given_values.mixing["coefficient"] == 1.5 and given_values.cheeger["lambda"] == 0.75


def test_expansion_bounds_irregular_and_limits():
    rng = np.random.default_rng(4)
    B = (rng.random((30, 12)) < 0.4).astype(float)
    B[0, :] = 1.0
    out = expansion_bounds(B)
    assert out.mixing["form"] == "normalized" and out.tanner is None
    assert out.mixing["coefficient"] == pytest.approx(1.0 - normalized_gap(B))
    assert out.exact["edge_expansion"] is None and out.exact["conductance"] is None  # 42 nodes
    assert out.exact["vertex_expansion"] == exact_vertex_expansion(B)
    big = expansion_bounds((rng.random((40, 30)) < 0.2).astype(float))
    assert big.exact is None


@pytest.mark.parametrize(
    "B",
    [
        array_code(3, 2),
        np.zeros((4, 5)),
        np.ones((1, 1)),
        complete_bipartite(3, 4),
        np.random.default_rng(0).standard_normal((6, 5)) * (np.random.default_rng(1).random((6, 5)) < 0.5),
        np.random.default_rng(2).random((25, 20)) < 0.1,
    ],
)
def test_to_dict_is_strict_json(B):
    d = expansion_bounds(B).to_dict()
    text = json.dumps(d, allow_nan=False)
    assert json.loads(text) == d
    assert set(d) == {"mixing", "tanner", "cheeger", "imdb", "exact"}


def test_to_dict_replaces_non_finite():
    out = ExpansionBounds(mixing={"form": "normalized", "coefficient": float("nan")}, tanner=None,
                          cheeger={"lambda": np.float64(np.inf), "lower": 0.0, "upper": 1.0},
                          imdb=None, exact=None)
    d = out.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["mixing"]["coefficient"] is None and d["cheeger"]["lambda"] is None
