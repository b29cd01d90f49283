"""Wall time of the 100k-element softmax verification on Icarus and on Verilator, and their ratio.

Run: .venv/bin/python benchmarks/rtl_softmax_verify.py [--algos shiftmax,ibert,edgemoe,lut]
     [--lanes 1] [--row-len 197] [--count 100000]

Each run is the cocotb bench of record (``sims/test_softmax.py::verify_unit``, what ``hwsim rtl
verify softmax`` runs: corner rows, quantised Gaussian attention scores and random rows, at
least ``count`` elements, random valid gaps and ready backpressure, a reset in the middle of a
row, every output bit-exact against ``rtl.golden``) on the Verilog emitted for the unit, end to
end: Verilog emission (cached per design), simulator build (Verilator's C++ compile is in the
first run only) and simulation. Times are wall seconds measured in this one run, together with
the simulated clock cycles; the ratio is Icarus / Verilator (warm runs).
"""
from __future__ import annotations

import argparse
import re
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "sims"), str(REPO)]


def time_one(algo: str, params: dict, count: int, sim: str) -> tuple[float, float, int]:
    """(first-run seconds including the simulator build, warm-run seconds, simulated cycles)."""
    from runner import _design_dir, run_bench
    from rtl.build import make_unit

    unit = make_unit("softmax", algo, params)
    design = _design_dir(f"softmax_{algo}", {"kind": "softmax", "algo": algo,
                                             "params": unit.params()})
    shutil.rmtree(design, ignore_errors=True)          # fresh Verilog and simulator build
    times, cycles = [], 0
    for attempt in range(2):
        t0 = time.perf_counter()
        result = run_bench("softmax", algo, params, test_module="test_softmax",
                           testcase="verify_unit", sim=sim, bench={"count": count, "seed": 1},
                           run_tag=f"bench-{attempt}")
        times.append(time.perf_counter() - t0)
        if not result.ok:
            raise SystemExit(f"{algo} on {sim}: verification FAILED, see {result.log_file}")
        found = re.search(r"PASS (\d+) elements bit-exact .*?, (\d+) cycles", result.log_text())
        cycles = int(found.group(2)) if found else 0
    return times[0], times[1], cycles


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algos", default="shiftmax,ibert,edgemoe,lut")
    parser.add_argument("--lanes", type=int, default=1)
    parser.add_argument("--row-len", type=int, default=197)
    parser.add_argument("--count", type=int, default=100_000)
    args = parser.parse_args(argv)
    from runner import simulator_missing

    sims = [s for s in ("icarus", "verilator") if simulator_missing(s) is None]
    for s in ("icarus", "verilator"):
        if s not in sims:
            print(f"skipping {s}: {simulator_missing(s)}")
    params = {"lanes": args.lanes, "row_len": args.row_len}
    rows = []
    for algo in args.algos.split(","):
        row = {"algo": algo}
        for sim in sims:
            row[sim] = time_one(algo, params, args.count, sim)
            print(f"{algo} on {sim}: {row[sim][0]:.1f} s first, {row[sim][1]:.1f} s warm, "
                  f"{row[sim][2]} cycles", flush=True)
        rows.append(row)
    print(f"\nsoftmax verification, {args.count} elements, row_len {args.row_len}, "
          f"{args.lanes} lane(s), wall seconds (first run incl. simulator build / warm run)")
    print(f"{'algo':<10} {'cycles':>8} " + " ".join(f"{s:>16}" for s in sims)
          + ("   icarus/verilator (warm)" if len(sims) == 2 else ""))
    for row in rows:
        cells = [f"{row[s][0]:7.1f} / {row[s][1]:6.1f}" for s in sims]
        ratio = f"   {row['icarus'][1] / row['verilator'][1]:5.2f}x" if len(sims) == 2 else ""
        print(f"{row['algo']:<10} {row[sims[0]][2]:>8} " + " ".join(cells) + ratio)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
