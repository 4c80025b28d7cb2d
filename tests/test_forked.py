"""Calls in forked children: order, failures answered by the caller, no child left behind, and a
checkpoint measured in processes giving the one-process report bit for bit."""

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import graphtools.analysis as analysis
from graphtools import forked
from graphtools import threads as T
from graphtools.forked import can_fork, map_forked

from conftest import wait_gone

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="graphtools forks on Linux only")

REAL_CAN_FORK = forked.can_fork


@pytest.fixture(autouse=True)
def forking(monkeypatch):
    """Fork even where an earlier test left a thread behind in this test process (a Dask client's
    event loop): the children here touch no lock such a thread could hold."""
    monkeypatch.setattr(forked, "can_fork", lambda: True)
    monkeypatch.setattr(analysis, "can_fork", lambda: True)
    return monkeypatch


def wait_for(folder, count=1, timeout=60):
    """Block until ``folder`` holds ``count`` marker files (children announce themselves there)."""
    deadline = time.monotonic() + timeout
    while len(list(folder.glob("child*"))) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"no child took an item within {timeout} s")
        time.sleep(0.005)


def marking(folder, parent, function):
    """``function`` where a child first leaves a marker, and the caller, if it takes item 0, waits
    there until a child has left one: either way a child takes an item, whatever the machine's load
    (which process reads item 0 first is a race)."""
    def run(x):
        if os.getpid() != parent:
            (folder / f"child-{os.getpid()}-{x}").write_text("")
        elif x == 0:
            wait_for(folder)
        return function(x)
    return run


def test_results_keep_their_order_and_children_compute_some(tmp_path):
    parent = os.getpid()
    out = map_forked(marking(tmp_path, parent, lambda x: (x * x, os.getpid())), range(8), workers=3)
    assert [value for value, _ in out] == [x * x for x in range(8)]
    assert {pid for _, pid in out} - {parent}  # some items were computed in a child
    assert os.getpid() == parent


def test_more_items_than_one_pipe_holds_go_in_chunks(monkeypatch):
    monkeypatch.setattr(forked, "CHUNK", 3)
    assert map_forked(lambda x: -x, range(10), workers=2) == [-x for x in range(10)]


def test_one_worker_or_another_thread_alive_means_no_child(forking):
    parent = os.getpid()
    assert {pid for pid in map_forked(lambda _: os.getpid(), range(4), workers=1)} == {parent}
    forking.setattr(forked, "can_fork", REAL_CAN_FORK)
    stop = threading.Event()
    helper = threading.Thread(target=stop.wait)
    helper.start()
    try:
        assert not can_fork() and not REAL_CAN_FORK()
        assert {pid for pid in map_forked(lambda _: os.getpid(), range(4), workers=4)} == {parent}
    finally:
        stop.set()
        helper.join()


def test_start_child_runs_a_call_in_a_child_that_can_be_waited_for_and_killed(forking, tmp_path):
    marker = tmp_path / "ran"
    child = forked.start_child(lambda path, text: path.write_text(text), marker, "in the child")
    assert child.wait(timeout=60) == 0 and child.poll() == 0 and child.returncode == 0
    assert marker.read_text() == "in the child"
    assert forked.start_child(lambda: 1 / 0).wait(timeout=60) == 1  # it raised: status 1, quietly
    sleeper = forked.start_child(time.sleep, 60)
    assert sleeper.poll() is None
    with pytest.raises(subprocess.TimeoutExpired):
        sleeper.wait(timeout=0.05)
    sleeper.kill()
    assert sleeper.wait(timeout=60) == -signal.SIGKILL
    sleeper.kill()  # reaped already: nothing to signal, no error
    forking.setattr(forked, "can_fork", lambda: False)
    assert forked.start_child(time.sleep, 60) is None


def test_one_worker_takes_a_generator_lazily():
    seen = []

    def numbers():
        for x in range(3):
            seen.append(x)
            yield x

    assert map_forked(lambda x: (x, list(seen)), numbers(), workers=1) == [(0, [0]), (1, [0, 1]), (2, [0, 1, 2])]


