"""Edge-MoE loop-nest cycle counts against hand counts from the HLS loop bounds.

Every golden number below is worked out by hand from the sharc-lab/Edge-MoE source (file:line in each
test) with M^3ViT's shape from include/model.hpp: N = 129 tokens, D = 192, 3 heads, MLP 768, experts
16 x 384, top-2; hardware.hpp: 8 activations per 256-bit beat, a 16 x 16 linear tile, 4 queries in
parallel. Modelled counts add the II / depth of kabazoka/Edge-MoE nohup.out (line given), the 128-bit
PS port (2 cycles per 256-bit beat, bitstream.hwh:6892) and the 64-cycle m_axi latency
(vitis_hls.tcl:17).
"""
from dataclasses import replace

import pytest

from hwsim.backends.edge_moe_loops import (
    LOOP_TIMINGS, EdgeMoeDesign, LoopTiming, M3ViTShape, add_cycles, attn_v_cycles, gating_cycles,
    layernorm_cycles, linear_cycles, load_linear_bias_cycles, load_linear_weights_cycles, load_norms_cycles,
    load_one_time_weights_cycles,
    load_w_gate_cycles, m3vit_image_cycles, patch_embed_cycles, pipelined_cycles, qk_softmax_cycles,
    uniform_expert_tokens, zero_output_cycles,
)
from hwsim.errors import HwsimError

M = M3ViTShape()
HW = EdgeMoeDesign()


