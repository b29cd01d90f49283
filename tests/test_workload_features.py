"""Workload features of issue 11: op structure, token reduction, precision and arithmetic, attention
kinds per layer and head, MoE, early exit; each checked by its op list and MACs computed by hand."""
import gzip
import json
from pathlib import Path

import pytest

from hwsim.errors import ConfigError, HwsimError
from hwsim.workload import (Gate, Gather, Softmax, TopK, Eltwise, build_workload, expected_cost,
                            load_model, load_workload, worst_case_cost)

DATA = Path(__file__).parent / "data"
OLD_ZOO = ["deit-b16", "deit-s16", "deit-ti16", "vit-b16", "vit-b32", "vit-h14", "vit-l16", "vit-s16", "vit-ti16"]


def spec(tmp_path, text, name="m.yaml"):
    f = tmp_path / name
    f.write_text(text)
    return load_model(f)


def ops_by_name(w):
    return {op.name: op for op in w}


@pytest.mark.parametrize("name", OLD_ZOO)
def test_existing_zoo_op_lists_unchanged(name):
    """Every field the ops had at commit 942ffef (recorded by running that commit's builder:
    tests/data/zoo_ops_942ffef.json.gz) is unchanged: same op types, names, shapes, counts, bits."""
    golden = json.loads(gzip.decompress((DATA / "zoo_ops_942ffef.json.gz").read_bytes()))[name]
    w = build_workload(load_model(name))
    assert len(w.ops) == len(golden)
    for op, (cls, *fields) in zip(w.ops, golden):
        assert type(op).__name__ == cls
        assert {k: getattr(op, k) for k, _ in fields} == dict(fields), op.name


def test_ops_carry_structure():
    ops = ops_by_name(load_workload("vit-b16"))
    assert ops["layer2.attn.qkv"].weight == "layer2.attn.qkv" and ops["layer2.attn.qk"].weight == ""
    assert ops["layer2.attn.qk"].head is None and ops["layer2.attn.softmax"].attention == "softmax"
    assert ops["layer2.mlp.fc1"].expert is None and ops["layer2.mlp.fc1"].arith == "mul"
    assert ops["layer2.mlp.gelu"].variant == "gelu"


def block_macs(t_attn, t_mlp, d, heads, hidden):
    """MACs of one pre-norm ViT block (Vaswani et al. 2017 / Dosovitskiy et al. 2021 shapes):
    qkv + proj on t_attn tokens, Q·K^T and A·V per head, the two MLP GEMMs on t_mlp tokens."""
    dh = d // heads
    return t_attn * d * 3 * d + 2 * heads * t_attn * t_attn * dh + t_attn * d * d + 2 * t_mlp * d * hidden


def vit_macs(tokens_attn, tokens_mlp, d, heads, hidden, patch=16, classes=1000):
    return (196 * 3 * patch * patch * d + d * classes
            + sum(block_macs(a, m, d, heads, hidden) for a, m in zip(tokens_attn, tokens_mlp)))


# ---------------------------------------------------------------------------------------- token reduction
def test_evit_keeps_ceil_keep_times_others_plus_fused_token():
    """EViT (youweiliang/evit evit.py l.209: left = ceil(keep (N - 1)); l.264: cls + left + fused token)."""
    w = load_workload("evit-deit-s-0.7")
    ops = ops_by_name(w)
    # 197 -> 1 + ceil(0.7*196)=138 + 1 = 140 -> 1 + ceil(0.7*139)=98 + 1 = 100 -> 1 + ceil(0.7*99)=70 + 1 = 72
    assert [ops[f"layer{i}.attn.qkv"].m for i in range(12)] == [197] * 4 + [140] * 3 + [100] * 3 + [72] * 2
    assert (ops["layer3.mlp.fc1"].m, ops["layer6.mlp.fc1"].m, ops["layer9.mlp.fc1"].m) == (140, 100, 72)
    topk = ops["layer3.select.topk"]
    assert isinstance(topk, TopK) and (topk.length, topk.k) == (196, 138) and topk.block == "select"
    assert isinstance(ops["layer3.select.gather"], Gather)
    fuse = ops["layer3.select.fuse"]            # attention-weighted sum of the 58 inattentive tokens
    assert (fuse.m, fuse.k, fuse.n) == (1, 58, 384)
    attn = [197] * 4 + [140] * 3 + [100] * 3 + [72] * 2
    mlp = [197] * 3 + [140] * 3 + [100] * 3 + [72] * 3    # the selection sits between attention and MLP
    selection = 58 * 384 + 41 * 384 + 29 * 384     # the fuse GEMMs
    assert w.macs == vit_macs(attn, mlp, 384, 6, 1536) + selection