def test_setup_runs_in_each_child_before_the_function(tmp_path):
    state = {"set": False}

    def setup():
        state["set"] = True

    parent = os.getpid()
    out = map_forked(marking(tmp_path, parent, lambda _: (os.getpid(), state["set"])), range(6), workers=2,
                     setup=setup)
    assert {pid for pid, _ in out} - {parent}
    assert all(flag == (pid != parent) for pid, flag in out)
    assert state["set"] is False  # the caller's own state is untouched


@pytest.mark.parametrize("failure", ["raise", "exit", "kill", "unpicklable"])
def test_a_failed_child_is_answered_by_the_caller(failure, tmp_path):
    parent = os.getpid()

    def function(x):
        if os.getpid() != parent:
            if failure == "raise":
                raise RuntimeError("only in a child")
            if failure == "exit":
                os._exit(3)
            if failure == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            return lambda: x  # cannot be pickled
        return x + 100

    assert map_forked(marking(tmp_path, parent, function), range(5), workers=2) == [x + 100 for x in range(5)]
    assert list(tmp_path.glob("child*"))  # a child did take an item


def test_an_error_in_a_child_is_raised_by_the_caller(tmp_path):
    parent = os.getpid()

    def function(x):  # fails, in any process, on the item a child took (the child fails at once)
        if os.getpid() != parent or list(tmp_path.glob(f"child-*-{x}")):
            raise ValueError(f"item {x}")
        return x

    with pytest.raises(ValueError, match=r"item \d") as info:
        map_forked(marking(tmp_path, parent, function), range(4), workers=2)
    [taken] = [p.name.rsplit("-", 1)[1] for p in tmp_path.glob("child*")]
    assert str(info.value) == f"item {taken}"  # computed again by the caller, which raised it


def test_an_error_in_the_caller_kills_and_reaps_the_children(tmp_path):
    parent = os.getpid()

    def function(x):
        if os.getpid() != parent:
            (tmp_path / f"pid{x}").write_text(str(os.getpid()))
            os.replace(tmp_path / f"pid{x}", tmp_path / f"child{x}")  # whole when it appears
            time.sleep(60)
            return x
        wait_for(tmp_path, 2)  # both children have taken an item
        raise KeyError("caller")

    with pytest.raises(KeyError, match="caller"):
        map_forked(function, range(5), workers=3)
    pids = [int(p.read_text()) for p in tmp_path.glob("child*")]
    assert len(pids) == 2
    for pid in pids:
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reaped already: not a child any more
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def start_sleepy_caller(folder, items: int, workers: int, **popen) -> subprocess.Popen:
    """A process calling ``map_forked`` on items that sleep a minute, its children leaving their pid
    in ``folder``; returned once ``workers - 1`` children have taken an item."""
    script = textwrap.dedent(f"""
        import os, time
        from pathlib import Path
        from graphtools.forked import map_forked
        folder, parent = Path({str(folder)!r}), os.getpid()
        def function(x):
            if os.getpid() != parent:
                (folder / f"pid{{x}}").write_text(str(os.getpid()))
                os.replace(folder / f"pid{{x}}", folder / f"child{{x}}")  # whole when it appears
            time.sleep(60)
        map_forked(function, range({items}), workers={workers})
    """)
    process = subprocess.Popen([sys.executable, "-c", script], **popen)
    wait_for(folder, workers - 1)
    return process


