"""The optical4f kind through the seam: workloads that agree with the ground-truth layer lists, Li & Gupta's Table 2
and FatNet's 8.2x through the backend's reports, frame-level cycle mode, kernel reuse, energy by hand, validation
(one line, exit 2), the CLI bar and the refresh-rate crossover against the roofline GPU.

Golden numbers and where they come from (docs/optical4f.md has the derivations):
* [LG22] Li & Gupta, Proc. SPIE 12019 120190B (2022), Table 2 p. 5, in hwsim.backends.optical4f_model.LI_GUPTA_TABLE2:
  seconds per input (conv layers only) at 2 MHz without tiling (printed to 3 significant figures) and with channel
  tiling (rounded to 1 us).
* [FN23] FatNet, arXiv 2210.16914 abstract: "8.2 times fewer convolution operations" than their ResNet-18; the
  pair counts 1,220,800 and 148,792 follow from the authors' code (riadibadulla/simulator models.py @ a093a1f).
"""
import json

import pytest

from hwsim.backends import optical4f_model as om
from hwsim.backends.optical4f import (LI_GUPTA_CHANNEL_TILING_PASSES, crossover_refresh_hz,
                                      li_gupta_table2_workloads, optical_layer, optical_seconds)
from hwsim.cli import main
from hwsim.errors import ConfigError
from hwsim.estimate import estimate
from hwsim.hardware import load_hardware, replace_fields
from hwsim.kinds import backend
from hwsim.workload import Conv2d, Workload, load_workload

TABLE2 = om.LI_GUPTA_TABLE2
LG = "li-gupta-4k-2mhz"
NO_TILING = {"tiling": "none", "sign_handling": "none"}


def three_sig(x: float) -> float:
    return float(f"{x:.2e}")


# Table 2 times the optical conv layers only (SRCNN's 1x1 runs on the co-processor, as [LG22] leave it); the rows
# a Conv2d workload can express (DeconvNet's 121x1 kernels stay with the model, tests/test_optical4f_model.py)
conv_seconds, table2_workloads = optical_seconds, li_gupta_table2_workloads


# ------------------------------------------------------------------ workloads agree with the ground-truth lists

@pytest.mark.parametrize("name, layers", [
    ("vgg16-cifar10", om.vgg16(32)), ("vgg16-imagenet", om.vgg16(224)), ("alexnet-imagenet", om.alexnet_li_gupta()),
    ("resnet18-cifar", om.resnet18_fatnet_code()), ("fatnet-cifar", om.fatnet_cifar())])
def test_zoo_conv_layers_are_the_model_lists(name, layers):
    w = load_workload(name)
    hw = load_hardware(LG)
    got = [optical_layer(op, hw)[0] for op in w.ops if isinstance(op, Conv2d)]
    assert [(l.in_ch, l.out_ch, l.in_h, l.in_w, l.kernel_h, l.kernel_w, l.groups) for l in got] == \
        [(l.in_ch, l.out_ch, l.in_h, l.in_w, l.kernel_h, l.kernel_w, l.groups) for l in layers]
    # 'same' convolutions keep the map size, so each layer's input is the previous output (pooling aside)
    convs = [op for op in w.ops if isinstance(op, Conv2d)]
    assert all(op.out_h == op.in_h for op in convs if op.stride == 1)


# ------------------------------------------------------------------ Li & Gupta Table 2 through the backend

@pytest.mark.parametrize("row", ["vgg16-cifar10", "vgg16-imagenet", "alexnet-imagenet", "vgg16-spacenet7", "srcnn"])
@pytest.mark.parametrize("mode", ["analytic", "cycle"])
def test_table2_no_tiling_column_exactly(row, mode):
    w = table2_workloads()[row]
    r = estimate(w, load_hardware(LG, NO_TILING), mode)
    pairs = sum(l.pairs for l in om.li_gupta_networks()[row] if l.optical)
    assert r.counters["passes"] == r.counters["optical_convs"] == pairs
    assert conv_seconds(r) == pytest.approx(pairs / 2e6, rel=1e-9)
    assert three_sig(conv_seconds(r)) == TABLE2[row]["no_tiling_s"]


# channel-tiling passes through the backend (dense packing) vs Table 2's printed seconds x 2 MHz; the gaps are the
# packing rule's (docs/optical4f.md, "Packing rule"): no per-layer rule reproduces the large-kernel rows
@pytest.mark.parametrize("row", sorted(LI_GUPTA_CHANNEL_TILING_PASSES))
def test_table2_channel_tiling_column_as_the_packing_rule_allows(row):
    ours, table = LI_GUPTA_CHANNEL_TILING_PASSES[row]
    r = estimate(table2_workloads()[row], load_hardware(LG), "cycle")
    assert r.counters["passes"] == ours
    assert r.counters["passes"] == sum(c.passes for c in om.network_passes(
        om.li_gupta_networks()[row], om.LI_GUPTA_4K_2MHZ, tiling="channel", sign_handling="channel_tiling"))
    assert round(TABLE2[row]["channel_tiling_s"] * 2e6) == table
    assert conv_seconds(r) == pytest.approx(ours * 0.5e-6)
    if row == "vgg16-imagenet":
        assert float(f"{conv_seconds(r):.0e}") == TABLE2[row]["channel_tiling_s"]     # 6e-5 exactly


