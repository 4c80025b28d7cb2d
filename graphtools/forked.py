"""Independent calls in forked child processes, for work that threads cannot share.

Why processes.  Measuring a mid-sized weight (a 2048 x 512 LSTM block) is some thousands of short
numpy and scipy calls, and the universal cover's Newton iteration is Python-bound; two threads
hand the GIL to and fro and finished two such weights in 0.24 s against 0.31 s on one thread, while
two forked processes took 0.16 s (``benchmarks/bench_analyze.py``, docs/benchmarks.md).  A fork
costs about 3 ms and copies nothing up front: the child sees the parent's arrays as they were.

How.  :func:`map_forked` computes ``function(item)`` for every item in order, keeping up to
``workers - 1`` children busy next to the calling process: an item goes to a child when one is
free and is computed by the caller otherwise, so the caller never waits while there is work.
Each child sends its pickled result through a pipe and leaves by ``os._exit``: it never returns
into the caller's stack, so no ``finally`` block or ``atexit`` handler of the caller runs twice
and no buffered output is written twice.  A child that fails in any way (an exception, a signal,
a result that does not unpickle) is not trusted with an answer: the caller computes that item
itself, so an error is raised as without children, from the calling process (where two items
fail, the one raised is the first the caller meets, not necessarily the first in order).  When the
caller raises or is interrupted, its children are killed and reaped before the error goes on.

When.  Only where forking is safe (:func:`can_fork`): Linux (macOS's Accelerate and
Objective-C runtime are not fork-safe), from the main thread of a process with no other Python
thread (a thread holding a lock at the fork would leave the child deadlocked; OpenBLAS's own idle
threads are shut down and restarted around a fork by OpenBLAS).
"""

from __future__ import annotations

import os
import pickle
import select
import signal
import sys
import threading
import warnings
from collections import deque


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


def _start(function, item, setup):
    """Fork a child computing ``function(item)``; ``(pid, read end)``, or None when the fork failed."""
    read_end, write_end = os.pipe()
    try:
        with warnings.catch_warnings():
            # Python 3.12+ warns at any fork of a process with OS threads; OpenBLAS's idle pool counts
            warnings.filterwarnings("ignore", message=".*use of fork\\(\\) may lead to deadlocks",
                                    category=DeprecationWarning)
            pid = os.fork()
    except OSError:
        os.close(read_end)
        os.close(write_end)
        return None
    if pid:
        os.close(write_end)
        return pid, read_end
    code = 1
    try:  # the child: never leaves this block except by os._exit
        os.close(read_end)
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C ends a child at once, quietly
        if setup is not None:
            setup()
        data = pickle.dumps(function(item), protocol=pickle.HIGHEST_PROTOCOL)
        with open(write_end, "wb") as pipe:
            pipe.write(data)
        code = 0
    finally:
        os._exit(code)


def _finish(pid: int, read_end: int):
    """The child's result: ``(True, value)``, or ``(False, None)`` when it failed in any way."""
    with open(read_end, "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    if not (os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0):
        return False, None
    try:
        return True, pickle.loads(data)
    except Exception:  # a truncated or unreadable result: the caller computes it instead
        return False, None


def map_forked(function, items, *, workers: int, setup=None) -> list:
    """``[function(item) for item in items]``, with up to ``workers - 1`` of the calls in forked
    children (module docstring).

    Parameters
    ----------
    function : callable
        Called with one item; its result must pickle.
    items : iterable
        Taken one at a time, only when the item is handed out: a generator that reads a weight
        from a file holds one weight per process in memory.
    workers : int
        Processes in all, the caller included; 1 (or where :func:`can_fork` is False): no child.
    setup : callable, optional
        Called without arguments in each child before ``function`` (e.g. to set the child's
        thread budget).

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
    results: list = []
    running: deque = deque()  # (index, item, pid, read end), oldest first

    def collect(block: bool) -> None:
        while running:
            index, item, pid, read_end = running[0]
            if not block and not select.select([read_end], [], [], 0)[0]:
                return
            running.popleft()
            ok, value = _finish(pid, read_end)
            results[index] = value if ok else function(item)

    try:
        for item in items:  # (not enumerate: its reused result tuple would keep the last item alive)
            index = len(results)
            results.append(None)
            child = _start(function, item, setup) if len(running) < children else None
            if child is not None:
                running.append((index, item, *child))
            else:
                results[index] = function(item)
            item = None  # dropped before the next is read: one item in memory when there is no child
            collect(block=False)
        collect(block=True)
    finally:
        for _, _, pid, read_end in running:  # only after an exception or an interrupt
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.waitpid(pid, 0)
            os.close(read_end)
    return results


__all__ = ["can_fork", "map_forked"]
