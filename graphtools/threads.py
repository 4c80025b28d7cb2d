"""BLAS thread discipline: how many threads numpy's and scipy's OpenBLAS may use, and when.

OpenBLAS threads busy-wait for work between calls.  On a machine whose cores are
busy with other processes a multi-threaded BLAS/LAPACK call waits for its helper
threads to be scheduled: a 256 x 64 SVD took 130 ms instead of 0.1 ms, and even a
1024 x 1024 SVD was 5x slower on two threads than on one (docs/benchmarks.md,
"Busy machine").  On an idle machine the second thread saves at most half.  So:

* **one BLAS thread unless asked**: :func:`blas_threads` is 1 unless the user set a
  number (``graphtools --threads N``, ``$GRAPHTOOLS_THREADS``, or
  ``$OPENBLAS_NUM_THREADS`` / ``$OMP_NUM_THREADS``);
* **small work always on one thread**: :func:`threads_for` returns 1 below
  :data:`SMALL_WORK` floating-point operations whatever was asked, and
  :func:`blas_limit` applies a count for the duration of a ``with`` block;
* **parallel workers share a budget**: :func:`threads` (the number set, else the
  cores this process may run on) is what data-parallel workers and ``sweep --jobs``
  processes and ``analyze``'s forked processes (:mod:`graphtools.forked`, each under
  :func:`worker_budget`) divide among themselves (:func:`worker_threads`), each worker on one
  BLAS thread, so workers x BLAS threads never exceeds the budget (``analyze`` starts its
  processes only on cores that no other process wants right now: :func:`free_workers`);
* **independent measurements may share the budget too**: :func:`run_concurrently` runs
  a few calls whose work releases the GIL (sparse products, ARPACK's matrix products,
  numpy's LAPACK) on up to :func:`threads` threads, each with its share of BLAS threads.

:func:`set_threads` (the CLI calls it once, at start) records the number and applies
:func:`blas_threads` to every loaded BLAS library; library entry points (analysis,
training, pruning, a sweep's runs) apply it with :func:`with_blas_threads`.  This is the only module that
changes BLAS thread counts; it uses threadpoolctl through one cached controller (a
limit costs microseconds, not a scan of the loaded libraries).
"""

from __future__ import annotations

import contextlib
import functools
import os
import queue
import threading

import numpy  # noqa: F401  (loads numpy's OpenBLAS before the controller looks)
import scipy.linalg  # noqa: F401  (and scipy's own OpenBLAS)

from graphtools.errors import GraphtoolsError

#: Environment variable holding the default number of BLAS threads.
ENV = "GRAPHTOOLS_THREADS"

#: Work (floating-point operations) below which a BLAS call gets one thread: ``1024**3``.
SMALL_WORK = 1024**3

def _env_openblas() -> int | None:
    value = os.environ.get("OPENBLAS_NUM_THREADS", "").strip()
    return int(value) if value.isdigit() and int(value) >= 1 else None


# ``ceiling``: an upper bound of the BLAS threads set now, when known without asking the libraries
# (what OpenBLAS was started with, or what set_threads applied): blas_limit then needs no controller.
_state: dict = {"threads": None, "blas": None, "controller": None, "ceiling": _env_openblas(), "held": 0}


