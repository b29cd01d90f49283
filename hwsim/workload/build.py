"""build_workload: ModelSpec -> Workload, the ordered ops of one inference."""
from __future__ import annotations

from dataclasses import dataclass

from hwsim.workload.ops import GELU, Conv2d, Eltwise, LayerNorm, MatMul, Op, Softmax
from hwsim.workload.spec import ModelSpec


@dataclass(frozen=True)
class Workload:
    """The ordered ops of one run of ``batch`` images."""
    model: str
    ops: tuple[Op, ...]
    batch: int = 1

    @property
    def macs(self) -> int:
        return sum(op.macs for op in self.ops)

    def __len__(self) -> int:
        return len(self.ops)

    def __iter__(self):
        return iter(self.ops)


def _layer_tokens(spec: ModelSpec, layer: int) -> int:
    if spec.token_keep is None:
        return spec.tokens
    return spec.extra_tokens + max(1, round(spec.patch_tokens * spec.token_keep[layer]))


def build_workload(spec: ModelSpec) -> Workload:
    """Ops of a standard pre-norm ViT (timm ``VisionTransformer``), batch ``spec.batch``.

    Per block: ln1, qkv, qk (per head), softmax, av (per head), proj, add1, ln2, fc1, gelu, fc2, add2.
    Weight GEMMs fold the batch into m; per-head GEMMs run ``heads * batch`` instances.
    """
    b, d, h = spec.batch, spec.dim, spec.heads
    dh, hid = d // h, spec.mlp_hidden
    mm, sm, ge, ln, ew = (spec.bits(c) for c in ("matmul", "softmax", "gelu", "layernorm", "eltwise"))
    g = spec.image_size
    ops: list[Op] = [Conv2d(name="patch_embed", in_ch=spec.in_chans, out_ch=d, in_h=g, in_w=g,
                            kernel=spec.patch, stride=spec.patch, count=b, bits=mm, out_bits=mm, block="embed")]
    for i in range(spec.depth):
        t = _layer_tokens(spec, i)
        p = f"layer{i}."
        at = dict(layer=i, block="attn")
        mlp = dict(layer=i, block="mlp")
        ops += [
            LayerNorm(name=p + "ln1", rows=b * t, width=d, bits=ln, out_bits=mm, **at),
            MatMul(name=p + "attn.qkv", m=b * t, k=d, n=3 * d, bits=mm, out_bits=mm, **at),
            MatMul(name=p + "attn.qk", m=t, k=dh, n=t, count=b * h, static_weights=False, bits=mm, out_bits=sm, **at),
            Softmax(name=p + "attn.softmax", rows=t, length=t, count=b * h, bits=sm, out_bits=mm, **at),
            MatMul(name=p + "attn.av", m=t, k=t, n=dh, count=b * h, static_weights=False, bits=mm, out_bits=mm, **at),
            MatMul(name=p + "attn.proj", m=b * t, k=d, n=d, bits=mm, out_bits=ew, **at),
            Eltwise(name=p + "add1", n=b * t * d, bits=ew, out_bits=ln, **at),
            LayerNorm(name=p + "ln2", rows=b * t, width=d, bits=ln, out_bits=mm, **mlp),
            MatMul(name=p + "mlp.fc1", m=b * t, k=d, n=hid, bits=mm, out_bits=ge, **mlp),
            GELU(name=p + "mlp.gelu", n=b * t * hid, bits=ge, out_bits=mm, **mlp),
            MatMul(name=p + "mlp.fc2", m=b * t, k=hid, n=d, bits=mm, out_bits=ew, **mlp),
            Eltwise(name=p + "add2", n=b * t * d, bits=ew, out_bits=ln, **mlp),
        ]
    t = _layer_tokens(spec, spec.depth - 1)
    ops.append(LayerNorm(name="norm", rows=b * t, width=d, bits=ln, out_bits=mm, block="norm"))
    if spec.num_classes:
        ops.append(MatMul(name="head", m=b, k=d, n=spec.num_classes, bits=mm, out_bits=mm, block="head"))
    return Workload(model=spec.name, ops=tuple(ops), batch=spec.batch)