def test_ctrl_c_ends_the_caller_and_its_children(tmp_path):
    process = start_sleepy_caller(tmp_path, 4, 2, stderr=subprocess.PIPE, text=True,
                                  preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    children = [int(p.read_text()) for p in tmp_path.glob("child*")]
    os.kill(process.pid, signal.SIGINT)  # the caller only: its cleanup must end the child
    _, stderr = process.communicate(timeout=60)
    assert process.returncode != 0
    assert "KeyboardInterrupt" in stderr
    wait_gone(children, "outlived the interrupted caller")  # its cleanup killed and reaped them


def test_a_caller_killed_outright_takes_its_children_with_it(tmp_path):
    process = start_sleepy_caller(tmp_path, 6, 3)
    children = [int(p.read_text()) for p in tmp_path.glob("child*")]
    assert len(children) == 2
    process.kill()  # SIGKILL: no finally block of the caller runs
    process.wait(timeout=60)
    wait_gone(children, "outlived their killed caller")


@pytest.fixture
def two_processes(monkeypatch):
    """A checkpoint's weights measured in two processes, whatever else runs on this machine."""
    T.set_threads(2)
    monkeypatch.setattr(analysis, "free_workers", lambda n: n)
    yield monkeypatch
    T.set_threads(None)


def test_a_checkpoint_in_processes_gives_the_one_process_report_bit_for_bit(two_processes, tmp_path):
    from graphtools.analysis import analyze_checkpoint, weight_processes
    from graphtools.loading import read_checkpoint

    rng = np.random.default_rng(0)
    weights = {}
    for layer in range(2):
        for kind, cols in (("ih", 20 if layer == 0 else 96), ("hh", 96)):
            W = rng.standard_normal((384, cols)) * (rng.random((384, cols)) < 0.2)
            weights[f"lstm.weight_{kind}_l{layer}"] = W
    path = tmp_path / "lstm.npz"
    np.savez(path, **weights)
    model = read_checkpoint(path).model
    two_processes.setattr(analysis, "PROCESS_MIN_ENTRIES", 1)
    assert weight_processes(model.weights) == 2
    parent, log = os.getpid(), tmp_path / "measured"
    measure = analysis.analyze_weight

    def spy(matrix, name="", *args, **kwargs):
        with open(log, "a") as handle:  # every process, its budget and BLAS threads while measuring
            handle.write(f"{os.getpid()} {T.threads()} {T.current_threads()}\n")
        if os.getpid() == parent:
            deadline = time.monotonic() + 60  # until a child has measured something too
            while not any(line.split()[0] != str(parent) for line in log.read_text().splitlines()):
                assert time.monotonic() < deadline, "no child measured a weight"
                time.sleep(0.005)
        return measure(matrix, name, *args, **kwargs)

    two_processes.setattr(analysis, "analyze_weight", spy)
    parallel = analyze_checkpoint(path, gates=True, bounds=True)
    entries = [line.split() for line in log.read_text().splitlines()]
    assert len({pid for pid, _, _ in entries}) == 2
    assert all((budget, blas) == ("1", "1") for _, budget, blas in entries)  # one thread each process
    two_processes.setattr(analysis, "PROCESS_MIN_ENTRIES", 1 << 40)
    two_processes.setattr(analysis, "analyze_weight", measure)
    assert weight_processes(model.weights) == 1
    serial = analyze_checkpoint(path, gates=True, bounds=True)
    assert parallel == serial
    assert len(parallel.layers) == 4 * 5  # each weight and its four gates
    assert all(layer.cover_bound is not None for layer in parallel.layers)
    assert T.threads() == 2  # the budget is the caller's own again


def test_weight_processes_respects_sizes_budget_and_free_cores(two_processes):
    from graphtools.analysis import weight_processes
    from graphtools.model import describe

    def model(rows, cols):
        return describe({f"rnn.weight_{k}_l0": np.ones((rows, cols)) for k in ("ih", "hh")}).weights

    assert weight_processes(model(512, 512)) == 2
    assert weight_processes(model(4, 4)) == 1  # below PROCESS_MIN_ENTRIES in all
    two_processes.setattr(analysis, "PROCESS_MAX_ENTRIES", 1000)
    assert weight_processes(model(512, 512)) == 1  # a weight above it
    two_processes.undo()
    T.set_threads(1)
    assert weight_processes(model(512, 512)) == 1  # a budget of one thread
    T.set_threads(4)
    two_processes.setattr(analysis, "free_workers", lambda n: 1)
    assert weight_processes(model(512, 512)) == 1  # no free core now
    two_processes.setattr(forked, "can_fork", lambda: False)
    two_processes.setattr(analysis, "can_fork", lambda: False)
    two_processes.setattr(analysis, "free_workers", lambda n: n)
    assert weight_processes(model(512, 512)) == 1
