"""Connecting to a Dask cluster: ``local:N``, a scheduler address or a scheduler file.

Dask (``pip install 'graphtools[dask]'``, i.e. ``dask[distributed]``) is imported only by
:func:`connect`; without it the call is a one-line :class:`GraphtoolsError` naming the extra.
Nothing here knows about sweeps or checkpoints: :mod:`graphtools.experiments.dask_executor`
and :mod:`graphtools.batch` build on it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from dataclasses import dataclass, field

from graphtools.errors import GraphtoolsError

EXTRA = "graphtools[dask]"
#: Dask settings of the ``local:N`` clusters graphtools starts (a cluster you start yourself keeps
#: its own; docs/scaling.md says how to set the same there).
LOCAL_CONFIG = {
    # the statistical profiler samples every worker thread's stack 100 times a second
    "distributed.worker.profile.enabled": False,
    # Dask's default sets MALLOC_TRIM_THRESHOLD_=65536 in every worker; setting it at all turns off
    # glibc's adaptive mmap threshold, so every large array became a fresh mmap with its page
    # faults: the quick sweep's runs took 6-8% longer (docs/benchmarks.md).  The other defaults stay.
    "distributed.nanny.pre-spawn-environ": {"OMP_NUM_THREADS": 1, "MKL_NUM_THREADS": 1, "OPENBLAS_NUM_THREADS": 1},
    # periodic housekeeping, every 20 ms / 100 ms / 500 ms by default, took about 10% of a core on an
    # idle 2-worker cluster; at these intervals 2-2.5% (blocked-loop warnings, memory limits still work)
    "distributed.admin.tick.interval": "1s",
    "distributed.worker.memory.monitor-interval": "1s",
    "distributed.admin.system-monitor.interval": "2s",
}
_LOCAL = re.compile(r"^local:(\d+)$")
_ADDRESS = re.compile(r"^(tcp|tls|inproc|ucx|ws|wss)://[^\s/]+$")
_HOST_PORT = re.compile(r"^(tcp|tls|ucx|ws|wss)://(\[[^\]]+\]|[^:\s/]+):(\d+)$")


@dataclass(frozen=True)
class ClusterSpec:
    """A parsed ``--cluster`` value: ``kind`` is ``local`` (``workers`` processes on this
    machine), ``address`` or ``file`` (``target`` holds the address or the file)."""

    kind: str
    target: str = ""
    workers: int = 0

    def __str__(self) -> str:
        return f"local:{self.workers}" if self.kind == "local" else self.target


def parse_cluster(text: str) -> ClusterSpec:
    """Parse ``local:N``, ``tcp://HOST:PORT`` (or another Dask protocol) or a scheduler file.

    Parameters
    ----------
    text : str
        The ``--cluster`` value.

    Returns
    -------
    ClusterSpec

    Raises
    ------
    GraphtoolsError
        For anything else, in one line.

    Example
    -------
    >>> parse_cluster("local:2")
    ClusterSpec(kind='local', target='', workers=2)
    """
    if not isinstance(text, str) or not text.strip():
        raise GraphtoolsError(f"--cluster must be local:N, tcp://HOST:PORT or a scheduler file, got {text!r}")
    text = text.strip()
    if text.startswith("local"):
        match = _LOCAL.match(text)
        if not match or int(match.group(1)) < 1:
            raise GraphtoolsError(f"--cluster {text}: expected local:N with N >= 1 worker processes")
        return ClusterSpec("local", workers=int(match.group(1)))
    if "://" in text:
        if not _ADDRESS.match(text):
            raise GraphtoolsError(f"--cluster {text}: not a scheduler address (expected tcp://HOST:PORT)")
        match = _HOST_PORT.match(text)
        if match and not 0 < int(match.group(3)) < 65536:
            raise GraphtoolsError(f"--cluster {text}: port {match.group(3)} is out of range")
        if text.startswith("tcp://") and not match:
            raise GraphtoolsError(f"--cluster {text}: not a scheduler address (expected tcp://HOST:PORT)")
        return ClusterSpec("address", target=text)
    path = os.path.expanduser(text)
    if not os.path.isfile(path):
        raise GraphtoolsError(f"--cluster {text}: not local:N, a scheduler address (tcp://HOST:PORT) "
                              "or an existing scheduler file")
    try:
        with open(path, encoding="utf-8") as handle:
            info = json.load(handle)
    except (OSError, ValueError):
        raise GraphtoolsError(f"--cluster {text}: not a Dask scheduler file (JSON with an address)") from None
    if not isinstance(info, dict) or not isinstance(info.get("address"), str):
        raise GraphtoolsError(f"--cluster {text}: not a Dask scheduler file (JSON with an address)")
    return ClusterSpec("file", target=path)


def require_dask():
    """Import ``distributed``, or raise the one-line error naming the extra."""
    try:
        import distributed
    except ImportError:
        raise GraphtoolsError(f"--cluster needs Dask: pip install '{EXTRA}'") from None
    return distributed


@dataclass
class Connection:
    """An open client (and, for ``local:N``, the cluster it started); close with :meth:`close`."""

    spec: ClusterSpec
    client: object
    cluster: object = None
    dashboard: str | None = None
    _closed: bool = field(default=False, repr=False)

    def threads(self) -> dict[str, tuple[str, int]]:
        """Worker address -> (host, threads) of the workers connected now."""
        workers = self.client.scheduler_info(n_workers=-1)["workers"]
        return {address: (info.get("host", ""), int(info.get("nthreads", 1))) for address, info in workers.items()}

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            self.client.close(timeout=5)
        if self.cluster is not None:
            with contextlib.suppress(Exception):
                self.cluster.close(timeout=5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def connect(cluster: str | ClusterSpec, *, timeout: float | None = None, wait_workers: float = 30.0) -> Connection:
    """Connect to ``cluster`` (see :func:`parse_cluster`) and wait for at least one worker.

    ``local:N`` starts N single-threaded worker processes on this machine (the same split of the
    cores as ``--jobs N``).  ``timeout`` bounds the connection (default: Dask's
    ``distributed.comm.timeouts.connect``); an unreachable scheduler is a one-line error.

    Example
    -------
    >>> with connect("local:1") as connection:  # doctest: +SKIP
    ...     connection.client.submit(sum, [1, 2]).result()
    3
    """
    spec = cluster if isinstance(cluster, ClusterSpec) else parse_cluster(cluster)
    distributed = require_dask()
    import dask

    if timeout is None:
        timeout = dask.utils.parse_timedelta(dask.config.get("distributed.comm.timeouts.connect"), "s")
    local = None
    try:
        if spec.kind == "local":
            # LOCAL_CONFIG: no profiler, glibc's own malloc tuning, slower housekeeping (each took CPU
            # from the runs, measured: docs/benchmarks.md); the workers get it through their nannies
            with dask.config.set(LOCAL_CONFIG):
                local = distributed.LocalCluster(n_workers=spec.workers, threads_per_worker=1, processes=True,
                                                 dashboard_address=":0",  # a free port: never 8787's clash
                                                 silence_logs=50)
            client = distributed.Client(local, timeout=timeout)
        elif spec.kind == "file":
            client = distributed.Client(scheduler_file=spec.target, timeout=timeout)
        else:
            client = distributed.Client(spec.target, timeout=timeout)
    except (OSError, TimeoutError, ValueError) as exc:
        if local is not None:
            with contextlib.suppress(Exception):
                local.close()
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise GraphtoolsError(f"cannot reach the Dask scheduler {spec} ({reason})") from None
    connection = Connection(spec, client, local)
    try:
        client.wait_for_workers(1, timeout=wait_workers)
    except (TimeoutError, OSError):
        connection.close()
        raise GraphtoolsError(f"the Dask scheduler {spec} has no workers (waited {wait_workers:g} s)") from None
    if "dashboard" in (client.scheduler_info().get("services") or {}):  # served only with bokeh installed
        connection.dashboard = client.dashboard_link
    return connection


def blas_threads(cores: int, host_threads: int) -> int:
    """BLAS threads of one task: ``max(1, cores // host_threads)``, the host's cores shared by all
    Dask threads on it (the rule ``--jobs N`` applies on one machine), so tasks never
    oversubscribe the cores.

    Example
    -------
    >>> blas_threads(16, 4), blas_threads(2, 2), blas_threads(2, 8)
    (4, 1, 1)
    """
    return max(1, cores // max(1, host_threads))


def threads_by_host(connection: Connection) -> dict[str, int]:
    """Host -> the Dask threads of all workers on it (what :func:`task_threads` divides by)."""
    hosts: dict[str, int] = {}
    for host, threads in connection.threads().values():
        hosts[host] = hosts.get(host, 0) + threads
    return hosts


def task_threads(hosts: dict[str, int]) -> int:
    """On a Dask worker: the BLAS threads a task gets (:func:`blas_threads` of this host)."""
    from distributed import get_worker
    from distributed.comm import get_address_host

    worker = get_worker()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return blas_threads(cores, hosts.get(get_address_host(worker.address), worker.state.nthreads))


@contextlib.contextmanager
def task_budget(hosts: dict[str, int]):
    """On a Dask worker, around a task: graphtools' thread budget and BLAS threads both set to
    :func:`task_threads` (what ``--jobs N`` gives each of its worker processes), so that nothing
    in the task -- BLAS, the pruning and training thread pools -- runs more threads than its share
    of the host's cores.  Yields that number.  The budget stays set on the worker afterwards:
    every task there gets the same one."""
    from threadpoolctl import threadpool_limits

    from graphtools.threads import set_threads

    threads = task_threads(hosts)
    set_threads(threads, blas=threads)
    with threadpool_limits(threads):
        yield threads


def check_readable(connection: Connection, path: str) -> None:
    """Raise a one-line error when some worker cannot read ``path`` (data is never sent over
    the network: every worker must see the same file at the same path)."""
    seen = connection.client.run(os.access, path, os.R_OK)
    missing = sorted(address for address, ok in seen.items() if not ok)
    if missing:
        raise GraphtoolsError(f"{path}: not readable by {len(missing)} of {len(seen)} Dask worker(s) "
                              f"(e.g. {missing[0]}); data is not sent over the network, put it on a path "
                              "every worker can read")


__all__ = ["EXTRA", "ClusterSpec", "Connection", "blas_threads", "check_readable", "connect", "parse_cluster",
           "require_dask", "task_budget", "task_threads", "threads_by_host"]
