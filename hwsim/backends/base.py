"""The one interface every backend implements, and the per-op cost it returns."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from hwsim.engine import TaskBlock
from hwsim.workload.ops import Op


@dataclass(frozen=True)
class OpCost:
    """Cost of one op. ``cycles`` is the op's latency in cycles (analytic mode) or 0 before scheduling
    (cycle mode: the engine decides). Energies are dynamic, pJ, by component; counts in words/bytes."""
    cycles: int
    macs: int
    energy_pj: dict[str, float]
    unit: str                                  # resource doing the work: "array", "vector", ...
    compute_cycles: int = 0                    # busy cycles of ``unit`` (no stalls)
    dram_cycles: int = 0                       # busy cycles of the DRAM interface
    sram_reads: dict[str, int] = field(default_factory=dict)    # words per operand
    sram_writes: dict[str, int] = field(default_factory=dict)   # words per operand
    dram_reads: dict[str, int] = field(default_factory=dict)    # words per operand
    dram_writes: dict[str, int] = field(default_factory=dict)   # words per operand
    dram_bytes: int = 0
    utilization: float = 0.0                   # MACs / (PEs x compute cycles)
    ideal_cycles: int = 0                      # latency if nothing stalls (first load + compute + last store)
    stalled: bool = False                      # DRAM-bound (analytic: in steady state)


class Backend(Protocol):
    """``lower`` (cycle mode) describes an op as tasks for the engine plus its cycle-free costs;
    ``analytic`` gives the closed form of the same model."""

    kind: str

    def lower(self, op: Op, hw) -> tuple[TaskBlock, OpCost]: ...

    def analytic(self, op: Op, hw) -> OpCost: ...

    def leakage_pj_per_cycle(self, hw) -> float: ...

    def area_mm2(self, hw) -> float: ...
