"""Softmax units: row-buffered, lane-parallel, bit-exact with the golden models of :mod:`rtl.golden`.

Every unit is a :class:`SoftmaxUnit` (an :class:`amaranth.lib.wiring.Component`) with

* ports ``i`` (input stream; payload ``lanes`` signed elements of ``in_bits``) and ``o`` (output
  stream; ``lanes`` elements of ``out_bits``, unsigned except Shiftmax's int8), with the
  valid/ready protocol of :mod:`amaranth.lib.stream`;
* a compile-time row length ``row_len``: a row is ``beats_per_row = ceil(row_len / lanes)``
  beats, element ``k`` of the row in beat ``k // lanes``, lane ``k % lanes``. When ``lanes`` does
  not divide ``row_len`` the last beat of a row carries ``row_len % lanes`` elements in its low
  lanes; the other lanes of that beat are ignored on input and are 0 on output. Every input beat
  gives exactly one output beat, in order.
* the whole row buffered in an on-chip memory (:class:`amaranth.lib.memory.Memory`, one word of
  ``lanes·in_bits`` bits per beat, synchronous read: block RAM on FPGAs), and the passes

  - Shiftmax, I-BERT, LUT (``passes = 3``): (1) stream the row in, store it, track the row
    maximum; (2) read it back through the exp pipeline and sum the exps; (3) normalisation
    (a sequential divider, or the LUT unit's leading-one + reciprocal table), then read the row a
    second time through the same exp pipeline, scale by the normalisation factor and stream out;
  - Edge-MoE (``passes = 2``): (1) stream the row in, store it and compute the online maximum and
    rescaled sum through the exp pipeline (element order, as ``finalize_attn``); the reciprocal
    ``2^44 / s`` on the sequential divider; (2) read the row back through the exp pipeline,
    multiply by the reciprocal and stream out.

  The exps are recomputed in the output pass rather than stored: one exp datapath serves both
  passes and the only memory is the input row.

Timing (``D = pipeline_regs + 1`` pipeline stages counting the memory read / input register,
``N = norm_cycles``, ``B = beats_per_row``), with ``i.valid`` and ``o.ready`` held high:

* ``cycles_per_row = passes·B + 2·D + N`` -- rows go back to back: the next row is accepted from
  the clock edge after the previous row's last output transfer (no double buffering);
* ``latency_cycles = (passes - 1)·B + 2·D + N`` -- clock edges from the first input transfer of
  a row to its first output transfer;
* ``elements_per_cycle = row_len / cycles_per_row``.

``i.ready`` is high only while a row is being read in; the output pass stalls as a whole under
``o.ready`` backpressure (no output is lost or duplicated); a synchronous reset at any point
returns the unit to waiting for the first beat of a row (the partial row is dropped).

Each class takes keyword arguments only, all with defaults, validated up front (``ValueError``
naming the parameter and the value); ``params()`` returns them, ``golden(rows)`` the expected
outputs of whole rows (``rtl.golden`` with the same parameters), ``out_scale`` the real value
of one output LSB. ``ALGOS`` maps the algorithm names to the classes.
"""
from __future__ import annotations

import math

import numpy as np
from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import Memory

from .common import PipelineControl, UnitParameters, comb, lane_step, lanes_signature, register_positions, run_steps

# FSM phases of every unit
IN, SUM, NORM, OUT = 0, 1, 2, 3
MAX_LANES = 64


