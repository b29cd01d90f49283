"""Op emitters shared by the isotropic (:mod:`hwsim.workload.build`) and hierarchical
(:mod:`hwsim.workload.hier`) builders: attention of every kind, MLPs, MoE, token selection, exit
heads, convolutions. Each emitter appends ops to ``Emitter.ops`` and returns what the next block
needs (token counts). Every op names the ops it reads (``Op.reads``, the data-flow graph): by default the
op emitted just before it (a chain); emitters pass ``reads`` wherever an op reads anything else (Q.K^T
reads Q and K, A.V reads the probabilities and V, residual adds read the branch and the block input).
Shapes: ``rows`` = tokens x batch for weight GEMMs (batch folded into m),
per-head GEMMs run ``heads x batch`` (x windows) instances via ``count``.
"""
from __future__ import annotations

from math import ceil
from typing import Protocol

from hwsim.errors import HwsimError
from hwsim.workload.ops import (GELU, Conv2d, Eltwise, Gate, Gather, LayerNorm, MatMul, Op, Pool, Softmax,
                                TopK)


class Numerics(Protocol):
    integer_only: bool
    gelu: str

    def bits(self, op_class: str, role: str = "", layer: int | None = None) -> int: ...

    def gemm_arith(self, op_class: str, role: str, layer: int | None = None) -> str: ...


class NumericsMixin:
    """``bits`` / ``gemm_arith`` lookups for a spec with ``precision``, ``layer_precision``, ``arith``,
    ``layer_arith`` mappings: the layer's entry (role, then op class) wins over the model-wide one;
    8 bits and ``mul`` when nothing is given."""

    def bits(self, op_class: str, role: str = "", layer: int | None = None) -> int:
        maps = [(self.layer_precision or {}).get(layer, {})] if layer is not None else []
        for m in maps + [self.precision or {}]:
            for key in (role, op_class):
                if key and key in m:
                    return m[key]
        return 8

    def gemm_arith(self, op_class: str, role: str, layer: int | None = None) -> str:
        maps = [(self.layer_arith or {}).get(layer, {})] if layer is not None else []
        for m in maps + [self.arith or {}]:
            for key in (role, op_class):
                if key and key in m:
                    return m[key]
        return "mul"


def _square(tokens: int, what: str) -> int:
    side = int(round(tokens ** 0.5))
    if side * side != tokens:
        raise HwsimError(f"{what}: needs a square token grid, got {tokens} tokens")
    return side


