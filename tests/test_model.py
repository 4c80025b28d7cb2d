"""Model description from PyTorch- and Keras-named state dicts, masks, and contradictions."""

import numpy as np
import pytest

from graphtools.errors import GraphtoolsError
from graphtools.model import describe
from statedicts import torch_state


@pytest.mark.parametrize("cell,gates", [("rnn", ()), ("lstm", ("i", "f", "g", "o")), ("gru", ("r", "z", "n"))])
def test_cell_detection_from_gate_multiple(cell, gates):
    state = torch_state(cell, layers=2)
    state["fc.weight"] = np.ones((10, 6), np.float32)
    state["fc.bias"] = np.ones(10, np.float32)
    model = describe(state)
    assert model.architecture() == {"cell": cell, "num_layers": 2, "bidirectional": False,
                                    "input_size": 5, "hidden_size": 6, "proj_size": 0}
    names = [w.name for w in model.weights]
    assert names == ["rnn.weight_ih_l0", "rnn.weight_hh_l0", "rnn.weight_ih_l1", "rnn.weight_hh_l1", "fc.weight"]
    assert model.weights[0].gates == gates
    assert [w.name for w in model.linear] == ["fc.weight"]


@pytest.mark.parametrize("prefix", ["", "lstm.", "model.encoder.", "a.b.c.d."])
def test_any_prefix_and_bidirectional_projection(prefix):
    state = torch_state("lstm", input_size=7, hidden=8, layers=2, bidirectional=True, proj=3, prefix=prefix)
    model = describe(state)
    assert model.architecture() == {"cell": "lstm", "num_layers": 2, "bidirectional": True,
                                    "input_size": 7, "hidden_size": 8, "proj_size": 3}
    assert model.modules[0].prefix == prefix
    layer = model.modules[0].layers[1]
    assert (layer.layer, layer.reverse) == (0, True)
    assert layer.weight_hr.matrix.shape == (3, 8)
    assert len(model.weights) == 2 * 2 * 3


def test_storage_order_does_not_change_the_description():
    state = torch_state("gru", layers=2, bidirectional=True)
    state["fc.weight"] = np.ones((3, 12), np.float32)
    shuffled = dict(reversed(list(state.items())))
    assert [w.name for w in describe(state).weights] == [w.name for w in describe(shuffled).weights]


def test_lstm_cell_without_layer_suffix():
    state = {"cell.weight_ih": np.ones((16, 3)), "cell.weight_hh": np.ones((16, 4))}
    assert describe(state).architecture()["cell"] == "lstm"


def test_torch_prune_pairs_are_multiplied():
    state = torch_state("rnn", hidden=4)
    orig = state.pop("rnn.weight_hh_l0")
    mask = (np.arange(16).reshape(4, 4) % 3 == 0).astype(np.float32)
    state["rnn.weight_hh_l0_orig"] = orig
    state["rnn.weight_hh_l0_mask"] = mask
    model = describe(state)
    hh = model.modules[0].layers[0].weight_hh
    assert hh.name == "rnn.weight_hh_l0"
    assert hh.sources == ("rnn.weight_hh_l0_orig", "rnn.weight_hh_l0_mask")
    assert np.array_equal(hh.matrix, orig * mask)
    assert len(model.weights) == 2  # the mask is not analysed as a layer of its own


def test_mask_next_to_weight_is_applied_and_checked():
    state = {"fc.weight": np.ones((3, 4)), "fc.weight_mask": np.eye(3, 4)}
    (w,) = describe(state).weights
    assert np.array_equal(w.matrix, np.eye(3, 4))
    with pytest.raises(GraphtoolsError, match="values other than 0 and 1"):
        describe({"fc.weight": np.ones((3, 4)), "fc.weight_mask": 2 * np.eye(3, 4)})
    with pytest.raises(GraphtoolsError, match="shape"):
        describe({"fc.weight": np.ones((3, 4)), "fc.weight_mask": np.eye(4, 3)})


def keras_layer(prefix, cell, input_size, hidden, rng, reset_after=False):
    G = {"rnn": 1, "gru": 3, "lstm": 4}[cell]
    state = {
        f"{prefix}kernel:0": rng.standard_normal((input_size, G * hidden)),
        f"{prefix}recurrent_kernel:0": rng.standard_normal((hidden, G * hidden)),
        f"{prefix}bias:0": rng.standard_normal((2, G * hidden) if reset_after else (G * hidden,)),
    }
    return state


def test_keras_lstm_is_transposed_with_same_gate_order():
    rng = np.random.default_rng(0)
    state = keras_layer("lstm/lstm_cell/", "lstm", 5, 3, rng)
    state["dense/kernel:0"] = rng.standard_normal((3, 10))
    state["dense/bias:0"] = rng.standard_normal(10)
    model = describe(state)
    assert model.architecture() == {"cell": "lstm", "num_layers": 1, "bidirectional": False,
                                    "input_size": 5, "hidden_size": 3, "proj_size": 0}
    layer = model.modules[0].layers[0]
    assert layer.weight_ih.name == "lstm/lstm_cell/kernel:0"
    assert np.array_equal(layer.weight_ih.matrix, state["lstm/lstm_cell/kernel:0"].T)  # i,f,c,o == i,f,g,o
    assert np.array_equal(layer.weight_hh.matrix, state["lstm/lstm_cell/recurrent_kernel:0"].T)
    (dense,) = model.linear
    assert dense.name == "dense/kernel:0" and dense.matrix.shape == (10, 3)


