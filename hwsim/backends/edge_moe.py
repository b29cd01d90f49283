"""Edge-MoE backend: a workload on the Edge-MoE FPGA accelerator (``kind: edge_moe``), one tick = one
cycle of the kernel clock.

Every op becomes the HLS calls the top-level schedule issues for it (src/ViT_compute.cpp:138-205, the
order in :func:`hwsim.backends.edge_moe_loops.m3vit_image_cycles`), each costed by the loop-nest
functions of :mod:`hwsim.backends.edge_moe_loops` (ideal at II 1 and modelled with the re-synthesis
II/depth, the 128-bit PS ports and the DDR latency; no formula is repeated here):

====================================  ======================================================================
workload op                           HLS calls (unit)
====================================  ======================================================================
``patch_embed``                       compute_patch_embed (patch_embed)
``layerL.ln1`` / ``ln2``              [ln1: load_norms (weights port)], compute_norm (layernorm)
``layerL.attn.qkv``                   Q, K, V: load_linear_weights + bias (weights port), compute_linear (linear)
``layerL.attn.qk``                    compute_q_matmul_k with the single-pass softmax fused (attention)
``layerL.attn.softmax``               fused into qk (0 cycles); without ``single_pass_softmax`` one extra
                                      pass over the scores at the softmax loop's II (attention)
``layerL.attn.av``                    compute_attn_matmul_v, normalisation fused (attention)
``layerL.attn.proj``, ``mlp.fc1/fc2`` load + compute_linear (GELU fused into fc1, linear.cpp:499)
``layerL.add1`` / ``add2``            compute_add (eltwise)
``layerL.moe.gate``                   load_w_gate (weights port), compute_gating with the gate softmax,
                                      top-k and the per-expert token queues (gate), zero_output (eltwise)
``layerL.moe.expertE.fc1/fc2``        load + compute_linear over the expert's queue (fc2 scales by the gate
                                      score and accumulates: the combine is fused into its writer)
``*.gelu``, ``gate.softmax``,         fused (0 cycles, ``bound`` = ``fused``)
``gate.topk``, ``moe.combine``
====================================  ======================================================================

The one deviation from the code's order: the workload's fused ``qkv`` op runs V's linear before
Q x K^T (the code runs it after, ViT_compute.cpp:161-165). With sequential loads (the default, as the
code issues them) the totals are the same; with ``loads_overlap`` they differ only when V's load is
longer than K's linear (not for M^3ViT).

Only experts that received tokens appear in the workload, so only they are fetched and run
(moe.cpp:115-125). Switches (one per paper idea, see :class:`EdgeMoeConfig`): ``attention_reordering``
off streams K and V once per query (the traffic of attn_parallel = 1) while the datapath keeps its P
queries of compute; ``single_pass_softmax`` off adds the scores pass; ``unified_linear_unit`` off only
multiplies the linear unit's resources (the schedule is sequential either way); ``patch_reordering``
off fetches an expert's weights once per token it serves (token-level routing without queues);
``task_level_sparsity`` off also fetches the experts the task's gate never uses (charged to the gate op).

Cycle mode: each HLS call is an engine task on its unit (``patch_embed``, ``layernorm``, ``linear``,
``attention``, ``gate``, ``eltwise``) or on ``weights`` (the weight loads, one m_axi bundle on HPC0,
vivado.tcl:15-19); calls run in sequence. With ``loads_overlap`` a load may start when the compute
before it starts (a zero-tick marker on ``weights`` before every compute enforces the ping/pong
order), which is exactly the loops module's overlap rule.

Energy: static_power_w over the latency plus, per call, the busy unit's dynamic power, proportional to
its share of the device (mean of LUT, FF, DSP, BRAM fractions) and to the clock, with one coefficient
calibrated so the shipped design draws ``reference_power_w`` = 14.54 W averaged over one M^3ViT image
(CoQMoE Table 3). See :func:`dynamic_coefficient_w`.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Sequence

import numpy as np

from hwsim.backends import edge_moe_loops as L
from hwsim.backends.base import BackendBase, OpCost
from hwsim.engine import NONE, PREV, TaskBlock
from hwsim.errors import HwsimError
from hwsim.hardware.edge_moe import EdgeMoeConfig, design_resources
from hwsim.workload.ops import GELU, Conv2d, Eltwise, Gate, LayerNorm, MatMul, Op, Softmax, TopK

WEIGHTS = "weights"
UNITS = ("patch_embed", "layernorm", "linear", "attention", "gate", "eltwise", WEIGHTS)
# Resource entry of design_resources each engine resource draws its dynamic power from.
POWER_UNIT = {"patch_embed": "patch_embed", "layernorm": "layernorm", "linear": "linear", "attention": "attention",
              "gate": "gate", "eltwise": "shell", WEIGHTS: "shell"}


@dataclass(frozen=True)
class Step:
    """One HLS call (or a run of identical calls) of an op: its unit, cycles, and what it moves."""
    label: str
    unit: str
    cyc: L.LoopCycles
    load: bool = False
    weight_bytes: int = 0
    act_bytes: int = 0
    kv_bytes: int = 0
    expert_loads: int = 0


def design_of(hw: EdgeMoeConfig, **changes) -> L.EdgeMoeDesign:
    """The loops module's design parameters for ``hw`` (``changes`` override, e.g. attn_parallel=1)."""
    kw = dict(clock_hz=hw.clock_hz, linear_in=hw.linear_in, linear_out=hw.linear_out, attn_parallel=hw.attn_parallel,
              axi_bits=hw.axi_bits, port_bits=hw.port_bits, fm_bits=hw.fm_bits, weight_bits=hw.weight_bits,
              bias_bits=hw.bias_bits, pixel_bits=hw.pixel_bits, axi_latency=hw.axi_latency,
              loads_overlap_previous_op=hw.loads_overlap)
    kw.update(changes)
    return L.EdgeMoeDesign(**kw)


