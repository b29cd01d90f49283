"""Wall time of the exhaustive 16-bit GELU verification on Icarus and on Verilator, and their ratio.

Run: .venv/bin/python benchmarks/rtl_gelu_exhaustive.py [--algos ibert,pwl,shiftgelu] [--lanes 16]

Issue 4's bar: exhaustive 16-bit GELU verification under 60 s with Icarus or under 20 s with
Verilator. Each run is the cocotb bench of record (``sims/test_gelu.py::verify_unit``, every one of
the 65,536 input codes -- ShiftGELU: every code three times, with three row maxima -- under random
valid gaps and ready backpressure, bit-exact against ``rtl.golden``) on the Verilog emitted for the
unit, end to end: Verilog emission (cached per design), simulator build (Verilator: C++ compile,
cached after the first run, reported separately) and simulation. Times are wall seconds measured
in this one run; the ratio is Icarus / Verilator.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "sims"), str(REPO)]

BAR_S = {"icarus": 60.0, "verilator": 20.0}
PARAMS = {"ibert": {"in_bits": 16, "scale": 2.0 ** -10},
          "pwl": {"in_bits": 16, "scale": 2.0 ** -10},
          "shiftgelu": {"in_bits": 16, "scale": 2.0 ** -9}}


def time_one(algo: str, lanes: int, sim: str, fresh: bool) -> tuple[float, float]:
    """(first-run seconds including any simulator build, warm-run seconds)."""
    from runner import _design_dir, run_bench
    from rtl.build import make_unit

    params = {**PARAMS[algo], "lanes": lanes}
    if fresh:
        unit = make_unit("gelu", algo, params)
        design = _design_dir(f"gelu_{algo}", {"kind": "gelu", "algo": algo,
                                              "params": unit.params()})
        shutil.rmtree(design / sim, ignore_errors=True)
    times = []
    for attempt in range(2):
        t0 = time.perf_counter()
        result = run_bench("gelu", algo, params, test_module="test_gelu", testcase="verify_unit",
                           sim=sim, bench={"mode": "exhaustive", "seed": 1},
                           run_tag=f"bench-{attempt}")
        times.append(time.perf_counter() - t0)
        if not result.ok:
            raise SystemExit(f"{algo} on {sim}: verification FAILED, see {result.log_file}")
    return times[0], times[1]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algos", default="ibert,pwl,shiftgelu")
    parser.add_argument("--lanes", type=int, default=16)
    args = parser.parse_args(argv)
    from runner import simulator_missing

    sims = [s for s in ("icarus", "verilator") if simulator_missing(s) is None]
    for s in ("icarus", "verilator"):
        if s not in sims:
            print(f"skipping {s}: {simulator_missing(s)}")
    rows = []
    for algo in args.algos.split(","):
        row = {"algo": algo}
        for sim in sims:
            first, warm = time_one(algo, args.lanes, sim, fresh=True)
            row[sim] = (first, warm)
        rows.append(row)
    print(f"\nexhaustive 16-bit GELU verification, {args.lanes} lanes, wall seconds "
          f"(first run incl. simulator build / warm run)")
    print(f"{'algo':<10} " + " ".join(f"{s:>22}" for s in sims)
          + ("   icarus/verilator (warm)" if len(sims) == 2 else ""))
    for row in rows:
        cells = []
        for sim in sims:
            first, warm = row[sim]
            ok = "ok" if warm < BAR_S[sim] else "OVER BAR"
            cells.append(f"{first:7.1f} / {warm:5.1f} {ok:>8}")
        line = f"{row['algo']:<10} " + " ".join(f"{c:>22}" for c in cells)
        if len(sims) == 2:
            line += f"   {row['icarus'][1] / row['verilator'][1]:6.2f}x"
        print(line)
    print(f"bars: Icarus < {BAR_S['icarus']:.0f} s or Verilator < {BAR_S['verilator']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
