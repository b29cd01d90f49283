"""Peak memory and wall time of `hwsim gemm N N N systolic` in cycle vs analytic mode, over a ladder of sizes (issue 12:
"cycle mode memory must stay bounded (identical folds as runs, not one task each)").

Usage: .venv/bin/python benchmarks/gemm_cycle_memory.py [--baseline DIR] [--sizes 1024 4096 16384 65536]
                                                       [--limit-gb 6] [--repeat 1]
(104031^3 is the largest cube under the CLI's 2^50-MAC limit.)

Each point is one process (`python -m hwsim.cli gemm ...` with `PYTHONPATH` set to the checkout), its peak RSS read
from the kernel (`os.wait4`) and its wall time measured here; a child is capped at `--limit-gb` of address space, so a
checkout whose cycle mode grows with the folds fails cleanly ("over the limit") instead of waking the OOM killer.
With `--baseline DIR` (another checkout, e.g. `git worktree add /tmp/base main`) both run alternately in this one
run and the table prints the ratios. Cycle counts of both modes are printed too (equal when nothing stalls; the
default 16 B/cycle DRAM stalls these square GEMMs, where cycle mode is the exact schedule and analytic its bound).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(checkout: Path, n: int, mode: str, limit_gb: float):
    """(wall s, peak RSS MB, cycles or None if the process failed)."""
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    limit = int(limit_gb * 2 ** 30)

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    t = time.perf_counter()
    p = subprocess.Popen([sys.executable, "-m", "hwsim.cli", "gemm", str(n), str(n), str(n), "systolic", "--mode", mode,
                          "--format", "json"], env=env, cwd=checkout, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         preexec_fn=cap)
    out = p.stdout.read().decode()
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    if status != 0:
        return wall, usage.ru_maxrss / 1024, None
    return wall, usage.ru_maxrss / 1024, json.loads(out)["cycles"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", type=Path, help="another hwsim checkout to compare with")
    ap.add_argument("--sizes", type=int, nargs="+", default=[1024, 4096, 16384, 65536, 104031])
    ap.add_argument("--limit-gb", type=float, default=6.0, help="address-space cap per child (GB)")
    ap.add_argument("--repeat", type=int, default=1, help="runs per point (the minimum time is shown)")
    a = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; cap {a.limit_gb:g} GB per process")
    checkouts = [("this", ROOT)] + ([("baseline", a.baseline)] if a.baseline else [])
    print(f"{'GEMM':>8} {'mode':<8} " + " ".join(f"{name + ' s':>11} {name + ' MB':>12}" for name, _ in checkouts)
          + ("   time ratio  memory ratio" if a.baseline else "") + "   cycles")
    for n in a.sizes:
        for mode in ("cycle", "analytic"):
            res = {}
            for _ in range(a.repeat):
                for name, path in checkouts:
                    w, mb, cyc = run(path, n, mode, a.limit_gb)
                    best = res.get(name)
                    res[name] = (min(w, best[0]) if best else w, mb, cyc)
            cells = []
            for name, _ in checkouts:
                w, mb, cyc = res[name]
                cells.append(f"{w:>11.2f} {mb:>12.0f}" if cyc is not None else f"{'over the limit':>24}")
            line = f"{n:>8} {mode:<8} " + " ".join(cells)
            if a.baseline:
                (w0, m0, c0), (w1, m1, c1) = res["this"], res["baseline"]
                line += (f"   {w1 / w0:>9.1f}x  {m1 / m0:>11.1f}x" if c1 is not None else f"   {'baseline failed':>23}")
                if c0 is not None and c1 is not None and c0 != c1:
                    line += "   CYCLES DIFFER"
            print(line + f"   {res['this'][2]:,}" if res["this"][2] is not None else line + "   failed")


if __name__ == "__main__":
    main()
