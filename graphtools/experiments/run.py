"""One run of a sweep: train a dense model, or prune one, fine-tune it, evaluate it and measure it.

:func:`execute` is what a sweep's worker processes call; it returns the run's record
(:mod:`graphtools.experiments.results`) and writes the run's checkpoint atomically.
"""

from __future__ import annotations

import datetime
import os
import time
from dataclasses import dataclass

from graphtools import __version__
from graphtools.data.load import SHAPES, load_dataset
from graphtools.errors import GraphtoolsError
from graphtools.experiments.config import ModelSpec, SweepConfig
from graphtools.experiments.measure import measure_model, reached_sparsity, summarize
from graphtools.experiments.results import SCHEMA
from graphtools.io import load_state
from graphtools.model import describe
from graphtools.nn.classifier import SequenceClassifier
from graphtools.nn.run import build_and_fit
from graphtools.nn.training import evaluate, fit
from graphtools.prune import InfeasibleSparsity, prune_state
from graphtools.threads import with_blas_threads

DENSE = "dense"
#: ``status`` of a record: the run was made, or its method cannot reach the sparsity.
OK, INFEASIBLE = "ok", "infeasible"


@dataclass(frozen=True)
class RunSpec:
    """One run: the dense model of ``model`` and ``seed`` (``method == "dense"``), or that model
    pruned by ``method`` to ``sparsity`` and fine-tuned."""

    model: ModelSpec
    method: str
    sparsity: float
    seed: int

    @property
    def dense(self) -> bool:
        return self.method == DENSE

    @property
    def key(self) -> str:
        if self.dense:
            return f"{self.model.name}/{DENSE}/seed{self.seed}"
        return f"{self.model.name}/{self.method}/{self.sparsity:g}/seed{self.seed}"

    @property
    def dense_key(self) -> str:
        return f"{self.model.name}/{DENSE}/seed{self.seed}"

    def checkpoint(self, out_dir: str) -> str:
        """Where the run's model is kept: ``checkpoints/<key with / as ->.npz``."""
        return os.path.join(out_dir, "checkpoints", self.key.replace("/", "-") + ".npz")


def plan(config: SweepConfig) -> list[RunSpec]:
    """Every run of a sweep: the dense runs first, then per seed, model and method the
    sparsities in increasing order."""
    runs = [RunSpec(m, DENSE, 0.0, s) for s in config.seeds for m in config.models]
    runs += [RunSpec(m, method, sparsity, s) for s in config.seeds for m in config.models
             for method in config.methods for sparsity in sorted(config.sparsities)]
    return runs


_DATA: dict = {}


def _dataset(config: SweepConfig, split: str, noise_snr: float | None = None):
    """Load (once per process) a split of the sweep's dataset."""
    key = (config.dataset, config.data, split, config.limit, noise_snr, config.words, config.cmvn)
    if key not in _DATA:
        _DATA[key] = load_dataset(config.dataset, config.data, split=split, limit=config.limit, noise_snr=noise_snr,
                                  words=None if config.words is None else list(config.words),
                                  normalize=config.cmvn)
    return _DATA[key]


def _steps(config: SweepConfig) -> int:
    return config.unfold_steps or SHAPES[config.dataset][0]


def trainer_functions(config: SweepConfig):
    """``(fit, evaluate)`` of the sweep's trainer: :func:`graphtools.nn.fit` and
    :func:`graphtools.nn.evaluate`, or their PyTorch versions on ``config.device`` (imported only
    then, so a numpy sweep never loads torch)."""
    if config.trainer != "torch":
        return fit, evaluate
    from graphtools.torch.training import evaluate_torch, fit_torch

    def fit_on_device(*args, **kwargs):
        return fit_torch(*args, device=config.device, **kwargs)

    def evaluate_on_device(model, x, y):
        return evaluate_torch(model, x, y, device=config.device)

    return fit_on_device, evaluate_on_device


