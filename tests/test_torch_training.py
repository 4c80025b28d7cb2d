"""The PyTorch training backend: parity with the numpy trainer, checkpoints, sweeps with --trainer torch."""

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from graphtools.cli import main
from graphtools.errors import GraphtoolsError
from graphtools.experiments import ModelSpec, SweepConfig, read_records, run_sweep
from graphtools.experiments.config import config_from_dict
from graphtools.io import load_state
from graphtools.nn import SGD, Adam, SequenceClassifier, clip_grad_norm, evaluate, fit, load_model
from graphtools.tomlfile import tomllib

torch = pytest.importorskip("torch")
from graphtools.torch.training import TorchTrainer, evaluate_torch, fit_torch  # noqa: E402


def _pair(cell, seed=1):
    rng = np.random.default_rng(0)
    a = SequenceClassifier(cell, 5, 6, 2, 4, seed=seed)
    b = SequenceClassifier(cell, 5, 6, 2, 4, seed=seed)
    masks = {"rnn.weight_hh_l0": rng.random(a.params["rnn.weight_hh_l0"].shape) < 0.5,
             "rnn.weight_ih_l1": rng.random(a.params["rnn.weight_ih_l1"].shape) < 0.3}
    a.set_masks(masks)
    b.set_masks(masks)
    return a, b, masks


@pytest.mark.parametrize("cell, optimizer", [("rnn", "adam"), ("lstm", "adam"), ("gru", "adam"), ("lstm", "sgd")])
def test_first_twenty_losses_match_the_numpy_trainer(cell, optimizer):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(20 * 8, 4, 5)).astype(np.float32)
    y = rng.integers(0, 4, len(x))
    a, b, masks = _pair(cell)
    numpy_opt = {"adam": Adam, "sgd": SGD}[optimizer](a.params, lr=1e-2, masks=a.masks)
    trainer = TorchTrainer(b, lr=1e-2, optimizer=optimizer, clip=0.5)
    for step in range(20):
        xb, yb = x[step * 8:(step + 1) * 8], y[step * 8:(step + 1) * 8]
        loss_numpy, _, grads = a.loss_and_grads(xb, yb)
        clip_grad_norm(grads, 0.5)
        numpy_opt.step(grads)
        loss_torch, _ = trainer.step(xb, yb)
        assert abs(loss_numpy - loss_torch) <= 1e-5, f"step {step}"
    trainer.sync()
    for name, mask in masks.items():
        assert np.all(b.params[name][~mask] == 0)  # pruned weights stay exactly zero
        assert np.allclose(a.params[name], b.params[name], atol=1e-4)


def test_fit_torch_matches_fit_and_writes_the_same_checkpoint(mnist, tmp_path):
    from graphtools.data import load_dataset

    train = load_dataset("seq-mnist", str(mnist), split="train")
    test = load_dataset("seq-mnist", str(mnist), split="test")
    results = {}
    for name, function in (("numpy", fit), ("torch", fit_torch)):
        model = SequenceClassifier("rnn", train.features, 8, 1, train.num_classes, seed=0)
        model.set_masks({"rnn.weight_hh_l0": np.eye(8, dtype=bool)})
        path = tmp_path / f"{name}.npz"
        result = function(model, train.x, train.y, epochs=2, batch_size=50, seed=3, test=(test.x, test.y),
                          checkpoint=path, meta={"trainer": name})
        results[name] = (result, load_state(path), model)
    (rn, state_n, model_n), (rt, state_t, model_t) = results["numpy"], results["torch"]
    assert set(state_n.tensors) == set(state_t.tensors)
    assert np.all(state_t.tensors["rnn.weight_hh_l0"][~np.eye(8, dtype=bool)] == 0)
    assert json.loads(state_t.metadata["graphtools.meta"])["trainer"] == "torch"
    for en, et in zip(rn.epochs, rt.epochs):
        assert et["loss"] == pytest.approx(en["loss"], abs=1e-4)
    assert abs(rn.test.accuracy - rt.test.accuracy) <= 0.03  # 100 test images: within a few of them
    reloaded = load_model(tmp_path / "torch.npz")
    assert evaluate_torch(reloaded, test.x, test.y).accuracy == pytest.approx(evaluate(model_t, test.x, test.y).accuracy)


