"""One frozen dataclass per op kind. Ops know their MACs and bytes, nothing about hardware.

``count`` is the number of independent instances (e.g. heads x batch for Q·K^T); sizes are
per instance. Bit widths: ``bits`` for operands, ``out_bits`` for results.

Backends dispatch on the op's *type* (``isinstance``), so the few op types added for the
workload techniques (:class:`TopK`, :class:`Gather`, :class:`Pool`, :class:`Gate`) subclass the
closest base type: a backend that knows only the base type costs them as that base type
(``TopK``/``Gather``/``Pool`` as an :class:`Eltwise` of ``n`` elements, ``Gate`` as a
:class:`MatMul`). A backend that knows the subclass can cost it better.

Fields a backend may use to tell techniques apart (all have defaults, so the original ViT ops
are unchanged):

===============  =============================================================================
field            meaning
===============  =============================================================================
``layer``        block index in the network (None outside the blocks: embed, norm, head)
``block``        part of the layer: ``attn``, ``mlp``, ``moe``, ``select``, ``exit``, ``conv``...
``head``         head index, or tuple of head indices of a head group; None = all heads
``expert``       expert index in an MoE layer; None if the op is not inside an expert
``weight``       name of the trained tensor the op reads ('' for activation-only ops); ops that
                 share a tensor (ConvShareViT's shared kernel) carry the same name
``integer``      the op runs integer-only arithmetic with dyadic scales (I-ViT), no float units
``attention``    attention kind of the attention op (see :data:`ATTENTION_KINDS`), '' elsewhere
``arith``        (MatMul/Conv2d) GEMM arithmetic: ``mul``, ``shift`` (power-of-two weights,
                 ShiftAddViT) or ``add`` (binary operands, add-only)
``variant``      (GELU) the activation function actually computed (:data:`GELU_VARIANTS`)
``reads``        names of the earlier ops whose outputs this op reads (its producers: the data-flow
                 graph); ``()`` = only the network input or constants; ``None`` (default) = not
                 known, the op depends on every op before it (program order). Structure, not cost:
                 left out of op equality and hashing, so ops that differ only in it cost the same
===============  =============================================================================
"""
from __future__ import annotations

from dataclasses import dataclass, field
from math import ceil

ATTENTION_KINDS = ("softmax", "relu_softmax", "scaling", "2quad", "linear", "hilo", "shared_dwconv")
"""Attention kinds (issue 11). softmax: exp(x)/sum exp; relu_softmax: relu(x)/sum relu(x) (MPCViT,
Zeng et al. ICCV 2023); scaling: x/N (MPCViT); 2quad: (x+c)^2/sum (MPCFormer, Li et al. ICLR 2023);
linear: phi(Q)(phi(K)^T V), O(N d^2) (Katharopoulos et al. ICML 2020, phi = elu+1); hilo: LITv2's
high-frequency window heads + low-frequency pooled heads (Pan et al. NeurIPS 2022); shared_dwconv:
ConvShareViT's depthwise convolution with one kernel shared across channels."""

GELU_VARIANTS = ("gelu", "quad", "relu", "shiftgelu")
"""gelu: the exact erf GELU; quad: MPCFormer's 0.125x^2 + 0.25x + 0.5 (Li et al. ICLR 2023, Sec. 3.2);
relu; shiftgelu: I-ViT's integer x*sigmoid(1.702x) with shift-exp (Li & Gu ICCV 2023, Sec. 3.3)."""

GEMM_ARITH = ("mul", "shift", "add")


def _nbytes(elements: int, bits: int) -> int:
    return ceil(elements * bits / 8)


