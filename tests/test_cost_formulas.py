"""Cost formulas checked against numbers worked by hand from their sources (issue 12, "Tests that let
real mistakes through": each test fails on a one-token change of the formula it covers).

Sources of the constants: hwsim/data/tech.yaml (Horowitz, ISSCC 2014, Fig. 1.1.9, 45 nm: 8b mult 0.2 pJ,
32b mult 3.1 pJ, 32b add 0.1 pJ; SRAM 64-bit read 10 / 20 / 100 pJ at 8 KB / 32 KB / 1 MB; DRAM
1300 pJ per 64 bits = 162.5 pJ/byte; leakage 10 % of an 8-bit MAC per PE per cycle; TPU v1 area
0.001212 mm^2 per 8-bit PE and 0.003905 mm^2 per KiB at 28 nm) and hwsim/data/unit_costs.json (the
characterised RTL units: every default unit has 1 lane; cycle models in hwsim/nonlinear.py).
"""
import math

import pytest

from hwsim import nonlinear
from hwsim.backends.systolic import SystolicBackend
from hwsim.estimate import estimate
from hwsim.hardware.systolic import SystolicConfig
from hwsim.workload import GELU, LayerNorm, MatMul, Softmax, Workload

B = SystolicBackend()
HW = SystolicConfig()                 # 32 x 32 ws, 64 KiB SRAMs, 8-bit words, 32-bit psums, 45 nm, 32 lanes


# ---- vector unit cycles: element counts the lane width does not divide ---------------------------
@pytest.mark.parametrize("algo", nonlinear.GELU_UNITS)
def test_gelu_cycles_round_a_partial_beat_up(algo):
    hw = SystolicConfig(gelu_unit=algo, vector_lanes=32)
    u = nonlinear.unit_model("gelu", algo)
    assert u.lanes == 1                                       # 32 instances of a 1-lane unit
    # 100,003 elements (prime) over 32 elements per cycle: 3,125 full beats + 1 partial = 3,126
    assert B.analytic(GELU(name="g", n=100_003), hw).ticks == 3_126 + u.latency_cycles


@pytest.mark.parametrize("algo", nonlinear.SOFTMAX_UNITS)
def test_softmax_cycles_round_partial_row_groups_up(algo):
    hw = SystolicConfig(softmax_unit=algo, vector_lanes=24)   # 24 one-lane instances
    u = nonlinear.unit_model("softmax", algo)
    per_row = u.passes * 197 + u.row_overhead_cycles         # 1 lane: ceil(197 / 1) = 197 per pass
    # 12 heads x 197 rows = 2,364 rows over 24 instances: 98 full groups + 1 partial (12 rows) = 99
    assert B.analytic(Softmax(name="s", rows=197, length=197, count=12), hw).ticks == 99 * per_row


def test_layernorm_cycles_two_passes_with_a_partial_beat():
    # 3 x 101 = 303 elements, 32 lanes: ceil(303 / 32) = 10 beats per pass, 2 passes (VECTOR_PASSES)
    assert B.analytic(LayerNorm(name="ln", rows=3, width=101), HW).ticks == 20


# ---- every energy component of the systolic backend ---------------------------------------------
SRAM_PJ_PER_BYTE = (20 + math.log(64 / 32) / math.log(1024 / 32) * (100 - 20)) / 8   # 64 KiB: 36 pJ / 64b = 4.5
MAC_PJ = 0.2 + 0.1                   # 8-bit mult + 32-bit add
ALU32_PJ = 3.1 + 0.1                 # vector unit: one 32-bit multiply-add per element and pass


def test_sram_energy_per_byte_at_64_kib():
    assert SRAM_PJ_PER_BYTE == pytest.approx(4.5)


def test_gemm_energy_components_by_hand():
    """64 x 64 x 64 on 32 x 32 ws, SRAMs 64 KiB, word 1 byte, psum 4 bytes.

    Folds: K = 64 on the rows (Fr = 2), N = 64 on the columns (Fc = 2), M = 64 streamed.
    SRAM words: ifmap reads M*K*Fc = 8,192; filter reads K*N = 4,096; psum read-back M*N*(Fr-1) = 4,096;
    ofmap writes M*N*Fr = 8,192: 24,576. DRAM: the ifmap (4,096 B) fits in half its SRAM, so it is
    fetched once; filter 4,096; ofmap 4,096; psum tiles (64 x 32 x 4 B = 8 KiB) fit in half the ofmap
    SRAM: no spill. DRAM bytes 12,288, which also pass through the SRAMs: 24,576 + 12,288 = 36,864 B.
    """
    cost = B.analytic(MatMul(name="g", m=64, k=64, n=64), HW)
    assert cost.bytes_by_level["dram"] == 12_288
    assert cost.energy_pj["mac"] == pytest.approx(262_144 * MAC_PJ)              # 78,643.2 pJ
    assert cost.energy_pj["sram"] == pytest.approx(36_864 * 4.5)                # 165,888 pJ
    assert cost.energy_pj["dram"] == pytest.approx(12_288 * 162.5)              # 1,996,800 pJ
    assert set(cost.energy_pj) == {"mac", "sram", "dram"}


