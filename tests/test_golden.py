"""Golden models (rtl/golden.py) against independent transcriptions of the reference code.

Each vectorised golden is compared with a second, deliberately plain transcription written
element by element the way the reference computes: the I-ViT TVM code with C int32 semantics,
the I-BERT PyTorch code with its float64 tensors of integers (``torch.floor``, ``frexp``, double
products), Edge-MoE's HLS code with exact rational arithmetic standing in for ``ap_fixed``. The
float error of every golden is bounded here and tabulated by ``hwsim rtl accuracy``.
"""
import math
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import numpy as np
import pytest

from rtl import golden as g

RNG = np.random.default_rng(2026)


# ---- C int32 helpers for the plain transcriptions ---------------------------------------------
def i32(v: int) -> int:
    return ((v + 2 ** 31) % 2 ** 32) - 2 ** 31


def cdiv(a: int, b: int) -> int:          # C division truncates toward zero
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


def c_shift_exp(d: int, scale: float, n: int) -> int:
    d = i32(d + (d >> 1) - (d >> 4))
    x0 = int(np.float64(-1.0 / scale - 1).astype(np.int32))
    d = max(d, n * x0)
    q = cdiv(d, x0)
    r = d - q * x0
    sh = n - q
    return 0 if sh >= 32 else i32(((r >> 1) - x0) << sh)


def ivit_softmax_row(row, scale):
    mx = max(row)
    e = [c_shift_exp(v - mx, scale, 16) for v in row]
    s = i32(sum(e))
    factor = cdiv(2 ** 31 - 1, s)
    return [i32(factor * v) >> 24 for v in e]


def ivit_gelu_row(row, scale):
    mx = max(row)
    out = []
    for v in row:
        e = c_shift_exp(v - mx, scale * 1.702, 23)
        emax = c_shift_exp(-mx, scale * 1.702, 23)
        tot = i32(e + emax)
        factor = cdiv(2 ** 31 - 1, tot) if tot else 0
        out.append(v * (i32(factor * e) >> 24))
    return out


# ---- I-ViT ------------------------------------------------------------------------------------
@pytest.mark.parametrize("scale", [2.0 ** -4, 0.05, 0.1, 2.0 ** -7])
def test_shiftmax_equals_the_tvm_int32_code(scale):
    rows = [RNG.integers(-128, 128, size=int(n)).tolist() for n in RNG.integers(1, 200, size=40)]
    rows += [[5] * 197, [-128] * 196 + [127], [127], [-128, -128]]
    for row in rows:
        got, out_scale = g.shiftmax(np.array(row), scale)
        assert got.tolist() == ivit_softmax_row(row, scale)
        assert out_scale == 2.0 ** -7 and 0 <= got.min() and got.max() <= 127


@pytest.mark.parametrize("scale", [2.0 ** -4, 0.03, 2.0 ** -6])
def test_shiftgelu_equals_the_tvm_int32_code(scale):
    rows = [RNG.integers(-128, 128, size=int(n)).tolist() for n in RNG.integers(1, 80, size=40)]
    rows += [[-3, -7, -100], [0], [127, -128]]          # negative row max: e(-m) shifts by > 32
    for row in rows:
        got, out_scale = g.shiftgelu(np.array(row), scale)
        assert got.tolist() == ivit_gelu_row(row, scale)
        assert out_scale == scale / 128


def test_x0_is_the_int32_truncation_of_minus_one_over_scale_minus_one():
    assert g.shiftmax_x0(2.0 ** -4) == -17          # -1/0.0625 - 1 = -17.0
    assert g.shiftmax_x0(0.03) == -34               # -34.33 truncates toward zero
    assert g.shiftmax_x0(3.0) == -1                 # any scale > 1 gives -1 (x0 is always < 0)


