"""Cycle counts of Edge-MoE's HLS loop nests, one function per loop nest, ideal and modelled.

Ground truth: the HLS source of sharc-lab/Edge-MoE (commit 984b23b, ICCAD 2023, arXiv 2305.18691) and
the Vitis HLS 2022.1 log of a public re-synthesis of the same source, kabazoka/Edge-MoE ``nohup.out``
(commit c78cd89; its ``src/`` and ``include/`` are byte-identical to sharc-lab's). Paths ``src/x.cpp:N``
below are lines of sharc-lab/Edge-MoE; ``nohup:N`` are lines of kabazoka/Edge-MoE ``nohup.out``;
``hwh:N`` are lines of sharc-lab/Edge-MoE ``bitstream/bitstream.hwh`` (the shipped ZCU102 block design).

Two counts per loop nest, both in cycles of the kernel clock:

* ``ideal``: the loop bounds at II = 1 with no pipeline fill, no DDR latency and no port limit; inside
  a ``#pragma HLS dataflow`` region, the trip count of the longest process.
* ``modelled``: what the code and its synthesis imply. A pipelined loop of ``trip`` iterations at
  initiation interval II and depth D takes ``trip * II + D - 1`` cycles (the HLS latency of a pipelined
  loop). II and D come from ``nohup.out``; on top of that:

  - port width: the kernel's m_axi ports are 256 bits wide (hardware.hpp:9, hwh:1314-1358) but the
    Zynq PS slave ports they are wired to are 128 bits (PSU__SAXIGP0..4__DATA_WIDTH = 128, hwh:6892-6904),
    so a loop moving one 256-bit beat per iteration through one port cannot run faster than
    2 cycles per iteration (``EdgeMoeDesign.port_ii``);
  - DDR latency: Vitis HLS schedules m_axi reads with ``-m_axi_latency 64`` (vitis_hls.tcl:17); a burst
    read hoisted in front of its loop (reported depth below 64) pays that latency once per call, a loop
    whose reported depth already exceeds it (read_kv, LayerNorm, indirect expert reads) pays it
    inside its depth;
  - dataflow regions run at the pace of their slowest process and pay every process's fill once.

Shapes are the model's (tokens, widths); every function raises ``HwsimError`` on input the HLS code
would reject at compile time (its ``static_assert``s) or that has no meaning (non-positive sizes).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

from hwsim.errors import HwsimError

__all__ = [
    "LoopTiming", "LOOP_TIMINGS", "EdgeMoeDesign", "M3ViTShape", "LoopCycles", "OpCycles",
    "pipelined_cycles", "load_one_time_weights_cycles", "patch_embed_cycles", "load_norms_cycles", "layernorm_cycles",
    "load_linear_weights_cycles", "load_linear_bias_cycles", "linear_cycles", "qk_softmax_cycles",
    "attn_v_cycles", "add_cycles", "load_w_gate_cycles", "gating_cycles", "zero_output_cycles",
    "uniform_expert_tokens", "m3vit_image_cycles", "ImageCycles",
]


@dataclass(frozen=True, kw_only=True)
class LoopTiming:
    """Achieved initiation interval and pipeline depth of one pipelined HLS loop (or the latency of a
    pipelined function, ``ii`` = 1), with where the figure comes from."""
    ii: int
    depth: int
    source: str


def _t(ii: int, depth: int, source: str) -> LoopTiming:
    return LoopTiming(ii=ii, depth=depth, source=source)


# Achieved II / depth per loop, Vitis HLS 2022.1 re-synthesis of the unmodified Edge-MoE source at
# 3.33 ns (kabazoka/Edge-MoE vitis_hls.tcl:31; part xcu50, vitis_hls.tcl:24 -- not the ZCU102's xczu9eg
# of sharc-lab's vitis_hls.tcl:14, same clock and same m_axi settings).
LOOP_TIMINGS: Mapping[str, LoopTiming] = MappingProxyType({
    "one_time.bias": _t(1, 3, "src/ViT_compute.cpp:15, nohup:1060"),
    "one_time.weights": _t(1, 76, "src/ViT_compute.cpp:33-39, nohup:1074"),
    "patch_embed.compute": _t(3, 33, "src/conv.cpp:48, nohup:1384 (II 3: 'patches' port limit, nohup:1380-1382)"),
    "patch_embed.output": _t(1, 5, "src/conv.cpp:130, nohup:1410"),
    "patch_embed.cls": _t(1, 3, "src/conv.cpp:160, nohup:1460"),
    "load_norms": _t(1, 3, "src/layernorm.cpp:19/33/47/61, nohup:1486/1500/1514/1528"),
    "layernorm.accumulate": _t(1, 80, "src/layernorm.cpp:81, nohup:1554"),
    "layernorm.sqrt": _t(1, 23, "hls::sqrt in src/layernorm.cpp:118, nohup:1568 (sqrt_fixed<32,10>)"),
    "layernorm.output": _t(1, 154, "src/layernorm.cpp:120, nohup:1582"),
    "load_linear_weights": _t(1, 5, "src/linear.cpp:44, nohup:1620"),
    "load_linear_bias": _t(1, 3, "src/linear.cpp:127, nohup:1647 and 2216"),
    "linear.read_direct": _t(1, 3, "src/linear.cpp:173, nohup:1711"),
    "linear.read_indirect": _t(1, 79, "src/linear.cpp:273, nohup:1685"),
    "linear.compute": _t(1, 16, "src/linear.cpp:461, nohup:1764 (GELU inlined, function depth 6, nohup:1749)"),
    "linear.write_direct": _t(1, 5, "src/linear.cpp:218, nohup:1790"),
    "linear.write_indirect": _t(1, 148, "src/linear.cpp:339, nohup:1816"),
    "attn.read_q": _t(1, 3, "src/attention.cpp:14, nohup:1879"),
    "attn.read_kv": _t(1, 73, "src/attention.cpp:29, nohup:1905 (K) and 2056 (V)"),
    "attn.qk": _t(1, 15, "src/attention.cpp:62, nohup:1919"),
    "attn.softmax": _t(3, 78, "src/attention.cpp:145, nohup:1966 (II 3: running-sum recurrence, nohup:1962-1964)"),
    "attn.write_attn": _t(1, 3, "src/attention.cpp:227, nohup:1980"),
    "attn.read_attn": _t(1, 3, "src/attention.cpp:298, nohup:2070"),
    "attn.prepare": _t(1, 3, "src/attention.cpp:329, nohup:2122"),
    "attn.av": _t(1, 29, "src/attention.cpp:404, nohup:2136"),
    "attn.write_av": _t(1, 3, "src/attention.cpp:376, nohup:2150"),
    "add": _t(1, 142, "src/add.cpp:11, nohup:2190"),
    "load_w_gate": _t(1, 75, "src/moe.cpp:30, nohup:2242"),
    "gate.read": _t(1, 3, "src/moe.cpp:60, nohup:2256"),
    "gate.scores": _t(1, 8, "src/moe.cpp:175, nohup:2282"),
    "gate.softmax": _t(3, 24, "src/moe.cpp:205 (pragma II=3 at :207), nohup:2296"),
    "gate.top_k": _t(1, 2, "src/moe.cpp:136, nohup:2310"),
    "gate.exp": _t(1, 19, "hls::exp in src/moe.cpp:239, nohup:1934 (exp<32,10>)"),
    "gate.write": _t(2, 4, "src/moe.cpp:95, nohup:2350 (II 2: queue-length recurrence, nohup:2348)"),
})


@dataclass(frozen=True, kw_only=True)
class EdgeMoeDesign:
    """Design parameters of the Edge-MoE accelerator that the loop counts depend on.

    Defaults are the shipped design; every field names its source. ``timings`` overrides entries of
    ``LOOP_TIMINGS`` by name (e.g. ``{"attn.softmax": LoopTiming(ii=1, depth=78, source="what-if")}``).
    """
    clock_hz: float = 300e6           # vitis_hls.tcl:15 (create_clock 300MHz); PL0 299.970032 MHz, hwh:7673
    linear_in: int = 16               # LINEAR_IN_SIZE = 2 * FEATURE_BLOCK_SIZE, hardware.hpp:13
    linear_out: int = 16              # LINEAR_OUT_SIZE = 2 * FEATURE_BLOCK_SIZE, hardware.hpp:14
    attn_parallel: int = 4            # ATTN_MATMUL_PARALLEL, hardware.hpp:15
    axi_bits: int = 256               # AXI_XFER_BIT_WIDTH, hardware.hpp:9; C_M_AXI_*_DATA_WIDTH 256, hwh:1314-1358
    port_bits: int = 128              # PSU__SAXIGP0..4__DATA_WIDTH = 128, hwh:6892-6904
    fm_bits: int = 32                 # fm_t = ap_fixed<32,10>, datatypes.hpp:8
    weight_bits: int = 16             # wt_linear_t = ap_fixed<16,2>, datatypes.hpp:9
    bias_bits: int = 16               # wt_bias_t / wt_attn_bias_t = ap_fixed<16,5> / <16,7>, datatypes.hpp:10-11
    pixel_bits: int = 8               # pixel_t = ap_ufixed<8,0>, datatypes.hpp:15
    axi_latency: int = 64             # config_interface -m_axi_latency 64, vitis_hls.tcl:17
    loads_overlap_previous_op: bool = False   # ViT_compute.cpp:150-203 issues loads and computes in sequence
    timings: Mapping[str, LoopTiming] = field(default_factory=dict)

    def __post_init__(self):
        problems = []
        for name in ("linear_in", "linear_out", "attn_parallel", "axi_bits", "port_bits", "fm_bits",
                     "weight_bits", "bias_bits", "pixel_bits"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                problems.append(f"{name}={value!r} (allowed: integer >= 1)")
        if not self.clock_hz > 0:
            problems.append(f"clock_hz={self.clock_hz!r} (allowed: > 0)")
        if not isinstance(self.axi_latency, int) or self.axi_latency < 0:
            problems.append(f"axi_latency={self.axi_latency!r} (allowed: integer >= 0)")
        unknown = sorted(set(self.timings) - set(LOOP_TIMINGS))
        if unknown:
            problems.append(f"timings: unknown loop(s) {', '.join(unknown)} "
                            f"(allowed: {', '.join(sorted(LOOP_TIMINGS))})")
        for name, t in self.timings.items():
            if not isinstance(t, LoopTiming) or t.ii < 1 or t.depth < 1:
                problems.append(f"timings[{name}]={t!r} (allowed: LoopTiming with ii >= 1, depth >= 1)")
        if not problems:
            if self.axi_bits % self.fm_bits:
                problems.append(f"axi_bits={self.axi_bits} is not a multiple of fm_bits={self.fm_bits} "
                                "(FEATURE_BLOCK_SIZE, hardware.hpp:10)")
            elif self.linear_in % self.feature_block or self.linear_out % self.feature_block:
                problems.append(f"linear_in={self.linear_in}, linear_out={self.linear_out} must be multiples of "
                                f"FEATURE_BLOCK_SIZE={self.feature_block} (static_asserts, src/linear.cpp:162/207)")
            elif self.linear_in % self.weight_block:
                problems.append(f"linear_in={self.linear_in} must be a multiple of WEIGHT_BLOCK_SIZE="
                                f"{self.weight_block} (static_assert, src/linear.cpp:23)")
            elif self.linear_out % self.bias_block:
                problems.append(f"linear_out={self.linear_out} must be a multiple of BIAS_BLOCK_SIZE="
                                f"{self.bias_block} (static_assert, src/linear.cpp:115)")
        if problems:
            raise HwsimError("EdgeMoeDesign: " + "; ".join(problems))
        object.__setattr__(self, "timings", MappingProxyType(dict(self.timings)))

    # Derived block sizes, each as the code derives it.
    @property
    def feature_block(self) -> int:
        """FEATURE_BLOCK_SIZE = AXI_XFER_BIT_WIDTH / fm_t::width (hardware.hpp:10): 8 activations."""
        return self.axi_bits // self.fm_bits

    @property
    def weight_block(self) -> int:
        """WEIGHT_BLOCK_SIZE = AXI_XFER_BIT_WIDTH / wt_linear_t::width (src/linear.cpp:19): 16 weights."""
        return self.axi_bits // self.weight_bits

    @property
    def bias_block(self) -> int:
        """BIAS_BLOCK_SIZE = AXI_XFER_BIT_WIDTH / T::width (src/linear.cpp:111): 16 biases."""
        return self.axi_bits // self.bias_bits

    @property
    def port_ii(self) -> int:
        """Cycles per 256-bit beat on a ``port_bits`` PS port: ceil(axi_bits / port_bits) = 2."""
        return -(-self.axi_bits // self.port_bits)

    def timing(self, name: str) -> LoopTiming:
        """II/depth of loop ``name``: the override if given, else the re-synthesis figure."""
        return self.timings.get(name, LOOP_TIMINGS[name])


@dataclass(frozen=True, kw_only=True)
class M3ViTShape:
    """M^3ViT as Edge-MoE compiles it (include/model.hpp)."""
    channels: int = 3                 # INPUT_CHANNELS, model.hpp:4
    width: int = 256                  # INPUT_WIDTH, model.hpp:5
    height: int = 128                 # INPUT_HEIGHT, model.hpp:6
    dim: int = 192                    # FEATURE_DIM, model.hpp:8
    mlp_hidden: int = 768             # VIT_HIDDEN_DIM, model.hpp:9
    expert_hidden: int = 384          # EXPERT_HIDDEN_DIM, model.hpp:10
    patch: int = 16                   # PATCH_WIDTH = PATCH_HEIGHT, model.hpp:12-13
    layers: int = 12                  # NUM_LAYERS, model.hpp:16
    heads: int = 3                    # NUM_HEADS, model.hpp:17
    experts: int = 16                 # NUM_EXPERTS, model.hpp:19
    top_k: int = 2                    # NUM_SELECTED_EXPERTS, model.hpp:20

    def __post_init__(self):
        bad = [f"{f}={getattr(self, f)!r}" for f in ("channels", "width", "height", "dim", "mlp_hidden",
                                                       "expert_hidden", "patch", "layers", "heads", "experts",
                                                       "top_k")
               if not isinstance(getattr(self, f), int) or getattr(self, f) < 1]
        if bad:
            raise HwsimError(f"M3ViTShape: {', '.join(bad)} (allowed: integer >= 1)")
        if self.width % self.patch or self.height % self.patch:
            raise HwsimError(f"M3ViTShape: width={self.width}, height={self.height} must be multiples of "
                             f"patch={self.patch}")
        if self.dim % self.heads:
            raise HwsimError(f"M3ViTShape: dim={self.dim} must be a multiple of heads={self.heads}")
        if self.top_k > self.experts:
            raise HwsimError(f"M3ViTShape: top_k={self.top_k} exceeds experts={self.experts}")

    @property
    def tokens(self) -> int:
        """NUM_PATCHES = (W/16)(H/16) + 1 class token (model.hpp:14): 129."""
        return (self.width // self.patch) * (self.height // self.patch) + 1


@dataclass(frozen=True)
class LoopCycles:
    """Cycles of one loop nest (or one dataflow region of loop nests)."""
    ideal: int
    modelled: int
    source: str


def _positive(**values):
    bad = [f"{k}={v!r}" for k, v in values.items() if not isinstance(v, int) or v < 1]
    if bad:
        raise HwsimError(f"{', '.join(bad)} (allowed: integer >= 1)")


def _ceildiv(a: int, b: int) -> int:
    return -(-a // b)


def pipelined_cycles(trip: int, ii: int, depth: int) -> int:
    """HLS latency of a pipelined loop: ``trip * ii + depth - 1`` cycles; 0 when ``trip`` is 0."""
    if trip < 0 or ii < 1 or depth < 1:
        raise HwsimError(f"pipelined_cycles: trip={trip}, ii={ii}, depth={depth} "
                         "(allowed: trip >= 0, ii >= 1, depth >= 1)")
    return trip * ii + depth - 1 if trip else 0


def _loop(hw: EdgeMoeDesign, name: str, trip: int, min_ii: int = 1) -> int:
    t = hw.timing(name)
    return pipelined_cycles(trip, max(t.ii, min_ii), t.depth)


def _hoisted_burst_latency(hw: EdgeMoeDesign, name: str) -> int:
    """DDR read latency a call pays once when its burst request is hoisted in front of the loop,
    i.e. when the loop's reported depth does not already contain ``axi_latency``."""
    return hw.axi_latency if hw.timing(name).depth < hw.axi_latency else 0


