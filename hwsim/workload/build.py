"""build_workload: ModelSpec -> Workload, the ordered ops of one inference."""
from __future__ import annotations

from dataclasses import dataclass, field

from hwsim.errors import HwsimError
from hwsim.workload.blocks import Emitter
from hwsim.workload.ops import Conv2d, Op
from hwsim.workload.spec import ModelSpec


@dataclass(frozen=True)
class ExitPoint:
    """An early exit: its head's ops are the workload ops whose ``block`` is ``exit`` and ``layer`` is
    ``layer``; ``probability`` = fraction of all images that leave here."""
    layer: int
    probability: float


@dataclass(frozen=True)
class Workload:
    """The ordered ops of one run of ``batch`` images.

    ``exits`` (early exit): an image that leaves at exit i runs every op up to and including that
    exit's head and nothing after. :meth:`run_probability` gives each op's probability of running;
    :func:`hwsim.workload.expected_cost` / :func:`worst_case_cost` turn per-op values (cycles,
    energy, ...) into the expected and worst-case totals. Without exits every op runs.
    """
    model: str
    ops: tuple[Op, ...]
    batch: int = 1
    exits: tuple[ExitPoint, ...] = field(default=())

    @property
    def macs(self) -> int:
        """All ops' MACs (the worst case when the workload has exits)."""
        return sum(op.macs for op in self.ops)

    def __len__(self) -> int:
        return len(self.ops)

    def __iter__(self):
        return iter(self.ops)

    def producers(self) -> tuple[tuple[int, ...] | None, ...]:
        """The data-flow graph: per op, the indices of the ops it reads (``Op.reads`` resolved, ascending), or
        None where the op does not say (it then depends on every op before it). A name refers to the latest
        op of that name before the reader. Raises HwsimError naming the op and the name when a read names no
        earlier op (a later op, itself, or nothing)."""
        latest: dict[str, int] = {}
        out: list[tuple[int, ...] | None] = []
        for i, op in enumerate(self.ops):
            if op.reads is None:
                out.append(None)
            else:
                missing = [r for r in op.reads if r not in latest]
                if missing:
                    raise HwsimError(f"workload {self.model}: op '{op.name}' reads '{missing[0]}', which is not an "
                                     f"op before it")
                out.append(tuple(sorted({latest[r] for r in op.reads})))
            latest[op.name] = i
        return tuple(out)

    def expert_loads(self) -> dict[int, dict[int, int]]:
        """{layer: {expert: rows}} of the MoE layers: the rows (tokens) each active expert's first GEMM
        processes, what an expert-by-expert backend (Edge-MoE's patch reordering) needs to know which
        experts' weights to fetch and for how many tokens. Experts that receive nothing are absent."""
        out: dict[int, dict[int, int]] = {}
        for op in self.ops:
            if op.expert is not None and op.name.endswith(".fc1") and op.layer is not None:
                out.setdefault(op.layer, {})[op.expert] = op.m
        return out

    def run_probability(self) -> tuple[float, ...]:
        """Per op, the probability that it runs for an image: 1 - (fraction that left at an exit
        whose head ends before the op). An exit head runs for every image that reaches it."""
        if not self.exits:
            return (1.0,) * len(self.ops)
        prob = {e.layer: e.probability for e in self.exits}
        left, out, last_exit_layer = 0.0, [], None
        for op in self.ops:
            if op.block == "exit":
                last_exit_layer = op.layer
            elif last_exit_layer is not None:
                left += prob.get(last_exit_layer, 0.0)
                last_exit_layer = None
            out.append(max(0.0, 1.0 - left))
        return tuple(out)


def _layer_tokens(spec: ModelSpec, layer: int) -> int:
    if spec.token_keep is None:
        return spec.tokens
    return spec.extra_tokens + max(1, round(spec.patch_tokens * spec.token_keep[layer]))


