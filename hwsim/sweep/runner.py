"""Running a sweep: the missing chunks of a results store evaluated by an executor, streamed to disk."""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

from hwsim.errors import HwsimError
from hwsim.sweep.evaluate import csv_header, evaluate_chunk
from hwsim.sweep.executors import make_executor
from hwsim.sweep.spec import SweepSpec
from hwsim.sweep.stores import _interval_union, results_store

@dataclass(frozen=True)
class SweepRun:
    """Outcome of :func:`run_sweep`: hardware points evaluated now / skipped (already present), rows
    written (points x models), wall time in seconds."""
    evaluated: int
    skipped: int
    rows: int
    seconds: float


def missing_chunks(total: int, done: list[tuple[int, int]], chunk: int) -> list[tuple[int, int]]:
    """Id ranges not yet done, split at multiples of ``chunk``."""
    out, cur = [], 0
    for a, b in _interval_union(done) + [(total, total)]:
        lo = cur
        while lo < min(a, total):
            hi = min((lo // chunk + 1) * chunk, a, total)
            out.append((lo, hi))
            lo = hi
        cur = max(cur, b)
    return out


def run_sweep(spec: SweepSpec, output: str | Path, *, workers: int = 1, dask: str | None = None,
              resume: bool = False, overwrite: bool = False, progress: bool = True,
              dask_processes: bool = True, executor=None) -> SweepRun:
    """Evaluate every point of ``spec`` not yet in ``output``; stream each finished chunk to disk."""
    t0 = time.perf_counter()
    store, fmt = results_store(output)
    meta = {**spec.metadata(), "fingerprint": spec.fingerprint, "spec_file": spec.source, "format": fmt}
    if store.exists():
        if overwrite:
            store.remove()
        elif not resume:
            raise HwsimError(f"{output}: results exist; pass --resume to continue them or --overwrite to replace")
        elif store.metadata().get("fingerprint") != spec.fingerprint:
            raise HwsimError(f"{output}: results come from a different sweep spec or cost table (fingerprint "
                             f"{store.metadata().get('fingerprint')} != {spec.fingerprint}); use another output or --overwrite")
    elif Path(output).exists() and not overwrite:
        raise HwsimError(f"{output}: exists and is not a sweep result; remove it or pass --overwrite")
    if not store.exists():
        if Path(output).exists():
            import shutil
            shutil.rmtree(output) if Path(output).is_dir() else Path(output).unlink()
        store.create(meta, csv_header(spec))
    done = store.done()
    skipped = sum(min(b, spec.points) - a for a, b in done if a < spec.points)
    tasks = [(spec, a, b, fmt) for a, b in missing_chunks(spec.points, done, spec.chunk_size)]
    from tqdm import tqdm
    bar = tqdm(total=spec.points, initial=skipped, unit="pt", unit_scale=True, file=sys.stderr,
               disable=not progress, desc="sweep", smoothing=0.1)
    evaluated = 0
    try:
        ex = executor if executor is not None else make_executor(workers, dask, dask_processes=dask_processes)
        with ex:
            for first, last, payload in ex.imap_unordered(evaluate_chunk, tasks, window=max(2, 2 * workers)):
                store.write(first, last, payload)
                evaluated += last - first
                bar.update(last - first)
    finally:
        bar.close()
        store.close()
    return SweepRun(evaluated, skipped, evaluated * len(spec.models), time.perf_counter() - t0)