# --------------------------------------------------------------------------------------------------
# One function per loop nest
# --------------------------------------------------------------------------------------------------

def load_one_time_weights_cycles(m: M3ViTShape, hw: EdgeMoeDesign) -> LoopCycles:
    """load_one_time_weights (src/ViT_compute.cpp:6-66), run once when ``reload_one_time_weights`` is
    set (:133-136), not per image: the patch-embedding bias, dim/8 = 24 vectors of 8 (:15), and the
    patch-embedding weights, channels x patch rows x dim = 3 x 16 x 192 = 9,216 rows of 16 16-bit
    weights, one 256-bit beat each (:33-39). Ideal 24 + 9,216 = 9,240; modelled: bias 24 + 3 - 1 + one
    DDR latency, weights 2 port cycles a beat + depth 76 (nohup:1074)."""
    dim_iters = _ceildiv(m.dim, hw.feature_block)
    rows = m.channels * m.patch * m.dim
    bias = _loop(hw, "one_time.bias", dim_iters) + _hoisted_burst_latency(hw, "one_time.bias")
    weights = _loop(hw, "one_time.weights", rows, hw.port_ii)
    return LoopCycles(dim_iters + rows, bias + weights, "src/ViT_compute.cpp:15/33")


def patch_embed_cycles(m: M3ViTShape, hw: EdgeMoeDesign) -> LoopCycles:
    """compute_patch_embed (src/conv.cpp:143-166): per row of patches (conv.cpp:150, H/16 = 8 rows) a
    dataflow of the image read, the accumulate loop nest conv.cpp:48-56 (channel x patch row y x
    pairs of patches x blocks of 8 outputs: 3 x 16 x 8 x 24 = 9,216 iterations, each 2 patches x 8
    outputs x 16 pixels = 256 MACs) and the output loop conv.cpp:130 (16 patches x 24 blocks); then the
    class token copy conv.cpp:160 (24 blocks). Rows overlap (dataflow in loop, nohup:775), so the output
    loop is exposed once. Ideal = 8 x 9,216 + 384 + 24 = 74,136; modelled at II 3 (nohup:1384)."""
    fb = hw.feature_block
    image_block = hw.axi_bits // hw.pixel_bits                     # IMAGE_BLOCK_SIZE, conv.cpp:4
    if image_block % m.patch or m.width % image_block:
        raise HwsimError(f"patch_embed: IMAGE_BLOCK_SIZE={image_block} must be a multiple of patch={m.patch} "
                         f"and divide width={m.width} (static_asserts, src/conv.cpp:147-148)")
    rows = m.height // m.patch
    pair_iters = (m.width // m.patch) // (image_block // m.patch)
    dim_iters = _ceildiv(m.dim, fb)
    compute_trip = m.channels * m.patch * pair_iters * dim_iters
    output_trip = (m.width // m.patch) * dim_iters
    ideal = rows * compute_trip + output_trip + dim_iters
    # The image rows stream in at 1 beat per (dim_iters x II) cycles: never port-bound.
    modelled = (rows * _loop(hw, "patch_embed.compute", compute_trip) + hw.axi_latency
                + _loop(hw, "patch_embed.output", output_trip) + _loop(hw, "patch_embed.cls", dim_iters))
    return LoopCycles(ideal, modelled, "src/conv.cpp:48/130/150/160")


def load_norms_cycles(m: M3ViTShape, hw: EdgeMoeDesign) -> LoopCycles:
    """load_norms (src/layernorm.cpp:10-72): four loops (norm1 bias, weight, norm2 bias, weight) of
    dim/8 = 24 iterations, each one 128-bit vector of 8 16-bit parameters (fits the 128-bit port).
    Ideal 4 x 24 = 96; modelled 4 x (24 + 3 - 1 + axi_latency)."""
    trip = _ceildiv(m.dim, hw.feature_block)
    per_loop = _loop(hw, "load_norms", trip) + _hoisted_burst_latency(hw, "load_norms")
    return LoopCycles(4 * trip, 4 * per_loop, "src/layernorm.cpp:19/33/47/61")


def layernorm_cycles(m: M3ViTShape, hw: EdgeMoeDesign) -> LoopCycles:
    """compute_norm (src/layernorm.cpp:138-158): per token (loop :147) a dataflow region (pragma :149)
    of layernorm_accumulate (:81, dim/8 = 24 reads of 256 bits) then layernorm_output (sqrt, then
    :120, 24 writes of 256 bits). The token loop is a dataflow-in-loop (nohup:774): token t+1's
    accumulate overlaps token t's output, so a token costs the slower of the two processes.

    Ideal: tokens x 24 + 24 = 3,120. Modelled: accumulate 24 x 2 (port) + 80 - 1, output
    23 (sqrt) + 24 x 2 + 154 - 1, period = max of the two; the ``1 / sqrt`` divide is not in the log
    and is not counted."""
    trip = _ceildiv(m.dim, hw.feature_block)
    acc = _loop(hw, "layernorm.accumulate", trip, hw.port_ii) + _hoisted_burst_latency(hw, "layernorm.accumulate")
    out = hw.timing("layernorm.sqrt").depth + _loop(hw, "layernorm.output", trip, hw.port_ii)
    ideal = m.tokens * trip + trip
    modelled = m.tokens * max(acc, out) + min(acc, out)
    return LoopCycles(ideal, modelled, "src/layernorm.cpp:81/120/147")


def load_linear_weights_cycles(out_dim: int, in_dim: int, hw: EdgeMoeDesign,
                               shape: M3ViTShape | None = None) -> LoopCycles:
    """load_linear_weights (src/linear.cpp:10-90): one loop (:44) over out_dim x ceil(in_dim / 16)
    blocks of 16 16-bit weights (one 256-bit beat each), re-packed into 16 x 16 tiles of the unit.
    Ideal = out_dim x ceil(in_dim / 16) (192 x 192: 2,304); modelled at the 128-bit port, 2 cycles a
    beat, + depth 5 + one DDR latency (burst hoisted, nohup:980).

    The on-chip buffer holds at most MAX_LINEAR_DIM_PRODUCT = VIT_HIDDEN_DIM x FEATURE_DIM weights with
    at most MAX_LINEAR_IN_DIM = VIT_HIDDEN_DIM inputs (include/linear.hpp:7-9); ``shape`` (default
    M^3ViT) sets those two limits."""
    _positive(out_dim=out_dim, in_dim=in_dim)
    shape = shape or M3ViTShape()
    max_in, max_product = shape.mlp_hidden, shape.mlp_hidden * shape.dim
    if in_dim > max_in or out_dim * in_dim > max_product:
        raise HwsimError(f"load_linear_weights: {out_dim} x {in_dim} exceeds the weight buffer "
                         f"(MAX_LINEAR_IN_DIM {max_in}, MAX_LINEAR_DIM_PRODUCT {max_product}, include/linear.hpp:7-9)")
    trip = out_dim * _ceildiv(in_dim, hw.weight_block)
    modelled = (_loop(hw, "load_linear_weights", trip, hw.port_ii)
                + _hoisted_burst_latency(hw, "load_linear_weights"))
    return LoopCycles(trip, modelled, "src/linear.cpp:44")


def load_linear_bias_cycles(out_dim: int, hw: EdgeMoeDesign) -> LoopCycles:
    """load_linear_bias (src/linear.cpp:102-152): ceil(out_dim / 16) beats of 16 16-bit biases (:127).
    Ideal = ceil(out_dim / 16); modelled 2 cycles a beat + depth 3 + one DDR latency."""
    _positive(out_dim=out_dim)
    trip = _ceildiv(out_dim, hw.bias_block)
    modelled = _loop(hw, "load_linear_bias", trip, hw.port_ii) + _hoisted_burst_latency(hw, "load_linear_bias")
    return LoopCycles(trip, modelled, "src/linear.cpp:127")


def linear_cycles(tokens: int, out_dim: int, in_dim: int, hw: EdgeMoeDesign, *, indirect: bool = False,
                  score: bool = False) -> LoopCycles:
    """compute_linear (src/linear.cpp:504-530), the unified linear unit: a dataflow of the input reader
    (:173 direct, or :273 through an expert's token queue), compute_linear_on_stream (:461:
    tokens x ceil(out/16) x ceil(in/16) iterations, each a 16 x 16 tile = 256 MACs, GELU fused at the
    output, :499) and the writer (:218 direct, or :339 scaling by the gate score and accumulating).

    Ideal = tokens x ceil(out/16) x ceil(in/16) (129 x 12 x 12 = 18,576 for a 192 x 192 layer).
    Modelled: the compute loop at II 1 (nohup:1764) is the slowest process (the reader needs 2 port
    cycles per 256-bit beat, tokens x in/8 beats; the writer tokens x out/8), plus the fill of the
    three processes (reader, compute 16, writer) and the reader's DDR latency.

    ``indirect``: the tokens come through an expert's queue (read_in_stream picks the indirect reader
    unless the queue holds all NUM_PATCHES tokens, :398); ``score``: the output is scaled by the gate
    score and accumulated (an expert's fc2), which always takes the indirect writer (:420)."""
    _positive(tokens=tokens, out_dim=out_dim, in_dim=in_dim)
    fb = hw.feature_block
    compute_trip = tokens * _ceildiv(out_dim, hw.linear_out) * _ceildiv(in_dim, hw.linear_in)
    read_trip = tokens * _ceildiv(in_dim, fb)
    write_trip = tokens * _ceildiv(out_dim, fb)
    reader = "linear.read_indirect" if indirect else "linear.read_direct"
    writer = "linear.write_indirect" if indirect or score else "linear.write_direct"
    steady = max(compute_trip * hw.timing("linear.compute").ii,
                 read_trip * max(hw.timing(reader).ii, hw.port_ii),
                 write_trip * max(hw.timing(writer).ii, hw.port_ii))
    fill = sum(hw.timing(n).depth - 1 for n in (reader, "linear.compute", writer))
    modelled = steady + fill + _hoisted_burst_latency(hw, reader)
    return LoopCycles(compute_trip, modelled, "src/linear.cpp:173|273, 461, 218|339")


def _attn_trips(m: M3ViTShape, hw: EdgeMoeDesign) -> tuple[int, int]:
    """(iterations of the k/v loop nest, iterations of the per-score loops) of the reordered attention:
    blocks of P queries (q_patch loop over N + P - 1, step P), every key, every 8-wide block of the
    embedding; the last block returns early after (N + P - 1) mod P keys when that is non-zero
    (src/attention.cpp:69-70)."""
    p = hw.attn_parallel
    if not 1 <= p < m.tokens:
        raise HwsimError(f"attn_parallel={p} must satisfy 1 <= attn_parallel < tokens={m.tokens} "
                         "(static_assert, src/attention.cpp:60)")
    if (m.dim // m.heads) % hw.feature_block:
        raise HwsimError(f"dim/heads={m.dim // m.heads} must be a multiple of FEATURE_BLOCK_SIZE={hw.feature_block} "
                         "(static_assert, src/attention.cpp:93)")
    limit = m.tokens + p - 1
    blocks = _ceildiv(limit, p)
    overflow = limit % p
    keys = (blocks - 1) * m.tokens + (overflow if overflow else m.tokens)
    dim_iters = m.dim // hw.feature_block
    return keys * dim_iters, keys * p


def qk_softmax_cycles(m: M3ViTShape, hw: EdgeMoeDesign) -> LoopCycles:
    """compute_q_matmul_k (src/attention.cpp:262-284): a dataflow of read_x (Q, :14), read_kv (K
    re-streamed once per block of P queries, :29), the Q x K^T loop nest (:62-66: ceil((N+P-1)/P) x N x
    dim/8 = 33 x 129 x 24 = 102,168 iterations, P x 8 MACs each), the single-pass softmax (:145, one
    running max/sum update per score: 33 x 129 x 4 = 17,028 iterations) and the writers (:227, :255).

    Ideal = max(102,168, 17,028). Modelled: every Q x K^T iteration takes one 256-bit K beat, so the
    128-bit port paces it at 2 cycles; the softmax runs at II 3 (nohup:1966) = 51,084 cycles, hidden
    behind Q x K^T at P = 4 but not beyond P = 8; plus the fill of read_kv (73, includes the DDR
    latency), Q x K^T (15) and softmax (78)."""
    kv_trip, score_trip = _attn_trips(m, hw)
    steady = max(kv_trip * max(hw.timing("attn.qk").ii, hw.port_ii),
                 score_trip * hw.timing("attn.softmax").ii)
    fill = sum(hw.timing(n).depth - 1 for n in ("attn.read_kv", "attn.qk", "attn.softmax", "attn.write_attn"))
    return LoopCycles(max(kv_trip, score_trip), steady + fill, "src/attention.cpp:14/29/62/145/227")


def attn_v_cycles(m: M3ViTShape, hw: EdgeMoeDesign) -> LoopCycles:
    """compute_attn_matmul_v (src/attention.cpp:472-494): a dataflow of read_kv (V, :29), read_attn
    (:298), prepare_attn (:329), the A x V loop nest (:404-408, same bounds as Q x K^T: 102,168
    iterations; the softmax normalisation exp(s - max) / sum is applied when a score enters, :431)
    and the writer (:376). Ideal 102,168; modelled 2 port cycles per V beat + fills (73, 3, 29, 3)."""
    kv_trip, score_trip = _attn_trips(m, hw)
    steady = max(kv_trip * max(hw.timing("attn.av").ii, hw.port_ii),
                 score_trip * hw.timing("attn.prepare").ii)
    fill = sum(hw.timing(n).depth - 1 for n in ("attn.read_kv", "attn.prepare", "attn.av", "attn.write_av"))
    return LoopCycles(max(kv_trip, score_trip), steady + fill, "src/attention.cpp:29/298/329/404/376")


def add_cycles(m: M3ViTShape, hw: EdgeMoeDesign) -> LoopCycles:
    """compute_add (src/add.cpp:4-20): one loop (:11) over tokens x dim/8 = 3,096 beats, reading x and
    y and writing x (x on the same port for read and write, separate AXI channels). Ideal 3,096;
    modelled 2 port cycles a beat + depth 142 (nohup:2190, includes the DDR latency)."""
    trip = m.tokens * _ceildiv(m.dim, hw.feature_block)
    return LoopCycles(trip, _loop(hw, "add", trip, hw.port_ii), "src/add.cpp:11")


def load_w_gate_cycles(m: M3ViTShape, hw: EdgeMoeDesign) -> LoopCycles:
    """load_w_gate (src/moe.cpp:19-54): dim/8 x experts = 24 x 16 = 384 iterations (:30-32), one
    128-bit vector of 8 16-bit gate weights each (fits the 128-bit port). Ideal 384; modelled
    384 + 75 - 1 (nohup:2242, includes the DDR latency)."""
    trip = _ceildiv(m.dim, hw.feature_block) * m.experts
    return LoopCycles(trip, _loop(hw, "load_w_gate", trip), "src/moe.cpp:30")


def gating_cycles(m: M3ViTShape, hw: EdgeMoeDesign) -> LoopCycles:
    """compute_gating (src/moe.cpp:272-289): a dataflow of read_gate_inp (:60), the per-token gate
    (:255, not pipelined: per token, in sequence, the score loop :175 over dim/8 = 24 blocks x 16
    experts, the online softmax :205 over 16 experts at II 3, top-k :136 over 16 experts, and the
    final exp/divide of the k winners, :236) and write_gate_results (:95, II 2), which fills the
    per-expert token queues (patch reordering).

    Ideal = tokens x (24 + 16 + 16) = 129 x 56 = 7,224. Modelled per token: (24 + 8 - 1) + (16 x 3
    + 24 - 1) + (16 + 2 - 1) + 19 (exp depth; the divide's latency is not in the log) = 138, so
    129 x 138 + the reader's DDR latency and the writer's tail."""
    dim_iters = _ceildiv(m.dim, hw.feature_block)
    per_token_ideal = dim_iters + 2 * m.experts
    per_token = (_loop(hw, "gate.scores", dim_iters) + _loop(hw, "gate.softmax", m.experts)
                 + _loop(hw, "gate.top_k", m.experts) + hw.timing("gate.exp").depth)
    read = _loop(hw, "gate.read", m.tokens * dim_iters, hw.port_ii)
    write = _loop(hw, "gate.write", m.tokens)
    steady = max(m.tokens * per_token, read, write)
    modelled = steady + hw.axi_latency + hw.timing("gate.write").depth - 1
    return LoopCycles(m.tokens * per_token_ideal, modelled, "src/moe.cpp:60/95/136/175/205/255")


def zero_output_cycles(m: M3ViTShape, hw: EdgeMoeDesign) -> LoopCycles:
    """zero_output (src/moe.cpp:291-302): writes zeros to the MoE output, tokens x dim/8 = 3,096 beats
    (one burst, nohup:641; the loop is not pipelined by a pragma and has no II line in the log).
    Ideal 3,096; modelled 2 port cycles a beat + one DDR latency."""
    trip = m.tokens * _ceildiv(m.dim, hw.feature_block)
    return LoopCycles(trip, trip * hw.port_ii + hw.axi_latency, "src/moe.cpp:295")


# --------------------------------------------------------------------------------------------------
# One image of M^3ViT, in the order of the top-level schedule (src/ViT_compute.cpp:138-205)
# --------------------------------------------------------------------------------------------------

def uniform_expert_tokens(m: M3ViTShape) -> tuple[int, ...]:
    """tokens x top_k assignments spread as evenly as possible over the experts, lower indices first
    (129 x 2 = 258 over 16: two experts with 17 tokens, fourteen with 16). An assumption: the real
    counts depend on the trained gates and the image."""
    total = m.tokens * m.top_k
    base, extra = divmod(total, m.experts)
    return tuple(base + (1 if e < extra else 0) for e in range(m.experts))


@dataclass(frozen=True)
class OpCycles:
    """One row of the per-image breakdown: op name in the workload's scheme, its counts, and kind
    ('load' for a weight or parameter load from DDR, 'compute' otherwise)."""
    name: str
    ideal: int
    modelled: int
    kind: str
    source: str


@dataclass(frozen=True)
class ImageCycles:
    """Per-op rows of one image and their sums, in kernel cycles; ``*_s`` in seconds at the clock."""
    ops: tuple[OpCycles, ...]
    clock_hz: float

    @property
    def ideal(self) -> int:
        return sum(o.ideal for o in self.ops)

    @property
    def ideal_compute(self) -> int:
        return sum(o.ideal for o in self.ops if o.kind == "compute")

    @property
    def modelled(self) -> int:
        return sum(o.modelled for o in self.ops)

    @property
    def ideal_s(self) -> float:
        return self.ideal / self.clock_hz

    @property
    def modelled_s(self) -> float:
        return self.modelled / self.clock_hz

    def by_prefix(self, prefix: str) -> tuple[int, int]:
        """(ideal, modelled) summed over ops whose name starts with ``prefix``."""
        rows = [o for o in self.ops if o.name.startswith(prefix)]
        return sum(o.ideal for o in rows), sum(o.modelled for o in rows)


def _check_expert_tokens(m: M3ViTShape, expert_tokens) -> dict[int, tuple[int, ...]]:
    moe_layers = [layer for layer in range(m.layers) if layer % 2 == 1]
    if expert_tokens is None:
        return {layer: uniform_expert_tokens(m) for layer in moe_layers}
    if isinstance(expert_tokens, Mapping):
        table = dict(expert_tokens)
    else:
        table = {layer: tuple(expert_tokens) for layer in moe_layers}
    missing = sorted(set(moe_layers) - set(table))
    extra = sorted(set(table) - set(moe_layers))
    if missing or extra:
        raise HwsimError(f"expert_tokens: layers {missing} missing, {extra} are not MoE layers "
                         f"(MoE layers are the odd ones, src/ViT_compute.cpp:178: {moe_layers})")
    for layer, counts in table.items():
        counts = tuple(counts)
        if (len(counts) != m.experts or any(not isinstance(c, int) or c < 0 or c > m.tokens for c in counts)
                or sum(counts) != m.tokens * m.top_k):
            raise HwsimError(f"expert_tokens[layer {layer}]={counts}: need {m.experts} integers in "
                             f"[0, {m.tokens}] summing to tokens x top_k = {m.tokens * m.top_k}")
        table[layer] = counts
    return table


def m3vit_image_cycles(m: M3ViTShape | None = None, hw: EdgeMoeDesign | None = None,
                       expert_tokens=None) -> ImageCycles:
    """Every op of one image in the order ViT_compute issues it (src/ViT_compute.cpp:143-204): patch
    embedding, then per layer the norm parameters, LayerNorm 1, Q, K (each: weight load, bias load,
    linear), Q x K^T with the fused softmax, V, A x V, projection, residual add, LayerNorm 2, then on
    even layers the dense MLP (fc1 with GELU, fc2) and on odd layers the MoE (gate load, gating and
    token queues, zeroing the output, then per active expert in index order fc1 load, fc1, fc2 load,
    fc2, src/moe.cpp:304-436), then the second residual add.

    ``expert_tokens``: None (uniform, ``uniform_expert_tokens``), one sequence of per-expert token
    counts used for every MoE layer, or a mapping MoE layer -> sequence. Experts with 0 tokens are
    neither loaded nor run (src/moe.cpp:120). With ``hw.loads_overlap_previous_op`` a load's modelled
    cost is only what exceeds the op issued before it (the ping/pong buffers of src/linear.cpp:5-8
    would allow it; the top-level code issues them in sequence, so the default is False).

    The one-time patch-embedding weight load (src/ViT_compute.cpp:133-136) is not per image and is
    not counted. Defaults: ``M3ViTShape()`` and ``EdgeMoeDesign()``."""
    m = m or M3ViTShape()
    hw = hw or EdgeMoeDesign()
    table = _check_expert_tokens(m, expert_tokens)
    rows: list[OpCycles] = []

    def add(name, cyc: LoopCycles, kind="compute"):
        modelled = cyc.modelled
        if kind == "load" and hw.loads_overlap_previous_op and rows and rows[-1].kind == "compute":
            modelled = max(0, modelled - rows[-1].modelled)
        rows.append(OpCycles(name, cyc.ideal, modelled, kind, cyc.source))

    def weights(name, out_dim, in_dim):
        w = load_linear_weights_cycles(out_dim, in_dim, hw, m)
        b = load_linear_bias_cycles(out_dim, hw)
        add(f"{name}.load", LoopCycles(w.ideal + b.ideal, w.modelled + b.modelled,
                                       f"{w.source} + {b.source}"), "load")

    add("patch_embed", patch_embed_cycles(m, hw))
    for layer in range(m.layers):
        p = f"layer{layer}"
        add(f"{p}.norms.load", load_norms_cycles(m, hw), "load")
        add(f"{p}.norm1", layernorm_cycles(m, hw))
        for lin in ("q", "k"):
            weights(f"{p}.attn.{lin}", m.dim, m.dim)
            add(f"{p}.attn.{lin}", linear_cycles(m.tokens, m.dim, m.dim, hw))
        add(f"{p}.attn.qk", qk_softmax_cycles(m, hw))
        weights(f"{p}.attn.v", m.dim, m.dim)
        add(f"{p}.attn.v", linear_cycles(m.tokens, m.dim, m.dim, hw))
        add(f"{p}.attn.av", attn_v_cycles(m, hw))
        weights(f"{p}.attn.proj", m.dim, m.dim)
        add(f"{p}.attn.proj", linear_cycles(m.tokens, m.dim, m.dim, hw))
        add(f"{p}.add1", add_cycles(m, hw))
        add(f"{p}.norm2", layernorm_cycles(m, hw))
        if layer % 2 == 0:
            weights(f"{p}.mlp.fc1", m.mlp_hidden, m.dim)
            add(f"{p}.mlp.fc1", linear_cycles(m.tokens, m.mlp_hidden, m.dim, hw))
            weights(f"{p}.mlp.fc2", m.dim, m.mlp_hidden)
            add(f"{p}.mlp.fc2", linear_cycles(m.tokens, m.dim, m.mlp_hidden, hw))
        else:
            add(f"{p}.moe.gate.load", load_w_gate_cycles(m, hw), "load")
            add(f"{p}.moe.gate", gating_cycles(m, hw))
            add(f"{p}.moe.zero", zero_output_cycles(m, hw))
            for e, n in enumerate(table[layer]):
                if n == 0:
                    continue
                weights(f"{p}.moe.expert{e}.fc1", m.expert_hidden, m.dim)
                queued = n != m.tokens          # a queue of all tokens is read directly, src/linear.cpp:398
                add(f"{p}.moe.expert{e}.fc1", linear_cycles(n, m.expert_hidden, m.dim, hw, indirect=queued))
                weights(f"{p}.moe.expert{e}.fc2", m.dim, m.expert_hidden)
                add(f"{p}.moe.expert{e}.fc2", linear_cycles(n, m.dim, m.expert_hidden, hw, indirect=queued,
                                                            score=True))
        add(f"{p}.add2", add_cycles(m, hw))
    return ImageCycles(tuple(rows), hw.clock_hz)
