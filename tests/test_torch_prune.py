"""graphtools.torch.prune: torch.nn.utils.prune methods whose masks equal graphtools prune's."""

import numpy as np
import pytest

from graphtools.errors import GraphtoolsError
from graphtools.prune import InfeasibleSparsity, prune_state, unit_rng
from graphtools.spectral import is_ramanujan, ramanujan_bound, top_singular_values

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch.nn.utils import prune  # noqa: E402

from graphtools.torch import prune as gprune  # noqa: E402


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(8, 8)
        self.fc = nn.Linear(8, 3)


def _net(seed=0):
    torch.manual_seed(seed)
    return Net()


def _file_mask(model, method, amount, name, **options):
    """The mask graphtools prune writes for ``name`` (the library call behind the CLI)."""
    state = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    _, masks, _ = prune_state(state, method=method, sparsity=amount, **options)
    return masks[name]


def _mask(module, name):
    return getattr(module, name + "_mask").numpy() != 0


@pytest.mark.parametrize("method, call", [
    ("biregular", lambda m: gprune.random_biregular(m.rnn, "weight_hh_l0", 0.75, seed=5, key="rnn.weight_hh_l0")),
    ("array-code", lambda m: gprune.array_code(m.rnn, "weight_hh_l0", 2 / 3)),
    ("ramanujan-guard", lambda m: gprune.ramanujan_guard(m.rnn, "weight_hh_l0", 0.6, rounds=4)),
])
def test_masks_equal_the_file_based_masks(method, call):
    model = _net()
    options = {"seed": 5} if method == "biregular" else {"rounds": 4} if method == "ramanujan-guard" else {}
    expected = _file_mask(model, method, {"biregular": 0.75, "array-code": 2 / 3}.get(method, 0.6),
                          "rnn.weight_hh_l0", **options)
    call(model)
    assert np.array_equal(_mask(model.rnn, "weight_hh_l0"), expected)
    weight = model.rnn.weight_hh_l0.detach().numpy()
    assert np.all(weight[~expected] == 0)


def test_key_defaults_to_the_parameter_name():
    lstm = _net().rnn
    expected = _file_mask(lstm, "biregular", 0.5, "weight_ih_l0", seed=2)
    gprune.random_biregular(lstm, "weight_ih_l0", 0.5, seed=2)
    assert np.array_equal(_mask(lstm, "weight_ih_l0"), expected)
    degrees = expected.sum(axis=1)
    assert degrees.max() - degrees.min() <= 1


def test_masks_compose_and_remove_makes_them_permanent():
    model = _net(1)
    rnn = model.rnn
    prune.l1_unstructured(rnn, "weight_hh_l0", amount=0.3)
    first = _mask(rnn, "weight_hh_l0")
    method = gprune.ramanujan_guard(rnn, "weight_hh_l0", 0.5, rounds=5)
    second = _mask(rnn, "weight_hh_l0")
    assert isinstance(method, prune.PruningContainer)
    assert np.all(second <= first) and second.sum() < first.sum()
    gprune.random_biregular(rnn, "weight_hh_l0", 0.5, seed=0)
    third = _mask(rnn, "weight_hh_l0")
    assert np.all(third <= second)
    out, _ = rnn(torch.randn(3, 2, 8))  # the forward pre-hook still works
    prune.remove(rnn, "weight_hh_l0")
    assert not hasattr(rnn, "weight_hh_l0_orig") and not hasattr(rnn, "weight_hh_l0_mask")
    assert np.array_equal(rnn.weight_hh_l0.detach().numpy() != 0, third)


def test_guard_on_a_pruned_weight_prunes_a_fraction_of_the_remaining():
    model = _net(2)
    prune.l1_unstructured(model.rnn, "weight_hh_l0", amount=0.5)  # 128 of 256 kept
    method = gprune.ramanujan_guard(model.rnn, "weight_hh_l0", 0.25, rounds=2)
    guard = method[-1]
    kept = _mask(model.rnn, "weight_hh_l0")
    assert guard.stop.reason == "reached target" and kept.sum() == 96  # 128 - round(0.25 * 128)
    assert is_ramanujan(*top_singular_values(kept.astype(float), 2), ramanujan_bound(kept.astype(float)))


