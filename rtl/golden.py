"""Golden models: the exact integer algorithms of the softmax/GELU approximation units (NumPy only).

Every function takes an integer array and returns ``(values, out_scale)``: an int64 array and the
float scale such that ``values * out_scale`` approximates the float function. Softmax and ShiftGELU
work row-wise over the last axis. Each golden is the reference's own integer code, transcribed with
its arithmetic (int32 wrap-around, truncating or flooring division, shift semantics); the source
file is named in every docstring and constants carry their origin. ``rtl/`` units and ``sims/``
benches compare against these bit-for-bit; ``rtl.accuracy`` measures them against float64.

Contract signatures (called by other tools): ``shiftmax(q, scale)``, ``shiftgelu(q, scale)``,
``ibert_exp(q, scale)``, ``ibert_gelu(q, scale)``, ``edgemoe_gelu(x)``.
"""
from __future__ import annotations

import math

import numpy as np

INT32_MAX = 2 ** 31 - 1


# ------------------------------------------------------------------------------------------------
# Fixed-point helpers
# ------------------------------------------------------------------------------------------------
def wrap32(v) -> np.ndarray:
    """Two's-complement wrap-around to int32, returned as int64."""
    v = np.asarray(v, dtype=np.int64)
    return ((v + 2 ** 31) & 0xFFFFFFFF) - 2 ** 31


def trunc_div(a, b) -> np.ndarray:
    """C/TVM integer division: the quotient truncated toward zero (``b != 0``)."""
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    q = np.abs(a) // np.abs(b)
    return np.where((a < 0) != (b < 0), -q, q)


def shl32(v, shift) -> np.ndarray:
    """int32 ``v << shift``: low 32 bits kept; shift counts >= 32 give 0 (what the hardware does;
    C leaves them undefined). ``shift`` must be >= 0."""
    v, shift = np.asarray(v, dtype=np.int64), np.asarray(shift, dtype=np.int64)
    return np.where(shift >= 32, 0, wrap32(v << np.clip(shift, 0, 32)))


def _as_int(q, name: str = "q") -> np.ndarray:
    a = np.asarray(q)
    if a.dtype.kind not in "iub":
        if not np.all(np.equal(np.mod(a, 1), 0)):
            raise ValueError(f"{name} must hold integers, got dtype {a.dtype} with fractional values")
    return a.astype(np.int64)


def _check_scale(scale: float, name: str = "scale") -> float:
    if isinstance(scale, bool) or not isinstance(scale, (int, float, np.floating)) or not scale > 0:
        raise ValueError(f"{name} must be a positive number, not {scale!r}")
    return float(scale)


# ------------------------------------------------------------------------------------------------
# I-ViT (Li & Gu, ICCV 2023), integer deployment code: zkkli/I-ViT TVM_benchmark/models/layers.py
# ------------------------------------------------------------------------------------------------
def shiftmax_x0(scale: float) -> int:
    """``relay.const(-1.0 / input_scale - 1, "int32")``: float64, then truncation toward zero."""
    return int(np.float64(-1.0 / scale - 1).astype(np.int32))


def shift_exp(d, scale: float, n: int) -> np.ndarray:
    """I-ViT ``shift_exp(data, input_scale, n)`` in int32: ``exp(d·scale)`` at scale ``scale / 2^n``
    for d <= 0 (larger d give the formula's value, as the reference does).

    d·log2(e) ~ d + (d >> 1) - (d >> 4); x0 is the integer for -1.0 (log2 domain); clamp at n·x0;
    q = d / x0 (truncating, the power of two); r = d - q·x0; result ((r >> 1) - x0) << (n - q)."""
    d = wrap32(d)
    d = wrap32(d + (d >> 1) - (d >> 4))
    x0 = shiftmax_x0(scale)                       # <= -1 for every positive scale
    d = np.maximum(d, n * x0)
    q = trunc_div(d, x0)
    r = d - q * x0
    mant = wrap32((r >> 1) - x0)
    return shl32(mant, n - q)