def test_gemm_energy_components_in_cycle_mode_equal_the_closed_form():
    w = Workload("g", (MatMul(name="g", m=64, k=64, n=64),))
    cyc, ana = estimate(w, HW, "cycle").ops[0], estimate(w, HW, "analytic").ops[0]
    for comp in ("mac", "sram", "dram"):
        assert cyc.energy_by_component_pj[comp] == pytest.approx(ana.energy_by_component_pj[comp]), comp


def test_vector_energy_components_by_hand():
    """GELU over 1,000 elements: one unit pass (shiftgelu) -> 1,000 ALU operations of 3.2 pJ;
    SRAM: each element read and written once, 1 byte each: 2,000 B x 4.5 pJ."""
    e = B.analytic(GELU(name="g", n=1_000), HW).energy_pj
    assert e["vector"] == pytest.approx(1_000 * ALU32_PJ)
    assert e["sram"] == pytest.approx(2_000 * 4.5)
    ln = B.analytic(LayerNorm(name="ln", rows=10, width=100), HW).energy_pj   # 2 passes over 1,000
    assert ln["vector"] == pytest.approx(2_000 * ALU32_PJ) and ln["sram"] == pytest.approx(4_000 * 4.5)


def test_leakage_by_hand():
    # 10 % of an 8-bit MAC (0.3 pJ) per PE per cycle, 1,024 PEs: 30.72 pJ per cycle
    assert B.static_power_w(HW) == pytest.approx(0.1 * MAC_PJ * 1024 * 1e-12 * 1e9)    # at 1 GHz
    row = estimate(Workload("g", (MatMul(name="g", m=64, k=64, n=64),)), HW, "analytic").ops[0]
    assert row.energy_by_component_pj["leakage"] == pytest.approx(row.cycles * 30.72)


def test_node_scaling_by_hand():
    hw = SystolicConfig(tech_nm=28)
    cost = B.analytic(MatMul(name="g", m=64, k=64, n=64), hw)
    assert cost.energy_pj["mac"] == pytest.approx(262_144 * MAC_PJ * 28 / 45)       # energy ~ node
    assert cost.energy_pj["sram"] == pytest.approx(36_864 * 4.5 * 28 / 45)
    assert cost.energy_pj["dram"] == pytest.approx(12_288 * 162.5)                  # DRAM does not scale
    # area at 28 nm (TPU v1 figures): 1,024 PEs x 0.001212 + 192 KiB x 0.003905
    assert B.size(hw)["area_mm2"] == pytest.approx(1024 * 0.001212 + 192 * 0.003905)
    # at 45 nm area scales with (45 / 28)^2; 16-bit PEs with (16 / 8)^2
    hw45 = SystolicConfig(word_bits=16)
    assert B.size(hw45)["area_mm2"] == pytest.approx((1024 * 0.001212 * 4 + 192 * 0.003905) * (45 / 28) ** 2)


def test_energy_overrides_replace_each_table_value():
    hw = SystolicConfig(mac_pj=1.0, sram_pj_per_byte=2.0, dram_pj_per_byte=3.0, leakage_pj_per_cycle=5.0)
    e = B.analytic(MatMul(name="g", m=64, k=64, n=64), hw).energy_pj
    assert (e["mac"], e["sram"], e["dram"]) == (262_144.0, 36_864 * 2.0, 12_288 * 3.0)
    assert B.static_power_w(hw) == pytest.approx(5.0 * 1e-12 * hw.clock_hz)


def test_word_width_interpolation_between_table_points():
    """16-bit operands: the table's 16-bit mult (0.8 pJ) + 32-bit add; 12-bit: log-log interpolation
    between 8 (0.2) and 16 (0.8): 0.2 * (12 / 8) ** 2 = 0.45 pJ (slope log(4)/log(2) = 2)."""
    from hwsim import energy
    assert energy.mac_pj(16, 32) == pytest.approx(0.8 + 0.1)
    assert energy.mac_pj(12, 32) == pytest.approx(0.45 + 0.1)
    assert energy.mac_pj(64, 64) == pytest.approx(3.1 * (64 / 32) ** math.log2(3.1 / 0.8) + 0.1 * 2)
