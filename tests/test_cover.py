"""Universal-cover spectral radius: closed forms, the star, complete bipartite graphs, a brute-force
truncated-cover comparison and the Hoory / sigma_1 sandwich on random irregular graphs."""

import math

import numpy as np
import pytest
import scipy.sparse as sp

from graphtools.cover import cover_radius_bounds
from graphtools.spectral import cover_radius, ramanujan_bound, top_singular_values


def _cycle(n):
    return np.eye(n) + np.roll(np.eye(n), 1, axis=1)


def _truncated_cover_radius(B, root, depth):
    """Largest eigenvalue of the depth-``depth`` ball of the universal cover around ``root``
    (nodes outputs first), built explicitly as non-backtracking walks."""
    B = np.asarray(B) != 0
    m, n = B.shape
    nbrs = [list(np.flatnonzero(B[v]) + m) if v < m else list(np.flatnonzero(B[:, v - m])) for v in range(m + n)]
    edges, frontier, count = [], [(0, root, -1)], 1
    for _ in range(depth):
        nxt = []
        for node, v, parent in frontier:
            for w in nbrs[v]:
                if w != parent:
                    edges.append((node, count))
                    nxt.append((count, w, v))
                    count += 1
        frontier = nxt
    A = sp.coo_matrix((np.ones(len(edges)), tuple(zip(*edges))), shape=(count, count)) if edges else None
    if A is None:
        return 0.0
    A = (A + A.T).toarray()
    return float(np.linalg.eigvalsh(A)[-1])


@pytest.mark.parametrize("c,d", [(2, 2), (2, 3), (3, 5), (4, 4)])
def test_biregular_closed_form_by_the_iteration(c, d):
    # K_{d,c}: every output has degree c... use complete bipartite d x c: outputs degree c, inputs degree d
    B = np.ones((d, c))
    expected = math.sqrt(c - 1) + math.sqrt(d - 1)
    r = cover_radius_bounds(B)
    assert r.lower <= expected * (1 + 1e-12) and r.upper >= expected * (1 - 1e-12)
    assert r.value == pytest.approx(expected, rel=1e-5)
    assert cover_radius(B) == pytest.approx(expected, rel=1e-12)


def test_cycles_have_cover_radius_two():
    for n in (3, 4, 7):
        assert cover_radius_bounds(_cycle(n)).value == pytest.approx(2.0, rel=1e-5)


@pytest.mark.parametrize("c", [1, 2, 3, 7])
def test_star(c):
    for B in (np.ones((1, c)), np.ones((c, 1))):
        assert cover_radius_bounds(B).value == pytest.approx(math.sqrt(c), rel=1e-6)
        assert cover_radius(B) == pytest.approx(math.sqrt(c), rel=1e-6)
    if c > 1:  # the average-degree formula gives sqrt(c - 1) for the star
        assert ramanujan_bound(np.ones((1, c))) == pytest.approx(math.sqrt(c - 1))


def test_a_tree_is_its_own_cover():
    B = np.array([[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1]], float)  # a path on 7 nodes
    assert cover_radius_bounds(B).value == pytest.approx(top_singular_values(B, 1)[0], rel=1e-6)


def _random_irregular(rng, m, n, p):
    B = (rng.random((m, n)) < p).astype(float)
    return B


def test_random_irregular_against_truncated_cover():
    rng = np.random.default_rng(7)
    for _ in range(4):
        B = _random_irregular(rng, 7, 6, 0.45)
        if not B.any():
            continue
        r = cover_radius_bounds(B)
        s1 = top_singular_values(B, 1)[0]
        root = int(np.argmax(np.r_[B.sum(1), B.sum(0)]))
        previous = 0.0
        for depth in (2, 3, 4, 5):
            value = _truncated_cover_radius(B, root, depth)
            assert value >= previous - 1e-9  # balls grow, so their radii do
            assert value <= r.upper * (1 + 1e-9)  # and stay below rho(T)
            previous = value
        assert r.lower <= r.upper and r.upper <= s1 * (1 + 1e-9)
        assert previous >= 0.7 * r.value  # the depth-5 ball is already close


def test_sandwich_on_random_graphs():
    rng = np.random.default_rng(11)
    for _ in range(15):
        m, n = rng.integers(2, 12, size=2)
        B = _random_irregular(rng, m, n, rng.uniform(0.15, 0.7))
        value = cover_radius(B)
        if not B.any():
            assert value is None
            continue
        s1 = top_singular_values(B, 1)[0]
        hoory = ramanujan_bound(B)
        assert value <= s1 * (1 + 1e-9)
        if hoory is not None:
            assert value >= hoory * (1 - 1e-6)


def test_disconnected_takes_the_largest_component():
    B = sp.block_diag([np.ones((1, 4)), _cycle(5)]).toarray()
    assert cover_radius(B) == pytest.approx(2.0, rel=1e-5)
    B = sp.block_diag([np.ones((1, 9)), _cycle(5)]).toarray()
    assert cover_radius(B) == pytest.approx(3.0, rel=1e-5)


def test_degenerate_inputs():
    assert cover_radius(np.zeros((0, 0))) is None
    assert cover_radius(np.zeros((3, 4))) is None
    assert cover_radius(np.zeros((1, 1))) is None
    assert cover_radius(np.ones((1, 1))) == pytest.approx(1.0)
    padded = np.zeros((5, 5))
    padded[:3, :2] = 1.0  # K_{3,2} with isolated nodes around it
    assert cover_radius(padded) == pytest.approx(1 + math.sqrt(2))
    with pytest.raises(ValueError):
        cover_radius_bounds(np.ones((2, 2)), rtol=float("nan"))


