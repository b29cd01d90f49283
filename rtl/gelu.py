"""GELU units: lane-parallel, pipelined, bit-exact with the golden models of :mod:`rtl.golden`.

Every unit is an :class:`rtl.common.ElementwiseUnit` (a :class:`amaranth.lib.wiring.Component`):

* ports ``i`` (input stream; payload ``lanes`` signed elements of ``in_bits``, plus a
  ``row_max`` field for ShiftGELU) and ``o`` (output stream; ``lanes`` signed elements of
  ``out_bits``), with the valid/ready protocol of :mod:`amaranth.lib.stream`;
* latency ``latency_cycles == pipeline_regs`` cycles, throughput ``elements_per_cycle == lanes``
  elements per cycle; under backpressure up to ``pipeline_regs`` beats wait inside and then
  ``i.ready`` falls; order is kept; a reset drops the beats in flight;
* ``params()`` -- the constructor keywords (JSON-able), ``golden(x)`` -- the expected outputs
  (``rtl.golden`` with the same parameters), ``out_scale`` -- the real value of one output LSB.

``ALGOS`` maps the algorithm names (``shiftgelu``, ``ibert``, ``edgemoe``, ``pwl``) to classes.
Each class takes keyword arguments only, all with defaults.
"""
from __future__ import annotations

import math

import numpy as np
from amaranth.hdl import Array, Cat, Const, Mux, signed, unsigned

from .common import ElementwiseUnit, chain, comb, divider_steps, lane_step, shared_step


def _signed_bits(lo: int, hi: int) -> int:
    """Smallest two's-complement width holding every integer in [lo, hi]."""
    bits = 1
    while not (-(1 << (bits - 1)) <= lo and hi < (1 << (bits - 1))):
        bits += 1
    return bits