def shiftmax(q, scale: float, n: int = 16):
    """I-ViT Shiftmax (``quantized_softmax``, n = 16) over the last axis: 8-bit output, scale 2^-7.

    Row max subtracted, ``shift_exp``, int32 row sum S, ``factor = (2^31 - 1) / S`` (truncating),
    output ``(factor·e) >> 24`` (in [0, 127]). The int32 sum wraps once a row's sum passes 2^31
    (each e <= -x0·2^n, e.g. 17·2^16 at scale 2^-4: rows of more than ~1900 equal elements), as
    in the reference."""
    scale = _check_scale(scale)
    x = wrap32(_as_int(q))
    d = x - x.max(axis=-1, keepdims=True)
    e = shift_exp(d, scale, n)
    s = wrap32(e.sum(axis=-1, keepdims=True))
    factor = trunc_div(INT32_MAX, np.where(s == 0, 1, s))
    factor = np.where(s == 0, 0, factor)
    return wrap32(factor * e) >> 24, 2.0 ** -7


def shiftgelu(q, scale: float, n: int = 23):
    """I-ViT ShiftGELU (``quantized_gelu``, n = 23): ``x·sigmoid(1.702x)`` with the sigmoid as
    ``e(x - m) / (e(x - m) + e(-m))``, m the row max over the last axis, shift-exp at scale
    ``1.702·scale``; ``factor = (2^31 - 1) / sum``, sigmoid ``(factor·e) >> 24``; out_scale
    ``scale / 2^7``. A zero sum (both exps shifted out) gives factor 0. ``n`` is a documented
    variant knob (the reference uses 23; a smaller n keeps the factor from collapsing)."""
    scale = _check_scale(scale)
    pre = wrap32(_as_int(q))
    mx = pre.max(axis=-1, keepdims=True)
    e = shift_exp(pre - mx, scale * 1.702, n)
    emax = shift_exp(-mx, scale * 1.702, n)
    tot = wrap32(e + emax)
    factor = np.where(tot == 0, 0, trunc_div(INT32_MAX, np.where(tot == 0, 1, tot)))
    sig = wrap32(factor * e) >> 24
    return pre * sig, scale / 2 ** 7


# ------------------------------------------------------------------------------------------------
# I-BERT (Kim et al., ICML 2021): kssteven418/I-BERT fairseq/quantization/utils/quant_modules.py
# ------------------------------------------------------------------------------------------------
IBERT_EXP_X0 = -0.6931                                   # IntSoftmax.x0 = -ln 2
IBERT_EXP_N = 30                                         # IntSoftmax.n
IBERT_EXP_COEF = (0.35815147, 0.96963238, 1.0)           # IntSoftmax.coef: a x^2 + b x + c
IBERT_GELU_K = 1.4142                                    # IntGELU.k
IBERT_GELU_N = 14                                        # IntGELU.n
IBERT_GELU_COEFF = (-0.2888, -1.769, 1.0)                # IntGELU.coeff: a (x + b)^2 + c


def ibert_exp_constants(scale: float) -> dict:
    """x0, b, c integers of ``IntSoftmax.int_exp`` / ``int_polynomial`` (float64, floored)."""
    scale = _check_scale(scale)
    a, b, c = IBERT_EXP_COEF
    return {"x0": int(math.floor(IBERT_EXP_X0 / scale)), "b": int(math.floor((b / a) / scale)),
            "c": int(math.floor((c / a) / scale ** 2)), "out_scale": a * scale ** 2 / 2 ** IBERT_EXP_N}


def ibert_exp(q, scale: float):
    """I-BERT i-exp (``IntSoftmax.int_exp``, n = 30) for q <= 0: x0 = floor(-0.6931/S), clamp at
    30·x0, p = floor(q/x0), r = q - p·x0 in (x0, 0], z = r·(r + b) + c (the polynomial
    a(r + b/a)r + c/a in integers), result ``max(z·2^(30 - p), 0)`` at scale a·S^2/2^30."""
    k = ibert_exp_constants(scale)
    x = _as_int(q)
    if np.any(x > 0):
        raise ValueError("ibert_exp is defined for q <= 0 (subtract the row max first)")
    x0 = k["x0"]
    x = np.maximum(x, IBERT_EXP_N * x0)
    p = x // x0                                   # floor division (torch.floor of x / x0)
    r = x - x0 * p
    z = r * (r + k["b"]) + k["c"]
    return np.maximum(z << (IBERT_EXP_N - p), 0), k["out_scale"]