# ---- I-BERT: the PyTorch code, transcribed with float64 arrays of integers ---------------------
def torch_int_exp(x_int: np.ndarray, s: float):
    a, b, c = 0.35815147, 0.96963238 / 0.35815147, 1.0 / 0.35815147
    x0_int = math.floor(-0.6931 / s)
    x_int = np.maximum(x_int.astype(np.float64), 30 * x0_int)
    q = np.floor(x_int / x0_int)
    r = x_int - x0_int * q
    z = r * (r + math.floor(b / s)) + math.floor(c / s ** 2)
    return np.clip(np.floor(z * 2.0 ** (30 - q)), 0, None), a * s ** 2 / 2 ** 30


def torch_int_softmax(x_int: np.ndarray, s: float, act_scale: float, output_bit=8):
    """I-BERT's IntSoftmax with its QuantAct(16) idealised as the dyadic integer requantisation of the
    exp (what the golden builds). The real module's float64 route differs at ties: measured against the
    real code in tests/test_golden_reference_code.py."""
    x_int = x_int - x_int.max(axis=-1, keepdims=True)
    exp_int, exp_s = torch_int_exp(x_int, s)
    m, e = np.frexp(exp_s / act_scale)                      # batch_frexp
    m_int = int(Decimal(m * 2 ** 31).quantize(Decimal("1"), rounding=ROUND_HALF_UP))
    e16 = np.clip(np.round(exp_int * float(m_int) / 2.0 ** (31 - e)), -32768, 32767)   # fixedpoint_mul
    factor = np.floor(2 ** 32 / e16.sum(axis=-1, keepdims=True))
    return np.floor(e16 * factor / 2 ** (32 - output_bit))


def torch_int_gelu(x_int: np.ndarray, s: float):
    a, b, c = -0.2888, -1.769, 1.0 / -0.2888
    si = s / 1.4142
    b_int, c_int = math.floor(b / si), math.floor(c / si ** 2)
    x = x_int.astype(np.float64)
    y = np.sign(x) * ((np.minimum(np.abs(x), -b_int) + b_int) ** 2 + c_int)
    sf = si ** 2 * a
    y = np.floor(y / 2 ** 14)
    sf = sf * 2 ** 14
    return x * (y + math.floor(1.0 / sf)), s * sf / 2


@pytest.mark.parametrize("scale", [2.0 ** -4, 0.02, 2.0 ** -8, 1e-3])
def test_ibert_exp_equals_the_pytorch_code(scale):
    x = -np.arange(0, 40 * math.ceil(0.6931 / scale))        # past the clamp at 30·x0
    got, s = g.ibert_exp(x, scale)
    ref, rs = torch_int_exp(x, scale)
    assert np.array_equal(got, ref.astype(np.int64)) and s == rs
    assert np.all(got[:-1] >= got[1:])                      # monotone non-increasing


def test_ibert_exp_rejects_positive_inputs():
    with pytest.raises(ValueError, match="q <= 0"):
        g.ibert_exp(np.array([0, 1]), 0.1)


@pytest.mark.parametrize("scale, act", [(2.0 ** -4, 1 / 32767), (0.05, 1.2 / 32767), (2.0 ** -6, 1 / 32767)])
def test_ibert_softmax_equals_the_dyadic_requantisation_transcription(scale, act):
    rows = RNG.integers(-128, 128, size=(300, 197))
    rows[0] = 7
    rows[1] = -128
    rows[1, 5] = 127
    got, out_scale = g.ibert_softmax(rows, scale, act)
    ref = torch_int_softmax(rows, scale, act)
    assert np.array_equal(got, ref.astype(np.int64)), np.argwhere(got != ref)[:5]
    assert out_scale == 2.0 ** -8 and got.max() <= 256


@pytest.mark.parametrize("scale", [2.0 ** -10, 2.0 ** -6, 0.01])
def test_ibert_gelu_equals_the_pytorch_code(scale):
    x = np.arange(-2 ** 15, 2 ** 15)
    got, s = g.ibert_gelu(x, scale)
    ref, rs = torch_int_gelu(x, scale)
    assert np.array_equal(got, ref.astype(np.int64)) and s == rs


# ---- Edge-MoE: ap_fixed arithmetic with exact fractions ---------------------------------------
GELU_CPP_LITERALS = {   # sharc-lab/Edge-MoE src/gelu.cpp GELU_DELTA_TABLE (index: literal)
    0: 0.0, 1: 0.015235424041748047, 2: 0.029692649841308594, 24: 0.16997051239013672,
    101: 0.002521991729736328, 153: 4.0531158447265625e-06, 175: 2.384185791015625e-07, 176: 0.0,
}


