"""Importers (issue 11): timm / PyTorch modules and ONNX graphs lowered to the zoo's op types.

The cross-checks need optional extras and skip cleanly without them:
- ``torch`` (CPU wheel is enough): a PyTorch module's MACs equal ``torch.utils.flop_counter``'s count
  (FLOPs / 2) of the same forward pass; its ONNX export (needs ``onnx`` too) imports to the same ops;
- ``timm`` (with PyPI's torch): timm ViT-B/16 imports to exactly the zoo's ``vit-b16`` op list, Swin-T
  to the zoo's ``swin-t`` GEMMs, ResNet-18 to ``resnet18``'s MACs.
"""
import sys

import pytest

from hwsim.errors import HwsimError
from hwsim.workload import Conv2d, LayerNorm, MatMul, Softmax, load_workload
from hwsim.workload.importers.torch_import import TIMM_CASES, flop_counter_macs

SHAPE_FIELDS = ("m", "k", "n", "count", "static_weights", "rows", "length", "width", "in_ch", "out_ch", "in_h",
                "kernel", "stride", "padding", "groups")


def key(op, names=True):
    return ((type(op).__name__, op.name if names else "", op.elements)
            + tuple(getattr(op, f, None) for f in SHAPE_FIELDS))


def gemms(w):
    return sorted(key(op, names=False) for op in w if isinstance(op, (MatMul, Conv2d, Softmax, LayerNorm)))


def test_missing_extra_is_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "timm", None)      # import timm -> ImportError
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(HwsimError, match=r"timm:vit_base_patch16_224 needs the optional extra 'timm' \(pip install"):
        load_workload("timm:vit_base_patch16_224")


def test_missing_onnx_extra_is_one_line(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(HwsimError, match="needs the optional extra 'onnx'"):
        load_workload(str(tmp_path / "m.onnx"))


# ------------------------------------------------------------------------------------- torch only
def _tiny_vit(torch):
    """A 2-block pre-norm ViT written with plain torch.nn (no timm), 32x32 input, patch 8, width 64."""
    nn = torch.nn

    class Attn(nn.Module):
        def __init__(self, d, h):
            super().__init__()
            self.h, self.qkv, self.proj = h, nn.Linear(d, 3 * d), nn.Linear(d, d)

        def forward(self, x):
            b, n, d = x.shape
            q, k, v = self.qkv(x).reshape(b, n, 3, self.h, d // self.h).permute(2, 0, 3, 1, 4)
            a = (q @ k.transpose(-2, -1) * (d // self.h) ** -0.5).softmax(-1)
            return self.proj((a @ v).transpose(1, 2).reshape(b, n, d))

    class Block(nn.Module):
        def __init__(self, d, h):
            super().__init__()
            self.norm1, self.attn, self.norm2 = nn.LayerNorm(d), Attn(d, h), nn.LayerNorm(d)
            self.mlp = nn.Sequential()
            self.mlp.fc1, self.mlp.act, self.mlp.fc2 = nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d)

        def forward(self, x):
            x = x + self.attn(self.norm1(x))
            return x + self.mlp(self.norm2(x))

    class PatchEmbed(nn.Module):
        def __init__(self, d):
            super().__init__()
            self.proj = nn.Conv2d(3, d, 8, 8)

        def forward(self, x):
            return self.proj(x).flatten(2).transpose(1, 2)

    class TinyViT(nn.Module):
        def __init__(self, d=64, h=4):
            super().__init__()
            self.patch_embed = PatchEmbed(d)
            self.cls = nn.Parameter(torch.zeros(1, 1, d))
            self.blocks = nn.ModuleList([Block(d, h) for _ in range(2)])
            self.norm, self.head = nn.LayerNorm(d), nn.Linear(d, 10)

        def forward(self, x):
            x = self.patch_embed(x)
            x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], 1)
            for blk in self.blocks:
                x = blk(x)
            return self.head(self.norm(x)[:, 0])

    return TinyViT().eval()


def test_module_macs_equal_torch_flop_counter():
    torch = pytest.importorskip("torch")
    from torch.utils.flop_counter import FlopCounterMode
    from hwsim.workload.importers.torch_import import from_module
    model = _tiny_vit(torch)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.zeros(2, 3, 32, 32))
    w = from_module(model, (3, 32, 32), batch=2)
    assert w.macs == counter.get_total_flops() // 2
    ops = {op.name: op for op in w}
    # 16 patches + class token = 17 tokens, 4 heads of 16: Q·K^T is 17 x 16 x 17 for 2 x 4 instances
    assert (ops["layer1.attn.qk"].m, ops["layer1.attn.qk"].k, ops["layer1.attn.qk"].count) == (17, 16, 8)
    assert ops["layer0.mlp.fc1"].m == 34 and ops["layer0.mlp.fc1"].static_weights
    assert [op.name for op in w][:3] == ["patch_embed", "layer0.ln1", "layer0.attn.qkv"]
    assert ops["head"].m == 2 and ops["layer1.add2"].n == 2 * 17 * 64


