"""One frozen dataclass per op kind. Ops know their MACs and bytes, nothing about hardware.

``count`` is the number of independent instances (e.g. heads x batch for Q·K^T); sizes are
per instance. Bit widths: ``bits`` for operands, ``out_bits`` for results.
"""
from __future__ import annotations

from dataclasses import dataclass
from math import ceil


def _nbytes(elements: int, bits: int) -> int:
    return ceil(elements * bits / 8)


@dataclass(frozen=True, kw_only=True)
class Op:
    """Where an op sits is structure it carries, never parsed from ``name``: ``layer`` (block index in
    the network, None outside the blocks), ``block`` (the part of the layer: ``attn``, ``mlp``, ``moe``,
    ``norm``, ...). Reports group by these; backends may use them (e.g. which weights an op reads)."""
    name: str
    count: int = 1
    bits: int = 8
    out_bits: int = 8
    layer: int | None = None
    block: str = ""

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
    (shared by all instances), else an activation (e.g. K^T in Q·K^T, one per instance)."""
    m: int
    k: int
    n: int
    static_weights: bool = True

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
    (im2col): m = output pixels, k = in_ch * kernel^2 / groups, n = out_ch."""
    in_ch: int
    out_ch: int
    in_h: int
    in_w: int
    kernel: int
    stride: int = 1
    padding: int = 0
    groups: int = 1

    kind = "conv2d"

    @property
    def out_h(self) -> int:
        return (self.in_h + 2 * self.padding - self.kernel) // self.stride + 1

    @property
    def out_w(self) -> int:
        return (self.in_w + 2 * self.padding - self.kernel) // self.stride + 1

    def gemm(self) -> MatMul:
        """The im2col GEMM; grouped convolutions become ``groups`` instances."""
        return MatMul(name=self.name, m=self.out_h * self.out_w, k=self.in_ch // self.groups * self.kernel ** 2,
                      n=self.out_ch // self.groups, count=self.count * self.groups,
                      bits=self.bits, out_bits=self.out_bits, static_weights=True, layer=self.layer, block=self.block)

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
    """Softmax over rows of ``length`` elements; ``rows`` per instance."""
    rows: int
    length: int

    kind = "softmax"

    @property
    def elements(self) -> int:
        return self.rows * self.length * self.count


@dataclass(frozen=True, kw_only=True)
class GELU(Op):
    n: int

    kind = "gelu"

    @property
    def elements(self) -> int:
        return self.n * self.count


@dataclass(frozen=True, kw_only=True)
class LayerNorm(Op):
    rows: int
    width: int

    kind = "layernorm"

    @property
    def elements(self) -> int:
        return self.rows * self.width * self.count


@dataclass(frozen=True, kw_only=True)
class Eltwise(Op):
    """Element-wise op of ``n`` elements (``op``: add for residuals, mul, ...)."""
    n: int
    op: str = "add"

    kind = "eltwise"

    @property
    def elements(self) -> int:
        return self.n * self.count


VECTOR_KINDS = ("softmax", "gelu", "layernorm", "eltwise")