@dataclass(frozen=True, kw_only=True)
class Op:
    """Where an op sits is structure it carries, never parsed from ``name`` (see module docstring)."""
    name: str
    count: int = 1
    bits: int = 8
    out_bits: int = 8
    layer: int | None = None
    block: str = ""
    head: int | tuple[int, ...] | None = None
    expert: int | None = None
    weight: str = ""
    integer: bool = False
    attention: str = ""
    reads: tuple[str, ...] | None = field(default=None, compare=False)

    kind = "op"

    @property
    def macs(self) -> int:
        """Multiply-accumulates (each counted once)."""
        return 0

    @property
    def elements(self) -> int:
        """Elements a vector unit processes (0 for GEMM-like ops)."""
        return 0

    @property
    def input_bytes(self) -> int:
        return _nbytes(self.elements, self.bits)

    @property
    def output_bytes(self) -> int:
        return _nbytes(self.elements, self.out_bits)

    @property
    def weight_bytes(self) -> int:
        return 0


@dataclass(frozen=True, kw_only=True)
class MatMul(Op):
    """(m x k) @ (k x n) per instance. ``static_weights``: the k x n operand is a trained weight
    (shared by all instances), else an activation (e.g. K^T in Q·K^T, one per instance).
    ``arith``: how the products are formed (``mul``; ``shift`` = power-of-two weights; ``add`` =
    binary operand, accumulation only), as ShiftAddViT (You et al. NeurIPS 2023) mixes them."""
    m: int
    k: int
    n: int
    static_weights: bool = True
    arith: str = "mul"

    kind = "matmul"

    @property
    def macs(self) -> int:
        return self.m * self.k * self.n * self.count

    @property
    def input_bytes(self) -> int:
        act = self.m * self.k * self.count
        if not self.static_weights:
            act += self.k * self.n * self.count
        return _nbytes(act, self.bits)

    @property
    def weight_bytes(self) -> int:
        return _nbytes(self.k * self.n, self.bits) if self.static_weights else 0

    @property
    def output_bytes(self) -> int:
        return _nbytes(self.m * self.n * self.count, self.out_bits)

    def gemm(self) -> "MatMul":
        return self


@dataclass(frozen=True, kw_only=True)
class Conv2d(Op):
    """2-D convolution (e.g. patch embedding: kernel = stride = patch). Lowered as a GEMM
    (im2col): m = output pixels, k = in_ch * kernel^2 / groups, n = out_ch / groups, ``groups``
    instances (depthwise: groups = in_ch = out_ch)."""
    in_ch: int
    out_ch: int
    in_h: int
    in_w: int
    kernel: int
    stride: int = 1
    padding: int = 0
    groups: int = 1
    arith: str = "mul"
    pad_end: int | None = None      # zeros after the map when they differ from ``padding`` (PyTorch
                                    # padding='same' with an even kernel puts the extra one after)

    kind = "conv2d"

    @property
    def out_h(self) -> int:
        end = self.padding if self.pad_end is None else self.pad_end
        return (self.in_h + self.padding + end - self.kernel) // self.stride + 1

    @property
    def out_w(self) -> int:
        end = self.padding if self.pad_end is None else self.pad_end
        return (self.in_w + self.padding + end - self.kernel) // self.stride + 1

    def gemm(self) -> MatMul:
        """The im2col GEMM; grouped convolutions become ``groups`` instances."""
        return MatMul(name=self.name, m=self.out_h * self.out_w, k=self.in_ch // self.groups * self.kernel ** 2,
                      n=self.out_ch // self.groups, count=self.count * self.groups,
                      bits=self.bits, out_bits=self.out_bits, static_weights=True, layer=self.layer, block=self.block,
                      head=self.head, expert=self.expert, weight=self.weight, integer=self.integer,
                      attention=self.attention, arith=self.arith)

    @property
    def macs(self) -> int:
        return self.gemm().macs

    @property
    def input_bytes(self) -> int:
        return _nbytes(self.in_ch * self.in_h * self.in_w * self.count, self.bits)

    @property
    def weight_bytes(self) -> int:
        return self.gemm().weight_bytes * self.groups

    @property
    def output_bytes(self) -> int:
        return _nbytes(self.out_ch * self.out_h * self.out_w * self.count, self.out_bits)