def _check_int(name: str, value, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not lo <= value <= hi:
        raise ValueError(f"{name} must be an integer in [{lo}, {hi}], not {value!r}")
    return int(value)


def _check_scale(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 \
            or not math.isfinite(value):
        raise ValueError(f"scale must be a positive finite number, not {value!r}")
    return float(value)


class GeluUnit(ElementwiseUnit):
    """Common part of the GELU units (see the module docstring for the guarantees)."""

    kind = "gelu"
    algo = ""

    def __init__(self, *, in_bits: int, out_bits: int, lanes: int, pipeline_regs, sideband=None):
        self._in_bits = in_bits
        self._out_bits = out_bits
        if pipeline_regs is None:
            pipeline_regs = self.default_pipeline_regs()
        n_steps = len(self.steps())
        _check_int("pipeline_regs", pipeline_regs, 1, n_steps)
        super().__init__(in_shape=signed(in_bits), out_shape=signed(out_bits), lanes=lanes,
                         pipeline_regs=pipeline_regs, sideband=sideband)

    def default_pipeline_regs(self) -> int:
        return len(self.steps())

    def _out_bits_for(self, in_bits: int, out_bits: int | None) -> int:
        """``out_bits`` validated, or by default the narrowest signed width holding the golden's
        output over every input code (called before ``__init__`` finishes: uses ``golden`` only)."""
        if out_bits is None:
            y = self.golden(np.arange(-(1 << (in_bits - 1)), 1 << (in_bits - 1), dtype=np.int64))
            out_bits = _signed_bits(int(y.min()), int(y.max()))
        return _check_int("out_bits", out_bits, 2, 64)

    def input_range(self) -> tuple[int, int]:
        """Smallest and largest input code."""
        return -(1 << (self._in_bits - 1)), (1 << (self._in_bits - 1)) - 1

    def params(self) -> dict:
        raise NotImplementedError

    def golden(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError


# --------------------------------------------------------------------------------------------
# I-BERT i-GELU
# --------------------------------------------------------------------------------------------
class IBertGelu(GeluUnit):
    """I-BERT's integer GELU (``IntGELU`` in kssteven418/I-BERT,
    ``fairseq/quantization/utils/quant_modules.py``), bit-exact with :func:`rtl.golden.ibert_gelu`.

    ``erf(x/sqrt 2)`` is the second-order polynomial ``sign(u)·[a·(min(|u|, -b) + b)^2 + 1]``
    (a = -0.2888, b = -1.769) evaluated in integers at scale ``scale / k`` (k = 1.4142) and
    shifted right by n = 14; the output is ``q·(erf_int + shift_int)`` with scale
    ``out_scale = scale·S_erf/2`` (negative, as in the source: S_erf carries a's sign).

    Datapath per lane (4 steps): |q|, clamp at -b_int -> square and add c_int -> sign and
    arithmetic shift by 14 -> add shift_int and multiply by q. One squarer and one multiplier per
    lane. ``out_bits`` defaults to the narrowest width holding every output over the whole input
    range.
    """

    algo = "ibert"
    K = 1.4142            # sqrt(2) as written in IntGELU.__init__
    N_SHIFT = 14          # IntGELU.n
    COEFF = (-0.2888, -1.769, 1.0)   # a, b, c of a(x + b)^2 + c

    def __init__(self, *, in_bits: int = 16, scale: float = 2.0 ** -10, lanes: int = 1,
                 pipeline_regs: int | None = None, out_bits: int | None = None):
        self._scale = _check_scale(scale)
        in_bits = _check_int("in_bits", in_bits, 2, 24)
        a, b, c = self.COEFF
        s_in = self._scale / self.K
        # Constants in float64, floor as torch.floor does (IntGELU.int_erf / forward).
        self.b_int = int(math.floor(b / s_in))
        self.c_int = int(math.floor((c / a) / s_in ** 2))
        self.sf_erf = s_in ** 2 * a * 2 ** self.N_SHIFT
        self.shift_int = int(math.floor(1.0 / self.sf_erf))
        self._in_bits = in_bits
        out_bits = self._out_bits_for(in_bits, out_bits)
        super().__init__(in_bits=in_bits, out_bits=out_bits, lanes=lanes,
                         pipeline_regs=pipeline_regs)

    @property
    def out_scale(self) -> float:
        return self._scale * self.sf_erf / 2

    def params(self) -> dict:
        return {"in_bits": self._in_bits, "scale": self._scale, "lanes": self.lanes,
                "pipeline_regs": self.pipeline_regs, "out_bits": self._out_bits}

    def golden(self, x) -> np.ndarray:
        from . import golden
        values, _ = golden.ibert_gelu(np.asarray(x, dtype=np.int64), self._scale)
        return np.asarray(values, dtype=np.int64)

    def steps(self):
        b_int, c_int, shift_int, n = self.b_int, self.c_int, self.shift_int, self.N_SHIFT

        def clamp(m, lane, shared):
            x = lane["x"]
            mag = comb(m, Mux(x < 0, -x, x), "abs")
            return {"neg": x < 0, "zero": x == 0,
                    "a": Mux(mag > -b_int, Const(-b_int), mag)}

        def poly(m, lane, shared):
            t = comb(m, lane["a"] + b_int, "t")          # in [b_int, 0]
            return {"z": t * t + c_int, "a": None}

        def sign_shift(m, lane, shared):
            z = lane["z"]
            signed_z = Mux(lane["zero"], 0, Mux(lane["neg"], -z, z))
            return {"erf": signed_z >> n, "z": None, "neg": None, "zero": None}

        def scale_out(m, lane, shared):
            return {"y": lane["x"] * (lane["erf"] + shift_int)}

        return [lane_step(clamp), lane_step(poly), lane_step(sign_shift), lane_step(scale_out)]


# --------------------------------------------------------------------------------------------
# Edge-MoE GELU
# --------------------------------------------------------------------------------------------
class EdgeMoeGelu(GeluUnit):
    """Edge-MoE's GELU (sharc-lab/Edge-MoE ``src/gelu.cpp``), bit-exact with
    :func:`rtl.golden.edgemoe_gelu`, on raw two's-complement Q10.22 words (``ap_fixed<32,10>``).

    GELU(x) = ReLU(x) - delta(|x|), delta tabulated at steps of 1/32 for |x| < 5.5 (177 entries of
    22 fractional bits, the golden model's table) and linearly interpolated with the 17 low bits
    of |x|: ``delta = a + floor(t·(b - a) / 2^22)`` with ``t`` the fraction in 22 bits. ``|x| >=
    5.5`` gives ReLU(x). Widths follow ``ap_fixed`` (truncation, wrap-around): ``-x`` of the most
    negative word wraps to itself.

    Datapath per lane (4 steps): |x|, range test, table index and fraction -> two table reads
    (177 x 22-bit ROMs, as LUT logic) -> one 22 x 23-bit product -> subtract from ReLU.
    In and out are fixed at 32 bits (Q10.22, out_scale 2^-22).
    """

    algo = "edgemoe"
    FRAC_BITS = 22        # ap_fixed<32,10>: 22 fractional bits
    INDEX_SHIFT = 17      # table step 1/32 = 2^-5 -> index = |x| >> (22 - 5)

    def __init__(self, *, lanes: int = 1, pipeline_regs: int | None = None):
        self._table = self._delta_table()
        super().__init__(in_bits=32, out_bits=32, lanes=lanes, pipeline_regs=pipeline_regs)

    @staticmethod
    def _delta_table() -> list[int]:
        from . import golden
        table = np.asarray(golden.EDGEMOE_GELU_DELTA_TABLE, dtype=np.int64)
        return [int(v) for v in table]

    @property
    def out_scale(self) -> float:
        return 2.0 ** -self.FRAC_BITS

    def params(self) -> dict:
        return {"lanes": self.lanes, "pipeline_regs": self.pipeline_regs}

    def golden(self, x) -> np.ndarray:
        from . import golden
        values, _ = golden.edgemoe_gelu(np.asarray(x, dtype=np.int64))
        return np.asarray(values, dtype=np.int64)

    def steps(self):
        table = self._table
        size = len(table)
        limit = (size - 1) << self.INDEX_SHIFT          # GELU_DELTA_TABLE_MAX = 5.5 in Q10.22
        rom_a = Array([Const(v, unsigned(22)) for v in table] + [Const(0, unsigned(22))] * (256 - size))
        rom_b = Array([Const(v, unsigned(22)) for v in table[1:]] + [Const(0, unsigned(22))] * (257 - size))

        def split(m, lane, shared):
            x = lane["x"]
            xabs = comb(m, Mux(x < 0, -x, x)[:32].as_signed(), "xabs")   # fm_t(-x) wraps
            return {"relu": Mux(x > 0, x, 0)[:32].as_signed(),
                    "big": xabs >= limit,
                    "idx": xabs[self.INDEX_SHIFT:self.INDEX_SHIFT + 8],   # ap_uint<8>(|x| * 32)
                    "frac": xabs[:self.INDEX_SHIFT]}                      # t, 17 bits

        def lookup(m, lane, shared):
            return {"a": rom_a[lane["idx"]], "b": rom_b[lane["idx"]], "idx": None}

        def interp(m, lane, shared):
            t = Cat(Const(0, 5), lane["frac"])                           # t in 22 fractional bits
            diff = comb(m, lane["b"].as_signed() - lane["a"].as_signed(), "diff")
            prod = comb(m, t * diff, "prod")                             # 44 fractional bits
            return {"delta": (lane["a"] + (prod >> self.FRAC_BITS))[:22],
                    "a": None, "b": None, "frac": None}

        def combine(m, lane, shared):
            y = Mux(lane["big"], lane["relu"], (lane["relu"] - lane["delta"])[:32].as_signed())
            return {"y": y}

        return [lane_step(split), lane_step(lookup), lane_step(interp), lane_step(combine)]


# --------------------------------------------------------------------------------------------
# I-ViT ShiftGELU
# --------------------------------------------------------------------------------------------
def _wrap32(m, value, name):
    """``value`` reduced to a signed 32-bit word (int32 wrap-around)."""
    return comb(m, value[:32].as_signed(), name)


def _shift_exp_stages(x0: int, n: int, d_bits: int, nonpositive: bool):
    """I-ViT ``shift_exp`` (TVM_benchmark/models/layers.py) on a signed value ``d`` as three
    combinational stages (functions ``(m, d_or_prev, name) -> dict``):

    1. ``t = d + (d >> 1) - (d >> 4)`` clamped below at ``n·x0``; its magnitude and sign;
    2. ``q = t / x0`` (truncating) and ``r = t - q·x0`` by restoring division by the constant
       ``|x0|`` (one compare-subtract per quotient bit), giving the shift ``n - q``;
    3. ``((r >> 1) - x0) << (n - q)`` reduced to an int32 (a shift of 32 or more gives 0).

    ``nonpositive`` states that ``d <= 0`` always (the per-element path: ``q`` in [0, n])."""
    ax0 = -x0
    max_mag = max(n * ax0, 0 if nonpositive else (1 << d_bits))
    width = max_mag.bit_length()
    qbits = max(1, (max_mag // ax0).bit_length())

    def clamp(m, d, name):
        t = comb(m, d + (d >> 1) - (d >> 4), f"{name}_t")
        tc = comb(m, Mux(t < n * x0, n * x0, t), f"{name}_tc")
        neg = comb(m, tc < 0, f"{name}_neg")
        return {"neg": neg, "mag": Mux(neg, -tc, tc)[:width]}

    def divide(m, prev, name):
        rem = prev["mag"]
        q_bits = []
        for k in reversed(range(qbits)):
            ge = comb(m, rem >= (ax0 << k), f"{name}_q{k}")
            rem = comb(m, Mux(ge, rem - (ax0 << k), rem)[:width], f"{name}_r{k}")
            q_bits.append(ge)
        qa = comb(m, Cat(*reversed(q_bits)), f"{name}_qa")      # |t| // |x0|
        if nonpositive:
            return {"r": -rem, "shift": n - qa}                    # r in (x0, 0], q in [0, n]
        neg = prev["neg"]
        return {"r": Mux(neg, -rem, rem), "shift": Mux(neg, n - qa, n + qa)}   # q = -qa if t > 0

    def output(m, prev, name):
        mant = comb(m, (prev["r"] >> 1) - x0, f"{name}_mant")    # in [1, |x0|]
        shift = prev["shift"]
        short = comb(m, Mux(shift >= 32, 32, shift)[:6], f"{name}_sc")
        return _wrap32(m, mant.as_unsigned()[:32] << short, f"{name}_e")

    return clamp, divide, output


class ShiftGelu(GeluUnit):
    """I-ViT's ShiftGELU as in its integer deployment code (zkkli/I-ViT,
    ``TVM_benchmark/models/layers.py``, ``quantized_gelu`` with ``shift_exp``, n = 23, int32
    arithmetic, truncating division), bit-exact with :func:`rtl.golden.shiftgelu`.

    GELU(x) ~ x·sigmoid(1.702x), the sigmoid computed as ``e(x - m) / (e(x - m) + e(-m))`` with
    shift-exp ``e`` at scale ``1.702·scale`` and m the row maximum; factor
    ``(2^31 - 1) / sum`` per element, ``sigmoid = (factor·e) >> 24`` (8 bits), output
    ``x·sigmoid`` with ``out_scale = scale / 2^7``.

    **Row maximum.** The reference takes the maximum over the last axis of the activation tensor
    (a whole MLP row). The unit receives it as the side-band field ``row_max`` of every input beat
    (all lanes of a beat belong to one row): the producer of the row (the fc1 matmul, which emits
    the row anyway) tracks the running maximum, so this unit needs no row buffer. ``golden(x)``
    therefore takes whole rows (last axis) and computes the maximum as the reference does.

    Datapath (``6 + div_steps`` steps): e(-m) once per beat (shared) alongside e(x - m) per lane,
    each as shift-add and clamp -> division by the constant x0 -> mantissa and barrel shift; then
    per lane the int32 sum -> a 31-bit restoring division in ``div_steps`` steps -> sign and the
    low 32 bits of factor·e for the 8-bit sigmoid -> x·sigmoid.
    """

    algo = "shiftgelu"
    N = 23                 # quantized_gelu: shift_exp(..., 23)
    ALPHA = 1.702          # sigmoid(1.702 x) ~ Phi(x)

    def __init__(self, *, in_bits: int = 8, scale: float = 2.0 ** -4, lanes: int = 1,
                 pipeline_regs: int | None = None, div_steps: int = 4,
                 out_bits: int | None = None):
        self._scale = _check_scale(scale)
        in_bits = _check_int("in_bits", in_bits, 2, 20)
        self._div_steps = _check_int("div_steps", div_steps, 1, 31)
        # relay.const(-1.0 / input_scale - 1, "int32") on input_scale·1.702: float64, then a
        # conversion to int32 that truncates toward zero.
        self.x0 = int(np.float64(-1.0 / (self._scale * self.ALPHA) - 1).astype(np.int32))
        if self.x0 >= 0:
            raise ValueError(f"scale {scale} is too coarse for shift-exp: x0 = {self.x0} "
                             f"must be negative")
        self._in_bits = in_bits
        out_bits = in_bits + 8 if out_bits is None else out_bits   # sigmoid is int8
        out_bits = _check_int("out_bits", out_bits, 2, 64)
        super().__init__(in_bits=in_bits, out_bits=out_bits, lanes=lanes,
                         pipeline_regs=pipeline_regs, sideband={"row_max": signed(in_bits)})

    @property
    def out_scale(self) -> float:
        return self._scale / 2 ** 7

    def params(self) -> dict:
        return {"in_bits": self._in_bits, "scale": self._scale, "lanes": self.lanes,
                "pipeline_regs": self.pipeline_regs, "div_steps": self._div_steps,
                "out_bits": self._out_bits}

    def golden(self, x) -> np.ndarray:
        """Reference outputs for whole rows ``x`` (row maximum over the last axis)."""
        from . import golden
        values, _ = golden.shiftgelu(np.asarray(x, dtype=np.int64), self._scale)
        return np.asarray(values, dtype=np.int64)

    def steps(self):
        x0, n, bits = self.x0, self.N, self._in_bits
        lane_exp = _shift_exp_stages(x0, n, bits + 1, nonpositive=True)
        max_exp = _shift_exp_stages(x0, n, bits + 1, nonpositive=False)

        def pick(prefix, d):
            return {k[len(prefix):]: v for k, v in d.items() if k.startswith(prefix)}

        def tag(prefix, d):
            return {prefix + k: v for k, v in d.items()}

        def stage(i):      # shift-exp stage i for e(x - m) per lane and e(-m) per beat
            def shared_fn(m, shared):
                if i == 0:
                    neg_max = comb(m, -shared["row_max"], "neg_max")
                    return tag("mx_", max_exp[0](m, neg_max, "emax"))
                prev = pick("mx_", shared)
                out = max_exp[i](m, prev, "emax")
                drop = {f"mx_{k}": None for k in prev}
                return {**drop, "e_max": out} if i == 2 else {**drop, **tag("mx_", out)}

            def lane_fn(m, lane, shared):
                if i == 0:
                    d = comb(m, lane["x"] - shared["row_max"], "d")      # <= 0: m is the max
                    return tag("ex_", lane_exp[0](m, d, "e"))
                prev = pick("ex_", lane)
                out = lane_exp[i](m, prev, "e")
                drop = {f"ex_{k}": None for k in prev}
                return {**drop, "e": out} if i == 2 else {**drop, **tag("ex_", out)}
            return chain(shared_step(shared_fn), lane_step(lane_fn))

        def lane_sum(m, lane, shared):
            total = _wrap32(m, lane["e"] + shared["e_max"], "sum")
            return {"sum_neg": total < 0, "sum_zero": total == 0,
                    "den": Mux(total < 0, -total, total)[:32]}

        def lane_sigmoid(m, lane, shared):
            f = lane["factor"]
            factor = comb(m, Mux(lane["sum_zero"], 0, Mux(lane["sum_neg"], -f, f)), "fs")
            prod = _wrap32(m, factor[:32] * lane["e"][:32], "prod")
            return {"sig": prod >> 24, "factor": None, "e": None, "den": None}

        def lane_out(m, lane, shared):
            return {"y": lane["x"] * lane["sig"]}

        drop_max = shared_step(lambda m, shared: {"e_max": None, "row_max": None})
        return ([stage(0), stage(1), stage(2), chain(lane_step(lane_sum), drop_max)]
                + divider_steps((1 << 31) - 1, 31, "den", "factor", self._div_steps)
                + [lane_step(lane_sigmoid), lane_step(lane_out)])



# --------------------------------------------------------------------------------------------
# Piecewise-linear GELU
# --------------------------------------------------------------------------------------------
class PwlGelu(GeluUnit):
    """Piecewise-linear GELU with ``segments`` uniform segments over ``[-x_max, x_max)``,
    bit-exact with :func:`rtl.golden.pwl_gelu` (the golden model owns the table).

    The table is ``golden.pwl_gelu_table(scale, segments, x_max, frac_bits, in_bits)``:
    breakpoints ``b_0 < ... < b_segments`` (input codes) and per segment an integer slope ``K_i``
    and intercept ``C_i`` with ``frac_bits`` fractional bits; the output (at the input scale) is
    ``(K_i·q + C_i) >> frac_bits`` on segment i, 0 below ``b_0`` and ``q`` from ``b_segments`` on.

    Datapath per lane (3 steps): ``segments - 1`` comparators and the segment index -> table
    reads and one ``in_bits`` x slope-width product plus intercept -> shift and range select.
    """

    algo = "pwl"

    def __init__(self, *, in_bits: int = 8, scale: float = 2.0 ** -4, segments: int = 16,
                 x_max: float = 4.0, frac_bits: int = 12, lanes: int = 1,
                 pipeline_regs: int | None = None, out_bits: int | None = None):
        from . import golden
        self._scale = _check_scale(scale)
        self._in_bits = _check_int("in_bits", in_bits, 2, 24)
        self._segments = _check_int("segments", segments, 1, 256)
        if isinstance(x_max, bool) or not isinstance(x_max, (int, float)) or not x_max > 0:
            raise ValueError(f"x_max must be a positive number, not {x_max!r}")
        self._x_max = float(x_max)
        self._frac_bits = _check_int("frac_bits", frac_bits, 0, 30)
        table = golden.pwl_gelu_table(self._scale, self._segments, self._x_max,
                                      self._frac_bits, self._in_bits)
        self._breaks = [int(v) for v in table["breakpoints"]]
        self._slopes = [int(v) for v in table["slopes"]]
        self._icepts = [int(v) for v in table["intercepts"]]
        out_bits = self._out_bits_for(in_bits, out_bits)
        super().__init__(in_bits=in_bits, out_bits=out_bits, lanes=lanes,
                         pipeline_regs=pipeline_regs)

    @property
    def out_scale(self) -> float:
        return self._scale

    def params(self) -> dict:
        return {"in_bits": self._in_bits, "scale": self._scale, "segments": self._segments,
                "x_max": self._x_max, "frac_bits": self._frac_bits, "lanes": self.lanes,
                "pipeline_regs": self.pipeline_regs, "out_bits": self._out_bits}

    def golden(self, x) -> np.ndarray:
        from . import golden
        values, _ = golden.pwl_gelu(np.asarray(x, dtype=np.int64), self._scale,
                                    segments=self._segments, x_max=self._x_max,
                                    frac_bits=self._frac_bits, in_bits=self._in_bits)
        return np.asarray(values, dtype=np.int64)

    def steps(self):
        breaks, slopes, icepts, f = self._breaks, self._slopes, self._icepts, self._frac_bits
        nseg = len(slopes)
        kbits = _signed_bits(min(slopes), max(slopes))
        cbits = _signed_bits(min(icepts), max(icepts))
        rom_k = Array([Const(v, signed(kbits)) for v in slopes])
        rom_c = Array([Const(v, signed(cbits)) for v in icepts])
        ibits = max(1, (nseg - 1).bit_length())

        def index(m, lane, shared):
            x = lane["x"]
            above = [comb(m, x >= b, f"ge{i}") for i, b in enumerate(breaks[1:-1], 1)]
            idx = Const(0, ibits)
            for i, ge in enumerate(above, 1):          # breakpoints ascend: last true wins
                idx = Mux(ge, Const(i, ibits), idx)
            return {"idx": idx, "below": x < breaks[0], "above": x >= breaks[-1]}

        def line(m, lane, shared):
            return {"acc": rom_k[lane["idx"]] * lane["x"] + rom_c[lane["idx"]], "idx": None}

        def select(m, lane, shared):
            y = Mux(lane["below"], 0, Mux(lane["above"], lane["x"], lane["acc"] >> f))
            return {"y": y}

        return [lane_step(index), lane_step(line), lane_step(select)]


ALGOS: dict[str, type] = {"shiftgelu": ShiftGelu, "ibert": IBertGelu, "edgemoe": EdgeMoeGelu,
                          "pwl": PwlGelu}