def test_analyze_reports_cover_fields_and_nulls(tmp_path):
    import json

    from click.testing import CliRunner

    from graphtools.cli import main

    star = np.zeros((6, 5), np.float32)
    star[0, :] = 1.0  # one output joined to all 5 inputs: K_{1,5}, plus isolated outputs
    ckpt = tmp_path / "odd.npz"
    np.savez(ckpt, **{"a.weight": star, "b.weight": np.zeros((3, 4), np.float32),
                      "c.weight": np.ones((1, 1), np.float32)})
    result = CliRunner().invoke(main, ["analyze", str(ckpt), "--format", "json"])
    assert result.exit_code == 0, result.output
    layers = {layer["name"]: layer for layer in json.loads(result.output)["layers"]}
    a, b, c = layers["a.weight"], layers["b.weight"], layers["c.weight"]
    assert a["cover_bound"] == pytest.approx(math.sqrt(5)) and a["is_ramanujan_cover"] is True
    assert a["ramanujan_bound"] == pytest.approx(2.0)  # sqrt(5 - 1) + sqrt(1 - 1)
    assert a["cover_gap"] == pytest.approx(a["cover_bound"] - a["sigma2"])
    assert b["cover_bound"] is None and b["cover_gap"] is None and b["is_ramanujan_cover"] is None
    assert c["cover_bound"] == pytest.approx(1.0)
    table = CliRunner().invoke(main, ["analyze", str(ckpt)])
    assert table.exit_code == 0 and " cover " in table.output


# The fast route (vertex Newton to the fold, certified by a dual bound): forced with method="fast"
# on small graphs, against closed forms, the dual iteration and the truncated cover.


def _biregular(n, c, copies):
    """Rows: ``copies`` copies of each row of an ``n x n`` circulant with ``c`` ones per row, so each
    output has degree ``c`` and each input degree ``copies * c``; not a complete bipartite graph."""
    circulant = sum(np.roll(np.eye(n), shift, axis=1) for shift in (0, 1, 3, 7, 12)[:c])
    return np.kron(circulant, np.ones((copies, 1)))


@pytest.mark.parametrize("n,c,copies", [(20, 3, 1), (20, 3, 2), (30, 4, 3), (25, 5, 1)])
def test_fast_route_biregular_closed_form(n, c, copies):
    B = _biregular(n, c, copies)
    assert (B.sum(1) == c).all() and (B.sum(0) == copies * c).all()
    expected = math.sqrt(c - 1) + math.sqrt(copies * c - 1)
    r = cover_radius_bounds(B, method="fast")
    assert r.certified and r.steps == 0  # the fast route itself certified it
    assert r.lower <= expected * (1 + 1e-9) and r.upper >= expected * (1 - 1e-9)
    assert r.value == pytest.approx(expected, rel=1e-6)


def test_fast_route_agrees_with_the_dual_iteration():
    rng = np.random.default_rng(3)
    for _ in range(6):
        m, n = rng.integers(8, 40, size=2)
        B = _random_irregular(rng, m, n, rng.uniform(0.2, 0.6))
        fast, dual = cover_radius_bounds(B, method="fast"), cover_radius_bounds(B, method="dual")
        assert fast.certified and fast.upper - fast.lower <= 1e-6 * fast.upper
        # both are certified brackets of the same number: they overlap
        assert fast.lower <= dual.upper * (1 + 1e-12) and dual.lower <= fast.upper * (1 + 1e-12)
        if dual.certified:
            assert fast.value == pytest.approx(dual.value, rel=2e-6)


def test_fast_route_against_truncated_cover_and_sandwich():
    rng = np.random.default_rng(5)
    for _ in range(3):
        B = _random_irregular(rng, 7, 6, 0.5)
        if not B.any():
            continue
        r = cover_radius_bounds(B, method="fast")
        root = int(np.argmax(np.r_[B.sum(1), B.sum(0)]))
        for depth in (3, 5):
            assert _truncated_cover_radius(B, root, depth) <= r.upper * (1 + 1e-9)
        assert r.upper <= top_singular_values(B, 1)[0] * (1 + 1e-9)
        hoory = ramanujan_bound(B)
        assert hoory is None or r.value >= hoory * (1 - 1e-9)


def test_fast_route_falls_back_where_the_fold_is_at_infinity():
    # a cycle's cover is the line (rho = 2), a tree is its own cover: no fold at finite x,
    # so the dual iteration answers; a disconnected graph takes its largest component
    assert cover_radius_bounds(_cycle(6), method="fast").value == pytest.approx(2.0, rel=1e-5)
    path = np.array([[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1]], float)
    assert cover_radius_bounds(path, method="fast").value == pytest.approx(top_singular_values(path, 1)[0], rel=1e-6)
    B = sp.block_diag([np.ones((1, 9)), _biregular(20, 3, 1)]).toarray()
    assert cover_radius_bounds(B, method="fast").value == pytest.approx(3.0, rel=1e-6)
    with pytest.raises(ValueError):
        cover_radius_bounds(np.ones((2, 2)), method="newton")


def test_large_graph_takes_the_fast_route_by_default():
    rng = np.random.default_rng(9)
    B = sp.csr_matrix(_random_irregular(rng, 300, 200, 0.35))
    assert B.nnz >= 20_000
    r = cover_radius_bounds(B)
    assert r.steps == 0 and r.certified
    assert ramanujan_bound(B) <= r.value <= top_singular_values(B, 1)[0]
    assert cover_radius(B) == r.value
