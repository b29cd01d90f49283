"""Roofline backend: the optimistic bound of a GPU or CPU, the baseline the papers compare against.

Per op (Williams, Waterman & Patterson, "Roofline", CACM 2009):

    compute_s = FLOPs / (peak x efficiency)        GEMMs (MatMul, Conv2d as im2col): 2 FLOPs per MAC at the
                                                   config's precision peak; other ops: elements x FLOPs per
                                                   element (VECTOR_FLOPS_PER_ELEMENT) at the vector rate
    memory_s  = DRAM bytes / (bandwidth x efficiency)
    latency   = max(compute_s, memory_s)           (compute and memory traffic overlap perfectly)

DRAM bytes, at the config's precision: the op's weights always (batch-1 inference streams them), and its
input and output activations only where a tensor exceeds ``onchip_bytes`` (one that fits stays in the
last-level cache between consecutive ops: perfect reuse, part of the bound). Energy = power x time:
``idle_power_w`` over every op (the ``idle`` component, the static power) plus ``busy_power_w - idle_power_w``
over its latency (``active``). It is a bound: measured throughputs are lower (README, "Baselines").
One tick is 1 ps; the kind has no clock in its reports.
"""
from __future__ import annotations

import math

from hwsim.backends.base import BackendBase, OpCost
from hwsim.hardware.roofline import RooflineConfig
from hwsim.workload.ops import GELU, Conv2d, Eltwise, LayerNorm, MatMul, Op, Softmax

TICK_S = 1e-12
# Arithmetic per element of the non-GEMM ops, counted from their textbook formulas (one FLOP per add, multiply,
# compare, or special-function evaluation):
VECTOR_FLOPS_PER_ELEMENT = {
    Softmax: 5,     # row max (compare), subtract, exp, row sum (add), multiply by the reciprocal
    GELU: 9,        # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))): x^3 (2), x0.044715, +x, xc, tanh, +1, xx, x0.5
    LayerNorm: 7,   # sum, square + sum (2), subtract mean, multiply by 1/std, affine gamma and beta (2)
    Eltwise: 1,     # one add (residual) or multiply
}


def _elements(op: Op) -> tuple[int, int, int]:
    """(input activation, weight, output) element counts of one op (all instances)."""
    if isinstance(op, Conv2d):
        g = op.gemm()
        return op.in_ch * op.in_h * op.in_w * op.count, g.k * g.n * op.groups, op.out_ch * op.out_h * op.out_w * op.count
    if isinstance(op, MatMul):
        act = op.m * op.k * op.count + (0 if op.static_weights else op.k * op.n * op.count)
        return act, op.k * op.n if op.static_weights else 0, op.m * op.n * op.count
    return op.elements, 0, op.elements


def _vector_flops(op: Op) -> int:
    for cls, flops in VECTOR_FLOPS_PER_ELEMENT.items():
        if isinstance(op, cls):
            return flops * op.elements
    raise TypeError(f"no FLOP count for op kind {op.kind}")   # unreachable: check_supported runs first


class RooflineBackend(BackendBase):
    """Counters: ``flops`` (FLOP; int8 GEMMs count OPs) of each op."""
    kind = "roofline"
    config = RooflineConfig
    op_types = (MatMul, Conv2d, Softmax, GELU, LayerNorm, Eltwise)
    has_clock = False
    has_energy = True
    memory_levels = ("dram",)
    size_units = ("area_mm2",)
    counter_units = {"flops": "FLOP"}
    static_component = "idle"

    def tick_s(self, hw: RooflineConfig) -> float:
        return TICK_S

    def _cost(self, op: Op, hw: RooflineConfig) -> OpCost:
        gemm = isinstance(op, (MatMul, Conv2d))
        if gemm:
            flops, rate, unit = 2 * op.macs, hw.gemm_flops() * hw.gemm_efficiency, "tensor"
        else:
            flops, rate, unit = _vector_flops(op), hw.vector_flops * hw.vector_efficiency, "vector"
        act_in, weights, out = _elements(op)
        wb = hw.word_bytes
        resident = lambda n: n * wb <= hw.onchip_bytes
        dram_bytes = wb * (weights + (0 if resident(act_in) else act_in) + (0 if resident(out) else out))
        compute_s = flops / rate
        memory_s = dram_bytes / (hw.dram_bytes_per_s * hw.memory_efficiency)
        latency_s = max(compute_s, memory_s)
        ticks = max(1, math.ceil(latency_s / TICK_S - 1e-9)) if latency_s > 0 else 0
        peak = hw.gemm_flops() if gemm else hw.vector_flops
        return OpCost(ticks=ticks, ideal_ticks=ticks, unit=unit, macs=op.macs,
                      busy_ticks={unit: math.ceil(compute_s / TICK_S - 1e-9), "dram": math.ceil(memory_s / TICK_S - 1e-9)},
                      bytes_by_level={"dram": dram_bytes},
                      energy_pj={"active": (hw.busy_power_w - hw.idle_power_w) * latency_s * 1e12},
                      bound=unit if compute_s >= memory_s else "memory",
                      utilization=flops / (peak * latency_s) if latency_s > 0 else 0.0,
                      counters={"flops": flops})

    def analytic_many(self, ops, hw: RooflineConfig) -> list[OpCost]:
        return [self._cost(op, hw) for op in ops]

    def static_power_w(self, hw: RooflineConfig) -> float:
        return hw.idle_power_w

    def size(self, hw: RooflineConfig) -> dict:
        return {"area_mm2": hw.die_area_mm2}

    def peak_rates(self, hw: RooflineConfig) -> dict[str, float]:
        return {"macs_per_s": hw.gemm_flops() / 2, "dram_bytes_per_s": hw.dram_bytes_per_s}
