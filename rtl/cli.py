"""``hwsim rtl ...``: generate, verify and synthesise the softmax/GELU units; print their accuracy.

The lead wires :func:`add_rtl_commands` into ``hwsim/cli.py``::

    hwsim rtl generate softmax --algo shiftmax --in-bits 8 --lanes 4 -o build/
    hwsim rtl generate gelu --algo ibert -o DIR          # every parameter has a default
    hwsim rtl verify gelu --algo pwl [--simulator icarus|verilator]
    hwsim rtl synth gelu --algo edgemoe --target ice40 -o DIR
    hwsim rtl accuracy [--format markdown|json]
    hwsim rtl generate array --rows 8 --cols 8 --dataflow ws [--no-double-buffered] -o DIR
    hwsim rtl verify array --rows 4 --cols 4 --dataflow os [--gemms 40]
    hwsim rtl synth array --rows 8 --cols 8 --dataflow is --target ecp5 -o DIR
    hwsim rtl characterise-array [--sizes 2 4 8 16] [--target ice40 ecp5 xilinx]

The systolic array (``rtl.array.SystolicArray``) takes ``--dataflow`` (ws|os|is) instead of
``--algo`` and its own options (``--rows``, ``--cols``, ``--word-bits``, ``--acc-bits``,
``--dim-bits``, ``--double-buffered``/``--no-double-buffered``).
Unit parameters are the constructor keywords of the unit classes (``rtl.gelu.ALGOS``,
``rtl.softmax.ALGOS``): the common ones have options (``--in-bits``, ``--out-bits``, ``--scale``,
``--lanes``, ``--pipeline-regs``, ``--row-len``), any other goes through ``--param KEY=VALUE``.
An option left out keeps the class default. Each command returns an exit code: 0 success,
1 a failed verification, 2 a usage error or missing tool (one line on stderr).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

KINDS = ("gelu", "softmax", "array")
ALGOS = {"gelu": ("shiftgelu", "ibert", "edgemoe", "pwl"),
         "softmax": ("shiftmax", "ibert", "edgemoe", "lut"),
         "array": ("ws", "os", "is")}       # the array's "algorithm" is its dataflow
# The cocotb bench module and test that `verify` runs for each kind: the test reads the unit
# from the bench configuration (sims/runner.py) and runs its full default verification.
VERIFY_BENCH = {"gelu": ("test_gelu", "verify_unit"), "softmax": ("test_softmax", "verify_unit"),
                "array": ("test_array", "verify_gemms")}
_PARAM_OPTIONS = (("in_bits", int), ("out_bits", int), ("scale", float), ("lanes", int),
                  ("pipeline_regs", int), ("row_len", int), ("rows", int), ("cols", int),
                  ("word_bits", int), ("acc_bits", int), ("dim_bits", int),
                  ("double_buffered", bool))


def _parse_value(text: str):
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text


def _unit_params(args) -> dict:
    params = {}
    for name, _ in _PARAM_OPTIONS:
        value = getattr(args, name, None)
        if value is not None:
            params[name] = value
    for item in getattr(args, "param", None) or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            from hwsim.errors import HwsimError
            raise HwsimError(f"--param expects KEY=VALUE, got '{item}'")
        params[key.strip().replace("-", "_")] = _parse_value(value.strip())
    return params


def _add_unit_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("kind", choices=KINDS, help="unit kind")
    p.add_argument("--algo", default=None,
                   help="algorithm: gelu " + "|".join(ALGOS["gelu"]) + "; softmax "
                   + "|".join(ALGOS["softmax"]) + " (array: --dataflow)")
    p.add_argument("--in-bits", dest="in_bits", type=int, help="input element width (bits)")
    p.add_argument("--out-bits", dest="out_bits", type=int, help="output element width (bits)")
    p.add_argument("--scale", type=float, help="input fixed-point scale (real value of 1 LSB)")
    p.add_argument("--lanes", type=int, help="elements per cycle")
    p.add_argument("--pipeline-regs", dest="pipeline_regs", type=int,
                   help="register stages (= latency in cycles for GELU units)")
    p.add_argument("--row-len", dest="row_len", type=int, help="softmax row length (elements)")
    p.add_argument("--param", action="append", metavar="KEY=VALUE",
                   help="any other unit parameter (repeatable)")
    arr = p.add_argument_group("systolic array (kind 'array')")
    arr.add_argument("--dataflow", choices=ALGOS["array"], default=None, help="default ws")
    arr.add_argument("--rows", type=int, help="PE rows R")
    arr.add_argument("--cols", type=int, help="PE columns C")
    arr.add_argument("--word-bits", dest="word_bits", type=int, help="operand width (signed)")
    arr.add_argument("--acc-bits", dest="acc_bits", type=int, help="partial-sum width (signed)")
    arr.add_argument("--dim-bits", dest="dim_bits", type=int, help="width of M, K, N in cmd")
    arr.add_argument("--double-buffered", dest="double_buffered",
                     action=argparse.BooleanOptionalAction, default=None,
                     help="double-buffered stationary registers (default on)")


def _fail(msg: str) -> int:
    print(f"hwsim rtl: {msg}", file=sys.stderr)
    return 2


def _resolve_algo(args) -> str:
    """The algorithm (array: the dataflow) named on the command line, validated."""
    if args.kind == "array":
        if args.algo and args.dataflow and args.algo != args.dataflow:
            from hwsim.errors import HwsimError
            raise HwsimError(f"--algo {args.algo} and --dataflow {args.dataflow} disagree")
        args.algo = args.dataflow or args.algo or "ws"
    elif args.algo is None:
        from hwsim.errors import HwsimError
        raise HwsimError(f"{args.kind} needs --algo ({'|'.join(ALGOS[args.kind])})")
    _check_algo(args.kind, args.algo)
    return args.algo


def _check_algo(kind: str, algo: str) -> None:
    if algo not in ALGOS[kind]:
        from hwsim.errors import UnknownName
        raise UnknownName(f"{kind} algorithm", algo, ALGOS[kind])


def cmd_generate(args) -> int:
    from rtl.build import emit_verilog, make_unit
    _resolve_algo(args)
    unit = make_unit(args.kind, args.algo, _unit_params(args))
    name = f"{args.kind}_{args.algo}"
    vpath = emit_verilog(unit, name, args.output)
    if args.kind == "array":
        print(f"wrote {vpath} and {vpath.with_suffix('.json')} ({unit.rows}x{unit.cols} "
              f"{unit.dataflow}, {unit.rows * unit.cols} MACs/cycle, pipeline overhead "
              f"{unit.latency_cycles} cycles per GEMM)")
        return 0
    print(f"wrote {vpath} and {vpath.with_suffix('.json')} "
          f"(latency {unit.latency_cycles} cycles, {unit.elements_per_cycle} elements/cycle)")
    return 0


def cmd_verify(args) -> int:
    from rtl.build import ToolMissing, make_unit
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sims"))
    from runner import run_bench, simulator_missing, simulator_name

    _resolve_algo(args)
    params = _unit_params(args)
    unit = make_unit(args.kind, args.algo, params)   # validate before starting a simulator
    sim = simulator_name(args.simulator)
    missing = simulator_missing(sim)
    if missing:
        raise ToolMissing(missing)
    module, testcase = VERIFY_BENCH[args.kind]
    bench = {"seed": args.seed}
    if args.kind == "array":
        from test_array import gemm_list
        bench["gemms"] = gemm_list(unit.rows, unit.cols, args.gemms, args.seed)
    result = run_bench(args.kind, args.algo, params, test_module=module, testcase=testcase,
                       sim=sim, bench=bench, run_tag="cli-verify")
    status = "PASS" if result.ok else "FAIL"
    print(f"{status}: {args.kind} {args.algo} on {sim}: {result.tests} bench(es), "
          f"{result.failed} failed, {result.seconds:.1f} s; log {result.log_file}")
    if not result.ok:
        lines = result.failure_lines(limit=5)
        if lines:
            print(lines)
        return 1
    return 0


def cmd_synth(args) -> int:
    from rtl.build import synth
    _resolve_algo(args)
    if args.kind == "array":
        return _synth_array(args)
    cost = synth(args.kind, args.algo, _unit_params(args), target=args.target, outdir=args.output)
    fmax = "n/a" if cost.fmax_mhz is None else f"{cost.fmax_mhz:.1f} MHz"
    print(f"{args.kind} {args.algo} on {args.target}: LUT {cost.lut}, FF {cost.ff}, DSP {cost.dsp}, "
          f"BRAM {cost.bram}, Fmax {fmax}, latency {cost.latency_cycles} cycles, "
          f"{cost.elements_per_cycle} elements/cycle -> {Path(args.output) / 'unit_cost.json'}")
    return 0


def _synth_array(args) -> int:
    """The array through rtl.characterise_array (Fmax on a register harness: the bare array has
    more ports than the iCE40 HX8K has pins)."""
    from rtl.build import make_unit
    from rtl.characterise_array import characterise_point
    unit = make_unit("array", args.algo, _unit_params(args))
    p = unit.params()
    entry = characterise_point(p["rows"], p["cols"], p["dataflow"], p["double_buffered"],
                               args.target, p["word_bits"], p["acc_bits"])
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    (out / "array_cost.json").write_text(json.dumps(entry, indent=1, sort_keys=True) + "\n")
    fmax = "n/a" if entry["fmax_mhz"] is None else f"{entry['fmax_mhz']:.1f} MHz"
    print(f"array {p['rows']}x{p['cols']} {p['dataflow']} on {args.target}: LUT {entry['lut']}, "
          f"FF {entry['ff']}, DSP {entry['dsp']}, BRAM {entry['bram']}, Fmax {fmax} "
          f"[{entry['status']}] {entry['notes']} -> {out / 'array_cost.json'}")
    return 0 if entry["status"] in ("ok", "no-fit") else 1


def cmd_characterise_array(args) -> int:
    from rtl.characterise_array import DEFAULT_OUTPUT, characterise_array, ladder
    points = ladder(args.sizes, args.dataflow, args.target, [b == "db" for b in args.buffering])
    characterise_array(points, args.output or DEFAULT_OUTPUT, args.timeout,
                       word_bits=args.word_bits, acc_bits=args.acc_bits)
    print(f"wrote {args.output or DEFAULT_OUTPUT}", file=sys.stderr)
    return 0


def cmd_accuracy(args) -> int:
    from rtl import accuracy
    table = accuracy.accuracy_table()
    if args.format == "json":
        print(json.dumps(table, indent=2, default=str))
        return 0
    for name in ("format_markdown", "to_markdown", "markdown_table", "format_table"):
        fmt = getattr(accuracy, name, None)
        if callable(fmt):
            print(fmt(table))
            return 0
    return _fail("rtl.accuracy has no Markdown formatter")


def cmd_characterise(args) -> int:
    from rtl.characterise import DEFAULT_OUTPUT, characterise
    out = args.output or DEFAULT_OUTPUT
    table = characterise(args.target, tuple(args.kind or KINDS), out)
    for kind, units in table["units"].items():
        for algo, u in units.items():
            fmax = "n/a" if u["fmax_mhz"] is None else f"{u['fmax_mhz']:.1f} MHz"
            print(f"{kind:8s} {algo:10s} LUT {u['lut']:6d}  FF {u['ff']:5d}  BRAM {u['bram']:4}  Fmax {fmax}")
    print(f"wrote {out}", file=sys.stderr)
    return 0


def _guarded(fn):
    def run(args) -> int:
        from hwsim.errors import HwsimError
        try:
            return fn(args)
        except HwsimError as exc:       # includes ToolMissing and UnknownName
            return _fail(str(exc))
        except (ValueError, RuntimeError, OSError) as exc:
            return _fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    run.__name__ = fn.__name__
    return run


def add_rtl_commands(subparsers) -> argparse.ArgumentParser:
    """Register ``rtl`` and its sub-commands on an argparse ``subparsers`` object.

    Each leaf parser sets ``func``: call ``args.func(args)`` to get the exit code."""
    rtl = subparsers.add_parser("rtl", help="generate, verify and synthesise softmax/GELU units "
                                "and the systolic array")
    sub = rtl.add_subparsers(dest="rtl_command",
                             metavar="{generate,verify,synth,accuracy,characterise,characterise-array}")
    sub.required = True

    gen = sub.add_parser("generate", help="write a unit's Verilog and its parameter JSON")
    _add_unit_args(gen)
    gen.add_argument("-o", "--output", required=True, help="output directory")
    gen.set_defaults(func=_guarded(cmd_generate))

    ver = sub.add_parser("verify", help="run the unit's cocotb bench (bit-exact vs rtl.golden)")
    _add_unit_args(ver)
    ver.add_argument("--simulator", choices=("icarus", "verilator"), default=None,
                     help="HDL simulator (default: $HWSIM_SIM or icarus)")
    ver.add_argument("--seed", type=int, default=1, help="stimulus/backpressure seed")
    ver.add_argument("--gemms", type=int, default=20, help="array: GEMMs to run (corners first)")
    ver.set_defaults(func=_guarded(cmd_verify))

    syn = sub.add_parser("synth", help="Yosys (+ nextpnr for ice40) resource and Fmax report")
    _add_unit_args(syn)
    syn.add_argument("--target", choices=("ice40", "ecp5", "xilinx"), default="ice40")
    syn.add_argument("-o", "--output", required=True, help="output directory (unit_cost.json)")
    syn.set_defaults(func=_guarded(cmd_synth))

    acc = sub.add_parser("accuracy", help="error of every golden model against float64")
    acc.add_argument("--format", choices=("markdown", "json"), default="markdown")
    acc.set_defaults(func=_guarded(cmd_accuracy))

    cha = sub.add_parser("characterise", help="synthesise every unit into the simulator's unit-cost table")
    cha.add_argument("--target", choices=("ice40", "ecp5", "xilinx"), default="ice40")
    cha.add_argument("--kind", choices=("gelu", "softmax"), action="append",
                     help="only this kind (repeatable)")
    cha.add_argument("-o", "--output", default=None,
                     help="output JSON (default: hwsim/data/unit_costs.json, the table hwsim ships)")
    cha.set_defaults(func=_guarded(cmd_characterise))

    car = sub.add_parser("characterise-array",
                         help="synthesise a ladder of array sizes into hwsim/data/array_costs.json")
    car.add_argument("--sizes", type=int, nargs="+", default=[2, 4, 8, 16], help="R = C values")
    car.add_argument("--dataflow", nargs="+", default=["ws", "os", "is"], choices=ALGOS["array"])
    car.add_argument("--target", nargs="+", default=["ice40", "ecp5", "xilinx"],
                     choices=("ice40", "ecp5", "xilinx"))
    car.add_argument("--buffering", nargs="+", default=["db"], choices=("db", "ndb"))
    car.add_argument("--timeout", type=float, default=900, help="seconds per tool run")
    car.add_argument("--word-bits", dest="word_bits", type=int, default=8)
    car.add_argument("--acc-bits", dest="acc_bits", type=int, default=32)
    car.add_argument("-o", "--output", default=None,
                     help="output JSON, merged (default: hwsim/data/array_costs.json)")
    car.set_defaults(func=_guarded(cmd_characterise_array))
    return rtl


def main(argv=None) -> int:
    """Stand-alone entry (``python -m rtl.cli rtl ...``) until ``hwsim`` wires it in."""
    parser = argparse.ArgumentParser(prog="hwsim")
    add_rtl_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
