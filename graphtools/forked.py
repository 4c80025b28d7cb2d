"""Independent calls in forked child processes, for work that threads cannot share.

Why processes.  Measuring a mid-sized weight (a 2048 x 512 LSTM block) is some thousands of short
numpy and scipy calls, and the universal cover's Newton iteration is Python-bound; two threads
hand the GIL to and fro and finished two such weights in 0.24 s against 0.31 s on one thread, while
two forked processes took 0.16 s (docs/benchmarks.md).  A fork costs about 3 ms and copies nothing
up front: a child sees the caller's arrays as they were.

How.  :func:`map_forked` forks ``workers - 1`` children once, each with the whole list of items in
its (copy-on-write) memory, and from then on every process, the caller included, takes the next
item not yet taken (its index read from a pipe the caller filled) until none is left: a process that
finishes early takes more, so items of uneven cost share out well (pass the costliest first).  Each
child keeps its results and, once out of items, sends them pickled through a pipe and leaves by
``os._exit``: it never returns into the caller's stack, so no ``finally`` block or ``atexit``
handler of the caller runs twice and no buffered output is written twice.  An item that a child
did not answer (it raised, was killed, or its results did not unpickle) is computed by the caller
at the end, so an error is raised as without children, from the calling process (where two items
fail, the one raised is the first the caller meets, not necessarily the first in order).  When the
caller raises or is interrupted, its children are killed and reaped before the error goes on; when
it is killed outright, the kernel kills them (``PR_SET_PDEATHSIG``).

:func:`start_child` forks one child for a job of the caller's own making (the numpy trainer's
workers, which talk to the caller through a socket), with the same rules: it leaves by
``os._exit``, dies with the caller, and is reaped through a :class:`Child` handle.

When.  Only where forking is safe (:func:`can_fork`): Linux (macOS's Accelerate and Objective-C
runtime are not fork-safe), from the main thread of a process with no other Python thread (a
thread holding a lock at the fork would leave the child deadlocked; OpenBLAS's own idle threads are
shut down and restarted around a fork by OpenBLAS).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
import warnings


def can_fork() -> bool:
    """Whether :func:`map_forked` may start children here: Linux, ``os.fork``, the main thread and
    no other Python thread alive.

    Example
    -------
    >>> isinstance(can_fork(), bool)
    True
    """
    return (sys.platform.startswith("linux") and hasattr(os, "fork")
            and threading.current_thread() is threading.main_thread() and threading.active_count() == 1)


#: Items handed out through one pipe of 4-byte indices: 4 KiB, the smallest pipe buffer Linux gives,
#: so the caller writes them all before any process reads; longer lists go in such chunks.
CHUNK = 1024


def _take(queue: int) -> int | None:
    """The next item's index from the pipe ``queue``, or None when every item is taken.  A read of
    4 bytes from a pipe holding whole 4-byte records is atomic: no lock, so no process can die
    holding one."""
    record = os.read(queue, 4)
    return int.from_bytes(record, "little") if len(record) == 4 else None


def _die_with(parent: int) -> None:
    """Have the kernel kill this process when its parent ends (``PR_SET_PDEATHSIG``), so that a caller
    killed outright (SIGKILL, SIGTERM) leaves no child computing for nobody; exit now if it has
    already ended."""
    import ctypes  # loaded in the child only

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # no prctl: the child ends when it finds its pipe closed
        pass
    if os.getppid() != parent:
        os._exit(1)


class Child:
    """A child process started by :func:`start_child`, with the :class:`subprocess.Popen` methods
    its users need: ``pid``, ``returncode``, ``poll()``, ``wait(timeout)``, ``send_signal(sig)`` and
    ``kill()``.

    Example
    -------
    >>> child = start_child(lambda: None)
    >>> child is None or child.wait(timeout=10) == 0
    True
    """

    def __init__(self, pid: int):
        self.pid, self.returncode = pid, None

    def _reap(self, flags: int) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, flags)
            except ChildProcessError:  # reaped elsewhere
                pid, status = self.pid, 255 << 8
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def poll(self) -> int | None:
        """The exit code (minus the signal that ended it), or None while it runs."""
        return self._reap(os.WNOHANG)

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the child to end; :class:`subprocess.TimeoutExpired` after ``timeout`` seconds."""
        if timeout is None:
            return self._reap(0)
        deadline = time.monotonic() + timeout
        while self.poll() is None:
            if time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"pid {self.pid}", timeout)
            time.sleep(0.001)
        return self.returncode

    def send_signal(self, sig: int) -> None:
        """Send ``sig`` unless the child has been reaped already."""
        if self.poll() is None:
            os.kill(self.pid, sig)

    def kill(self) -> None:
        """SIGKILL."""
        self.send_signal(signal.SIGKILL)