def _shape(tokens: int, dim: int, heads: int = 1, experts: int = 16, top_k: int = 1) -> L.M3ViTShape:
    """A loops-module shape with ``tokens`` tokens (a 1 x (tokens - 1) grid of 1-pixel patches plus the
    class token: only the token count, width, heads and experts enter the per-op loop nests)."""
    if tokens < 2:
        raise HwsimError(f"edge_moe: {tokens} token(s): the kernel needs the class token and at least one patch")
    return L.M3ViTShape(width=tokens - 1, height=1, patch=1, dim=dim, heads=heads, experts=experts,
                        top_k=min(top_k, experts), mlp_hidden=max(dim, 1), expert_hidden=max(dim, 1))


def _buffer_shape(hw: EdgeMoeConfig) -> L.M3ViTShape:
    """The weight-buffer limits (MAX_LINEAR_IN_DIM, MAX_LINEAR_DIM_PRODUCT, linear.hpp:7-9) as the loops
    module reads them from a shape: mlp_hidden = max in, dim = product / max in."""
    return L.M3ViTShape(mlp_hidden=hw.weight_buffer_max_in, dim=hw.weight_buffer_words // hw.weight_buffer_max_in,
                        heads=1)


def _linear_load(hw, design, out_dim: int, in_dim: int, label: str, expert_loads: int = 0) -> Step:
    w = L.load_linear_weights_cycles(out_dim, in_dim, design, _buffer_shape(hw))
    b = L.load_linear_bias_cycles(out_dim, design)
    return Step(label, WEIGHTS, L.LoopCycles(w.ideal + b.ideal, w.modelled + b.modelled, f"{w.source} + {b.source}"),
                load=True, weight_bytes=(out_dim * in_dim * hw.weight_bits + out_dim * hw.bias_bits) // 8,
                expert_loads=expert_loads)