def ibert_softmax_constants(scale: float, exp_scale16: float = 1 / 32767) -> dict:
    """Constants of I-BERT's softmax: the i-exp integers plus the fixed-point requantisation of
    ``QuantAct(16)`` (``fixedpoint_mul`` / ``batch_frexp`` in quant_utils.py): ``(m, e) =
    frexp(S_exp / exp_scale16)``, ``m_int = round_half_up(m·2^31)``, ``shift = 31 - e``."""
    k = ibert_exp_constants(scale)
    exp_scale16 = _check_scale(exp_scale16, "exp_scale16")
    m, e = math.frexp(k["out_scale"] / exp_scale16)
    k.update(exp_scale16=exp_scale16, m_int=int(math.floor(m * 2 ** 31 + 0.5)), shift=31 - e)
    if k["shift"] <= 0:
        raise ValueError(f"exp_scale16 {exp_scale16} is too small for scale {scale}: the 16-bit "
                         f"requantisation would scale up (shift {k['shift']})")
    return k


def _round_shift_half_even(v: np.ndarray, shift: int) -> np.ndarray:
    """round_half_to_even(v / 2^shift) exactly, for an object (Python int) or int64 array."""
    q = v >> shift
    rem = v - (q << shift)
    half = 1 << (shift - 1)
    up = (rem > half) | ((rem == half) & (q % 2 == 1))
    return q + up.astype(np.int64)


def ibert_softmax(q, scale: float, exp_scale16: float = 1 / 32767, out_bits: int = 8):
    """I-BERT ``IntSoftmax`` over the last axis: i-exp of q - max, requantised to 16 bits at
    ``exp_scale16`` (``QuantAct(16)``: a learned/calibrated scale, here a parameter),
    ``factor = floor(2^32 / sum)``, output ``floor(e16·factor / 2^(32 - out_bits))`` in
    [0, 2^out_bits], out_scale 2^-out_bits.

    The requantisation is the integer (dyadic) form ``round_half_even(e·m_int / 2^shift)``,
    exact in integers, which is what hardware can build. I-BERT's PyTorch code differs in how it
    gets there: its ``QuantAct(16)`` is handed the integer exp E as if it were a real activation,
    calibrates on E (so its scale is ``max E / 32767`` in E units, i.e. ``e(0)·S_exp/32767`` as an
    ``exp_scale16``: 0.99891/32767 at scale 2^-4, not 1/32767) and computes
    ``round(round(E/S_exp)·m_int(S_exp/act_scale) / 2^(31-e))`` in float64, where ``E/S_exp`` is
    far above 2^53. With the calibrated ``exp_scale16`` the two agree on every ordinary row run
    through the real module (253,843 outputs) but differ by one LSB of e16 at (near-)ties: 4 of
    131,584 exp inputs, reaching the softmax output on rows built around them (115 of 4,096 at
    scale 8/127, where e(x0) is exactly half of e(0); 9 of 65,664 at 2^-10)
    (benchmarks/ibert_ivit_reference.py, tests/test_golden_reference_code.py). The default
    1/32767 maps an exp of 1.0 to 32767."""
    k = ibert_softmax_constants(scale, exp_scale16)
    x = _as_int(q)
    e, _ = ibert_exp(x - x.max(axis=-1, keepdims=True), scale)
    prod = e.astype(object) * k["m_int"]
    e16 = np.clip(_round_shift_half_even(prod, k["shift"]).astype(np.int64), -32768, 32767)
    total = e16.sum(axis=-1, keepdims=True)
    factor = (1 << 32) // total
    return (e16 * factor) >> (32 - out_bits), 2.0 ** -out_bits


