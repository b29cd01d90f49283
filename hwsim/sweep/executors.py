"""Executors: the one seam between "what to compute" and "where it runs" (this process, a local process
pool, or a Dask cluster)."""
from __future__ import annotations

from typing import Iterator

from hwsim.errors import HwsimError
from hwsim.sweep.spec import SWEEP_EXTRA

class SerialExecutor:
    """In this process (``--workers 1``)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def imap_unordered(self, fn, tasks: list[tuple], window: int = 1) -> Iterator:
        for t in tasks:
            yield fn(*t)


class _FuturesExecutor:
    """Shared sliding-window loop: at most ``window`` tasks in flight, results as they complete."""

    def submit(self, fn, *args):
        raise NotImplementedError

    def wait_first(self, pending: set) -> tuple[set, set]:
        raise NotImplementedError

    def imap_unordered(self, fn, tasks: list[tuple], window: int = 4) -> Iterator:
        todo, pending = list(reversed(tasks)), set()
        while todo or pending:
            while todo and len(pending) < window:
                pending.add(self.submit(fn, *todo.pop()))
            done, pending = self.wait_first(pending)
            for fut in done:
                yield fut.result()


class ProcessExecutor(_FuturesExecutor):
    """A local process pool (``fork`` start where available: workers inherit imported numpy/numba)."""

    def __init__(self, workers: int):
        import concurrent.futures as cf
        import multiprocessing as mp
        ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None
        self._cf = cf
        self._pool = cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._pool.shutdown(wait=True, cancel_futures=True)
        return False

    def submit(self, fn, *args):
        return self._pool.submit(fn, *args)

    def wait_first(self, pending):
        done, rest = self._cf.wait(pending, return_when=self._cf.FIRST_COMPLETED)
        return done, rest


class DaskExecutor(_FuturesExecutor):
    """A Dask distributed cluster: ``address`` of a scheduler, or ``local`` for a LocalCluster of
    ``workers`` single-threaded worker processes (``processes=False``: threads in this process)."""

    def __init__(self, address: str, workers: int = 2, processes: bool = True):
        try:
            from dask.distributed import Client, LocalCluster, wait
        except ImportError:
            raise HwsimError(f"--dask needs dask[distributed]: {SWEEP_EXTRA}") from None
        self._wait = wait
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

    def wait_first(self, pending):
        res = self._wait(list(pending), return_when="FIRST_COMPLETED")
        return set(res.done), set(res.not_done)


def make_executor(workers: int = 1, dask: str | None = None, *, dask_processes: bool = True):
    if dask:
        return DaskExecutor(dask, workers, processes=dask_processes)
    return ProcessExecutor(workers) if workers > 1 else SerialExecutor()
