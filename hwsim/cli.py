"""Command-line interface: a thin layer over the Python API (argparse; no logic of its own)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hwsim.errors import HwsimError
from hwsim.topology import gemm_dims

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


def _workload(args):
    from hwsim.workload import load_workload
    overrides = {k: v for k, v in (("batch", args.batch), ("image_size", args.image_size)) if v is not None}
    return load_workload(args.model, task=getattr(args, "task", None), **overrides)


def cmd_estimate(args) -> int:
    from hwsim.estimate import estimate
    from hwsim.paths import PLOT_SUFFIXES, check_output
    check_output(args.output, "-o")
    check_output(args.plot, "--plot", PLOT_SUFFIXES)
    check_output(args.roofline, "--roofline", PLOT_SUFFIXES)
    check_output(args.trace, "--trace", (".json",))
    workload = _workload(args)
    hw = _hardware(args)
    report = estimate(workload, hw, args.mode, keep_timeline=bool(args.trace))
    if args.format == "json":
        _emit(report.to_json(args.by), args.output)
    elif args.format == "csv":
        _emit(report.to_csv(args.by), args.output)
    else:
        _emit(report.to_table(None if args.all or args.output or args.by else 40, by=args.by), args.output)
    if args.plot:
        report.plot_breakdown(args.plot, stack=args.plot_by)
    if args.roofline:
        from hwsim.kinds import backend_for
        peaks = backend_for(hw).peak_rates(hw)
        if not peaks:
            raise HwsimError(f"--roofline: the {hw.kind} backend has no compute/bandwidth roofline")
        report.plot_roofline(args.roofline, peaks["macs_per_s"], peaks["dram_bytes_per_s"])
    if args.trace:
        report.write_trace(args.trace, args.trace_detail)
    if args.output or args.plot or args.trace or args.roofline:
        written = [p for p in (args.output, args.plot, args.roofline, args.trace) if p]
        print("wrote " + ", ".join(written), file=sys.stderr)
    return 0


def cmd_compare(args) -> int:
    from hwsim.compare import Comparison
    from hwsim.config import parse_overrides
    from hwsim.estimate import estimate
    from hwsim.hardware import load_hardware
    from hwsim.paths import PLOT_SUFFIXES, check_output
    check_output(args.plot, "--plot", PLOT_SUFFIXES)
    workload = _workload(args)
    hws = [load_hardware(h, parse_overrides(args.set)) for h in args.hardware]
    comparison = Comparison(tuple(estimate(workload, hw, args.mode) for hw in hws))
    if args.format == "json":
        print(json.dumps(comparison.records(), indent=2, allow_nan=False))
    else:
        print(comparison.to_table())
    if args.plot:
        comparison.plot(args.plot)
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0


def cmd_export(args) -> int:
    from hwsim.workload.export import cmd_export as export   # imported only when used: keeps --help quick
    return export(args)


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
        gemms = [("gemm", *gemm_dims(args.dims[:3]))]
    from hwsim.estimate import gemm_results
    results, lines = gemm_results(gemms, _hardware(args), args.mode)
    if args.format == "json":
        print(json.dumps(results if args.topology else results[0], indent=2))
    else:
        from hwsim.report import _energy, _si
        print(f"{'name':<16} {'M':>6} {'N':>6} {'K':>6} {'cycles':>12} {'latency':>10} {'util':>6} {'energy':>10}  bound")
        for r in results:
            cycles = f"{r['cycles']:,}" if "cycles" in r else "-"
            print(f"{r['name']:<16} {r['M']:>6} {r['N']:>6} {r['K']:>6} {cycles:>12} {_si(r['latency_s'], 's'):>10} "
                  f"{r['utilization']:>6.1%} {_energy(r['energy_pj']):>10}  {r['bound']}")
        if any("elapsed_cycles" in r for r in results):
            print("cycles: SCALE-Sim's Total Cycles (the zero-based index of the last write); latency, util and "
                  "energy count the cycles the array works (elapsed_cycles in the JSON: one more per GEMM instance)")
        for line in lines:      # e.g. the systolic FPGA figures with fpga_target
            print(line)
    return 0


def cmd_models(args) -> int:
    from hwsim.workload import available_models, build_workload, load_model
    from hwsim.workload.spec import ModelSpec
    print(f"{'model':<18} {'form':<12} {'image':>5} {'blocks':>6} {'dim':>5} {'heads':>5} {'GMACs':>8}  source")
    for name in available_models():
        s = load_model(name)
        flat = isinstance(s, ModelSpec)
        form = "vit" if flat else f"{len(s.stages)} stages"
        dims = (s.dim, s.heads) if flat else ("-", "-")
        print(f"{name:<18} {form:<12} {s.image_size:>5} {s.depth:>6} {dims[0]:>5} {dims[1]:>5} "
              f"{build_workload(s).macs / 1e9:>8.2f}  {s.source}")
    return 0


def cmd_presets(args) -> int:
    from hwsim.hardware import available_presets, load_hardware
    from hwsim.kinds import backend_for
    from hwsim.report import _number
    by_kind: dict[str, list] = {}
    for name in available_presets():
        hw = load_hardware(name)
        by_kind.setdefault(hw.kind, []).append((name, hw))
    for kind in sorted(by_kind):
        print(f"{kind}:")
        for name, hw in by_kind[kind]:
            size = ", ".join(f"{k} {_number(v)}" for k, v in backend_for(hw).size(hw).items())
            print(f"  {name:<22} {hw.describe():<58} {size}")
    return 0


def cmd_validate(args) -> int:
    from hwsim import validation as V
    from hwsim.paths import check_output
    check_output(args.output, "-o")
    if args.list:
        for c in V.select(V.discover(), full=True, only=args.only or ()):
            print(f"{c.name:<34} {'(--full) ' if c.full else ''}{c.compares}; reference: {c.reference}")
        return 0
    from tqdm import tqdm
    results = V.validate(full=args.full, only=args.only or (),
                         wrap=lambda checks: tqdm(checks, unit="check", file=sys.stderr, leave=False,
                                                  disable=not sys.stderr.isatty()))
    render = {"json": V.to_json, "markdown": V.to_markdown}.get(args.format, V.to_table)
    _emit(render(results), args.output)
    failed = V.first_failure(results)
    if failed:
        print(f"hwsim: validate: {failed.name} disagrees with {failed.reference}: {failed.disagreement}",
              file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    from hwsim import MODES
    p = argparse.ArgumentParser(prog="hwsim", description="Latency/energy simulator and RTL generator for ViT accelerators.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    e = sub.add_parser("estimate", help="per-op and total latency/energy of a model on hardware")
    e.add_argument("model", help="zoo name (see 'hwsim models'), a model YAML file, timm:NAME or a .onnx file")
    e.add_argument("hardware", help="preset name (see 'hwsim presets') or a hardware YAML file")
    e.add_argument("--mode", choices=MODES, default="cycle", help="cycle-level engine (default) or closed form")
    e.add_argument("--format", choices=FORMATS, default="table")
    e.add_argument("-o", "--output", help="write the report here instead of stdout")
    e.add_argument("--plot", help="PNG: per-layer energy and latency breakdown")
    e.add_argument("--plot-by", choices=("kind", "block"), default="kind",
                   help="--plot: stack each layer's latency by op kind (default) or by block (attn, mlp, moe)")
    e.add_argument("--roofline", help="PNG: roofline plot of the GEMMs")
    e.add_argument("--trace", help="Chrome/Perfetto trace JSON of the timeline (cycle mode)")
    e.add_argument("--trace-detail", choices=("op", "task"), default="op",
                   help="trace events per op and resource (default, small) or per task (every fold: large)")
    e.add_argument("--set", action="append", metavar="FIELD=VALUE", help="override a hardware field (repeatable)")
    e.add_argument("--batch", type=int, help="batch size (default 1)")
    e.add_argument("--image-size", type=int, help="input image edge in pixels (default 224)")
    e.add_argument("--task", help="task whose MoE gate runs (task routing; default: the model's first task)")
    e.add_argument("--all", action="store_true", help="table: list every op")
    e.add_argument("--by", choices=("layer", "block"), help="sum rows per layer or per block (table, csv; json adds 'groups')")
    e.set_defaults(func=cmd_estimate)

    c = sub.add_parser("compare", help="one model on several hardware configs (any kinds), side by side")
    c.add_argument("model", help="zoo name or model YAML file")
    c.add_argument("hardware", nargs="+", help="presets or hardware YAML files; ratios are to the first")
    c.add_argument("--mode", choices=MODES, default="analytic", help="closed form (default) or cycle-level engine")
    c.add_argument("--format", choices=("table", "json"), default="table")
    c.add_argument("--plot", help="PNG: latency and energy per image, side by side")
    c.add_argument("--set", action="append", metavar="FIELD=VALUE", help="override a field of every config (repeatable)")
    c.add_argument("--batch", type=int, help="batch size (default 1)")
    c.add_argument("--image-size", type=int, help="input image edge in pixels (default 224)")
    c.set_defaults(func=cmd_compare)

    g = sub.add_parser("gemm", help="one GEMM (M x K) @ (K x N), or a SCALE-Sim topology CSV")
    g.add_argument("dims", nargs="+", metavar="M N K HARDWARE", help="GEMM sizes then hardware (or only HARDWARE with --topology)")
    g.add_argument("--topology", help="SCALE-Sim GEMM topology CSV (rows 'name,M,N,K,')")
    g.add_argument("--mode", choices=MODES, default="cycle")
    g.add_argument("--format", choices=("table", "json"), default="table")
    g.add_argument("--set", action="append", metavar="FIELD=VALUE", help="override a hardware field (repeatable)")
    g.set_defaults(func=cmd_gemm)

    sub.add_parser("models", help="list the model zoo").set_defaults(func=cmd_models)
    sub.add_parser("presets", help="list the hardware presets").set_defaults(func=cmd_presets)

    x = sub.add_parser("export", help="write a model's GEMMs as a SCALE-Sim topology or a ZigZag workload")
    x.add_argument("model", help="zoo name, model YAML, timm:NAME or FILE.onnx")
    x.add_argument("--to", choices=("scalesim", "zigzag"), required=True,
                   help="scalesim (topology CSV) or zigzag (workload YAML)")
    x.add_argument("-o", "--output", help="output file (default: stdout)")
    x.add_argument("--batch", type=int, help="batch size (default 1)")
    x.add_argument("--image-size", type=int, help="input image edge in pixels (default 224)")
    x.set_defaults(func=cmd_export)

    v = sub.add_parser("validate", help="re-run every fidelity cross-check against its recorded reference data")
    v.add_argument("--full", action="store_true", help="add the long checks (exhaustive RTL, 50M-word GELU sweep)")
    v.add_argument("--format", choices=("table", "json", "markdown"), default="table")
    v.add_argument("-o", "--output", help="write the table here instead of stdout")
    v.add_argument("--only", action="append", metavar="NAME", help="run only this check or name prefix (repeatable)")
    v.add_argument("--list", action="store_true", help="list the checks and their references without running them")
    v.set_defaults(func=cmd_validate)

    for module in ("rtl.cli", "hwsim.sweep.cli"):
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
    except BrokenPipeError:
        # the reader went away (e.g. 'hwsim ... | head'): stop quietly (Python docs, "Note on SIGPIPE")
        import os
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
