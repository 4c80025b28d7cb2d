"""graphtools.torch: live modules analysed like their saved state dicts, assert_expander, the monitor."""

import logging
import subprocess
import sys
import weakref

import numpy as np
import pytest

from graphtools.analysis import analyze_checkpoint
from graphtools.errors import GraphtoolsError
from graphtools.testing import assert_expander

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch.nn.utils import prune  # noqa: E402

from graphtools.torch import ExpanderMonitor, ExpanderRuleBroken, analyze_module  # noqa: E402
from graphtools.torch.modules import DeviceMatrix  # noqa: E402


class Net(nn.Module):
    def __init__(self, rnn, features):
        super().__init__()
        self.rnn = rnn
        self.fc = nn.Linear(features, 5)


def _models():
    torch.manual_seed(0)
    pruned = Net(nn.GRU(6, 10, num_layers=2), 10)
    prune.l1_unstructured(pruned.rnn, "weight_hh_l0", amount=0.6)
    prune.random_unstructured(pruned.fc, "weight", amount=0.5)
    return {
        "lstm-proj-bi": Net(nn.LSTM(5, 12, num_layers=2, bidirectional=True, proj_size=4), 8),
        "gru-pruned": pruned,
        "rnn-cell": Net(nn.RNNCell(7, 9), 9),
        "lstm-cell": nn.LSTMCell(3, 6),
        "gru-cell": Net(nn.GRUCell(4, 7), 7),
    }


def _saved_report(module, tmp_path, **options):
    state = {k: v.detach().numpy() for k, v in module.state_dict().items()}
    path = tmp_path / "m.npz"
    np.savez(path, **state)
    return analyze_checkpoint(path, **options)


def _comparable(report):
    d = report.to_dict()
    del d["checkpoint"], d["format"]
    return d


@pytest.mark.parametrize("name", list(_models()))
def test_module_report_equals_the_saved_state_dicts(name, tmp_path):
    module = _models()[name]
    live = analyze_module(module, gates=True)
    saved = _saved_report(module, tmp_path, gates=True)
    assert live.format == "torch"
    assert _comparable(live) == _comparable(saved)


def test_unfold_and_bounds_match_the_file_report(tmp_path):
    module = _models()["gru-pruned"]
    live = analyze_module(module, unfold=4, bounds=True)
    saved = _saved_report(module, tmp_path, unfold_steps=4, bounds=True)
    assert live.unfolded is not None and _comparable(live) == _comparable(saved)


def test_pruned_weight_is_read_as_orig_times_mask():
    module = _models()["gru-pruned"]
    report = {r.name: r for r in analyze_module(module).layers}
    mask = module.rnn.weight_hh_l0_mask
    assert report["rnn.weight_hh_l0"].nnz == int(mask.sum())
    assert report["fc.weight"].nnz == int(module.fc.weight_mask.sum())


def test_one_matrix_at_a_time_on_the_host(monkeypatch):
    alive = []
    real = DeviceMatrix.__array__

    def tracked(self, dtype=None, copy=None):
        assert all(ref() is None for ref in alive), "an earlier matrix is still on the host"
        arr = real(self, dtype, copy)
        alive.append(weakref.ref(arr))
        return arr

    monkeypatch.setattr(DeviceMatrix, "__array__", tracked)
    analyze_module(_models()["lstm-proj-bi"], gates=True)
    assert len(alive) == 2 * 2 * 3 + 1  # layers x directions x (ih, hh, hr) + the head


def test_no_recurrent_layer_is_a_one_line_error():
    with pytest.raises(GraphtoolsError, match="has no recurrent layer") as info:
        analyze_module(nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2)))
    assert "\n" not in str(info.value)
    with pytest.raises(GraphtoolsError, match="torch.nn.Module"):
        analyze_module({"weight_hh_l0": np.zeros((4, 4))})
    with pytest.raises(GraphtoolsError, match="no 2-D weight"):
        analyze_module(nn.ReLU())


def test_nan_weight_is_named():
    rnn = nn.RNN(3, 4)
    with torch.no_grad():
        rnn.weight_hh_l0[0, 0] = float("nan")
    with pytest.raises(GraphtoolsError, match="weight_hh_l0 holds NaN"):
        analyze_module(rnn)


def test_import_graphtools_does_not_import_torch():
    code = ("import sys, graphtools, graphtools.analysis, graphtools.testing, graphtools.prune, graphtools.nn, "
            "graphtools.experiments, graphtools.cli; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_assert_expander_accepts_a_module():
    rnn = nn.RNN(8, 8)
    assert_expander(rnn, require_ramanujan="weight_hh_l0", min_spectral_gap=0.0)  # dense: complete graph
    prune.custom_from_mask(rnn, "weight_hh_l0", torch.eye(8))  # a perfect matching: sigma2 = 1 > bound 0
    with pytest.raises(AssertionError, match=r"weight_hh_l0: require-ramanujan"):
        assert_expander(rnn, require_ramanujan="weight_hh_l0")


def test_monitor_measures_every_n_steps_and_raises_on_a_broken_rule():
    rnn = nn.RNN(6, 6)
    monitor = ExpanderMonitor(rnn, every=3, require_ramanujan="weight_hh_*")
    assert [monitor() for _ in range(5)].count(None) == 4
    assert [r.step for r in monitor.history] == [3] and monitor.history[0].passed
    prune.custom_from_mask(rnn, "weight_hh_l0", torch.eye(6))
    with pytest.raises(ExpanderRuleBroken, match="step 6: 1 expander rule"):
        monitor()


def test_monitor_logs_instead_of_raising(caplog):
    rnn = nn.RNN(6, 6)
    prune.custom_from_mask(rnn, "weight_hh_l0", torch.eye(6))
    monitor = ExpanderMonitor(rnn, every=1, require_ramanujan="weight_hh_l0", on_failure="log")
    with caplog.at_level(logging.WARNING, logger="graphtools.torch"):
        record = monitor(step=10)
    assert record.step == 10 and not record.passed
    assert "weight_hh_l0: require-ramanujan" in caplog.text


@pytest.mark.parametrize("kwargs, match", [
    ({"every": 0, "min_spectral_gap": 1.0}, "every must be"),
    ({"on_failure": "ignore", "min_spectral_gap": 1.0}, "on_failure must be"),
    ({}, "no rules to check"),
])
def test_monitor_bad_settings(kwargs, match):
    with pytest.raises(GraphtoolsError, match=match):
        ExpanderMonitor(nn.RNN(3, 3), **kwargs)


def test_readme_from_pytorch_example_runs(capsys):
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    block = text.split("## From PyTorch", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    exec(compile(block, "README.md (From PyTorch)", "exec"), {})
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["weight_ih_l0", "weight_hh_l0"]
    assert lines[1].split()[1] == str(256 * 64 - round(0.8 * 256 * 64))  # the biregular mask's edge count


@pytest.mark.parametrize("name", ["modules", "prune", "monitor", "training"])
def test_docstring_examples_run(name):
    import doctest
    import importlib

    module = importlib.import_module(f"graphtools.torch.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