def ibert_gelu(q, scale: float):
    """I-BERT i-GELU (``IntGELU``): erf(x/sqrt2) ~ sign·[a·(min(|u|, -b) + b)^2 + 1] at scale
    S/1.4142, ``floor(·/2^14)``, output ``q·(erf_int + floor(1/S_erf))`` at scale S·S_erf/2
    (negative, as in the source: S_erf carries a's sign). Constants in float64."""
    scale = _check_scale(scale)
    a, b, c = IBERT_GELU_COEFF
    s = scale / IBERT_GELU_K
    b_int = math.floor(b / s)
    c_int = math.floor((c / a) / s ** 2)
    x = _as_int(q)
    sign = np.sign(x)
    y = sign * ((np.minimum(np.abs(x), -b_int) + b_int) ** 2 + c_int)
    y = y >> IBERT_GELU_N                          # floor(y / 2^14)
    sf = s ** 2 * a * 2 ** IBERT_GELU_N
    return x * (y + math.floor(1.0 / sf)), scale * sf / 2


# ------------------------------------------------------------------------------------------------
# Edge-MoE (Sarkar et al., ICCAD 2023): sharc-lab/Edge-MoE src/gelu.cpp and src/attention.cpp.
# Activations are ap_fixed<32,10> (Q10.22), default AP_TRN truncation and AP_WRAP overflow.
# ------------------------------------------------------------------------------------------------
Q22 = 22
EDGEMOE_GELU_STEP_BITS = 5                             # GELU_DELTA_TABLE_STEP = 0.03125 = 2^-5
EDGEMOE_GELU_TABLE_SIZE = 177                          # entries 0 .. 176, max |x| = 176/32 = 5.5


def _phi(v: float) -> float:
    return 0.5 * (1.0 + math.erf(v / math.sqrt(2.0)))


# d(a) = a·Phi(-a) at a = i/32, as 22-bit fractions (ap_ufixed<22,0>): the literals of gelu.cpp's
# GELU_DELTA_TABLE equal round(2^22·d) (tests/test_golden.py checks them against the source).
EDGEMOE_GELU_DELTA_TABLE = np.array([round(2 ** Q22 * (i / 32) * _phi(-i / 32))
                                     for i in range(EDGEMOE_GELU_TABLE_SIZE)], dtype=np.int64)


def edgemoe_gelu(x):
    """Edge-MoE ``gelu(fm_t x)`` on raw Q10.22 words: ReLU(x) - d(|x|), d linearly interpolated in
    the 177-entry table with the 17 low bits of |x| (``t·(b - a)`` truncated to 22 bits and
    wrapped into ap_ufixed<22,0>); |x| >= 5.5 gives ReLU(x). ``-x`` wraps (so x = -512 gives 0, as
    ap_fixed does). out_scale 2^-22."""
    x = wrap32(_as_int(x, "x"))
    relu = np.maximum(x, 0)
    xa = wrap32(np.where(x < 0, -x, x))
    big = xa >= (EDGEMOE_GELU_TABLE_SIZE - 1) << (Q22 - EDGEMOE_GELU_STEP_BITS)
    idx = (xa >> (Q22 - EDGEMOE_GELU_STEP_BITS)) & 0xFF        # ap_uint<8> index (wraps)
    idx = np.minimum(idx, EDGEMOE_GELU_TABLE_SIZE - 2)         # only reached when `big` anyway
    t = (xa & ((1 << (Q22 - EDGEMOE_GELU_STEP_BITS)) - 1)) << EDGEMOE_GELU_STEP_BITS
    a = EDGEMOE_GELU_DELTA_TABLE[idx]
    b = EDGEMOE_GELU_DELTA_TABLE[idx + 1]
    delta = (a + ((t * (b - a)) >> Q22)) & ((1 << Q22) - 1)
    return np.where(big, relu, wrap32(relu - delta)), 2.0 ** -Q22


