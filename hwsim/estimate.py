"""The Python API: estimate a workload on a hardware config of any kind, in cycle or analytic mode."""
from __future__ import annotations

from hwsim.backends.base import OpCost, check_supported
from hwsim.engine import TaskGraph, Timeline
from hwsim.errors import UnknownName
from hwsim.kinds import backend_for
from hwsim.report import KindInfo, OpRow, Report
from hwsim.workload import MatMul, Workload

MODES = ("cycle", "analytic")


def _row(op, cost: OpCost, ticks: int, info: KindInfo, static_pj_per_tick: float | None, bound: str) -> OpRow:
    energy = None
    if cost.energy_pj is not None and static_pj_per_tick is not None:
        energy = dict(cost.energy_pj)
        energy[info.static_component] = ticks * static_pj_per_tick
    return OpRow(name=op.name, kind=op.kind, unit=cost.unit, ticks=ticks, tick_s=info.tick_s, macs=op.macs,
                 energy_by_component_pj=energy, bytes_by_level=dict(cost.bytes_by_level),
                 busy_ticks=dict(cost.busy_ticks), utilization=cost.utilization, bound=bound,
                 counters=dict(cost.counters), ideal_ticks=cost.ideal_ticks, layer=op.layer, block=op.block)


def estimate(workload: Workload, hw, mode: str = "cycle", *, keep_timeline: bool = False) -> Report:
    """Per-op and total latency (s; cycles where the kind has a clock) and energy (pJ, or None where the
    backend has no energy model) of ``workload`` on ``hw``.

    The whole workload is checked first: an op the backend cannot cost raises HwsimError naming the
    backend, the op kinds and the first op names. cycle mode: every op is lowered to tasks and the
    engine schedules them; an op's ticks are its contribution to the makespan (completion of this op
    minus completion of the previous one), and an op that took longer than its ideal latency is
    bound by ``memory`` (it waited for another resource). analytic mode: the backend's closed form per
    op; ops run back to back. Static power (W) is charged over each op's latency.
    """
    if mode not in MODES:
        raise UnknownName("mode", mode, MODES)
    backend = backend_for(hw)
    check_supported(backend, workload.ops)
    info = KindInfo.from_backend(backend, hw)
    static = None if info.static_power_w is None else info.static_power_w * info.tick_s * 1e12
    rows: list[OpRow] = []
    timeline: Timeline | None = None
    if mode == "analytic":
        costs = backend.analytic_many(workload.ops, hw)
        rows = [_row(op, c, c.ticks, info, static, c.bound) for op, c in zip(workload.ops, costs)]
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
            ticks = end - prev_end
            bound = "memory" if ticks > cost.ideal_ticks else cost.unit
            rows.append(_row(op, cost, ticks, info, static, bound))
            prev_end = end
    return Report(model=workload.model, hardware=hw, mode=mode, ops=tuple(rows), info=info,
                  batch=workload.batch, timeline=timeline if keep_timeline else None)


def gemm_result(name: str, m: int, n: int, k: int, hw, mode: str) -> dict:
    """One GEMM (m x k) @ (k x n) at the config's word width: ``name``, ``M``, ``N``, ``K`` and the
    backend's ``hwsim gemm`` record (``Backend.gemm_fields``; the systolic contract is in the README)."""
    bits = getattr(hw, "word_bits", 8)
    op = MatMul(name=name, m=m, k=k, n=n, bits=bits, out_bits=bits)
    row = estimate(Workload(model=name, ops=(op,)), hw, mode).ops[0]
    return {"name": name, "M": m, "N": n, "K": k, **backend_for(hw).gemm_fields(row, hw)}
