"""The edge_moe kind: per-op cycles equal the HLS loop-nest hand counts of hwsim.backends.edge_moe_loops
(docs/edge_moe.md, tables "Per-op loop nests" and "Whole image"), the switches move what the paper says
they move, bad input is one line, and the sweep gives a latency/DSP front.

Golden numbers: 6,525,984 ideal and 11,110,088 modelled cycles per image (uniform routing, sequential
loads), 9,704,564 with overlapped loads: docs/edge_moe.md "Whole image", pinned by
tests/test_edge_moe_loops.py. Expert weight bytes: docs/edge_moe.md "bytes fetched per image".
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hwsim.backends import edge_moe_loops as L
from hwsim.backends.edge_moe import DEMO_S, loop_nest_rows, m3vit_workload
from hwsim.errors import ConfigError, HwsimError
from hwsim.estimate import estimate
from hwsim.hardware import load_hardware
from hwsim.hardware.edge_moe import EdgeMoeConfig, design_resources
from hwsim.workload import build_workload, load_model

ROOT = Path(__file__).resolve().parents[1]
ROUTING = json.loads((ROOT / "hwsim/data/reference/edge_moe_routing.json").read_text())
SEMSEG = tuple(ROUTING["tasks"]["task0"]["expert_tokens"])     # task0 = semseg (assumption, models/m3vit-cityscapes.yaml)
DEPTH = tuple(ROUTING["tasks"]["task1"]["expert_tokens"])


@pytest.mark.parametrize("model,task,tokens,mode", [("m3vit-cityscapes-uniform", "semseg", None, "analytic"),
                                                    ("m3vit-cityscapes-uniform", "semseg", None, "cycle"),
                                                    ("m3vit-cityscapes", "semseg", SEMSEG, "cycle"),
                                                    ("m3vit-cityscapes", "depth", DEPTH, "analytic")])
def test_every_op_row_equals_the_hls_loop_nest_hand_count(model, task, tokens, mode):
    expected = loop_nest_rows(tokens)
    report = estimate(m3vit_workload(model, task), EdgeMoeConfig(), mode)
    rows = {r.name: (r.counters["ideal_cycles"], r.ticks) for r in report.ops}
    for name, want in expected.items():
        assert rows.pop(name) == want, name
    # what is left is fused into another call: GELU, the attention softmax, the gate's softmax/top-k, the combine
    assert rows and all(v == (0, 0) for v in rows.values())
    assert {n.split(".")[-1] for n in rows} == {"gelu", "softmax", "topk", "combine"}


def test_one_image_totals_are_the_documented_ideal_and_modelled_figures_and_lie_below_the_demo():
    report = estimate(m3vit_workload("m3vit-cityscapes-uniform"), load_hardware("zcu102-edge-moe"), "cycle")
    assert report.counters["ideal_cycles"] == 6_525_984          # 21.75 ms
    assert report.cycles == 11_110_088                            # 37.03 ms
    ideal_s = report.counters["ideal_cycles"] / 300e6
    assert ideal_s < report.latency_s < DEMO_S
    overlapped = estimate(m3vit_workload("m3vit-cityscapes-uniform"), EdgeMoeConfig(loads_overlap=True), "cycle")
    assert overlapped.cycles == 9_704_564                         # 32.35 ms: the ping/pong bound
    assert ideal_s < overlapped.latency_s < report.latency_s


def test_overlapped_loads_give_the_same_cycles_in_both_modes_for_measured_routing():
    w = m3vit_workload("m3vit-cityscapes", "depth")
    hw = EdgeMoeConfig(loads_overlap=True)
    want = L.m3vit_image_cycles(L.M3ViTShape(), L.EdgeMoeDesign(loads_overlap_previous_op=True), DEPTH).modelled
    assert estimate(w, hw, "cycle").cycles == estimate(w, hw, "analytic").cycles == want


def test_only_experts_with_tokens_are_fetched_and_the_counters_say_how_many_bytes():
    report = estimate(m3vit_workload("m3vit-cityscapes", "semseg"), EdgeMoeConfig(), "analytic")
    active = sum(1 for n in SEMSEG if n)                          # 12
    assert report.counters["expert_loads"] == 6 * active
    expert_bytes = sum(r.counters["weight_bytes"] for r in report.ops if ".expert" in r.name)
    assert expert_bytes == 6 * active * 296_064                   # 2 x 192 x 384 x 2 B + (384 + 192) x 2 B


def test_task_level_sparsity_and_patch_reordering_in_bytes_fetched_per_moe_layer():
    w = m3vit_workload("m3vit-cityscapes", "semseg")

    def moe_bytes(**switches):
        r = estimate(w, EdgeMoeConfig(**switches), "analytic")
        return sum(o.counters["weight_bytes"] for o in r.ops if o.layer == 1 and o.block == "moe") - 6_144  # minus gate

    assert moe_bytes() == 3_552_768                               # 12 active experts (task0, layer 1)
    assert moe_bytes(task_level_sparsity=False) == 4_737_024      # all 16 experts
    assert moe_bytes(patch_reordering=False) == 76_384_512        # 258 per-token fetches


def test_attention_reordering_keeps_kv_traffic_constant_in_the_parallelism():
    w = m3vit_workload()
    base = estimate(w, EdgeMoeConfig(), "analytic")
    plain = estimate(w, EdgeMoeConfig(attention_reordering=False), "analytic")
    wide = estimate(w, EdgeMoeConfig(attn_parallel=8), "analytic")
    kv = lambda r: r.counters["kv_stream_bytes"]
    assert kv(plain) / kv(base) == pytest.approx(129 * 129 / (33 * 129), rel=1e-12)  # per query vs per block of 4
    assert kv(wide) < kv(base) and plain.latency_s > base.latency_s > wide.latency_s


def test_single_pass_softmax_off_costs_an_extra_pass_and_unified_unit_off_costs_dsps_not_time():
    w = m3vit_workload()
    base = estimate(w, EdgeMoeConfig(), "analytic")
    split = estimate(w, EdgeMoeConfig(single_pass_softmax=False), "analytic")
    sm = [r for r in split.ops if r.name.endswith("attn.softmax")]
    assert all(r.ticks > 0 for r in sm) and split.cycles == base.cycles + sum(r.ticks for r in sm)
    separate = EdgeMoeConfig(unified_linear_unit=False, enforce_board_limits=False)
    assert estimate(w, separate, "analytic").cycles == base.cycles
    assert design_resources(separate)["total"]["dsp"] > 2_520 > design_resources(EdgeMoeConfig())["total"]["dsp"]


def test_energy_of_the_shipped_design_is_the_calibrated_14_54_w_times_its_latency():
    report = estimate(m3vit_workload("m3vit-cityscapes-uniform"), load_hardware("zcu102-edge-moe"), "analytic")
    assert report.energy_pj * 1e-12 / report.latency_s == pytest.approx(14.54, rel=1e-9)
    scaled = estimate(m3vit_workload("m3vit-cityscapes-uniform"), load_hardware("zcu102-edge-moe-x2"), "analytic")
    assert scaled.energy_pj / scaled.latency_s > report.energy_pj / report.latency_s      # more resources, more W


def test_size_is_in_fpga_units_and_within_the_board():
    size = estimate(m3vit_workload(), load_hardware("zcu102-edge-moe"), "analytic").info.size
    assert set(size) == {"lut", "ff", "dsp", "bram"}
    assert 0 < size["dsp"] <= 2_520 and 0 < size["bram"] <= 912


@pytest.mark.parametrize("changes,field,limit", [
    (dict(linear_in=64, linear_out=32), "'linear_in' x 'linear_out' = 64 x 32", "board_dsp = 2,520"),
    (dict(linear_out=48), "'linear_in' x 'linear_out' = 16 x 48", "board_bram = 912"),
    (dict(attn_parallel=32), "'attn_parallel' = 32", "board_dsp = 2,520"),
])
def test_a_design_exceeding_the_board_names_the_field_and_the_limit(changes, field, limit):
    with pytest.raises(ConfigError) as exc:
        EdgeMoeConfig(**changes)
    assert field in str(exc.value) and limit in str(exc.value)


def test_parallelism_that_does_not_divide_the_blocks_is_rejected():
    with pytest.raises(ConfigError, match=r"field 'linear_in' = 24: must be a multiple of .*WEIGHT_BLOCK_SIZE = 16"):
        EdgeMoeConfig(linear_in=24)
    with pytest.raises(ConfigError, match=r"field 'linear_out' = 8: must be a multiple of .*BIAS_BLOCK_SIZE = 16"):
        EdgeMoeConfig(linear_out=8)


def test_an_unknown_task_is_one_line_naming_the_allowed_tasks():
    with pytest.raises(HwsimError, match=r"task 'segm': not a task of this model \(allowed: semseg, depth\)"):
        load_model("m3vit-cityscapes").moe.task_index("segm")


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "hwsim.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


def test_cli_estimate_with_task_reports_latency_energy_resources_and_expert_loads_per_layer(tmp_path, capsys):
    from hwsim.cli import main
    png = tmp_path / "b.png"
    assert main(["estimate", "m3vit-cityscapes", "zcu102-edge-moe", "--task", "depth", "--mode", "analytic",
                 "--by", "layer", "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    assert "expert_loads" in out and "layer11" in out and "dsp" in out and "energy" in out
    assert png.stat().st_size > 10_000
    assert main(["estimate", "m3vit-cityscapes", "zcu102-edge-moe", "--task", "segm"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "allowed: semseg, depth" in err


def test_sweep_example_gives_a_latency_dsp_front_over_the_tile_parallelism_and_clock():
    from hwsim.sweep.evaluate import PerPointEvaluator
    from hwsim.sweep.spec import load_spec
    spec = load_spec(ROOT / "examples/sweep_edge_moe.yaml")
    assert {a.field for a in spec.axes} == {"linear_in", "linear_out", "attn_parallel", "clock_hz"}
    ev = PerPointEvaluator(build_workload(spec.models[0].spec), spec.base)
    res = ev.evaluate({"linear_in": [16, 16, 16], "linear_out": [16, 16, 32], "attn_parallel": [4, 8, 8],
                       "clock_hz": [300e6, 300e6, 300e6]})
    # more parallelism: faster and more DSPs, so each point is on the front
    assert list(res["latency_s"]) == sorted(res["latency_s"], reverse=True)
    assert list(res["dsp"]) == sorted(res["dsp"])


@pytest.mark.slow
def test_sweep_and_pareto_cli_on_the_example(tmp_path):
    out, png = tmp_path / "r.csv", tmp_path / "f.png"
    assert _cli("sweep", "examples/sweep_edge_moe.yaml", "-o", str(out), "-q").returncode == 0
    r = _cli("pareto", str(out), "--x", "latency", "--y", "dsp", "--plot", str(png))
    assert r.returncode == 0 and "Pareto front" in r.stdout and png.exists()


# ---- the workload features M^3ViT needs (hwsim/workload: image_width, final_norm, task names and loads) ----------

def test_m3vit_workload_has_the_hls_shapes_and_the_task_gate_routes_its_measured_loads():
    spec = load_model("m3vit-cityscapes")
    assert (spec.image_size, spec.width, spec.tokens) == (128, 256, 129)          # model.hpp:5-6, :14
    w = m3vit_workload("m3vit-cityscapes", "depth")
    names = [op.name for op in w.ops]
    assert "norm" not in names and "head" not in names                            # encoder only
    gate = next(op for op in w.ops if op.name == "layer1.moe.gate")
    assert gate.task == 1 and gate.loads == DEPTH and (gate.m, gate.k, gate.n, gate.top_k) == (129, 192, 16, 2)
    experts = [op for op in w.ops if op.layer == 1 and op.expert is not None and op.name.endswith("fc1")]
    assert [(op.expert, op.m) for op in experts] == [(e, n) for e, n in enumerate(DEPTH) if n]
    assert spec.moe.task_index(None) == 0 and spec.moe.task_index("depth") == 1


def test_a_seeded_routing_is_deterministic_and_an_overfull_expert_queue_is_one_line(tmp_path):
    text = (ROOT / "models/m3vit-cityscapes-uniform.yaml").read_text()
    path = tmp_path / "m3vit-seeded.yaml"
    path.write_text(text.replace("  loads: uniform ", "  loads: {skew: 0.8, seed: 3} "))
    spec = load_model(path)
    a, b = build_workload(spec, task=0), build_workload(spec, task=0)
    gates = [op.loads for op in a.ops if op.name.endswith("moe.gate")]
    assert gates == [op.loads for op in b.ops if op.name.endswith("moe.gate")]       # seeded: the same draw
    assert len(set(gates)) == 6                                                       # seeded per layer
    assert all(sum(g) == 258 and max(g) <= 129 for g in gates) and gates[0] != L.uniform_expert_tokens(L.M3ViTShape())
    expected = {layer: g for layer, g in zip(range(1, 12, 2), gates)}
    want = L.m3vit_image_cycles(L.M3ViTShape(), L.EdgeMoeDesign(), expected)
    r = estimate(a, EdgeMoeConfig(), "analytic")
    assert (r.cycles, r.counters["ideal_cycles"]) == (want.modelled, want.ideal)
    assert r.counters["expert_loads"] == sum(sum(1 for x in g if x) for g in gates)
    skewed = tmp_path / "m3vit-skewed.yaml"
    skewed.write_text(text.replace("  loads: uniform ", "  loads: {skew: 4.0, seed: 0} "))
    with pytest.raises(HwsimError, match=r"more than an expert queue holds \(queue_tokens = 129"):
        estimate(build_workload(load_model(skewed), task=0), EdgeMoeConfig(), "analytic")


def test_the_power_calibration_follows_the_reference_and_static_fields():
    w = m3vit_workload("m3vit-cityscapes-uniform")
    r = estimate(w, EdgeMoeConfig(reference_power_w=10.0, static_power_w=1.0), "analytic")
    assert r.energy_pj * 1e-12 / r.latency_s == pytest.approx(10.0, rel=1e-9)
    with pytest.raises(ConfigError, match=r"field 'static_power_w' = 20.0: must be below reference_power_w"):
        EdgeMoeConfig(static_power_w=20.0)


def test_the_breakdown_plot_can_stack_latency_by_block_so_moe_layers_show(tmp_path, monkeypatch):
    report = estimate(m3vit_workload(), EdgeMoeConfig(), "analytic")
    blocks = {r.block for r in report.ops if r.layer == 1}
    assert "moe" in blocks and "moe" not in {r.block for r in report.ops if r.layer == 0}
    png = tmp_path / "b.png"
    report.plot_breakdown(png, stack="block")
    assert png.stat().st_size > 10_000
    with pytest.raises(HwsimError, match="plot stacking"):
        report.plot_breakdown(png, stack="unit")


def test_a_task_index_out_of_range_is_one_line_from_the_python_api_too():
    with pytest.raises(HwsimError, match=r"task 5: not a task of this model \(allowed: semseg, depth\)"):
        build_workload(load_model("m3vit-cityscapes"), task=5)