def test_tome_merges_r_tokens_per_layer(tmp_path):
    """ToMe with r = 8 in every layer: 197 - 8 i tokens enter layer i; the similarity GEMM of layer i
    is |A| x d x |B| with |A| = ceil(others / 2), |B| = floor(others / 2)."""
    s = spec(tmp_path, "patch: 16\ndepth: 12\ndim: 384\nheads: 6\ntoken_reduction: {method: tome, r: 8}\n")
    ops = ops_by_name(build_workload(s))
    assert [ops[f"layer{i}.attn.qkv"].m for i in range(12)] == [197 - 8 * i for i in range(12)]
    assert ops["layer0.mlp.fc1"].m == 189 and ops["norm"].rows == 197 - 96
    sim = ops["layer0.select.similarity"]
    assert (sim.m, sim.k, sim.n, sim.static_weights) == (98, 384, 98, False)
    assert ops["layer0.select.topk"].k == 8 and ops["layer0.select.merge"].op == "merge"


def test_ppt_prunes_then_pools(tmp_path):
    s = spec(tmp_path, "patch: 16\ndepth: 4\ndim: 64\nheads: 2\n"
                       "token_reduction: {method: ppt, layers: [1, 2], r: 10, policy: [prune, pool]}\n")
    ops = ops_by_name(build_workload(s))
    assert [ops[f"layer{i}.attn.qkv"].m for i in range(4)] == [197, 197, 187, 177]
    assert "layer1.select.topk" in ops and "layer1.select.similarity" not in ops
    assert "layer2.select.similarity" in ops


@pytest.mark.parametrize("text, message", [
    ("token_reduction: {method: evit, layers: [3], keep: 1.5}", "token_reduction.keep' = 1.5: keep ratios must be"),
    ("token_reduction: {method: evit, layers: [3]}", "token_reduction.keep': required"),
    ("token_reduction: {method: evit, layers: [3, 6], keep: [0.7]}", "has 1 entries, expected one per layer (2)"),
    ("token_reduction: {method: drop, r: 3}", "token_reduction.method' = 'drop': allowed: evit, tome, ppt"),
    ("token_reduction: {method: tome, layers: [12], r: 3}", "layer indices must be integers in 0..11"),
    ("token_reduction: {method: tome, r: 3, speed: 2}", "unknown field 'token_reduction.speed'"),
])
def test_token_reduction_errors_name_field_value_allowed(tmp_path, text, message):
    with pytest.raises(ConfigError) as exc:
        spec(tmp_path, "patch: 16\ndepth: 12\ndim: 384\nheads: 6\n" + text + "\n")
    assert "m.yaml" in str(exc.value) and message in str(exc.value)


# ---------------------------------------------------------------------------------- precision, arithmetic
def test_precision_per_role_and_layer(tmp_path):
    """Role keys win over class keys; a layer's entry wins over the model-wide one (LRP-QViT-style
    per-layer bit widths)."""
    s = spec(tmp_path, "patch: 16\ndepth: 2\ndim: 64\nheads: 2\nprecision: {matmul: 6, qk: 4}\n"
                       "layer_precision: {1: {fc2: 3, softmax: 12}}\n")
    ops = ops_by_name(build_workload(s))
    assert ops["layer0.attn.qkv"].bits == 6 and ops["layer0.attn.qk"].bits == 4
    assert ops["layer0.mlp.fc2"].bits == 6 and ops["layer1.mlp.fc2"].bits == 3
    assert ops["layer1.attn.softmax"].bits == 12 and ops["layer1.attn.qk"].out_bits == 12
    assert ops["layer0.attn.softmax"].bits == 8


