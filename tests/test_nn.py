"""The numpy trainer: gradient checks, masks, optimisers, determinism, checkpoints, PyTorch parity."""

import functools
import json
import os

import numpy as np
import pytest

from graphtools.errors import GraphtoolsError
from graphtools.io import load_state
from graphtools.nn import SGD, Adam, SequenceClassifier, clip_grad_norm, evaluate, fit, load_model

from conftest import wait_gone

CELLS = ["rnn", "lstm", "gru"]


def float64_model(cell, layers=1, hidden=5, features=3, classes=4, seed=0):
    model = SequenceClassifier(cell, features, hidden, layers, classes, seed=seed, dtype=np.float64)
    rng = np.random.default_rng(seed + 100)
    for name, p in model.params.items():  # larger, asymmetric weights exercise every term
        p[...] = rng.uniform(-0.8, 0.8, p.shape)
    return model


def numeric_gradient(model, x, y, name, index, eps=1e-6):
    p = model.params[name]
    old = p[index]
    p[index] = old + eps
    up = model.loss_and_grads(x, y)[0]
    p[index] = old - eps
    down = model.loss_and_grads(x, y)[0]
    p[index] = old
    return (up - down) / (2 * eps)


def check_gradients(model, x, y, samples=6, seed=0):
    _, _, grads = model.loss_and_grads(x, y)
    rng = np.random.default_rng(seed)
    for name, p in model.params.items():
        free = np.flatnonzero(model.masks.get(name, np.ones(p.shape, bool)))  # pruned entries are constants
        flat = rng.choice(free, size=min(samples, free.size), replace=False)
        for f in flat:
            index = np.unravel_index(f, p.shape)
            expected = numeric_gradient(model, x, y, name, index)
            assert grads[name][index] == pytest.approx(expected, rel=1e-5, abs=1e-8), (name, index)
    return grads


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("layers", [1, 2])
def test_gradients_match_finite_differences(cell, layers):
    model = float64_model(cell, layers)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 6, 3))
    y = rng.integers(0, 4, 4)
    check_gradients(model, x, y)


@pytest.mark.parametrize("cell", CELLS)
def test_gradients_with_masks(cell):
    model = float64_model(cell, layers=2)
    rng = np.random.default_rng(2)
    masks = {name: rng.random(p.shape) < 0.5 for name, p in model.params.items() if ".weight" in name}
    model.set_masks(masks)
    x, y = rng.standard_normal((3, 5, 3)), rng.integers(0, 4, 3)
    grads = check_gradients(model, x, y, samples=10)
    for name, mask in masks.items():
        assert not grads[name][~mask].any()  # pruned weights get no gradient
        assert not model.params[name][~mask].any()


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
@pytest.mark.parametrize("cell", CELLS)
def test_masked_training_keeps_pruned_weights_exactly_zero(cell, optimizer):
    model = SequenceClassifier(cell, 3, 6, 2, 4, seed=3)
    rng = np.random.default_rng(4)
    masks = {"rnn.weight_hh_l0": rng.random((model.params["rnn.weight_hh_l0"].shape)) < 0.3,
             "fc.weight": rng.random((4, 6)) < 0.5}
    model.set_masks(masks)
    x, y = rng.standard_normal((40, 5, 3)).astype(np.float32), rng.integers(0, 4, 40)
    fit(model, x, y, epochs=3, batch_size=8, lr=0.05, optimizer=optimizer)
    for name, mask in masks.items():
        assert np.count_nonzero(model.params[name]) == np.count_nonzero(mask & (model.params[name] != 0))
        assert not model.params[name][~mask].any()
        assert np.count_nonzero(model.params[name][mask]) == mask.sum()  # the kept ones did train


def test_training_learns_and_is_deterministic():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((200, 6, 2)).astype(np.float32)
    y = (x[:, :, 0].sum(axis=1) > 0).astype(np.int64)  # sign of a running sum: needs memory
    runs = []
    for _ in range(2):
        model = SequenceClassifier("lstm", 2, 16, 1, 2, seed=7)
        result = fit(model, x, y, epochs=15, batch_size=20, lr=0.01, seed=1, test=(x, y))
        runs.append((model, result))
    (a, ra), (b, rb) = runs
    assert all(np.array_equal(a.params[k], b.params[k]) for k in a.params)
    assert ra.epochs[-1]["loss"] < 0.5 * ra.epochs[0]["loss"]
    assert ra.test.accuracy > 0.9


