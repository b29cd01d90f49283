"""The Python API: estimate a workload on a hardware config, in cycle or analytic mode."""
from __future__ import annotations

import dataclasses

from hwsim.backends import backend_for
from hwsim.backends.base import OpCost
from hwsim.engine import TaskGraph, Timeline
from hwsim.errors import UnknownName
from hwsim.report import OpRow, Report
from hwsim.workload import Workload

MODES = ("cycle", "analytic")


def _row(op, cost: OpCost, cycles: int, hw, leak_pj_per_cycle: float) -> OpRow:
    energy = dict(cost.energy_pj)
    energy["leakage"] = cycles * leak_pj_per_cycle
    return OpRow(name=op.name, kind=op.kind, unit=cost.unit, cycles=cycles, latency_s=cycles / hw.clock_hz,
                 macs=op.macs, energy_by_component_pj=energy, dram_bytes=cost.dram_bytes,
                 compute_cycles=cost.compute_cycles, dram_cycles=cost.dram_cycles,
                 utilization=cost.utilization, stalled=cost.stalled, sram_reads=cost.sram_reads,
                 sram_writes=cost.sram_writes, dram_reads=cost.dram_reads, dram_writes=cost.dram_writes)


def estimate(workload: Workload, hw, mode: str = "cycle", *, keep_timeline: bool = False) -> Report:
    """Per-op and total cycles, latency (s) and energy (pJ) of ``workload`` on ``hw``.

    cycle mode: every op is lowered to tasks and the engine schedules them; an op's ``cycles`` is
    its contribution to the makespan (completion of this op minus completion of the previous one).
    analytic mode: the backend's closed form per op; ops run back to back.
    """
    if mode not in MODES:
        raise UnknownName("mode", mode, MODES)
    backend = backend_for(hw)
    leak = backend.leakage_pj_per_cycle(hw)
    rows: list[OpRow] = []
    timeline: Timeline | None = None
    if mode == "analytic":
        many = getattr(backend, "analytic_many", None)
        costs = many(workload.ops, hw) if many else [backend.analytic(op, hw) for op in workload.ops]
        rows = [_row(op, cost, cost.cycles, hw, leak) for op, cost in zip(workload.ops, costs)]
    else:
        graph = TaskGraph()
        costs = []
        for op in workload.ops:
            block, cost = backend.lower(op, hw)
            graph.add_block(block)
            costs.append(cost)
        timeline = graph.schedule()
        prev_end = 0
        for i, (op, cost) in enumerate(zip(workload.ops, costs)):
            end = timeline.op_end(i)
            row = _row(op, cost, end - prev_end, hw, leak)
            rows.append(dataclasses.replace(row, stalled=end - prev_end > cost.ideal_cycles))
            prev_end = end
    return Report(model=workload.model, hardware=hw, mode=mode, ops=tuple(rows),
                  area_mm2=backend.area_mm2(hw), timeline=timeline if keep_timeline else None)

