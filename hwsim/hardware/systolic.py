"""Systolic-array hardware config (field names are a user-visible contract)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from hwsim.config import field
from hwsim.fpga_array import TARGETS as _CHARACTERISED_TARGETS
from hwsim.nonlinear import GELU_UNITS, SOFTMAX_UNITS

DATAFLOWS = ("ws", "os", "is")
WORD_BITS = (1, 2, 4, 8, 16, 32, 64)   # operand widths: memory words hold whole powers of two bits
# FPGA targets of the characterised array table hwsim/data/array_costs.json (its ``target`` names:
# ice40 = iCE40 HX8K, ecp5 = ECP5, xilinx = Xilinx 7-series, Yosys synth_xilinx); ``none``: no FPGA.
FPGA_TARGETS = ("none",) + _CHARACTERISED_TARGETS
# Nodes the first-order energy/area scaling of hwsim/data/tech.yaml is applied to (its
# ``node_range_nm``; tests/test_hardening_config.py checks the two agree).
TECH_NM_RANGE = (7, 180)


@dataclass(frozen=True, kw_only=True)
class SystolicConfig:
    """An R x C PE array with double-buffered ifmap/filter/ofmap SRAMs, DRAM and a vector unit."""
    kind: ClassVar[str] = "systolic"
    name: str = "systolic"
    # Bounds: every numeric field states a range no real design leaves, checked before any cost is
    # computed, so counts stay inside int64 (GEMM sizes are bounded in hwsim.topology) and no
    # energy or latency becomes infinite.
    rows: int = field(32, positive=True, max=65536, doc="PE rows (R)")
    cols: int = field(32, positive=True, max=65536, doc="PE columns (C)")
    dataflow: str = field("ws", choices=DATAFLOWS, doc="weight / output / input stationary")
    clock_hz: float = field(1e9, positive=True, min=1e3, max=1e12, doc="array clock, Hz (1 kHz..1 THz)")
    ifmap_sram_kib: float = field(64.0, positive=True, max=2 ** 26, max_why="64 GiB")
    filter_sram_kib: float = field(64.0, positive=True, max=2 ** 26, max_why="64 GiB")
    ofmap_sram_kib: float = field(64.0, positive=True, max=2 ** 26, max_why="64 GiB")
    dram_bytes_per_cycle: float = field(16.0, positive=True, min=0.1, max=1e6,
                                        doc="DRAM bandwidth, bytes per array cycle (0.1..1e6)")
    word_bits: int = field(8, choices=WORD_BITS, doc="operand word width, bits")
    acc_bits: int = field(32, positive=True, max=128, doc="partial-sum width, bits (>= word_bits)")
    vector_lanes: int = field(32, positive=True, max=65536, doc="elements per cycle of the nonlinear/vector unit")
    softmax_unit: str = field("shiftmax", choices=SOFTMAX_UNITS,
                              doc="characterised RTL softmax unit the vector unit instantiates (hwsim rtl)")
    gelu_unit: str = field("shiftgelu", choices=GELU_UNITS,
                           doc="characterised RTL GELU unit the vector unit instantiates (hwsim rtl)")
    mapping_objective: str = field("latency", choices=("latency", "energy", "edp"),
                                   doc="what the per-GEMM mapping search minimises (docs/mapping.md)")
    fusion: str = field("none", choices=("none", "attention", "all"),
                        doc="keep an op's output in on-chip SRAM for the next op that reads it (docs/mapping.md)")
    scalesim_compatible: bool = field(False, doc="reproduce SCALE-Sim 3.0 compute cycles and SRAM counts")
    tech_nm: int = field(45, positive=True, min=TECH_NM_RANGE[0], max=TECH_NM_RANGE[1],
                         max_why="the node range of hwsim/data/tech.yaml",
                         doc="technology node for the energy/area tables")
    mac_pj: float | None = field(None, min=0, max=1e6, doc="override: energy per MAC, pJ")
    sram_pj_per_byte: float | None = field(None, min=0, max=1e6, doc="override: SRAM access energy, pJ/byte")
    dram_pj_per_byte: float | None = field(None, min=0, max=1e6, doc="override: DRAM access energy, pJ/byte")
    leakage_pj_per_cycle: float | None = field(None, min=0, max=1e9, doc="override: whole-chip leakage, pJ/cycle")
    fpga_target: str = field("none", choices=FPGA_TARGETS,
                             doc="report the generated array's FPGA resources and Fmax on this part "
                                 "(hwsim/fpga_array.py); seconds use min(clock_hz, Fmax)")
    source: str = ""

    def problems(self) -> list[str]:
        """Cross-field checks (called by ``hwsim.config.build``): each problem names the field."""
        out = []
        if self.acc_bits < self.word_bits:
            out.append(f"field 'acc_bits' = {self.acc_bits}: must be >= word_bits ({self.word_bits}); "
                       "partial sums are at least as wide as the operands")
        if self.fpga_target != "none" and not out:
            from hwsim.errors import HwsimError
            from hwsim.fpga_array import array_fpga_cost
            try:   # the table must hold this (target, dataflow, buffering, word/acc bits)
                array_fpga_cost(self.rows, self.cols, self.dataflow, self.word_bits, self.acc_bits,
                                not self.scalesim_compatible, self.fpga_target)
            except HwsimError as exc:
                out.append(f"field 'fpga_target' = {self.fpga_target!r}: {exc}")
        return out

    def describe(self) -> str:
        """One line for ``hwsim presets``."""
        return (f"{self.rows}x{self.cols} {self.dataflow}, {self.clock_hz / 1e6:g} MHz, "
                f"{self.dram_bytes_per_cycle:g} B/cyc DRAM" +
                (f", FPGA {self.fpga_target}" if self.fpga_target != "none" else ""))

    @property
    def word_bytes(self) -> float:
        return self.word_bits / 8

    @property
    def pes(self) -> int:
        return self.rows * self.cols