def test_adam_matches_the_textbook_update():
    p = {"w": np.array([1.0, -2.0])}
    opt = Adam(p, lr=0.1)
    g = np.array([0.5, -1.0])
    opt.step({"w": g.copy()})
    # first step: m_hat = g, v_hat = g^2, so p -= lr * g / (|g| + eps)
    assert np.allclose(p["w"], [1.0 - 0.1 * 0.5 / (0.5 + 1e-8), -2.0 + 0.1 * 1.0 / (1.0 + 1e-8)])
    q = {"w": np.array([1.0])}
    sgd = SGD(q, lr=0.1, momentum=0.9)
    sgd.step({"w": np.array([1.0])})
    sgd.step({"w": np.array([1.0])})
    assert q["w"][0] == pytest.approx(1.0 - 0.1 * 1.0 - 0.1 * 1.9)


def test_clip_grad_norm():
    grads = {"a": np.array([3.0]), "b": np.array([4.0])}
    assert clip_grad_norm(grads, 1.0) == pytest.approx(5.0)
    assert np.sqrt(grads["a"][0] ** 2 + grads["b"][0] ** 2) == pytest.approx(1.0, rel=1e-5)
    untouched = {"a": np.array([0.3])}
    clip_grad_norm(untouched, 1.0)
    assert untouched["a"][0] == 0.3


@pytest.mark.parametrize("cell", CELLS)
def test_checkpoint_round_trip_and_analyzer_reads_it(cell, tmp_path):
    model = SequenceClassifier(cell, 4, 6, 2, 3, seed=1)
    model.set_masks({"rnn.weight_hh_l1": np.eye(len(model.params["rnn.weight_hh_l1"]), 6, dtype=bool)})
    path = tmp_path / "m.npz"
    model.save(path, dataset="toy", test_accuracy=0.5)
    again = load_model(path)
    x = np.random.default_rng(0).standard_normal((5, 7, 4)).astype(np.float32)
    assert np.array_equal(again.forward(x), model.forward(x))
    assert set(again.masks) == {"rnn.weight_hh_l1"}
    assert again.meta["dataset"] == "toy"
    meta = json.loads(load_state(path).metadata["graphtools.meta"])
    assert meta["cell"] == cell and meta["hidden_size"] == 6 and meta["test_accuracy"] == 0.5
    from graphtools.analysis import analyze_checkpoint

    report = analyze_checkpoint(path)
    assert report.architecture["cell"] == cell and report.architecture["num_layers"] == 2
    hh = next(layer for layer in report.layers if layer.name == "rnn.weight_hh_l1")
    assert hh.nnz == 6


def test_bad_model_arguments():
    with pytest.raises(GraphtoolsError, match="cell must be"):
        SequenceClassifier("transformer", 3, 4)
    with pytest.raises(GraphtoolsError, match="hidden_size"):
        SequenceClassifier("lstm", 3, 0)
    model = SequenceClassifier("lstm", 3, 4)
    with pytest.raises(GraphtoolsError, match="shape"):
        model.forward(np.zeros((2, 5, 4)))
    with pytest.raises(GraphtoolsError, match="names no weight"):
        model.set_masks({"rnn.weight_xx": np.ones((1, 1), bool)})
    with pytest.raises(GraphtoolsError, match="labels must lie"):
        fit(model, np.zeros((3, 2, 3), np.float32), np.array([0, 1, 12]))


def test_evaluate_counts():
    model = SequenceClassifier("rnn", 2, 3, 1, 2, seed=0)
    x = np.random.default_rng(0).standard_normal((10, 4, 2)).astype(np.float32)
    predicted = model.predict(x)
    result = evaluate(model, x, predicted, batch_size=3)
    assert result.accuracy == 1.0 and result.samples == 10