def test_shiftadd_arithmetic_per_role(tmp_path):
    """ShiftAddViT (You et al. NeurIPS 2023): linear layers with power-of-two weights (shift) and
    attention GEMMs with binary Q/K (add); the arithmetic is a field, MACs are unchanged."""
    s = spec(tmp_path, "patch: 16\ndepth: 2\ndim: 64\nheads: 2\n"
                       "arith: {qkv: shift, proj: shift, qk: add, av: add}\nlayer_arith: {1: {fc1: shift}}\n")
    w = build_workload(s)
    ops = ops_by_name(w)
    assert [ops[f"layer0.attn.{r}"].arith for r in ("qkv", "qk", "av", "proj")] == ["shift", "add", "add", "shift"]
    assert ops["layer0.mlp.fc1"].arith == "mul" and ops["layer1.mlp.fc1"].arith == "shift"
    plain = spec(tmp_path, "patch: 16\ndepth: 2\ndim: 64\nheads: 2\n", "p.yaml")
    assert w.macs == build_workload(plain).macs


def test_integer_only_marks_nonlinear_units():
    ops = ops_by_name(load_workload("ivit-deit-s"))
    assert ops["layer0.attn.softmax"].integer and ops["layer0.ln1"].integer and ops["layer0.mlp.gelu"].integer
    assert ops["layer0.mlp.gelu"].variant == "shiftgelu"
    assert load_workload("ivit-deit-s").macs == load_workload("deit-s16").macs