def test_shape_and_design_constants_are_the_headers():
    assert M.tokens == (256 // 16) * (128 // 16) + 1 == 129          # model.hpp:14
    assert HW.feature_block == 256 // 32 == 8                          # hardware.hpp:10
    assert HW.weight_block == 256 // 16 == 16                          # linear.cpp:19
    assert HW.port_ii == 256 // 128 == 2                               # hwh:6892 vs hardware.hpp:9
    assert (HW.linear_in, HW.linear_out, HW.attn_parallel) == (16, 16, 4)


def test_pipelined_loop_latency_is_trip_times_ii_plus_depth_minus_one():
    assert pipelined_cycles(24, 1, 80) == 24 + 79
    assert pipelined_cycles(16, 3, 24) == 48 + 23
    assert pipelined_cycles(0, 3, 24) == 0
    with pytest.raises(HwsimError, match="ii=0"):
        pipelined_cycles(5, 0, 3)


def test_patch_embedding_hand_count():
    # conv.cpp:48-54: 3 channels x 16 rows of a patch x (16 patches / 2 per 32-pixel beat) x 192/8
    compute = 3 * 16 * 8 * 24
    assert compute == 9216
    rows = 128 // 16                                     # conv.cpp:150
    output = 16 * 24                                     # conv.cpp:130
    cls = 24                                             # conv.cpp:160
    got = patch_embed_cycles(M, HW)
    assert got.ideal == rows * compute + output + cls == 74_136
    # II 3 depth 33 (nohup:1384), output depth 5 (nohup:1410), cls depth 3 (nohup:1460), one DDR latency
    assert got.modelled == rows * (compute * 3 + 32) + 64 + (output + 4) + (cls + 2) == 221_918
    # 256 MACs per iteration cover the whole convolution: 128 patches x 192 x 768
    assert rows * compute * 256 == 128 * 192 * 3 * 16 * 16


def test_one_time_patch_weight_load_hand_count():
    got = load_one_time_weights_cycles(M, HW)
    # ViT_compute.cpp:15: 192/8 = 24 bias vectors; :33-39: 3 channels x 16 rows x 192 outputs, 16 weights a beat
    assert got.ideal == 24 + 3 * 16 * 192 == 9240
    assert got.modelled == (24 + 2 + 64) + (9216 * 2 + 75)     # nohup:1060, nohup:1074
    # not part of an image: the per-image sum starts at the patch embedding
    assert m3vit_image_cycles().ops[0].name == "patch_embed"


def test_layernorm_hand_count():
    blocks = 192 // 8
    got = layernorm_cycles(M, HW)
    assert got.ideal == 129 * blocks + blocks == 3120
    accumulate = blocks * 2 + 80 - 1                     # layernorm.cpp:81, nohup:1554, 2 port cycles a beat
    output = 23 + blocks * 2 + 154 - 1                   # sqrt nohup:1568 + layernorm.cpp:120, nohup:1582
    assert (accumulate, output) == (127, 224)
    assert got.modelled == 129 * max(accumulate, output) + min(accumulate, output) == 29_023


def test_norm_parameter_load_hand_count():
    got = load_norms_cycles(M, HW)
    assert got.ideal == 4 * 24
    assert got.modelled == 4 * (24 + 3 - 1 + 64)         # nohup:1486-1528, burst hoisted: one latency


@pytest.mark.parametrize("out_dim,in_dim,beats", [
    (192, 192, 192 * 12),      # Q, K, V, proj: 2,304 beats of 16 weights
    (768, 192, 768 * 12),      # dense fc1: 9,216
    (192, 768, 192 * 48),      # dense fc2: 9,216
    (384, 192, 384 * 12),      # expert fc1: 4,608
    (192, 384, 192 * 24),      # expert fc2: 4,608
])
def test_weight_load_hand_count(out_dim, in_dim, beats):
    got = load_linear_weights_cycles(out_dim, in_dim, HW)
    assert got.ideal == beats                              # linear.cpp:25-27, loop :44
    assert got.modelled == beats * 2 + 5 - 1 + 64          # nohup:1620 depth 5, 128-bit port, DDR latency


def test_weight_load_rejects_a_matrix_larger_than_the_buffer():
    with pytest.raises(HwsimError, match="MAX_LINEAR_DIM_PRODUCT"):
        load_linear_weights_cycles(768, 768, HW)


def test_bias_load_hand_count():
    assert load_linear_bias_cycles(192, HW).ideal == 12
    assert load_linear_bias_cycles(192, HW).modelled == 12 * 2 + 2 + 64
    assert load_linear_bias_cycles(384, HW).ideal == 24


@pytest.mark.parametrize("tokens,out_dim,in_dim,tiles", [
    (129, 192, 192, 129 * 12 * 12),       # 18,576
    (129, 768, 192, 129 * 48 * 12),       # 74,304
    (129, 192, 768, 129 * 12 * 48),       # 74,304
    (17, 384, 192, 17 * 24 * 12),         # 4,896
])
def test_unified_linear_unit_hand_count(tokens, out_dim, in_dim, tiles):
    got = linear_cycles(tokens, out_dim, in_dim, HW)
    assert got.ideal == tiles                                  # linear.cpp:449-455, loop :461
    # compute-bound at II 1 (nohup:1764); fills: read 3 (nohup:1711), compute 16, write 5 (nohup:1790)
    assert got.modelled == tiles + 2 + 15 + 4 + 64


def test_expert_linear_through_its_token_queue_pays_the_indirect_fills():
    got = linear_cycles(17, 192, 384, HW, indirect=True, score=True)
    # indirect read depth 79 (nohup:1685, DDR latency inside), indirect write depth 148 (nohup:1816)
    assert got.modelled == 17 * 12 * 24 + 78 + 15 + 147


def test_qk_softmax_hand_count():
    # attention.cpp:62-66: q blocks over 129 + 4 - 1 = 132 in steps of 4 -> 33; no early return (132 % 4 == 0)
    blocks = (129 + 4 - 1) // 4
    kv_iters = blocks * 129 * (192 // 8)
    scores = blocks * 129 * 4                                  # attention.cpp:145-149
    assert (blocks, kv_iters, scores) == (33, 102_168, 17_028)
    got = qk_softmax_cycles(M, HW)
    assert got.ideal == kv_iters
    # one 256-bit K beat per iteration on a 128-bit port; softmax at II 3 (51,084) stays hidden
    assert scores * 3 < kv_iters * 2
    assert got.modelled == kv_iters * 2 + (73 - 1) + (15 - 1) + (78 - 1) + (3 - 1) == 204_501


def test_attention_times_v_hand_count():
    got = attn_v_cycles(M, HW)
    assert got.ideal == 102_168                                # attention.cpp:404-408
    assert got.modelled == 102_168 * 2 + 72 + 2 + 28 + 2


@pytest.mark.parametrize("parallel,blocks,keys", [
    (1, 129, 129 * 129),        # no reordering gain: every query streams all keys
    (3, 44, 43 * 129 + 2),      # (129 + 2) % 3 = 2: the last block stops after 2 keys (attention.cpp:70)
    (8, 17, 17 * 129),
])
def test_query_parallelism_sets_the_number_of_key_streams(parallel, blocks, keys):
    hw = replace(HW, attn_parallel=parallel)
    assert -(-(129 + parallel - 1) // parallel) == blocks
    got = qk_softmax_cycles(M, hw)
    assert got.ideal == max(keys * 24, keys * parallel)


def test_softmax_at_ii_3_becomes_the_bottleneck_once_parallelism_reaches_the_block_count():
    # P = 16: 9 blocks; Q x K^T 9 x 129 x 24 = 27,864 iterations x 2 = 55,728 cycles;
    # softmax 9 x 129 x 16 = 18,576 scores x 3 = 55,728 cycles -- equal; at P = 32 the softmax leads.
    p32 = qk_softmax_cycles(M, replace(HW, attn_parallel=32))
    steady = 5 * 129 * 32 * 3                                  # 5 blocks x 129 keys x 32 queries at II 3
    assert p32.modelled == steady + 72 + 14 + 77 + 2
    ii1 = replace(HW, attn_parallel=32, timings={"attn.softmax": LoopTiming(ii=1, depth=78, source="what-if")})
    assert qk_softmax_cycles(M, ii1).modelled == 5 * 129 * 24 * 2 + 72 + 14 + 77 + 2


def test_parallelism_must_be_below_the_token_count():
    with pytest.raises(HwsimError, match="attn_parallel=129 must satisfy"):
        qk_softmax_cycles(M, replace(HW, attn_parallel=129))


def test_residual_add_hand_count():
    got = add_cycles(M, HW)
    assert got.ideal == 129 * 24 == 3096                       # add.cpp:11
    assert got.modelled == 3096 * 2 + 142 - 1                  # nohup:2190


def test_gate_hand_counts():
    assert load_w_gate_cycles(M, HW) .ideal == 24 * 16         # moe.cpp:30-32
    assert load_w_gate_cycles(M, HW).modelled == 384 + 75 - 1  # nohup:2242
    got = gating_cycles(M, HW)
    assert got.ideal == 129 * (24 + 16 + 16) == 7224
    per_token = (24 + 8 - 1) + (16 * 3 + 24 - 1) + (16 + 2 - 1) + 19   # nohup:2282, 2296, 2310, 1934
    assert per_token == 138
    assert got.modelled == 129 * per_token + 64 + (4 - 1)


def test_zero_output_hand_count():
    got = zero_output_cycles(M, HW)
    assert (got.ideal, got.modelled) == (3096, 3096 * 2 + 64)


def test_uniform_expert_tokens_spread_258_assignments_over_16_experts():
    counts = uniform_expert_tokens(M)
    assert counts == (17, 17) + (16,) * 14
    assert sum(counts) == 129 * 2


def test_one_image_of_m3vit_sums_the_per_op_counts():
    img = m3vit_image_cycles()
    # Ideal compute (II = 1): patch embedding, then per layer 2 LN, 4 linears of 18,576, Q x K^T and
    # A x V of 102,168, 2 adds; MLP or experts 2 x 74,304 (129 x 2 x 384 = 129 x 768 hidden units);
    # MoE layers also gate 7,224 and zeroing 3,096.
    per_layer = 2 * 3120 + 4 * 18_576 + 2 * 102_168 + 2 * 3096
    experts = sum(n * 24 * 12 + n * 12 * 24 for n in uniform_expert_tokens(M))
    assert experts == 2 * 74_304
    compute = 74_136 + 12 * per_layer + 6 * 2 * 74_304 + 6 * (7224 + 3096 + experts)
    assert img.ideal_compute == compute == 5_412_216
    # Ideal loads (II = 1, issued in sequence): norms 96, 4 attention matrices 2,304 + 12 bias beats;
    # dense fc1 9,216 + 48, fc2 9,216 + 12; gate 384; 16 experts x (4,608 + 24 + 4,608 + 12)
    loads = 12 * (96 + 4 * (2304 + 12)) + 6 * (9216 + 48 + 9216 + 12) + 6 * (384 + 16 * (4608 + 24 + 4608 + 12))
    assert img.ideal - img.ideal_compute == loads == 1_113_768
    assert img.ideal_s == pytest.approx(6_525_984 / 300e6)      # 21.75 ms
    assert img.modelled == 11_110_088                            # 37.03 ms at 300 MHz
    assert img.ideal < img.modelled < 59e-3 * 300e6             # below the demo's ~59 ms per image


def test_each_row_is_named_like_the_workload_and_experts_without_tokens_are_skipped():
    counts = (129, 129) + (0,) * 14
    img = m3vit_image_cycles(expert_tokens=counts)
    names = [o.name for o in img.ops]
    assert "layer0.attn.qk" in names and "layer1.moe.expert1.fc2" in names
    assert not any(n.startswith("layer1.moe.expert2.") for n in names)
    # with all 129 tokens in a queue fc1 uses the direct reader and writer (linear.cpp:398, :420):
    # fills 2 + 15 + 4 and one DDR latency; fc2 keeps the indirect writer (it scales by the gate score)
    fc1 = next(o for o in img.ops if o.name == "layer1.moe.expert0.fc1")
    fc2 = next(o for o in img.ops if o.name == "layer1.moe.expert0.fc2")
    assert fc1.modelled == 129 * 24 * 12 + 2 + 15 + 4 + 64
    assert fc2.modelled == 129 * 12 * 24 + 2 + 15 + 147 + 64


def test_bad_expert_counts_name_the_layer_and_the_rule():
    with pytest.raises(HwsimError, match=r"expert_tokens\[layer 1\].*summing to tokens x top_k = 258"):
        m3vit_image_cycles(expert_tokens={layer: (1,) * 16 for layer in (1, 3, 5, 7, 9, 11)})
    with pytest.raises(HwsimError, match="layers \\[3, 5, 7, 9, 11\\] missing"):
        m3vit_image_cycles(expert_tokens={1: uniform_expert_tokens(M)})


def test_overlapping_loads_with_the_previous_op_can_only_shorten_the_image():
    seq = m3vit_image_cycles()
    ovl = m3vit_image_cycles(hw=replace(HW, loads_overlap_previous_op=True))
    assert seq.ideal == ovl.ideal
    assert seq.ideal < ovl.modelled < seq.modelled


def test_timing_overrides_are_validated_and_every_default_names_its_log_line():
    with pytest.raises(HwsimError, match="unknown loop"):
        EdgeMoeDesign(timings={"attn.nope": LoopTiming(ii=1, depth=1, source="x")})
    assert all("nohup:" in t.source for t in LOOP_TIMINGS.values())


def test_measured_layer1_routing_activates_fewer_experts_and_shortens_the_image():
    # hwsim/data/reference/edge_moe_routing.json: benchmarks/edge_moe_routing.py on Edge-MoE's sample image and
    # trained weights (float32 through layer 1's gates); the expert matrices are not public, so only
    # layer 1 is measured and its counts stand in for every MoE layer here.
    import json
    from pathlib import Path
    data = json.loads((Path(__file__).resolve().parents[1] / "hwsim" / "data" / "reference" / "edge_moe_routing.json").read_text())
    uniform = m3vit_image_cycles()
    for task, active in (("task0", 12), ("task1", 13)):
        counts = tuple(data["tasks"][task]["expert_tokens"])
        assert sum(counts) == 258 and sum(c > 0 for c in counts) == active
        img = m3vit_image_cycles(expert_tokens=counts)
        experts = [o for o in img.ops if o.name.startswith("layer1.moe.expert") and o.name.endswith("fc1.load")]
        assert len(experts) == active
        # fewer expert loads: (16 - active) x 6 layers x (9,398 + 9,374) modelled load cycles saved,
        # less the extra fills of the fewer, longer queues
        assert img.modelled < uniform.modelled


def test_a_larger_linear_tile_divides_the_tile_count_and_an_illegal_one_names_the_static_assert():
    wide = replace(HW, linear_in=32, linear_out=32)
    assert linear_cycles(129, 192, 192, wide).ideal == 129 * (192 // 32) * (192 // 32) == 4644
    with pytest.raises(HwsimError, match="WEIGHT_BLOCK_SIZE=16"):
        replace(HW, linear_in=8)


def test_the_clock_scales_seconds_not_cycles():
    slow = m3vit_image_cycles(hw=replace(HW, clock_hz=150e6))
    fast = m3vit_image_cycles()
    assert slow.modelled == fast.modelled
    assert slow.modelled_s == pytest.approx(2 * fast.modelled_s)