def test_onnx_export_imports_to_the_same_ops(tmp_path):
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from hwsim.workload.importers.torch_import import from_module
    model = _tiny_vit(torch)
    f = tmp_path / "tiny.onnx"
    torch.onnx.export(model, (torch.zeros(1, 3, 32, 32),), str(f), dynamo=False, opset_version=17)
    w_onnx, w_torch = load_workload(str(f)), from_module(model, (3, 32, 32))
    assert [key(op) for op in w_onnx] == [key(op) for op in w_torch]
    assert w_onnx.producers() == w_torch.producers()      # the same data-flow graph from node names


def test_onnx_keeps_a_read_that_another_read_also_reads(tmp_path):
    """A diamond (y = a(x); z = b(y); relu(y + z)): the add reads both a and b in both importers (only the
    erf form of GELU, x * 0.5 * (1 + erf(x / sqrt 2)), drops x for the GELU that reads it)."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from hwsim.workload.importers.torch_import import from_module
    nn = torch.nn

    class Diamond(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(8, 8), nn.Linear(8, 8)

        def forward(self, x):
            y = self.a(x)
            return torch.relu(y + self.b(y))

    model = Diamond().eval()
    f = tmp_path / "diamond.onnx"
    torch.onnx.export(model, (torch.zeros(1, 4, 8),), str(f), dynamo=False, opset_version=17)
    w_onnx, w_torch = load_workload(str(f)), from_module(model, (4, 8))
    assert {op.name: op.reads for op in w_torch}["add"] == ("a", "b")
    assert [(op.name, op.reads) for op in w_onnx] == [(op.name, op.reads) for op in w_torch]


def test_module_data_flow_follows_the_tensors():
    """Each op reads the ops whose outputs reach it through views, folded biases and concatenations: Q.K^T reads the
    qkv projection, A.V the softmax and qkv (V), the residual add the projection and the block input (the patch
    embedding behind the class-token concat)."""
    torch = pytest.importorskip("torch")
    from hwsim.workload.importers.torch_import import from_module
    ops = {op.name: set(op.reads) for op in from_module(_tiny_vit(torch), (3, 32, 32))}
    assert ops["patch_embed"] == set()
    assert ops["layer0.ln1"] == {"patch_embed"}
    assert ops["layer0.attn.qk"] == {"layer0.attn.qkv"}
    assert ops["layer0.attn.av"] == {"layer0.attn.softmax", "layer0.attn.qkv"}
    assert ops["layer0.add1"] == {"layer0.attn.proj", "patch_embed"}
    assert ops["layer1.add2"] == {"layer1.mlp.fc2", "layer1.add1"}
    assert ops["head"] == {"norm"}


def test_not_onnx_file_is_one_line(tmp_path):
    pytest.importorskip("onnx")
    f = tmp_path / "model.onnx"
    f.write_text("patch: 16\n")
    with pytest.raises(HwsimError, match="model.onnx: not a readable ONNX model"):
        load_workload(str(f))


# ------------------------------------------------------------------------------------------- timm
def test_timm_vit_b16_is_the_zoo_vit_b16():
    pytest.importorskip("timm")
    imported, zoo = load_workload("timm:vit_base_patch16_224"), load_workload("vit-b16")
    assert [key(op) for op in imported] == [key(op) for op in zoo]
    assert imported.producers() == zoo.producers()        # the builder's data-flow graph is timm's
    assert imported.macs == zoo.macs == 17_563_828_224


@pytest.mark.parametrize("timm_name, zoo", [("resnet18", "resnet18"), ("deit_small_patch16_224", "deit-s16")])
def test_timm_data_flow_graph_is_the_zoo_builders(timm_name, zoo):
    """Shortcuts (ResNet's downsample reads the block input) and attention edges, traced from timm's forward pass,
    equal the ones the zoo's builders write by hand."""
    pytest.importorskip("timm")
    assert load_workload(f"timm:{timm_name}").producers() == load_workload(zoo).producers()


def test_timm_swin_t_is_the_zoo_swin_t():
    """Same GEMMs, softmaxes and LayerNorms (names differ in the stem; the zoo lists the patch-merging
    2x2 gathers as ops, the importer treats them as data movement)."""
    pytest.importorskip("timm")
    imported, zoo = load_workload("timm:swin_tiny_patch4_window7_224"), load_workload("swin-t")
    assert gemms(imported) == gemms(zoo)
    assert imported.macs == zoo.macs


@pytest.mark.parametrize("timm_name, zoo", TIMM_CASES)
def test_timm_macs_equal_torch_flop_counter_and_zoo(timm_name, zoo):
    pytest.importorskip("timm")
    assert load_workload(f"timm:{timm_name}").macs == flop_counter_macs(timm_name) == load_workload(zoo).macs


def test_timm_batch_and_image_size():
    pytest.importorskip("timm")
    w = load_workload("timm:vit_tiny_patch16_224", batch=2, image_size=384)
    ops = {op.name: op for op in w}
    assert ops["layer0.attn.qkv"].m == 2 * 577 and ops["layer0.attn.qk"].count == 2 * 3


def test_unknown_timm_name_lists_close_matches():
    pytest.importorskip("timm")
    with pytest.raises(HwsimError, match="unknown timm model 'vit_base_patch16_2244'; close matches: vit_base_patch16_224"):
        load_workload("timm:vit_base_patch16_2244")


@pytest.mark.slow
def test_onnx_export_of_timm_vit_b16_matches_the_zoo(tmp_path, request):
    """Exports the real (randomly initialised) ViT-B/16: ~30 s and a 350 MB file (run with -m slow)."""
    if "slow" not in (request.config.getoption("-m") or ""):
        pytest.skip("slow: exports a 350 MB ONNX file; run with -m slow")
    timm = pytest.importorskip("timm")
    pytest.importorskip("onnx")
    import torch
    f = tmp_path / "vit_b16.onnx"
    torch.onnx.export(timm.create_model("vit_base_patch16_224").eval(), (torch.zeros(1, 3, 224, 224),), str(f),
                      dynamo=False, opset_version=17)
    w = load_workload(str(f))
    assert [key(op) for op in w] == [key(op) for op in load_workload("vit-b16")]


def test_onnx_export_of_timm_resnet18_matches_the_zoo(tmp_path):
    """Conv, BatchNorm, ReLU, MaxPool, GlobalAveragePool and Gemm nodes: same GEMMs and MACs as the zoo's
    resnet18 (1,814,073,344 MACs)."""
    timm = pytest.importorskip("timm")
    pytest.importorskip("onnx")
    import torch
    f = tmp_path / "resnet18.onnx"
    torch.onnx.export(timm.create_model("resnet18").eval(), (torch.zeros(1, 3, 224, 224),), str(f),
                      dynamo=False, opset_version=17)
    w, zoo = load_workload(str(f)), load_workload("resnet18")
    assert w.macs == zoo.macs == 1_814_073_344
    convs = lambda wl: sorted(key(op, names=False) for op in wl if isinstance(op, (Conv2d, MatMul)))  # noqa: E731
    assert convs(w) == convs(zoo)
