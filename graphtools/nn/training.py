"""The training loop: shuffled minibatches, BPTT, clipping, an optimiser step, a checkpoint per epoch.

Short enough to read at once.  Deterministic for a given seed (the shuffling
RNG and the model's initialisation are the only randomness).
"""

from __future__ import annotations

import contextlib
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from graphtools.errors import GraphtoolsError
from graphtools.nn.classifier import SequenceClassifier, cross_entropy
from graphtools.atomic import CHECKPOINT_FORMATS, check_output
from graphtools.nn.optim import OPTIMIZERS, clip_grad_norm
from graphtools.validate import EPOCHS_MAX, check_count, check_finite, check_seed
from graphtools.threads import blas_limit, threads, threads_for, with_blas_threads


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


class PrintProgress:
    """What ``fit(progress=True)`` shows on standard error: a status line at most every
    ``interval`` seconds while an epoch runs, and one line per finished epoch with its test accuracy."""

    def __init__(self, stream=None, interval: float = 2.0):
        self.stream, self.interval, self.last = stream, interval, time.monotonic()

    def _print(self, line: str) -> None:
        import sys

        print(line, file=self.stream or sys.stderr, flush=True)

    def __call__(self, p: Progress) -> None:
        if time.monotonic() - self.last >= self.interval and p.batch < p.batches:
            self.last = time.monotonic()
            self._print(f"epoch {p.epoch}/{p.epochs}  batch {p.batch}/{p.batches}  loss {p.loss:.4f}  "
                        f"acc {100 * p.accuracy:.2f}%  ETA {p.eta_seconds:.0f} s")

    def epoch_end(self, record: dict) -> None:
        self.last = time.monotonic()
        self._print(format_epoch(record))


def format_epoch(record: dict) -> str:
    """One line for a finished epoch (a record of :attr:`TrainResult.epochs`)."""
    test = record.get("test_accuracy")
    return (f"epoch {record['epoch']}: loss {record['loss']:.4f}  train accuracy {100 * record['train_accuracy']:.2f}%"
            + ("" if test is None else f"  test accuracy {100 * test:.2f}%") + f"  {record['seconds']:.1f} s")


@dataclass
class Evaluation:
    accuracy: float
    loss: float
    samples: int


@dataclass
class TrainResult:
    epochs: list[dict] = field(default_factory=list)  # per epoch: loss, accuracy, seconds, test accuracy
    test: Evaluation | None = None


@with_blas_threads
def evaluate(model: SequenceClassifier, x: np.ndarray, y: np.ndarray, batch_size: int = 1000,
             pool=None, workers: int = 1) -> Evaluation:
    """Accuracy and mean cross-entropy of ``model`` on ``(x, y)`` (on ``workers`` threads of
    ``pool`` when given)."""
    if len(x) == 0:
        raise GraphtoolsError("cannot evaluate on an empty dataset")
    correct, total_loss = 0, 0.0
    for i in range(0, len(x), batch_size):
        chunk = x[i:i + batch_size]
        if pool is not None and len(chunk) >= 2 * workers:
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