def available_cores() -> int:
    """The number of cores this process may run on (its CPU affinity), at least 1.

    Example
    -------
    >>> available_cores() >= 1
    True
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def own_runnable(tasks: str = "/proc/self/task") -> int:
    """How many threads of this process are running or ready to run right now (state ``R`` in
    ``/proc/self/task/*/stat``), at least 1 (the calling thread).

    OpenBLAS's idle threads keep spinning for a while after a call, so a count of the machine's
    runnable threads includes this process's own for a fraction of a second after its BLAS work.

    Example
    -------
    >>> own_runnable() >= 1
    True
    """
    count = 0
    try:
        names = os.listdir(tasks)
    except OSError:
        return 1
    for name in names:
        try:
            with open(os.path.join(tasks, name, "stat")) as handle:
                count += handle.read().rpartition(")")[2].split()[:1] == ["R"]
        except OSError:  # a thread that has just ended
            continue
    return max(1, count)


def other_runnable(path: str = "/proc/loadavg", tasks: str = "/proc/self/task") -> int | None:
    """How many threads on this machine outside this process are ready to run right now: the
    kernel's count of runnable threads (the fourth field of ``/proc/loadavg``, ``running/total``),
    less this process's own (:func:`own_runnable` on ``tasks``); None where ``path`` is absent or
    unreadable.

    Example
    -------
    >>> other_runnable("/no/such/file") is None
    True
    """
    try:
        with open(path) as handle:
            running = int(handle.read().split()[3].split("/")[0])
    except (OSError, ValueError, IndexError):
        return None
    return max(0, running - own_runnable(tasks))


def parse_threads(value, source: str = "threads") -> int:
    """``value`` as a whole number of threads >= 1, or a GraphtoolsError naming ``source``.

    Example
    -------
    >>> parse_threads(" 3 ", "GRAPHTOOLS_THREADS")
    3
    """
    if isinstance(value, bool):
        raise GraphtoolsError(f"{source} must be a whole number >= 1, got {value!r}")
    try:
        n = int(str(value).strip()) if not isinstance(value, int) else value
    except ValueError:
        raise GraphtoolsError(f"{source} must be a whole number >= 1, got {value!r}") from None
    if n < 1:
        raise GraphtoolsError(f"{source} must be a whole number >= 1, got {value!r}")
    return n


def _explicit() -> int | None:
    """The number the user set: :func:`set_threads`, else ``$GRAPHTOOLS_THREADS``; None if neither."""
    if _state["threads"] is not None:
        return _state["threads"]
    value = os.environ.get(ENV, "").strip()
    return parse_threads(value, ENV) if value else None


def threads() -> int:
    """The thread budget parallel workers share: the number set (:func:`set_threads`,
    ``$GRAPHTOOLS_THREADS``), else :func:`available_cores`.

    Example
    -------
    >>> threads() >= 1
    True
    """
    explicit = _explicit()
    return available_cores() if explicit is None else explicit


def blas_threads() -> int:
    """BLAS threads for large single calls: the number set (:func:`set_threads`,
    ``$GRAPHTOOLS_THREADS``), else ``$OPENBLAS_NUM_THREADS`` or ``$OMP_NUM_THREADS`` when a
    whole number, else 1 (on a busy machine a second thread costs more than it saves).

    Example
    -------
    >>> blas_threads() >= 1
    True
    """
    if _state["blas"] is not None:
        return _state["blas"]
    explicit = _explicit()
    if explicit is not None:
        return explicit
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) >= 1:
            return int(value)
    return 1


def _controller():
    if _state["controller"] is None:
        from threadpoolctl import ThreadpoolController

        _state["controller"] = ThreadpoolController()
    return _state["controller"]


def set_threads(n: int | None, *, blas: int | None = None) -> int:
    """Set this process's thread number (None: back to the environment) and, with ``blas``, its
    BLAS threads apart from it (a sweep worker: a budget of ``n``, BLAS as in its parent); apply
    :func:`blas_threads` to every loaded BLAS library now; returns :func:`threads`.

    Example
    -------
    >>> set_threads(1)
    1
    >>> blas_threads()
    1
    >>> set_threads(None) == threads()
    True
    """
    _state["threads"] = None if n is None else parse_threads(n)
    _state["blas"] = None if blas is None else parse_threads(blas, "blas threads")
    count = blas_threads()
    _controller().limit(limits=count, user_api="blas")
    _state["ceiling"] = count
    return threads()


def threads_for(work: float) -> int:
    """BLAS threads for one call of ``work`` floating-point operations: 1 below
    :data:`SMALL_WORK`, else :func:`blas_threads`.

    Example
    -------
    >>> threads_for(1e6)
    1
    """
    return 1 if work < SMALL_WORK else blas_threads()


def worker_threads(workers: int) -> int:
    """BLAS threads for each of ``workers`` parallel workers, so that together they use at most
    :func:`threads` (but each at least one).

    Example
    -------
    >>> worker_threads(10**6)
    1
    """
    return max(1, threads() // max(1, int(workers)))


def current_threads() -> int:
    """The largest thread count any loaded BLAS library is set to right now.

    Example
    -------
    >>> with blas_limit(1):
    ...     current_threads()
    1
    """
    return max((lib.num_threads for lib in _controller().lib_controllers if lib.user_api == "blas"), default=1)


@contextlib.contextmanager
def blas_limit(n: int):
    """Run the ``with`` block with at most ``n`` BLAS threads (never more than are set now: the
    count graphtools applied or OpenBLAS started with, else the libraries' own count).

    Example
    -------
    >>> with blas_limit(1):
    ...     current_threads()
    1
    """
    n = max(1, int(n))
    ceiling = _state["ceiling"]
    if _state["held"] or n >= (ceiling if ceiling is not None else current_threads()):
        # (while run_concurrently's workers run, the limit it set holds: no worker changes the
        # process-wide setting under another)
        yield
        return
    with _controller().limit(limits=n, user_api="blas"):
        yield


def with_blas_threads(function):
    """Decorator: run ``function`` under ``blas_limit(blas_threads())``, so a library entry point
    follows the discipline without the CLI having called :func:`set_threads`.

    Example
    -------
    >>> @with_blas_threads
    ... def f():
    ...     return current_threads() <= blas_threads()
    >>> f()
    True
    """
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with blas_limit(blas_threads()):
            return function(*args, **kwargs)
    return wrapper


def free_workers(workers: int) -> int:
    """``workers``, but no more than there are cores free of other runnable threads right now
    (:func:`other_runnable`), and at least 1.

    A parallel worker only on a core that nothing else wants now: where other processes keep the
    cores busy, Python threads hand the GIL to threads that are not running and are much slower
    than one thread (docs/benchmarks.md: 27 s against 16 s at H = 2048 with a CPU hog per core),
    and a second process only competes with them for the same core.

    Example
    -------
    >>> 1 <= free_workers(4) <= 4
    True
    """
    count = max(1, int(workers))
    if count > 1:
        others = other_runnable()
        if others is not None:
            count = min(count, max(1, available_cores() - others))
    return count


@contextlib.contextmanager
def worker_budget(workers: int):
    """Run the ``with`` block as one of ``workers`` parallel workers: :func:`threads` and
    :func:`blas_threads` are its share, :func:`worker_threads` ``(workers)``, and BLAS is limited
    to it (a process forked inside the block keeps the share).

    Example
    -------
    >>> with worker_budget(10**6):
    ...     threads(), blas_threads(), current_threads()
    (1, 1, 1)
    """
    share = worker_threads(workers)
    saved = _state["threads"], _state["blas"]
    _state["threads"] = _state["blas"] = share
    try:
        with blas_limit(share):
            yield
    finally:
        _state["threads"], _state["blas"] = saved


def run_concurrently(tasks, *, workers: int | None = None) -> list:
    """Call every one of ``tasks`` (callables without arguments) and return their results in
    order, on up to ``workers`` threads (default :func:`threads`), the calling thread included, and
    no more than there are cores free of other runnable threads right now (:func:`other_runnable`).

    With ``n = min(len(tasks), workers)`` threads each task runs under :func:`worker_threads`
    ``(n)`` BLAS threads, so threads times BLAS threads stay within the budget; while they run,
    :func:`blas_limit` inside a task changes nothing (the limit is process-wide).  Threads pay off
    only for work that releases the GIL; pass the longest tasks first: each thread takes the next
    task in order, the calling thread the first (its memory then comes from the main allocator
    arena, not a new per-thread one).  One thread (``n <= 1``) calls the tasks in turn.  The first
    task (in order) that raised has its exception re-raised once the other threads have ended; an
    interrupt in the calling thread is raised at once (the other threads are daemons).

    Example
    -------
    >>> run_concurrently([lambda: 1 + 1, lambda: 'b'], workers=2)
    [2, 'b']
    """
    tasks = list(tasks)
    count = free_workers(min(len(tasks), threads() if workers is None else max(1, int(workers))))
    if count <= 1:
        return [task() for task in tasks]
    pending: queue.SimpleQueue = queue.SimpleQueue()
    for index in range(len(tasks)):
        pending.put(index)
    results: list = [None] * len(tasks)
    errors: list = [None] * len(tasks)

    def work(caught):
        while True:
            try:
                index = pending.get_nowait()
            except queue.Empty:
                return
            try:
                results[index] = tasks[index]()
            except caught as error:  # re-raised in the calling thread
                errors[index] = error

    with blas_limit(worker_threads(count)), _held():
        helpers = [threading.Thread(target=work, args=(BaseException,), name=f"graphtools-{i}", daemon=True)
                   for i in range(1, count)]
        for thread in helpers:
            thread.start()
        work(Exception)
        for thread in helpers:
            thread.join()
    for error in errors:
        if error is not None:
            raise error
    return results


@contextlib.contextmanager
def _held():
    _state["held"] += 1
    try:
        yield
    finally:
        _state["held"] -= 1


def single_threaded():
    """``blas_limit(1)``: for parallel workers and small work."""
    return blas_limit(1)


__all__ = ["ENV", "SMALL_WORK", "available_cores", "blas_limit", "blas_threads", "current_threads", "free_workers",
           "other_runnable", "own_runnable", "parse_threads", "run_concurrently", "set_threads", "single_threaded", "threads",
           "threads_for", "with_blas_threads", "worker_budget", "worker_threads"]
