"""The trainer's parts: the epoch loop with callbacks, fit's keywords, SequenceClassifier.from_state
and the build-and-fit function shared by ``graphtools train`` and sweeps."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from graphtools.errors import GraphtoolsError
from graphtools.io import load_state
from graphtools.nn import SequenceClassifier, fit, load_model
from graphtools.nn.run import build_and_fit
from graphtools.nn.training import Callback, Checkpoint, EachEpoch, Evaluate, evaluate, run_epochs


def _data(n=48, seed=0):
    x = np.random.default_rng(seed).standard_normal((n, 4, 3)).astype(np.float32)
    return x, (x[:, 0, 0] > 0).astype(np.int64)


class Log(Callback):
    def __init__(self):
        self.events = []

    def on_batch_end(self, progress):
        self.events.append(("batch", progress.epoch, progress.batch, progress.batches))

    def on_epoch_end(self, record, result):
        self.events.append(("epoch", record["epoch"], record.get("test_accuracy") is not None, len(result.epochs)))


def test_callbacks_see_every_batch_then_the_epoch_after_the_keyword_ones(tmp_path):
    x, y = _data()
    log = Log()
    model = SequenceClassifier("lstm", 3, 5, num_classes=2)
    result = fit(model, x, y, epochs=2, batch_size=16, test=(x, y), checkpoint=tmp_path / "m.npz", callbacks=[log])
    assert log.events == [("batch", 1, 1, 3), ("batch", 1, 2, 3), ("batch", 1, 3, 3), ("epoch", 1, True, 1),
                          ("batch", 2, 1, 3), ("batch", 2, 2, 3), ("batch", 2, 3, 3), ("epoch", 2, True, 2)]
    meta = json.loads(load_state(tmp_path / "m.npz").metadata["graphtools.meta"])
    assert meta["epochs"] == 2 and meta["test_accuracy"] == result.test.accuracy


def test_the_keywords_are_the_callbacks_they_stand_for(tmp_path):
    """fit(test=..., checkpoint=..., on_epoch=...) and fit(callbacks=[Evaluate, Checkpoint, EachEpoch])
    train the same model, write the same weights and report the same epochs."""
    x, y = _data()
    a, b = (SequenceClassifier("gru", 3, 6, num_classes=2, seed=4) for _ in range(2))
    seen_a, seen_b = [], []
    ra = fit(a, x, y, epochs=2, batch_size=16, seed=1, test=(x, y), checkpoint=tmp_path / "a.npz",
             on_epoch=seen_a.append, workers=1)
    rb = fit(b, x, y, epochs=2, batch_size=16, seed=1, workers=1,
             callbacks=[Evaluate(x, y, lambda tx, ty: evaluate(b, tx, ty)),
                        Checkpoint(b, tmp_path / "b.npz", seed=1, meta={"workers": 1}), EachEpoch(seen_b.append)])
    assert [r["test_accuracy"] for r in ra.epochs] == [r["test_accuracy"] for r in rb.epochs]
    assert [r["loss"] for r in seen_a] == [r["loss"] for r in seen_b]
    sa, sb = load_state(tmp_path / "a.npz"), load_state(tmp_path / "b.npz")
    assert all(np.array_equal(sa.tensors[k], sb.tensors[k]) for k in a.params)


def test_fit_takes_its_settings_by_keyword_only():
    x, y = _data()
    with pytest.raises(TypeError):
        fit(SequenceClassifier("rnn", 3, 4, num_classes=2), x, y, 2)  # noqa


def test_checkpoint_callback_checks_its_path_before_any_epoch(tmp_path):
    with pytest.raises(GraphtoolsError, match="must end in .npz or .safetensors"):
        Checkpoint(SequenceClassifier("rnn", 3, 4), tmp_path / "m.txt", seed=0)


def test_run_epochs_without_callbacks_is_the_bare_loop():
    x, y = _data(10)
    calls = []

    def step(idx):
        calls.append(sorted(idx.tolist()))
        return 0.5, np.eye(2)[y[idx]]

    result = run_epochs(x, y, step, epochs=2, batch_size=4, seed=0)
    assert [len(c) for c in calls] == [4, 4, 2, 4, 4, 2]
    assert sorted(sum(calls[:3], [])) == list(range(10))
    assert [(r["epoch"], r["loss"], r["train_accuracy"]) for r in result.epochs] == [(1, 0.5, 1.0), (2, 0.5, 1.0)]


def test_from_state_is_load_model_without_a_file(tmp_path):
    model = SequenceClassifier("lstm", 3, 5, 2, num_classes=4, seed=2)
    mask = np.random.default_rng(0).random(model.params["rnn.weight_hh_l1"].shape) < 0.5
    model.set_masks({"rnn.weight_hh_l1": mask})
    model.save(tmp_path / "m.npz", note="x")
    state = load_state(tmp_path / "m.npz")
    copy, loaded = SequenceClassifier.from_state(state.tensors, state.metadata), load_model(tmp_path / "m.npz")
    for other in (copy, loaded):
        assert (other.cell, other.hidden_size, other.num_layers, other.num_classes) == ("lstm", 5, 2, 4)
        assert all(np.array_equal(other.params[k], v) for k, v in model.params.items())
        assert np.array_equal(other.masks["rnn.weight_hh_l1"], mask) and other.meta["note"] == "x"
    with pytest.raises(GraphtoolsError, match="^weights: expected one recurrent module, found 0"):
        SequenceClassifier.from_state({"fc.weight": np.zeros((2, 3))}, source="weights")


def test_build_and_fit_builds_or_continues_and_applies_masks(tmp_path):
    x, y = _data()
    train = test = SimpleNamespace(x=x, y=y, features=3, num_classes=2)
    model, result = build_and_fit(train, test, output=tmp_path / "a.npz", seed=0, cell="rnn", hidden_size=6,
                                  num_layers=2, batch_size=16, epochs=1)
    assert (model.cell, model.hidden_size, model.num_layers) == ("rnn", 6, 2) and len(result.epochs) == 1
    mask = np.zeros((6, 6), bool)
    mask[:, 0] = True
    again, _ = build_and_fit(train, test, output=tmp_path / "b.npz", seed=0, init=model, batch_size=16,
                             masks={"other.rnn.weight_hh_l0": mask}, epochs=1)
    assert again is model and np.count_nonzero(load_model(tmp_path / "b.npz").params["rnn.weight_hh_l0"]) <= 6
    wide = SimpleNamespace(x=x, y=y, features=3, num_classes=5)
    with pytest.raises(GraphtoolsError, match="^m.npz: the model takes 3 features and 2 classes"):
        build_and_fit(wide, wide, output=tmp_path / "c.npz", seed=0, init=model, init_name="m.npz", epochs=1)