def test_keras_gru_gates_are_reordered_to_torch_order():
    H = 2
    kernel = np.concatenate([np.full((4, H), 1.0), np.full((4, H), 2.0), np.full((4, H), 3.0)], axis=1)  # z, r, h
    state = {"gru/kernel": kernel, "gru/recurrent_kernel": np.zeros((H, 3 * H)),
             "gru/bias": np.stack([np.r_[[1.0] * H, [2.0] * H, [3.0] * H]] * 2)}
    model = describe(state)
    ih = model.modules[0].layers[0].weight_ih
    assert ih.gates == ("r", "z", "n")
    assert np.array_equal(ih.matrix[:, 0], [2, 2, 1, 1, 3, 3])  # rows r, z, n
    assert np.array_equal(model.modules[0].layers[0].bias_hh, [2, 2, 1, 1, 3, 3])


def test_keras_stacked_and_bidirectional():
    rng = np.random.default_rng(1)
    state = {}
    state.update(keras_layer("bidirectional/forward_lstm/lstm_cell/", "lstm", 6, 4, rng))
    state.update(keras_layer("bidirectional/backward_lstm/lstm_cell/", "lstm", 6, 4, rng))
    state.update(keras_layer("bidirectional_1/forward_lstm_1/lstm_cell/", "lstm", 8, 4, rng))
    state.update(keras_layer("bidirectional_1/backward_lstm_1/lstm_cell/", "lstm", 8, 4, rng))
    model = describe(state)
    assert model.architecture() == {"cell": "lstm", "num_layers": 2, "bidirectional": True,
                                    "input_size": 6, "hidden_size": 4, "proj_size": 0}
    assert [(layer.layer, layer.reverse) for layer in model.modules[0].layers] == [
        (0, False), (0, True), (1, False), (1, True)]


def test_keras_simple_rnn_layers_in_natural_order():
    rng = np.random.default_rng(2)
    state = {}
    for name, n_in in [("simple_rnn_10/", 4), ("simple_rnn/", 3), ("simple_rnn_2/", 4)]:
        state.update(keras_layer(name, "rnn", n_in, 4, rng))
    model = describe(state)
    assert model.architecture()["num_layers"] == 3 and model.architecture()["cell"] == "rnn"
    assert [w.name for w in model.weights][::2] == [
        "simple_rnn/kernel:0", "simple_rnn_2/kernel:0", "simple_rnn_10/kernel:0"]


def test_two_modules_and_generic_layers():
    state = torch_state("gru", prefix="encoder.", hidden=4)
    state.update(torch_state("lstm", prefix="decoder.", input_size=4, hidden=4))
    state["embedding.weight"] = np.ones((100, 5))
    model = describe(state)
    assert [m.prefix for m in model.modules] == ["decoder.", "encoder."]
    assert [m.cell for m in model.modules] == ["lstm", "gru"]
    assert [w.name for w in model.linear] == ["embedding.weight"]


@pytest.mark.parametrize(
    "edit,message",
    [
        (lambda s: s.update({"rnn.weight_hh_l0": np.ones((24, 5), np.float32)}), "1, 3 or 4 times"),
        (lambda s: s.update({"rnn.weight_ih_l0": np.ones((20, 5), np.float32)}), "rnn.weight_ih_l0 has shape"),
        (lambda s: s.update({"rnn.bias_ih_l0": np.ones(7, np.float32)}), "rnn.bias_ih_l0 has shape"),
        (lambda s: s.pop("rnn.weight_hh_l1"), "rnn.weight_hh_l1 is missing"),
        (lambda s: s.update({"rnn.weight_ih_l1": np.ones((24, 5), np.float32)}), "layer 0's output"),
        (lambda s: s.update({"rnn.weight_ih_l3": np.ones((24, 6), np.float32),
                             "rnn.weight_hh_l3": np.ones((24, 6), np.float32)}), "not numbered"),
        (lambda s: s.update({"rnn.weight_ih_l0_reverse": np.ones((24, 5), np.float32)}), "_reverse is missing"),
        (lambda s: s.update({"rnn.weight_hr_l0": np.ones((6, 6), np.float32)}), "weight_hr_l0 has shape"),
    ],
)
def test_shapes_that_contradict_names_are_refused(edit, message):
    state = torch_state("lstm", hidden=6, layers=2)
    edit(state)
    with pytest.raises(GraphtoolsError, match=message):
        describe(state)


def test_projection_on_a_gru_is_refused():
    state = torch_state("gru", hidden=6)
    state["rnn.weight_hh_l0"] = np.ones((18, 3), np.float32)
    state["rnn.weight_hr_l0"] = np.ones((3, 6), np.float32)
    with pytest.raises(GraphtoolsError, match="only for LSTM"):
        describe(state)


def test_no_2d_weight():
    with pytest.raises(GraphtoolsError, match="no 2-D weight"):
        describe({"bias": np.ones(3), "scalar": np.array(1.0)})
