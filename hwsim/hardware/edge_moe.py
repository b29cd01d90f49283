"""Edge-MoE hardware config (``kind: edge_moe``): the FPGA accelerator of Sarkar et al., ICCAD 2023
(arXiv 2305.18691), as its HLS code builds it (sharc-lab/Edge-MoE commit 984b23b; docs/edge_moe.md has
every constant with file:line). Field names are a user-visible contract.

Resources are built from the design's units (:func:`unit_resources`): multipliers per unit as the
code unrolls them, DSP48E2 per multiply by operand width (a DSP48E2 multiplies 27 x 18 bits, AMD
UG579), on-chip arrays as BRAM18 banks (one bank per partition the unroll needs), the softmax and GELU
parts from the project's characterised RTL units (``hwsim/data/unit_costs.json``). What is not in the
code (LUT/FF per MAC lane, the AXI shell, the power split) is an ASSUMPTION field, named as such.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from hwsim.config import field
from hwsim.errors import ConfigError
from hwsim.nonlinear import GELU_UNITS, SOFTMAX_UNITS

BRAM18_BITS = 18 * 1024          # one RAMB18E2: 18 Kb (AMD UG573, "Block RAM Resources")
LUT_RAM_MAX_BITS = 1024          # ASSUMPTION: Vitis HLS maps arrays of at most 1 Kb to LUTRAM, larger to BRAM
FEATURE_DIM = 192                # the buffers are compiled for M^3ViT's width (FEATURE_DIM, include/model.hpp:8)


def _mult_dsp(a_bits: int, b_bits: int) -> int:
    """DSP48E2 slices for one a x b multiply: the 27 x 18 multiplier tiled (UG579, DSP48E2 "27 x 18
    two's complement multiplier"); 32 x 16 -> 2, 32 x 32 -> 4, 8 x 16 -> 1."""
    return -(-a_bits // 27) * -(-b_bits // 18)


def _bram18(bits_per_bank: int, banks: int) -> int:
    """BRAM18 of an array split into ``banks`` equal partitions (0 when a bank fits LUTRAM)."""
    if bits_per_bank <= LUT_RAM_MAX_BITS:
        return 0
    return banks * -(-bits_per_bank // BRAM18_BITS)


@dataclass(frozen=True, kw_only=True)
class EdgeMoeConfig:
    """The Edge-MoE accelerator on a Zynq UltraScale+ board. Defaults: the shipped ZCU102 design."""
    kind: ClassVar[str] = "edge_moe"
    name: str = "edge_moe"
    # ---- clock and board (XCZU9EG: AMD DS891, device table, ZU9EG column) ----------------------
    clock_hz: float = field(300e6, positive=True, doc="kernel clock, Hz (vitis_hls.tcl:15; PL0 299.970032 MHz, hwh:7673)")
    board_lut: int = field(274_080, positive=True, doc="CLB LUTs of the device")
    board_ff: int = field(548_160, positive=True, doc="CLB flip-flops of the device")
    board_dsp: int = field(2_520, positive=True, doc="DSP48E2 slices of the device")
    board_bram: int = field(912, positive=True, doc="BRAM36 blocks of the device (32.1 Mb)")
    board_uram: int = field(0, min=0, doc="UltraRAM blocks of the device (ZU9EG has none)")
    # ---- compute units ----------------------------------------------------------------------------
    linear_in: int = field(16, positive=True, doc="unified linear unit tile: inputs a cycle (LINEAR_IN_SIZE, hardware.hpp:13)")
    linear_out: int = field(16, positive=True, doc="unified linear unit tile: outputs a cycle (LINEAR_OUT_SIZE, hardware.hpp:14)")
    attn_parallel: int = field(4, positive=True, doc="queries against each streamed key (ATTN_MATMUL_PARALLEL, hardware.hpp:15)")
    # ---- memory interface ---------------------------------------------------------------------------
    axi_bits: int = field(256, positive=True, doc="kernel m_axi width (AXI_XFER_BIT_WIDTH, hardware.hpp:9; hwh:1314-1358)")
    port_bits: int = field(128, positive=True, doc="PS slave port width the m_axi ports attach to (PSU__SAXIGP0..4__DATA_WIDTH, hwh:6892-6904)")
    axi_latency: int = field(64, min=0, doc="m_axi read latency HLS schedules for, cycles (vitis_hls.tcl:17)")
    ddr_bytes_per_s: float = field(17.06e9, positive=True, doc="PS DDR4-2133 x 64 bit peak (hwh:6720, :6738): informational, the ports bind first")
    # ---- number formats (include/datatypes.hpp) -----------------------------------------------------
    fm_bits: int = field(32, positive=True, doc="activation width, fm_t = ap_fixed<32,10> (datatypes.hpp:8)")
    weight_bits: int = field(16, positive=True, doc="weight width, wt_linear_t = ap_fixed<16,2> (datatypes.hpp:9)")
    bias_bits: int = field(16, positive=True, doc="bias width, ap_fixed<16,5|7> (datatypes.hpp:10-11)")
    pixel_bits: int = field(8, positive=True, doc="pixel width, ap_ufixed<8,0> (datatypes.hpp:15)")
    # ---- on-chip buffers ------------------------------------------------------------------------------
    weight_buffer_max_in: int = field(768, positive=True, doc="MAX_LINEAR_IN_DIM = VIT_HIDDEN_DIM (linear.hpp:7)")
    weight_buffer_words: int = field(147_456, positive=True, doc="MAX_LINEAR_DIM_PRODUCT = 768 x 192 weights per buffer (linear.hpp:9)")
    queue_tokens: int = field(129, positive=True, doc="entries of each expert's token queue (NUM_PATCHES, moe.cpp:13)")
    expert_hidden: int = field(384, positive=True, doc="expert hidden width compiled in (EXPERT_HIDDEN_DIM, model.hpp:10)")
    # ---- the paper's ideas, one switch each (docs/edge_moe.md, "Switches") -----------------------------
    attention_reordering: bool = field(True, doc="P queries per streamed key: K/V re-streamed once per query block, not per query")
    single_pass_softmax: bool = field(True, doc="online max/sum fused into Q x K^T; False: an extra pass over the scores")
    unified_linear_unit: bool = field(True, doc="one linear unit for every linear layer; False: one unit per linear shape")
    patch_reordering: bool = field(True, doc="tokens queued per expert, each active expert loaded once; False: per token")
    task_level_sparsity: bool = field(True, doc="only experts the task's gate uses are fetched; False: every expert")
    loads_overlap: bool = field(False, doc="weight loads overlap the op before them (ping/pong); the code issues them in sequence")
    enforce_board_limits: bool = field(True, doc="reject a design that exceeds the board (False: report it, for what-ifs)")
    separate_linear_units: int = field(5, positive=True, doc="units without unification: M^3ViT's distinct linear shapes "
                                       "192x192, 192x768, 768x192, 192x384, 384x192")
    # ---- resource model -----------------------------------------------------------------------------
    softmax_unit: str = field("edgemoe", choices=SOFTMAX_UNITS, doc="characterised RTL softmax unit (hwsim/data/unit_costs.json)")
    gelu_unit: str = field("edgemoe", choices=GELU_UNITS, doc="characterised RTL GELU unit (hwsim/data/unit_costs.json)")
    lut_per_mac: float = field(32.0, min=0, doc="ASSUMPTION: LUTs per MAC lane (a 32-bit adder of the reduction tree)")
    ff_per_mac: float = field(64.0, min=0, doc="ASSUMPTION: flip-flops per MAC lane (product and sum registers)")
    shell_lut: int = field(12_500, min=0, doc="ASSUMPTION: 5 m_axi adapters + AXI-Lite control, LUTs")
    shell_ff: int = field(20_000, min=0, doc="ASSUMPTION: 5 m_axi adapters + AXI-Lite control, flip-flops")
    # ---- power model (docs/edge_moe.md, "Power") --------------------------------------------------
    reference_power_w: float = field(14.54, positive=True, doc="Edge-MoE on ZCU102 at 300 MHz (CoQMoE, arXiv 2506.08496, Table 3)")
    static_power_w: float = field(2.5, min=0, doc="ASSUMPTION: device static + idle PS/DDR share; the rest is dynamic")
    source: str = ""

    def __post_init__(self):
        problems = []
        fb = self.axi_bits // self.fm_bits if self.fm_bits and self.axi_bits % self.fm_bits == 0 else None
        if fb is None:
            problems.append(f"field 'axi_bits' = {self.axi_bits}: must be a multiple of fm_bits = {self.fm_bits} "
                            "(FEATURE_BLOCK_SIZE, hardware.hpp:10)")
        else:
            wb, bb = self.axi_bits // self.weight_bits, self.axi_bits // self.bias_bits
            if self.linear_in % fb or self.linear_in % wb:
                problems.append(f"field 'linear_in' = {self.linear_in}: must be a multiple of FEATURE_BLOCK_SIZE = {fb} "
                                f"and WEIGHT_BLOCK_SIZE = {wb} (static_asserts, src/linear.cpp:23, :162)")
            if self.linear_out % fb or self.linear_out % bb:
                problems.append(f"field 'linear_out' = {self.linear_out}: must be a multiple of FEATURE_BLOCK_SIZE = {fb} "
                                f"and BIAS_BLOCK_SIZE = {bb} (static_asserts, src/linear.cpp:115, :207)")
            if self.weight_buffer_words % (self.linear_in * self.linear_out):
                problems.append(f"field 'weight_buffer_words' = {self.weight_buffer_words}: must be a multiple of the "
                                f"tile linear_in x linear_out = {self.linear_in * self.linear_out} "
                                "(the buffer is stored as tiles, linear.hpp:15-18)")
        if self.static_power_w >= self.reference_power_w:
            problems.append(f"field 'static_power_w' = {self.static_power_w}: must be below reference_power_w = "
                            f"{self.reference_power_w} (the rest is the calibrated dynamic power)")
        if problems:
            raise ConfigError(f"hardware '{self.name}'", problems)
        if not self.enforce_board_limits:
            return
        used = design_resources(self)
        for res, field_name, limit_field in (("dsp", "DSP48E2", "board_dsp"), ("bram", "BRAM36", "board_bram"),
                                             ("lut", "LUT", "board_lut"), ("ff", "FF", "board_ff")):
            need, limit = used["total"][res], getattr(self, limit_field)
            if need > limit:
                culprit = max((u for u in used if u != "total"), key=lambda u: used[u][res])
                knobs = UNIT_FIELD.get(culprit, ("linear_in", "linear_out"))
                names = " x ".join(f"'{k}'" for k in knobs)
                values = " x ".join(str(getattr(self, k)) for k in knobs)
                problems.append(f"field {names} = {values}: the design needs {need:,.0f} {field_name} "
                                f"({culprit} unit {used[culprit][res]:,.0f}), more than {limit_field} = {limit:,}")
        if problems:
            raise ConfigError(f"hardware '{self.name}'", problems)

    @property
    def feature_block(self) -> int:
        """Activations per AXI beat (FEATURE_BLOCK_SIZE = 256 / 32 = 8, hardware.hpp:10)."""
        return self.axi_bits // self.fm_bits

    def describe(self) -> str:
        """One line for ``hwsim presets``."""
        r = design_resources(self)["total"]
        return (f"{self.clock_hz / 1e6:g} MHz, linear {self.linear_in}x{self.linear_out}, attention x{self.attn_parallel}, "
                f"{r['dsp']:,.0f} DSP / {r['bram']:,.0f} BRAM36 of {self.board_dsp:,} / {self.board_bram:,}")


# The field that sizes each unit, named in "exceeds the board" errors.
UNIT_FIELD = {"linear": ("linear_in", "linear_out"), "attention": ("attn_parallel",),
              "shell": ("shell_lut", "shell_ff")}


def _nonlinear(kind: str, algo: str):
    from hwsim.nonlinear import unit_model
    return unit_model(kind, algo)


def unit_resources(cfg: EdgeMoeConfig) -> dict[str, dict[str, float]]:
    """LUT, FF, DSP48E2 and BRAM36 of each unit of the design (before summing), built from what the
    HLS code instantiates (multipliers per cycle from the unrolled loops, arrays with the partitions
    the unroll needs); docs/edge_moe.md, "Resource use", has the multiplier table.

    - ``linear`` (the unified unit, linear.cpp:461-501): linear_in x linear_out multiplies of a 32-bit
      activation by a 16-bit weight; GELU at its linear_out outputs (linear.cpp:499); the expert
      output scaling, 8 multiplies 32 x 32 (linear.cpp:378-382); ping and pong weight buffers of
      ``weight_buffer_words`` 16-bit weights in linear_in x linear_out banks (linear.cpp:5-8); the
      weight re-pack cache 16 x 48 x 256 bit (linear.cpp:33); the input tiles 48 x 16 x 32 bit
      (linear.cpp:446). Without ``unified_linear_unit`` there are ``separate_linear_units`` copies.
    - ``attention`` (attention.cpp:62-125, :404-450): Q x K^T 8P + P multiplies (P = attn_parallel,
      the P scalings), A x V 8P + 3P (the normalisations), all 32 x 32; the single-pass softmax, one
      RTL softmax unit per query in flight (P); Q blocks and A x V accumulators, P x 192 x 32 bit each.
    - ``patch_embed`` (conv.cpp:48-94): 2 patches x 8 outputs x 16 pixels = 256 multiplies 8 x 16; its
      192 x 3 x 16 x 16 16-bit weights in 8 x 16 banks (conv.cpp:7); row accumulators 2 x 16 x 192 x 32 bit.
    - ``gate`` (moe.cpp:169-195): 16 experts x 8 dims = 128 multiplies 32 x 16; one online softmax unit;
      token queues and scores 2 x 16 x 129 x 32 bit in 16 banks each (moe.cpp:13-17).
    - ``layernorm`` (layernorm.cpp:89-94, :125-131): 8 squares 32 x 32 + 8 scalings 32 x 32 + 8 affine
      32 x 16 (one beat of 8 activations a cycle); parameters 4 x 192 x 16 bit.
    - ``shell``: the m_axi adapters and control (ASSUMPTION fields ``shell_lut``/``shell_ff``).

    LUT and FF of the datapaths: ``lut_per_mac`` / ``ff_per_mac`` per multiply lane (ASSUMPTION) plus
    the characterised softmax/GELU units. The RTL table holds iCE40 figures only (``target: ice40``):
    its LUT4 counts are taken as LUTs (an upper bound for LUT6 fabric) and its 4 Kb EBRs are
    converted to BRAM18 by bits.
    """
    fb = cfg.feature_block
    sm, ge = _nonlinear("softmax", cfg.softmax_unit), _nonlinear("gelu", cfg.gelu_unit)
    ebr_bits = 4096   # iCE40 EBR: 4 Kb (Lattice iCE40 LP/HX family data sheet, "sysMEM Embedded Block RAM")

    def unit(mults: list[tuple[int, int, int]], bram18: int, extra_lut=0.0, extra_ff=0.0, extra_bram18=0.0):
        lanes = sum(n for n, _, _ in mults)
        return {"lut": lanes * cfg.lut_per_mac + extra_lut, "ff": lanes * cfg.ff_per_mac + extra_ff,
                "dsp": sum(n * _mult_dsp(a, b) for n, a, b in mults),
                "bram": (bram18 + extra_bram18) / 2}

    def rtl(u, instances):
        return instances * u.lut, instances * u.ff, instances * u.bram * ebr_bits / BRAM18_BITS

    tile = cfg.linear_in * cfg.linear_out
    bank_words = cfg.weight_buffer_words // tile
    lin_bram = (2 * _bram18(bank_words * cfg.weight_bits, tile)                      # ping + pong, linear.cpp:5-8
                + 2 * _bram18(cfg.weight_buffer_max_in // cfg.linear_out * 18, cfg.linear_out)  # biases, linear.cpp:6/8
                + _bram18(cfg.weight_buffer_max_in // fb * cfg.axi_bits, cfg.linear_in)        # re-pack cache, :33
                + _bram18(cfg.weight_buffer_max_in // cfg.linear_in * cfg.fm_bits, cfg.linear_in))  # input tiles, :446
    g_lut, g_ff, g_bram = rtl(ge, cfg.linear_out)
    linear = unit([(tile, cfg.fm_bits, cfg.weight_bits), (fb, cfg.fm_bits, cfg.fm_bits)], lin_bram, g_lut, g_ff, g_bram)
    if not cfg.unified_linear_unit:
        linear = {k: v * cfg.separate_linear_units for k, v in linear.items()}
    p = cfg.attn_parallel
    s_lut, s_ff, s_bram = rtl(sm, p)
    attention = unit([(fb * p + p, cfg.fm_bits, cfg.fm_bits), (fb * p + 3 * p, cfg.fm_bits, cfg.fm_bits)],
                     2 * _bram18(FEATURE_DIM * cfg.fm_bits, p), s_lut, s_ff, s_bram)
    patch = unit([(2 * fb * 16, cfg.pixel_bits, cfg.weight_bits)],
                 _bram18(FEATURE_DIM * 3 * 16 * 16 * 16 // (fb * 16), fb * 16) + 2 * _bram18(FEATURE_DIM * cfg.fm_bits, 16))
    q_lut, q_ff, q_bram = rtl(sm, 1)
    gate = unit([(16 * fb, cfg.fm_bits, cfg.weight_bits)],
                2 * _bram18(cfg.queue_tokens * cfg.fm_bits, 16) + _bram18(FEATURE_DIM * cfg.weight_bits // fb, 16 * fb),
                q_lut, q_ff, q_bram)
    layernorm = unit([(2 * fb, cfg.fm_bits, cfg.fm_bits), (fb, cfg.fm_bits, cfg.weight_bits)],
                     _bram18(4 * FEATURE_DIM * cfg.weight_bits // fb, fb))
    shell = {"lut": float(cfg.shell_lut), "ff": float(cfg.shell_ff), "dsp": 0, "bram": 0.0}
    units = {"linear": linear, "attention": attention, "patch_embed": patch, "gate": gate, "layernorm": layernorm,
             "shell": shell}
    return units


def design_resources(cfg: EdgeMoeConfig) -> dict[str, dict[str, float]]:
    """:func:`unit_resources` plus ``total`` (BRAM36 rounded up per design)."""
    units = unit_resources(cfg)
    total = {k: sum(u[k] for u in units.values()) for k in ("lut", "ff", "dsp", "bram")}
    total["bram"] = float(-(-total["bram"] // 1))
    return {**units, "total": total}
