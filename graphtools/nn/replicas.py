"""Data-parallel gradients in worker processes that share the model's memory.

Why processes.  :meth:`SequenceClassifier.parallel_loss_and_grads` splits a batch over threads,
but a step of an LSTM is some forty small numpy calls, and every one of them gives the GIL away
and takes it back: two threads doing a part each took 16.5-18.2 ms a part where one alone took
12.4-13.6 ms, while two processes took 12.3-13.6 ms (LSTM-128, parts of 64 examples, one BLAS
thread each, forward and backward; ``benchmarks/bench_workers.py``, three runs).  So
:class:`Replicas` runs ``workers - 1`` worker processes next to the caller, each with a replica of
the model whose parameters *are* the caller's: one block of shared memory holds the parameters,
the batch, its labels and, per worker, one gradient buffer and one for its logits.  The caller's
optimiser updates the parameters in place.  The block is a file in ``/dev/shm`` (or the temporary
folder) removed as soon as it is created and mapped by the caller: nothing is left behind, whatever
happens.

Starting.  Where :func:`graphtools.forked.can_fork` (Linux, no other Python thread) a worker is a
fork of the caller: it has the model, the block and the loaded modules at once, is ready in
24-34 ms (a 60,000-digit seq-MNIST in memory), and dies with the caller.  Elsewhere, and with
``fork=False``, it is a fresh interpreter (``python -c``, no multiprocessing, so a user's script
needs no ``if __name__ == "__main__"`` guard) in its own session, handed the block as an open
file descriptor; it takes 0.35 s to import numpy, scipy and graphtools.  Each worker reports once
it is ready; until all have, the caller computes every part of a batch itself instead of waiting
(the same arithmetic as a worker's, so the results are the same either way).  Forked or spawned,
a worker runs in a session of its own, so a terminal's Ctrl-C is the caller's to handle, and where
Linux schedules by session (autogroup) the worker gets a session's share of a busy machine, not
half of the caller's: with one CPU hog per core, each in its own session, a worker left in the
caller's session made an epoch of LSTM-128 take 29 s, against 16 s with its own (and 16 s for the
spawned workers before).  Workers leave when the caller says stop, closes its end of their socket
or dies, and leave at once (``os._exit``: nothing of theirs to clean up).

Messages.  A batch costs one fixed-size message to each worker (which rows to take) and one back
(its loss; its logits and gradients are in the block), raw bytes on a socket, not pickles.  A
process that waits for a message first polls its socket for up to :data:`SPIN` seconds (2 ms)
before it sleeps on it: a worker usually finishes within a few tenths of a millisecond of the
caller, and the next batch's message comes half a millisecond after a reply, and waking a sleeping
process costs about 0.1 ms on each side.  Together, per batch of LSTM-128 (two parts of 64): the
ask 0.10 -> 0.02 ms, the wait for the reply 0.48 -> 0.34 ms.  A worker's exception is pickled
back and raised in the caller, once every worker has replied, so the next batch starts in step.
On a busy machine the polling cost nothing measurable: with a hog on every core an epoch took
14.9 s, against 15.1 s with the pickled messages and no polling (docs/benchmarks.md).

The parts are the consecutive slices :func:`~graphtools.nn.classifier.part_bounds` makes, the
caller computing the first, and they are combined by
:func:`~graphtools.nn.classifier.combine_parts`, exactly as the threaded path does: the same
arithmetic in the same order, so results equal it.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import pickle
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np

from graphtools.errors import GraphtoolsError
from graphtools.forked import start_child
from graphtools.nn.classifier import SequenceClassifier, combine_parts, part_bounds
from graphtools.threads import blas_limit

#: Rows of the shared batch buffer at least (``evaluate`` scores 1,000 examples at a time).
MIN_ROWS = 1000

#: Seconds a process polls its socket for the next message before it sleeps on it (module docstring)
SPIN = 0.002

_ALIGN = 64

# Messages.  The caller asks (command, first row, row after the last); command 0 stops the worker.
# A worker replies (size, loss): size 0 means done, its logits in the shared block; otherwise a
# pickled exception of ``size`` bytes follows.  Its first reply (0, 0.0) says it is ready.
_ASK = struct.Struct("<iii")
_REPLY = struct.Struct("<qd")
_STOP, _GRADS, _FORWARD = 0, 1, 2


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


def _receive(sock: socket.socket, size: int) -> bytes:
    """Exactly ``size`` bytes from ``sock``, polling it for up to :data:`SPIN` seconds before sleeping
    on it; EOFError when the other end has closed."""
    data = b""
    deadline = None
    while len(data) < size:
        try:
            chunk = sock.recv(size - len(data), socket.MSG_DONTWAIT)
        except BlockingIOError:
            now = time.perf_counter()
            deadline = now + SPIN if deadline is None else deadline
            if now < deadline:
                continue
            chunk = sock.recv(size - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def _send_pickled(sock: socket.socket, value) -> None:
    """``value`` pickled, after its size: what :func:`_receive_pickled` reads."""
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    sock.sendall(_REPLY.pack(len(data), 0.0) + data)


def _receive_pickled(sock: socket.socket):
    size, _ = _REPLY.unpack(_receive(sock, _REPLY.size))
    return pickle.loads(_receive(sock, size))


def _reply_error(sock: socket.socket, exc: Exception) -> None:
    """Send ``exc`` (or, if it does not pickle, a GraphtoolsError naming it) to the caller."""
    try:
        pickle.dumps(exc, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # noqa: BLE001 -- an exception that does not pickle is named instead
        exc = GraphtoolsError(f"a training worker failed: {type(exc).__name__}: {exc}")
    _send_pickled(sock, exc)


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
    ``fork``: False starts the workers as fresh interpreters; otherwise they are forks of this
    process where :func:`graphtools.forked.can_fork`, fresh interpreters elsewhere.

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
                 wait_for_workers: bool = False, fork: bool | None = None):
        if workers < 2:
            raise ValueError("Replicas needs at least 2 workers (the caller is one)")
        self.model, self.workers = model, workers
        # False: while a worker is starting, the caller computes all parts itself (module docstring)
        self.wait_for_workers = wait_for_workers
        self.ready = [False] * (workers - 1)
        self.rows = max(int(rows), MIN_ROWS)
        classes, model_dtype = model.num_classes, model.params["fc.weight"].dtype
        entries = [(f"param:{name}", value.shape, value.dtype) for name, value in model.params.items()]
        entries += [("input", (self.rows, *example_shape), dtype), ("labels", (self.rows,), np.int64)]
        for r in range(1, workers):
            entries += [(f"grad{r}:{name}", value.shape, value.dtype) for name, value in model.params.items()]
            entries.append((f"logits{r}", (self.rows, classes), model_dtype))
        self.offsets, size = _layout(entries)
        self.processes, self.sockets, self.buffer = [], [], None
        self.asked = False  # an ask not yet answered
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
            self.logits = [views[f"logits{r}"] for r in range(1, workers)]
            for name, value in self.own.items():
                np.copyto(views[f"param:{name}"], value)
                model.params[name] = views[f"param:{name}"]
            self._start(model, handle, views, fork)
        except BaseException:
            self.close()
            raise
        finally:
            os.close(handle)

    def _start(self, model: SequenceClassifier, handle: int, views: dict, fork: bool | None) -> None:
        spec = (model.cell, model.input_size, model.hidden_size, model.num_layers, model.num_classes,
                model.params["fc.weight"].dtype.str)
        for r in range(1, self.workers):
            mine, theirs = socket.socketpair()
            with theirs:
                process = None
                if fork is not False:
                    # the child closes every caller's end, so each worker sees its socket end with the caller
                    ends = [*self.sockets, mine]
                    process = start_child(_forked_worker, theirs, ends, views, spec, model.masks, r)
                if process is None:
                    process = self._spawn(theirs, handle)
                    _send_pickled(mine, (self.offsets, spec, model.masks, r))
            self.processes.append(process)
            self.sockets.append(mine)

    def _spawn(self, theirs: socket.socket, handle: int) -> subprocess.Popen:
        """A worker in a fresh interpreter (``python -c``) in its own session."""
        import graphtools

        root = os.path.dirname(os.path.dirname(os.path.abspath(graphtools.__file__)))
        path = os.environ.get("PYTHONPATH")
        env = {**os.environ, "PYTHONPATH": root if not path else root + os.pathsep + path}
        return subprocess.Popen(
            [sys.executable, "-c", "import os, sys; from graphtools.nn.replicas import serve; "
             "serve(int(sys.argv[1]), int(sys.argv[2])); os._exit(0)", str(theirs.fileno()), str(handle)],
            pass_fds=(theirs.fileno(), handle), stdin=subprocess.DEVNULL, env=env, start_new_session=True)

    def _ask(self, command: int, bounds) -> None:
        if self.asked:  # replies left unread by an error in this process's part: read them first
            self._replies()
        for r, sock in enumerate(self.sockets, start=1):
            try:
                sock.sendall(_ASK.pack(command, int(bounds[r]), int(bounds[r + 1])))
            except OSError:
                raise _ended() from None
        self.asked = True

    def _replies(self) -> list[tuple[float, BaseException | None]]:
        """Every worker's reply to the last ask: its loss, or its exception."""
        replies = []
        for sock in self.sockets:
            try:
                size, loss = _REPLY.unpack(_receive(sock, _REPLY.size))
                error = _receive(sock, size) if size else None
            except (EOFError, OSError):
                raise _ended() from None
            if error is not None:
                try:
                    error = pickle.loads(error)
                except Exception:  # noqa: BLE001 -- e.g. an exception type this process cannot import
                    error = GraphtoolsError("a training worker failed, and its error could not be read here")
            replies.append((loss, error))
        self.asked = False
        return replies

    def _answers(self, bounds) -> list[tuple[float, np.ndarray]]:
        """Each worker's ``(loss, logits)`` (the logits a view of the shared block, valid until the next
        ask); the first worker's exception raised here, once all have replied."""
        replies = self._replies()
        for _, error in replies:
            if error is not None:
                raise error
        return [(loss, self.logits[r][:bounds[r + 2] - bounds[r + 1]]) for r, (loss, _) in enumerate(replies)]

    def _started(self) -> bool:
        """Whether every worker has reported ready: the reports that came are read without waiting
        (waiting for them with ``wait_for_workers``)."""
        while not all(self.ready):
            r = self.ready.index(False)
            sock = self.sockets[r]
            if not self.wait_for_workers and not select.select([sock], [], [], 0)[0]:
                return False
            try:
                _receive(sock, _REPLY.size)
            except (EOFError, OSError):
                raise _ended() from None
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
        self._ask(_GRADS, bounds)
        first = self.model.loss_and_grads(self.input[:bounds[1]], self.labels[:bounds[1]])
        rest = [(loss, logits, grads) for (loss, logits), grads in zip(self._answers(bounds), self.grads)]
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
        self._ask(_FORWARD, bounds)
        first = self.model.forward(self.input[:bounds[1]])
        return np.concatenate([first, *(logits for _, logits in self._answers(bounds))])

    def close(self) -> None:
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.sendall(_ASK.pack(_STOP, 0, 0))
            sock.close()
        for process in self.processes:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.sockets, self.processes = [], []
        if self.buffer is not None:
            for name, value in self.own.items():  # the trained values, in the model's own arrays
                if self.model.params.get(name) is not value:
                    np.copyto(value, self.model.params[name])
                    self.model.params[name] = value
            self.input = self.labels = self.grads = self.logits = None
            with contextlib.suppress(BufferError):  # a caller's view still alive: unmapped when it goes
                self.buffer.close()
            self.buffer = None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _forked_worker(sock: socket.socket, ends: list[socket.socket], views: dict, spec: tuple, masks: dict,
                   replica: int) -> None:
    """A forked worker's main: a session of its own (module docstring), close the caller's socket
    ends it inherited, then answer."""
    with contextlib.suppress(OSError):
        os.setsid()
    for end in ends:
        end.close()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the caller handles Ctrl-C
    _answer(sock, views, spec, masks, replica)