LOG2E_Q22 = round(math.log2(math.e) * 2 ** Q22)        # 6051102


def edgemoe_exp_table(exp_lut_bits: int = 8) -> np.ndarray:
    """2^(-i/2^b) in Q0.22 for i in [0, 2^b): the fraction part of our exp unit."""
    if not 1 <= exp_lut_bits <= Q22:
        raise ValueError(f"exp_lut_bits must be in 1..22, not {exp_lut_bits!r}")
    i = np.arange(2 ** exp_lut_bits)
    return np.round(2.0 ** Q22 * 2.0 ** (-i / 2 ** exp_lut_bits)).astype(np.int64)


def edgemoe_exp(d, exp_lut_bits: int = 8) -> np.ndarray:
    """Our exp unit for Edge-MoE's softmax (the HLS code uses a vendor ``hls::exp``): for raw
    Q10.22 d <= 0, u = (-d·log2 e) in Q.22 (truncated), exp(d) = 2^-frac(u) from a 2^b-entry
    table indexed by the top b fraction bits, shifted right by the integer part of u."""
    d = _as_int(d, "d")
    u = ((-d) * LOG2E_Q22) >> Q22
    k = u >> Q22
    idx = (u & ((1 << Q22) - 1)) >> (Q22 - exp_lut_bits)
    val = edgemoe_exp_table(exp_lut_bits)[idx]
    return np.where(k >= Q22 + 1, 0, val >> np.minimum(k, Q22 + 1))


def edgemoe_softmax(x, exp_lut_bits: int = 8):
    """Edge-MoE's single-pass softmax (``finalize_attn`` in src/attention.cpp) on raw Q10.22 rows:
    online max m and running sum s in element order -- on a new maximum ``s = s·exp(m - x) + 1``
    (product truncated to Q10.22), else ``s += exp(x - m)`` -- then ``recip = floor(2^44 / s)``
    and, in the second pass (``compute_attn_matmul_v``), ``p = (exp(x - m)·recip) >> 22``.
    out_scale 2^-22. Scores are assumed within +-256 of each other and rows shorter than 512
    (s stays below 2^31, as Q10.22 requires)."""
    x = _as_int(x, "x")
    if x.shape[-1] >= 512:
        raise ValueError(f"edgemoe_softmax: row length {x.shape[-1]} must be < 512 (Q10.22 sum)")
    rows = x.reshape(-1, x.shape[-1])
    one = 1 << Q22
    m = rows[:, 0].copy()
    s = np.full(len(rows), one, dtype=np.int64)
    for j in range(1, rows.shape[1]):
        xj = rows[:, j]
        new = xj > m
        s = np.where(new, ((s * edgemoe_exp(np.minimum(m - xj, 0), exp_lut_bits)) >> Q22) + one,
                     s + edgemoe_exp(np.minimum(xj - m, 0), exp_lut_bits))
        m = np.where(new, xj, m)
    recip = (1 << (2 * Q22)) // s
    p = (edgemoe_exp(rows - m[:, None], exp_lut_bits) * recip[:, None]) >> Q22
    return p.reshape(x.shape), 2.0 ** -Q22


# ------------------------------------------------------------------------------------------------
# Table-based units of our own (parameterised; the published units are compared in docs/rtl.md)
# ------------------------------------------------------------------------------------------------
RECIP_FRAC_BITS = 16


def lut_softmax_tables(scale: float, in_bits: int = 8, exp_bits: int = 15, recip_bits: int = 8) -> dict:
    """Tables of :func:`lut_softmax`: ``exp[i] = round(2^exp_bits·exp(-i·scale))`` for the
    2^in_bits distances i = max - q, and ``recip[j] = round(2^16 / (1 + (j + 0.5)/2^recip_bits))``
    (the midpoint of each mantissa bin)."""
    scale = _check_scale(scale)
    if not 2 <= in_bits <= 16:
        raise ValueError(f"in_bits must be in 2..16, not {in_bits!r}")
    if not 1 <= recip_bits <= exp_bits <= 30:
        raise ValueError(f"need 1 <= recip_bits ({recip_bits!r}) <= exp_bits ({exp_bits!r}) <= 30")
    i = np.arange(2 ** in_bits)
    j = np.arange(2 ** recip_bits)
    return {"exp": np.round(2.0 ** exp_bits * np.exp(-i * scale)).astype(np.int64),
            "recip": np.round(2.0 ** RECIP_FRAC_BITS / (1 + (j + 0.5) / 2 ** recip_bits)).astype(np.int64)}


