"""Characterise the systolic array (rtl/array.py) on a ladder of sizes into ``hwsim/data/array_costs.json``.

``hwsim rtl characterise-array`` (or ``python -m rtl.characterise_array``) synthesises each design
point with Yosys ``synth_<target>`` + ``stat -json`` (resources counted as in
:mod:`rtl.build`) and, on ice40, places and routes a *timing harness* around the array with
nextpnr-ice40 (HX8K) for Fmax. Every run has a wall-clock bound; a run that fails, times out or
does not fit is recorded with the reason instead of a number, so the table says what was tried.

Why a harness for Fmax: the array has hundreds of ports (4x4, 8-bit: ~260 pins), more than the
HX8K's 206 I/O, and its result lanes are combinational from the bottom PEs (see rtl/array.py).
:class:`TimingHarness` feeds every input of the array from a serial shift register and folds every
output into one XOR register, so all paths are register to register (as they are when the array
sits between SRAMs) and only 3 pins remain. Its extra cells (one FF per input bit, an XOR tree)
are reported separately (``harness_lut``, ``harness_ff``); the resource columns are the bare
array's.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from amaranth.hdl import Module, Signal, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from rtl.array import SystolicArray
from rtl.build import (NEXTPNR_ICE40_ARGS, TARGETS, HwsimError, _parse_stat, _require,
                       parse_nextpnr_fmax, resources_from_cells, tool_versions)

DEFAULT_OUTPUT = Path(__file__).resolve().parents[1] / "hwsim" / "data" / "array_costs.json"
# iCE40 HX8K: 7680 logic cells (Lattice iCE40 LP/HX family data sheet, FPGA-DS-02029, Table 1.1)
ICE40_HX8K_LCS = 7680
DEFAULT_SIZES = (2, 4, 8, 16)
DEFAULT_TIMEOUT_S = 900


class TimingHarness(wiring.Component):
    """``array`` with its ports behind registers: a serial shift register drives every input bit,
    every output bit is XOR-folded into one register. Ports: ``sin`` (in), ``sout`` (out)."""

    def __init__(self, array: SystolicArray):
        self.array = array
        super().__init__({"sin": In(1), "sout": Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.array = arr = self.array
        ins, outs = [], []
        for _path, member, value in arr.signature.flatten(arr):
            (ins if member.flow == In else outs).append(Value.cast(value))
        width = sum(len(v) for v in ins)
        sh = Signal(width)
        m.d.sync += sh.eq((sh << 1) | self.sin)
        pos = 0
        for v in ins:
            m.d.comb += v.eq(sh[pos:pos + len(v)])
            pos += len(v)
        fold = Signal()
        bits = Value.cast(0)
        for v in outs:
            bits = bits ^ v.xor()
        m.d.sync += fold.eq(bits)
        m.d.comb += self.sout.eq(fold)
        return m


def _yosys(vfile: Path, top: str, target: str, tag: str, workdir: Path, timeout_s: float):
    import subprocess
    yosys = _require("yosys", "yosys")
    netlist = f"{tag}_{target}.json"
    stat = f"{tag}_{target}_stat.json"
    script = (f"read_verilog {vfile.name}; synth_{target} -top {top}; write_json {netlist}; "
              f"tee -q -o {stat} stat -json")
    t0 = time.perf_counter()
    out = subprocess.run([yosys, "-q", "-p", script], cwd=workdir, capture_output=True,
                         text=True, timeout=timeout_s)
    if out.returncode != 0:
        tail = (out.stdout + out.stderr).strip().splitlines()[-2:]
        raise HwsimError(f"yosys synth_{target} failed (exit {out.returncode}): {' | '.join(tail)}")
    return _parse_stat(workdir / stat, top), workdir / netlist, time.perf_counter() - t0


def _nextpnr(netlist: Path, workdir: Path, timeout_s: float) -> tuple[float | None, str]:
    import subprocess
    nextpnr = _require("nextpnr-ice40", "nextpnr-ice40")
    report = workdir / "harness_nextpnr.json"
    out = subprocess.run([nextpnr, *NEXTPNR_ICE40_ARGS, "--json", netlist.name, "--report",
                          report.name, "--asc", "harness.asc"], cwd=workdir,
                         capture_output=True, text=True, timeout=timeout_s)
    text = out.stdout + out.stderr
    if out.returncode != 0:
        tail = [ln for ln in text.splitlines() if "ERROR" in ln][:1] or text.splitlines()[-1:]
        return None, f"nextpnr-ice40 failed: {' | '.join(tail)}"
    rep = json.loads(report.read_text()) if report.exists() else None
    return parse_nextpnr_fmax(text, rep), ""


def characterise_point(rows: int, cols: int, dataflow: str, double_buffered: bool, target: str,
                       word_bits: int = 8, acc_bits: int = 32,
                       timeout_s: float = DEFAULT_TIMEOUT_S) -> dict:
    """One table entry: resources of the bare array, Fmax of the harness (ice40, if it fits),
    run times, and ``status`` (``ok``, ``timeout``, ``failed``, ``no-fit``) with ``notes``."""
    from amaranth.back import verilog
    params = dict(rows=rows, cols=cols, dataflow=dataflow, word_bits=word_bits,
                  acc_bits=acc_bits, double_buffered=double_buffered)
    entry = {**params, "target": target, "lut": None, "ff": None, "dsp": None, "bram": None,
             "fmax_mhz": None, "status": "ok", "notes": "", "seconds": {}}
    with tempfile.TemporaryDirectory(prefix=f"hwsim-array-{rows}x{cols}-") as tmp:
        work = Path(tmp)
        arr = SystolicArray(**params)
        (work / "array.v").write_text(verilog.convert(arr, name="array", emit_src=False))
        try:
            cells, _, sec = _yosys(work / "array.v", "array", target, "array", work, timeout_s)
        except Exception as exc:    # subprocess.TimeoutExpired or a tool failure
            entry["status"] = "timeout" if "timed out" in str(exc) else "failed"
            entry["notes"] = f"yosys synth_{target}: {str(exc).splitlines()[0]}"
            return entry
        entry["seconds"]["yosys"] = round(sec, 1)
        entry.update(resources_from_cells(target, cells))
        entry["cells"] = {k: int(v) for k, v in cells.items()}
        if target != "ice40":
            return entry
        if entry["lut"] + 0 > ICE40_HX8K_LCS:
            entry["status"] = "no-fit"
            entry["notes"] = (f"{entry['lut']} LUT4 > {ICE40_HX8K_LCS} logic cells of the "
                              "iCE40 HX8K: no place and route, no Fmax")
            return entry
        harness = TimingHarness(SystolicArray(**params))
        (work / "harness.v").write_text(verilog.convert(harness, name="harness", emit_src=False))
        try:
            hcells, hnet, sec = _yosys(work / "harness.v", "harness", target, "harness", work,
                                       timeout_s)
            entry["seconds"]["yosys_harness"] = round(sec, 1)
            hres = resources_from_cells(target, hcells)
            entry["harness_lut"] = hres["lut"] - entry["lut"]
            entry["harness_ff"] = hres["ff"] - entry["ff"]
            if hres["lut"] > ICE40_HX8K_LCS:
                entry["status"] = "no-fit"
                entry["notes"] = f"harness {hres['lut']} LUT4 > {ICE40_HX8K_LCS}: no Fmax"
                return entry
            t0 = time.perf_counter()
            fmax, why = _nextpnr(hnet, work, timeout_s)
            entry["seconds"]["nextpnr"] = round(time.perf_counter() - t0, 1)
        except Exception as exc:
            entry["status"] = "timeout" if "timed out" in str(exc) else "failed"
            entry["notes"] = f"harness: {str(exc).splitlines()[0]}"
            return entry
        entry["fmax_mhz"] = None if fmax is None else round(fmax, 2)
        if why:
            entry["status"], entry["notes"] = "failed", why
    return entry


def _key(e: dict) -> str:
    return (f"{e['target']}:{e['dataflow']}:{'db' if e['double_buffered'] else 'ndb'}:"
            f"{e['rows']}x{e['cols']}:w{e['word_bits']}a{e['acc_bits']}")


def characterise_array(points, output=DEFAULT_OUTPUT, timeout_s: float = DEFAULT_TIMEOUT_S,
                       log=sys.stderr, word_bits: int = 8, acc_bits: int = 32) -> dict:
    """Run every point ``(rows, cols, dataflow, double_buffered, target)`` and merge the
    entries into ``output`` (JSON; entries of other points already there are kept)."""
    path = Path(output)
    table = json.loads(path.read_text()) if path.exists() else {}
    entries = {_key(e): e for e in table.get("entries", [])}
    tools = table.get("tools", {})
    for rows, cols, dataflow, db, target in points:
        t0 = time.perf_counter()
        e = characterise_point(rows, cols, dataflow, db, target, word_bits, acc_bits,
                               timeout_s=timeout_s)
        entries[_key(e)] = e
        tools[target] = tool_versions(target)
        print(f"{_key(e)}: LUT {e['lut']} FF {e['ff']} DSP {e['dsp']} BRAM {e['bram']} "
              f"Fmax {e['fmax_mhz']} [{e['status']}] {e['notes']} "
              f"({time.perf_counter() - t0:.0f} s)", file=log, flush=True)
        table = {
            "source": "generated by `hwsim rtl characterise-array` (rtl/characterise_array.py): "
                      "rtl.array.SystolicArray emitted by Amaranth, Yosys synth_<target> + stat "
                      "-json (resource counting of rtl/build.py); ice40 Fmax: nextpnr-ice40 --hx8k "
                      "--package ct256 on rtl.characterise_array.TimingHarness",
            "tools": tools,
            "entries": [entries[k] for k in sorted(entries)],
        }
        path.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
    return table


def markdown_table(table: dict) -> str:
    """The table as Markdown: one row per (dataflow, buffering, size), one column group per target
    (LUT / FF / DSP, and per PE), ice40 Fmax; failed or unfit runs show their status."""
    rows = {}
    for e in table["entries"]:
        key = (e["dataflow"], e["double_buffered"], e["rows"], e["cols"], e["word_bits"],
               e["acc_bits"])
        rows.setdefault(key, {})[e["target"]] = e

    def cell(e):
        if e is None:
            return "--"
        if e.get("lut") is None:
            return e["status"]
        pes = e["rows"] * e["cols"]
        return (f"{e['lut']} / {e['ff']} / {e['dsp']} ({e['lut'] / pes:.0f} / "
                f"{e['ff'] / pes:.0f} per PE)")

    out = ["| array | dataflow | buffering | bits (word/acc) | ice40 HX8K LUT / FF / DSP (per PE) | ice40 Fmax (MHz) "
           "| ecp5 LUT / FF / DSP (per PE) | xc7 LUT / FF / DSP (per PE) |",
           "|---|---|---|---|---|---|---|---|"]
    order = {"ws": 0, "os": 1, "is": 2}
    for key in sorted(rows, key=lambda k: (order[k[0]], not k[1], k[4], k[2] * k[3])):
        df, db, r, c, wb, ab = key
        t = rows[key]
        ice = t.get("ice40")
        if ice is None:
            fmax = "--"
        elif ice.get("fmax_mhz") is not None:
            fmax = f"{ice['fmax_mhz']:.1f}"
        else:
            fmax = ice["status"] if ice["status"] != "ok" else "n/a"
        out.append(f"| {r}x{c} | {df} | {'double' if db else 'single'} | {wb}/{ab} | {cell(ice)} "
                   f"| {fmax} | "
                   f"{cell(t.get('ecp5'))} | {cell(t.get('xilinx'))} |")
    return "\n".join(out)


def ladder(sizes=DEFAULT_SIZES, dataflows=("ws", "os", "is"), targets=TARGETS,
           double_buffered=(True,)):
    """The default points: square arrays of ``sizes`` for every dataflow, target and buffering."""
    return [(s, s, df, db, t) for s in sizes for t in targets for df in dataflows
            for db in double_buffered]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="hwsim rtl characterise-array", description=__doc__.split("\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES))
    p.add_argument("--dataflow", nargs="+", default=["ws", "os", "is"], choices=("ws", "os", "is"))
    p.add_argument("--target", nargs="+", default=list(TARGETS), choices=TARGETS)
    p.add_argument("--buffering", nargs="+", default=["db"], choices=("db", "ndb"))
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds per tool run")
    p.add_argument("--word-bits", type=int, default=8)
    p.add_argument("--acc-bits", type=int, default=32)
    p.add_argument("-o", "--output", default=str(DEFAULT_OUTPUT))
    p.add_argument("--markdown", action="store_true", help="print the table in OUTPUT and exit")
    args = p.parse_args(argv)
    if args.markdown:
        print(markdown_table(json.loads(Path(args.output).read_text())))
        return 0
    points = ladder(args.sizes, args.dataflow, args.target, [b == "db" for b in args.buffering])
    characterise_array(points, args.output, args.timeout, word_bits=args.word_bits,
                       acc_bits=args.acc_bits)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