def test_guard_stop_is_reported():
    model = _net(3)
    method = gprune.ramanujan_guard(model.rnn, "weight_hh_l0", 0.97, rounds=3)
    assert method.stop.round < 3 and "not Ramanujan" in method.stop.reason
    kept = _mask(model.rnn, "weight_hh_l0")
    assert is_ramanujan(*top_singular_values(kept.astype(float), 2), ramanujan_bound(kept.astype(float)))


@pytest.mark.parametrize("amount", [1.0, -0.1, 1.5, "half", True])
def test_amount_outside_the_unit_interval_is_an_error(amount):
    rnn = nn.RNN(4, 4)
    with pytest.raises(GraphtoolsError, match=r"amount must be a fraction in \[0, 1\)"):
        gprune.random_biregular(rnn, "weight_hh_l0", amount)
    assert "weight_hh_l0" in dict(rnn.named_parameters())  # nothing changed


def test_a_bad_amount_on_a_pruned_weight_keeps_the_old_pruning():
    rnn = nn.RNN(4, 4)
    prune.l1_unstructured(rnn, "weight_hh_l0", amount=0.25)
    with pytest.raises(GraphtoolsError, match="amount must be"):
        gprune.ramanujan_guard(rnn, "weight_hh_l0", 2.0)
    assert [type(h) for h in rnn._forward_pre_hooks.values()] == [prune.L1Unstructured]
    prune.remove(rnn, "weight_hh_l0")
    assert int((rnn.weight_hh_l0 == 0).sum()) == 4


def test_a_method_that_cannot_reach_the_amount_leaves_the_old_pruning():
    rnn = nn.RNN(6, 6)
    prune.l1_unstructured(rnn, "weight_hh_l0", amount=0.2)
    before = _mask(rnn, "weight_hh_l0")
    with pytest.raises(InfeasibleSparsity, match="array-code masks have density 1/q") as info:
        gprune.array_code(rnn, "weight_hh_l0", 0.4)
    assert "\n" not in str(info.value)
    with pytest.raises(InfeasibleSparsity, match="biregular mask needs at least one edge"):
        gprune.random_biregular(rnn, "weight_ih_l0", 0.95)
    assert "weight_ih_l0" in dict(rnn.named_parameters())  # rolled back by torch
    assert np.array_equal(_mask(rnn, "weight_hh_l0"), before)
    prune.remove(rnn, "weight_hh_l0")  # the old pruning's hook is still there


def test_only_2d_weights():
    rnn = nn.RNN(4, 4)
    with pytest.raises(GraphtoolsError, match="prunes 2-D weight matrices"):
        gprune.array_code(rnn, "bias_hh_l0", 0.5)


def test_global_unstructured_refuses_whole_matrix_methods():
    model = _net()
    with pytest.raises(TypeError, match="unstructured"):
        prune.global_unstructured([(model.rnn, "weight_hh_l0")], pruning_method=gprune.RamanujanGuard,
                                  amount=0.5)


def test_unknown_guard_definition_is_an_error():
    with pytest.raises(GraphtoolsError, match="nonsense"):
        gprune.ramanujan_guard(nn.RNN(4, 4), "weight_hh_l0", 0.5, definition="nonsense")


def test_rewire_keeps_every_degree_and_equals_the_library_call():
    from graphtools.constructions import rewire as rewire_mask

    rnn = nn.RNN(8, 8)
    prune.l1_unstructured(rnn, "weight_hh_l0", amount=0.75)
    old = rnn.weight_hh_l0_mask.numpy() != 0
    method = gprune.rewire(rnn, "weight_hh_l0", target="poor", seed=3, key="rnn.weight_hh_l0", steps=50)
    new = rnn.weight_hh_l0_mask.numpy() != 0
    assert (new.sum(0) == old.sum(0)).all() and (new.sum(1) == old.sum(1)).all()
    expected = rewire_mask(old, "poor", unit_rng(3, "rnn.weight_hh_l0", 0), steps=50)
    assert np.array_equal(new, expected.mask)
    assert np.all(rnn.weight_hh_l0.detach().numpy()[~new] == 0)
    assert method is not None


def test_rewire_refuses_an_unknown_target():
    rnn = nn.RNN(4, 4)
    with pytest.raises(GraphtoolsError, match="target must be one of"):
        gprune.rewire(rnn, "weight_hh_l0", target="nonsense")
    assert "weight_hh_l0" in dict(rnn.named_parameters())