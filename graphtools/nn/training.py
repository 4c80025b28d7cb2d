"""The training loop, readable in one sitting.

:func:`run_epochs` is the whole loop: per epoch one permutation of the examples (drawn from
``numpy.random.default_rng(seed)``), one ``step(indices)`` per minibatch, then the callbacks.
Everything else a run needs -- the progress line, per-epoch evaluation, checkpoints -- is a
:class:`Callback`:

* :class:`EachBatch` / :class:`PrintProgress` see a :class:`Progress` after every batch;
* :class:`Evaluate` scores the model on held-out data as each epoch ends;
* :class:`Checkpoint` writes the model (atomically) after each epoch;
* :class:`EachEpoch` calls a function with the epoch's record.

:func:`fit` is the numpy trainer: it builds the optimiser and the per-batch ``step`` (forward,
backward, clipping, an optimiser step; pruned weights stay exactly zero) and runs the loop.
Deterministic for a given seed (the shuffling RNG and the model's initialisation are the only
randomness).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np

from graphtools.atomic import CHECKPOINT_FORMATS, check_output
from graphtools.errors import GraphtoolsError
from graphtools.nn.classifier import SequenceClassifier, cross_entropy
from graphtools.nn.optim import OPTIMIZERS, clip_grad_norm
from graphtools.nn.replicas import Replicas, can_spawn
from graphtools.threads import blas_limit, threads, threads_for, with_blas_threads
from graphtools.validate import EPOCHS_MAX, check_count, check_finite, check_seed


@dataclass
class Progress:
    """What the progress callback sees after each batch."""

    epoch: int
    epochs: int
    batch: int
    batches: int
    loss: float  # running mean over the epoch so far
    accuracy: float  # running training accuracy over the epoch so far
    samples_per_second: float
    eta_seconds: float


@dataclass
class Evaluation:
    accuracy: float
    loss: float
    samples: int


@dataclass
class TrainResult:
    epochs: list[dict] = field(default_factory=list)  # per epoch: loss, accuracy, seconds, test accuracy
    test: Evaluation | None = None


# ---------------------------------------------------------------- callbacks


class Callback:
    """A hook of :func:`run_epochs`; subclasses override what they need.

    ``on_batch_end(progress)`` runs after every minibatch; ``on_epoch_end(record, result)`` as
    each epoch ends, in the order the callbacks were given: a callback may add fields to the
    epoch's ``record`` (e.g. ``test_accuracy``) and set ``result.test`` for the ones after it.
    """

    def on_batch_end(self, progress: Progress) -> None:
        pass

    def on_epoch_end(self, record: dict, result: TrainResult) -> None:
        pass


class EachBatch(Callback):
    """Call ``function(progress)`` after every minibatch (raise in it to stop training)."""

    def __init__(self, function: Callable[[Progress], None]):
        self.function = function

    def on_batch_end(self, progress: Progress) -> None:
        self.function(progress)


class EachEpoch(Callback):
    """Call ``function(record)`` as each epoch ends (after the callbacks before this one)."""

    def __init__(self, function: Callable[[dict], None]):
        self.function = function

    def on_epoch_end(self, record: dict, result: TrainResult) -> None:
        self.function(record)


class Evaluate(Callback):
    """Score the model on ``(x, y)`` as each epoch ends: ``record["test_accuracy"]`` and
    ``result.test``.  ``evaluate(x, y) -> Evaluation`` does the scoring."""

    def __init__(self, x: np.ndarray, y: np.ndarray, evaluate: Callable[[np.ndarray, np.ndarray], Evaluation]):
        self.x, self.y, self.evaluate = x, y, evaluate

    def on_epoch_end(self, record: dict, result: TrainResult) -> None:
        result.test = self.evaluate(self.x, self.y)
        record["test_accuracy"] = result.test.accuracy


class Checkpoint(Callback):
    """Write ``model`` to ``path`` (atomically) as each epoch ends, with ``meta``, the epoch count,
    the seed and the latest test accuracy in its metadata.  The path is checked at once, so a typo
    costs no epoch."""

    def __init__(self, model: SequenceClassifier, path: str | os.PathLike, *, seed: int, meta: dict | None = None):
        check_output(path, formats=CHECKPOINT_FORMATS)
        self.model, self.path, self.seed, self.meta = model, path, seed, dict(meta or {})

    def on_epoch_end(self, record: dict, result: TrainResult) -> None:
        self.model.save(self.path, epochs=record["epoch"], seed=self.seed,
                        test_accuracy=None if result.test is None else result.test.accuracy, **self.meta)


class PrintProgress(Callback):
    """What ``fit(progress=True)`` shows on standard error: a status line at most every
    ``interval`` seconds while an epoch runs, and one line per finished epoch with its test accuracy."""

    def __init__(self, stream=None, interval: float = 2.0):
        self.stream, self.interval, self.last = stream, interval, time.monotonic()

    def _print(self, line: str) -> None:
        print(line, file=self.stream or sys.stderr, flush=True)

    def __call__(self, p: Progress) -> None:
        self.on_batch_end(p)

    def on_batch_end(self, p: Progress) -> None:
        if time.monotonic() - self.last >= self.interval and p.batch < p.batches:
            self.last = time.monotonic()
            self._print(f"epoch {p.epoch}/{p.epochs}  batch {p.batch}/{p.batches}  loss {p.loss:.4f}  "
                        f"acc {100 * p.accuracy:.2f}%  ETA {p.eta_seconds:.0f} s")

    def epoch_end(self, record: dict) -> None:
        self.last = time.monotonic()
        self._print(format_epoch(record))

    def on_epoch_end(self, record: dict, result: TrainResult) -> None:
        self.epoch_end(record)


def format_epoch(record: dict) -> str:
    """One line for a finished epoch (a record of :attr:`TrainResult.epochs`)."""
    test = record.get("test_accuracy")
    return (f"epoch {record['epoch']}: loss {record['loss']:.4f}  train accuracy {100 * record['train_accuracy']:.2f}%"
            + ("" if test is None else f"  test accuracy {100 * test:.2f}%") + f"  {record['seconds']:.1f} s")


def standard_callbacks(model: SequenceClassifier, *, seed: int, test=None, evaluate_test=None, checkpoint=None,
                       progress=None, meta: dict | None = None, on_epoch=None,
                       before_save: Callable[[], None] | None = None) -> list[Callback]:
    """The callbacks that :func:`fit`'s keyword arguments stand for, in the order they run:
    evaluation on ``test`` (with ``evaluate_test``, default :func:`evaluate` of ``model``),
    ``before_save()``, the checkpoint, the progress callable (or :class:`PrintProgress` for
    True), then ``on_epoch(record)``."""
    callbacks: list[Callback] = []
    if test is not None:
        callbacks.append(Evaluate(*test, evaluate_test or (lambda tx, ty: evaluate(model, tx, ty))))
    if before_save is not None:
        callbacks.append(EachEpoch(lambda record: before_save()))
    if checkpoint is not None:
        callbacks.append(Checkpoint(model, checkpoint, seed=seed, meta=meta))
    if progress is True:
        callbacks.append(PrintProgress())
    elif progress not in (None, False):
        callbacks.append(progress if isinstance(progress, Callback) else EachBatch(progress))
    if on_epoch is not None:
        callbacks.append(EachEpoch(on_epoch))
    return callbacks


# ---------------------------------------------------------------- the loop


def run_epochs(x: np.ndarray, y: np.ndarray, step: Callable[[np.ndarray], tuple[float, np.ndarray]], *,
               epochs: int, batch_size: int, seed: int, callbacks: Iterable[Callback] = ()) -> TrainResult:
    """The epoch loop of every trainer (numpy and PyTorch).

    Per epoch: one permutation of ``x`` drawn from ``numpy.random.default_rng(seed)``;
    ``step(indices) -> (mean loss, logits)`` per minibatch of ``batch_size`` consecutive indices
    of it, each followed by ``on_batch_end`` of every callback; then the epoch's record (loss,
    train accuracy, seconds) goes through every callback's ``on_epoch_end``.
    """
    callbacks = list(callbacks)
    rng = np.random.default_rng(seed)
    batches = (len(x) + batch_size - 1) // batch_size
    result = TrainResult()
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(x))
        seen, loss_sum, correct, epoch_start = 0, 0.0, 0, time.perf_counter()
        for b in range(batches):
            idx = order[b * batch_size:(b + 1) * batch_size]
            loss, logits = step(idx)
            seen += len(idx)
            loss_sum += loss * len(idx)
            correct += int((logits.argmax(axis=1) == y[idx]).sum())
            if callbacks:
                now = time.perf_counter()
                done = (epoch - 1) * batches + b + 1
                progress = Progress(epoch, epochs, b + 1, batches, loss_sum / seen, correct / seen,
                                    seen / max(now - epoch_start, 1e-9),
                                    (now - start) / done * (epochs * batches - done))
                for callback in callbacks:
                    callback.on_batch_end(progress)
        record = {"epoch": epoch, "loss": loss_sum / seen, "train_accuracy": correct / seen,
                  "seconds": time.perf_counter() - epoch_start}
        result.epochs.append(record)
        for callback in callbacks:
            callback.on_epoch_end(record, result)
    return result


# ---------------------------------------------------------------- the numpy trainer


@with_blas_threads
def evaluate(model: SequenceClassifier, x: np.ndarray, y: np.ndarray, batch_size: int = 1000,
             pool=None, workers: int = 1, replicas: Replicas | None = None) -> Evaluation:
    """Accuracy and mean cross-entropy of ``model`` on ``(x, y)`` (on ``workers`` threads of
    ``pool``, or the worker processes of ``replicas``, when given)."""
    if len(x) == 0:
        raise GraphtoolsError("cannot evaluate on an empty dataset")
    correct, total_loss = 0, 0.0
    for i in range(0, len(x), batch_size):
        chunk = x[i:i + batch_size]
        if replicas is not None and len(chunk) >= 2 * replicas.workers and replicas.fits(chunk):
            logits = replicas.forward(chunk)
        elif pool is not None and len(chunk) >= 2 * workers:
            logits = model.parallel_forward(chunk, pool, workers)
        else:
            logits = model.forward(chunk)
        labels = y[i:i + batch_size]
        loss, _ = cross_entropy(logits.astype(np.float64), labels)
        total_loss += loss * len(labels)
        correct += int((logits.argmax(axis=1) == labels).sum())
    return Evaluation(correct / len(x), total_loss / len(x), len(x))


def check_fit_arguments(model: SequenceClassifier, x: np.ndarray, y: np.ndarray, epochs: int, batch_size: int,
                        lr: float, optimizer: str, *, clip: float | None = None, seed: int = 0):
    """GraphtoolsError (one line) for training settings or data that :func:`fit` cannot use; returns
    the checked ``(epochs, batch_size, lr, clip, seed)``."""
    if optimizer not in OPTIMIZERS:
        raise GraphtoolsError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, not {optimizer!r}")
    epochs = check_count(epochs, "epochs", maximum=EPOCHS_MAX)
    batch_size = check_count(batch_size, "batch size")
    lr = check_finite(lr, "learning rate", minimum=0, min_open=True)
    clip = None if clip is None else check_finite(clip, "clip", minimum=0, min_open=True)
    seed = check_seed(seed)
    if len(x) == 0 or len(x) != len(y):
        raise GraphtoolsError(f"need matching, non-empty inputs and labels (got {len(x)} and {len(y)})")
    if y.min() < 0 or y.max() >= model.num_classes:
        raise GraphtoolsError(f"labels must lie in 0..{model.num_classes - 1}, found {y.min()}..{y.max()}")
    return epochs, batch_size, lr, clip, seed


def default_workers(model: SequenceClassifier, batch_size: int) -> int:
    """Workers per batch when not given: 2 (when the thread budget allows) from hidden size 128
    and batch 64 on, where they pay off (measured), else 1."""
    return min(threads(), 2) if batch_size >= 64 and model.hidden_size >= 128 else 1


def fit(model: SequenceClassifier, x: np.ndarray, y: np.ndarray, *, optimizer: str = "adam", epochs: int = 10,
        batch_size: int = 128, callbacks: Iterable[Callback] = (), lr: float = 1e-3, clip: float | None = 1.0,
        seed: int = 0, test: tuple[np.ndarray, np.ndarray] | None = None,
        checkpoint: str | os.PathLike | None = None, progress: Callable[[Progress], None] | bool | None = None,
        meta: dict | None = None, workers: int | None = None,
        on_epoch: Callable[[dict], None] | None = None) -> TrainResult:
    """Train ``model`` in place with minibatch BPTT, gradient clipping and ``optimizer``.

    Parameters
    ----------
    model : SequenceClassifier
        Trained in place; pruned weights (``model.masks``) stay exactly zero throughout.
    x, y : numpy.ndarray
        Inputs ``(N, T, features)`` and integer labels ``(N,)``.
    optimizer : {"adam", "sgd"}
        :class:`graphtools.nn.Adam` or :class:`graphtools.nn.SGD` at learning rate ``lr``.
    epochs, batch_size : int
        Passes over the data and examples per gradient step.
    callbacks : iterable of Callback
        Run after the ones the keyword arguments below stand for (:func:`standard_callbacks`).
    lr, clip, seed : float, float or None, int
        Learning rate, the global gradient-norm bound, the seed of the batch order.
    test : (x, y), optional
        Evaluated after every epoch (:class:`Evaluate`): ``test_accuracy`` in each epoch's record.
    checkpoint : path, optional
        Written after every epoch (:class:`Checkpoint`), with ``meta`` (plus ``workers``).
    progress : callable or bool, optional
        Called with a :class:`Progress` after every batch; True prints to standard error
        (:class:`PrintProgress`: a status line every 2 s, one line per epoch).
    workers : int, optional
        Workers per batch, each computing the gradient of a part of it with one BLAS thread (the
        combined gradient is that of the whole batch): this process and ``workers - 1`` processes
        sharing the model's memory (:mod:`graphtools.nn.replicas`; threads off POSIX); default
        :func:`default_workers`.  With one worker BLAS gets :func:`graphtools.threads.threads_for`
        the largest product of a step.
    on_epoch : callable, optional
        ``on_epoch(record)`` as each epoch ends, before the next starts.

    Returns
    -------
    TrainResult
        The per-epoch records and the last evaluation on ``test``.

    Example
    -------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).standard_normal((32, 4, 3)).astype(np.float32)
    >>> y = (x[:, 0, 0] > 0).astype(int)
    >>> model = SequenceClassifier("rnn", 3, 8, num_classes=2)
    >>> result = fit(model, x, y, epochs=2, batch_size=8, test=(x, y))
    >>> [record["epoch"] for record in result.epochs], 0 <= result.test.accuracy <= 1
    ([1, 2], True)
    """
    epochs, batch_size, lr, clip, seed = check_fit_arguments(model, x, y, epochs, batch_size, lr, optimizer,
                                                             clip=clip, seed=seed)
    opt = OPTIMIZERS[optimizer](model.params, lr=lr, masks=model.masks)
    workers = default_workers(model, batch_size) if workers is None else workers
    meta = {**(meta or {}), "workers": workers}  # results differ in the last bits with the worker count
    with contextlib.ExitStack() as stack:
        pool = replicas = None
        rows = min(batch_size, len(x))
        if workers > 1:
            # data parallel over batch parts, one BLAS thread per worker: the elementwise passes
            # (single-threaded in numpy) then run on every core too.  Worker processes sharing the
            # model's memory (graphtools.nn.replicas: threads contend for the GIL at every numpy
            # call), threads where processes cannot be started
            stack.enter_context(blas_limit(1))
            if can_spawn():
                replicas = stack.enter_context(Replicas(model, workers, rows=rows, example_shape=x.shape[1:],
                                                        dtype=x.dtype))
            else:
                pool = stack.enter_context(ThreadPoolExecutor(workers - 1))  # the caller works too
        else:
            h = model.hidden_size
            stack.enter_context(blas_limit(threads_for(2.0 * batch_size * h * max(h, x.shape[-1]) * 4)))
        # reused every step (with replicas, the buffer the workers read)
        batch = replicas.input[:rows] if replicas is not None else np.empty((rows,) + x.shape[1:], dtype=x.dtype)

        def step(idx):
            xb = np.take(x, idx, axis=0, out=batch[:len(idx)])
            if replicas is not None and len(idx) >= 2 * workers:
                loss, logits, grads = replicas.loss_and_grads(xb, y[idx])
            elif pool is not None and len(idx) >= 2 * workers:
                loss, logits, grads = model.parallel_loss_and_grads(xb, y[idx], pool, workers)
            else:
                loss, logits, grads = model.loss_and_grads(xb, y[idx])
            clip_grad_norm(grads, clip)
            opt.step(grads)
            return loss, logits

        hooks = standard_callbacks(model, seed=seed, test=test, checkpoint=checkpoint, progress=progress,
                                   meta=meta, on_epoch=on_epoch,
                                   evaluate_test=lambda tx, ty: evaluate(model, tx, ty, pool=pool, workers=workers,
                                                                         replicas=replicas))
        return run_epochs(x, y, step, epochs=epochs, batch_size=batch_size, seed=seed,
                          callbacks=[*hooks, *callbacks])