@dataclass(frozen=True, kw_only=True)
class Softmax(Op):
    """Row normalisation of attention scores over rows of ``length`` elements; ``rows`` per instance.
    ``attention`` says which normalisation: ``softmax`` (exp), ``relu_softmax`` (relu(x)/sum) or
    ``2quad`` ((x+c)^2/sum); ``hilo`` and ``shared_dwconv`` layers normalise with an exp softmax and
    carry their layer's kind; '' for a softmax outside attention (an MoE router). A backend that does
    not look at it costs all of them as a softmax."""
    rows: int
    length: int
    attention: str = "softmax"

    kind = "softmax"

    @property
    def elements(self) -> int:
        return self.rows * self.length * self.count


@dataclass(frozen=True, kw_only=True)
class GELU(Op):
    """Activation of ``n`` elements; ``variant`` in :data:`GELU_VARIANTS` (MLP activation of any kind,
    including ReLU in CNNs)."""
    n: int
    variant: str = "gelu"

    kind = "gelu"

    @property
    def elements(self) -> int:
        return self.n * self.count


@dataclass(frozen=True, kw_only=True)
class LayerNorm(Op):
    """LayerNorm over rows of ``width`` (an inference BatchNorm is a per-channel affine: an
    :class:`Eltwise` with ``op='batchnorm'``)."""
    rows: int
    width: int

    kind = "layernorm"

    @property
    def elements(self) -> int:
        return self.rows * self.width * self.count


@dataclass(frozen=True, kw_only=True)
class Eltwise(Op):
    """Element-wise op of ``n`` elements (``op``: add for residuals, mul, scale, max, mean, elu, ...)."""
    n: int
    op: str = "add"

    kind = "eltwise"

    @property
    def elements(self) -> int:
        return self.n * self.count


@dataclass(frozen=True, kw_only=True)
class TopK(Eltwise):
    """Select the ``k`` largest of ``length`` scores in each of ``rows`` rows (EViT's attentive tokens,
    ToMe's most similar pairs, an MoE router's experts). ``n`` = rows * length elements scanned, so a
    backend that only knows :class:`Eltwise` costs it as one pass over the scores."""
    rows: int
    length: int
    k: int
    op: str = "topk"


@dataclass(frozen=True, kw_only=True)
class Gather(Eltwise):
    """Move ``n`` elements selected by index (token gather after a selection, token merge by
    scatter-add: ``op='merge'``); costed as an :class:`Eltwise` of ``n`` elements by backends that do
    not know it."""
    op: str = "gather"


@dataclass(frozen=True, kw_only=True)
class Pool(Eltwise):
    """Max/average pooling of ``channels`` x ``in_h`` x ``in_w`` with a square ``kernel`` and ``stride``.
    ``n`` = elements read (output pixels x kernel^2 x channels); costed as that :class:`Eltwise`
    by backends that do not know it."""
    channels: int
    in_h: int
    in_w: int
    kernel: int
    stride: int
    padding: int = 0
    op: str = "max"

    @property
    def out_h(self) -> int:
        return (self.in_h + 2 * self.padding - self.kernel) // self.stride + 1

    @property
    def out_w(self) -> int:
        return (self.in_w + 2 * self.padding - self.kernel) // self.stride + 1


@dataclass(frozen=True, kw_only=True)
class Gate(MatMul):
    """An MoE router's logits: (m tokens or images x k=dim) @ (dim x n=experts). ``task``: the task
    whose gate this is (M^3ViT: one gate per task; None = the layer's only gate); ``routing``:
    ``token``, ``image`` or ``task``; ``top_k`` experts chosen per routed row. Costed as a MatMul
    by backends that do not know it."""
    top_k: int = 1
    routing: str = "token"
    task: int | None = None
    loads: tuple[int, ...] = ()      # rows each expert receives from this router (after any capacity cap)


VECTOR_KINDS = ("softmax", "gelu", "layernorm", "eltwise")