def _identity(config: SweepConfig, spec: RunSpec) -> dict:
    """The fields every record starts with."""
    return {"schema": SCHEMA, "key": spec.key, "sweep": config.name, "model": spec.model.name,
            "cell": spec.model.cell, "hidden_size": spec.model.hidden_size, "num_layers": spec.model.num_layers,
            "dataset": config.dataset, "method": spec.method, "sparsity": spec.sparsity, "seed": spec.seed,
            "settings": config.settings(spec.model, spec.dense), "trainer": config.trainer,
            "device": config.device}


def _stamp(record: dict, start: float) -> dict:
    record.update(seconds=time.perf_counter() - start, version=__version__,
                  finished=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
    return record


@with_blas_threads
def execute(config: SweepConfig, spec: RunSpec, out_dir: str, workers: int | None = None,
            progress=None) -> dict:
    """Run ``spec`` and return its record (the dense checkpoint must exist for a pruned run).

    A method that cannot reach the sparsity on some matrix (:class:`InfeasibleSparsity`, e.g. a
    biregular mask below one edge per neuron) gives a record of ``status`` ``"infeasible"`` with
    the ``reason`` and no measures: a result about the method, not a failed run."""
    start = time.perf_counter()
    train, test = _dataset(config, "train"), _dataset(config, "test")
    path = spec.checkpoint(out_dir)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    meta = {"dataset": config.dataset, "data_note": train.note, "sweep": config.name, "run": spec.key,
            "trainer": config.trainer, "device": config.device}
    fit, evaluate = trainer_functions(config)
    accuracy_pruned, pruning, init = None, None, None
    if not spec.dense:
        dense_path = RunSpec(spec.model, DENSE, 0.0, spec.seed).checkpoint(out_dir)
        if not os.path.exists(dense_path):
            raise GraphtoolsError(f"{spec.key}: the dense checkpoint {dense_path} is missing")
        checkpoint = load_state(dense_path)
        try:
            state, _, report = prune_state(checkpoint.tensors, method=spec.method, sparsity=spec.sparsity, scope=config.scope,
                                           seed=spec.seed, per_gate=config.per_gate, rounds=config.rounds)
        except InfeasibleSparsity as exc:
            return _stamp({**_identity(config, spec), "status": INFEASIBLE, "reason": str(exc),
                           "data_note": config.data_label or train.note}, start)
        pruning = report.record()
        init = SequenceClassifier.from_state(state, checkpoint.metadata, source=dense_path)
        init.meta["pruning"] = pruning  # the fine-tuned checkpoint says how it was pruned
        accuracy_pruned = evaluate(init, test.x, test.y).accuracy
    model, result = build_and_fit(
        train, test, output=path, seed=spec.seed, cell=spec.model.cell, hidden_size=spec.model.hidden_size,
        num_layers=spec.model.num_layers, init=init, init_name=spec.key, batch_size=config.batch_size, meta=meta,
        trainer=fit, epochs=config.epochs if spec.dense else config.finetune_epochs, clip=config.clip,
        lr=config.lr if spec.dense else config.finetune_lr, progress=progress, workers=workers)
    noise = [{"snr_db": snr, "accuracy": evaluate(model, *_xy(_dataset(config, "test", snr))).accuracy}
             for snr in config.noise_snr]
    description = describe(load_state(path).tensors)
    layers, unfolded = measure_model(description, _steps(config))
    return _stamp({
        **_identity(config, spec), "status": OK, "data_note": config.data_label or train.note,
        "actual_sparsity": reached_sparsity(description),
        "accuracy": result.test.accuracy, "loss": result.test.loss, "accuracy_pruned": accuracy_pruned,
        "noise": noise, "epochs": result.epochs, "pruning": pruning,
        "layers": layers, "summary": summarize(layers), "unfolded": unfolded,
        "checkpoint": os.path.relpath(path, out_dir),
    }, start)


def _xy(ds):
    return ds.x, ds.y