def lut_softmax(q, scale: float, in_bits: int = 8, exp_bits: int = 15, recip_bits: int = 8,
                out_bits: int = 8):
    """hls4ml-style table softmax with a normalised reciprocal: ``e = EXP[max - q]``, S = sum e,
    p = bit_length(S) - 1, j = the recip_bits bits after S's leading one, output
    ``min((e·RECIP[j]) >> (p + 16 - out_bits), 2^out_bits - 1)`` at scale 2^-out_bits."""
    t = lut_softmax_tables(scale, in_bits, exp_bits, recip_bits)
    x = _as_int(q)
    lo, hi = -(1 << (in_bits - 1)), (1 << (in_bits - 1)) - 1
    if x.size and (x.min() < lo or x.max() > hi):
        raise ValueError(f"lut_softmax: inputs must be {in_bits}-bit signed ({lo}..{hi})")
    e = t["exp"][x.max(axis=-1, keepdims=True) - x]
    s = e.sum(axis=-1, keepdims=True)
    p = np.frexp(s.astype(np.float64))[1].astype(np.int64) - 1    # bit_length - 1 (exact: s < 2^53)
    j = (s >> (p - recip_bits)) - (1 << recip_bits)
    out = (e * t["recip"][j]) >> (p + RECIP_FRAC_BITS - out_bits)
    return np.minimum(out, (1 << out_bits) - 1), 2.0 ** -out_bits


def pwl_gelu_table(scale: float, segments: int = 16, x_max: float = 4.0, frac_bits: int = 12,
                   in_bits: int = 8) -> dict:
    """Table of :func:`pwl_gelu`: ``segments + 1`` breakpoints (input codes) uniform over
    [-x_max, x_max] (clipped to the input range), per segment the chord of GELU between its ends
    as an integer slope K and intercept C with ``frac_bits`` fractional bits (at the input scale)."""
    scale = _check_scale(scale)
    lo, hi = -(1 << (in_bits - 1)), (1 << (in_bits - 1)) - 1

    def gelu(v):
        return 0.5 * v * (1 + math.erf(v / math.sqrt(2)))

    b = [int(np.clip(round((-x_max + i * 2 * x_max / segments) / scale), lo, hi + 1))
         for i in range(segments + 1)]
    slopes, icepts = [], []
    for i in range(segments):
        b0, b1 = b[i], max(b[i + 1], b[i] + 1)
        k = (gelu(b1 * scale) - gelu(b0 * scale)) / ((b1 - b0) * scale)
        slopes.append(round(k * 2 ** frac_bits))
        icepts.append(round((gelu(b0 * scale) / scale - k * b0) * 2 ** frac_bits))
    return {"breakpoints": b, "slopes": slopes, "intercepts": icepts}


def pwl_gelu(q, scale: float, segments: int = 16, x_max: float = 4.0, frac_bits: int = 12,
             in_bits: int = 8):
    """Piecewise-linear GELU: ``(K_i·q + C_i) >> frac_bits`` on segment i, 0 below the first
    breakpoint, q from the last one on; out_scale = scale (the input scale)."""
    t = pwl_gelu_table(scale, segments, x_max, frac_bits, in_bits)
    x = _as_int(q)
    b = np.array(t["breakpoints"])
    idx = np.clip(np.searchsorted(b[1:-1], x, side="right"), 0, segments - 1)
    y = (np.array(t["slopes"])[idx] * x + np.array(t["intercepts"])[idx]) >> frac_bits
    return np.where(x < b[0], 0, np.where(x >= b[-1], x, y)), scale