def build_workload(spec, task: int | None = None) -> Workload:
    """Ops of one inference of ``spec`` (batch ``spec.batch``).

    Isotropic ViT (timm ``VisionTransformer``, pre-norm). Per block: ln1, attention (qkv, per head
    group qk / normalisation / av, proj), add1, [token selection], ln2, MLP (fc1, gelu, fc2) or MoE
    (gate, experts, combine), add2, [exit head]. Weight GEMMs fold the batch into m; per-head GEMMs run
    ``heads * batch`` instances. ``task``: which task's gate an MoE with task routing uses (default 0).
    Hierarchical specs (:class:`hwsim.workload.hier.NetSpec`) go to their own builder.
    """
    if not isinstance(spec, ModelSpec):
        from hwsim.workload.hier import build_net
        return build_net(spec, task)
    b, d, h = spec.batch, spec.dim, spec.heads
    em = Emitter(spec, b)
    g = spec.image_size
    em.ops.append(Conv2d(name="patch_embed", in_ch=spec.in_chans, out_ch=d, in_h=g, in_w=spec.width, kernel=spec.patch,
                         stride=spec.patch, count=b, bits=spec.bits("matmul", "patch_embed"),
                         out_bits=spec.bits("matmul", "patch_embed"), block="embed", weight="patch_embed",
                         arith=spec.gemm_arith("conv2d", "patch_embed"), reads=()))
    x = ("patch_embed",)     # the ops producing the residual stream (the data-flow graph: Op.reads)
    kinds = spec.head_kinds()
    reduce = spec.token_reduction.resolve(spec.depth, []) if spec.token_reduction else {}
    moe_layers = spec.moe.check(spec.depth, []) if spec.moe else ()
    exits = dict(zip(spec.early_exit.check(spec.depth, []), spec.early_exit.probability)) if spec.early_exit else {}
    extra = spec.extra_tokens
    t = spec.tokens
    for i in range(spec.depth):
        if spec.token_keep is not None:
            t = _layer_tokens(spec, i)
        p = f"layer{i}."
        em.norm(p + "ln1", i, "attn", b * t, d, out=("matmul", "qkv"), reads=x)
        attn = em.attention(p + "attn.", i, t, d, h, kinds[i], extra_tokens=extra,
                            hilo=(spec.hilo_alpha, spec.hilo_window), dwconv_kernel=spec.dwconv_kernel)
        em.eltwise(p + "add1", i, "attn", b * t * d, reads=attn + x)
        x = em.last
        if i in reduce:
            action, amount = reduce[i]
            sp = p + "select."
            if action == "evit":
                t = em.evit(sp, i, t, extra, h, d, amount, x=x)
            elif action == "prune":
                t = em.prune(sp, i, t, extra, h, d, amount, x=x)
            else:
                t = em.merge(sp, i, t, extra, d, amount, x=x)
            x = em.out
        em.norm(p + "ln2", i, "mlp", b * t, d, out=("matmul", "fc1"), reads=x)
        if i in moe_layers:
            em.moe(p + "moe.", i, t, d, spec.moe.hidden or spec.mlp_hidden, spec.moe, task, first_layer=moe_layers[0])
            em.eltwise(p + "add2", i, "moe", b * t * d, reads=em.last + x)
        else:
            em.eltwise(p + "add2", i, "mlp", b * t * d, reads=em.mlp(p + "mlp.", i, b * t, d, spec.mlp_hidden) + x)
        x = em.last
        if i in exits:
            _exit_head(em, spec, i, t, sorted(exits).index(i), len(exits), x)
    if spec.final_norm:
        em.norm("norm", None, "norm", b * t, d, out=("matmul", "head"), reads=x)
        x = em.last
    if spec.num_classes:
        em.linear("head", "head", None, "head", b, d, spec.num_classes, out=("matmul", "head"), reads=x)
    return Workload(model=spec.name, ops=tuple(em.ops), batch=b,
                    exits=tuple(ExitPoint(layer, float(pr)) for layer, pr in sorted(exits.items())))


def _exit_head(em: Emitter, spec: ModelSpec, i: int, t: int, index: int, n_exits: int, x: tuple) -> None:
    """Exit head after layer ``i``. ``linear``: LayerNorm of the class token + classifier.
    ``lgvit`` (code lostsword/LGViT ``models/deit_highway/highway.py``, ``DeiTHighway_v2`` with the
    8-exit list of ``modeling_highway_deit.py`` lines 71-80): exits in the first half get the local
    perception head ``conv1_1`` / ``conv2_1`` (1x1 conv, GELU, BN, [3x3 depthwise, GELU, BN], 1x1 conv,
    BN, residual), the second half the global aggregation head (``GlobalSparseAttn``: stride-r
    subsampling, r = 2 then 3, 8 heads); then average pooling over patch tokens and the classifier on
    pooled + class token. ``x``: the ops producing the layer's output, which the head reads."""
    b, d, p = em.b, spec.dim, f"layer{i}.exit."
    patches = t - spec.extra_tokens
    if spec.early_exit.head == "lgvit":
        side = int(round(patches ** 0.5))
        quarter = max(1, n_exits // 4)
        if index < 2 * quarter:
            em.conv(p + "conv1", i, "exit", d, d, side, 1, out=("gelu", ""), reads=x)
            em.act(p + "gelu1", i, "exit", b * patches * d, variant="gelu", out=("layernorm", ""))
            em.norm(p + "bn1", i, "exit", b * patches, d, norm="batchnorm")
            if index < quarter:
                em.conv(p + "dwconv", i, "exit", d, d, side, 3, padding=1, groups=d, out=("gelu", ""))
                em.act(p + "gelu2", i, "exit", b * patches * d, variant="gelu", out=("layernorm", ""))
                em.norm(p + "bn2", i, "exit", b * patches, d, norm="batchnorm")
            em.conv(p + "conv2", i, "exit", d, d, side, 1, out=("layernorm", ""))
            em.norm(p + "bn3", i, "exit", b * patches, d, norm="batchnorm", out=("eltwise", ""))
            em.eltwise(p + "add", i, "exit", b * patches * d, out=("eltwise", ""), reads=em.last + x)
        else:
            r = 2 if index < 3 * quarter else 3
            sub = (-(-side // r)) ** 2   # AvgPool2d(1, r): ceil(side / r) per edge
            heads = 8                    # GlobalSparseAttn default num_heads (highway.py)
            em.linear(p + "qkv", "exit", i, "exit", b * sub, d, 3 * d, out=("matmul", "exit"), reads=x)
            em.attn_core(p, i, "softmax", sub, sub, d // heads, b * heads, block="exit")
            em.linear(p + "proj", "exit", i, "exit", b * sub, d, d, out=("eltwise", ""))
            patches = sub
        em.eltwise(p + "pool", i, "exit", b * patches * d, op="mean", out=("matmul", "exit"))
        em.linear(p + "head", "exit", i, "exit", b, d, spec.num_classes or 1, out=("matmul", "exit"),
                  reads=em.last + x)    # pooled patch tokens + the class token
        return
    em.norm(p + "norm", i, "exit", b, d, out=("matmul", "exit"), reads=x)
    em.linear(p + "head", "exit", i, "exit", b, d, spec.num_classes or 1, out=("matmul", "exit"))
