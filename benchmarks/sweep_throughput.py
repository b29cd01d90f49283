"""Design-space sweep speed (issue 5 bars), in one run:

1. points/s of the vectorised analytic evaluator (``hwsim.backends.systolic_points``) for ViT-B/16 on
   distinct random points of the issue's axes, single process, after warm-up;
2. points/s of a per-point ``estimate(..., "analytic")`` loop on a few hundred of the same points, and
   the ratio (also checks the two agree);
2b. a worker's chunks: the first pays the mapping search once per distinct search input (issue 13: "keep it above
   1M ViT-B/16 points/s on 2 workers or say what it costs"), later chunks reuse it;
3. end-to-end wall time of ``hwsim sweep examples/sweep_vit.yaml -o r.parquet --workers 2 --points 1000000``
   (process start, evaluation, writing results). The spec has 2 models: 1,000,000 hardware points x 2
   models = 2,000,000 result rows; the bar is on hardware points;
4. with ``--big``: a 10,000,000-point sweep, killed part-way and resumed, with the peak RSS of every
   process involved (bar: < 1 GB).

Usage: .venv/bin/python benchmarks/sweep_throughput.py [--big] [--points N]
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "examples" / "sweep_vit.yaml"
HWSIM = [sys.executable, "-m", "hwsim.cli"]


def evaluator_rate(n: int = 200_000, repeats: int = 5) -> tuple[float, float, int]:
    from hwsim.backends.systolic_points import PointEvaluator
    from hwsim.estimate import estimate
    from hwsim.sweep import load_spec, sample_indices
    from hwsim.workload import build_workload, load_model
    spec = load_spec(SPEC, points=n)
    workload = build_workload(load_model("vit-b16"))
    ev = PointEvaluator(workload, spec.base)
    idx = sample_indices(spec, 0, n)
    params = {a.field: np.asarray(a.values)[idx[i]] for i, a in enumerate(spec.axes)}
    ev.evaluate({k: v[:1000] for k, v in params.items()})          # warm-up: numba cache load, scalar groups
    best = min(_timed(lambda: ev.evaluate(params)) for _ in range(repeats))
    fast = n / best
    out = ev.evaluate(params)
    k = 300
    t0 = time.perf_counter()
    for j in range(k):
        hw = dataclasses.replace(spec.base, **{f: v[j].item() for f, v in params.items()})
        r = estimate(workload, hw, "analytic")
        assert r.cycles == out["cycles"][j] and abs(r.energy_pj - out["energy_pj"][j]) <= 1e-9 * r.energy_pj
    slow = k / (time.perf_counter() - t0)
    return fast, slow, k


def chunked_rate(chunks: int = 4) -> tuple[float, int, int, float]:
    """A worker's view: consecutive chunks of ``chunk_size`` points through one evaluator per model (as
    ``hwsim.sweep.evaluate`` keeps them). Returns (first chunk s, distinct mapping-search inputs in it per model,
    models, points/s of the later chunks). The search runs once per distinct input (rows, cols, dataflow, SRAM sizes,
    bandwidth, word widths, objective, fusion, energy constants) and is memoised across chunks."""
    from hwsim.sweep import load_spec
    from hwsim.sweep.evaluate import _evaluate, _evaluators
    spec = load_spec(SPEC, points=(chunks + 1) * 65536)
    size = spec.chunk_size
    _evaluate(spec, 0, 1)                               # numba cache load and evaluator set-up only
    t0 = time.perf_counter()
    _evaluate(spec, 0, size)
    first = time.perf_counter() - t0
    distinct = len(_evaluators(spec)[0]._gemm_memo)
    t0 = time.perf_counter()
    for c in range(1, chunks):
        _evaluate(spec, c * size, (c + 1) * size)
    return first, distinct, len(spec.models), (chunks - 1) * size / (time.perf_counter() - t0)


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def end_to_end(points: int, out: Path, workers: int = 2) -> float:
    cmd = HWSIM + ["sweep", str(SPEC), "-o", str(out), "--workers", str(workers), "--points", str(points), "-q", "--overwrite"]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - t0


def big(points: int, out: Path) -> None:
    """Run, SIGKILL after ~40 % of the parts, resume; report wall times and the peak RSS."""
    cmd = HWSIM + ["sweep", str(SPEC), "-o", str(out), "--workers", "2", "--points", str(points), "-q", "--overwrite"]
    parts = points // 65536 + 1
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, start_new_session=True)
    while proc.poll() is None and len(list(out.glob("part-*"))) < 0.4 * parts:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = len(list(out.glob("part-*")))
    t1 = time.perf_counter()
    subprocess.run([c for c in cmd if c != "--overwrite"] + ["--resume"], check=True)
    t2 = time.perf_counter()
    import pyarrow.dataset as ds
    table = ds.dataset(out, format="parquet").to_table(columns=["point"])
    ids = np.sort(table.column("point").to_numpy())
    ok = np.array_equal(ids, np.repeat(np.arange(points), 2))
    rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"{points:,}-point sweep: killed after {t1 - t0:.1f} s with {done_before} of {parts} parts, resumed in "
          f"{t2 - t1:.1f} s; every point exactly once: {ok}; peak RSS of any process: {rss_mb:,.0f} MB "
          f"(bar: < 1,024 MB); results {sum(p.stat().st_size for p in out.glob('part-*')) / 1e6:,.0f} MB")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=1_000_000, help="end-to-end sweep size (default 1,000,000)")
    ap.add_argument("--big", action="store_true", help="also run the 10M-point sweep (kill + resume, peak RSS)")
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f}")
    fast, slow, k = evaluator_rate()
    print(f"vectorised evaluator, ViT-B/16, 1 process: {fast:,.0f} points/s (bar: >= 1,000,000)")
    print(f"per-point estimate(..., 'analytic') loop ({k} points, results identical): {slow:,.0f} points/s")
    print(f"ratio: {fast / slow:,.0f}x")
    first, distinct, models, later = chunked_rate()
    print(f"chunks of a worker: the first {first:.2f} s ({distinct:,} distinct mapping-search inputs per model: "
          f"<= {first / distinct / models * 1e6:,.0f} us per input and model incl. the chunk's other work), "
          f"later chunks "
          f"{later:,.0f} points/s per process (search memoised)")
    with tempfile.TemporaryDirectory() as tmp:
        wall = end_to_end(args.points, Path(tmp) / "r.parquet")
        print(f"end to end: hwsim sweep {SPEC.relative_to(ROOT)} --workers 2, {args.points:,} hardware points x 2 models "
              f"= {2 * args.points:,} rows: {wall:.2f} s (bar: < 8 s for 1,000,000 points); "
              f"{args.points / wall:,.0f} points/s, {args.points / wall / slow:,.0f}x the per-point loop")
        if args.big:
            big(10_000_000, Path(tmp) / "big.parquet")
    return 0


if __name__ == "__main__":
    sys.exit(main())
