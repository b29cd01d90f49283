"""The systolic config's FPGA view: the generated array's resources and Fmax on ``fpga_target``.

With ``fpga_target`` = ``ice40`` | ``ecp5`` | ``xilinx`` (the target names of
``hwsim/data/array_costs.json``) the systolic backend reports what ``rtl/array.py`` costs on that
part and runs its clock at

    clock_hz_used = min(clock_hz, Fmax)              (Fmax: hwsim.fpga_array, ``None`` -> clock_hz)

Cycles never change (the RTL is cycle-exact with the model); only seconds do. The figures are
:func:`hwsim.fpga_array.array_fpga_cost` for the config's ``rows``, ``cols``, ``dataflow``,
``word_bits`` and ``acc_bits``, double-buffered unless ``scalesim_compatible`` (the generator's
single-buffered array runs SCALE-Sim's schedule: ``scalesim_gemm(...).cycles + 1`` per GEMM,
sims/test_array.py; the double-buffered one runs hwsim's default). The rule between and beyond the
characterised sizes is that module's: linear in the PE count between ladder entries, the nearest
segment extended outside it (flagged ``extrapolated``); Fmax is the smallest placed array with at
least as many PEs, ``None`` when nothing that large was placed (ecp5 and xilinx are not placed;
ice40 arrays above 4x4 do not fit the HX8K), and then ``clock_hz`` is used unchanged.
"""
from __future__ import annotations

import math
from functools import lru_cache

from hwsim.hardware.systolic import SystolicConfig

# Sweep result columns of a config with an FPGA target (``hwsim.sweep.spec.result_columns``).
FPGA_COLUMNS = ("lut", "ff", "dsp", "bram", "fmax_hz")
TABLE_FILE = "hwsim/data/array_costs.json"


@lru_cache(maxsize=4096)
def _cost(rows, cols, dataflow, word_bits, acc_bits, double_buffered, target):
    from hwsim.fpga_array import array_fpga_cost
    return array_fpga_cost(rows, cols, dataflow, word_bits, acc_bits, double_buffered, target)


def fpga_cost(hw: SystolicConfig):
    """The :class:`hwsim.fpga_array.FpgaArrayCost` of ``hw``'s array, or ``None`` without a target.
    Raises HwsimError when the table has no entry for the combination (the config check says so first)."""
    if hw.fpga_target == "none":
        return None
    return _cost(hw.rows, hw.cols, hw.dataflow, hw.word_bits, hw.acc_bits, not hw.scalesim_compatible,
                 hw.fpga_target)


def fmax_hz(hw: SystolicConfig) -> float | None:
    """Fmax of ``hw``'s array on its target in Hz, ``None`` without a target or a placed figure."""
    c = fpga_cost(hw)
    return None if c is None or c.fmax_mhz is None else c.fmax_mhz * 1e6


def clock_hz_used(hw: SystolicConfig) -> float:
    """The clock that converts cycles to seconds: ``min(clock_hz, Fmax)`` (``clock_hz`` when no Fmax)."""
    f = fmax_hz(hw)
    return hw.clock_hz if f is None else min(hw.clock_hz, f)


def _why_no_fmax(hw: SystolicConfig) -> str:
    from hwsim.fpga_array import table
    placed = [e for e in table()["entries"] if e["target"] == hw.fpga_target and e.get("fmax_mhz") is not None]
    if not placed:
        return f"{hw.fpga_target} arrays were synthesised but not placed and routed: no Fmax"
    big = max(placed, key=lambda e: e["rows"] * e["cols"])
    return (f"no {hw.fpga_target} array of {hw.pes} PEs or more was placed (the largest placed is "
            f"{big['rows']}x{big['cols']}; larger ones do not fit the part): no Fmax")


def fpga_section(hw: SystolicConfig) -> dict | None:
    """The report's top-level ``fpga`` object, or ``None`` without a target.

    Keys: ``target``; the array queried (``rows``, ``cols``, ``dataflow``, ``word_bits``,
    ``acc_bits``, ``double_buffered``); ``lut``, ``ff``, ``dsp`` (cells), ``bram`` (blocks; xilinx
    RAMB18 = 0.5); ``fmax_hz`` (or null); ``clock_hz`` (configured) and ``clock_hz_used``;
    ``limited_by`` (``fmax`` or ``clock_hz``); ``exact`` (a characterised entry), ``extrapolated``
    (outside the characterised PE range), ``basis`` (the entries used); ``table``; ``note``."""
    c = fpga_cost(hw)
    if c is None:
        return None
    f = fmax_hz(hw)
    used = clock_hz_used(hw)
    limited = "fmax" if f is not None and f < hw.clock_hz else "clock_hz"
    how = ("exact (characterised)" if c.exact else
           ("extrapolated beyond the characterised sizes" if c.extrapolated else "interpolated") +
           f" from {' and '.join(c.basis)}, linear in PEs")
    if f is None:
        clock = f"{_why_no_fmax(hw)}; clock_hz used"
    elif limited == "fmax":
        clock = f"clock limited by Fmax {f / 1e6:.1f} MHz < clock_hz {hw.clock_hz / 1e6:g} MHz"
    else:
        clock = f"clock_hz {hw.clock_hz / 1e6:g} MHz <= Fmax {f / 1e6:.1f} MHz"
    return {"target": c.target, "rows": c.rows, "cols": c.cols, "dataflow": c.dataflow,
            "word_bits": c.word_bits, "acc_bits": c.acc_bits, "double_buffered": c.double_buffered,
            "lut": c.lut, "ff": c.ff, "dsp": c.dsp, "bram": c.bram, "fmax_hz": f,
            "clock_hz": hw.clock_hz, "clock_hz_used": used, "limited_by": limited,
            "exact": c.exact, "extrapolated": c.extrapolated, "basis": list(c.basis),
            "table": TABLE_FILE, "note": f"resources {how}; {clock}"}


def fpga_columns(hw: SystolicConfig) -> dict[str, float]:
    """The sweep's FPGA columns of one point (:data:`FPGA_COLUMNS`): NaN without a target, and
    ``fmax_hz`` NaN where the target has no Fmax for this array."""
    c = fpga_cost(hw)
    if c is None:
        return dict.fromkeys(FPGA_COLUMNS, math.nan)
    f = fmax_hz(hw)
    return {"lut": float(c.lut), "ff": float(c.ff), "dsp": float(c.dsp), "bram": float(c.bram),
            "fmax_hz": math.nan if f is None else f}


def summary_line(section: dict) -> str:
    """One line for the text table and ``hwsim gemm``."""
    s = section
    fmax = "n/a" if s["fmax_hz"] is None else f"{s['fmax_hz'] / 1e6:.1f} MHz"
    return (f"fpga ({s['target']}, {s['rows']}x{s['cols']} {s['dataflow']}): LUT {s['lut']:,}, FF {s['ff']:,}, "
            f"DSP {s['dsp']:,}, BRAM {s['bram']:g}, Fmax {fmax}, clock used {s['clock_hz_used'] / 1e6:.4g} MHz "
            f"(limited by {s['limited_by']}); {s['note']}")
