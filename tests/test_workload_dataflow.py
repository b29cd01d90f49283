"""The data-flow graph workloads carry (Op.reads, Workload.producers): what each op reads, written by hand from the
models' forward passes (timm VisionTransformer Block.forward; torchvision BasicBlock.forward; the ConvShareViT block
of docs/optical4f.md), every zoo model's graph well formed, and reads kept out of op equality."""
import dataclasses

import pytest

from hwsim.errors import HwsimError
from hwsim.workload import Eltwise, Workload, available_models, load_workload


def reads(w: Workload, layer: int) -> dict[str, set[str]]:
    return {op.name: set(op.reads) for op in w.ops if op.layer == layer}


def test_a_vit_block_reads_what_timm_block_forward_reads():
    """x = x + attn(norm1(x)); x = x + mlp(norm2(x)); attention: qkv -> Q.K^T -> softmax -> A.V (V from qkv) -> proj."""
    assert reads(load_workload("vit-b16"), 1) == {
        "layer1.ln1": {"layer0.add2"}, "layer1.attn.qkv": {"layer1.ln1"}, "layer1.attn.qk": {"layer1.attn.qkv"},
        "layer1.attn.softmax": {"layer1.attn.qk"}, "layer1.attn.av": {"layer1.attn.softmax", "layer1.attn.qkv"},
        "layer1.attn.proj": {"layer1.attn.av"}, "layer1.add1": {"layer1.attn.proj", "layer0.add2"},
        "layer1.ln2": {"layer1.add1"}, "layer1.mlp.fc1": {"layer1.ln2"}, "layer1.mlp.gelu": {"layer1.mlp.fc1"},
        "layer1.mlp.fc2": {"layer1.mlp.gelu"}, "layer1.add2": {"layer1.mlp.fc2", "layer1.add1"}}


def test_a_convshare_block_reads_q_k_v_from_the_layernorm_and_v_only_in_a_v():
    r = reads(load_workload("convshare-vit"), 0)
    assert r["layer0.attn.q"] == r["layer0.attn.k"] == r["layer0.attn.v"] == {"layer0.ln1"}
    assert r["layer0.attn.qk"] == {"layer0.attn.q", "layer0.attn.k"}
    assert r["layer0.attn.av"] == {"layer0.attn.softmax", "layer0.attn.v"}
    assert r["layer0.add1"] == {"layer0.attn.proj", "stem.0.conv"}
    assert r["layer0.add2"] == {"layer0.mlp.fc2", "layer0.add1"}


def test_a_resnet_shortcut_reads_the_block_input():
    r = reads(load_workload("resnet18"), 2)
    assert r["layer2.conv1"] == r["layer2.downsample"] == {"layer1.relu"}
    assert r["layer2.add"] == {"layer2.2.bn", "layer2.downsample.bn"}


def test_moe_experts_read_the_layer_input_and_the_router_and_the_combine_reads_every_expert():
    w = load_workload("m3vit-cityscapes")
    r = reads(w, 1)
    experts = [n for n in r if n.endswith(".fc1")]
    assert experts and all(r[n] == {"layer1.ln2", "layer1.moe.gate.topk"} for n in experts)
    assert r["layer1.moe.combine"] == {n.replace(".fc1", ".fc2") for n in experts} | {"layer1.moe.gate.topk"}


@pytest.mark.parametrize("model", available_models())
def test_every_zoo_graph_resolves_and_only_the_outputs_are_left_unread(model):
    """Every read names an earlier op, every op but the first reads something, and the only ops nobody reads are
    the network's output and the early-exit classifiers."""
    w = load_workload(model)
    producers = w.producers()
    assert producers[0] == () and all(p for p in producers[1:])
    read = {p for ps in producers for p in ps}
    unread = {op.name for i, op in enumerate(w.ops) if i not in read}
    exits = {op.name for op in w.ops if op.block == "exit" and op.name.endswith(".head")}
    assert unread == {w.ops[-1].name} | exits


def test_a_read_of_no_earlier_op_is_one_line_naming_the_op_and_the_name():
    ops = (Eltwise(name="a", n=4, reads=()), Eltwise(name="b", n=4, reads=("c",)), Eltwise(name="c", n=4, reads=("a",)))
    with pytest.raises(HwsimError, match="op 'b' reads 'c', which is not an op before it"):
        Workload(model="m", ops=ops).producers()


def test_unknown_reads_depend_on_the_previous_op_and_a_name_is_its_latest_op():
    ops = (Eltwise(name="x", n=4, reads=()), Eltwise(name="x", n=4, reads=("x",)), Eltwise(name="y", n=4),
           Eltwise(name="z", n=4, reads=("x",)))
    assert Workload(model="m", ops=ops).producers() == ((), (0,), None, (1,))


def test_reads_are_structure_not_cost_so_op_equality_ignores_them():
    op = load_workload("vit-b16").ops[5]
    other = dataclasses.replace(op, reads=("somewhere",))
    assert op == other and hash(op) == hash(other)
