"""Cycle cost of softmax and GELU ops from the characterised RTL units (the co-design loop).

``hwsim/data/unit_costs.json`` is written by ``hwsim rtl characterise`` (rtl/characterise.py): every
unit of ``rtl/softmax.py`` and ``rtl/gelu.py`` synthesised at its default parameters, with its
documented cycle model. A backend's vector unit of ``vector_lanes`` lanes holds
``vector_lanes // lanes`` instances of the chosen unit (at least one), working on different rows
(softmax) or elements (GELU) in parallel. The cycle functions take and return ints (plain Python, so an
analytic estimate never loads numpy).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache

from hwsim.errors import HwsimError
from hwsim.resources import data_file

TABLE_NAME = "unit_costs.json"
SOFTMAX_UNITS = ("shiftmax", "ibert", "edgemoe", "lut")     # rtl.softmax.ALGOS
GELU_UNITS = ("shiftgelu", "ibert", "edgemoe", "pwl")       # rtl.gelu.ALGOS


@dataclass(frozen=True)
class UnitModel:
    """One characterised unit: cycle model and synthesis figures (``target`` FPGA cells)."""
    kind: str
    algo: str
    lanes: int                      # elements accepted per cycle
    latency_cycles: int             # first input to first output
    passes: int                     # softmax: passes over a row (GELU: 1)
    row_overhead_cycles: int        # softmax: fixed cycles per row (divider, pipeline fill)
    lut: int
    ff: int
    dsp: int
    bram: float
    fmax_mhz: float | None


@lru_cache(maxsize=1)
def unit_table() -> dict:
    try:
        return json.loads(data_file(TABLE_NAME).read_text())
    except FileNotFoundError:
        raise HwsimError(f"hwsim/data/{TABLE_NAME} is missing: run 'hwsim rtl characterise'") from None


def unit_model(kind: str, algo: str) -> UnitModel:
    units = unit_table()["units"].get(kind, {})
    if algo not in units:
        raise HwsimError(f"{TABLE_NAME} has no {kind} unit {algo!r} (has: {', '.join(sorted(units))}); "
                         "run 'hwsim rtl characterise'")
    u = units[algo]
    return UnitModel(kind=kind, algo=algo, lanes=int(u["lanes"]), latency_cycles=int(u["latency_cycles"]),
                     passes=int(u.get("passes", 1)), row_overhead_cycles=int(u.get("row_overhead_cycles", 0)),
                     lut=int(u["lut"]), ff=int(u["ff"]), dsp=int(u["dsp"]), bram=float(u["bram"]),
                     fmax_mhz=u["fmax_mhz"])


def instances(unit: UnitModel, vector_lanes: int) -> int:
    """Unit instances that fit in a vector unit of ``vector_lanes`` lanes (at least 1)."""
    return max(1, vector_lanes // unit.lanes)


def softmax_cycles(unit: UnitModel, rows: int, length: int, vector_lanes: int) -> int:
    """Cycles for ``rows`` independent rows of ``length``: rows spread over the instances, each row
    ``passes·ceil(length / lanes) + row_overhead_cycles``."""
    per_row = unit.passes * -(-length // unit.lanes) + unit.row_overhead_cycles
    return -(-rows // instances(unit, vector_lanes)) * per_row


def gelu_cycles(unit: UnitModel, elements: int, vector_lanes: int) -> int:
    """Cycles for ``elements`` through the pipelined units: one beat per cycle plus the latency."""
    per_cycle = instances(unit, vector_lanes) * unit.lanes
    return -(-elements // per_cycle) + unit.latency_cycles
