"""The hierarchical form of a model spec: a stem, stages of blocks, downsampling between stages and
a classifier head, so windowed/hierarchical ViTs (Swin, LITv2) and CNNs (ResNet, VGG, AlexNet) are
plain YAML. A spec with a ``stages`` field is read by :func:`net_from_dict`.

```yaml
image_size: 224
stem:                                   # layers applied in order to the image
  - {conv: 96, kernel: 4, stride: 4, norm: layernorm}
stages:                                 # each: [downsample], then `depth` blocks
  - {block: transformer, depth: 2, dim: 96, heads: 3, window: 7}
  - {downsample: patch_merge, block: transformer, depth: 2, dim: 192, heads: 6, window: 7}
head: {norm: layernorm, pool: avg}      # then the classifier (num_classes)
```

Blocks: ``transformer`` (pre-norm attention of any kind + MLP; ``window`` = Swin window attention,
``attention: hilo`` = LITv2 HiLo, ``mlp: dwmlp`` = LITv2's MLP with a 3x3 depthwise conv),
``mlp_only`` (LITv2's early stages: LN + MLP), ``basic`` / ``bottleneck`` (ResNet, He et al. CVPR 2016,
Table 1), ``conv`` (plain conv + norm + ReLU layers, VGG/AlexNet). Downsampling before a stage:
``patch_merge`` (Swin: 2x2 neighbours concatenated, LN(4C), linear 4C -> dim), ``dtm`` (LITv2's
deformable token merging: 2x2 stride-2 deformable conv + BN + GELU), ``conv`` (a strided conv), or
``maxpool``; CNN stages downsample with ``stride`` on their first block. ``pool`` after a stage:
max/avg pooling (VGG, AlexNet). Layers are numbered across stages (``layer0`` .. ``layer{N-1}``).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from hwsim.config import build, field
from hwsim.errors import ConfigError
from hwsim.workload import features as F
from hwsim.workload.blocks import Emitter, NumericsMixin
from hwsim.workload.ops import GELU_VARIANTS, Pool

BLOCKS = ("transformer", "mlp_only", "basic", "bottleneck", "conv", "convshare")
DOWNSAMPLES = ("none", "patch_merge", "dtm", "conv", "maxpool", "patchify")
NORMS = ("none", "layernorm", "batchnorm")
ACTS = ("none", "relu", "gelu")


@dataclass(frozen=True, kw_only=True)
class StemLayer:
    """One stem layer: a convolution (``conv`` = output channels) or a pooling (``pool`` = max/avg)."""
    conv: int | None = field(None, positive=True, doc="output channels of a conv layer")
    pool: str | None = field(None, choices=("max", "avg"))
    kernel: int = field(positive=True)
    stride: int = field(1, positive=True)
    padding: int = field(0, min=0)
    norm: str = field("none", choices=NORMS)
    act: str = field("none", choices=ACTS)
    same: bool = field(False, doc="PyTorch padding='same' at stride 1 (overrides padding)")


@dataclass(frozen=True, kw_only=True)
class StageSpec:
    block: str = field("transformer", choices=BLOCKS)
    depth: int = field(positive=True)
    dim: int = field(positive=True, doc="output channels / embedding width of the stage")
    heads: int | None = field(None, positive=True)
    mlp_ratio: float = field(4.0, positive=True)
    mlp: str = field("mlp", choices=("mlp", "dwmlp"))
    attention: str | tuple = field("softmax", doc="attention kind, or per block a kind or a list per head")
    window: int | None = field(None, positive=True, doc="Swin window edge, tokens (None = global attention)")
    hilo_alpha: float = field(0.9, min=0)
    hilo_window: int = field(2, positive=True)
    downsample: str = field("none", choices=DOWNSAMPLES)
    down_kernel: int = field(2, positive=True, doc="downsample conv/pool kernel")
    down_stride: int = field(2, positive=True)
    stride: int = field(1, positive=True, doc="conv blocks: stride of the first block")
    kernel: int = field(3, positive=True, doc="conv blocks: kernel edge")
    padding: int | None = field(None, min=0, doc="conv blocks: padding (default kernel // 2)")
    same: bool = field(False, doc="conv blocks: PyTorch padding='same' (an even kernel pads one more after)")
    norm: str = field("batchnorm", choices=NORMS, doc="conv blocks: normalisation after each conv")
    pool: str | None = field(None, choices=("max", "avg"), doc="pooling after the stage")
    pool_kernel: int = field(2, positive=True)
    pool_stride: int = field(2, positive=True)


@dataclass(frozen=True, kw_only=True)
class HeadSpec:
    norm: str = field("none", choices=NORMS, doc="normalisation before pooling")
    pool: str = field("avg", choices=("avg", "max", "none"), doc="global pooling (none = flatten)")
    fc: tuple = field((), doc="hidden widths of the classifier MLP (ReLU between), e.g. [4096, 4096]")


@dataclass(frozen=True, kw_only=True)
class NetSpec(NumericsMixin):
    name: str
    image_size: int = field(224, positive=True)
    in_chans: int = field(3, positive=True)
    num_classes: int = field(1000, min=0)
    batch: int = field(1, positive=True)
    stem: tuple = field((), doc="stem layers")
    stages: tuple = field((), doc="stages of blocks")
    head: HeadSpec = HeadSpec()
    precision: dict | None = field(None)
    layer_precision: dict | None = field(None)
    arith: dict | None = field(None)
    layer_arith: dict | None = field(None)
    integer_only: bool = field(False)
    gelu: str = field("gelu", choices=GELU_VARIANTS)
    source: str = ""
    spec_file: str = ""

    @property
    def depth(self) -> int:
        """Blocks over all stages."""
        return sum(s.depth for s in self.stages)

    # Summary numbers shared with ModelSpec (``hwsim models`` prints them for every zoo entry).
    @property
    def patch(self) -> int:
        """Stride of the stem (the patch edge of a patch-embedding stem), pixels."""
        stride = 1
        for st in self.stem:
            stride *= st.stride
        return stride

    @property
    def dim(self) -> int:
        """Width of the first stage."""
        return self.stages[0].dim if self.stages else self.in_chans

    @property
    def heads(self) -> int:
        """Heads of the first stage with attention (0 for a CNN)."""
        return next((s.heads for s in self.stages if s.block in ("transformer", "convshare") and s.heads), 0)

    @property
    def tokens(self) -> int:
        """Tokens (pixels) entering the first stage: (image_size / stem stride)^2."""
        return (self.image_size // self.patch) ** 2


def net_from_dict(data: dict, source: str) -> NetSpec:
    """Build and validate a :class:`NetSpec`; all problems are collected into one ConfigError."""
    problems: list[str] = []
    data = dict(data)
    raw_stem, raw_stages, raw_head = data.pop("stem", ()), data.pop("stages"), data.pop("head", None)

    def nested(cls, raw, label):
        if not isinstance(raw, dict):
            problems.append(f"field '{label}' = {raw!r}: expected a mapping")
            return None
        try:
            return build(cls, raw, source)
        except ConfigError as exc:
            problems.extend(F.prefix_problems(exc.problems, label))
            return None

    if not isinstance(raw_stages, list) or not raw_stages:
        problems.append("field 'stages': expected a non-empty list of stages")
        raw_stages = []
    stem = [nested(StemLayer, s, f"stem[{i}]") for i, s in enumerate(raw_stem or ())]
    stages = [nested(StageSpec, s, f"stages[{i}]") for i, s in enumerate(raw_stages)]
    head = nested(HeadSpec, raw_head, "head") if raw_head is not None else HeadSpec()
    data.setdefault("spec_file", source)
    try:
        net = build(NetSpec, data, source, ignore=("stem", "stages", "head"))
    except ConfigError as exc:
        raise ConfigError(source, exc.problems + problems) from None
    for i, s in enumerate(stem):
        if s is not None and (s.conv is None) == (s.pool is None):
            problems.append(f"field 'stem[{i}]': give exactly one of conv (channels) or pool (max/avg)")
    depth = sum(s.depth for s in stages if s is not None)
    for i, s in enumerate(stages):
        if s is None:
            continue
        if s.block == "convshare":
            if s.heads is None or s.dim % s.heads:
                problems.append(f"field 'stages[{i}].heads' = {s.heads}: convshare blocks need heads dividing dim ({s.dim})")
        if s.block == "transformer":
            if s.heads is None:
                problems.append(f"field 'stages[{i}].heads': required for transformer blocks")
            elif s.dim % s.heads:
                problems.append(f"field 'stages[{i}].heads' = {s.heads}: must divide dim ({s.dim})")
            else:
                F.check_attention(s.attention, s.depth, s.heads, problems)
    F.check_bits_map(net.precision, "precision", problems)
    F.check_layer_maps(net.layer_precision, depth, "layer_precision", F.check_bits_map, problems)
    F.check_arith_map(net.arith, "arith", problems)
    F.check_layer_maps(net.layer_arith, depth, "layer_arith", F.check_arith_map, problems)
    if problems:
        raise ConfigError(source, problems)
    return dataclasses.replace(net, stem=tuple(stem), stages=tuple(stages), head=head)


def build_net(spec: NetSpec, task=None):
    """Ops of one inference of a hierarchical spec (see the module docstring). Shapes follow the
    PyTorch reference of each block: conv output edge (s + 2p - k) // stride + 1; token grids square."""
    from hwsim.workload.build import Workload
    b = spec.batch
    em = Emitter(spec, b)
    c, s = spec.in_chans, spec.image_size
    for j, st in enumerate(spec.stem):
        p = f"stem.{j}."
        if st.conv is not None:
            op = em.conv(p + "conv", None, "stem", c, st.conv, s, st.kernel, stride=st.stride,
                         out=_after(st.norm, st.act), role="patch_embed" if j == 0 else "",
                         **(_same(st.kernel) if st.same else dict(padding=st.padding)))
            c, s = st.conv, op.out_h
            _norm_act(em, p, None, "stem", b * s * s, c, st.norm, st.act)
        else:
            s = _pool(em, p + "pool", None, "stem", c, s, st.pool, st.kernel, st.stride, st.padding)
    layer = 0
    for j, stg in enumerate(spec.stages):
        c, s = _downsample(em, f"stage{j}.downsample.", stg, c, s)
        kinds = (F.check_attention(stg.attention, stg.depth, stg.heads, []) if stg.block == "transformer" else None)
        for k in range(stg.depth):
            p = f"layer{layer}."
            if stg.block == "convshare":
                if c != stg.dim:
                    raise ConfigError(spec.spec_file, [f"field 'stages[{j}].dim' = {stg.dim}: the token maps entering "
                                                       f"have {c} values; patchify to dim first"])
                _convshare(em, p, layer, stg, c, s)
            elif stg.block in ("transformer", "mlp_only"):
                if c != stg.dim:
                    raise ConfigError(spec.spec_file, [f"field 'stages[{j}].dim' = {stg.dim}: the tokens entering have "
                                                       f"{c} channels; add a downsample (patch_merge, dtm, conv)"])
                _transformer(em, p, layer, stg, kinds[k] if kinds else None, s)
            elif stg.block == "conv":
                pad = _same(stg.kernel) if stg.same else \
                    dict(padding=stg.kernel // 2 if stg.padding is None else stg.padding)
                op = em.conv(p + "conv", layer, "conv", c, stg.dim, s, stg.kernel, stride=stg.stride if k == 0 else 1,
                             out=_after(stg.norm, "relu"), **pad)
                c, s = stg.dim, op.out_h
                _norm_act(em, p, layer, "conv", b * s * s, c, stg.norm, "relu")
            else:
                c, s = _resnet_block(em, p, layer, stg, c, s, stg.stride if k == 0 else 1)
            layer += 1
        if stg.pool:
            s = _pool(em, f"stage{j}.pool", None, "pool", c, s, stg.pool, stg.pool_kernel, stg.pool_stride, 0)
    h = spec.head
    if h.norm != "none":
        em.norm("norm", None, "norm", b * s * s, c, norm=h.norm, out=("eltwise", ""))
    width = c * s * s
    if h.pool != "none" and s > 1:
        em.ops.append(Pool(name="pool", channels=c, in_h=s, in_w=s, kernel=s, stride=s, n=b * c * s * s, op=h.pool,
                           count=1, block="head", bits=spec.bits("eltwise"), out_bits=spec.bits("matmul", "head"),
                           reads=em.last))
        width = c
    elif h.pool != "none":
        width = c
    for i, hidden in enumerate(h.fc):
        em.linear(f"head.fc{i}", "head", None, "head", b, width, hidden, out=("eltwise", ""))
        em.eltwise(f"head.relu{i}", None, "head", b * hidden, op="relu", out=("matmul", "head"))
        width = hidden
    if spec.num_classes:
        em.linear("head", "head", None, "head", b, width, spec.num_classes, out=("matmul", "head"))
    return Workload(model=spec.name, ops=tuple(em.ops), batch=b)


def _after(norm: str, act: str) -> tuple:
    return ("layernorm", "") if norm == "layernorm" else ("eltwise", "") if norm == "batchnorm" or act == "relu" \
        else ("gelu", "") if act == "gelu" else ("matmul", "")


def _norm_act(em: Emitter, p: str, layer, block: str, rows: int, c: int, norm: str, act: str):
    if norm != "none":
        em.norm(p + ("ln" if norm == "layernorm" else "bn"), layer, block, rows, c, norm=norm,
                out=("eltwise", "") if act == "relu" else ("gelu", "") if act == "gelu" else ("matmul", ""))
    if act == "relu":
        em.eltwise(p + "relu", layer, block, rows * c, op="relu", out=("matmul", ""))
    elif act == "gelu":
        em.act(p + "gelu", layer, block, rows * c, out=("matmul", ""))


def _pool(em: Emitter, name: str, layer, block: str, c: int, s: int, kind: str, k: int, stride: int, pad: int) -> int:
    op = Pool(name=name, channels=c, in_h=s, in_w=s, kernel=k, stride=stride, padding=pad, n=0, op=kind,
              layer=layer, block=block, reads=em.last)
    n = em.b * c * op.out_h * op.out_w * k * k
    em.ops.append(dataclasses.replace(op, n=n, bits=em.spec.bits("eltwise", "", layer),
                                      out_bits=em.spec.bits("matmul", "", layer)))
    return op.out_h


def _downsample(em: Emitter, p: str, stg: StageSpec, c: int, s: int) -> tuple[int, int]:
    b = em.b
    if stg.downsample == "patch_merge":
        # Swin PatchMerging (Liu et al. ICCV 2021, Sec. 3.1; timm swin_transformer.py): 2x2 concat, LN(4C), 4C -> dim
        s2 = s // 2
        em.eltwise(p + "concat", None, "downsample", b * s2 * s2 * 4 * c, op="gather", out=("layernorm", ""))
        em.norm(p + "norm", None, "downsample", b * s2 * s2, 4 * c, out=("matmul", ""))
        em.linear(p + "reduction", "", None, "downsample", b * s2 * s2, 4 * c, stg.dim, out=("layernorm", ""))
        return stg.dim, s2
    if stg.downsample == "dtm":
        # LITv2 DTM (code ziplab/LITv2 classification/models/patch_embed.py class DTM): offsets from a 2x2
        # stride-2 conv (DeformConv2dPack: 2 * k * k = 8 offset channels), bilinear sampling of 4 taps per
        # kernel point, the 2x2 stride-2 deformable conv C -> 2C, BatchNorm, GELU
        x = em.last
        off = em.conv(p + "offset", None, "downsample", c, 2 * 2 * 2, s, 2, stride=2, out=("eltwise", ""))
        so = off.out_h
        em.eltwise(p + "sample", None, "downsample", b * so * so * 4 * c * 4, op="bilinear", out=("matmul", ""),
                   reads=(off.name,) + x)
        em.conv(p + "dconv", None, "downsample", c, stg.dim, s, 2, stride=2, out=("eltwise", ""))
        em.norm(p + "bn", None, "downsample", b * so * so, stg.dim, norm="batchnorm", out=("gelu", ""))
        em.act(p + "gelu", None, "downsample", b * so * so * stg.dim, variant="gelu", out=("layernorm", ""))
        return stg.dim, so
    if stg.downsample == "conv":
        op = em.conv(p + "conv", None, "downsample", c, stg.dim, s, stg.down_kernel, stride=stg.down_stride,
                     out=("layernorm", ""))
        return stg.dim, op.out_h
    if stg.downsample == "maxpool":
        return c, _pool(em, p + "pool", None, "downsample", c, s, "max", stg.down_kernel, stg.down_stride, 0)
    if stg.downsample == "patchify":
        # non-overlapping down_kernel x down_kernel patches become tokens of c * down_kernel^2 values, a reshape
        # (no op): FCSA / ConvShareViT's token maps (riadibadulla/FCSA ConvolutionalTransformer.py @ 90ca4b5)
        if s % stg.down_kernel:
            raise ConfigError(em.spec.spec_file, [f"field 'down_kernel' = {stg.down_kernel}: must divide the {s}x{s} map"])
        return c * stg.down_kernel ** 2, s // stg.down_kernel
    return c, s


def _same(kernel: int) -> dict:
    """Padding of PyTorch ``padding='same'`` at stride 1: (k - 1) // 2 before, the rest after."""
    return dict(padding=(kernel - 1) // 2, pad_end=kernel - 1 - (kernel - 1) // 2)


def _convshare(em: Emitter, p: str, layer: int, stg: StageSpec, c: int, s: int):
    """A ConvShareViT encoder block (Ibadulla et al., arXiv 2504.11517; the token-map layout of their FCSA code,
    riadibadulla/FCSA ConvolutionalTransformer.py @ 90ca4b5): the s x s patch tokens plus a class token are
    T = s^2 + 1 channels, each a sqrt(dim) x sqrt(dim) map. q, k, v, the output projection and the two MLP
    layers are depthwise convs (``kernel``, padding 'same') whose one kernel is shared by every token map
    (``attention='shared_dwconv'``; the MLP's ``mlp_ratio`` = m is a channel multiplier: fc1 T -> m T with m
    shared kernels, fc2 m T -> T). Electronic: LayerNorm over each token's map, per head (dim / heads values)
    Q.K^T, softmax and A.V, GELU, the two residual adds. Which details are assumptions: docs/optical4f.md."""
    b, d, heads = em.b, stg.dim, stg.heads
    side = int(round(d ** 0.5))
    if side * side != d:
        raise ConfigError(em.spec.spec_file, [f"field 'dim' = {d}: a convshare block needs a square token map"])
    m = int(stg.mlp_ratio)
    if m != stg.mlp_ratio:
        raise ConfigError(em.spec.spec_file, [f"field 'mlp_ratio' = {stg.mlp_ratio}: convshare needs an integer channel multiplier"])
    t = s * s + 1
    k = stg.kernel
    conv = dict(groups=t, attention="shared_dwconv", **_same(k))
    x = em.last
    em.norm(p + "ln1", layer, "attn", b * t, d, out=("matmul", "qkv"))
    for r in ("q", "k", "v"):
        em.conv(f"{p}attn.{r}", layer, "attn", t, t, side, k, role="qkv", out=("matmul", "qk"), reads=(p + "ln1",),
                **conv)
    em.attn_core(p + "attn.", layer, "softmax", t, t, d // heads, b * heads, q=(p + "attn.q",), k=(p + "attn.k",),
                 v=(p + "attn.v",))
    em.conv(p + "attn.proj", layer, "attn", t, t, side, k, role="proj", out=("eltwise", ""), **conv)
    em.eltwise(p + "add1", layer, "attn", b * t * d, reads=em.last + x)
    x = em.last
    em.norm(p + "ln2", layer, "mlp", b * t, d, out=("matmul", "fc1"))
    em.conv(p + "mlp.fc1", layer, "mlp", t, m * t, side, k, role="fc1", out=("gelu", ""), **conv)
    em.act(p + "mlp.gelu", layer, "mlp", b * m * t * d)
    em.conv(p + "mlp.fc2", layer, "mlp", m * t, t, side, k, role="fc2", out=("eltwise", ""), **conv)
    em.eltwise(p + "add2", layer, "mlp", b * t * d, reads=em.last + x)


def _transformer(em: Emitter, p: str, layer: int, stg: StageSpec, kinds, s: int):
    b, d, t = em.b, stg.dim, s * s
    hidden = int(round(d * stg.mlp_ratio))
    x = em.last
    if stg.block == "transformer":
        em.norm(p + "ln1", layer, "attn", b * t, d, out=("matmul", "qkv"))
        window = stg.window if stg.window and stg.window < s else None   # Swin: window >= grid -> global
        attn = em.attention(p + "attn.", layer, t, d, stg.heads, kinds, window=window,
                            hilo=(stg.hilo_alpha, stg.hilo_window))
        em.eltwise(p + "add1", layer, "attn", b * t * d, reads=attn + x)
        x = em.last
    em.norm(p + "ln2", layer, "mlp", b * t, d, out=("matmul", "fc1"))
    mlp = em.mlp(p + "mlp.", layer, b * t, d, hidden, dwconv_side=s if stg.mlp == "dwmlp" else None)
    em.eltwise(p + "add2", layer, "mlp", b * t * d, reads=mlp + x)


def _resnet_block(em: Emitter, p: str, layer: int, stg: StageSpec, c: int, s: int, stride: int):
    """BasicBlock (3x3, 3x3) or Bottleneck (1x1, 3x3, 1x1 with 4x expansion: ``dim`` = output width,
    inner width dim / 4), BN after each conv, ReLU, identity or 1x1-conv+BN shortcut (torchvision
    resnet.py)."""
    b, d, kb = em.b, stg.dim, stg.kernel     # basic: kernel edge ``kernel`` (3 in ResNet; FatNet's 5 and 10)
    pad_b = _same(kb) if stg.same else dict(padding=kb // 2)
    convs = [(d, kb, stride, pad_b)] + [(d, kb, 1, pad_b)] if stg.block == "basic" else \
        [(d // 4, 1, 1, dict(padding=0)), (d // 4, 3, stride, dict(padding=1)), (d, 1, 1, dict(padding=0))]
    cin, sin = c, s
    x = em.last
    for i, (co, k, st, pad) in enumerate(convs):
        op = em.conv(f"{p}conv{i + 1}", layer, "conv", cin, co, sin, k, stride=st, out=("eltwise", ""), **pad)
        cin, sin = co, op.out_h
        last = i == len(convs) - 1
        _norm_act(em, f"{p}{i + 1}.", layer, "conv", b * sin * sin, co, "batchnorm", "none" if last else "relu")
    branch = em.last
    if stride != 1 or c != d:
        em.conv(p + "downsample", layer, "conv", c, d, s, 1, stride=stride, out=("eltwise", ""), reads=x)
        em.norm(p + "downsample.bn", layer, "conv", b * sin * sin, d, norm="batchnorm", out=("eltwise", ""))
        x = em.last
    em.eltwise(p + "add", layer, "conv", b * sin * sin * d, out=("eltwise", ""), reads=branch + x)
    em.eltwise(p + "relu", layer, "conv", b * sin * sin * d, op="relu", out=("matmul", ""))
    return d, sin


__all__ = ["NetSpec", "StageSpec", "StemLayer", "HeadSpec", "net_from_dict", "build_net"]
