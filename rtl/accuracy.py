"""Error of every golden model against float64 softmax/GELU (``hwsim rtl accuracy``).

GELU goldens are measured over their whole input space (every code of an 8- or 16-bit input; for
Edge-MoE's 32-bit Q10.22 words, every multiple of 2^-12 in [-8, 8)). Softmax goldens are measured
on synthetic attention-score rows of ViT's length 197: Gaussian logits (sigma 1 and 2.5, the
spread of trained ViT attention logits), plus peaked rows (one logit 6 above the rest, like
attention to the CLS token), quantised to each unit's input format. Metrics: max and mean absolute
error of the dequantised output, and for softmax the top-1 agreement with float softmax and the
mean KL divergence KL(float || unit), the unit's row floored at half its output LSB and
renormalised (an output of 0 means "below one LSB", not probability 0). Top-1 counts a tie for the
largest output as a miss unless the first of the tied indices is the float argmax.

Each row is one algorithm at its default parameters (``variant: reference``) or a documented
variant with one parameter changed. NumPy only.
"""
from __future__ import annotations

import math

import numpy as np

from rtl import golden as g

ROW_LEN = 197
SEED = 12


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))


def attention_scores(rows: int = 600, seed: int = SEED) -> np.ndarray:
    """Float logits (rows x 197): Gaussian sigma 1 and 2.5, and peaked rows, a third each."""
    rng = np.random.default_rng(seed)
    k = rows // 3
    peaked = rng.normal(0, 1.0, size=(k, ROW_LEN))
    peaked[np.arange(k), rng.integers(0, ROW_LEN, size=k)] += 6.0
    return np.concatenate([rng.normal(0, 1.0, size=(k, ROW_LEN)),
                           rng.normal(0, 2.5, size=(k, ROW_LEN)), peaked])


def _softmax_metrics(values, out_scale, logits) -> dict:
    ref = np.exp(logits - logits.max(-1, keepdims=True))
    ref /= ref.sum(-1, keepdims=True)
    p = values * out_scale
    err = np.abs(p - ref)
    q = np.maximum(p, out_scale / 2)
    q /= q.sum(-1, keepdims=True)
    kl = np.sum(ref * (np.log(ref) - np.log(q)), axis=-1)
    return {"max_abs": float(err.max()), "mean_abs": float(err.mean()),
            "top1": float((p.argmax(-1) == ref.argmax(-1)).mean()), "kl": float(kl.mean())}


def _gelu_metrics(values, out_scale, x) -> dict:
    err = np.abs(values * out_scale - _gelu(x))
    return {"max_abs": float(err.max()), "mean_abs": float(err.mean())}


def _quantise(x, scale, bits):
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return np.clip(np.round(x / scale), lo, hi).astype(np.int64)


def _softmax_rows():
    s8 = 2.0 ** -4
    yield "shiftmax", "reference", "in 8-bit, scale 2^-4, n 16", lambda z: g.shiftmax(_quantise(z, s8, 8), s8), s8, 8
    yield "ibert", "reference", "in 8-bit, scale 2^-4, exp16 scale 1/32767", \
        lambda z: g.ibert_softmax(_quantise(z, s8, 8), s8), s8, 8
    s16 = 2.0 ** -8
    yield "ibert", "fine input scale", "in 16-bit, scale 2^-8", \
        lambda z: g.ibert_softmax(_quantise(z, s16, 16), s16), s16, 16
    yield "edgemoe", "reference", "Q10.22, exp table 2^8", \
        lambda z: g.edgemoe_softmax(_quantise(z, 2.0 ** -22, 32)), 2.0 ** -22, 32
    yield "edgemoe", "exp table 2^10", "Q10.22, exp_lut_bits 10", \
        lambda z: g.edgemoe_softmax(_quantise(z, 2.0 ** -22, 32), exp_lut_bits=10), 2.0 ** -22, 32
    yield "lut", "reference", "in 8-bit, scale 2^-4, exp 15 bits, recip 2^8, out 8", \
        lambda z: g.lut_softmax(_quantise(z, s8, 8), s8), s8, 8
    yield "lut", "16-bit output", "in 8-bit, scale 2^-4, recip 2^10, out 16", \
        lambda z: g.lut_softmax(_quantise(z, s8, 8), s8, recip_bits=10, out_bits=16), s8, 8


def _gelu_rows():
    x8 = np.arange(-128, 128)
    x16 = np.arange(-2 ** 15, 2 ** 15)
    q22 = np.arange(-8 * 2 ** 10, 8 * 2 ** 10) << 12
    yield "shiftgelu", "reference", "in 8-bit, scale 2^-4, n 23", g.shiftgelu(x8[None, :], 2.0 ** -4), x8 / 16
    yield "shiftgelu", "n 20", "in 8-bit, scale 2^-4, n 20", g.shiftgelu(x8[None, :], 2.0 ** -4, n=20), x8 / 16
    yield "ibert", "reference", "in 16-bit, scale 2^-10", g.ibert_gelu(x16, 2.0 ** -10), x16 / 1024
    yield "ibert", "8-bit input", "in 8-bit, scale 2^-4", g.ibert_gelu(x8, 2.0 ** -4), x8 / 16
    yield "edgemoe", "reference", "Q10.22, 177-entry table", g.edgemoe_gelu(q22), q22 / 2 ** 22
    yield "pwl", "reference", "in 8-bit, scale 2^-4, 16 segments on [-4, 4)", g.pwl_gelu(x8, 2.0 ** -4), x8 / 16
    for seg in (16, 32):      # at 8 bits the output LSB (1/16) dominates; at 16 bits the segments do
        yield "pwl", f"16-bit input, {seg} segments", f"in 16-bit, scale 2^-10, {seg} segments on [-4, 4)", \
            g.pwl_gelu(x16, 2.0 ** -10, segments=seg, in_bits=16), x16 / 1024


def accuracy_table(rows: int = 600, seed: int = SEED) -> list[dict]:
    """One dict per (kind, algo, variant): parameters and error metrics against float64."""
    logits = attention_scores(rows, seed)
    table = []
    for algo, variant, params, fn, scale, bits in _softmax_rows():
        # the unit sees the logits quantised to its input format; compare with float softmax of those
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        seen = np.clip(np.round(logits / scale), lo, hi) * scale
        values, out_scale = fn(logits)
        table.append({"kind": "softmax", "algo": algo, "variant": variant, "params": params,
                      **_softmax_metrics(values, out_scale, seen)})
    for algo, variant, params, (values, out_scale), x in _gelu_rows():
        table.append({"kind": "gelu", "algo": algo, "variant": variant, "params": params,
                      **_gelu_metrics(np.ravel(values), out_scale, np.ravel(x))})
    return table


def format_markdown(table: list[dict]) -> str:
    """The table as Markdown (softmax rows carry top-1 and KL; GELU rows leave them empty)."""
    lines = ["| kind | algo | variant | parameters | max abs err | mean abs err | top-1 | KL |",
             "|---|---|---|---|---|---|---|---|"]
    for r in table:
        top1 = f"{r['top1']:.3f}" if "top1" in r else ""
        kl = f"{r['kl']:.2e}" if "kl" in r else ""
        lines.append(f"| {r['kind']} | {r['algo']} | {r['variant']} | {r['params']} | {r['max_abs']:.2e} | "
                     f"{r['mean_abs']:.2e} | {top1} | {kl} |")
    return "\n".join(lines)