def test_superblock_packing_is_the_achievable_bound():
    r = estimate(load_workload("vgg16-imagenet"), load_hardware(LG, {"packing": "superblock"}), "analytic")
    assert r.counters["passes"] == 131          # docs/optical4f.md: +9 % over the dense 120


# ------------------------------------------------------------------ FatNet's 8.2x from the two workloads

def test_fatnet_has_8_2x_fewer_optical_convolutions_than_its_resnet():
    hw = load_hardware(LG, NO_TILING)
    res = estimate(load_workload("resnet18-cifar"), hw, "analytic").counters
    fat = estimate(load_workload("fatnet-cifar"), hw, "analytic").counters
    assert (res["passes"], fat["passes"]) == (1_220_800, 148_792)
    assert round(res["passes"] / fat["passes"], 1) == 8.2
    # Optica_FatNet runs every layer pseudo-negatively: both double, the ratio stays
    hw2 = load_hardware(LG, {"tiling": "none", "sign_handling": "pseudo_negative"})
    assert estimate(load_workload("fatnet-cifar"), hw2, "analytic").counters["passes"] == 2 * 148_792


# ------------------------------------------------------------------ the model's time per layer, and kernel reuse

def test_each_conv_costs_the_models_layer_time():
    hw = load_hardware("dmd-4f-prototype")
    w = load_workload("fatnet-cifar")
    r = estimate(w, hw, "analytic")
    dev = hw.device()
    for op, row in zip(w.ops, r.ops):
        if isinstance(op, Conv2d):
            layer = optical_layer(op, hw)[0]
            assert row.latency_s == pytest.approx(om.layer_time_s(layer, dev, **hw.modes()), abs=1e-12)


def test_a_shared_kernel_is_loaded_once_for_every_token_map_and_image():
    hw = load_hardware("convshare-4f")
    for batch in (1, 4):
        w = load_workload("convshare-vit", batch=batch)
        r = estimate(w, hw, "analytic")
        q = next(row for row in r.ops if row.name == "layer0.attn.q")
        fc1 = next(row for row in r.ops if row.name == "layer0.mlp.fc1")
        assert q.counters["kernel_loads"] == 2          # w+ and w- (pseudo-negative), whatever the batch
        assert fc1.counters["kernel_loads"] == 4        # channel multiplier 2: two shared kernels
        assert q.counters["passes"] == 2                # 145 x batch maps of 14 px blocks fit one 4096^2 frame


def test_convshare_vit_pass_count_by_hand():
    """Stem (3 pairs, one frame) + 8 blocks x (q, k, v, proj: 1 frame each; fc1, fc2: 2 shared kernels each),
    all doubled by pseudo-negative: 2 + 8 x 2 x (4 + 2 + 2) = 130."""
    r = estimate(load_workload("convshare-vit"), load_hardware("convshare-4f"), "analytic")
    assert r.counters["passes"] == 130
    assert r.counters["optical_s"] == pytest.approx(130 / 2e6)


def test_a_changing_kernel_costs_the_fourier_refresh_a_kept_one_does_not():
    """Batch 2 of a non-shared conv: each kernel frame serves both images, so half the passes skip the slow
    Fourier refresh."""
    hw = load_hardware(LG, {**NO_TILING, "fourier_refresh_hz": 1e6})
    op = Conv2d(name="c", in_ch=2, out_ch=3, in_h=8, in_w=8, kernel=3, padding=1, count=2)
    r = estimate(Workload(model="t", ops=(op,)), hw, "analytic").ops[0]
    assert (r.counters["passes"], r.counters["kernel_loads"]) == (12, 6)
    assert r.latency_s == pytest.approx(6 * 1e-6 + 6 * 0.5e-6)


# ------------------------------------------------------------------ frame-level cycle mode