def start_child(function, *args) -> Child | None:
    """Fork a child that runs ``function(*args)`` and leaves by ``os._exit`` (status 0 when the call
    returned, 1 when it raised); None where :func:`can_fork` is False or the fork failed.

    The child sees the caller's memory as it was at the fork (copy on write) and never returns into
    the caller's stack.  It dies with the caller (``PR_SET_PDEATHSIG``), and a Ctrl-C ends it at once,
    quietly, unless the caller ignores SIGINT.  Reap it with :meth:`Child.wait`.

    Example
    -------
    >>> import os
    >>> read_end, write_end = os.pipe()
    >>> child = start_child(os.write, write_end, b"hello")
    >>> os.close(write_end)
    >>> child is None or (os.read(read_end, 5), child.wait()) == (b"hello", 0)
    True
    """
    if not can_fork():
        return None
    parent = os.getpid()
    try:
        with warnings.catch_warnings():
            # Python 3.12+ warns at any fork of a process with OS threads; OpenBLAS's idle pool counts
            warnings.filterwarnings("ignore", message=".*use of fork\\(\\) may lead to deadlocks",
                                    category=DeprecationWarning)
            pid = os.fork()
    except OSError:
        return None
    if pid:
        return Child(pid)
    code = 1
    try:  # never leaves this block except by os._exit
        _die_with(parent)
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C ends a child at once, quietly
        function(*args)
        code = 0
    finally:
        os._exit(code)


def _child(function, items, queue: int, setup, read_end: int, write_end: int) -> None:
    """A :func:`map_forked` child's whole life: take items until none is left, send
    ``{index: result}``."""
    os.close(read_end)
    if setup is not None:
        setup()
    done = {}
    try:
        while (index := _take(queue)) is not None:
            done[index] = function(items[index])
    except Exception:  # this item (and any it did not take) falls to the caller
        pass
    with open(write_end, "wb") as pipe:
        pipe.write(pickle.dumps(done, protocol=pickle.HIGHEST_PROTOCOL))


def _start(function, items, queue: int, setup):
    """Fork one :func:`map_forked` child; ``(child, read end)``, or None when the fork failed."""
    read_end, write_end = os.pipe()
    child = start_child(_child, function, items, queue, setup, read_end, write_end)
    os.close(write_end)
    if child is None:
        os.close(read_end)
        return None
    return child, read_end


def _results(child: Child, read_end: int) -> dict:
    """What a child answered: ``{index: result}``, empty when it failed before it could send them."""
    with open(read_end, "rb") as pipe:
        data = pipe.read()
    if child.wait() != 0:
        return {}
    try:
        done = pickle.loads(data)
    except Exception:  # a truncated or unreadable message: the caller computes those items
        return {}
    return done if isinstance(done, dict) else {}


def map_forked(function, items, *, workers: int, setup=None) -> list:
    """``[function(item) for item in items]``, shared among the caller and up to ``workers - 1``
    forked children (module docstring).

    Parameters
    ----------
    function : callable
        Called with one item; its result must pickle.
    items : iterable
        With children, read into a list first (every child needs them all); without (one worker,
        fewer than two items, or :func:`can_fork` False), taken one at a time, so a generator that
        reads each item from a file holds one in memory.
    workers : int
        Processes in all, the caller included.
    setup : callable, optional
        Called without arguments in each child before its first item (e.g. to set its thread budget).

    Returns
    -------
    list
        The results in the order of ``items``.

    Example
    -------
    >>> map_forked(lambda x: x * x, range(5), workers=2)
    [0, 1, 4, 9, 16]
    """
    children = int(workers) - 1 if can_fork() else 0
    if children < 1:
        return [function(item) for item in items]
    items = list(items)
    results: list = []
    for start in range(0, len(items), CHUNK):
        results += _shared(function, items[start:start + CHUNK], children, setup)
    return results


def _shared(function, items: list, children: int, setup) -> list:
    """:func:`map_forked` of at most ``CHUNK`` items with ``children`` children."""
    if len(items) < 2:
        return [function(item) for item in items]
    queue, write_end = os.pipe()
    running = []
    try:
        os.write(write_end, b"".join(index.to_bytes(4, "little") for index in range(len(items))))
        os.close(write_end)  # a read of the empty pipe now ends the taking (EOF)
        write_end = None
        for _ in range(min(children, len(items) - 1)):
            child = _start(function, items, queue, setup)
            if child is not None:
                running.append(child)
        done: dict = {}
        while (index := _take(queue)) is not None:
            done[index] = function(items[index])
        while running:
            done.update(_results(*running[-1]))
            running.pop()
        return [done[index] if index in done else function(items[index]) for index in range(len(items))]
    finally:
        os.close(queue)
        if write_end is not None:
            os.close(write_end)
        for child, read_end in running:  # only after an exception or an interrupt
            with contextlib.suppress(ProcessLookupError):
                child.kill()
            child.wait()
            try:
                os.close(read_end)
            except OSError:  # closed already by _results
                pass


__all__ = ["Child", "can_fork", "map_forked", "start_child"]