def _tiny(data, **changes):
    config = SweepConfig(dataset="seq-mnist", data=str(data), models=(ModelSpec("rnn-h8", "rnn", 8),),
                         methods=("magnitude",), sparsities=(0.5,), seeds=(0,), epochs=1, finetune_epochs=1,
                         batch_size=50, figures=())
    return dataclasses.replace(config, **changes)


def test_sweep_with_the_torch_trainer(mnist, tmp_path):
    numpy_run = run_sweep(_tiny(mnist), tmp_path / "numpy")
    torch_run = run_sweep(_tiny(mnist, trainer="torch"), tmp_path / "torch")
    assert numpy_run.failures == [] and torch_run.failures == []
    numpy_records, torch_records = read_records(tmp_path / "numpy"), read_records(tmp_path / "torch")
    for rn, rt in zip(numpy_records, torch_records):
        assert (rt["trainer"], rt["device"], rt["settings"]["trainer"]) == ("torch", "cpu", "torch")
        assert rn["trainer"] == "numpy" and rt["key"] == rn["key"]
        assert rt["actual_sparsity"] == rn["actual_sparsity"]
        assert abs(rt["accuracy"] - rn["accuracy"]) <= 0.03
        assert set(rt) == set(rn)
    pruned = load_state(tmp_path / "torch" / torch_records[1]["checkpoint"]).tensors
    assert np.all(pruned["rnn.weight_hh_l0"][~pruned["rnn.weight_hh_l0_mask"]] == 0)
    with pytest.raises(GraphtoolsError, match=r"made with other settings \(trainer 'torch' -> 'numpy'\)"):
        run_sweep(_tiny(mnist), tmp_path / "torch")


def test_trainer_and_device_in_the_toml_and_their_errors(tmp_path):
    doc = {"sweep": {"dataset": "seq-mnist", "methods": ["random"], "sparsities": [0.5], "trainer": "torch",
                     "device": "cuda:1"}, "model": [{"name": "m", "cell": "rnn", "hidden": 4}]}
    config = config_from_dict(doc, "t.toml")
    assert (config.trainer, config.device) == ("torch", "cuda:1")
    assert config_from_dict(tomllib.loads(config.to_toml()), "x") == config
    for change, message in (({"trainer": "jax"}, "trainer must be one of numpy, torch"),
                            ({"device": "tpu"}, "device must be cpu, cuda or cuda:N"),
                            ({"trainer": "numpy"}, "device cuda:1 needs the torch trainer")):
        bad = {"sweep": {**doc["sweep"], **change}, "model": doc["model"]}
        with pytest.raises(GraphtoolsError, match=message):
            config_from_dict(bad, "t.toml")


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is visible")
def test_cuda_is_refused_in_one_line_without_a_gpu(mnist, tmp_path):
    result = CliRunner().invoke(main, ["sweep", "--preset", "quick", "--data", str(mnist), "--trainer", "torch",
                                       "--device", "cuda", "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "error: --device cuda: PyTorch sees no CUDA GPU here (torch.cuda.is_available() is False); "
        "use --device cpu"]
    assert not (tmp_path / "out").exists()


def test_missing_torch_is_one_line_naming_the_extra(mnist, tmp_path):
    code = ("import sys\n"
            "class Block:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name.split('.')[0] == 'torch':\n"
            "            raise ImportError('No module named torch')\n"
            "sys.meta_path.insert(0, Block())\n"
            "from graphtools.cli import main\n"
            f"main(['sweep', '--preset', 'quick', '--data', {str(mnist)!r}, '--trainer', 'torch', "
            f"'--out', {str(tmp_path / 'o')!r}])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 1
    assert out.stderr.strip() == "error: graphtools.torch needs PyTorch: pip install 'graphtools[torch]'"
