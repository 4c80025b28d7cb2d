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
    for method in ("bisect", "fast", "dual"):
        assert cover_radius_bounds(np.zeros((0, 0)), method=method) is None
        assert cover_radius_bounds(np.zeros((3, 4)), method=method) is None
        assert cover_radius_bounds(np.ones((1, 1)), method=method).value == pytest.approx(1.0)


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


def test_large_graph_takes_the_fast_route_by_default(monkeypatch):
    import graphtools.cover

    def refuse(*args):
        raise AssertionError("the bisection route ran where the fast route certifies")

    monkeypatch.setattr(graphtools.cover, "_bisect_bounds", refuse)
    rng = np.random.default_rng(9)
    B = sp.csr_matrix(_random_irregular(rng, 300, 200, 0.35))
    assert B.nnz >= 20_000
    r = cover_radius_bounds(B)
    assert r.steps == 0 and r.certified
    assert ramanujan_bound(B) <= r.value <= top_singular_values(B, 1)[0]
    assert cover_radius(B) == r.value


# Graphs the fast and dual routes left uncertified: components with at most one cycle (sigma_1 exactly),
# heavy-tailed degrees and small random graphs (the bisection route).  Each bracket is checked against
# an independent computation: the tree recursion run here on the non-backtracking matrix.


def _small_random_graphs(seed=0):
    """27 random 9 x 7 graphs of densities 0.15 to 0.6 (the set docs/measures.md reports on)."""
    rng = np.random.default_rng(seed)
    return [(rng.random((9, 7)) < p).astype(float) for p in np.linspace(0.15, 0.6, 27)]


def _pareto_graph(seed=1, m=600, n=200, density=0.05):
    """Edge (i, j) with probability min(1, c a_i b_j), a and b Pareto(1.5) propensities, c for the density."""
    rng = np.random.default_rng(seed)
    P = np.outer(rng.pareto(1.5, m) + 1.0, rng.pareto(1.5, n) + 1.0)
    return (rng.random((m, n)) < np.minimum(P * (density * m * n / P.sum()), 1.0)).astype(float)


def _recursion_verdicts(B, levels, steps=20_000, slack=1e-6):
    """For each ``z`` of ``levels``: ``g = 1 / (z - N g)`` from ``g = 0``, with ``N`` the non-backtracking
    matrix (built here from scratch: arcs ``a`` and ``a'`` with ``head(a) = tail(a')``, less reversals).
    "below": a denominator, or ``z`` minus the sum of ``g`` out of a vertex, reached 0, so a finite subtree of
    the cover has its top eigenvalue >= z (rho >= z).  "above": ``g`` (all positive) meets Pruitt's criterion
    at ``z (1 + slack)`` (``1/g + N g`` on every arc and the sum of ``g`` out of every vertex at most that), so
    rho <= that.  "open": neither within ``steps``."""
    rows, cols = np.nonzero(np.asarray(B))
    m, arcs = np.asarray(B).shape[0], 2 * rows.size
    tails, heads = np.r_[rows, m + cols], np.r_[m + cols, rows]
    out = sp.csr_matrix((np.ones(arcs), (tails, np.arange(arcs))))  # vertex x arc: the arcs leaving it
    into = sp.csr_matrix((np.ones(arcs), (np.arange(arcs), heads)), shape=(arcs, out.shape[0]))
    flip = sp.csr_matrix((np.ones(arcs), (np.arange(arcs), np.r_[np.arange(rows.size) + rows.size,
                                                                    np.arange(rows.size)])))
    N = (into @ out - flip).tocsr()
    verdicts = []
    for z in levels:
        g, verdict = np.zeros(arcs), "open"
        for _ in range(steps):
            denominator = z - N @ g
            if denominator.min() <= 0 or (out @ g).max() >= z:  # a branch, or a vertex with all its branches
                verdict = "below"
                break
            g = 1.0 / denominator
            if (1.0 / g + N @ g).max() <= z * (1 + slack) and (out @ g).max() <= z * (1 + slack):
                verdict = "above"
                break
        verdicts.append(verdict)
    return verdicts


