"""Executors: the one seam between "what to compute" and "where it runs" (this process, a local process
pool, or a Dask cluster). Every executor yields results in task order (``imap``), so identical inputs give
byte-identical outputs whatever the worker count."""
from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections import deque
from typing import Iterator

from hwsim.errors import HwsimError
from hwsim.sweep.spec import SWEEP_EXTRA

class SerialExecutor:
    """In this process (``--workers 1``)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def imap(self, fn, tasks: list[tuple], window: int = 1) -> Iterator:
        for t in tasks:
            yield fn(*t)


class _FuturesExecutor:
    """Shared sliding-window loop: at most ``window`` tasks in flight, results in task order."""

    def submit(self, fn, *args):
        raise NotImplementedError

    def imap(self, fn, tasks: list[tuple], window: int = 4) -> Iterator:
        """Results in task order, at most ``window`` tasks in flight (memory stays bounded by the window)."""
        todo, pending = deque(tasks), deque()
        while todo or pending:
            while todo and len(pending) < window:
                pending.append(self.submit(fn, *todo.popleft()))
            yield pending.popleft().result()


def _exit_with_parent() -> None:
    """Worker initializer: end this worker when the process that started it dies, even by SIGKILL (which
    runs no clean-up in the parent). Linux: the kernel's parent-death signal (prctl PR_SET_PDEATHSIG);
    elsewhere a daemon thread that notices the re-parenting."""
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(1, signal.SIGKILL, 0, 0, 0) == 0:       # 1 = PR_SET_PDEATHSIG
            if os.getppid() != parent:                        # the parent died before prctl took effect
                os._exit(1)
            return

    def watch():
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)
    threading.Thread(target=watch, daemon=True).start()


class ProcessExecutor(_FuturesExecutor):
    """A local process pool (``fork`` start where available: workers inherit imported numpy/numba). Workers
    exit when the parent dies, however it dies."""

    def __init__(self, workers: int):
        import concurrent.futures as cf
        import multiprocessing as mp
        ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None
        self._pool = cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_exit_with_parent)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._pool.shutdown(wait=True, cancel_futures=True)
        return False

    def submit(self, fn, *args):
        return self._pool.submit(fn, *args)


class DaskExecutor(_FuturesExecutor):
    """A Dask distributed cluster: ``address`` of a scheduler, or ``local`` for a LocalCluster of
    ``workers`` single-threaded worker processes (``processes=False``: threads in this process)."""

    def __init__(self, address: str, workers: int = 2, processes: bool = True):
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError:
            raise HwsimError(f"--dask needs dask[distributed]: {SWEEP_EXTRA}") from None
        self._cluster = None
        if address == "local":
            self._cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=processes,
                                         dashboard_address=None)
            self.client = Client(self._cluster)
        else:
            try:
                self.client = Client(address, timeout="10s")
            except (OSError, TimeoutError, ValueError) as exc:
                raise HwsimError(f"--dask {address}: cannot connect to the scheduler ({exc})") from None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()
        return False

    def submit(self, fn, *args):
        return self.client.submit(fn, *args, pure=False)


def make_executor(workers: int = 1, dask: str | None = None, *, dask_processes: bool = True):
    if dask:
        return DaskExecutor(dask, workers, processes=dask_processes)
    return ProcessExecutor(workers) if workers > 1 else SerialExecutor()
