"""Systolic-array hardware config (field names are a user-visible contract)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from hwsim.config import field
from hwsim.nonlinear import GELU_UNITS, SOFTMAX_UNITS

DATAFLOWS = ("ws", "os", "is")


@dataclass(frozen=True, kw_only=True)
class SystolicConfig:
    """An R x C PE array with double-buffered ifmap/filter/ofmap SRAMs, DRAM and a vector unit."""
    kind: ClassVar[str] = "systolic"
    name: str = "systolic"
    rows: int = field(32, positive=True, doc="PE rows (R)")
    cols: int = field(32, positive=True, doc="PE columns (C)")
    dataflow: str = field("ws", choices=DATAFLOWS, doc="weight / output / input stationary")
    clock_hz: float = field(1e9, positive=True)
    ifmap_sram_kib: float = field(64.0, positive=True)
    filter_sram_kib: float = field(64.0, positive=True)
    ofmap_sram_kib: float = field(64.0, positive=True)
    dram_bytes_per_cycle: float = field(16.0, positive=True, doc="DRAM bandwidth, bytes per array cycle")
    word_bits: int = field(8, positive=True, doc="operand word width, bits")
    acc_bits: int = field(32, positive=True, doc="partial-sum width, bits")
    vector_lanes: int = field(32, positive=True, doc="elements per cycle of the nonlinear/vector unit")
    softmax_unit: str = field("shiftmax", choices=SOFTMAX_UNITS,
                              doc="characterised RTL softmax unit the vector unit instantiates (hwsim rtl)")
    gelu_unit: str = field("shiftgelu", choices=GELU_UNITS,
                           doc="characterised RTL GELU unit the vector unit instantiates (hwsim rtl)")
    scalesim_compatible: bool = field(False, doc="reproduce SCALE-Sim 3.0 compute cycles and SRAM counts")
    tech_nm: int = field(45, positive=True, doc="technology node for the energy/area tables")
    mac_pj: float | None = field(None, min=0, doc="override: energy per MAC, pJ")
    sram_pj_per_byte: float | None = field(None, min=0, doc="override: SRAM access energy, pJ/byte")
    dram_pj_per_byte: float | None = field(None, min=0, doc="override: DRAM access energy, pJ/byte")
    leakage_pj_per_cycle: float | None = field(None, min=0, doc="override: whole-chip leakage, pJ/cycle")
    source: str = ""

    def describe(self) -> str:
        """One line for ``hwsim presets``."""
        return (f"{self.rows}x{self.cols} {self.dataflow}, {self.clock_hz / 1e6:g} MHz, "
                f"{self.dram_bytes_per_cycle:g} B/cyc DRAM")

    @property
    def word_bytes(self) -> float:
        return self.word_bits / 8

    @property
    def pes(self) -> int:
        return self.rows * self.cols
