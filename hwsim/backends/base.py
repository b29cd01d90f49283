"""The one interface every backend implements (:class:`Backend`), the per-op cost it returns
(:class:`OpCost`), and :class:`BackendBase`, the defaults most backends share.

Time: the engine counts integer **ticks**; ``Backend.tick_s(hw)`` says how many seconds one tick is
(a clock cycle for clocked kinds such as systolic; a fixed fine tick, e.g. 1 ps, for kinds without a
clock). Reports convert with it and nothing else.

Cost: a generic core every report understands (latency and ideal latency in ticks, busy ticks per
resource, bytes per memory level or link, dynamic energy by component in pJ or ``None`` where the
backend has no energy model, what bounds the op) plus **counters**: backend-specific numbers whose
units the backend declares in ``counter_units`` (e.g. the systolic SRAM/DRAM words per operand, an MPC
backend's rounds and communicated bytes, an optical backend's passes). A counter is a number or a flat
mapping of numbers (e.g. words per operand); reports show it as a top-level key of each op row and,
summed, of the totals.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Mapping, Protocol, Sequence

from hwsim.engine import TaskBlock, single_task_block
from hwsim.errors import HwsimError
from hwsim.workload.ops import Op


@dataclass(frozen=True)
class OpCost:
    """Cost of one op on one hardware config.

    ``ticks``: the op's latency in engine ticks (analytic mode), or 0 from ``lower`` (cycle mode: the
    engine decides). ``ideal_ticks``: its latency if nothing stalls. ``unit``: the resource doing the
    work. ``busy_ticks``: ticks each resource is busy for this op, without stalls. ``bytes_by_level``:
    bytes moved at each memory level or link (``dram``, ``sram``, ``link``, ...). ``energy_pj``:
    dynamic energy by component in pJ, or ``None`` when the backend has no energy model (never 0 for
    "unknown"). ``bound``: what limits the op (its unit, ``memory``, ``network``, ...). ``macs``:
    multiply-accumulates. ``utilization``: MACs / (peak MACs per tick x busy ticks of ``unit``), in
    [0, 1] (0 for ops without MACs unless the backend defines an element utilisation). ``counters``:
    backend counters, units in ``Backend.counter_units``. ``details``: descriptive per-op facts that are
    not summed (e.g. the systolic GEMM's ``mapping``): shown as top-level keys of the op's JSON row only
    (not in totals, groups or CSV).
    """
    ticks: int
    ideal_ticks: int
    unit: str
    macs: int = 0
    busy_ticks: Mapping[str, int] = field(default_factory=dict)
    bytes_by_level: Mapping[str, float] = field(default_factory=dict)
    energy_pj: Mapping[str, float] | None = None
    bound: str = ""
    utilization: float = 0.0
    counters: Mapping[str, Any] = field(default_factory=dict)
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def stalled(self) -> bool:
        """Limited by something other than its unit (analytic mode: in steady state)."""
        return self.bound not in ("", self.unit)


class Backend(Protocol):
    """What a backend provides. ``lower`` (cycle mode) describes an op as engine tasks plus its cost
    (with ``ticks`` = 0: the engine schedules); ``analytic_many`` is the closed form of the same model
    for a sequence of ops (vectorised where it can be). Optional: ``lower_many(ops, hw)`` lowers the whole
    sequence at once (for costs that depend on neighbouring ops, e.g. systolic ``fusion``); ``estimate``
    uses it when present, else ``lower`` op by op."""

    kind: ClassVar[str]                       # the hardware kind (``hwsim.kinds``)
    config: ClassVar[type]                    # its frozen config dataclass
    op_types: ClassVar[tuple[type, ...]]      # op classes it costs (subclasses included)
    has_clock: ClassVar[bool]                 # one tick = one clock cycle: reports show ``cycles``
    has_energy: ClassVar[bool]                # False: energies are reported as null
    memory_levels: ClassVar[tuple[str, ...]]  # keys of ``OpCost.bytes_by_level``
    size_units: ClassVar[tuple[str, ...]]     # keys of ``size()``: ("area_mm2",) or ("lut", "ff", "dsp", "bram")
    counter_units: ClassVar[Mapping[str, str]]  # counter name -> unit
    static_component: ClassVar[str]           # energy component name of the static power

    def tick_s(self, hw) -> float: ...

    def lower(self, op: Op, hw) -> tuple[TaskBlock, OpCost]: ...

    def analytic(self, op: Op, hw) -> OpCost: ...

    def analytic_many(self, ops: Sequence[Op], hw) -> list[OpCost]: ...

    def static_power_w(self, hw) -> float | None: ...

    def size(self, hw) -> dict[str, float]: ...

    def peak_rates(self, hw) -> dict[str, float]: ...

    def point_evaluator(self, workload, base): ...

    def gemm_fields(self, row, hw) -> dict: ...


class BackendBase:
    """Defaults shared by backends: ``analytic`` from ``analytic_many``, a one-task ``lower`` from the
    analytic cost (for backends whose ops do not overlap internally), no vectorised sweep evaluator (the
    sweep then evaluates points one by one with ``estimate``), and the generic ``hwsim gemm`` record."""

    has_clock: ClassVar[bool] = True
    has_energy: ClassVar[bool] = True
    memory_levels: ClassVar[tuple[str, ...]] = ("dram",)
    size_units: ClassVar[tuple[str, ...]] = ("area_mm2",)
    counter_units: ClassVar[Mapping[str, str]] = {}
    static_component: ClassVar[str] = "leakage"
    # Cycle mode, data-flow issue (opt-in; hwsim.engine.DataflowGraph): when True, an op's first tasks wait for
    # the ops it reads (``Workload.producers()``) instead of the previous op, so it overlaps earlier ops it does
    # not read; resources serve ops in program order except those in ``dataflow_queued``, which serve tasks in
    # the order they become ready. Off by default: every other backend's schedule is the program-order one.
    dataflow: ClassVar[bool] = False
    dataflow_queued: ClassVar[tuple[str, ...]] = ()

    def supports(self, op: Op) -> bool:
        return isinstance(op, self.op_types)

    def analytic(self, op: Op, hw) -> OpCost:
        return self.analytic_many([op], hw)[0]

    def lower(self, op: Op, hw) -> tuple[TaskBlock, OpCost]:
        cost = self.analytic(op, hw)
        return single_task_block(cost.unit, cost.ticks, label=op.kind), replace(cost, ticks=0)

    def point_evaluator(self, workload, base):
        return None

    def peak_rates(self, hw) -> dict[str, float]:
        """``macs_per_s`` and ``dram_bytes_per_s`` for the roofline plot ({} if not meaningful)."""
        return {}

    def gemm_fields(self, row, hw) -> dict:
        """The ``hwsim gemm`` record of one GEMM's report row beyond name and M, N, K."""
        out = {"latency_s": row.latency_s, "macs": row.macs, "energy_pj": row.energy_pj,
               "utilization": row.utilization, "bound": row.bound}
        if self.has_clock:
            out = {"cycles": row.ticks, **out}
        return {**out, **row.counters}


def check_supported(backend, ops: Sequence[Op]) -> None:
    """Raise one HwsimError naming the backend, the op kinds it cannot cost and the first op names,
    before any work is done (a missing cost model is never a silent zero). An op is supported when
    ``backend.supports(op)`` (BackendBase: an instance of ``op_types``; a backend may refine it by a
    field, e.g. an eltwise ``op`` it has no model for); ``backend.unsupported_reason(op)``, if defined,
    adds why for the first rejected op."""
    supports = getattr(backend, "supports", None) or (lambda op: isinstance(op, backend.op_types))
    bad = [op for op in ops if not supports(op)]
    if bad:
        kinds = sorted({op.kind for op in bad})
        names = ", ".join(op.name for op in bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
        can = sorted({t.kind for t in backend.op_types})
        why = getattr(backend, "unsupported_reason", None)
        detail = f"; {bad[0].name}: {why(bad[0])}" if why and why(bad[0]) else ""
        raise HwsimError(f"the {backend.kind} backend cannot cost op kind(s) {', '.join(kinds)} ({names}); "
                         f"it costs: {', '.join(can)}{detail}")