def test_cycle_mode_pipelines_dac_optics_adc_and_postprocessing():
    """With the converters slower than the optics, a pass takes the DAC's time in steady state (analytic), and the
    engine adds only the pipeline's fill and drain: cycle < the stages back to back."""
    hw = load_hardware(LG, {**NO_TILING, "dac_samples_per_s": 4096 * 4096 * 1e6, "adc_samples_per_s": 1e12,
                            "detect_postprocess": True})
    w = Workload(model="t", ops=(Conv2d(name="c", in_ch=16, out_ch=16, in_h=32, in_w=32, kernel=3, padding=1),))
    a = estimate(w, hw, "analytic").ops[0]
    c = estimate(w, hw, "cycle").ops[0]
    busy = sum(v for v in c.busy_ticks.values()) * c.tick_s
    per_pass_dac = 2 * 4096 * 4096 / (4096 * 4096 * 1e6)          # input + Fourier frame per pass (kernel changes)
    assert a.bound == "dac" and a.latency_s == pytest.approx(a.counters["passes"] * per_pass_dac, rel=1e-6)
    assert a.latency_s <= c.latency_s < busy
    assert c.counters == a.counters


def test_cycle_equals_analytic_when_only_the_optics_takes_time():
    w = load_workload("vgg16-cifar10")
    hw = load_hardware(LG)
    assert estimate(w, hw, "cycle").ticks == estimate(w, hw, "analytic").ticks


# ------------------------------------------------------------------ energy by hand

def test_energy_components_of_one_optical_op_by_hand():
    hw = load_hardware(LG, {**NO_TILING, "laser_power_w": 2.0, "optical_efficiency": 0.25, "dac_pj_per_sample": 0.5,
                            "adc_pj_per_sample": 1.5, "camera_power_w": 10.0})
    op = Conv2d(name="c", in_ch=2, out_ch=3, in_h=8, in_w=8, kernel=3, padding=1)
    r = estimate(Workload(model="t", ops=(op,)), hw, "analytic").ops[0]
    e = r.energy_by_component_pj
    lit = 6 * 0.5e-6
    assert e["laser"] == pytest.approx(2.0 / 0.25 * lit * 1e12)
    assert e["camera"] == pytest.approx(10.0 * lit * 1e12)
    assert e["input_modulator"] == pytest.approx(6.3 * lit * 1e12)
    assert e["dac"] == pytest.approx(0.5 * 6 * 2 * 4096 * 4096)            # 6 input frames + 6 kernel patterns
    assert e["adc"] == pytest.approx(1.5 * 6 * 64)                          # one 8x8 map read per pass
    assert e["static"] == pytest.approx(16 * r.latency_s * 1e12)            # co-processor idle (gpu-rtx2080ti preset)


def test_electronic_ops_cost_what_the_roofline_backend_says():
    w = load_workload("convshare-vit")
    hw = load_hardware("convshare-4f")
    gpu = hw.coprocessor_config()
    mine = estimate(w, hw, "analytic")
    ref = backend("roofline").analytic_many(w.ops, gpu)
    for op, row, c in zip(w.ops, mine.ops, ref):
        if not isinstance(op, Conv2d):
            assert row.ticks == c.ticks and row.energy_by_component_pj["electronic"] == pytest.approx(c.energy_pj["active"])


# ------------------------------------------------------------------ validation: one line, exit 2

@pytest.mark.parametrize("sets, words", [
    (["input_refresh_hz=0"], ["input_refresh_hz", "> 0"]),
    (["guard_px=5000"], ["guard_px", "limit 4094"]),
    (["fourier_complex=false"], ["sign_handling", "fourier_complex"]),
    (["camera_rows=5000"], ["camera_rows", "4096"]),
    (["coprocessor=systolic"], ["coprocessor", "roofline"]),
])
def test_bad_config_is_one_line_exit_2(capsys, sets, words):
    argv = ["estimate", "vgg16-cifar10", LG]
    for s in sets:
        argv += ["--set", s]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and all(word in err for word in words), err


