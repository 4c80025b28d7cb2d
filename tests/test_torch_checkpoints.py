"""Real PyTorch-written checkpoints (optional: skipped when torch is not installed).

Each module's state dict is saved as .npz and .safetensors; ``graphtools analyze``
must match an independent numpy SVD of the very tensors torch holds, and the
two files must give the same report.
"""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from graphtools.cli import main

torch = pytest.importorskip("torch")
st_torch = pytest.importorskip("safetensors.torch")
from torch import nn  # noqa: E402
from torch.nn.utils import prune  # noqa: E402


class Classifier(nn.Module):
    def __init__(self, rnn, features):
        super().__init__()
        self.rnn = rnn
        self.fc = nn.Linear(features, 10)


def _pruned_lstm(permanent):
    model = Classifier(nn.LSTM(12, 32, num_layers=2), 32)
    prune.l1_unstructured(model.rnn, "weight_hh_l0", amount=0.7)
    prune.random_unstructured(model.rnn, "weight_ih_l1", amount=0.5)
    prune.l1_unstructured(model.fc, "weight", amount=0.3)
    if permanent:
        for module, name in [(model.rnn, "weight_hh_l0"), (model.rnn, "weight_ih_l1"), (model.fc, "weight")]:
            prune.remove(module, name)
    return model


MODELS = {
    "rnn": lambda: Classifier(nn.RNN(10, 24), 24),
    "lstm-2-layer-pruned": lambda: _pruned_lstm(permanent=False),
    "lstm-2-layer-pruned-permanent": lambda: _pruned_lstm(permanent=True),
    "lstm-proj": lambda: Classifier(nn.LSTM(10, 20, proj_size=6), 6),
    "gru-bidirectional": lambda: Classifier(nn.GRU(10, 16, num_layers=2, bidirectional=True), 32),
}


def _effective_weights(model):
    """The weights as the module computes with them (pruned ones already multiplied)."""
    out = {}
    for module_name, module in model.named_modules():
        for name, _ in module.named_parameters(recurse=False):
            name = name.removesuffix("_orig")
            value = getattr(module, name)
            if value.dim() == 2:
                out[f"{module_name}.{name}"] = value.detach().double().numpy()
    return out


def _analyze(path, *options):
    result = CliRunner().invoke(main, ["analyze", str(path), "--format", "json", *options])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_torch_checkpoint_matches_numpy_svd(kind, tmp_path):
    torch.manual_seed(0)
    model = MODELS[kind]()
    state = model.state_dict()
    np.savez(tmp_path / "m.npz", **{k: v.numpy() for k, v in state.items()})
    st_torch.save_file({k: v.contiguous() for k, v in state.items()}, str(tmp_path / "m.safetensors"))

    report = _analyze(tmp_path / "m.npz", "--gates")
    rnn = model.rnn
    assert len(report["architecture"].pop("modules")) == 1
    assert report["architecture"] == {
        "cell": type(rnn).__name__.lower(), "num_layers": rnn.num_layers, "bidirectional": rnn.bidirectional,
        "input_size": rnn.input_size, "hidden_size": rnn.hidden_size, "proj_size": getattr(rnn, "proj_size", 0),
    }
    weights = _effective_weights(model)
    assert sorted({layer["name"] for layer in report["layers"]}) == sorted(weights)
    gate_names = {"lstm": "ifgo", "gru": "rzn", "rnn": ""}[report["architecture"]["cell"]]
    for layer in report["layers"]:
        W = weights[layer["name"]].astype(np.float32).astype(np.float64)
        if layer["gate"] is not None:
            block = W.shape[0] // len(gate_names)
            g = gate_names.index(layer["gate"])
            W = W[g * block:(g + 1) * block]
        s = np.linalg.svd((W != 0).astype(float), compute_uv=False)
        w = np.linalg.svd(np.abs(W), compute_uv=False)
        assert layer["shape"] == list(W.shape)
        assert layer["nnz"] == np.count_nonzero(W)
        assert layer["sigma1"] == pytest.approx(s[0], rel=1e-6)
        assert layer["sigma2"] == pytest.approx(s[1], rel=1e-6, abs=1e-9)
        assert layer["spectral_gap"] == pytest.approx(s[0] - s[1], rel=1e-6, abs=1e-9)
        assert layer["weighted"]["sigma1"] == pytest.approx(w[0], rel=1e-6)
        assert layer["weighted"]["sigma2"] == pytest.approx(w[1], rel=1e-6)
        E = np.count_nonzero(W)
        d_in = E / np.count_nonzero((W != 0).any(axis=0))
        d_out = E / np.count_nonzero((W != 0).any(axis=1))
        assert layer["ramanujan_bound"] == pytest.approx(np.sqrt(d_in - 1) + np.sqrt(d_out - 1))
        assert layer["is_ramanujan"] == bool(s[1] <= layer["ramanujan_bound"])

    copy = _analyze(tmp_path / "m.safetensors", "--gates")
    assert copy["format"] == "safetensors" and report["format"] == "npz"
    for key in ("checkpoint", "format"):
        copy.pop(key), report.pop(key)
    copy["architecture"].pop("modules")
    assert copy == report


def test_pruned_checkpoint_keeps_sparsity(tmp_path):
    torch.manual_seed(1)
    model = _pruned_lstm(permanent=False)
    np.savez(tmp_path / "m.npz", **{k: v.numpy() for k, v in model.state_dict().items()})
    layers = {layer["name"]: layer for layer in _analyze(tmp_path / "m.npz")["layers"]}
    assert layers["rnn.weight_hh_l0"]["density"] == pytest.approx(0.3, abs=1 / (128 * 32))
    assert layers["rnn.weight_ih_l1"]["density"] == pytest.approx(0.5, abs=1 / (128 * 32))
    assert layers["rnn.weight_ih_l0"]["density"] == 1.0


@pytest.mark.parametrize("kind", ["rnn", "lstm-2-layer-pruned", "gru-bidirectional"])
def test_unfolded_counts_on_torch_checkpoints(kind, tmp_path):
    torch.manual_seed(2)
    model = MODELS[kind]()
    np.savez(tmp_path / "m.npz", **{k: v.numpy() for k, v in model.state_dict().items()})
    T = 7
    result = CliRunner().invoke(main, ["unfold", str(tmp_path / "m.npz"), "--steps", str(T)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    rnn = model.rnn
    H, dirs, G = rnn.hidden_size, 2 if rnn.bidirectional else 1, {"RNN": 1, "GRU": 3, "LSTM": 4}[type(rnn).__name__]
    assert report["nodes"] == T * rnn.input_size + rnn.num_layers * dirs * (T + 1) * H
    weights = _effective_weights(model)
    edges = 0
    for name, W in weights.items():
        if name.startswith("rnn."):
            union = np.abs(W).reshape(G, H, W.shape[1]).sum(axis=0)  # gate union, as docs/measures.md defines it
            edges += T * np.count_nonzero(union)
    assert report["edges"] == edges