# ---------------------------------------------------------------- PyTorch parity (optional)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("layers", [1, 2])
def test_pytorch_state_dict_gives_torch_logits(cell, layers, tmp_path):
    torch = pytest.importorskip("torch")
    from torch import nn

    torch.manual_seed(0)
    rnn = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell](6, 12, num_layers=layers, batch_first=True)
    fc = nn.Linear(12, 5)
    state = {f"rnn.{k}": v.detach().numpy() for k, v in rnn.state_dict().items()}
    state.update({f"fc.{k}": v.detach().numpy() for k, v in fc.state_dict().items()})
    np.savez(tmp_path / "torch.npz", **state)
    x = np.random.default_rng(1).standard_normal((8, 11, 6)).astype(np.float32)
    with torch.no_grad():
        out, _ = rnn(torch.from_numpy(x))
        expected = fc(out[:, -1]).numpy()
    model = load_model(tmp_path / "torch.npz")
    assert np.abs(model.forward(x) - expected).max() < 1e-5


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("steps", [7, 17])  # 17: LSTM backward in runs of 7, 7 and 3 steps
def test_gradients_match_torch_autograd(cell, steps):
    torch = pytest.importorskip("torch")
    from torch import nn

    model = float64_model(cell, layers=2, hidden=4, features=3, classes=3)
    rnn = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell](3, 4, num_layers=2, batch_first=True).double()
    fc = nn.Linear(4, 3).double()
    with torch.no_grad():
        for k, v in rnn.named_parameters():
            v.copy_(torch.from_numpy(model.params[f"rnn.{k}"]))
        fc.weight.copy_(torch.from_numpy(model.params["fc.weight"]))
        fc.bias.copy_(torch.from_numpy(model.params["fc.bias"]))
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((5, steps, 3)), rng.integers(0, 3, 5)
    loss_t = nn.functional.cross_entropy(fc(rnn(torch.from_numpy(x))[0][:, -1]), torch.from_numpy(y))
    loss_t.backward()
    loss, _, grads = model.loss_and_grads(x, y)
    assert loss == pytest.approx(loss_t.item(), rel=1e-12)
    for k, v in rnn.named_parameters():
        assert np.allclose(grads[f"rnn.{k}"], v.grad.numpy(), rtol=1e-10, atol=1e-12), k
    assert np.allclose(grads["fc.weight"], fc.weight.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cell", CELLS)
def test_parallel_gradients_equal_whole_batch_gradients(cell):
    from concurrent.futures import ThreadPoolExecutor

    model = float64_model(cell, layers=2)
    model.set_masks({"rnn.weight_hh_l0": np.random.default_rng(0).random(model.params["rnn.weight_hh_l0"].shape) < .5})
    rng = np.random.default_rng(6)
    x, y = rng.standard_normal((9, 5, 3)), rng.integers(0, 4, 9)
    loss, logits, grads = model.loss_and_grads(x, y)
    with ThreadPoolExecutor(3) as pool:
        p_loss, p_logits, p_grads = model.parallel_loss_and_grads(x, y, pool, 3)
        assert np.allclose(model.parallel_forward(x, pool, 3), logits, rtol=1e-13)
    assert p_loss == pytest.approx(loss, rel=1e-13)
    assert np.allclose(p_logits, logits, rtol=1e-13)
    for name in grads:
        assert np.allclose(p_grads[name], grads[name], rtol=1e-11, atol=1e-14), name


def test_combined_float32_gradients_stay_float32():
    from graphtools.nn.classifier import combine_parts

    model = SequenceClassifier("lstm", 3, 4, num_classes=2, seed=0)  # float32
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((6, 5, 3)).astype(np.float32), rng.integers(0, 2, 6)
    parts = [model.loss_and_grads(x[:4], y[:4]), model.loss_and_grads(x[4:], y[4:])]
    loss, logits, grads = combine_parts(parts, np.array([0, 4, 6]))
    whole = model.loss_and_grads(x, y)[2]
    for name, value in grads.items():
        assert value.dtype == np.float32, name
        assert np.allclose(value, whole[name], rtol=1e-5, atol=1e-6), name
    assert logits.shape == (6, 2)


def test_threaded_training_is_deterministic():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((256, 5, 3)).astype(np.float32)
    y = (x[:, :, 0].sum(axis=1) > 0).astype(np.int64)
    params = []
    for _ in range(2):
        model = SequenceClassifier("gru", 3, 8, 1, 2, seed=2)
        fit(model, x, y, epochs=2, batch_size=64, workers=2, seed=3)
        params.append(model.params)
    assert all(np.array_equal(params[0][k], params[1][k]) for k in params[0])


# ---------------------------------------------------------------- worker processes (graphtools.nn.replicas)


def _band_data(n=96, seed=9):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 6, 3)).astype(np.float32)
    return x, (x[:, :, 0].sum(axis=1) > 0).astype(np.int64)


@pytest.fixture
def forkable(monkeypatch):
    """Workers forked even where an earlier test (Dask's) left a thread behind: it holds no lock
    the workers need, and they must be the forked kind the test asks for."""
    import graphtools.forked

    monkeypatch.setattr(graphtools.forked, "can_fork", lambda: True)


