"""BLAS thread discipline: the budget, the per-call limits, the CLI option and where they apply."""

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import graphtools.spectral as spectral
from graphtools import threads as T
from graphtools.cli import main
from graphtools.errors import GraphtoolsError
from graphtools.nn import classifier as classifier_module
from graphtools.nn.classifier import SequenceClassifier
from graphtools.nn.training import fit

EXAMPLE = str(Path(__file__).resolve().parents[1] / "data" / "examples" / "lstm_pruned.npz")
THREAD_VARS = ("GRAPHTOOLS_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")


@pytest.fixture
def clean(monkeypatch):
    for name in THREAD_VARS:
        monkeypatch.delenv(name, raising=False)
    T.set_threads(None)
    yield monkeypatch
    monkeypatch.undo()
    T.set_threads(None)


def test_defaults_one_blas_thread_and_every_core_for_workers(clean):
    assert T.blas_threads() == 1
    assert T.threads() == T.available_cores()
    assert T.current_threads() == 1  # set_threads applied it to the loaded libraries


def test_environment_and_explicit_setting(clean):
    clean.setenv("OPENBLAS_NUM_THREADS", "3")
    assert T.blas_threads() == 3 and T.threads() == T.available_cores()
    clean.setenv("GRAPHTOOLS_THREADS", "2")
    assert T.blas_threads() == 2 and T.threads() == 2
    assert T.set_threads(5) == 5 and T.blas_threads() == 5
    assert T.set_threads(4, blas=1) == 4 and T.blas_threads() == 1


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_bad_environment_value_is_an_error(clean, value):
    clean.setenv("GRAPHTOOLS_THREADS", value)
    with pytest.raises(GraphtoolsError, match="GRAPHTOOLS_THREADS must be a whole number"):
        T.threads()


def test_small_work_gets_one_thread_whatever_was_asked(clean):
    T.set_threads(2)
    assert T.threads_for(T.SMALL_WORK - 1) == 1
    assert T.threads_for(T.SMALL_WORK) == 2


@pytest.mark.parametrize("budget,jobs", [(1, 1), (2, 2), (2, 3), (8, 3), (16, 4)])
def test_workers_never_exceed_the_budget(clean, budget, jobs):
    T.set_threads(budget)
    per = T.worker_threads(jobs)
    assert per >= 1
    assert per * jobs <= max(budget, jobs)


def test_blas_limit_sets_and_restores(clean):
    T.set_threads(2)
    assert T.current_threads() == 2
    with T.blas_limit(1):
        assert T.current_threads() == 1
    assert T.current_threads() == 2
    with T.blas_limit(8):  # never raises the count
        assert T.current_threads() == 2


def test_small_svd_runs_on_one_thread_even_when_two_are_set(clean):
    T.set_threads(2)
    seen = []
    real = spectral.la.eigh

    def spy(*args, **kwargs):
        seen.append(T.current_threads())
        return real(*args, **kwargs)

    clean.setattr(spectral.la, "eigh", spy)
    W = np.random.default_rng(0).random((256, 64)) < 0.2
    spectral.top_singular_values(W, 2)
    assert seen == [1]


def test_trainer_runs_blas_on_one_thread_per_worker(clean):
    T.set_threads(2)
    seen = []
    real = classifier_module.SequenceClassifier.loss_and_grads

    def spy(self, *args, **kwargs):
        seen.append(T.current_threads())
        return real(self, *args, **kwargs)

    clean.setattr(classifier_module.SequenceClassifier, "loss_and_grads", spy)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((40, 3, 4)).astype(np.float32), rng.integers(0, 2, 40)
    for workers in (1, 2):
        seen.clear()
        model = SequenceClassifier("rnn", 4, 8, num_classes=2, seed=0)
        fit(model, x, y, epochs=1, batch_size=20, workers=workers)
        assert seen and set(seen) == {1}


def test_cli_threads_option_and_bad_environment(clean, tmp_path):
    ok = CliRunner().invoke(main, ["--threads", "1", "analyze", EXAMPLE, "--format", "json"])
    assert ok.exit_code == 0, ok.output
    assert '"sigma1"' in ok.output
    bad = CliRunner().invoke(main, ["--threads", "0", "analyze", EXAMPLE])
    assert bad.exit_code == 2 and "--threads" in bad.output
    clean.setenv("GRAPHTOOLS_THREADS", "many")
    env = CliRunner().invoke(main, ["analyze", EXAMPLE])
    assert env.exit_code == 1
    assert env.output.strip() == "error: GRAPHTOOLS_THREADS must be a whole number >= 1, got 'many'"


def test_the_command_line_starts_openblas_on_one_thread():
    """Imported before numpy, graphtools.cli has OpenBLAS start on one thread (no thread pool),
    unless a thread number was given in the environment."""
    import os
    import subprocess
    import sys

    code = ("import graphtools.cli, numpy, threadpoolctl; "
            "print(max(i['num_threads'] for i in threadpoolctl.threadpool_info() if i['user_api'] == 'blas'))")
    clean = {k: v for k, v in os.environ.items() if k not in THREAD_VARS}
    one = subprocess.run([sys.executable, "-c", code], env=clean, capture_output=True, text=True, check=True)
    assert one.stdout.strip() == "1"
    asked = subprocess.run([sys.executable, "-c", code], env={**clean, "OPENBLAS_NUM_THREADS": "2"},
                           capture_output=True, text=True, check=True)
    assert asked.stdout.strip() == "2"


