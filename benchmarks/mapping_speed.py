"""Cost of the mapping search (issue 13 bar: the whole ViT-B/16 estimate with search < 1 s of process wall
time in cycle mode, systolic-32x32-ws), in one run:

1. wall time of a whole process (interpreter start, imports, numba cache load, building ViT-B/16,
   the cycle-mode estimate with the search, printing the cycles), median of --runs fresh processes;
2. inside such a process: the first cycle-mode estimate, and the same with the search switched off
   (the fixed placement only, as before issue 13), and their ratio;
3. the search alone: all distinct ViT-B/16 GEMMs searched from scratch (memo cleared), per GEMM.

The machine is shared: compare the ratios printed by one run, not absolute times across runs.
Usage: python benchmarks/mapping_speed.py [--runs 5]
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import textwrap
import time

WHOLE = "from hwsim.estimate import estimate; from hwsim.hardware import load_hardware; " \
        "from hwsim.workload import build_workload, load_model; " \
        "print(estimate(build_workload(load_model('vit-b16')), load_hardware('systolic-32x32-ws'), 'cycle').cycles)"

INSIDE = textwrap.dedent("""
    import json, time
    from hwsim.estimate import estimate
    from hwsim.hardware import load_hardware
    from hwsim.workload import build_workload, load_model
    from hwsim.backends import systolic_mapping
    from hwsim.backends.systolic import SystolicBackend, _lowered_cached
    hw = load_hardware("systolic-32x32-ws")
    t = time.perf_counter(); r = estimate(build_workload(load_model("vit-b16")), hw, "cycle"); searched = time.perf_counter() - t
    w = build_workload(load_model("vit-b16"))
    gemms = {(o.gemm().m, o.gemm().k, o.gemm().n, o.gemm().count): o.gemm() for o in w.ops if hasattr(o, "gemm")}
    systolic_mapping.choose.cache_clear()
    t = time.perf_counter()
    for g in gemms.values():
        SystolicBackend().mapping(g, hw)
    search = time.perf_counter() - t
    real = systolic_mapping.choose
    systolic_mapping.choose = lambda *a, **k: (systolic_mapping.GemmMapping(a[6], fixed=True), None)
    _lowered_cached.cache_clear()
    t = time.perf_counter(); f = estimate(build_workload(load_model("vit-b16")), hw, "cycle"); fixed = time.perf_counter() - t
    print(json.dumps({"searched_s": searched, "fixed_s": fixed, "search_s": search, "gemms": len(gemms),
                      "cycles": r.cycles, "fixed_cycles": f.cycles}))
""")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    walls = []
    for _ in range(args.runs):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", WHOLE], check=True, capture_output=True)
        walls.append(time.perf_counter() - t)
    res = json.loads(subprocess.run([sys.executable, "-c", INSIDE], check=True, capture_output=True, text=True).stdout)
    wall = statistics.median(walls)
    print(f"ViT-B/16 on systolic-32x32-ws, cycle mode: {res['cycles']:,} cycles with the search, "
          f"{res['fixed_cycles']:,} with the fixed placement")
    print(f"  whole process wall time (median of {args.runs}): {wall:.3f} s   [bar < 1 s: {'met' if wall < 1 else 'NOT met'}]")
    print(f"  first cycle-mode estimate in a process: {res['searched_s'] * 1e3:.0f} ms with the search, "
          f"{res['fixed_s'] * 1e3:.0f} ms fixed placement only (x{res['searched_s'] / res['fixed_s']:.2f})")
    print(f"  search alone: {res['gemms']} distinct GEMMs in {res['search_s'] * 1e3:.2f} ms "
          f"({res['search_s'] / res['gemms'] * 1e6:.0f} us per GEMM)")


if __name__ == "__main__":
    main()
