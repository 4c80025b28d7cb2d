"""`graphtools train` / `graphtools evaluate` end to end on a tiny MNIST-layout file."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from graphtools.cli import main
from graphtools.io import load_state
from graphtools.nn import SequenceClassifier, fit, load_model


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_train_then_evaluate(mnist, tmp_path):
    ckpt = tmp_path / "m.npz"
    result = run("train", "--cell", "gru", "--hidden", "16", "--data", mnist, "--epochs", "6", "--batch-size", "32",
                 "--lr", "0.01", "-o", ckpt)
    assert result.exit_code == 0, result.output
    assert "test accuracy" in result.output and "epoch 6/6" in result.output
    meta = json.loads(load_state(ckpt).metadata["graphtools.meta"])
    assert (meta["cell"], meta["hidden_size"], meta["epochs"], meta["dataset"]) == ("gru", 16, 6, "seq-mnist")
    report = json.loads(run("evaluate", ckpt, "--data", mnist, "--format", "json").output)
    assert set(report) == {"accuracy", "loss", "samples"} and report["samples"] == 100
    assert report["accuracy"] > 0.9
    assert report["accuracy"] == pytest.approx(meta["test_accuracy"])
    text = run("evaluate", ckpt, "--data", mnist).output
    assert text.startswith("accuracy ") and "samples 100" in text
    assert json.loads(run("analyze", ckpt, "--format", "json").output)["architecture"]["cell"] == "gru"


def test_mask_and_init(mnist, tmp_path):
    first = tmp_path / "a.npz"
    assert run("train", "--cell", "rnn", "--hidden", "8", "--data", mnist, "--epochs", "1", "-o", first).exit_code == 0
    model = load_model(first)
    mask = np.random.default_rng(1).random(model.params["rnn.weight_hh_l0"].shape) < 0.25
    np.savez(tmp_path / "mask.npz", **{"rnn.weight_hh_l0_mask": mask})
    second = tmp_path / "b.npz"
    result = run("train", "--init", first, "--mask", tmp_path / "mask.npz", "--data", mnist, "--epochs", "2",
                 "-o", second)
    assert result.exit_code == 0, result.output
    trained = load_model(second)
    assert trained.cell == "rnn" and trained.hidden_size == 8
    assert not trained.params["rnn.weight_hh_l0"][~mask].any()
    assert np.array_equal(trained.masks["rnn.weight_hh_l0"], mask)


@pytest.mark.parametrize("args,message", [
    (["--data", "missing.npz"], "no such file"),
    (["--mask", "MASK"], "names no weight"),
    (["--limit", "0"], "Invalid value"),
    (["--dataset", "imagenet"], "Invalid value"),
])
def test_bad_train_input(mnist, tmp_path, args, message):
    np.savez(tmp_path / "bad_mask.npz", **{"rnn.weight_zz_l0_mask": np.ones((2, 2), bool)})
    args = [str(tmp_path / "bad_mask.npz") if a == "MASK" else a for a in args]
    if "--data" not in args:
        args += ["--data", str(mnist)]
    out = tmp_path / "m.npz"
    result = run("train", "--epochs", "1", "-o", out, *args)
    assert result.exit_code in (1, 2) and message in result.output
    assert not out.exists()


def test_evaluate_rejects_a_mismatched_dataset(mnist, tmp_path):
    SequenceClassifier("lstm", 5, 4, 1, 10).save(tmp_path / "m.npz")
    result = run("evaluate", tmp_path / "m.npz", "--data", mnist)
    assert result.exit_code == 1 and "takes 5 features" in result.output


def test_interrupted_training_leaves_the_last_complete_checkpoint(tmp_path):
    x = np.random.default_rng(0).standard_normal((64, 4, 3)).astype(np.float32)
    y = (x[:, 0, 0] > 0).astype(np.int64)
    model = SequenceClassifier("lstm", 3, 5, 1, 2)
    ckpt = tmp_path / "m.npz"

    def stop_in_epoch_2(p):
        if p.epoch == 2 and p.batch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(model, x, y, epochs=3, batch_size=16, checkpoint=ckpt, progress=stop_in_epoch_2)
    saved = json.loads(load_state(ckpt).metadata["graphtools.meta"])
    assert saved["epochs"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]  # no temporary file left behind
    load_model(ckpt)


def test_masks_under_another_prefix_are_mapped(mnist, tmp_path):
    first = tmp_path / "a.npz"
    assert run("train", "--cell", "gru", "--hidden", "6", "--data", mnist, "--epochs", "1", "-o", first).exit_code == 0
    params = load_model(first).params
    mask = np.random.default_rng(2).random(params["rnn.weight_hh_l0"].shape) < 0.4
    head = np.random.default_rng(3).random(params["fc.weight"].shape) < 0.5
    np.savez(tmp_path / "mask.npz", **{"encoder.gru.weight_hh_l0_mask": mask, "classifier.weight_mask": head})
    out = tmp_path / "b.npz"
    result = run("train", "--init", first, "--mask", tmp_path / "mask.npz", "--data", mnist, "--epochs", "1",
                 "-o", out)
    assert result.exit_code == 0, result.output
    model = load_model(out)
    assert np.array_equal(model.masks["rnn.weight_hh_l0"], mask) and np.array_equal(model.masks["fc.weight"], head)