def _check_int(name: str, value, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not lo <= value <= hi:
        raise ValueError(f"{name} must be an integer in [{lo}, {hi}], not {value!r}")
    return int(value)


def _check_pos(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) \
            or not value > 0 or not math.isfinite(value):
        raise ValueError(f"{name} must be a positive finite number, not {value!r}")
    return float(value)


def rom_reader(m: Module, table: list[int], name: str):
    """A read-only table as a :class:`Memory` with asynchronous read ports: ``read(index)``
    adds a port and returns its data. Synthesises like a case statement (LUTs), but the Verilog
    is a continuous ``assign`` from an initialised array, which every simulator evaluates at
    time 0 -- a ``case`` block (Amaranth's ``Array``) whose index never changes stays X in
    Icarus (``always @*`` does not run at time 0)."""
    width = max(1, max(table).bit_length())
    mem = Memory(shape=unsigned(width), depth=len(table), init=table)
    m.submodules[name] = mem

    def read(index):
        port = mem.read_port(domain="comb")
        m.d.comb += port.addr.eq(index)
        return port.data
    return read


class _Shifted:
    """``PipelineControl`` seen from stage ``offset`` on (for :func:`rtl.common.run_steps`):
    stage 0 of the units is the input register / memory read register, the steps follow."""

    def __init__(self, ctl: PipelineControl, offset: int):
        self.ctl, self.offset = ctl, offset
        self.depth = ctl.depth - offset

    def register(self, k: int, state: dict) -> dict:
        return self.ctl.register(k + self.offset, state)


def sequential_divider(m: Module, *, numerator: int, den, den_min: int, start, active,
                       bits_per_cycle: int, name: str):
    """``floor(numerator / den)`` by restoring division, ``bits_per_cycle`` quotient bits a cycle.

    ``numerator`` is a constant, ``den`` an unsigned value held steady while ``active``;
    ``den >= den_min > 0`` is the caller's guarantee, which bounds the quotient to
    ``q_bits = bit_length(numerator // den_min)`` bits. ``start`` (one cycle, before the first
    active cycle) initialises; each ``active`` cycle resolves ``bits_per_cycle`` bits, MSB first.
    Returns ``(quotient, done, cycles)``: the quotient register (valid from the clock edge where
    ``done`` is high), ``done`` (high in the last active cycle) and the number of active cycles
    ``ceil(q_bits / bits_per_cycle)``.
    """
    q_bits = max(1, (numerator // den_min).bit_length())
    steps = -(-q_bits // bits_per_cycle)
    qp = steps * bits_per_cycle               # quotient bits actually produced (top ones are 0)
    init_rem = numerator >> qp
    assert init_rem < den_min, "quotient bound violated"
    width = len(den) + 1
    rem = Signal(width, name=f"{name}_rem")
    low = Signal(qp, name=f"{name}_num")      # numerator bits still to bring down, MSB first
    quo = Signal(qp, name=f"{name}_quo")
    cnt = Signal(range(max(steps, 2)), name=f"{name}_cnt")
    done = Signal(name=f"{name}_done")
    m.d.comb += done.eq(active & (cnt == steps - 1))
    r, lw, q = rem, low, quo
    for i in range(bits_per_cycle):
        t = comb(m, Cat(lw[qp - 1], r[:width - 1]), f"{name}_t{i}")      # 2·rem + next bit
        ge = comb(m, t >= den, f"{name}_ge{i}")
        r = comb(m, Mux(ge, t - den, t)[:width], f"{name}_r{i}")
        lw = Cat(Const(0, 1), lw[:qp - 1])
        q = Cat(ge, q[:qp - 1])
    with m.If(start):
        m.d.sync += [rem.eq(init_rem), low.eq(numerator & ((1 << qp) - 1)), cnt.eq(0)]
    with m.Elif(active):
        m.d.sync += [rem.eq(r), low.eq(lw), quo.eq(q), cnt.eq(cnt + 1)]
    return quo, done, steps


class SoftmaxUnit(UnitParameters, wiring.Component):
    """Common part of the softmax units: row memory, phases, counters and the shared exp pipeline
    (see the module docstring for the guarantees). Subclasses provide :meth:`steps` (the
    pipeline from the per-lane front values to ``e``, the value summed, and ``y``, the output),
    :meth:`_registers`, :meth:`_front`, :meth:`_accumulate`, :meth:`_normalise`,
    :meth:`_row_reset` and :attr:`norm_cycles`."""

    kind = "softmax"
    algo = ""
    PASSES = 3
    ONLINE = False          # pass 1 runs through the pipeline (Edge-MoE's online max and sum)

    # Units are also built only for their parameters and golden model (benches, CLI).
    _MustUse__silence = True

    def __init__(self, *, in_bits: int, out_bits: int, out_signed: bool, row_len: int,
                 lanes: int, pipeline_regs, max_row_len: int):
        self._in_bits = in_bits
        self._out_bits = out_bits
        self._out_signed = out_signed
        self._row_len = _check_int("row_len", row_len, 1, max_row_len)
        self._lanes = _check_int("lanes", lanes, 1, MAX_LANES)
        n_steps = len(self.steps(None))
        if pipeline_regs is None:
            pipeline_regs = n_steps
        self._pipeline_regs = _check_int("pipeline_regs", pipeline_regs, 1, n_steps)
        self._positions = register_positions(n_steps, self._pipeline_regs)
        out_shape = signed(out_bits) if out_signed else unsigned(out_bits)
        super().__init__(lanes_signature(signed(in_bits), out_shape, self._lanes))

    # -- parameters and documented figures --------------------------------------------------
    @property
    def out_signed(self) -> bool:
        return self._out_signed

    @property
    def row_len(self) -> int:
        return self._row_len

    @property
    def max_pipeline_regs(self) -> int:
        return len(self.steps(None))

    @property
    def passes(self) -> int:
        """Passes over the row at one beat per cycle (input, [sum,] output)."""
        return self.PASSES

    @property
    def beats_per_row(self) -> int:
        return -(-self._row_len // self._lanes)

    @property
    def pipeline_depth(self) -> int:
        """``D``: the input / memory-read register plus ``pipeline_regs`` stages."""
        return self._pipeline_regs + 1

    @property
    def norm_cycles(self) -> int:
        """``N``: cycles of the normalisation phase between the sum and the output pass."""
        raise NotImplementedError

    @property
    def cycles_per_row(self) -> int:
        """``passes·B + 2·D + N`` cycles per row, rows back to back, no valid/ready stalls:
        each pass takes one cycle per beat; the sum pass (or the online input pass) ends when
        its last beat leaves the D-stage pipeline, the output pass pays D again before its first
        output, and the normalisation N cycles."""
        return self.PASSES * self.beats_per_row + 2 * self.pipeline_depth + self.norm_cycles

    @property
    def latency_cycles(self) -> int:
        """Clock edges from a row's first input transfer to its first output transfer:
        ``(passes - 1)·B + 2·D + N``."""
        return (self.PASSES - 1) * self.beats_per_row + 2 * self.pipeline_depth + self.norm_cycles

    @property
    def elements_per_cycle(self) -> float:
        """Sustained throughput ``row_len / cycles_per_row``."""
        return self._row_len / self.cycles_per_row

    def input_range(self) -> tuple[int, int]:
        return -(1 << (self._in_bits - 1)), (1 << (self._in_bits - 1)) - 1

    def params(self) -> dict:
        raise NotImplementedError

    def golden(self, rows) -> np.ndarray:
        """Expected outputs for ``rows`` (..., row_len) of input codes."""
        raise NotImplementedError

    def _check_rows(self, rows) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        if rows.ndim < 1 or rows.shape[-1] != self._row_len:
            raise ValueError(f"rows must have row_len = {self._row_len} elements on the last axis, "
                             f"got shape {rows.shape}")
        return rows

    # -- hooks ---------------------------------------------------------------------------------
    def steps(self, regs):
        raise NotImplementedError

    def _registers(self, m: Module) -> dict:
        return {}

    def _front(self, m: Module, regs: dict, x: list, lv: list, first, in_phase, advance) -> dict:
        """Per-lane values entering the steps, from stage 0's elements ``x`` (``lv``: lane holds
        an element of the row; ``first``: beat 0 of the row; ``in_phase``: the input pass;
        ``advance``: stage 0 moves on this edge)."""
        return {"x": x}

    def _accumulate(self, m: Module, regs: dict, final: dict, fire) -> None:
        """Sync updates when a beat leaves the pipeline in the sum pass (or the input pass when
        ``ONLINE``); ``final`` is the last stage's state (``lv`` masks the lanes)."""

    def _normalise(self, m: Module, regs: dict, start, active):
        """Normalisation; returns ``done`` (high in its last cycle)."""
        raise NotImplementedError

    def _row_reset(self, m: Module, regs: dict) -> list:
        """Sync statements returning the row accumulators to their reset values."""
        return []

    # -- hardware ------------------------------------------------------------------------------
    def elaborate(self, platform):
        m = Module()
        lanes, w, B = self._lanes, self._in_bits, self.beats_per_row
        tail = self._row_len % lanes          # elements in the last beat (0: full)

        def lane_valid(last):
            return [Const(1, 1) if (tail == 0 or j < tail) else ~last for j in range(lanes)]

        phase = Signal(range(4), name="phase")
        in_cnt = Signal(range(B + 1), name="in_cnt")
        rd_cnt = Signal(range(B + 1), name="rd_cnt")
        done_cnt = Signal(range(B + 1), name="done_cnt")
        is_in = comb(m, phase == IN, "is_in")
        is_out = comb(m, phase == OUT, "is_out")

        m.submodules.row_buf = buf = Memory(shape=unsigned(lanes * w), depth=B, init=[])
        wr = buf.write_port()
        rd = buf.read_port()

        regs = self._registers(m)
        norm_start = Signal(name="norm_start")
        done = self._normalise(m, regs, norm_start, phase == NORM)   # defines the factor register
        in_open = comb(m, is_in & (in_cnt < B), "in_open")
        issue = comb(m, Mux(is_in, self.i.valid & in_open if self.ONLINE else 0,
                            ((phase == SUM) | is_out) & (rd_cnt < B)), "issue")
        ctl = PipelineControl(m, self.pipeline_depth, in_valid=issue,
                              out_ready=Mux(is_out, self.o.ready, 1), name="pipe")
        in_ready = in_open & ctl.load[0] if self.ONLINE else in_open
        m.d.comb += self.i.ready.eq(in_ready)
        in_xfer = comb(m, self.i.valid & in_ready, "in_xfer")

        # pass 1: store the row
        m.d.comb += [wr.addr.eq(in_cnt), wr.data.eq(self.i.payload.as_value()),
                     wr.en.eq(in_xfer)]
        if not self.ONLINE:                   # running maximum of the valid lanes
            mx = regs["max"]
            x_in = [self.i.payload[j] for j in range(lanes)]
            lv_in = lane_valid(in_cnt == B - 1)
            cand = mx
            for j in range(lanes):
                cand = comb(m, Mux(lv_in[j] & (x_in[j] > cand), x_in[j], cand), f"max_c{j}")
            with m.If(in_xfer):
                m.d.sync += mx.eq(cand)

        # stage 0: input register (online pass 1) or memory read register
        x_reg = Signal(lanes * w, name="x_in_reg", reset_less=True)
        idx0 = Signal(range(max(B, 2)), name="stage0_beat", reset_less=True)
        m.d.comb += [rd.addr.eq(rd_cnt), rd.en.eq(ctl.load[0])]
        with m.If(ctl.load[0]):
            m.d.sync += [x_reg.eq(self.i.payload.as_value()),
                         idx0.eq(Mux(is_in, in_cnt, rd_cnt))]
            with m.If(issue & ~is_in):
                m.d.sync += rd_cnt.eq(rd_cnt + 1)
        raw0 = comb(m, Mux(is_in, x_reg, rd.data), "stage0_x") if self.ONLINE else rd.data
        x0 = [raw0[j * w:(j + 1) * w].as_signed() for j in range(lanes)]
        last0 = comb(m, idx0 == B - 1, "stage0_last")
        lv0 = lane_valid(last0)
        advance0 = ctl.valid[0] & ctl.load[1]
        state = self._front(m, regs, x0, lv0, idx0 == 0, is_in, advance0)
        state = {**state, "lv": [comb(m, v, f"lv{j}") for j, v in enumerate(lv0)]}
        final = run_steps(m, _Shifted(ctl, 1), self.steps(regs), state, self._positions)

        # the pipeline end: sum (or online pass 1), output
        fire_acc = comb(m, ctl.out_valid & (is_in if self.ONLINE else phase == SUM), "fire_acc")
        self._accumulate(m, regs, final, fire_acc)
        m.d.comb += self.o.valid.eq(ctl.out_valid & is_out)
        for j in range(lanes):
            m.d.comb += self.o.payload[j].eq(Mux(final["lv"][j], final["y"][j], 0))
        out_xfer = comb(m, self.o.valid & self.o.ready, "out_xfer")
        with m.If(fire_acc | out_xfer):
            m.d.sync += done_cnt.eq(done_cnt + 1)

        # phases
        with m.Switch(phase):
            with m.Case(IN):
                with m.If(in_xfer):
                    m.d.sync += in_cnt.eq(in_cnt + 1)
                if self.ONLINE:
                    with m.If(fire_acc & (done_cnt == B - 1)):
                        m.d.comb += norm_start.eq(1)
                        m.d.sync += [phase.eq(NORM), done_cnt.eq(0)]
                else:
                    with m.If(in_xfer & (in_cnt == B - 1)):
                        m.d.sync += [phase.eq(SUM), rd_cnt.eq(0), done_cnt.eq(0)]
            with m.Case(SUM):
                with m.If(fire_acc & (done_cnt == B - 1)):
                    m.d.comb += norm_start.eq(1)
                    m.d.sync += [phase.eq(NORM), done_cnt.eq(0)]
            with m.Case(NORM):
                with m.If(done):
                    m.d.sync += [phase.eq(OUT), rd_cnt.eq(0), done_cnt.eq(0)]
            with m.Case(OUT):
                with m.If(out_xfer & (done_cnt == B - 1)):
                    m.d.sync += [phase.eq(IN), in_cnt.eq(0), done_cnt.eq(0),
                                 *self._row_reset(m, regs)]
        return m


class _MaxSumSoftmax(SoftmaxUnit):
    """The three-pass units: the input pass tracks the row maximum ``max``; the sum pass adds
    the lanes' exps (``final["e"]``) into ``sum``, wide enough for ``row_len`` exps of the
    largest value ``_e_top``."""

    @property
    def _e_top(self) -> int:
        raise NotImplementedError

    @property
    def _sum_bits(self) -> int:
        return (self._row_len * self._e_top).bit_length()

    def _registers(self, m):
        lo, _ = self.input_range()
        return {"max": Signal(signed(self._in_bits), init=lo, name="row_max"),
                "sum": Signal(self._sum_bits, name="row_sum")}

    def _accumulate(self, m, regs, final, fire):
        total = regs["sum"]
        for j in range(self._lanes):
            total = total + Mux(final["lv"][j], final["e"][j], 0)
        with m.If(fire):
            m.d.sync += regs["sum"].eq(total[:self._sum_bits])

    def _row_reset(self, m, regs):
        lo, _ = self.input_range()
        return [regs["max"].eq(lo), regs["sum"].eq(0)]


class _DividerSoftmax(_MaxSumSoftmax):
    """Three-pass units whose exp pipeline takes the distance ``d = x - max`` and whose
    normalisation factor ``floor(NUMERATOR / sum)`` comes from the sequential divider
    (``sum >= _e_top``: the row maximum's exp is in it)."""
    NUMERATOR: int

    @property
    def norm_cycles(self) -> int:
        q_bits = (self.NUMERATOR // self._e_top).bit_length()
        return -(-q_bits // self._div_bits)

    def _front(self, m, regs, x, lv, first, in_phase, advance):
        return {"d": [comb(m, xj - regs["max"], f"d{j}") for j, xj in enumerate(x)]}

    def _normalise(self, m, regs, start, active):
        quo, done, _ = sequential_divider(m, numerator=self.NUMERATOR, den=regs["sum"],
                                          den_min=self._e_top, start=start, active=active,
                                          bits_per_cycle=self._div_bits, name="div")
        regs["factor"] = quo
        return done


# ------------------------------------------------------------------------------------------------
# I-ViT Shiftmax
# ------------------------------------------------------------------------------------------------
class Shiftmax(_DividerSoftmax):
    """I-ViT's Shiftmax as in its integer deployment code (zkkli/I-ViT,
    ``TVM_benchmark/models/layers.py``, ``quantized_softmax`` with ``shift_exp``, int32
    arithmetic, truncating division), bit-exact with :func:`rtl.golden.shiftmax`.

    exp by shift-exp (``d + (d >> 1) - (d >> 4)``, division by the constant x0, mantissa and
    barrel shift -- the datapath of :class:`rtl.gelu.ShiftGelu`), int32 row sum S, ``factor =
    (2^31 - 1) / S`` on a sequential divider (``div_bits_per_cycle`` quotient bits per cycle),
    output ``(factor·e) >> 24`` in [0, 127] as int8, ``out_scale = 2^-7``.

    Steps (4): shift-add and clamp -> division by x0 -> mantissa shift (e) -> factor·e >> 24.
    The int32 sum must not wrap: ``row_len·(-x0)·2^n < 2^31`` is required (at scale 2^-4, n 16:
    row_len <= 1927); the reference wraps beyond, the unit refuses such a row_len.
    """

    algo = "shiftmax"
    NUMERATOR = 2 ** 31 - 1

    def __init__(self, *, in_bits: int = 8, scale: float = 2.0 ** -4, n: int = 16,
                 row_len: int = 197, lanes: int = 1, pipeline_regs: int | None = None,
                 div_bits_per_cycle: int = 1):
        from . import golden
        self._scale = _check_pos("scale", scale)
        in_bits = _check_int("in_bits", in_bits, 2, 24)
        self._n = _check_int("n", n, 1, 30)
        self.x0 = golden.shiftmax_x0(self._scale)
        self.e_max = (-self.x0) << self._n            # e of the row maximum (d = 0)
        if self.e_max >= 2 ** 31:
            raise ValueError(f"scale {scale} with n {n}: the exp of 0, -x0·2^n = {self.e_max}, "
                             f"overflows int32")
        max_row = (2 ** 31 - 1) // self.e_max
        self._div_bits = _check_int("div_bits_per_cycle", div_bits_per_cycle, 1, 31)
        self._in_bits = in_bits
        super().__init__(in_bits=in_bits, out_bits=8, out_signed=True, row_len=row_len,
                         lanes=lanes, pipeline_regs=pipeline_regs, max_row_len=max_row)
        assert self._sum_bits <= 31

    @property
    def out_scale(self) -> float:
        return 2.0 ** -7

    @property
    def _e_top(self) -> int:
        return self.e_max

    def params(self) -> dict:
        return {"in_bits": self._in_bits, "scale": self._scale, "n": self._n,
                "row_len": self._row_len, "lanes": self._lanes,
                "pipeline_regs": self._pipeline_regs, "div_bits_per_cycle": self._div_bits}

    def golden(self, rows) -> np.ndarray:
        from . import golden
        values, _ = golden.shiftmax(self._check_rows(rows), self._scale, n=self._n)
        return np.asarray(values, dtype=np.int64)

    def steps(self, regs):
        from .gelu import _shift_exp_stages
        clamp, divide, output = _shift_exp_stages(self.x0, self._n, self._in_bits + 1,
                                                  nonpositive=True)

        def s_clamp(m, lane, shared):
            out = clamp(m, lane["d"], "se")
            return {"d": None, "mag": out["mag"]}

        def s_divide(m, lane, shared):
            out = divide(m, {"mag": lane["mag"]}, "se")
            return {"mag": None, "r": out["r"], "shift": out["shift"]}

        def s_exp(m, lane, shared):
            e = output(m, {"r": lane["r"], "shift": lane["shift"]}, "se")
            return {"r": None, "shift": None, "e": e.as_unsigned()[:31]}   # 0 <= e < 2^31

        def s_scale(m, lane, shared):
            prod = comb(m, regs["factor"] * lane["e"], "fe")           # <= 2^31 - 1: no wrap
            return {"y": (prod >> 24)[:8]}

        return [lane_step(s_clamp), lane_step(s_divide), lane_step(s_exp), lane_step(s_scale)]



# ------------------------------------------------------------------------------------------------
# I-BERT IntSoftmax
# ------------------------------------------------------------------------------------------------
class IBertSoftmax(_DividerSoftmax):
    """I-BERT's ``IntSoftmax`` (kssteven418/I-BERT ``fairseq/quantization/utils/quant_modules.py``)
    with its 16-bit ``QuantAct`` requantisation (``fixedpoint_mul``), bit-exact with
    :func:`rtl.golden.ibert_softmax`; constants from :func:`rtl.golden.ibert_softmax_constants`.

    i-exp of d = q - max: clamp at 30·x0, ``qq = floor(d / x0)`` by restoring division by the
    constant x0, ``r = d - x0·qq``, ``z = r·(r + b) + c``; requantisation ``e16 =
    clamp(round_half_even(z·2^(30 - qq)·m_int / 2^shift), 0, 32767)`` computed exactly (the
    product z·m_int, then a variable shift by ``shift - 30 + qq`` with round-half-even); row sum;
    ``factor = floor(2^32 / sum16)`` on a sequential divider; output
    ``floor(e16·factor / 2^(32 - out_bits))`` in [0, 2^out_bits] (``out_bits + 1`` bits unsigned),
    ``out_scale = 2^-out_bits``.

    Steps (5): clamp and division by x0 -> polynomial -> z·m_int -> shift, round, clamp (e16)
    -> e16·factor.
    """

    algo = "ibert"
    NUMERATOR = 1 << 32

    def __init__(self, *, in_bits: int = 8, scale: float = 2.0 ** -4,
                 exp_scale16: float = 1 / 32767, out_bits: int = 8, row_len: int = 197,
                 lanes: int = 1, pipeline_regs: int | None = None, div_bits_per_cycle: int = 1):
        from . import golden
        self._scale = _check_pos("scale", scale)
        self._exp_scale16 = _check_pos("exp_scale16", exp_scale16)
        in_bits = _check_int("in_bits", in_bits, 2, 16)
        self._ob = _check_int("out_bits", out_bits, 1, 31)
        self._div_bits = _check_int("div_bits_per_cycle", div_bits_per_cycle, 1, 33)
        k = golden.ibert_softmax_constants(self._scale, self._exp_scale16)
        self.x0, self.b_int, self.c_int = k["x0"], k["b"], k["c"]
        self.m_int, self.shift = k["m_int"], k["shift"]
        if self.x0 >= 0:
            raise ValueError(f"scale {scale} is too coarse for i-exp: x0 = {self.x0} must be negative")
        self._in_bits = in_bits
        # e16 of every distance d = q - max the row can hold: its largest value (d = 0) bounds
        # the sum and the divider; it must be >= 1 or the sum can be zero.
        d = -np.arange(0, 1 << in_bits, dtype=np.int64)
        e16 = self._e16_model(d)
        self.e16_max = int(e16.max())
        if self.e16_max < 1:
            raise ValueError(f"exp_scale16 {exp_scale16} is too coarse for scale {scale}: the "
                             f"exp of the row maximum requantises to 0")
        super().__init__(in_bits=in_bits, out_bits=self._ob + 1, out_signed=False,
                         row_len=row_len, lanes=lanes, pipeline_regs=pipeline_regs,
                         max_row_len=1 << 20)

    def _e16_model(self, d: np.ndarray) -> np.ndarray:
        """The golden model's requantised exp of distances ``d <= 0`` (for sizing)."""
        from . import golden
        e, _ = golden.ibert_exp(d, self._scale)
        prod = e.astype(object) * self.m_int
        return np.clip(golden._round_shift_half_even(prod, self.shift).astype(np.int64),
                       -32768, 32767)

    @property
    def out_scale(self) -> float:
        return 2.0 ** -self._ob

    @property
    def _e_top(self) -> int:
        return self.e16_max

    def params(self) -> dict:
        return {"in_bits": self._in_bits, "scale": self._scale, "exp_scale16": self._exp_scale16,
                "out_bits": self._ob, "row_len": self._row_len, "lanes": self._lanes,
                "pipeline_regs": self._pipeline_regs, "div_bits_per_cycle": self._div_bits}

    def golden(self, rows) -> np.ndarray:
        from . import golden
        values, _ = golden.ibert_softmax(self._check_rows(rows), self._scale,
                                         exp_scale16=self._exp_scale16, out_bits=self._ob)
        return np.asarray(values, dtype=np.int64)

    def steps(self, regs):
        x0, b, c, m_int, shift, ob = self.x0, self.b_int, self.c_int, self.m_int, self.shift, self._ob
        ax0 = -x0
        mag_max = min(30 * ax0, (1 << self._in_bits) - 1)     # |clamped d| of a valid lane
        q_max = mag_max // ax0                                # <= 30
        qbits = max(1, q_max.bit_length())
        mwidth = mag_max.bit_length()
        kmin, kmax = shift - 30, shift - 30 + q_max           # right-shift amount of z·m_int

        def s_divide(m, lane, shared):
            d = lane["d"]
            xc = comb(m, Mux(d < 30 * x0, 30 * x0, d), "ib_xc")
            rem = comb(m, (-xc)[:mwidth], "ib_mag")
            q_bits = []
            for k in reversed(range(qbits)):
                ge = comb(m, rem >= (ax0 << k), f"ib_q{k}")
                rem = comb(m, Mux(ge, rem - (ax0 << k), rem)[:mwidth], f"ib_r{k}")
                q_bits.append(ge)
            return {"d": None, "qq": Cat(*reversed(q_bits)), "r": -rem}   # r in (x0, 0]

        def s_poly(m, lane, shared):
            r = lane["r"]
            return {"r": None, "z": r * (r + b) + c}

        def s_mult(m, lane, shared):
            z = lane["z"]
            return {"z": None, "zneg": z < 0, "p": z.as_unsigned()[:len(z) - 1] * m_int}

        def s_round(m, lane, shared):
            p, qq = lane["p"], lane["qq"]
            k = comb(m, qq + kmin, "ib_k")                     # signed when kmin < 0
            e = None
            if kmax >= 1:                                      # right shift, round half to even
                kbits = kmax.bit_length()
                kr = comb(m, Mux(k >= 1, k, 1).as_unsigned()[:kbits], "ib_kr")
                q = comb(m, p >> kr, "ib_q")
                rem = comb(m, (p - (q << kr))[:len(p)], "ib_rem")
                half = comb(m, Const(1, 1) << (kr - 1).as_unsigned()[:kbits], "ib_half")
                up = (rem > half) | ((rem == half) & q[0])
                e = comb(m, q + up, "ib_er")
            if kmin <= 0:                                      # left shift, exact
                lbits = max(1, (-kmin).bit_length())
                kl = comb(m, Mux(k <= 0, -k, 0).as_unsigned()[:lbits], "ib_kl")
                el = comb(m, p << kl, "ib_el")
                e = el if e is None else comb(m, Mux(k >= 1, e, el), "ib_e")
            e16 = Mux(lane["zneg"], 0, Mux(e > 32767, 32767, e))
            return {"p": None, "qq": None, "zneg": None, "e": comb(m, e16[:15], "ib_e16")}

        def s_scale(m, lane, shared):
            prod = comb(m, lane["e"] * regs["factor"], "ib_prod")        # <= 2^32
            return {"y": (prod >> (32 - ob))[:ob + 1]}

        return [lane_step(s_divide), lane_step(s_poly), lane_step(s_mult), lane_step(s_round),
                lane_step(s_scale)]



# ------------------------------------------------------------------------------------------------
# Edge-MoE single-pass softmax
# ------------------------------------------------------------------------------------------------
class EdgeMoeSoftmax(SoftmaxUnit):
    """Edge-MoE's single-pass softmax (sharc-lab/Edge-MoE ``src/attention.cpp``:
    ``finalize_attn`` and ``compute_attn_matmul_v``) on raw Q10.22 words (``ap_fixed<32,10>``),
    bit-exact with :func:`rtl.golden.edgemoe_softmax` and its exp unit
    :func:`rtl.golden.edgemoe_exp` (``2^-frac`` from a ``2^exp_lut_bits``-entry table, shifted by
    the integer part of ``-d·log2 e``).

    Pass 1 keeps the online maximum m and rescaled sum s in element order: the maximum chain
    runs at stage 0 (one compare per lane), the exps of the differences in the pipeline, and
    ``s = new ? ((s·e) >> 22) + 2^22 : s + e`` at its end (lanes chained within a beat).
    ``recip = floor(2^44 / s)`` (23 bits) on the sequential divider, then pass 2 outputs
    ``(exp(x - m)·recip) >> 22`` in [0, 2^22] (23 bits unsigned, Q.22; ``out_scale = 2^-22``).
    Differences are exact for any 32-bit inputs (a distance of 16.0 or more has exp 0).
    ``row_len <= 511`` keeps s below 2^31 as Q10.22 requires.

    Steps (5): |distance|·log2(e) -> table read -> shift (e) -> e·recip -> >> 22.
    """

    algo = "edgemoe"
    PASSES = 2
    ONLINE = True
    Q = 22
    SAT = 1 << 26        # -d >= 16.0 in Q.22: u >= 23·2^22, exp is 0

    def __init__(self, *, row_len: int = 197, lanes: int = 1, exp_lut_bits: int = 8,
                 pipeline_regs: int | None = None, div_bits_per_cycle: int = 1):
        from . import golden
        self._lut_bits = _check_int("exp_lut_bits", exp_lut_bits, 1, 12)
        self._div_bits = _check_int("div_bits_per_cycle", div_bits_per_cycle, 1, 23)
        self._table = [int(v) for v in golden.edgemoe_exp_table(self._lut_bits)]
        self._log2e = golden.LOG2E_Q22
        assert ((self.SAT * self._log2e) >> self.Q) >> self.Q >= self.Q + 1
        super().__init__(in_bits=32, out_bits=self.Q + 1, out_signed=False, row_len=row_len,
                         lanes=lanes, pipeline_regs=pipeline_regs, max_row_len=511)
        self._s_bits = (self._row_len << self.Q).bit_length()      # s <= row_len·2^22 < 2^31

    @property
    def out_scale(self) -> float:
        return 2.0 ** -self.Q

    @property
    def norm_cycles(self) -> int:
        q_bits = ((1 << 2 * self.Q) >> self.Q).bit_length()         # recip <= 2^22: 23 bits
        return -(-q_bits // self._div_bits)

    def params(self) -> dict:
        return {"row_len": self._row_len, "lanes": self._lanes, "exp_lut_bits": self._lut_bits,
                "pipeline_regs": self._pipeline_regs, "div_bits_per_cycle": self._div_bits}

    def golden(self, rows) -> np.ndarray:
        from . import golden
        values, _ = golden.edgemoe_softmax(self._check_rows(rows), exp_lut_bits=self._lut_bits)
        return np.asarray(values, dtype=np.int64)

    def _registers(self, m):
        return {"m": Signal(signed(32), name="row_max"), "s": Signal(self._s_bits, name="row_sum")}

    def _front(self, m, regs, x, lv, first, in_phase, advance):
        mrun = regs["m"]
        ds, news = [], []
        for j, xj in enumerate(x):
            diff = comb(m, xj - mrun, f"diff{j}")                       # 33 bits, exact
            new = (diff > 0) | first if j == 0 else diff > 0
            new = comb(m, in_phase & lv[j] & new, f"new{j}")             # pass 1 only
            d = Mux(new, -diff, diff)                                   # -|x - m| in pass 1
            ds.append(comb(m, d, f"d{j}"))
            news.append(new)
            mrun = comb(m, Mux(new, xj, mrun), f"m{j}")
        with m.If(advance & in_phase):
            m.d.sync += regs["m"].eq(mrun)
        return {"d": ds, "nw": news}

    def steps(self, regs):
        Q, b, table, c = self.Q, self._lut_bits, self._table, self._log2e

        shared_roms = {}          # one table, a read port per lane

        def s_log2(m, lane, shared):
            a = comb(m, (-lane["d"]).as_unsigned(), "em_a")           # >= 0 for valid lanes
            sat = comb(m, a >= self.SAT, "em_sat")
            u = comb(m, (a[:26] * c) >> Q, "em_u")                     # < 2^27
            return {"d": None, "sat": sat, "u": u[:27]}

        def s_lookup(m, lane, shared):
            u = lane["u"]
            if "rom" not in shared_roms:
                shared_roms["rom"] = rom_reader(m, table, "exp2_rom")
            return {"u": None, "k": u[Q:27], "val": shared_roms["rom"](u[Q - b:Q])}

        def s_shift(m, lane, shared):
            k = lane["k"]
            zero = lane["sat"] | (k >= Q + 1)
            return {"k": None, "val": None, "sat": None,
                    "e": comb(m, Mux(zero, 0, lane["val"] >> k)[:Q + 1], "em_e")}

        def s_mul(m, lane, shared):
            return {"p": lane["e"] * regs["recip"]}                       # <= 2^44

        def s_out(m, lane, shared):
            return {"p": None, "y": (lane["p"] >> Q)[:Q + 1]}

        return [lane_step(s_log2), lane_step(s_lookup), lane_step(s_shift), lane_step(s_mul),
                lane_step(s_out)]

    def _accumulate(self, m, regs, final, fire):
        one, sb = 1 << self.Q, self._s_bits
        s = regs["s"]
        for j in range(self._lanes):
            e = final["e"][j]
            rescaled = comb(m, ((s * e) >> self.Q) + one, f"s_new{j}")
            nxt = Mux(final["nw"][j], rescaled, s + e)
            s = comb(m, Mux(final["lv"][j], nxt, s)[:sb], f"s{j}")
        with m.If(fire):
            m.d.sync += regs["s"].eq(s)

    def _normalise(self, m, regs, start, active):
        quo, done, _ = sequential_divider(m, numerator=1 << 2 * self.Q, den=regs["s"],
                                          den_min=1 << self.Q, start=start, active=active,
                                          bits_per_cycle=self._div_bits, name="div")
        regs["recip"] = quo
        return done

    def _row_reset(self, m, regs):
        return [regs["s"].eq(0)]


# ------------------------------------------------------------------------------------------------
# LUT softmax (hls4ml style, normalised reciprocal table)
# ------------------------------------------------------------------------------------------------
class LutSoftmax(_MaxSumSoftmax):
    """Table softmax in the style of hls4ml's ``softmax_stable`` with a normalised reciprocal
    table, bit-exact with :func:`rtl.golden.lut_softmax`; tables from
    :func:`rtl.golden.lut_softmax_tables`.

    ``e = EXP[max - q]`` (``2^in_bits`` entries of ``exp_bits + 1`` bits), S = sum e; the
    normalisation (``norm_cycles = 2``) finds p, the position of S's leading one, and j, the
    ``recip_bits`` bits after it, then reads ``RECIP[j]`` (16 fractional bits); output
    ``min((e·RECIP[j]) >> (p + 16 - out_bits), 2^out_bits - 1)``, ``out_scale = 2^-out_bits``.

    Steps (3): table read (e) -> e·RECIP[j] -> shift and saturate.
    """

    algo = "lut"
    RECIP_FRAC = 16

    def __init__(self, *, in_bits: int = 8, scale: float = 2.0 ** -4, exp_bits: int = 15,
                 recip_bits: int = 8, out_bits: int = 8, row_len: int = 197, lanes: int = 1,
                 pipeline_regs: int | None = None):
        from . import golden
        self._scale = _check_pos("scale", scale)
        in_bits = _check_int("in_bits", in_bits, 2, 12)
        self._exp_bits = _check_int("exp_bits", exp_bits, 1, 30)
        self._recip_bits = _check_int("recip_bits", recip_bits, 1, self._exp_bits)
        self._ob = _check_int("out_bits", out_bits, 1, min(32, self._exp_bits + self.RECIP_FRAC))
        t = golden.lut_softmax_tables(self._scale, in_bits, self._exp_bits, self._recip_bits)
        self._exp_t = [int(v) for v in t["exp"]]
        self._recip_t = [int(v) for v in t["recip"]]
        self._in_bits = in_bits
        super().__init__(in_bits=in_bits, out_bits=self._ob, out_signed=False, row_len=row_len,
                         lanes=lanes, pipeline_regs=pipeline_regs, max_row_len=1 << 20)

    @property
    def out_scale(self) -> float:
        return 2.0 ** -self._ob

    @property
    def norm_cycles(self) -> int:
        return 2          # leading one and mantissa bits; reciprocal table read

    def params(self) -> dict:
        return {"in_bits": self._in_bits, "scale": self._scale, "exp_bits": self._exp_bits,
                "recip_bits": self._recip_bits, "out_bits": self._ob, "row_len": self._row_len,
                "lanes": self._lanes, "pipeline_regs": self._pipeline_regs}

    def golden(self, rows) -> np.ndarray:
        from . import golden
        values, _ = golden.lut_softmax(self._check_rows(rows), self._scale, in_bits=self._in_bits,
                                       exp_bits=self._exp_bits, recip_bits=self._recip_bits,
                                       out_bits=self._ob)
        return np.asarray(values, dtype=np.int64)

    @property
    def _e_top(self) -> int:
        return max(self._exp_t)

    def _registers(self, m):
        sb = self._sum_bits
        return {**super()._registers(m),
                "p": Signal(range(sb), name="lead"),
                "j": Signal(self._recip_bits, name="mant"),
                "recip": Signal(max(self._recip_t).bit_length(), name="recip"),
                "sh": Signal(range(sb + self.RECIP_FRAC + 1), name="out_shift")}

    def steps(self, regs):
        ob, w = self._ob, self._in_bits
        roms = {}                 # one table, a read port per lane
        top = (1 << ob) - 1

        def s_exp(m, lane, shared):
            i = comb(m, (regs["max"] - lane["x"])[:w], "lut_i")
            if "exp" not in roms:
                roms["exp"] = rom_reader(m, self._exp_t, "exp_rom")
            return {"x": None, "e": roms["exp"](i)}

        def s_mul(m, lane, shared):
            return {"p": lane["e"] * regs["recip"]}

        def s_out(m, lane, shared):
            v = comb(m, lane["p"] >> regs["sh"], "lut_v")
            return {"p": None, "y": Mux(v > top, top, v)[:ob]}

        return [lane_step(s_exp), lane_step(s_mul), lane_step(s_out)]

    def _normalise(self, m, regs, start, active):
        s, rb, sb = regs["sum"], self._recip_bits, self._sum_bits
        first = Signal(name="norm_first")      # 1 in the first normalisation cycle
        m.d.sync += first.eq(start)
        lead = Const(0, range(sb))
        for i in range(sb):                    # position of the leading one (S >= 2^exp_bits)
            lead = Mux(s[i], i, lead)
        lead = comb(m, lead, "lut_lead")
        recip_of_j = rom_reader(m, self._recip_t, "recip_rom")(regs["j"])
        with m.If(active & first):
            m.d.sync += [regs["p"].eq(lead),
                         regs["j"].eq((s >> (lead - rb).as_unsigned())[:rb]),
                         regs["sh"].eq(lead + self.RECIP_FRAC - self._ob)]
        with m.If(active & ~first):
            m.d.sync += regs["recip"].eq(recip_of_j)
        return active & ~first


ALGOS: dict[str, type] = {"shiftmax": Shiftmax, "ibert": IBertSoftmax, "edgemoe": EdgeMoeSoftmax,
                          "lut": LutSoftmax}