@pytest.mark.parametrize("cell", CELLS)
def test_worker_processes_train_exactly_as_worker_threads(cell, monkeypatch, forkable):
    import graphtools.nn.training as training

    x, y = _band_data()
    mask = np.random.default_rng(1).random((4 * 8 if cell == "lstm" else 3 * 8 if cell == "gru" else 8, 8)) < 0.5
    from graphtools.nn.replicas import Replicas

    # the workers compute their parts from the first batch on (by default the caller computes them
    # while the workers start, which may be the whole of this short training)
    modes = {"forked": dict(wait_for_workers=True, fork=True), "spawned": dict(wait_for_workers=True, fork=False),
             "threads": None, "spawned, caller first": dict(fork=False)}
    results = {}
    for mode, options in modes.items():
        monkeypatch.setattr(training, "can_spawn", lambda: options is not None)
        monkeypatch.setattr(training, "Replicas", functools.partial(Replicas, **(options or {})))
        model = SequenceClassifier(cell, 3, 8, 2, 2, seed=4)
        model.set_masks({"rnn.weight_hh_l1": mask})
        result = fit(model, x, y, epochs=2, batch_size=32, workers=2, seed=5, test=(x[:40], y[:40]))
        results[mode] = (model, result)
    threads, by_threads = results["threads"]
    for mode in ("forked", "spawned"):
        processes, by_processes = results[mode]
        for name in threads.params:  # the same arithmetic in the same order: bit for bit
            assert np.array_equal(processes.params[name], threads.params[name]), (mode, name)
            assert processes.params[name].base is None  # the model has its own arrays back
        assert (processes.params["rnn.weight_hh_l1"][~mask] == 0).all()
        assert [e["loss"] for e in by_processes.epochs] == [e["loss"] for e in by_threads.epochs]
        assert by_processes.test.accuracy == by_threads.test.accuracy
    first, _ = results["spawned, caller first"]
    assert all(np.array_equal(first.params[name], threads.params[name]) for name in threads.params)


@pytest.mark.parametrize("fork", [True, False], ids=["forked", "spawned"])
def test_replicas_stop_their_workers_and_a_dead_worker_is_a_clear_error(fork, forkable):
    from graphtools.forked import Child
    from graphtools.nn.replicas import Replicas

    x, y = _band_data(32)
    model = SequenceClassifier("lstm", 3, 8, 1, 2, seed=1)
    before = {name: value.copy() for name, value in model.params.items()}
    with Replicas(model, 3, rows=32, example_shape=(6, 3), dtype=np.float32, fork=fork,
                  wait_for_workers=True) as replicas:
        loss, logits, grads = replicas.loss_and_grads(x, y)  # the workers are ready (so in their sessions)
        forward = replicas.forward(x)
        processes = list(replicas.processes)
        assert len(processes) == 2 and all(p.poll() is None for p in processes)
        assert all(isinstance(p, Child) == fork for p in processes)
        # each in a session of its own: Ctrl-C is the caller's, and a busy machine's share is its own
        assert all(os.getsid(p.pid) == p.pid != os.getsid(0) for p in processes)
    assert all(p.poll() == 0 for p in processes)  # stopped on leaving the block
    expect_loss, expect_logits, expect_grads = model.loss_and_grads(x, y)
    assert loss == pytest.approx(expect_loss, rel=1e-6) and np.allclose(logits, expect_logits, atol=1e-6)
    assert np.array_equal(forward, logits)
    assert all(np.allclose(grads[k], expect_grads[k], atol=1e-6) for k in grads)
    assert all(np.array_equal(before[k], model.params[k]) for k in before)  # nothing trained here
    with pytest.raises(GraphtoolsError, match="training worker process ended unexpectedly"):
        with Replicas(model, 2, rows=32, example_shape=(6, 3), dtype=np.float32, fork=fork) as replicas:
            replicas.processes[0].kill()
            replicas.processes[0].wait()
            replicas.loss_and_grads(x, y)


class _Unpicklable(Exception):
    def __reduce__(self):
        raise TypeError("not to be pickled")


@pytest.mark.parametrize("fork", [True, False], ids=["forked", "spawned"])
def test_an_error_in_a_worker_is_raised_in_the_caller_and_the_workers_go_on(fork, forkable):
    from graphtools.nn.replicas import Replicas

    x, y = _band_data(32)
    model = SequenceClassifier("rnn", 3, 8, 1, 2, seed=1)
    bad = y.copy()
    bad[20] = 7  # in the worker's half: its cross-entropy indexes past the 2 classes
    with Replicas(model, 2, rows=32, example_shape=(6, 3), dtype=np.float32, fork=fork,
                  wait_for_workers=True) as replicas:
        with pytest.raises(IndexError):
            replicas.loss_and_grads(x, bad)
        loss, _, _ = replicas.loss_and_grads(x, y)  # the replies stay in step after the error
        assert loss == pytest.approx(model.loss_and_grads(x, y)[0], rel=1e-6)
        bad = y.copy()
        bad[3] = 7  # in the caller's half: the worker's reply is left unread by the error here
        with pytest.raises(IndexError):
            replicas.loss_and_grads(x, bad)
        assert replicas.forward(x).shape == (32, 2)
        assert replicas.loss_and_grads(x, y)[0] == loss