def test_edgemoe_delta_table_matches_the_hls_source():
    t = g.EDGEMOE_GELU_DELTA_TABLE
    assert len(t) == 177 and int(t.sum()) == 33_548_970
    for i, lit in GELU_CPP_LITERALS.items():
        assert t[i] == lit * 2 ** 22                         # the literals are exact 22-bit fractions


def ap_fixed(v: Fraction, width=32, iwidth=10, signed=True) -> Fraction:
    """ap_fixed<width, iwidth> conversion with AP_TRN (floor) and AP_WRAP."""
    f = width - iwidth
    raw = math.floor(v * 2 ** f) % 2 ** width
    if signed and raw >= 2 ** (width - 1):
        raw -= 2 ** width
    return Fraction(raw, 2 ** f)


def hls_gelu(x_raw: int) -> int:
    table = [Fraction(int(v), 2 ** 22) for v in g.EDGEMOE_GELU_DELTA_TABLE]
    x = Fraction(x_raw, 2 ** 22)
    relu = max(x, Fraction(0))
    x_abs = ap_fixed(-x) if x < 0 else x
    if x_abs >= Fraction(176, 32):
        return int(relu * 2 ** 22)
    index_exact = x_abs / Fraction(1, 32)
    index = math.floor(index_exact) % 256                    # ap_uint<8>
    frac = lambda v: ap_fixed(v, 22, 0, signed=False)        # ap_ufixed<22, 0>
    a, b = table[index], table[index + 1]
    t = frac(index_exact - index)
    delta = frac(a + t * (b - a))
    return int(ap_fixed(relu - delta) * 2 ** 22)


def test_edgemoe_gelu_equals_the_hls_code_in_exact_ap_fixed_arithmetic():
    xs = RNG.integers(-2 ** 31, 2 ** 31, size=2000).tolist()
    xs += RNG.integers(-6 * 2 ** 22, 6 * 2 ** 22, size=3000).tolist()
    xs += [0, 1, -1, -2 ** 31, 2 ** 31 - 1] + [s * (k << 17) + d for k in range(0, 177, 7) for s in (1, -1) for d in (-1, 0, 1)]
    got, scale = g.edgemoe_gelu(np.array(xs))
    assert got.tolist() == [hls_gelu(x) for x in xs] and scale == 2.0 ** -22


def test_edgemoe_exp_unit_error_is_bounded_by_its_table_step():
    d = -RNG.integers(0, 16 * 2 ** 22, size=20000)
    got, _ = g.edgemoe_exp(d), None
    rel = np.abs(got / 2 ** 22 - np.exp(d / 2 ** 22)) / np.exp(d / 2 ** 22)
    small = d > -8 * 2 ** 22                                 # away from the 2^-22 LSB floor
    assert rel[small].max() < 2 ** (1 / 256) - 1 + 2e-5       # one table bin of 2^(-1/256)


def plain_edgemoe_softmax(row, lut_bits=8):
    exp = lambda d: int(g.edgemoe_exp(np.array([d]), lut_bits)[0])
    m, s = row[0], 1 << 22
    for x in row[1:]:
        if x > m:
            s, m = ((s * exp(m - x)) >> 22) + (1 << 22), x
        else:
            s += exp(x - m)
    recip = (1 << 44) // s
    return [(exp(x - m) * recip) >> 22 for x in row]


def test_edgemoe_softmax_equals_its_online_loop():
    rows = (RNG.normal(0, 3, size=(20, 65)) * 2 ** 22).astype(np.int64)
    got, scale = g.edgemoe_softmax(rows)
    assert got.tolist() == [plain_edgemoe_softmax(r.tolist()) for r in rows] and scale == 2.0 ** -22
    ref = np.exp(rows / 2 ** 22 - (rows / 2 ** 22).max(-1, keepdims=True))
    ref /= ref.sum(-1, keepdims=True)
    assert np.abs(got * scale - ref).max() < 3e-3


