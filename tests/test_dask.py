"""Sweeps on a Dask cluster (``--cluster``): the same runs and results as ``--jobs 1``, exactly one
record per run when a worker is killed, resuming after the client is killed, checkpoints returned
to a client whose OUT the workers cannot see, and one-line errors for bad clusters."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
from click.testing import CliRunner

from graphtools.cli import main
from graphtools.cluster import ClusterSpec, parse_cluster
from graphtools.errors import GraphtoolsError
from graphtools.experiments import load_config, plan, read_records, run_sweep

from conftest import wait_for_records, write_band_mnist

distributed = pytest.importorskip("distributed")

TINY = """
[sweep]
dataset = "seq-mnist"
data = "mnist.npz"
methods = ["magnitude", "random"]
sparsities = [{sparsities}]
seeds = [0, 1]
epochs = {epochs}
finetune_epochs = 1
batch_size = 50
figures = []

[[model]]
name = "rnn-h8"
cell = "rnn"
hidden = 8
"""


def _config(folder, sparsities="0.5, 0.8", epochs=1, n_train=300):
    folder.mkdir(parents=True, exist_ok=True)
    write_band_mnist(folder / "mnist.npz", n_train=n_train, n_test=100)
    path = folder / "sweep.toml"
    path.write_text(TINY.format(sparsities=sparsities, epochs=epochs))
    return path


@pytest.fixture(scope="module")
def cluster():
    """A LocalCluster of 2 single-threaded worker processes, shared by this module's tests."""
    local = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                     silence_logs=50)
    client = distributed.Client(local)
    yield local.scheduler_address, client
    client.close()
    local.close()


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The tiny sweep run with --jobs 1: run key -> accuracy."""
    folder = tmp_path_factory.mktemp("reference")
    config = load_config(_config(folder))
    run_sweep(config, folder / "out")
    return config, {r["key"]: r["accuracy"] for r in read_records(folder / "out")}


def _command(config, out, *extra):
    return [sys.executable, "-m", "graphtools.cli", "sweep", str(config), "--out", str(out), "--no-figures", *extra]


def _keys(path):
    return [r["key"] for r in read_records(path)]


# ------------------------------------------------------------------------------ the cluster spec


@pytest.mark.parametrize("text, kind", [("local:2", "local"), ("tcp://10.0.0.1:8786", "address"),
                                        ("tls://scheduler.example:8786", "address")])
def test_cluster_specs(text, kind):
    assert parse_cluster(text).kind == kind


@pytest.mark.parametrize("text, message", [
    ("local:0", "local:N with N >= 1"), ("local:x", "local:N"), ("tcp://host", "tcp://HOST:PORT"),
    ("tcp://host:99999", "out of range"), ("no-such-file.json", "not local:N"), ("", "must be local:N"),
])
def test_bad_cluster_specs_are_one_line_errors(text, message):
    with pytest.raises(GraphtoolsError, match=message):
        parse_cluster(text)


def test_a_scheduler_file_must_name_an_address(tmp_path):
    good, bad = tmp_path / "scheduler.json", tmp_path / "bad.json"
    good.write_text('{"address": "tcp://127.0.0.1:8786"}')
    bad.write_text("[1, 2]")
    assert parse_cluster(str(good)) == ClusterSpec("file", target=str(good))
    with pytest.raises(GraphtoolsError, match="not a Dask scheduler file"):
        parse_cluster(str(bad))


def test_without_dask_the_error_names_the_extra(tmp_path, monkeypatch):
    config = _config(tmp_path)
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    result = CliRunner().invoke(main, ["sweep", str(config), "--out", str(tmp_path / "out"), "--cluster", "local:2"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == ["error: --cluster needs Dask: pip install 'graphtools[dask]'"]
    assert not (tmp_path / "out" / "results.jsonl").exists()


def test_mixed_visibility_of_out_is_an_error():
    from graphtools.experiments.dask_executor import detect_shared

    class Client:  # what client.run answers: worker address -> the worker read the marker
        def __init__(self, seen):
            self.seen = seen

        def run(self, function, *args):
            return self.seen

    assert detect_shared(Client({"tcp://a:1": True, "tcp://b:1": True}), "out", "m", "t") is True
    assert detect_shared(Client({"tcp://a:1": False, "tcp://b:1": False}), "out", "m", "t") is False
    with pytest.raises(GraphtoolsError, match="1 of 2 Dask worker.s. see this folder and 1 do not .e.g. tcp://b:1"):
        detect_shared(Client({"tcp://a:1": True, "tcp://b:1": False}), "out", "m", "t")


# ------------------------------------------------------------------------------ sweeps


def test_cluster_sweep_matches_jobs_1(cluster, reference, tmp_path):
    address, _ = cluster
    config, expected = reference
    result = run_sweep(config, tmp_path / "out", cluster=address)
    keys = _keys(tmp_path / "out")
    assert sorted(keys) == sorted(expected) and len(keys) == len(set(keys)) == result.ran == 10
    assert {r["key"]: r["accuracy"] for r in read_records(tmp_path / "out")} == expected
    checkpoints = sorted(os.listdir(tmp_path / "out" / "checkpoints"))
    assert len(checkpoints) == 10 and not (tmp_path / "out" / ".graphtools-cluster").exists()


def test_checkpoints_come_back_when_workers_cannot_see_out(cluster, reference, tmp_path, monkeypatch):
    """/proc/self/cwd/out names this test's folder for the client and another folder for each
    worker process (whose cwd differs): the workers truly cannot see OUT."""
    address, client = cluster
    config, expected = reference
    monkeypatch.chdir(tmp_path)
    worker_cwds = set(client.run(os.getcwd).values())
    assert str(tmp_path) not in worker_cwds
    scheduler_file = tmp_path / "scheduler.json"  # the scheduler-file route to the same cluster
    scheduler_file.write_text(json.dumps({"address": address}))
    progress = []
    result = run_sweep(config, "/proc/self/cwd/out", cluster=str(scheduler_file), progress=progress.append)
    assert result.ran == 10 and not result.failures
    assert {r["key"]: r["accuracy"] for r in read_records(tmp_path / "out")} == expected
    for record in read_records(tmp_path / "out"):
        assert (tmp_path / "out" / record["checkpoint"]).is_file()
    assert not any(os.path.exists(os.path.join(cwd, "out")) for cwd in worker_cwds)
    assert progress[-1].done == 10 and any(p.running for p in progress)


def test_workers_without_the_data_file_fail_before_any_run(cluster, tmp_path, monkeypatch):
    address, _ = cluster
    _config(tmp_path)
    monkeypatch.chdir(tmp_path)  # the client reads /proc/self/cwd/mnist.npz; the workers cannot
    result = CliRunner().invoke(main, ["sweep", "sweep.toml", "--data", "/proc/self/cwd/mnist.npz",
                                       "--out", "out", "--cluster", address, "--no-figures"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: /proc/self/cwd/mnist.npz: not readable by 2 of 2 Dask")
    assert not (tmp_path / "out" / "results.jsonl").exists()


def test_an_unreachable_scheduler_is_one_error_line(tmp_path):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = _config(tmp_path)
    env = dict(os.environ, DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT="1s")
    done = subprocess.run(_command(config, tmp_path / "out", "--cluster", f"tcp://127.0.0.1:{port}"),
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: cannot reach the Dask scheduler tcp://127.0.0.1:{port} ")
    assert not (tmp_path / "out" / "results.jsonl").exists()


@pytest.mark.parametrize("cluster_arg, message", [
    ("tcp://no-host", "error: --cluster tcp://no-host: not a scheduler address (expected tcp://HOST:PORT)"),
    ("local:zero", "error: --cluster local:zero: expected local:N with N >= 1 worker processes"),
])
def test_bad_cluster_addresses_are_one_error_line(tmp_path, cluster_arg, message):
    config = _config(tmp_path)
    result = CliRunner().invoke(main, ["sweep", str(config), "--out", str(tmp_path / "out"), "--cluster", cluster_arg])
    assert result.exit_code == 1 and result.output.strip().splitlines() == [message]
    assert not (tmp_path / "out" / "results.jsonl").exists()


def test_a_killed_worker_loses_no_run_and_records_none_twice(cluster, tmp_path):
    address, client = cluster
    config = _config(tmp_path, sparsities="0.3, 0.5, 0.7", epochs=2, n_train=400)
    results = tmp_path / "out" / "results.jsonl"
    process = subprocess.Popen(_command(config, tmp_path / "out", "--cluster", address), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        wait_for_records(results, 2, process)
        processing = client.processing()
        busy = [worker for worker, keys in processing.items() if keys]
        assert busy, "no run in progress to interrupt"
        pids = client.run(os.getpid)
        os.kill(pids[busy[0]], signal.SIGKILL)  # its nanny starts a new worker; its runs go elsewhere
        out, err = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    keys = _keys(results)
    assert sorted(keys) == sorted(s.key for s in plan(load_config(config))) and len(keys) == len(set(keys)) == 14


def test_a_killed_client_resumes_with_no_run_lost_or_repeated(cluster, tmp_path):
    address, _ = cluster
    config = _config(tmp_path, sparsities="0.3, 0.5, 0.7", epochs=2, n_train=400)
    out = tmp_path / "out"
    results = out / "results.jsonl"
    process = subprocess.Popen(_command(config, out, "--cluster", address), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    wait_for_records(results, 3, process)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    kept = results.read_bytes()
    finished = read_records(results)
    assert 3 <= len(finished) < 14
    resumed = subprocess.run(_command(config, out, "--cluster", address), capture_output=True, text=True,
                             timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{len(finished)} already finished" in resumed.stdout
    assert results.read_bytes().startswith(kept[:kept.rfind(b"\n") + 1])  # nothing finished was rewritten
    keys = _keys(results)
    assert sorted(keys) == sorted(s.key for s in plan(load_config(config))) and len(keys) == len(set(keys))


def test_a_run_that_fails_is_reported_once_and_not_retried(cluster, tmp_path):
    """A data file that breaks in the worker: each dense run fails once (Dask's retries are 0)
    and its pruned runs fail with it; nothing is recorded."""
    address, _ = cluster
    config = load_config(_config(tmp_path))
    (tmp_path / "mnist.npz").write_bytes(b"not an npz")
    result = run_sweep(config, tmp_path / "out", cluster=address, figures=False)
    assert result.ran == 0 and len(result.failures) == 10
    assert sum("dense run" in message for _, message in result.failures) == 8
    assert not (tmp_path / "out" / "results.jsonl").exists()


def test_batch_analysis_on_the_cluster_matches_one_process(cluster, tmp_path):
    import shutil

    from graphtools.batch import analyze_many

    address, _ = cluster
    example = os.path.join(os.path.dirname(__file__), "..", "data", "examples", "lstm_pruned.npz")
    shutil.copy(example, tmp_path / "a.npz")
    (tmp_path / "broken.npz").write_bytes(b"not a checkpoint")
    here = analyze_many([tmp_path, tmp_path / "gone.npz"])
    there = analyze_many([tmp_path, tmp_path / "gone.npz"], cluster=address)
    assert there.jsonl() == here.jsonl() and [r["status"] for r in there.records] == ["ok", "error", "error"]


def test_the_config_names_the_cluster_and_jobs_on_the_command_line_overrides_it(tmp_path):
    config = _config(tmp_path)
    config.write_text(config.read_text().replace("[sweep]", '[sweep]\ncluster = "tcp://no-host"'))
    refused = CliRunner().invoke(main, ["sweep", str(config), "--out", str(tmp_path / "out")])
    assert refused.exit_code == 1 and "--cluster tcp://no-host: not a scheduler address" in refused.output
    local = CliRunner().invoke(main, ["sweep", str(config), "--out", str(tmp_path / "out"), "--jobs", "1",
                                      "--no-figures"])
    assert local.exit_code == 0, local.output
    assert len(read_records(tmp_path / "out")) == 10


def _worker_state(dask_worker):
    from graphtools.threads import blas_threads, threads

    return ("profile" in dask_worker.periodic_callbacks, "MALLOC_TRIM_THRESHOLD_" in os.environ,
            threads(), blas_threads())


def _budget_in_task(hosts):
    from graphtools.cluster import task_budget
    from graphtools.threads import blas_threads, threads

    with task_budget(hosts) as given:
        return given, threads(), blas_threads()


def test_local_workers_run_without_the_profiler_and_tasks_get_their_share_of_threads(monkeypatch):
    from graphtools.cluster import connect, threads_by_host

    # a Nanny copies its pre-spawn variables into this process's environment, where later workers
    # inherit them: a cluster started earlier in this process with Dask's defaults left one behind
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    with connect("local:2") as connection:
        states = list(connection.client.run(_worker_state).values())
        assert [profiling for profiling, _, _, _ in states] == [False, False]
        assert [trimming for _, trimming, _, _ in states] == [False, False]  # glibc's adaptive malloc kept
        hosts = threads_by_host(connection)
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        share = max(1, cores // 2)
        assert connection.client.submit(_budget_in_task, hosts, pure=False).result() == (share, share, share)
