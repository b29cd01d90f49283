"""Latency / FPGA-resource Pareto front of the generated systolic array for one ViT-B/16 encoder layer.

Run: PYTHONPATH=. python benchmarks/array_fpga_pareto.py [--target xilinx|ecp5|ice40] [--tokens 197]

For rows x cols in {2, 4, 8, 16}^2 and every dataflow, the layer's GEMMs (ViT-B/16, Dosovitskiy
et al. 2021, Table 1: hidden 768, MLP 3072, 12 heads of 64; per image: QKV 197x768x2304, scores
12 x 197x64x197, context 12 x 197x197x64, projection 197x768x768, fc1 197x768x3072, fc2
197x3072x768) are costed in array cycles with hwsim's double-buffered closed form
(``fold_plan(...).compute.sum() + 2R + C - 2`` per GEMM, which the RTL matches cycle for cycle:
sims/test_array.py) and in LUT / FF / DSP with ``hwsim.fpga_array.array_fpga_cost`` from the
characterised table (exact at ladder sizes, linear in PEs between them). Prints every point and
the Pareto front over (cycles, LUT) and (cycles, DSP); with ice40 also the Fmax-limited time.
This is the demonstration of the loop back, not a unit test.
"""
from __future__ import annotations

import argparse
import itertools

from hwsim.backends.systolic import fold_plan, pipeline_overhead_cycles
from hwsim.errors import HwsimError
from hwsim.fpga_array import array_fpga_cost
from hwsim.hardware.systolic import SystolicConfig
from hwsim.workload.ops import MatMul


def vit_layer_gemms(tokens: int = 197, hidden: int = 768, mlp: int = 3072, heads: int = 12):
    d = hidden // heads
    return [MatMul(name="qkv", m=tokens, k=hidden, n=3 * hidden),
            MatMul(name="scores", m=tokens, k=d, n=tokens, count=heads),
            MatMul(name="context", m=tokens, k=tokens, n=d, count=heads),
            MatMul(name="proj", m=tokens, k=hidden, n=hidden),
            MatMul(name="fc1", m=tokens, k=hidden, n=mlp),
            MatMul(name="fc2", m=tokens, k=mlp, n=hidden)]


def layer_cycles(rows: int, cols: int, dataflow: str, gemms) -> int:
    hw = SystolicConfig(rows=rows, cols=cols, dataflow=dataflow)
    return sum(int(fold_plan(g, hw).compute.sum()) + g.count * pipeline_overhead_cycles(rows, cols)
               for g in gemms)


def pareto(points, key):
    """Points not dominated in (cycles, key): sorted by cycles, strictly decreasing key."""
    front, best = [], None
    for p in sorted(points, key=lambda p: (p["cycles"], p[key])):
        if best is None or p[key] < best:
            front.append(p)
            best = p[key]
    return front


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--target", default="xilinx", choices=("ice40", "ecp5", "xilinx"))
    ap.add_argument("--tokens", type=int, default=197)
    args = ap.parse_args(argv)
    gemms = vit_layer_gemms(args.tokens)
    points = []
    for r, c, df in itertools.product((2, 4, 8, 16), (2, 4, 8, 16), ("ws", "os", "is")):
        try:
            cost = array_fpga_cost(r, c, df, target=args.target)
        except HwsimError:
            continue
        p = {"array": f"{r}x{c}", "dataflow": df, "cycles": layer_cycles(r, c, df, gemms),
             "lut": cost.lut, "ff": cost.ff, "dsp": cost.dsp, "fmax": cost.fmax_mhz,
             "exact": cost.exact}
        if cost.fmax_mhz:
            p["ms"] = p["cycles"] / cost.fmax_mhz / 1e3
        points.append(p)
    print(f"{len(points)} design points on {args.target} (ViT-B/16 layer, {args.tokens} tokens)")
    for key in ("lut", "dsp"):
        print(f"\nPareto front, cycles vs {key.upper()}:")
        print("| array | dataflow | cycles | LUT | FF | DSP | from table |" +
              (" Fmax MHz | ms |" if args.target == "ice40" else ""))
        for p in pareto(points, key):
            extra = (f" {p['fmax'] or 'n/a'} | {p.get('ms', float('nan')):.1f} |"
                     if args.target == "ice40" else "")
            print(f"| {p['array']} | {p['dataflow']} | {p['cycles']:,} | {p['lut']} | {p['ff']} | "
                  f"{p['dsp']} | {'exact' if p['exact'] else 'interpolated'} |" + extra)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
