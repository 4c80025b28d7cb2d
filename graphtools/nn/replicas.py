"""Data-parallel gradients in worker processes that share the model's memory.

Why processes.  :meth:`SequenceClassifier.parallel_loss_and_grads` splits a batch over threads,
but a step of an LSTM is some forty small numpy calls, and every one of them gives the GIL away
and takes it back: two threads doing a part each took 16.5-18.2 ms a part where one alone took
12.4-13.6 ms, while two processes took 12.3-13.6 ms (LSTM-128, parts of 64 examples, one BLAS
thread each, forward and backward; ``benchmarks/bench_workers.py``, three runs).  So
:class:`Replicas` runs ``workers - 1`` worker processes next to the caller, each with a replica of
the model whose parameters *are* the caller's: one block of shared memory holds the parameters, the batch, its labels and one gradient
buffer per worker.  The caller's optimiser updates the parameters in place; a batch costs one
message to each worker (which rows to take) and one back (its loss and logits).  The block is a
file in ``/dev/shm`` (or the temporary folder) removed as soon as it is created, mapped by the
caller and passed to each worker as an open file descriptor: nothing is left behind, whatever
happens.  Workers are fresh interpreters (``python -c``) in their own session, started without
multiprocessing, so a user's script needs no ``if __name__ == "__main__"`` guard and a terminal's
Ctrl-C reaches only the caller.

A fresh worker takes about half a second to start (importing numpy, scipy and graphtools; the
epoch of LSTM-128 on seq-MNIST takes 6-8 s).  Each reports once it is ready; until all have, the
caller computes every part of a batch itself instead of waiting (the same arithmetic as a
worker's, so the results are the same either way).

The parts are the consecutive slices :func:`~graphtools.nn.classifier.part_bounds` makes, the
caller computing the first, and they are combined by
:func:`~graphtools.nn.classifier.combine_parts`, exactly as the threaded path does: the same
arithmetic in the same order, so results equal it.  Workers leave when the caller closes its end
of their socket or dies.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import signal
import socket
import subprocess
import sys
import tempfile
from multiprocessing.connection import Connection

import numpy as np

from graphtools.errors import GraphtoolsError
from graphtools.nn.classifier import SequenceClassifier, combine_parts, part_bounds
from graphtools.threads import blas_limit

#: Rows of the shared batch buffer at least (``evaluate`` scores 1,000 examples at a time).
MIN_ROWS = 1000

_ALIGN = 64


def _layout(entries: list[tuple[str, tuple, np.dtype]]) -> tuple[dict, int]:
    """Offsets of ``(key, shape, dtype)`` arrays packed into one buffer, each 64-byte aligned.

    >>> _layout([("a", (3,), np.float32), ("b", (2, 2), np.int64)])
    ({'a': (0, (3,), '<f4'), 'b': (64, (2, 2), '<i8')}, 128)
    """
    offsets, size = {}, 0
    for key, shape, dtype in entries:
        offsets[key] = (size, shape, np.dtype(dtype).str)
        size += -(-int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize // _ALIGN) * _ALIGN
    return offsets, max(size, _ALIGN)


def _ended() -> GraphtoolsError:
    return GraphtoolsError("a training worker process ended unexpectedly (killed, or out of memory)")


def _views(buffer, offsets: dict) -> dict[str, np.ndarray]:
    return {key: np.ndarray(shape, dtype=np.dtype(dtype), buffer=buffer, offset=offset)
            for key, (offset, shape, dtype) in offsets.items()}


def can_spawn() -> bool:
    """Whether worker processes can be started here (POSIX: file descriptors are passed to them);
    else the caller keeps to threads.

    Example
    -------
    >>> import os
    >>> can_spawn() == (os.name == "posix")
    True
    """
    return os.name == "posix"


class Replicas:
    """``workers - 1`` worker processes computing parts of each batch for ``model`` (see the module
    docstring); a context manager.  ``model.params`` is pointed at the shared block while it is open
    (the same dict, so an optimiser built on it keeps working) and given back its own arrays, with
    the trained values, on close.

    ``input`` is the shared batch buffer (``rows`` examples of ``example_shape`` and ``dtype``): a
    caller that writes the batch there saves a copy.  ``wait_for_workers``: wait for the workers to
    start rather than compute every part here until they have (the results are the same).

    Example
    -------
    >>> import numpy as np
    >>> model = SequenceClassifier("rnn", 3, 8, num_classes=2)
    >>> x = np.random.default_rng(0).standard_normal((16, 4, 3)).astype(np.float32)
    >>> y = (x[:, 0, 0] > 0).astype(int)
    >>> with Replicas(model, 2, rows=16, example_shape=(4, 3), dtype=np.float32) as replicas:
    ...     loss, logits, grads = replicas.loss_and_grads(x, y)
    >>> bool(np.isclose(loss, model.loss_and_grads(x, y)[0], rtol=1e-6)), logits.shape
    (True, (16, 2))
    """

    def __init__(self, model: SequenceClassifier, workers: int, *, rows: int, example_shape: tuple, dtype,
                 wait_for_workers: bool = False):
        if workers < 2:
            raise ValueError("Replicas needs at least 2 workers (the caller is one)")
        self.model, self.workers = model, workers
        # False: while a worker is starting, the caller computes all parts itself (module docstring)
        self.wait_for_workers = wait_for_workers
        self.ready = [False] * (workers - 1)
        self.rows = max(int(rows), MIN_ROWS)
        entries = [(f"param:{name}", value.shape, value.dtype) for name, value in model.params.items()]
        entries += [("input", (self.rows, *example_shape), dtype), ("labels", (self.rows,), np.int64)]
        entries += [(f"grad{r}:{name}", value.shape, value.dtype)
                    for r in range(1, workers) for name, value in model.params.items()]
        self.offsets, size = _layout(entries)
        self.processes, self.connections, self.buffer = [], [], None
        self.own = dict(model.params)
        folder = "/dev/shm" if os.path.isdir("/dev/shm") else None
        handle, path = tempfile.mkstemp(prefix="graphtools-replicas-", dir=folder)
        try:
            os.unlink(path)  # anonymous from now on: freed when the last mapping goes
            os.ftruncate(handle, size)
            self.buffer = mmap.mmap(handle, size)
            views = _views(self.buffer, self.offsets)
            self.input, self.labels = views["input"], views["labels"]
            self.grads = [{name: views[f"grad{r}:{name}"] for name in model.params} for r in range(1, workers)]
            for name, value in self.own.items():
                np.copyto(views[f"param:{name}"], value)
                model.params[name] = views[f"param:{name}"]
            self._start(model, handle)
        except BaseException:
            self.close()
            raise
        finally:
            os.close(handle)

    def _start(self, model: SequenceClassifier, handle: int) -> None:
        import graphtools

        root = os.path.dirname(os.path.dirname(os.path.abspath(graphtools.__file__)))
        path = os.environ.get("PYTHONPATH")
        env = {**os.environ, "PYTHONPATH": root if not path else root + os.pathsep + path}
        spec = (model.cell, model.input_size, model.hidden_size, model.num_layers, model.num_classes,
                model.params["fc.weight"].dtype.str)
        for r in range(1, self.workers):
            mine, theirs = socket.socketpair()
            with theirs:
                process = subprocess.Popen(
                    [sys.executable, "-c", "import sys; from graphtools.nn.replicas import serve; "
                     "serve(int(sys.argv[1]), int(sys.argv[2]))", str(theirs.fileno()), str(handle)],
                    pass_fds=(theirs.fileno(), handle), stdin=subprocess.DEVNULL, env=env,
                    start_new_session=True)
            self.processes.append(process)
            connection = Connection(mine.detach())
            self.connections.append(connection)
            connection.send((self.offsets, spec, model.masks, r))

    def _ask(self, command: str, bounds) -> None:
        for r, connection in enumerate(self.connections, start=1):
            try:
                connection.send((command, int(bounds[r]), int(bounds[r + 1])))
            except OSError:
                raise _ended() from None

    def _answers(self) -> list:
        answers = []
        for connection in self.connections:
            try:
                answer = connection.recv()
            except (EOFError, OSError):
                raise _ended() from None
            if isinstance(answer, BaseException):
                raise answer
            answers.append(answer)
        return answers

    def _started(self) -> bool:
        """Whether every worker has reported ready: the reports that came are read without waiting
        (waiting for them with ``wait_for_workers``)."""
        while not all(self.ready):
            r = self.ready.index(False)
            connection = self.connections[r]
            try:
                if not self.wait_for_workers and not connection.poll():
                    return False
                answer = connection.recv()
            except (EOFError, OSError):
                raise _ended() from None
            if isinstance(answer, BaseException):
                raise answer
            self.ready[r] = True
        return True

    def _parts_here(self, bounds, compute) -> list:
        """``compute(rows)`` of every part, here: while workers are still starting."""
        return [compute(slice(a, b)) for a, b in zip(bounds[:-1], bounds[1:])]

    def _load(self, x, labels=None) -> int:
        n = len(x)
        if n > self.rows:
            raise ValueError(f"a batch of {n} examples does not fit the shared buffer of {self.rows}")
        if not np.shares_memory(x, self.input):
            np.copyto(self.input[:n], x, casting="unsafe")
        if labels is not None:
            self.labels[:n] = labels
        return n

    def loss_and_grads(self, x, labels) -> tuple[float, np.ndarray, dict[str, np.ndarray]]:
        """:meth:`SequenceClassifier.loss_and_grads` of the batch ``(x, labels)``, its parts computed
        at once by the caller and the workers."""
        n = self._load(x, labels)
        bounds = part_bounds(n, self.workers)
        if not self._started():
            parts = self._parts_here(bounds, lambda rows: self.model.loss_and_grads(self.input[rows],
                                                                                   self.labels[rows]))
            return combine_parts(parts, bounds)
        self._ask("grads", bounds)
        first = self.model.loss_and_grads(self.input[:bounds[1]], self.labels[:bounds[1]])
        rest = [(loss, logits, grads) for (loss, logits), grads in zip(self._answers(), self.grads)]
        return combine_parts([first, *rest], bounds)

    def fits(self, x) -> bool:
        """Whether ``x`` fits the shared batch buffer (:meth:`forward` takes it)."""
        return len(x) <= self.rows and x.shape[1:] == self.input.shape[1:]

    def forward(self, x) -> np.ndarray:
        """:meth:`SequenceClassifier.forward` of ``x`` (at most ``rows`` examples), in parts."""
        n = self._load(x)
        bounds = part_bounds(n, self.workers)
        if not self._started():
            return np.concatenate(self._parts_here(bounds, lambda rows: self.model.forward(self.input[rows])))
        self._ask("forward", bounds)
        first = self.model.forward(self.input[:bounds[1]])
        return np.concatenate([first, *self._answers()])

    def close(self) -> None:
        for connection in self.connections:
            with contextlib.suppress(OSError, ValueError):
                connection.send(None)
            connection.close()
        for process in self.processes:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.connections, self.processes = [], []
        if self.buffer is not None:
            for name, value in self.own.items():  # the trained values, in the model's own arrays
                if self.model.params.get(name) is not value:
                    np.copyto(value, self.model.params[name])
                    self.model.params[name] = value
            self.input = self.labels = self.grads = None
            with contextlib.suppress(BufferError):  # a caller's view still alive: unmapped when it goes
                self.buffer.close()
            self.buffer = None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def serve(socket_fd: int, memory_fd: int) -> None:
    """A worker's main, run by :class:`Replicas` as ``python -c`` with two inherited descriptors:
    ``socket_fd``, its end of the caller's socket (the first message is the layout, the model's
    shape and masks, and its replica number, answered by ``"ready"``; then one
    ``(command, start, stop)`` per batch part, ``None`` to stop), and ``memory_fd``, the shared block to map.  Not for direct use."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the caller handles Ctrl-C
    connection = Connection(socket_fd)
    buffer = mmap.mmap(memory_fd, 0)
    os.close(memory_fd)
    try:
        offsets, spec, masks, replica = connection.recv()
        _answer(connection, _views(buffer, offsets), spec, masks, replica)
    except (EOFError, OSError):
        pass
    finally:
        with contextlib.suppress(BufferError):
            buffer.close()


def _answer(connection, views: dict, spec: tuple, masks: dict, replica: int) -> None:
    cell, input_size, hidden, layers, classes, dtype = spec
    model = SequenceClassifier(cell, input_size, hidden, layers, classes, dtype=np.dtype(dtype))
    for name in model.params:
        model.params[name] = views[f"param:{name}"]
    model.masks = masks
    grads_out = {name: views[f"grad{replica}:{name}"] for name in model.params}
    inputs, labels = views["input"], views["labels"]
    connection.send("ready")
    with blas_limit(1):
        while True:
            try:
                message = connection.recv()
            except (EOFError, OSError):
                return
            if message is None:
                return
            command, start, stop = message
            try:
                if command == "grads":
                    loss, logits, grads = model.loss_and_grads(inputs[start:stop], labels[start:stop])
                    for name, value in grads.items():
                        np.copyto(grads_out[name], value)
                    connection.send((loss, logits))
                else:
                    connection.send(model.forward(inputs[start:stop]))
            except Exception as exc:  # noqa: BLE001 -- raised again in the caller
                connection.send(exc)


__all__ = ["MIN_ROWS", "Replicas", "can_spawn", "serve"]