class Emitter:
    """Accumulates ops with bits, arithmetic and the integer flag resolved from a spec."""

    def __init__(self, spec: Numerics, batch: int):
        self.spec, self.b, self.ops = spec, batch, []
        self.probs: tuple[str, ...] = ()    # the last attention's normalised scores (token selection reads them)
        self.keys: tuple[str, ...] = ()     # the op that produced its keys
        self.router = ""                    # the last MoE gate's top-k (a shared router's later layers read it)
        self.out: tuple[str, ...] = ()      # the ops whose outputs a token selection leaves as the tokens

    def reads(self, reads=None) -> tuple[str, ...]:
        """``reads`` as a tuple of op names, or by default the op emitted last (the input if none)."""
        if reads is None:
            return (self.ops[-1].name,) if self.ops else ()
        return tuple(dict.fromkeys(reads))

    @property
    def last(self) -> tuple[str, ...]:
        """The op emitted last, as a ``reads`` tuple."""
        return self.reads()

    # ---- primitives -------------------------------------------------------------------------
    def _bits(self, cls: str, role: str, layer) -> int:
        return self.spec.bits(cls, role, layer)

    def linear(self, name: str, role: str, layer, block: str, m: int, k: int, n: int, *, out: tuple,
               count: int = 1, static: bool = True, weight: str | None = None, cls=MatMul, reads=None, **kw) -> Op:
        """A GEMM; ``out`` = (op class, role) of the consumer, whose bits the result takes."""
        arith = kw.pop("arith", None) or self.spec.gemm_arith("matmul", role, layer)
        op = cls(name=name, m=m, k=k, n=n, count=count, static_weights=static, layer=layer, block=block,
                 bits=self._bits("matmul", role, layer), out_bits=self._bits(out[0], out[1], layer),
                 weight=(name if weight is None else weight) if static else "", arith=arith,
                 reads=self.reads(reads), **kw)
        self.ops.append(op)
        return op

    def conv(self, name: str, layer, block: str, in_ch: int, out_ch: int, hw: int, kernel: int, *, stride=1,
             padding=0, groups=1, out=("matmul", ""), weight: str | None = None, role="", count=None, reads=None,
             **kw) -> Conv2d:
        op = Conv2d(name=name, in_ch=in_ch, out_ch=out_ch, in_h=hw, in_w=hw, kernel=kernel, stride=stride,
                    padding=padding, groups=groups, count=self.b if count is None else count, layer=layer, block=block,
                    bits=self._bits("matmul", role, layer), out_bits=self._bits(out[0], out[1], layer),
                    weight=name if weight is None else weight, arith=self.spec.gemm_arith("conv2d", role, layer),
                    reads=self.reads(reads), **kw)
        self.ops.append(op)
        return op

    def norm(self, name: str, layer, block: str, rows: int, width: int, *, norm="layernorm", out=("matmul", ""),
             reads=None):
        """LayerNorm, or (``norm='batchnorm'``) the per-channel affine of an inference BatchNorm."""
        if norm == "batchnorm":
            self.eltwise(name, layer, block, rows * width, op="batchnorm", out=out, weight=name, reads=reads)
            return
        self.ops.append(LayerNorm(name=name, rows=rows, width=width, layer=layer, block=block,
                                  bits=self._bits("layernorm", "", layer), out_bits=self._bits(out[0], out[1], layer),
                                  integer=self.spec.integer_only, weight=name, reads=self.reads(reads)))

    def eltwise(self, name: str, layer, block: str, n: int, *, op="add", out=("layernorm", ""), cls=Eltwise,
                reads=None, **kw):
        self.ops.append(cls(name=name, n=n, op=op, layer=layer, block=block, bits=self._bits("eltwise", "", layer),
                            out_bits=self._bits(out[0], out[1], layer), reads=self.reads(reads), **kw))

    def act(self, name: str, layer, block: str, n: int, *, variant=None, out=("matmul", "fc2"), reads=None, **kw):
        variant = variant or ("shiftgelu" if self.spec.integer_only and self.spec.gelu == "gelu" else self.spec.gelu)
        self.ops.append(GELU(name=name, n=n, variant=variant, layer=layer, block=block,
                             bits=self._bits("gelu", "", layer), out_bits=self._bits(out[0], out[1], layer),
                             integer=self.spec.integer_only, reads=self.reads(reads), **kw))

    # ---- attention --------------------------------------------------------------------------
    def attn_core(self, p: str, layer, kind: str, tq: int, tkv: int, dh: int, count: int, head=None,
                  block: str = "attn", q=None, k=None, v=None) -> tuple[str, ...]:
        """Q·K^T, normalisation, A·V of ``count`` instances (heads x batch x windows) for one kind.
        linear: phi(Q)(phi(K)^T V) with the normaliser phi(Q)·sum phi(K) (Katharopoulos et al. 2020,
        Eq. 6), phi = elu + 1. ``q``, ``k``, ``v``: the ops producing Q, K and V (default: the op emitted
        last, e.g. a fused qkv projection). Returns the op whose output is the attention's result."""
        at = dict(layer=layer, block=block, head=head, attention=kind)
        sm = self._bits("softmax", "", layer)
        q, k, v = (self.reads(x) for x in (q, k, v))
        self.keys = k
        if kind == "linear":
            self.eltwise(p + "phi", layer, block, (tq + tkv) * dh * count, op="elu", out=("matmul", "qk"),
                         head=head, attention=kind, reads=q + k)
            self.linear(p + "kv", "qk", layer, block, dh, tkv, dh, count=count, static=False,
                        out=("matmul", "av"), head=head, attention=kind, reads=(p + "phi",) + v)
            self.linear(p + "qkv_lin", "av", layer, block, tq, dh, dh, count=count, static=False,
                        out=("eltwise", ""), head=head, attention=kind, reads=(p + "phi", p + "kv"))
            self.eltwise(p + "ksum", layer, block, tkv * dh * count, op="sum", out=("matmul", "av"),
                         head=head, attention=kind, reads=(p + "phi",))
            self.linear(p + "den", "av", layer, block, tq, dh, 1, count=count, static=False,
                        out=("eltwise", ""), head=head, attention=kind, reads=(p + "phi", p + "ksum"))
            self.eltwise(p + "div", layer, block, tq * dh * count, op="div", out=("matmul", "proj"),
                         head=head, attention=kind, reads=(p + "qkv_lin", p + "den"))
            self.probs = ()
            return (p + "div",)
        normalise_out = ("softmax", "") if kind != "scaling" else ("eltwise", "")
        self.linear(p + "qk", "qk", layer, block, tq, dh, tkv, count=count, static=False, out=normalise_out,
                    head=head, attention=kind, reads=q + k)
        if kind == "scaling":
            self.eltwise(p + "scale", layer, block, tq * tkv * count, op="scale", out=("matmul", "av"),
                         head=head, attention=kind)
        else:
            self.ops.append(Softmax(name=p + "softmax", rows=tq, length=tkv, count=count, attention=kind,
                                    bits=sm, out_bits=self._bits("matmul", "av", layer), reads=self.last,
                                    integer=self.spec.integer_only, **{k: v for k, v in at.items() if k != "attention"}))
        self.probs = self.last
        self.linear(p + "av", "av", layer, block, tq, tkv, dh, count=count, static=False,
                    out=("matmul", "proj"), head=head, attention=kind, reads=self.probs + v)
        return (p + "av",)

    def attention(self, p: str, layer, tokens: int, dim: int, heads: int, kinds: list[str], *,
                  extra_tokens: int = 0, window: int | None = None, hilo=(0.9, 2), dwconv_kernel: int = 3,
                  x=None) -> tuple[str, ...]:
        """Multi-head attention of ``tokens`` tokens per image (``p`` = ``layer3.attn.``), heads of
        possibly different kinds (grouped by kind, one op set per group with ``head`` = the group's
        head indices; names gain the kind only when a layer mixes kinds). ``window``: Swin-style
        window attention over a square grid (tokens split into (grid/window)^2 windows). ``x``: the ops
        producing its input (default: the op emitted last). Returns the ops producing its output."""
        b, dh = self.b, dim // heads
        x = self.reads(x)
        if "hilo" in kinds:
            if set(kinds) != {"hilo"}:
                raise HwsimError(f"{p}: hilo is a whole-layer attention kind (LITv2), not mixable per head")
            return self.hilo(p, layer, tokens - extra_tokens, dim, heads, *hilo, x=x)
        shared = "shared_dwconv" in kinds
        if shared and set(kinds) != {"shared_dwconv"}:
            raise HwsimError(f"{p}: shared_dwconv is a whole-layer attention kind (ConvShareViT), not mixable per head")
        if shared:
            side = _square(tokens - extra_tokens, f"{p} shared_dwconv")
            k = dwconv_kernel
            self.conv(p + "qkv", layer, "attn", dim, 3 * dim, side, k, padding=k // 2, groups=dim,
                      out=("matmul", "qk"), weight=p + "dwconv", role="qkv", attention="shared_dwconv", reads=x)
        else:
            self.linear(p + "qkv", "qkv", layer, "attn", b * tokens, dim, 3 * dim, out=("matmul", "qk"), reads=x)
        groups: dict[str, list[int]] = {}
        for h, kind in enumerate(kinds):
            groups.setdefault(kind, []).append(h)
        nwin, t = 1, tokens
        if window:
            side = _square(tokens, f"{p} window attention")
            if side % window:
                raise HwsimError(f"{p}: window {window} does not divide the {side}x{side} token grid")
            nwin, t = (side // window) ** 2, window * window
        heads_out, probs, qkv = (), (), (p + "qkv",)
        for kind, hs in groups.items():
            head = None if len(groups) == 1 else tuple(hs)
            q = p if len(groups) == 1 else f"{p}{kind}."
            heads_out += self.attn_core(q, layer, kind, t, t, dh, b * len(hs) * nwin, head=head, q=qkv, k=qkv, v=qkv)
            probs += self.probs
        self.probs = probs
        if shared:
            side = _square(tokens - extra_tokens, f"{p} shared_dwconv")
            self.conv(p + "proj", layer, "attn", dim, dim, side, dwconv_kernel, padding=dwconv_kernel // 2,
                      groups=dim, out=("eltwise", ""), weight=p + "dwconv", role="proj", attention="shared_dwconv",
                      reads=heads_out)
        else:
            self.linear(p + "proj", "proj", layer, "attn", b * tokens, dim, dim, out=("eltwise", ""), reads=heads_out)
        return (p + "proj",)

    def hilo(self, p: str, layer, tokens: int, dim: int, heads: int, alpha: float, ws: int, x=None) -> tuple[str, ...]:
        """LITv2 HiLo attention (Pan et al. NeurIPS 2022; code ziplab/LITv2
        ``classification/models/attentions.py`` class HiLo): l_heads = int(heads * alpha) Lo-Fi heads
        attend from every token to the ws x ws average-pooled map; the other heads attend within
        ws x ws windows; each branch has its own projections. ws = 1: all heads Lo-Fi, no pooling. ``x``: the
        ops producing its input. Returns the ops producing its output (each branch's projection)."""
        b, dh = self.b, dim // heads
        x, outs, probs = self.reads(x), (), ()
        side = _square(tokens, f"{p} hilo")
        l_heads = int(heads * alpha)
        h_heads = heads - l_heads
        if ws == 1:
            l_heads, h_heads = heads, 0
        l_dim, h_dim = l_heads * dh, h_heads * dh
        if h_heads:
            g = tuple(range(h_heads))
            nwin = (side // ws) ** 2
            self.linear(p + "hifi.qkv", "qkv", layer, "attn", b * tokens, dim, 3 * h_dim, out=("matmul", "qk"),
                        head=g, attention="hilo", reads=x)
            self.attn_core(p + "hifi.", layer, "hilo", ws * ws, ws * ws, dh, b * h_heads * nwin, head=g)
            probs += self.probs
            self.linear(p + "hifi.proj", "proj", layer, "attn", b * tokens, h_dim, h_dim, out=("eltwise", ""),
                        head=g, attention="hilo")
            outs += self.last
        if l_heads:
            g = tuple(range(h_heads, heads))
            kv_tokens = tokens
            if ws > 1:
                self.ops.append(Pool(name=p + "lofi.pool", channels=dim, in_h=side, in_w=side, kernel=ws, stride=ws,
                                     n=b * dim * tokens, op="avg", layer=layer, block="attn", head=g, attention="hilo",
                                     bits=self._bits("eltwise", "", layer), out_bits=self._bits("matmul", "qkv", layer),
                                     reads=x))
                kv_tokens = (side // ws) ** 2
            kv_in = (p + "lofi.pool",) if ws > 1 else x
            self.linear(p + "lofi.q", "qkv", layer, "attn", b * tokens, dim, l_dim, out=("matmul", "qk"),
                        head=g, attention="hilo", reads=x)
            self.linear(p + "lofi.kv", "qkv", layer, "attn", b * kv_tokens, dim, 2 * l_dim, out=("matmul", "qk"),
                        head=g, attention="hilo", reads=kv_in)
            kv = (p + "lofi.kv",)
            self.attn_core(p + "lofi.", layer, "hilo", tokens, kv_tokens, dh, b * l_heads, head=g,
                           q=(p + "lofi.q",), k=kv, v=kv)
            probs += self.probs
            self.linear(p + "lofi.proj", "proj", layer, "attn", b * tokens, l_dim, l_dim, out=("eltwise", ""),
                        head=g, attention="hilo")
            outs += self.last
        self.probs = probs
        return outs

    # ---- MLP, MoE ---------------------------------------------------------------------------
    def mlp(self, p: str, layer, rows: int, dim: int, hidden: int, *, block="mlp", dwconv_side: int | None = None,
            expert: int | None = None, arith: str | None = None, x=None) -> tuple[str, ...]:
        """fc1, (LITv2's depthwise 3x3 conv on the hidden map when ``dwconv_side``), activation, fc2. ``x``: the
        ops fc1 reads (default: the op emitted last). Returns fc2 as a ``reads`` tuple."""
        kw = dict(expert=expert) if expert is not None else {}
        self.linear(p + "fc1", "fc1", layer, block, rows, dim, hidden, out=("gelu", ""), arith=arith, reads=x, **kw)
        if dwconv_side:
            self.conv(p + "dwconv", layer, block, hidden, hidden, dwconv_side, 3, padding=1, groups=hidden,
                      out=("gelu", ""), count=rows // (dwconv_side * dwconv_side))
        self.act(p + "gelu", layer, block, rows * hidden, **kw)
        self.linear(p + "fc2", "fc2", layer, block, rows, hidden, dim, out=("eltwise", ""), arith=arith, **kw)
        return self.last

    def moe(self, p: str, layer: int, tokens: int, dim: int, hidden: int, moe, task: int | None,
            first_layer: int | None = None):
        """Gate, top-k, the experts that receive rows (their fc1/act/fc2 with m = their load), and the
        weighted combine. Image routing: the gate sees one mean token per image and each chosen expert
        processes all ``tokens`` tokens of its images (Daxberger et al. 2023, Sec. 3). The experts read the
        layer input (the op emitted last) and the router's top-k; the combine reads every expert and the top-k."""
        b, x = self.b, self.last
        image = moe.routing == "image"
        rows = b if image else b * tokens
        route_here = not moe.shared_router or first_layer in (None, layer)
        if image and route_here:
            self.eltwise(p + "pool", layer, "moe", b * tokens * dim, op="mean", out=("matmul", "gate"))
        gate_task = moe.task_index(task) if moe.routing == "task" else None   # one line if it is not a task
        gname = p + "gate"
        loads = moe.loads_for(rows, layer if route_here or first_layer is None else first_layer, gate_task)
        if moe.capacity_factor is not None and not image:
            cap = ceil(moe.capacity_factor * rows * moe.top_k / moe.experts)
            loads = [min(x, cap) for x in loads]
        if route_here:
            self._gate(gname, p, layer, rows, dim, moe, gate_task, loads)
        per_row = tokens if image else 1
        experts = ()
        for e, load in enumerate(loads):
            if load == 0:
                continue
            arith = moe.expert_arith[e] if moe.expert_arith else None
            experts += self.mlp(f"{p}expert{e}.", layer, load * per_row, dim, hidden, block="moe", expert=e,
                                arith=arith, x=x + (self.router,))
        self.eltwise(p + "combine", layer, "moe", sum(loads) * per_row * dim, op="muladd", out=("eltwise", ""),
                     reads=experts + (self.router,))
        return loads

    def _gate(self, gname, p, layer, rows, dim, moe, gate_task, loads=()):
        self.linear(gname, "gate", layer, "moe", rows, dim, moe.experts, out=("softmax", ""), cls=Gate,
                    top_k=moe.top_k, routing=moe.routing, task=gate_task, loads=tuple(loads),
                    weight=gname if gate_task is None else f"{p}gate.task{gate_task}")
        self.ops.append(Softmax(name=p + "gate.softmax", rows=rows, length=moe.experts, layer=layer, block="moe",
                                attention="",
                                bits=self._bits("softmax", "", layer), out_bits=self._bits("eltwise", "", layer),
                                integer=self.spec.integer_only, reads=self.last))
        self.ops.append(TopK(name=p + "gate.topk", rows=rows, length=moe.experts, k=moe.top_k,
                             n=rows * moe.experts, layer=layer, block="moe", reads=self.last,
                             bits=self._bits("eltwise", "", layer), out_bits=self._bits("eltwise", "", layer)))
        self.router = p + "gate.topk"

    # ---- token selection --------------------------------------------------------------------
    def evit(self, p: str, layer: int, tokens: int, extra: int, heads: int, dim: int, keep: float, x=None) -> int:
        """EViT selection after the attention of ``layer`` (code youweiliang/evit ``evit.py`` lines
        207-264): class-token attention averaged over heads, top-k of ceil(keep * (N - 1)), gather, and
        the inattentive tokens fused into one by an attention-weighted sum. ``x``: the ops producing the
        tokens (default: the op emitted last); the scores are the last attention's (``probs``). Returns the
        new token count; ``out`` names the ops producing the kept tokens."""
        b, others = self.b, tokens - extra
        x = self.out = self.reads(x)
        left = ceil(keep * others)
        if left >= others:
            return tokens
        sel = dict(out=("eltwise", ""))
        self.eltwise(p + "score", layer, "select", b * heads * others, op="mean", reads=self.probs, **sel)
        self.ops.append(TopK(name=p + "topk", rows=b, length=others, k=left, n=b * others, layer=layer, reads=self.last,
                             block="select", bits=self._bits("eltwise", "", layer), out_bits=self._bits("eltwise", "", layer)))
        self.eltwise(p + "gather", layer, "select", b * left * dim, op="gather", cls=Gather, reads=(p + "topk",) + x,
                     **sel)
        self.linear(p + "fuse", "select", layer, "select", 1, others - left, dim, count=b, static=False,
                    out=("layernorm", ""), reads=(p + "score", p + "topk") + x)
        self.out = (p + "gather", p + "fuse")
        return extra + left + 1

    def prune(self, p: str, layer: int, tokens: int, extra: int, heads: int, dim: int, r: int, x=None) -> int:
        """Drop the ``r`` least attentive patch tokens (PPT's pruning branch, Wu et al. 2023, Sec. 3.2):
        class-token attention score, top-k, gather. ``x``, the return value and ``out`` as :meth:`evit`."""
        b, others = self.b, tokens - extra
        x = self.out = self.reads(x)
        r = min(r, others - 1)
        if r <= 0:
            return tokens
        self.eltwise(p + "score", layer, "select", b * heads * others, op="mean", out=("eltwise", ""), reads=self.probs)
        self.ops.append(TopK(name=p + "topk", rows=b, length=others, k=others - r, n=b * others, layer=layer,
                             block="select", bits=self._bits("eltwise", "", layer), out_bits=self._bits("eltwise", "", layer),
                             reads=self.last))
        self.eltwise(p + "gather", layer, "select", b * (others - r) * dim, op="gather", cls=Gather, out=("eltwise", ""),
                     reads=(p + "topk",) + x)
        self.out = self.last
        return tokens - r

    def merge(self, p: str, layer: int, tokens: int, extra: int, dim: int, r: int, x=None) -> int:
        """ToMe bipartite soft matching (Bolya et al. ICLR 2023, Sec. 3; code facebookresearch/ToMe
        ``tome/merge.py``): patch tokens alternate into sets A and B, cosine similarity of their keys
        (A x B GEMM over the key width), best match per A token, top-r edges, and merge by a
        size-weighted scatter-add. r is capped at |A| (ToMe's ``min(r, (t - protected) // 2)``). The keys
        are the last attention's (``keys``); ``x``, the return value and ``out`` as :meth:`evit`."""
        b, others = self.b, tokens - extra
        x = self.out = self.reads(x)
        na, nb = ceil(others / 2), others // 2
        r = min(r, na, nb)
        if r <= 0:
            return tokens
        self.eltwise(p + "knorm", layer, "select", b * others * dim, op="l2norm", out=("matmul", "select"),
                     reads=self.keys)
        self.linear(p + "similarity", "select", layer, "select", na, dim, nb, count=b, static=False,
                    out=("eltwise", ""))
        self.eltwise(p + "argmax", layer, "select", b * na * nb, op="max", out=("eltwise", ""))
        self.ops.append(TopK(name=p + "topk", rows=b, length=na, k=r, n=b * na, layer=layer, block="select",
                             bits=self._bits("eltwise", "", layer), out_bits=self._bits("eltwise", "", layer),
                             reads=self.last))
        self.eltwise(p + "merge", layer, "select", b * r * dim, op="merge", cls=Gather, out=("eltwise", ""),
                     reads=(p + "topk",) + x)
        self.eltwise(p + "gather", layer, "select", b * (others - r) * dim, op="gather", cls=Gather, out=("eltwise", ""),
                     reads=(p + "topk",) + x)
        self.out = (p + "merge", p + "gather")
        return tokens - r