def serve(socket_fd: int, memory_fd: int) -> None:
    """A spawned worker's main, run by :class:`Replicas` as ``python -c`` with two inherited
    descriptors: ``socket_fd``, its end of the caller's socket (the first message is the layout, the
    model's shape and masks, and its replica number, pickled, answered by a ready reply; then the
    asks), and ``memory_fd``, the shared block to map.  Not for direct use."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the caller handles Ctrl-C
    sock = socket.socket(fileno=socket_fd)
    buffer = mmap.mmap(memory_fd, 0)
    os.close(memory_fd)
    try:
        with contextlib.suppress(EOFError, OSError):  # the caller has gone
            offsets, spec, masks, replica = _receive_pickled(sock)
            _answer(sock, _views(buffer, offsets), spec, masks, replica)
    finally:
        with contextlib.suppress(BufferError):
            buffer.close()


def _answer(sock: socket.socket, views: dict, spec: tuple, masks: dict, replica: int) -> None:
    """Answer the caller's asks until it says stop or goes."""
    cell, input_size, hidden, layers, classes, dtype = spec
    model = SequenceClassifier(cell, input_size, hidden, layers, classes, dtype=np.dtype(dtype))
    for name in model.params:
        model.params[name] = views[f"param:{name}"]
    model.masks = masks
    grads_out = {name: views[f"grad{replica}:{name}"] for name in model.params}
    inputs, labels, logits_out = views["input"], views["labels"], views[f"logits{replica}"]
    with contextlib.suppress(EOFError, OSError), blas_limit(1):  # EOFError, OSError: the caller has gone
        sock.sendall(_REPLY.pack(0, 0.0))  # ready
        while (ask := _ASK.unpack(_receive(sock, _ASK.size)))[0] != _STOP:
            command, start, stop = ask
            try:
                loss = 0.0
                if command == _GRADS:
                    loss, logits, grads = model.loss_and_grads(inputs[start:stop], labels[start:stop])
                    for name, value in grads.items():
                        np.copyto(grads_out[name], value)
                else:
                    logits = model.forward(inputs[start:stop])
                logits_out[:stop - start] = logits
            except Exception as exc:  # noqa: BLE001 -- raised again in the caller
                _reply_error(sock, exc)
                continue
            sock.sendall(_REPLY.pack(0, loss))


__all__ = ["MIN_ROWS", "SPIN", "Replicas", "can_spawn", "serve"]