def fit(model: SequenceClassifier, x: np.ndarray, y: np.ndarray, epochs: int = 10, batch_size: int = 128,
        lr: float = 1e-3, optimizer: str = "adam", clip: float | None = 1.0, seed: int = 0,
        test: tuple[np.ndarray, np.ndarray] | None = None, checkpoint: str | os.PathLike | None = None,
        progress: Callable[[Progress], None] | bool | None = None, meta: dict | None = None,
        workers: int | None = None, on_epoch: Callable[[dict], None] | None = None) -> TrainResult:
    """Train ``model`` in place; after every epoch evaluate on ``test`` and write ``checkpoint``.

    Pruned weights (``model.masks``) stay exactly zero throughout.  ``workers`` threads (default:
    2 when the thread budget :func:`graphtools.threads.threads` allows, for hidden size >= 128 and
    batches >= 64) each compute the gradient of a part of every batch with one BLAS thread; the
    combined gradient is that of the whole batch.  With one worker, BLAS gets
    :func:`graphtools.threads.threads_for` the largest product of a step (one thread unless asked).

    ``progress``: a callable that gets a :class:`Progress` after every batch, or True to print
    progress to standard error (:class:`PrintProgress`: a status line every 2 s, one line per
    epoch).  ``on_epoch(record)`` is called as each epoch ends, with its record (loss, accuracy,
    test accuracy, seconds) — before the next epoch starts.
    """
    if progress is True:
        printer = PrintProgress()
        progress, on_epoch = printer, on_epoch or printer.epoch_end
    elif progress is False:
        progress = None
    epochs, batch_size, lr, clip, seed = check_fit_arguments(model, x, y, epochs, batch_size, lr, optimizer,
                                                             clip=clip, seed=seed)
    opt = OPTIMIZERS[optimizer](model.params, lr=lr, masks=model.masks)
    if workers is None:  # measured: threads pay off from hidden 128 and batch 64 on, not below
        workers = min(threads(), 2) if batch_size >= 64 and model.hidden_size >= 128 else 1
    meta = {**(meta or {}), "workers": workers}  # results differ in the last bits with the worker count
    with contextlib.ExitStack() as stack:
        pool = None
        if workers > 1:
            # data parallel over batch parts, one BLAS thread per worker: the elementwise passes
            # (single-threaded in numpy) then run on every core too
            pool = stack.enter_context(ThreadPoolExecutor(workers - 1))  # the caller works too
            stack.enter_context(blas_limit(1))
        else:
            h = model.hidden_size
            stack.enter_context(blas_limit(threads_for(2.0 * batch_size * h * max(h, x.shape[-1]) * 4)))
        batch = np.empty((min(batch_size, len(x)),) + x.shape[1:], dtype=x.dtype)  # reused every step

        def step(idx):
            xb = np.take(x, idx, axis=0, out=batch[:len(idx)])
            if pool is not None and len(idx) >= 2 * workers:
                loss, logits, grads = model.parallel_loss_and_grads(xb, y[idx], pool, workers)
            else:
                loss, logits, grads = model.loss_and_grads(xb, y[idx])
            clip_grad_norm(grads, clip)
            opt.step(grads)
            return loss, logits

        return run_epochs(model, x, y, step, epochs=epochs, batch_size=batch_size, seed=seed, test=test,
                          evaluate_test=lambda tx, ty: evaluate(model, tx, ty, pool=pool, workers=workers),
                          checkpoint=checkpoint, progress=progress, meta=meta, on_epoch=on_epoch)


def run_epochs(model: SequenceClassifier, x: np.ndarray, y: np.ndarray, step, *, epochs: int, batch_size: int,
               seed: int, test=None, evaluate_test=None, checkpoint=None, progress=None, meta=None,
               before_save=None, on_epoch=None) -> TrainResult:
    """The epoch loop of every trainer: per epoch one permutation of ``x`` drawn from
    ``numpy.random.default_rng(seed)``, ``step(indices) -> (mean loss, logits)`` per minibatch of
    ``batch_size`` consecutive indices of it, a :class:`Progress` after each, then
    ``evaluate_test(*test)`` (an :class:`Evaluation`), ``before_save()``, ``model.save(checkpoint)``
    and ``on_epoch(record)``."""
    if checkpoint is not None:
        check_output(checkpoint, formats=CHECKPOINT_FORMATS)  # before the first epoch, not after it
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
            if progress is not None:
                elapsed = time.perf_counter() - start
                done = (epoch - 1) * batches + b + 1
                progress(Progress(epoch, epochs, b + 1, batches, loss_sum / seen, correct / seen,
                                  seen / max(time.perf_counter() - epoch_start, 1e-9),
                                  elapsed / done * (epochs * batches - done)))
        record = {"epoch": epoch, "loss": loss_sum / seen, "train_accuracy": correct / seen,
                  "seconds": time.perf_counter() - epoch_start}
        if test is not None:
            result.test = (evaluate_test or (lambda tx, ty: evaluate(model, tx, ty)))(*test)
            record["test_accuracy"] = result.test.accuracy
        result.epochs.append(record)
        if before_save is not None:
            before_save()
        if checkpoint is not None:
            model.save(checkpoint, epochs=epoch, seed=seed,
                       test_accuracy=None if result.test is None else result.test.accuracy, **(meta or {}))
        if on_epoch is not None:
            on_epoch(record)
    return result
