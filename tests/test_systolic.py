"""Systolic backend: fold plan vs closed form, analytic vs cycle mode, DRAM stalls, energy, area."""
import dataclasses

import pytest

from hwsim.backends.systolic import (DATAFLOW_CODE, SystolicBackend, fold_plan, gemm_closed_form,
                                     pipeline_overhead_cycles, random_gemm_cases)
from hwsim.estimate import estimate
from hwsim.hardware import load_hardware
from hwsim.hardware.systolic import SystolicConfig
from hwsim.workload import MatMul, Workload, build_workload, load_model

B = SystolicBackend()
_random_cases = random_gemm_cases   # sizes 1, exact multiples, one over/under, primes (the validate check's)


def test_closed_form_equals_the_sum_over_folds():
    for g, hw in _random_cases(400, seed=0):
        p = fold_plan(g, hw)
        cf = gemm_closed_form(g.m, g.k, g.n, g.count, hw.rows, hw.cols, DATAFLOW_CODE[hw.dataflow], hw.ifmap_sram_kib,
                              hw.filter_sram_kib, hw.ofmap_sram_kib, hw.word_bytes, hw.acc_bits / 8, hw.dram_bytes_per_cycle)
        assert int(cf["compute"]) == p.compute.sum() + pipeline_overhead_cycles(hw.rows, hw.cols)
        assert int(cf["dram_bytes"]) == round(p.load_bytes.sum() + p.store_bytes.sum())
        assert int(cf["dram_reads_ifmap"]) == p.dram_reads["ifmap"] and int(cf["dram_reads_filter"]) == p.dram_reads["filter"]
        assert int(cf["sram_reads_ifmap"]) == p.sram_reads["ifmap"] and int(cf["sram_reads_filter"]) == p.sram_reads["filter"]
        assert int(cf["sram_writes_ofmap"]) == p.sram_writes["ofmap"]


def test_analytic_equals_cycle_mode_when_nothing_stalls_and_reports_the_difference_otherwise():
    equal = stalled = 0
    worst = 0.0
    for g, hw in _random_cases(300, seed=1):
        cyc = estimate(Workload("g", (g,)), hw, "cycle").ops[0]
        ana = estimate(Workload("g", (g,)), hw, "analytic").ops[0]
        if not cyc.stalled:
            assert ana.cycles == cyc.cycles, (g, hw)
            equal += 1
        else:
            stalled += 1
            worst = max(worst, abs(ana.cycles - cyc.cycles) / cyc.cycles)
            assert ana.cycles <= cyc.cycles * 1.0001 + 1   # analytic is an optimistic bound of the same model
        assert ana.dram_bytes == cyc.dram_bytes and ana.energy_by_component_pj["mac"] == cyc.energy_by_component_pj["mac"]
    assert equal > 50 and stalled > 50
    print(f"\nanalytic vs cycle: {equal} unstalled cases equal; {stalled} stalled cases, worst gap {worst:.1%}")
    assert worst < 0.6


def test_realistic_ws_lies_between_mac_bound_and_scalesim():
    # 197x3072x768 on 32x32 WS: MAC bound (Timeloop) 453,888; SCALE-Sim 670,463 (TOOLCHAIN.md).
    hw = SystolicConfig(rows=32, cols=32, dataflow="ws", dram_bytes_per_cycle=1024, ifmap_sram_kib=1024)
    g = MatMul(name="fc1", m=197, k=768, n=3072)
    row = estimate(Workload("g", (g,)), hw, "cycle").ops[0]
    compute = 24 * 96 * 197 + pipeline_overhead_cycles(32, 32)
    assert not row.stalled
    assert 453_888 < row.cycles < 670_463
    assert compute == 453_888 + 94          # + preload R + skew/drain R + C - 2
    # + first DRAM load (32x32 filter + 197x32 ifmap = 7,328 B at 1,024 B/cycle: 8 cycles) + last store (6,304 B: 7)
    assert row.cycles == compute + 8 + 7 == 453_997


def test_low_bandwidth_stalls_the_array():
    g = MatMul(name="g", m=197, k=768, n=768)
    fast = estimate(Workload("g", (g,)), SystolicConfig(dram_bytes_per_cycle=1024), "cycle").ops[0]
    slow = estimate(Workload("g", (g,)), SystolicConfig(dram_bytes_per_cycle=2), "cycle").ops[0]
    assert not fast.stalled and slow.stalled and slow.cycles > 5 * fast.cycles
    assert slow.cycles >= slow.dram_bytes / 2   # bandwidth bound


