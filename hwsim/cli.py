"""Command-line interface: a thin layer over the Python API (argparse; no logic of its own)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hwsim.errors import HwsimError
from hwsim.topology import positive_int

FORMATS = ("table", "json", "csv")


def _hardware(args):
    from hwsim.config import parse_overrides
    from hwsim.hardware import load_hardware
    return load_hardware(args.hardware, parse_overrides(args.set))


def _emit(text: str, out: str | None) -> None:
    if out:
        Path(out).write_text(text if text.endswith("\n") else text + "\n")
    else:
        print(text, end="" if text.endswith("\n") else "\n")


def cmd_estimate(args) -> int:
    from hwsim.estimate import estimate
    from hwsim.workload import build_workload, load_model
    spec = load_model(args.model, batch=args.batch, image_size=args.image_size)
    hw = _hardware(args)
    report = estimate(build_workload(spec), hw, args.mode, keep_timeline=bool(args.trace))
    if args.format == "json":
        _emit(report.to_json(), args.output)
    elif args.format == "csv":
        _emit(report.to_csv(), args.output)
    else:
        _emit(report.to_table(None if args.all or args.output else 40), args.output)
    if args.plot:
        report.plot_breakdown(args.plot)
    if args.roofline:
        report.plot_roofline(args.roofline, getattr(hw, "pes", 1), getattr(hw, "dram_bytes_per_cycle", 1.0))
    if args.trace:
        report.write_trace(args.trace)
    if args.output or args.plot or args.trace or args.roofline:
        written = [p for p in (args.output, args.plot, args.roofline, args.trace) if p]
        print("wrote " + ", ".join(written), file=sys.stderr)
    return 0


def gemm_result(name: str, m: int, n: int, k: int, hw, mode: str) -> dict:
    from hwsim.estimate import estimate
    from hwsim.workload import MatMul, Workload
    op = MatMul(name=name, m=m, k=k, n=n, bits=hw.word_bits, out_bits=hw.word_bits)
    row = estimate(Workload(model=name, ops=(op,)), hw, mode).ops[0]
    return {"name": name, "M": m, "N": n, "K": k, "cycles": row.cycles, "macs": row.macs,
            "utilization": row.macs / (hw.pes * row.cycles) if row.cycles else 0.0,
            "sram_reads": {"ifmap": row.sram_reads["ifmap"], "filter": row.sram_reads["filter"]},
            "sram_writes": {"ofmap": row.sram_writes["ofmap"]},
            "dram_reads": {"ifmap": row.dram_reads["ifmap"], "filter": row.dram_reads["filter"]},
            "dram_writes": {"ofmap": row.dram_writes["ofmap"]},
            "energy_pj": row.energy_pj, "latency_s": row.latency_s, "bound": row.bound}


def cmd_gemm(args) -> int:
    if args.topology:
        if len(args.dims) != 1:
            raise HwsimError("with --topology give only HARDWARE: hwsim gemm --topology FILE.csv HARDWARE")
        args.hardware = args.dims[0]
        from hwsim.topology import read_topology
        gemms = read_topology(args.topology)
    else:
        if len(args.dims) != 4:
            raise HwsimError("usage: hwsim gemm M N K HARDWARE  (or: hwsim gemm --topology FILE.csv HARDWARE)")
        args.hardware = args.dims[3]
        gemms = [("gemm", *(positive_int(v, d) for v, d in zip(args.dims[:3], "MNK")))]
    hw = _hardware(args)
    results = [gemm_result(name, m, n, k, hw, args.mode) for name, m, n, k in gemms]
    if args.format == "json":
        print(json.dumps(results if args.topology else results[0], indent=2))
    else:
        print(f"{'name':<16} {'M':>6} {'N':>6} {'K':>6} {'cycles':>12} {'util':>6} {'energy':>12}  bound")
        for r in results:
            print(f"{r['name']:<16} {r['M']:>6} {r['N']:>6} {r['K']:>6} {r['cycles']:>12,} {r['utilization']:>6.1%} "
                  f"{r['energy_pj'] / 1e6:>10.3f}µJ  {r['bound']}")
    return 0


def cmd_models(args) -> int:
    from hwsim.workload import build_workload, load_model, available_models
    print(f"{'model':<12} {'image':>5} {'patch':>5} {'depth':>5} {'dim':>5} {'heads':>5} {'tokens':>6} {'GMACs':>8}  source")
    for name in available_models():
        s = load_model(name)
        print(f"{name:<12} {s.image_size:>5} {s.patch:>5} {s.depth:>5} {s.dim:>5} {s.heads:>5} {s.tokens:>6} "
              f"{build_workload(s).macs / 1e9:>8.2f}  {s.source}")
    return 0


def cmd_presets(args) -> int:
    from hwsim.backends import backend_for
    from hwsim.hardware import available_presets, load_hardware
    print(f"{'preset':<20} {'kind':<9} {'summary':<44} {'area mm2':>8}")
    for name in available_presets():
        hw = load_hardware(name)
        summary = f"{hw.rows}x{hw.cols} {hw.dataflow}, {hw.clock_hz / 1e6:g} MHz, {hw.dram_bytes_per_cycle:g} B/cyc DRAM"
        print(f"{name:<20} {'systolic':<9} {summary:<44} {backend_for(hw).area_mm2(hw):>8.2f}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from hwsim.estimate import MODES
    p = argparse.ArgumentParser(prog="hwsim", description="Latency/energy simulator and RTL generator for ViT accelerators.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    e = sub.add_parser("estimate", help="per-op and total latency/energy of a model on hardware")
    e.add_argument("model", help="zoo name (see 'hwsim models') or a model YAML file")
    e.add_argument("hardware", help="preset name (see 'hwsim presets') or a hardware YAML file")
    e.add_argument("--mode", choices=MODES, default="cycle", help="cycle-level engine (default) or closed form")
    e.add_argument("--format", choices=FORMATS, default="table")
    e.add_argument("-o", "--output", help="write the report here instead of stdout")
    e.add_argument("--plot", help="PNG: per-layer energy and latency breakdown")
    e.add_argument("--roofline", help="PNG: roofline plot of the GEMMs")
    e.add_argument("--trace", help="Chrome/Perfetto trace JSON of the timeline (cycle mode)")
    e.add_argument("--set", action="append", metavar="FIELD=VALUE", help="override a hardware field (repeatable)")
    e.add_argument("--batch", type=int, help="batch size (default 1)")
    e.add_argument("--image-size", type=int, help="input image edge in pixels (default 224)")
    e.add_argument("--all", action="store_true", help="table: list every op")
    e.set_defaults(func=cmd_estimate)

    g = sub.add_parser("gemm", help="one GEMM (M x K) @ (K x N), or a SCALE-Sim topology CSV")
    g.add_argument("dims", nargs="+", metavar="M N K HARDWARE", help="GEMM sizes then hardware (or only HARDWARE with --topology)")
    g.add_argument("--topology", help="SCALE-Sim GEMM topology CSV (rows 'name,M,N,K,')")
    g.add_argument("--mode", choices=MODES, default="cycle")
    g.add_argument("--format", choices=("table", "json"), default="table")
    g.add_argument("--set", action="append", metavar="FIELD=VALUE", help="override a hardware field (repeatable)")
    g.set_defaults(func=cmd_gemm)

    sub.add_parser("models", help="list the model zoo").set_defaults(func=cmd_models)
    sub.add_parser("presets", help="list the hardware presets").set_defaults(func=cmd_presets)

    for module in ("rtl.cli", "hwsim.sweep_cli"):
        try:
            mod = __import__(module, fromlist=["add_commands"])
        except ImportError:
            continue
        register = getattr(mod, "add_rtl_commands", None) or getattr(mod, "add_commands", None)
        if register:
            register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = args.func(args)
    except HwsimError as exc:
        print(f"hwsim: error: {exc}", file=sys.stderr)
        return 2
    except ImportError as exc:
        print(f"hwsim: error: {exc} (a part of hwsim is not installed or not built yet: run 'bash setup.sh')", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hwsim: interrupted", file=sys.stderr)
        return 130
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