def test_small_random_graphs_are_certified_within_rtol():
    for B in _small_random_graphs():
        r = cover_radius_bounds(B)
        assert r.certified and r.upper - r.lower <= 1e-6 * r.upper
        assert ramanujan_bound(B) * (1 - 1e-9) <= r.value <= top_singular_values(B, 1)[0] * (1 + 1e-9)
        root = int(np.argmax(np.r_[B.sum(1), B.sum(0)]))
        assert _truncated_cover_radius(B, root, 3) <= r.upper
        # rho lies in [lower (1 - 1e-6), upper (1 + 2e-6)] by the recursion run here
        assert _recursion_verdicts(B, [r.lower * (1 - 1e-6), r.upper * (1 + 1e-6)]) == ["below", "above"]


def test_heavy_tailed_degrees_are_certified():
    B = _pareto_graph()
    degrees = np.r_[B.sum(1), B.sum(0)]
    assert degrees.max() >= 300 and np.median(degrees) <= 20  # hubs
    r = cover_radius_bounds(sp.csr_matrix(B))
    assert r.certified and r.upper - r.lower <= 1e-6 * r.upper
    assert ramanujan_bound(B) <= r.value <= top_singular_values(B, 1)[0]
    assert _recursion_verdicts(B, [r.lower * (1 - 1e-5), r.upper * (1 + 1e-5)]) == ["below", "above"]


def _hub_graph(leaves):
    """Two 4-cycles sharing an edge (two independent cycles), and a hub output joined to one of its inputs
    and to ``leaves`` inputs of degree 1."""
    core = np.eye(4) + np.roll(np.eye(4), 1, axis=1)
    core[0, 2] = 1.0
    B = np.zeros((5, 4 + leaves))
    B[:4, :4], B[4, 4:], B[4, 0] = core, 1.0, 1.0
    return B


def test_a_hub_puts_rho_next_to_sigma_1_and_every_route_agrees():
    B = _hub_graph(100)
    s1 = top_singular_values(B, 1)[0]
    default, bisect = cover_radius_bounds(B), cover_radius_bounds(B, method="bisect")
    for r in (default, bisect):
        assert r.certified and r.lower <= s1
        assert s1 - r.lower <= 1e-6 * s1  # the hub's star dominates: rho is within 1e-6 of sigma_1 ...
    # ... yet below it (the cover has two independent cycles), by the recursion run here
    top = default.upper * (1 + 1e-9)
    assert top * (1 + 1e-10) < s1
    assert _recursion_verdicts(B, [s1 * (1 - 1e-6), top], slack=1e-10) == ["below", "above"]
    assert default.lower <= bisect.upper and bisect.lower <= default.upper


def test_components_with_at_most_one_cycle_give_sigma_1():
    tree = np.zeros((4, 5))
    tree[0, :4] = tree[1, 3:] = tree[2, [1, 4]] = tree[3, 2] = 1.0  # 9 nodes, 8 edges
    unicyclic = np.zeros((4, 6))
    unicyclic[:3, :3] = np.eye(3) + np.roll(np.eye(3), 1, axis=1)  # a 6-cycle
    unicyclic[0, 3:] = unicyclic[3, 5] = 1.0  # with a hub and a path hanging off
    for block in (tree, unicyclic):
        s1 = top_singular_values(block, 1)[0]
        r = cover_radius_bounds(block)
        assert r.certified and r.steps == 0
        assert r.lower <= s1 <= r.upper and r.upper - r.lower <= 1e-9 * s1
        # balls of the cover (a finite tree, or one lifting Z) grow towards sigma_1
        radii = [_truncated_cover_radius(block, 0, depth) for depth in (4, 12, 30)]
        assert radii == sorted(radii) and radii[-1] <= s1 * (1 + 1e-12) and radii[-1] >= s1 - 2e-3 * s1
    # more than PERRON_DENSE_SIDE nodes a side: bisection on inertia; a path of 600 nodes, a 600-cycle
    path = sp.eye(300, format="csr") + sp.eye(300, k=1, format="csr")
    for block, exact in ((path, 2 * math.cos(math.pi / 601)), (sp.csr_matrix(_cycle(300)), 2.0)):
        r = cover_radius_bounds(block)
        assert r.certified and r.steps == 0 and r.lower <= exact <= r.upper and r.upper - r.lower <= 1e-11
    both = sp.block_diag([tree, 2 * unicyclic]).toarray()  # weights are ignored: the larger component
    assert cover_radius(both) == pytest.approx(max(top_singular_values(tree, 1)[0],
                                                   top_singular_values(unicyclic, 1)[0]), rel=1e-9)
    with pytest.raises(ValueError, match="bisect"):
        cover_radius_bounds(tree, method="newton")