def test_an_error_that_does_not_pickle_is_named_in_the_caller(monkeypatch, forkable):
    import os

    from graphtools.nn import classifier
    from graphtools.nn.replicas import Replicas

    x, y = _band_data(32)
    model = SequenceClassifier("rnn", 3, 8, 1, 2, seed=1)
    caller, forward = os.getpid(), classifier.SequenceClassifier.forward

    def failing(self, *args, **kwargs):
        if os.getpid() != caller:
            raise _Unpicklable("a worker's own error")
        return forward(self, *args, **kwargs)

    monkeypatch.setattr(classifier.SequenceClassifier, "forward", failing)  # seen by the forked worker
    with Replicas(model, 2, rows=32, example_shape=(6, 3), dtype=np.float32, fork=True,
                  wait_for_workers=True) as replicas:
        with pytest.raises(GraphtoolsError, match="a training worker failed: _Unpicklable: a worker's own error"):
            replicas.forward(x)


def test_replicas_compute_every_part_while_their_workers_start():
    import signal

    from graphtools.nn.replicas import Replicas

    x, y = _band_data(32)
    model = SequenceClassifier("lstm", 3, 8, 1, 2, seed=1)
    expect_loss, expect_logits, expect_grads = model.loss_and_grads(x, y)
    # a spawned worker (a fresh interpreter) takes long enough to start for this test to stop it first
    with Replicas(model, 2, rows=32, example_shape=(6, 3), dtype=np.float32, fork=False) as replicas:
        worker = replicas.processes[0]
        worker.send_signal(signal.SIGSTOP)  # still importing numpy: it cannot have reported ready
        try:
            here = replicas.loss_and_grads(x, y)
            here_logits = replicas.forward(x)
            assert replicas.ready == [False]
        finally:
            worker.send_signal(signal.SIGCONT)
        replicas.wait_for_workers = True
        there = replicas.loss_and_grads(x, y)
        assert replicas.ready == [True]
    assert here[0] == there[0] and np.array_equal(here[1], there[1]) and np.array_equal(here_logits, there[1])
    assert all(np.array_equal(here[2][k], there[2][k]) for k in expect_grads)
    assert here[0] == pytest.approx(expect_loss, rel=1e-6)
    assert all(np.allclose(here[2][k], expect_grads[k], atol=1e-6) for k in expect_grads)


def test_a_script_without_a_main_guard_trains_on_worker_processes(tmp_path):
    import subprocess
    import sys

    script = tmp_path / "train_me.py"  # the worker processes must not run this file again
    script.write_text(
        "import numpy as np\n"
        "from graphtools.nn import SequenceClassifier, fit\n"
        "x = np.random.default_rng(0).standard_normal((64, 4, 3)).astype(np.float32)\n"
        "y = (x[:, 0, 0] > 0).astype(int)\n"
        "model = SequenceClassifier('rnn', 3, 8, num_classes=2)\n"
        "print('epochs', len(fit(model, x, y, epochs=2, batch_size=32, workers=2).epochs))\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("epochs 2") == 1


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as handle:
        return [int(child) for child in handle.read().split()]


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="reads the process tree from /proc")
@pytest.mark.parametrize("how", ["ctrl-c", "kill -9"])
def test_an_interrupted_or_killed_training_run_leaves_no_worker_behind(how, mnist, tmp_path):
    import signal
    import subprocess
    import sys

    out = tmp_path / "model.npz"
    process = subprocess.Popen(
        [sys.executable, "-m", "graphtools.cli", "train", "--cell", "lstm", "--hidden", "8", "--data", str(mnist),
         "--epochs", "5000", "--batch-size", "32", "--workers", "2", "-o", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # a terminal's foreground job
    try:
        assert process.stdout.readline().startswith("epoch 1:")  # the worker is running
        workers = _children(process.pid)
        assert len(workers) == 1
        if how == "ctrl-c":
            os.killpg(process.pid, signal.SIGINT)  # what a terminal does: the caller and its worker
            _, stderr = process.communicate(timeout=60)
            assert process.returncode == 130 and "interrupted" in stderr and "Traceback" not in stderr
            assert load_model(out).cell == "lstm"  # the last whole epoch's checkpoint is intact
        else:
            process.kill()
            process.wait(timeout=60)
        wait_gone(workers, f"outlived their trainer ({how})")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
