"""The sweep Scheduler drives any executor with the submit()/wait() interface."""

from __future__ import annotations

from concurrent.futures import Future

from graphtools.errors import GraphtoolsError
from graphtools.experiments import ModelSpec, SweepConfig, plan
from graphtools.experiments.executors import Executor
from graphtools.experiments.sweep import Scheduler, SweepResult


class FakeExecutor(Executor):
    """Finishes one submitted run per wait(); a pruned run may be submitted with its dense run
    in flight (chains), and then must name that run's future as its parent."""

    chains, label, slots = True, "queued", 3

    def __init__(self, fail=()):
        self.fail, self.order, self.parents, self.pending = set(fail), [], {}, []

    def submit(self, config, spec, out_dir, parent=None):
        future = Future()
        self.parents[spec.key] = parent
        self.pending.append((future, spec))
        return future

    def wait(self, futures, timeout):
        future, spec = self.pending.pop(0)
        self.order.append(spec.key)
        if spec.key in self.fail:
            future.set_exception(GraphtoolsError(f"{spec.key}: broken"))
        else:
            future.set_result({"key": spec.key, "method": spec.method, "status": "ok", "accuracy": 0.5,
                               "checkpoint": f"checkpoints/{spec.key}.npz"})
        return {future}


def _scheduler(tmp_path, fail=()):
    config = SweepConfig(dataset="seq-mnist", models=(ModelSpec("m", "rnn", 4),), methods=("random",),
                         sparsities=(0.5, 0.8), seeds=(0, 1), data="x", figures=())
    result = SweepResult(str(tmp_path), str(tmp_path / "results.jsonl"), str(tmp_path / "summary.csv"), 6, 0, 0)
    seen = []
    scheduler = Scheduler(config, str(tmp_path), plan(config), {}, result, progress=seen.append)
    executor = FakeExecutor(fail)
    scheduler.run(executor)
    return scheduler, executor, result, seen


def test_a_chaining_executor_gets_pruned_runs_with_their_dense_parent(tmp_path):
    scheduler, executor, result, seen = _scheduler(tmp_path)
    assert executor.order[:2] == ["m/dense/seed0", "m/dense/seed1"] and len(executor.order) == 6
    assert executor.parents["m/random/0.5/seed0"] is not None and executor.parents["m/dense/seed0"] is None
    assert result.ran == 6 and not result.failures and len(scheduler.done) == 6
    assert (tmp_path / "results.jsonl").read_text().count("\n") == 6
    assert seen[-1].done == 6 and seen[-1].running == {} and seen[-1].event.startswith("finished m/random")


def test_a_failed_dense_run_fails_its_pruned_runs_once(tmp_path):
    _, executor, result, seen = _scheduler(tmp_path, fail={"m/dense/seed1"})
    failed = dict(result.failures)
    assert failed == {"m/dense/seed1": "m/dense/seed1: broken",
                      "m/random/0.5/seed1": "its dense run m/dense/seed1 failed",
                      "m/random/0.8/seed1": "its dense run m/dense/seed1 failed"}
    assert result.ran == 3 and len(executor.order) == 4  # the two pruned runs never started
    assert seen[-1].failed == 3