def test_a_kernel_larger_than_the_modulator_is_one_line_exit_2(capsys):
    argv = ["estimate", "alexnet-imagenet", LG, "--set", "input_modulator_rows=200", "--set", "input_modulator_cols=200"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "input_modulator_rows" in err and "237x237" in err and "200x200" in err


def test_channel_tiling_needs_a_complex_fourier_modulator():
    with pytest.raises(ConfigError, match="fourier_complex"):
        replace_fields(load_hardware(LG), "test", fourier_complex=False)
    assert replace_fields(load_hardware(LG), "test", fourier_complex=False, sign_handling="pseudo_negative")


# ------------------------------------------------------------------ the bar: hwsim estimate convshare-vit convshare-4f

def test_estimate_convshare_vit_reports_passes_time_split_energy_and_plot(capsys, tmp_path):
    out, png = tmp_path / "r.json", tmp_path / "b.png"
    assert main(["estimate", "convshare-vit", "convshare-4f", "--format", "json", "-o", str(out), "--plot", str(png)]) == 0
    d = json.loads(out.read_text())
    t = d["totals"]
    assert d["kind"] == "optical4f" and t["passes"] == 130 and t["energy_pj"] > 0
    assert {"optical_s", "electronic_s", "conversion_s"} <= set(t)
    assert t["optical_s"] == pytest.approx(65e-6) and 0 < t["electronic_s"] < t["latency_s"]
    assert {op["name"]: op["passes"] for op in d["ops"]}["layer3.attn.v"] == 2
    assert png.stat().st_size > 0


# ------------------------------------------------------------------ where the optics overtakes the GPU

def test_refresh_crossover_against_the_roofline_gpu():
    """ConvShareViT on convshare-4f overtakes the roofline RTX 2080 Ti only above ~61 MHz (130 passes must take less
    than the GPU's 3.4 us minus the 1.4 us of electronic ops); VGG16-ImageNet on a 4096^2 modulator above ~0.44 MHz,
    on 512^2 never (the detected partial sums alone keep the co-processor busier than the GPU)."""
    gpu = load_hardware("gpu-rtx2080ti")
    cs = load_workload("convshare-vit")
    hw = load_hardware("convshare-4f")
    gpu_s = estimate(cs, gpu, "analytic").latency_s
    f = crossover_refresh_hz(cs, hw, gpu_s, rel=1e-3)
    assert 5e7 < f < 7e7
    faster = lambda rate: estimate(cs, replace_fields(hw, "t", input_refresh_hz=rate), "analytic").latency_s < gpu_s
    assert faster(f * 1.01) and not faster(f / 1.01)
    vgg = load_workload("vgg16-imagenet")
    vgg_gpu = estimate(vgg, gpu, "analytic").latency_s
    small = replace_fields(hw, "t", input_modulator_rows=512, input_modulator_cols=512)
    assert crossover_refresh_hz(vgg, small, vgg_gpu, rel=1e-2) is None
    assert 3e5 < crossover_refresh_hz(vgg, hw, vgg_gpu, rel=1e-2) < 6e5


def test_the_table_shows_the_time_split_in_seconds(capsys):
    assert main(["estimate", "convshare-vit", "convshare-4f", "--mode", "analytic"]) == 0
    total = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("total"))
    assert "65 µs" in total and "130" in total        # optical_s and passes


def test_the_example_sweep_spec_runs_and_equals_estimate(tmp_path):
    """examples/sweep_optical.yaml is a valid spec; a two-point cut of it (convshare-vit, 2 MHz and 100 MHz, 4096^2)
    gives estimate's latency per point, and the faster modulator overtakes the roofline GPU where 2 MHz does not."""
    import yaml
    from pathlib import Path
    from hwsim.sweep import evaluate_range, load_spec
    full = load_spec(Path(__file__).resolve().parents[1] / "examples" / "sweep_optical.yaml")
    assert full.base.kind == "optical4f" and full.points == 9 * 4 * 4
    cut = yaml.safe_load((Path(__file__).resolve().parents[1] / "examples" / "sweep_optical.yaml").read_text())
    cut.update(models=["convshare-vit"], axes={"input_refresh_hz": [2e6, 1e8], "input_modulator_rows": [4096]})
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump(cut))
    spec = load_spec(f)
    cols = evaluate_range(spec, 0, spec.points)
    w = load_workload("convshare-vit")
    gpu_s = estimate(w, load_hardware("gpu-rtx2080ti"), "analytic").latency_s
    for i, rate in enumerate(cols["input_refresh_hz"]):
        r = estimate(w, replace_fields(spec.base, "t", input_refresh_hz=float(rate)), "analytic")
        assert cols["latency_s"][i] == pytest.approx(r.latency_s)
    assert cols["latency_s"][0] > gpu_s > cols["latency_s"][1]


def test_utilization_is_the_share_of_tile_slots_carrying_a_channel_pair():
    """VGG16-ImageNet conv1 on 4096^2: 226 px blocks, 18 x 18 = 324 slots, 3 x 64 = 192 pairs in one pass."""
    r = estimate(load_workload("vgg16-imagenet"), load_hardware(LG), "analytic")
    assert r.ops[0].utilization == pytest.approx(192 / 324)
    assert estimate(load_workload("vgg16-imagenet"), load_hardware(LG, NO_TILING), "analytic").ops[0].utilization == 1.0


def test_dense_channel_tiling_packs_the_batch_into_shared_frames():
    """ConvShareViT's stem (3 -> 1, 25x25 on 72 px: 96 px blocks, 42^2 slots) holds the 3 pairs of 8 images in one
    frame (x2 signs); superblock packing, which verifies one image's layout only, runs each image's frame."""
    w = load_workload("convshare-vit", batch=8)
    stem = lambda hw: estimate(w, hw, "analytic").ops[0].counters["passes"]
    assert stem(load_hardware("convshare-4f")) == 2
    assert stem(load_hardware("convshare-4f", {"packing": "superblock"})) == 16
    assert estimate(w, load_hardware("convshare-4f"), "analytic").counters["passes"] == 130   # as for one image
