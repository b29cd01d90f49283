"""Latency / FPGA-resource Pareto fronts of the generated systolic array, through `hwsim sweep`.

Run: PYTHONPATH=. python benchmarks/array_fpga_pareto.py [--target xilinx|ecp5|ice40] [--model vit-b16]
     [--clock-hz 1e8]

Runs the sweep of ``examples/sweep_fpga_array.yaml`` (rows x cols in {2, 4, 8, 16}^2 x {ws, os, is},
``fpga_target`` set; the target, model and clock overridable here) with ``hwsim.sweep.run_sweep``
into a temporary Parquet store, then ``hwsim.sweep.pareto`` over (latency, lut) and (latency, dsp),
and, for the disagreement docs/rtl.md describes, over (latency, area_mm2): the ASIC area model
(hwsim/energy.py, TPU v1 PE) charges every dataflow the same, the FPGA table does not. Latency is the
backend's analytic model at min(clock_hz, Fmax) (ice40: the placed Fmax; ecp5/xilinx are not placed
and use clock_hz); LUT/FF/DSP come from hwsim/data/array_costs.json by hwsim/fpga_array.py's rule
(exact at characterised sizes, linear in PEs between, the nearest segment extended outside: the
``extrapolated`` column says which). Prints markdown tables; the demonstration of the loop back,
not a unit test (tests/test_fpga_array.py checks the same sweep against per-point estimates).
"""
from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

from hwsim.config import read_yaml

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "examples" / "sweep_fpga_array.yaml"


def main(argv=None) -> int:
    from hwsim.backends.systolic_fpga import fpga_cost
    from hwsim.sweep import pareto, run_sweep, spec_from_dict

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--target", default=None, choices=("ice40", "ecp5", "xilinx"),
                    help="FPGA target (default: the example spec's)")
    ap.add_argument("--model", default=None, help="zoo model (default: the example spec's)")
    ap.add_argument("--clock-hz", type=float, default=None, help="clock_hz (default: the example spec's)")
    args = ap.parse_args(argv)
    data = read_yaml(SPEC)
    data["set"] = dict(data.get("set") or {})
    if args.target:
        data["set"]["fpga_target"] = args.target
        if args.target != "xilinx":          # the DSP budget of the example is an Artix-7's
            data["constraints"] = []
    if args.clock_hz:
        data["set"]["clock_hz"] = args.clock_hz
    if args.model:
        data["models"] = [args.model]
    spec = spec_from_dict(data, str(SPEC), base_dir=SPEC.parent)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "fpga.parquet"
        t0 = time.perf_counter()
        run = run_sweep(spec, out, progress=False)
        seconds = time.perf_counter() - t0
        target = spec.base.fpga_target
        print(f"{run.evaluated} design points of {spec.models[0].label} on {target} "
              f"(clock_hz {spec.base.clock_hz / 1e6:g} MHz), constraints {list(c.text for c in spec.constraints)}: "
              f"swept in {seconds:.1f} s")
        for y in ("lut", "dsp", "area"):
            res = pareto(out, "latency", y)
            print(f"\nPareto front, latency vs {res.y} ({len(res.front)} of {res.considered} feasible points):")
            print("| array | dataflow | latency (ms) | cycles | LUT | FF | DSP | area (mm^2, ASIC model) | Fmax (MHz) | figures |")
            print("|---|---|---|---|---|---|---|---|---|---|")
            for _, p in res.front.iterrows():
                hw = dataclasses.replace(spec.base, rows=int(p["rows"]), cols=int(p["cols"]),
                                         dataflow=str(p["dataflow"]))
                c = fpga_cost(hw)
                how = "exact" if c.exact else \
                    f"{'extrapolated' if c.extrapolated else 'from'} {' and '.join(c.basis)}"
                fmax = "n/a" if p["fmax_hz"] != p["fmax_hz"] else f"{p['fmax_hz'] / 1e6:.1f}"
                print(f"| {int(p['rows'])}x{int(p['cols'])} | {p['dataflow']} | {p['latency_s'] * 1e3:,.1f} | "
                      f"{int(p['cycles']):,} | {int(p['lut']):,} | {int(p['ff']):,} | {int(p['dsp'])} | "
                      f"{p['area_mm2']:.3f} | {fmax} | {how} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