@pytest.mark.parametrize("dataflow", ["ws", "os", "is"])
def test_double_buffering_overlaps_loads_with_compute(dataflow):
    g = MatMul(name="g", m=256, k=256, n=256)
    hw = SystolicConfig(rows=32, cols=32, dataflow=dataflow, dram_bytes_per_cycle=64, ifmap_sram_kib=1024, filter_sram_kib=1024)
    block, cost = B.lower(g, hw)
    t = estimate(Workload("g", (g,)), hw, "cycle", keep_timeline=True)
    # all loads but the first are hidden: latency = first load + compute + last store
    assert t.ops[0].cycles == cost.ideal_ticks
    assert t.timeline.busy_cycles("dram") > 0 and t.timeline.busy_cycles("array") == cost.busy_ticks["array"]


def test_vit_b16_cycle_mode_is_close_to_analytic():
    w = build_workload(load_model("vit-b16"))
    hw = load_hardware("systolic-32x32-ws")
    c, a = estimate(w, hw, "cycle"), estimate(w, hw, "analytic")
    assert c.macs == a.macs == w.macs and c.dram_bytes == a.dram_bytes
    assert abs(c.cycles - a.cycles) / c.cycles < 0.02
    assert set(c.energy_by_component_pj) == {"mac", "sram", "dram", "vector", "leakage"}


def test_energy_components_follow_the_tables():
    from hwsim import energy
    hw = SystolicConfig()
    g = MatMul(name="g", m=64, k=64, n=64)
    cost = B.analytic(g, hw)
    assert cost.energy_pj["mac"] == pytest.approx(64 ** 3 * (0.2 + 0.1))   # Horowitz 8b mult + 32b add, 45 nm
    assert cost.energy_pj["dram"] == pytest.approx(cost.bytes_by_level["dram"] * 162.5)
    assert energy.sram_pj_per_byte(8) == pytest.approx(10 / 8) and energy.sram_pj_per_byte(1024) == pytest.approx(100 / 8)
    over = dataclasses.replace(hw, mac_pj=1.0)
    assert B.analytic(g, over).energy_pj["mac"] == 64 ** 3


def test_area_grows_with_pes_and_sram():
    small, big = SystolicConfig(rows=16, cols=16), SystolicConfig(rows=64, cols=64)
    assert B.size(big)["area_mm2"] > B.size(small)["area_mm2"]
    assert B.size(dataclasses.replace(small, ifmap_sram_kib=1024))["area_mm2"] > B.size(small)["area_mm2"]
    # TPU v1 (ISCA 2017, Fig. 2): MXU + unified buffer = 53% of <= 331 mm^2 at 28 nm
    tpu = load_hardware("tpu-v1-like")
    assert B.size(tpu)["area_mm2"] == pytest.approx(0.24 * 331 + 0.29 * 331 * (24.25 / 24), rel=0.02)


def test_vector_unit_cycles():
    """LayerNorm and element-wise ops make their passes over SRAM data, one element per lane per
    cycle (softmax and GELU are costed from the RTL units: tests/test_nonlinear.py)."""
    from hwsim.workload import Eltwise, LayerNorm
    hw = SystolicConfig(vector_lanes=32)
    assert B.analytic(LayerNorm(name="ln", rows=197, width=768, count=2), hw).ticks == 2 * -(-2 * 197 * 768 // 32)
    assert B.analytic(Eltwise(name="add", n=197 * 768 + 1), hw).ticks == -(-(197 * 768 + 1) // 32)


def test_scalesim_compatible_mode_reproduces_scalesim_through_the_cli(capsys):
    """Every SCALE-Sim 3.0 reference record (hwsim/data/reference/scalesim_reference.json, produced by
    benchmarks/scalesim_reference.py) through 'hwsim gemm': cycles and SRAM counts exact, DRAM within 1%."""
    import json

    from hwsim.cli import main
    from hwsim.validation import reference_data
    records = reference_data("scalesim_reference.json")
    assert len(records) > 150
    for r in records[::3]:
        argv = ["gemm", str(r["M"]), str(r["N"]), str(r["K"]), "systolic", "--format", "json", "--set", "scalesim_compatible=true"]
        for f in ("rows", "cols", "dataflow", "ifmap_sram_kib", "filter_sram_kib", "ofmap_sram_kib"):
            argv += ["--set", f"{f}={r[f]}"]
        assert main(argv) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["cycles"] == r["total_cycles"], r
        assert out["sram_reads"] == {"ifmap": r["sram_reads_ifmap"], "filter": r["sram_reads_filter"]}
        assert out["sram_writes"] == {"ofmap": r["sram_writes_ofmap"]}
        for got, want in ((out["dram_reads"]["ifmap"], r["dram_reads_ifmap"]), (out["dram_reads"]["filter"], r["dram_reads_filter"]),
                          (out["dram_writes"]["ofmap"], r["dram_writes_ofmap"])):
            assert abs(got - want) <= 0.01 * want
