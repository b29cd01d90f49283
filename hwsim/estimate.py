"""The Python API: estimate a workload on a hardware config of any kind, in cycle or analytic mode."""
from __future__ import annotations

from hwsim import MODES
from hwsim.backends.base import OpCost, check_supported
from hwsim.engine import DataflowGraph, TaskGraph, Timeline
from hwsim.errors import UnknownName
from hwsim.kinds import backend_for
from hwsim.report import KindInfo, OpRow, Report
from hwsim.workload import MatMul, Workload

__all__ = ["MODES", "estimate", "gemm_result", "gemm_results"]


def _bound(cost: OpCost, stalled: bool) -> str:
    """What limits the op: ``memory`` when it waited for data (cycle mode) or the backend says so; otherwise
    the resource busiest for it (``memory`` for the DRAM), so an op whose unit idles behind long transfers
    is never labelled by its unit."""
    if stalled:
        return "memory"
    if cost.bound not in ("", cost.unit):
        return cost.bound
    unit_busy = cost.busy_ticks.get(cost.unit, 0)
    busiest = max(((v, k) for k, v in cost.busy_ticks.items() if k != cost.unit), default=(0, ""))
    if busiest[0] > unit_busy:
        return "memory" if busiest[1] == "dram" else busiest[1]
    return cost.bound or cost.unit


def _row(op, cost: OpCost, ticks: int, info: KindInfo, static_pj_per_tick: float | None, stalled: bool) -> OpRow:
    energy = None
    if cost.energy_pj is not None and static_pj_per_tick is not None:
        energy = dict(cost.energy_pj)
        energy[info.static_component] = ticks * static_pj_per_tick
    seconds = ticks * info.tick_s
    if info.peak_macs_per_s:       # one definition for every kind: MACs / (peak MACs/s x the op's latency)
        utilization = op.macs / (info.peak_macs_per_s * seconds) if seconds > 0 else 0.0
    else:
        utilization = cost.utilization
    return OpRow(name=op.name, kind=op.kind, unit=cost.unit, ticks=ticks, tick_s=info.tick_s, macs=op.macs,
                 energy_by_component_pj=energy, bytes_by_level=dict(cost.bytes_by_level),
                 busy_ticks=dict(cost.busy_ticks), utilization=min(1.0, utilization), bound=_bound(cost, stalled),
                 counters=dict(cost.counters), ideal_ticks=cost.ideal_ticks, layer=op.layer, block=op.block,
                 unit_utilization=cost.utilization, details=dict(cost.details))


def estimate(workload: Workload, hw, mode: str = "cycle", *, keep_timeline: bool = False) -> Report:
    """Per-op and total latency (s; cycles where the kind has a clock) and energy (pJ, or None where the
    backend has no energy model) of ``workload`` on ``hw``.

    The whole workload is checked first: an op the backend cannot cost raises HwsimError naming the
    backend, the op kinds and the first op names. cycle mode: every op is lowered to tasks and the
    engine schedules them; an op's ticks are its contribution to the makespan (completion of this op
    minus completion of the previous one), and an op that took longer than its ideal latency is
    bound by ``memory`` (it waited for another resource). A backend with ``dataflow`` set lets each op wait
    for the ops it reads instead of the previous op (:class:`hwsim.engine.DataflowGraph`); the contribution
    is then the op's completion beyond every earlier op's. analytic mode: the backend's closed form per op;
    ops run back to back. Static power (W) is charged over each op's latency.
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
        rows = [_row(op, c, c.ticks, info, static, False) for op, c in zip(workload.ops, costs)]
    else:
        dataflow = getattr(backend, "dataflow", False)
        graph = DataflowGraph(backend.dataflow_queued) if dataflow else TaskGraph()
        producers = workload.producers() if dataflow else None
        costs = []
        # a backend may lower the sequence at once (``lower_many``: e.g. systolic fusion needs neighbours)
        lowered = backend.lower_many(workload.ops, hw) if hasattr(backend, "lower_many") else \
            (backend.lower(op, hw) for op in workload.ops)
        for i, (block, cost) in enumerate(lowered):
            if dataflow:
                graph.add_block(block, producers[i])
            else:
                graph.add_block(block)
            costs.append(cost)
        timeline = graph.schedule()
        prev_end = 0
        for i, (op, cost) in enumerate(zip(workload.ops, costs)):
            end = timeline.op_end(i)
            ticks = end - prev_end
            rows.append(_row(op, cost, ticks, info, static, ticks > cost.ideal_ticks))
            prev_end = end
    return Report(model=workload.model, hardware=hw, mode=mode, ops=tuple(rows), info=info,
                  batch=workload.batch, timeline=timeline if keep_timeline else None,
                  run_probability=workload.run_probability() if workload.exits else None)


def gemm_results(gemms, hw, mode: str) -> tuple[list[dict], tuple[str, ...]]:
    """``hwsim gemm``: the record of each GEMM ``(name, m, n, k)`` (:func:`gemm_result`) and the table's lines
    of the report's sections (``KindInfo.section_lines``: the same for every GEMM on ``hw``)."""
    records, lines = [], ()
    for name, m, n, k in gemms:
        bits = getattr(hw, "word_bits", 8)
        op = MatMul(name=name, m=m, k=k, n=n, bits=bits, out_bits=bits)
        report = estimate(Workload(model=name, ops=(op,)), hw, mode)
        records.append({"name": name, "M": m, "N": n, "K": k, **backend_for(hw).gemm_fields(report.ops[0], hw),
                        **report.info.sections})
        lines = report.info.section_lines
    return records, lines


def gemm_result(name: str, m: int, n: int, k: int, hw, mode: str) -> dict:
    """One GEMM (m x k) @ (k x n) at the config's word width: ``name``, ``M``, ``N``, ``K``, the backend's
    ``hwsim gemm`` record (``Backend.gemm_fields``; the systolic contract is in the README) and the report's
    sections (``KindInfo.sections``: the systolic ``fpga`` object with an ``fpga_target``)."""
    return gemm_results([(name, m, n, k)], hw, mode)[0][0]