@pytest.mark.parametrize("text, message", [
    ("precision: {matmul: 0}", "precision.matmul' = 0: expected an integer bit width 1..64"),
    ("layer_precision: {5: {matmul: 4}}", "layer_precision' key 5: layer indices must be integers in 0..1"),
    ("arith: {qkv: log}", "arith.qkv' = 'log': allowed: mul, shift, add"),
    ("gelu: swish", "field 'gelu' = 'swish': allowed: gelu, quad, relu, shiftgelu"),
])
def test_precision_and_arith_errors(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        spec(tmp_path, "patch: 16\ndepth: 2\ndim: 64\nheads: 2\n" + text + "\n")


# ------------------------------------------------------------------------------------- attention kinds
def test_heterogeneous_heads_group_by_kind(tmp_path):
    """MPCViT-style layer: heads 0 and 2 ReLU-softmax, 1 and 3 scaling (x / N). Each kind is one op set
    over its head group; scaling has no row normalisation op, only an element-wise scale."""
    s = spec(tmp_path, "patch: 16\ndepth: 2\ndim: 64\nheads: 4\n"
                       "attention: [[relu_softmax, scaling, relu_softmax, scaling], 2quad]\n")
    ops = ops_by_name(build_workload(s))
    sm = ops["layer0.attn.relu_softmax.softmax"]
    assert isinstance(sm, Softmax) and sm.attention == "relu_softmax" and sm.head == (0, 2) and sm.count == 2
    sc = ops["layer0.attn.scaling.scale"]
    assert type(sc) is Eltwise and sc.attention == "scaling" and sc.head == (1, 3) and sc.elements == 2 * 197 * 197
    assert ops["layer0.attn.scaling.qk"].count == 2 and "layer0.attn.scaling.softmax" not in ops
    assert ops["layer1.attn.softmax"].attention == "2quad" and ops["layer1.attn.softmax"].head is None


def test_linear_attention_is_linear_in_tokens(tmp_path):
    """phi(Q)(phi(K)^T V): per head dh x N x dh + N x dh x dh + the N x dh normaliser GEMM; no N x N op."""
    s = spec(tmp_path, "patch: 16\ndepth: 1\ndim: 64\nheads: 2\nattention: linear\n")
    w = build_workload(s)
    ops = ops_by_name(w)
    t, dh = 197, 32
    attn = sum(op.macs for op in w if op.layer == 0 and op.block == "attn" and op.attention == "linear")
    assert attn == 2 * (dh * t * dh + t * dh * dh + t * dh)
    assert not any(isinstance(op, Softmax) for op in w)
    assert ops["layer0.attn.phi"].op == "elu"


def test_mask_file_sets_head_kinds(tmp_path):
    mask = tmp_path / "mask.txt"
    mask.write_text("1 0 0 1\n# layer 1\n1,1,1,1\n")
    s = spec(tmp_path, f"patch: 16\ndepth: 2\ndim: 64\nheads: 4\nattention_mask: {mask.name}\n")
    ops = ops_by_name(build_workload(s))
    assert ops["layer0.attn.relu_softmax.softmax"].head == (0, 3) and ops["layer0.attn.scaling.scale"].head == (1, 2)
    assert ops["layer1.attn.softmax"].attention == "relu_softmax"


@pytest.mark.parametrize("mask, message", [
    ("1 0 0 1\n", "attention mask has 1 rows, expected depth = 2"),
    ("1 0 0\n1 1 1 1\n", "line 1 has 3 entries, expected heads = 4"),
    ("1 0 0 2\n1 1 1 1\n", "line 1: entry '2': allowed: 0, 1, softmax"),
])
def test_bad_mask_file_one_line(tmp_path, mask, message):
    (tmp_path / "mask.txt").write_text(mask)
    with pytest.raises(HwsimError, match=message):
        spec(tmp_path, "patch: 16\ndepth: 2\ndim: 64\nheads: 4\nattention_mask: mask.txt\n")


@pytest.mark.parametrize("text, message", [
    ("attention: cosine", "field 'attention' = 'cosine': allowed: softmax, relu_softmax, scaling"),
    ("attention: [softmax]", "field 'attention': has 1 entries, expected depth = 2"),
    ("attention: [softmax, [softmax, scaling]]", "field 'attention[1]': has 2 head kinds, expected heads = 4"),
    ("attention: [softmax, [hilo, hilo, softmax, softmax]]", "field 'attention[1]': hilo is a whole-layer kind"),
])
def test_attention_kind_errors(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        spec(tmp_path, "patch: 16\ndepth: 2\ndim: 64\nheads: 4\n" + text + "\n")


def test_hilo_matches_litv2_flops_formula():
    """LITv2-S stage 3 (14x14 tokens, dim 384, 12 heads, alpha 0.9, ws 2): HiLo.flops() in ziplab/LITv2
    classification/models/attentions.py counts every GEMM; our hilo ops sum to the same MACs."""
    w = load_workload("litv2-s")
    n, dim, dh, ws = 196, 384, 32, 2
    l_dim, h_dim = 10 * dh, 2 * dh
    kv = (14 // ws) ** 2
    litv2 = (n * dim * h_dim * 3 + (n // ws ** 2) * (ws ** 2) ** 2 * h_dim * 2 + n * h_dim * h_dim
             + n * dim * l_dim + kv * dim * l_dim * 2 + n * l_dim * kv * 2 + n * l_dim * l_dim)
    ours = sum(op.macs for op in w if op.layer == 4 and op.block == "attn")
    assert ours == litv2
    assert all(op.attention == "hilo" for op in w if op.layer == 4 and op.block == "attn" and op.macs)


def test_shared_dwconv_shares_one_kernel_name(tmp_path):
    s = spec(tmp_path, "patch: 16\ndepth: 1\ndim: 64\nheads: 2\nextra_tokens: 0\nattention: shared_dwconv\n")
    ops = ops_by_name(build_workload(s))
    qkv, proj = ops["layer0.attn.qkv"], ops["layer0.attn.proj"]
    assert qkv.groups == 64 and qkv.weight == proj.weight == "layer0.attn.dwconv"
    assert qkv.attention == "shared_dwconv" and qkv.macs == 196 * 3 * 9 * 64


# -------------------------------------------------------------------------------------------------- MoE
MOE = "patch: 16\ndepth: 2\ndim: 64\nheads: 2\nmlp_ratio: 2\n"


def test_token_routing_uniform_loads_and_expert_structure(tmp_path):
    """V-MoE token routing, 4 experts, top-2: 197 x 2 = 394 assignments spread 99/99/98/98
    (largest remainder); each expert's fc1 has m = its load and names the expert's weight."""
    s = spec(tmp_path, MOE + "moe: {layers: [1], experts: 4, top_k: 2, hidden: 32}\n")
    ops = ops_by_name(build_workload(s))
    gate = ops["layer1.moe.gate"]
    assert isinstance(gate, Gate) and (gate.m, gate.k, gate.n, gate.top_k) == (197, 64, 4, 2)
    assert [ops[f"layer1.moe.expert{e}.fc1"].m for e in range(4)] == [99, 99, 98, 98]
    fc1 = ops["layer1.moe.expert2.fc1"]
    assert fc1.expert == 2 and fc1.weight == "layer1.moe.expert2.fc1" and (fc1.k, fc1.n) == (64, 32)
    assert "layer0.mlp.fc1" in ops and "layer1.mlp.fc1" not in ops


def test_explicit_loads_and_capacity_factor(tmp_path):
    """Loads 6:1:1:0 of 394 assignments, capped at ceil(1.0 x 394 / 4) = 99 tokens per expert."""
    s = spec(tmp_path, MOE + "moe: {layers: [0], experts: 4, top_k: 2, loads: [6, 1, 1, 0]}\n")
    ops = ops_by_name(build_workload(s))
    assert [ops[f"layer0.moe.expert{e}.fc1"].m for e in range(3)] == [296, 49, 49]
    assert "layer0.moe.expert3.fc1" not in ops                     # an expert with no tokens is not fetched
    assert build_workload(s).expert_loads() == {0: {0: 296, 1: 49, 2: 49}}
    capped = spec(tmp_path, MOE + "moe: {layers: [0], experts: 4, top_k: 2, loads: [6, 1, 1, 0], "
                                  "capacity_factor: 1.0}\n", "c.yaml")
    assert ops_by_name(build_workload(capped))["layer0.moe.expert0.fc1"].m == 99


def test_skewed_loads_are_seeded_and_sum_to_assignments(tmp_path):
    text = MOE + "moe: {layers: [0, 1], experts: 8, top_k: 2, loads: {skew: 1.5, seed: 7}}\n"
    a, b = build_workload(spec(tmp_path, text)), build_workload(spec(tmp_path, text, "again.yaml"))
    loads = [op.m for op in a if op.name.endswith(".fc1") and op.layer == 0]
    assert loads == [op.m for op in b if op.name.endswith(".fc1") and op.layer == 0]
    assert sum(loads) == 197 * 2 and max(loads) > 2 * 197 * 2 / 8       # skewed: the top expert gets > 2x fair


def test_image_routing_sends_whole_images(tmp_path):
    """Mobile V-MoE: the router sees one pooled token per image; batch 4, top-1, 2 experts: each expert
    gets 2 images = 394 tokens; with a shared router only the first MoE layer has a gate."""
    s = spec(tmp_path, MOE + "batch: 4\nmoe: {layers: [0, 1], experts: 2, routing: image, shared_router: true}\n")
    ops = ops_by_name(build_workload(s))
    assert ops["layer0.moe.gate"].m == 4 and ops["layer0.moe.pool"].n == 4 * 197 * 64
    assert ops["layer0.moe.expert0.fc1"].m == ops["layer0.moe.expert1.fc1"].m == 2 * 197
    assert "layer1.moe.gate" not in ops and ops["layer1.moe.expert1.fc1"].m == 2 * 197


def test_task_routing_has_a_gate_per_task(tmp_path):
    """M^3ViT: one gate per task; the build's task picks which gate weights are read."""
    s = spec(tmp_path, MOE + "moe: {layers: odd, experts: 16, top_k: 2, routing: task, tasks: 2, hidden: 32}\n")
    g0 = ops_by_name(build_workload(s))["layer1.moe.gate"]
    g1 = ops_by_name(build_workload(s, task=1))["layer1.moe.gate"]
    assert (g0.task, g1.task) == (0, 1) and g0.weight != g1.weight


@pytest.mark.parametrize("text, message", [
    ("moe: {experts: 4, top_k: 5}", "field 'moe.top_k' = 5: must be <= moe.experts (4)"),
    ("moe: {experts: 4, loads: [1, 2]}", "field 'moe.loads': has 2 entries, expected experts = 4"),
    ("moe: {experts: 4, routing: expert}", "field 'moe.routing' = 'expert': allowed: token, image, task"),
    ("moe: {experts: 4, loads: {skew: -1}}", "expected {skew: number >= 0, seed: integer}"),
    ("moe: {top_k: 1}", "missing field 'moe.experts'"),
])
def test_moe_errors(tmp_path, text, message):
    with pytest.raises(ConfigError) as exc:
        spec(tmp_path, MOE + text + "\n")
    assert message in str(exc.value)


# ------------------------------------------------------------------------------------------- early exit
def test_early_exit_expected_and_worst_case(tmp_path):
    """Exits after layers 0 and 1 taken by 30% and 20% of images: ops before exit 0's head always run,
    layer 1 runs with probability 0.7, layer 2 onward 0.5; worst case = every op."""
    s = spec(tmp_path, "patch: 16\ndepth: 3\ndim: 64\nheads: 2\n"
                       "early_exit: {layers: [0, 1], probability: [0.3, 0.2]}\n")
    w = build_workload(s)
    macs = [op.macs for op in w]
    layer = {i: sum(op.macs for op in w if op.layer == i and op.block != "exit") for i in range(3)}
    heads = {i: sum(op.macs for op in w if op.layer == i and op.block == "exit") for i in range(2)}
    embed_and_head = sum(op.macs for op in w if op.layer is None)
    head_final = 64 * 1000
    assert heads == {0: 64 * 1000, 1: 64 * 1000}
    expected = (embed_and_head - head_final + layer[0] + heads[0] + 0.7 * (layer[1] + heads[1])
                + 0.5 * (layer[2] + head_final))
    assert expected_cost(w, macs) == pytest.approx(expected)
    assert worst_case_cost(w, macs) == w.macs == sum(layer.values()) + sum(heads.values()) + embed_and_head
    assert [e.layer for e in w.exits] == [0, 1]


def test_lgvit_exit_heads_follow_the_code():
    """8 exits after blocks 3..10: local perception heads (1x1 convs, the first two with a 3x3 depthwise
    conv), then global aggregation heads on 7x7 (r = 2) and 5x5 (r = 3) subsampled tokens."""
    w = load_workload("lgvit-vit-b16")
    ops = ops_by_name(w)
    assert "layer3.exit.dwconv" in ops and "layer5.exit.dwconv" not in ops and "layer5.exit.conv1" in ops
    assert ops["layer7.exit.qkv"].m == 49 and ops["layer9.exit.qkv"].m == 25
    assert ops["layer9.exit.qk"].count == 8 and ops["layer10.exit.head"].n == 1000
    assert expected_cost(w, [op.macs for op in w]) < w.macs


def test_exit_probabilities_validated(tmp_path):
    with pytest.raises(ConfigError, match="fractions in \\[0, 1\\] summing to at most 1"):
        spec(tmp_path, "patch: 16\ndepth: 3\ndim: 64\nheads: 2\n"
                       "early_exit: {layers: [0, 1], probability: [0.7, 0.5]}\n")
    with pytest.raises(HwsimError, match="3 values for"):
        expected_cost(load_workload("vit-ti16"), [1, 2, 3])
