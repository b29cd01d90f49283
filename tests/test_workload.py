"""Model zoo and workload: op shapes and MAC counts against published figures."""
import pytest

from hwsim.errors import ConfigError, UnknownName
from hwsim.workload import MatMul, Softmax, available_models, build_workload, load_model

ZOO = ["vit-ti16", "vit-s16", "vit-b16", "vit-l16", "vit-b32", "vit-h14", "deit-ti16", "deit-s16", "deit-b16"]


def test_zoo_names_are_exactly_available():
    assert set(ZOO) <= set(available_models())


# MACs against the published GFLOPs: tests/test_zoo.py (hwsim.workload.load.PUBLISHED_GMACS)


def test_vit_b16_ops_and_shapes():
    w = build_workload(load_model("vit-b16"))
    ops = {op.name: op for op in w}
    assert len(w) == 1 + 12 * 12 + 2
    assert ops["patch_embed"].gemm().m == 196 and ops["patch_embed"].gemm().k == 768
    qk = ops["layer0.attn.qk"]
    assert isinstance(qk, MatMul) and (qk.m, qk.k, qk.n, qk.count) == (197, 64, 197, 12) and not qk.static_weights
    assert isinstance(ops["layer3.attn.softmax"], Softmax) and ops["layer3.attn.softmax"].elements == 12 * 197 * 197
    assert (ops["layer11.mlp.fc1"].m, ops["layer11.mlp.fc1"].k, ops["layer11.mlp.fc1"].n) == (197, 768, 3072)
    assert ops["head"].n == 1000


def test_batch_and_image_size_overrides_scale_the_work():
    base = build_workload(load_model("deit-s16")).macs
    assert build_workload(load_model("deit-s16", batch=4)).macs == 4 * base
    big = load_model("deit-s16", image_size=384)
    assert big.tokens == 577 and build_workload(big).macs > 3 * base


def test_token_keep_reduces_tokens(tmp_path):
    f = tmp_path / "pruned.yaml"
    f.write_text("patch: 16\ndepth: 2\ndim: 64\nheads: 2\ntoken_keep: [1.0, 0.5]\n")
    w = build_workload(load_model(f))
    ops = {op.name: op for op in w}
    assert ops["layer0.attn.qkv"].m == 197 and ops["layer1.attn.qkv"].m == 1 + 98


def test_precision_sets_bits(tmp_path):
    f = tmp_path / "m.yaml"
    f.write_text("patch: 16\ndepth: 1\ndim: 64\nheads: 2\nprecision: {matmul: 4, softmax: 16}\n")
    ops = {op.name: op for op in build_workload(load_model(f))}
    assert ops["layer0.attn.qkv"].bits == 4 and ops["layer0.attn.softmax"].bits == 16


def test_unknown_model_lists_available():
    with pytest.raises(UnknownName, match="available: .*deit-b16, deit-s16"):
        load_model("vit-x99")


@pytest.mark.parametrize("text, message", [
    ("patch: 16\ndepth: 12\ndim: 768\nheads: 12\nfoo: 1\n", "unknown field 'foo'"),
    ("patch: 16\ndepth: twelve\ndim: 768\nheads: 12\n", "field 'depth' = 'twelve': expected integer"),
    ("patch: 16\ndepth: 0\ndim: 768\nheads: 12\n", "field 'depth' = 0: must be > 0"),
    ("patch: 16\ndepth: 12\ndim: 768\nheads: 7\n", "field 'heads' = 7: must divide dim"),
    ("depth: 12\ndim: 768\nheads: 12\n", "missing field 'patch'"),
    ("patch: 16\ndepth: 12\ndim: 768\nheads: 12\nprecision: {gemm: 8}\n", "precision.gemm"),
])
def test_model_yaml_errors_name_file_field_value(tmp_path, text, message):
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_model(f)
    assert str(f) in str(exc.value) and message in str(exc.value)