@pytest.fixture
def idle_machine(clean):
    clean.setattr(T, "other_runnable", lambda: 0)  # whatever else runs while the tests do
    clean.setattr(T, "available_cores", lambda: 4)
    return clean


def test_run_concurrently_keeps_order_and_shares_the_budget(idle_machine):
    import threading

    T.set_threads(4, blas=4)
    seen = []

    def task(i):
        def run():
            seen.append((threading.current_thread().name, T.current_threads()))
            with T.blas_limit(4):  # a task cannot raise the process-wide limit under another
                inside = T.current_threads()
            return i * i, inside
        return run

    results = T.run_concurrently([task(i) for i in range(6)], workers=2)
    assert [r[0] for r in results] == [0, 1, 4, 9, 16, 25]
    assert all(r[1] == 2 for r in results)  # 4 threads shared by 2 workers
    assert all(count == 2 for _, count in seen)
    assert {name for name, _ in seen} <= {threading.current_thread().name, "graphtools-1"}
    assert T.current_threads() == 4  # restored afterwards


def test_run_concurrently_reraises_the_first_failure_in_order(idle_machine):
    done = []

    def fail(message):
        def run():
            raise ValueError(message)
        return run

    with pytest.raises(ValueError, match="first"):
        T.run_concurrently([lambda: done.append(1), fail("first"), fail("second"), lambda: done.append(2)], workers=2)
    assert sorted(done) == [1, 2]  # every task still ran


def test_run_concurrently_on_one_thread_calls_in_turn(idle_machine):
    import threading

    names = T.run_concurrently([lambda: threading.current_thread().name] * 3, workers=1)
    assert names == [threading.current_thread().name] * 3


@pytest.mark.parametrize("others,expected", [(0, 4), (1, 3), (3, 1), (9, 1), (None, 4)])
def test_run_concurrently_takes_only_cores_nothing_else_wants(idle_machine, others, expected):
    import threading

    idle_machine.setattr(T, "other_runnable", lambda: others)
    gate = threading.Barrier(expected, timeout=5) if expected > 1 else None

    def task():
        if gate is not None:
            gate.wait()  # every thread started must be running at once
        return threading.current_thread().name

    names = T.run_concurrently([task] * expected, workers=4)
    assert len(set(names)) == expected


def fake_tasks(folder, states):
    """A ``/proc/self/task`` look-alike: one thread per state, its name holding ') S' to mislead a parser."""
    for tid, state in enumerate(states, start=100):
        (folder / str(tid)).mkdir(parents=True)
        (folder / str(tid) / "stat").write_text(f"{tid} (python) S (x)) {state} 1 2 3\n")
    return str(folder)


def test_other_runnable_reads_the_kernels_count_less_this_process(tmp_path):
    path = tmp_path / "loadavg"
    path.write_text("2.66 2.64 2.05 5/78 16513\n")
    alone = fake_tasks(tmp_path / "one", "RS")
    assert T.own_runnable(alone) == 1
    assert T.other_runnable(str(path), alone) == 4
    spinning = fake_tasks(tmp_path / "three", "RRRS")  # this process's own BLAS threads spinning
    assert T.own_runnable(spinning) == 3
    assert T.other_runnable(str(path), spinning) == 2
    assert T.own_runnable(str(tmp_path / "none")) == 1  # no such folder: the calling thread
    path.write_text("garbage")
    assert T.other_runnable(str(path)) is None
    assert T.other_runnable() is None or T.other_runnable() >= 0
    assert T.own_runnable() >= 1


def test_concurrent_measurements_give_the_serial_report_bit_for_bit(idle_machine):
    import threading

    import graphtools.analysis as analysis
    from graphtools.analysis import CONCURRENT_MIN_EDGES, analyze_weight

    names = set()
    measure = analysis.top_singular_values
    second = threading.Event()

    def spy(*args, **kwargs):
        names.add(threading.current_thread().name)
        if len(names) > 1:
            second.set()
        elif T.threads() > 1:
            second.wait(timeout=30)  # hold this spectrum until the helper thread has taken another
        return measure(*args, **kwargs)

    idle_machine.setattr(analysis, "top_singular_values", spy)

    rng = np.random.default_rng(3)
    W = rng.standard_normal((400, 300)) * (rng.random((400, 300)) < 0.3)
    assert np.count_nonzero(W) >= CONCURRENT_MIN_EDGES  # the concurrent path is taken
    T.set_threads(1)
    serial = analyze_weight(W, "w")
    assert names == {threading.current_thread().name}
    T.set_threads(2)
    assert analyze_weight(W, "w") == serial
    assert "graphtools-1" in names  # a helper thread measured a spectrum