def _linear(hw, design, tokens, out_dim, in_dim, label, **kw) -> Step:
    return Step(label, "linear", L.linear_cycles(tokens, out_dim, in_dim, design, **kw),
                act_bytes=tokens * (in_dim + out_dim) * hw.fm_bits // 8)


def _times(step: Step, n: int) -> Step:
    """``n`` identical calls in a row."""
    c = step.cyc
    return replace(step, cyc=L.LoopCycles(n * c.ideal, n * c.modelled, f"{n} x {c.source}"),
                   weight_bytes=n * step.weight_bytes, act_bytes=n * step.act_bytes, expert_loads=n * step.expert_loads)


def _expert_steps(op: MatMul, hw, design, fc2: bool) -> list[Step]:
    """An expert's fc1 or fc2 over its token queue (linear.cpp:273/339); with ``patch_reordering`` off,
    one weight fetch and a one-token linear per token."""
    tokens = op.m
    hidden = op.k if fc2 else op.n
    if hidden != hw.expert_hidden:
        raise HwsimError(f"edge_moe: {op.name} has hidden width {hidden}, the design is compiled for "
                         f"expert_hidden = {hw.expert_hidden} (EXPERT_HIDDEN_DIM, model.hpp:10): set it")
    if tokens > hw.queue_tokens:
        raise HwsimError(f"edge_moe: {op.name} receives {tokens} tokens, more than an expert queue holds "
                         f"(queue_tokens = {hw.queue_tokens}, moe.cpp:13)")
    loads = 0 if fc2 else 1
    if not hw.patch_reordering:
        load = _linear_load(hw, design, op.n, op.k, "load", expert_loads=loads)
        lin = _linear(hw, design, 1, op.n, op.k, "linear", indirect=True, score=fc2)
        return [_times(load, tokens), _times(lin, tokens)]
    return [_linear_load(hw, design, op.n, op.k, "load", expert_loads=loads),
            _linear(hw, design, tokens, op.n, op.k, "linear", indirect=tokens != hw.queue_tokens, score=fc2)]


def _role(op: Op) -> str:
    return op.name.rsplit(".", 1)[-1]


def plan(op: Op, hw: EdgeMoeConfig) -> tuple[list[Step], str]:
    """The HLS calls of ``op`` in issue order, and the unit a fused op is folded into ('' if not fused).
    Raises HwsimError for ops the kernel does not have."""
    design = design_of(hw)
    fb, wbits = hw.feature_block, hw.weight_bits
    if op.count != 1 and not (isinstance(op, (MatMul, Softmax)) and not getattr(op, "static_weights", False)):
        raise HwsimError(f"edge_moe: {op.name} has count {op.count}: the kernel runs one image per call "
                         "(batch 1, src/ViT_compute.cpp:138)")
    if isinstance(op, Conv2d):
        m = L.M3ViTShape(channels=op.in_ch, width=op.in_w, height=op.in_h, patch=op.kernel, dim=op.out_ch, heads=1)
        if op.stride != op.kernel or op.groups != 1 or op.padding:
            raise HwsimError(f"edge_moe: {op.name}: only the non-overlapping patch embedding exists in the kernel")
        tokens = m.tokens
        return [Step("patch_embed", "patch_embed", L.patch_embed_cycles(m, design),
                     act_bytes=op.in_ch * op.in_h * op.in_w * hw.pixel_bits // 8 + tokens * op.out_ch * hw.fm_bits // 8)], ""
    if isinstance(op, LayerNorm):
        m = _shape(op.rows, op.width)
        steps = []
        if op.block == "attn":      # load_norms fetches both LayerNorms' parameters before norm1 (ViT_compute.cpp:150)
            steps.append(Step("norms.load", WEIGHTS, L.load_norms_cycles(m, design), load=True,
                              weight_bytes=4 * op.width * wbits // 8))
        steps.append(Step("norm", "layernorm", L.layernorm_cycles(m, design),
                          act_bytes=2 * op.rows * op.width * hw.fm_bits // 8))
        return steps, ""
    if isinstance(op, Gate):
        m = _shape(op.m, op.k, experts=op.n, top_k=op.top_k)
        steps = [Step("gate.load", WEIGHTS, L.load_w_gate_cycles(m, design), load=True, weight_bytes=op.n * op.k * wbits // 8),
                 Step("gating", "gate", L.gating_cycles(m, design), act_bytes=op.m * op.k * hw.fm_bits // 8),
                 Step("zero", "eltwise", L.zero_output_cycles(m, design), act_bytes=op.m * op.k * hw.fm_bits // 8)]
        if not hw.task_level_sparsity:
            idle = sum(1 for x in op.loads if x == 0) if op.loads else 0
            hidden = hw.expert_hidden
            if idle:
                steps.append(_times(_linear_load(hw, design, hidden, op.k, "idle_experts.fc1.load", expert_loads=1), idle))
                steps.append(_times(_linear_load(hw, design, op.k, hidden, "idle_experts.fc2.load"), idle))
        return steps, ""
    if isinstance(op, MatMul) and op.static_weights:
        if op.expert is not None:
            return _expert_steps(op, hw, design, fc2=_role(op) == "fc2"), ""
        if _role(op) == "qkv":
            if op.n % 3:
                raise HwsimError(f"edge_moe: {op.name}: n = {op.n} is not 3 x the width")
            d = op.n // 3
            steps = []
            for lin in ("q", "k", "v"):
                steps += [_linear_load(hw, design, d, op.k, f"{lin}.load"), _linear(hw, design, op.m, d, op.k, lin)]
            return steps, ""
        return [_linear_load(hw, design, op.n, op.k, "load"), _linear(hw, design, op.m, op.n, op.k, "linear")], ""
    if isinstance(op, MatMul):      # Q x K^T or A x V, all heads in one call
        role = _role(op)
        heads = op.count
        if role == "qk":
            dim = op.k * heads
            fn = L.qk_softmax_cycles
            tokens = op.m
        elif role == "av":
            dim = op.n * heads
            fn = L.attn_v_cycles
            tokens = op.m
        else:
            raise HwsimError(f"edge_moe: {op.name}: the kernel's attention has only qk and av activation GEMMs")
        m = _shape(tokens, dim, heads)
        cyc = fn(m, design)
        kv_trip, _ = L._attn_trips(m, design)
        if not hw.attention_reordering:     # every query streams every key: the K/V traffic of P = 1
            plain = fn(m, design_of(hw, attn_parallel=1))
            kv_trip, _ = L._attn_trips(m, design_of(hw, attn_parallel=1))
            cyc = L.LoopCycles(cyc.ideal, plain.modelled, plain.source + " (not reordered: P = 1 traffic)")
        kv = kv_trip * hw.axi_bits // 8
        return [Step(role, "attention", cyc, kv_bytes=kv,
                     act_bytes=kv + 2 * tokens * dim * hw.fm_bits // 8)], ""
    if isinstance(op, Softmax):
        if op.block == "moe":
            return [], "gate"           # the gate's online softmax (moe.cpp:205) is inside compute_gating
        if hw.single_pass_softmax:
            return [], "attention"      # online max/sum fused into Q x K^T (attention.cpp:145-213)
        m = _shape(op.rows, op.count * fb, op.count)
        _, score_trip = L._attn_trips(m, design)
        t = design.timing("attn.softmax")
        cyc = L.LoopCycles(score_trip, L.pipelined_cycles(score_trip, t.ii, t.depth) + hw.axi_latency,
                           f"extra pass over the scores at {t.source}")
        return [Step("softmax_pass", "attention", cyc, act_bytes=op.rows * op.length * op.count * hw.fm_bits // 8)], ""
    if isinstance(op, GELU):
        return [], "linear"             # GELU at the linear unit's output (linear.cpp:499)
    if isinstance(op, TopK):
        if op.block != "moe":
            raise HwsimError(f"edge_moe: {op.name}: the kernel has top-k only in the MoE gate")
        return [], "gate"               # top-k inside compute_gating (moe.cpp:136)
    if isinstance(op, Eltwise):
        if op.op == "muladd" and op.block == "moe":
            return [], "linear"         # the combine: the expert fc2 writer scales and accumulates (linear.cpp:339)
        if op.op != "add":
            raise HwsimError(f"edge_moe: {op.name}: element-wise op '{op.op}' is not in the kernel (it has add)")
        if op.n % fb:
            raise HwsimError(f"edge_moe: {op.name}: {op.n} elements are not whole {fb}-wide beats")
        m = _shape(op.n // fb, fb)
        return [Step("add", "eltwise", L.add_cycles(m, design), act_bytes=3 * op.n * hw.fm_bits // 8)], ""
    raise HwsimError(f"edge_moe: {op.name}: op kind {op.kind} is not in the Edge-MoE kernel")


@lru_cache(maxsize=None)
def _unit_weights(hw: EdgeMoeConfig) -> dict[str, float]:
    """Share of the device each power unit holds: mean over LUT, FF, DSP, BRAM of unit / board."""
    res = design_resources(hw)
    caps = {"lut": hw.board_lut, "ff": hw.board_ff, "dsp": hw.board_dsp, "bram": hw.board_bram}
    return {u: sum(res[u][r] / caps[r] for r in caps) / 4 for u in res if u != "total"}


def _row_unit(name: str) -> str:
    """Engine unit of a row of :func:`edge_moe_loops.m3vit_image_cycles` (by its name)."""
    if name.endswith(".load"):
        return WEIGHTS
    last = name.rsplit(".", 1)[-1]
    return {"patch_embed": "patch_embed", "norm1": "layernorm", "norm2": "layernorm", "qk": "attention",
            "av": "attention", "add1": "eltwise", "add2": "eltwise", "zero": "eltwise", "gate": "gate"}.get(last, "linear")


@lru_cache(maxsize=1)
def _reference_activity() -> tuple[int, float]:
    """(cycles, sum over calls of unit share x cycles) of the shipped design (EdgeMoeConfig defaults) on
    one M^3ViT image with uniform routing (edge_moe_loops.m3vit_image_cycles)."""
    hw = EdgeMoeConfig()
    image = L.m3vit_image_cycles(L.M3ViTShape(), design_of(hw))
    w = _unit_weights(hw)
    return image.modelled, sum(w[POWER_UNIT[_row_unit(r.name)]] * r.modelled for r in image.ops)


def dynamic_coefficient_w(hw: EdgeMoeConfig) -> float:
    """Dynamic power, W, of a unit holding the whole device (share 1) busy, calibrated: the shipped
    design's activity on one M^3ViT image (:func:`_reference_activity`) at ``hw.static_power_w`` +
    coefficient x sum(share x busy fraction) = ``hw.reference_power_w`` (14.54 W, CoQMoE Table 3).
    Per cycle the dynamic energy does not depend on the clock (P ~ f, t ~ 1/f)."""
    cycles, weighted = _reference_activity()
    return (hw.reference_power_w - hw.static_power_w) * cycles / weighted


class EdgeMoeBackend(BackendBase):
    """Counters: ``ideal_cycles`` (loop bounds at II 1), ``weight_bytes`` (weights and parameters
    fetched from DDR), ``kv_stream_bytes`` (K and V streamed by the attention), ``expert_loads``
    (expert weight fetches), ``fused`` (1 for an op folded into another HLS call)."""
    kind = "edge_moe"
    config = EdgeMoeConfig
    op_types = (Conv2d, MatMul, Softmax, GELU, LayerNorm, Eltwise)
    has_clock = True
    has_energy = True
    memory_levels = ("dram",)
    size_units = ("lut", "ff", "dsp", "bram")
    counter_units = {"ideal_cycles": "cycle", "weight_bytes": "B", "kv_stream_bytes": "B", "expert_loads": "fetch",
                     "fused": "op"}
    static_component = "static"

    def tick_s(self, hw: EdgeMoeConfig) -> float:
        return 1.0 / hw.clock_hz

    def static_power_w(self, hw: EdgeMoeConfig) -> float:
        return hw.static_power_w

    def size(self, hw: EdgeMoeConfig) -> dict[str, float]:
        t = design_resources(hw)["total"]
        return {"lut": int(round(t["lut"])), "ff": int(round(t["ff"])), "dsp": int(t["dsp"]), "bram": int(t["bram"])}

    def peak_rates(self, hw: EdgeMoeConfig) -> dict[str, float]:
        return {"macs_per_s": hw.linear_in * hw.linear_out * hw.clock_hz,
                "dram_bytes_per_s": hw.port_bits / 8 * hw.clock_hz}

    # ---- cost of one op from its steps ------------------------------------------------------------
    def _cost(self, op: Op, hw: EdgeMoeConfig, steps: list[Step], fused_into: str, ticks: int,
              modelled: list[int]) -> OpCost:
        k = dynamic_coefficient_w(hw)
        w = _unit_weights(hw)
        busy: dict[str, int] = {}
        energy = 0.0
        for s in steps:     # a load overlapped with compute still keeps its port busy for all its cycles
            c = s.cyc.modelled
            busy[s.unit] = busy.get(s.unit, 0) + c
            energy += k * w[POWER_UNIT[s.unit]] * c / 300e6 * 1e12     # pJ; per cycle, independent of the clock
        compute = [s for s, c in zip(steps, modelled) if not s.load]
        unit = max(compute, key=lambda s: s.cyc.modelled).unit if compute else (steps[0].unit if steps else fused_into)
        ideal = sum(s.cyc.ideal for s in steps)
        wb = sum(s.weight_bytes for s in steps)
        peak = hw.linear_in * hw.linear_out
        util = op.macs / (peak * ticks) if ticks and unit == "linear" else 0.0
        counters = {"ideal_cycles": ideal, "weight_bytes": wb, "kv_stream_bytes": sum(s.kv_bytes for s in steps),
                    "expert_loads": sum(s.expert_loads for s in steps), "fused": 0 if steps else 1}
        load_ticks = sum(c for s, c in zip(steps, modelled) if s.load)
        bound = "fused" if not steps else ("memory" if load_ticks > ticks - load_ticks else unit)
        # ideal_ticks: the modelled calls without any stall between them (the engine's notion of "ideal");
        # the loop-bound ideal at II 1 is the counter ideal_cycles.
        return OpCost(ticks=ticks, ideal_ticks=sum(s.cyc.modelled for s in steps), unit=unit, macs=op.macs, busy_ticks=busy,
                      bytes_by_level={"dram": wb + sum(s.act_bytes for s in steps)}, energy_pj={"dynamic": energy},
                      bound=bound, utilization=min(1.0, util), counters=counters)

    def analytic_many(self, ops: Sequence[Op], hw: EdgeMoeConfig) -> list[OpCost]:
        """Calls back to back; with ``loads_overlap`` a load costs only what exceeds the compute call
        before it (edge_moe_loops.m3vit_image_cycles' rule)."""
        out = []
        hide = 0         # cycles of the last compute call a following load can still hide behind
        for op in ops:
            steps, fused = plan(op, hw)
            modelled = []
            for s in steps:
                c = s.cyc.modelled
                if s.load and hw.loads_overlap:
                    c, hide = max(0, c - hide), max(0, hide - c)
                elif not s.load:
                    hide = c
                modelled.append(c)
            out.append(self._cost(op, hw, steps, fused, sum(modelled), modelled))
        return out

    def lower(self, op: Op, hw: EdgeMoeConfig) -> tuple[TaskBlock, OpCost]:
        steps, fused = plan(op, hw)
        resources = UNITS
        tasks: list[tuple[str, int, list[int], str]] = []
        if not steps:
            tasks.append((fused, 0, [PREV], "fused"))
        last = PREV          # the previous call of this op (or the previous op)
        pending_load = None
        for s in steps:
            if s.load:
                deps = [] if hw.loads_overlap else [last]
                tasks.append((WEIGHTS, s.cyc.modelled, deps, s.label))
                pending_load = len(tasks) - 1
                if not hw.loads_overlap:
                    last = pending_load
                continue
            deps = [last] + ([pending_load] if pending_load is not None else [])
            if hw.loads_overlap:         # the next load may start when this call starts (ping/pong)
                tasks.append((WEIGHTS, 0, list(deps), "issue"))
            tasks.append((s.unit, s.cyc.modelled, deps, s.label))
            last, pending_load = len(tasks) - 1, None
        if pending_load is not None:     # a trailing load (idle experts): the op ends when it is done
            tasks.append((WEIGHTS, 0, [pending_load, last], "end"))
        labels = tuple(sorted({t[3] for t in tasks}))
        width = max(2, max(len(t[2]) for t in tasks))
        deps = np.full((len(tasks), width), NONE, dtype=np.int64)
        for i, t in enumerate(tasks):
            deps[i, :len(t[2])] = t[2]
        block = TaskBlock(resources, np.array([resources.index(t[0]) for t in tasks], dtype=np.int64),
                          np.array([t[1] for t in tasks], dtype=np.int64), deps,
                          label=np.array([labels.index(t[3]) for t in tasks], dtype=np.int64), labels=labels)
        modelled = [s.cyc.modelled for s in steps]
        return block, replace(self._cost(op, hw, steps, fused, sum(modelled), modelled), ticks=0)


# ------------------------------------------------------------------ cross-checks (hwsim validate)

def loop_nest_rows(expert_tokens=None) -> dict[str, tuple[int, int]]:
    """(ideal, modelled) cycles per workload op name from the HLS loop-nest model of one M^3ViT image
    (``edge_moe_loops.m3vit_image_cycles``), its rows summed onto the op they belong to (weight loads onto their
    layer, the q/k/v projections onto ``attn.qkv``, norms onto ``ln1``/``ln2``, the gate's zeroing onto ``gate``).
    ``expert_tokens``: tokens per expert per MoE layer (None: uniform routing)."""
    import re
    image = L.m3vit_image_cycles(L.M3ViTShape(), L.EdgeMoeDesign(), expert_tokens)
    out: dict[str, list[int]] = {}
    for r in image.ops:
        name = r.name.removesuffix(".load")
        for pattern, repl in ((r"\.norms$", ".ln1"), (r"\.norm1$", ".ln1"), (r"\.norm2$", ".ln2"),
                              (r"\.attn\.[qkv]$", ".attn.qkv"), (r"\.moe\.(gate|zero)$", ".moe.gate")):
            name = re.sub(pattern, repl, name)
        acc = out.setdefault(name, [0, 0])
        acc[0] += r.ideal
        acc[1] += r.modelled
    return {k: (v[0], v[1]) for k, v in out.items()}


#: Edge-MoE's demo video (demo.mp4): 59.0-59.5 ms per image of M^3ViT on the ZCU102 (docs/edge_moe.md).
DEMO_S = 59.0e-3


def m3vit_workload(model: str = "m3vit-cityscapes", task: str = "semseg"):
    """One image of the zoo's M^3ViT ``model`` running ``task``."""
    from hwsim.workload import build_workload, load_model
    spec = load_model(model)
    return build_workload(spec, task=spec.moe.task_index(task))


def register_checks() -> None:
    from hwsim.validation import Tally, check, reference_data

    @check("edge_moe/hls-loop-nests",
           reference="Edge-MoE HLS code (sharc-lab/Edge-MoE loop bounds; achieved II/depth from its HLS log)",
           compares="ideal and modelled cycles of every op of one M^3ViT image; uniform and measured routing")
    def loop_nests():
        from hwsim.estimate import estimate
        routing = reference_data("edge_moe_routing.json")["tasks"]
        t = Tally()
        for model, task, tokens, mode in (("m3vit-cityscapes-uniform", "semseg", None, "analytic"),
                                          ("m3vit-cityscapes", "semseg", routing["task0"]["expert_tokens"], "cycle"),
                                          ("m3vit-cityscapes", "depth", routing["task1"]["expert_tokens"], "analytic")):
            tokens = tuple(tokens) if tokens else None
            report = estimate(m3vit_workload(model, task), EdgeMoeConfig(), mode)
            rows = {r.name: (r.counters["ideal_cycles"], r.ticks) for r in report.ops}
            for name, want in loop_nest_rows(tokens).items():
                t.exact(f"{model}/{task} {mode} {name}", rows.get(name), want, "(ideal, modelled) cycles")
        return t.outcome()

    @check("edge_moe/demo-latency", reference="Edge-MoE demo video: 59.0-59.5 ms per image on the ZCU102",
           compares="one M^3ViT image on zcu102-edge-moe: ideal < modelled <= measured (gap in docs/edge_moe.md)")
    def demo():
        from hwsim.estimate import estimate
        from hwsim.hardware import load_hardware
        t, demo_s = Tally(), DEMO_S
        r = estimate(m3vit_workload("m3vit-cityscapes-uniform"), load_hardware("zcu102-edge-moe"), "cycle")
        ideal_s = r.counters["ideal_cycles"] / r.cycles * r.latency_s
        t.exact("m3vit-cityscapes-uniform", ideal_s < r.latency_s <= demo_s, True,
                f"ideal {ideal_s * 1e3:.2f} ms < modelled {r.latency_s * 1e3:.2f} ms <= demo 59 ms")
        return t.outcome(f"modelled {r.latency_s * 1e3:.2f} ms = {r.latency_s / demo_s:.2f} x the demo's")