def plain_lut_softmax(row, scale, in_bits=8, exp_bits=15, recip_bits=8, out_bits=8):
    e = [round(2 ** exp_bits * math.exp(-(max(row) - v) * scale)) for v in row]
    s = sum(e)
    p = s.bit_length() - 1
    j = (s >> (p - recip_bits)) - (1 << recip_bits)
    r = round(2 ** 16 / (1 + (j + 0.5) / 2 ** recip_bits))
    return [min((v * r) >> (p + 16 - out_bits), 2 ** out_bits - 1) for v in e]


@pytest.mark.parametrize("scale", [2.0 ** -4, 0.1])
def test_lut_softmax_equals_its_plain_transcription(scale):
    rows = [RNG.integers(-128, 128, size=int(n)).tolist() for n in RNG.integers(1, 300, size=30)]
    rows += [[127], [3] * 1024, [-128] * 100 + [127]]
    for row in rows:
        got, out_scale = g.lut_softmax(np.array(row), scale)
        assert got.tolist() == plain_lut_softmax(row, scale) and out_scale == 2.0 ** -8


def test_pwl_gelu_is_exact_at_breakpoints_within_rounding():
    t = g.pwl_gelu_table(2.0 ** -4)
    q = np.array(t["breakpoints"][1:-1])
    y, s = g.pwl_gelu(q, 2.0 ** -4)
    gelu = np.array([0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in q * s])
    assert np.abs(y * s - gelu).max() <= s                   # chord ends lie on GELU, within 1 LSB


# ---- every golden against float64 ---------------------------------------------------------------
def _gelu(x):
    return 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))


def test_every_golden_approximates_its_float_function():
    scores = np.clip(np.round(RNG.normal(0, 2.5, size=(64, 197)) / 2.0 ** -4), -128, 127).astype(np.int64)
    ref = np.exp(scores / 16.0)
    ref /= ref.sum(-1, keepdims=True)
    # At 8-bit scales the shift/polynomial exps are coarse (I-BERT's x0 = floor(-0.6931·16) = -12
    # stands for -0.75, not -ln 2): peaked rows are off by up to ~0.075; at a fine scale it is small.
    bounds = {"shiftmax": 0.1, "ibert_softmax": 0.1, "lut_softmax": 0.01}
    for name, bound in bounds.items():
        v, s = getattr(g, name)(scores, 2.0 ** -4)
        assert np.abs(v * s - ref).max() < bound, name
        assert (v.argmax(-1) == ref.argmax(-1)).mean() > 0.9, name
    v, s = g.ibert_softmax(scores * 16, 2.0 ** -8)
    assert np.abs(v * s - ref).max() < 0.01
    v, s = g.edgemoe_softmax(scores << 18)
    assert np.abs(v * s - ref).max() < 2e-3
    x8 = np.arange(-128, 128)
    for name, bound in {"pwl_gelu": 0.08, "shiftgelu": 0.3}.items():
        v, s = getattr(g, name)(x8, 2.0 ** -4)
        assert np.abs(v * s - _gelu(x8 / 16)).max() < bound, name
    x16 = np.arange(-2 ** 15, 2 ** 15)
    v, s = g.ibert_gelu(x16, 2.0 ** -10)
    assert np.abs(v * s - _gelu(x16 / 1024)).max() < 0.08
    v, s = g.edgemoe_gelu(x16 << 12)
    assert np.abs(v * s - _gelu((x16 << 12) / 2 ** 22)).max() < 2e-4


def test_bad_arguments_raise_value_errors_naming_the_parameter():
    with pytest.raises(ValueError, match="scale"):
        g.shiftmax(np.array([1]), -1.0)
    with pytest.raises(ValueError, match="integers"):
        g.ibert_gelu(np.array([0.5]), 0.1)
    with pytest.raises(ValueError, match="row length"):
        g.edgemoe_softmax(np.zeros((1, 600), dtype=np.int64))
    with pytest.raises(ValueError, match="8-bit"):
        g.lut_softmax(np.array([300]), 0.1)
