"""Systolic-array generator: the R x C PE grid of ``hwsim/backends/systolic_pe.py`` in Amaranth.

:class:`SystolicArray` is the register-level machine that ``hwsim.backends.systolic_pe`` steps in
numba (same registers, same skew / de-skew lines, same weight shift chains, same fold schedule), for
``ws``, ``os`` and ``is``, with the stationary data double-buffered (hwsim's timing) or not
(SCALE-Sim's), plus the control FSM that runs one tiled GEMM ``A (M x K) @ B (K x N)`` fold by fold
from valid/ready streams. Read the model's docstring for the grid; what the RTL adds is below.

Ports (the signature is the interface; streams follow :mod:`amaranth.lib.stream`)
---------------------------------------------------------------------------------
=========  ====  ===========================================================================
``cmd``    in    stream, payload ``{m, k, n}`` (``dim_bits`` unsigned each): start one GEMM
``west``   in    stream, ``rows`` signed ``word_bits`` lanes: the operand entering the left edge
``north``  in    stream, ``cols`` signed ``word_bits`` lanes: the operand entering the top edge
``o``      out   stream, ``cols`` signed ``acc_bits`` lanes: results leaving the bottom edge
``busy``   out   a GEMM is running (``cmd.ready == ~busy``)
``cycles`` out   32-bit step counter of the current / last GEMM (see *Cycle count* below)
=========  ====  ===========================================================================

Per dataflow, with (Sr, Sc, T) = ``hwsim.backends.systolic.array_dims`` and folds in
``fold_plan`` order (ws/is: column tile outer, row (K) tile inner; os: M tile outer, N tile inner):

* ``ws`` (X = A, W = B): ``north`` carries each fold's weight tile ``B[k0:k0+R, n0:n0+C]`` one row
  per beat, **bottom row first**, only the tile's real rows (``min(R, K - k0)`` beats; the FSM
  shifts zeros for the rows past K without consuming a beat); ``west`` carries ``A[t, k0:k0+R]``
  for t = 0..M-1 (M beats per fold); ``o`` emits ``P[t, n0:n0+C]`` for t = 0..M-1, the fold's
  *partial* product over its K tile. Accumulating the K folds is the output buffer's job (the
  model's ``y[t, col] += v``); see :func:`assemble`.
* ``is`` (X = B^T, W = A^T): the same machine: ``north`` = rows of ``A^T`` (columns of A),
  ``west`` = columns of B, ``o`` = columns of the partial ``C`` (rows of ``C^T``).
* ``os``: per fold, K beats on ``west`` (``A[m0:m0+R, k]``) and on ``north`` (``B[k, n0:n0+C]``),
  transferred in the same steps; ``o`` emits the R rows of the finished tile ``C[m0:m0+R,
  n0:n0+C]`` (double-buffered: bottom row first, through the drain chains; otherwise top row
  first, each row in the cycle its last PE does its last MAC).

Lanes past the GEMM's edge (a partial tile) are ignored on input (the FSM masks them to zero, as
the model zero-fills) and are 0 on output (so are the ``os`` result rows past M). Products and
partial sums wrap modulo ``2**acc_bits`` (two's complement).

Cycle count
-----------
The machine advances one **step** on a clock edge where it is running and every stream it needs
at that step can transfer: ``north``/``west`` valid if the schedule consumes a beat, ``o.ready``
if a result is due. Otherwise the whole array stalls (a global clock enable): no register of the
grid, the skew lines or the FSM changes, so backpressure never changes the schedule, only its
wall-clock length. Step 0 is the clock edge after the one that transfers ``cmd``; it is the
model's cycle 0 (the first weight shifted in for ws/is, which may be a zero for a partial tile;
the first operands for os). The GEMM ends on the step that transfers its last ``o`` beat.

    cycle count of a GEMM = number of steps from step 0 to that last ``o`` transfer, inclusive
                          = ``simulate_gemm(...)[1]`` of the PE-grid model, exactly

and the ``cycles`` port shows it once ``busy`` falls. With no stall (every ``valid`` and
``o.ready`` high), steps are clock cycles: if ``cmd`` transfers on edge e0 and the last result on
edge e1, then ``e1 - e0`` is the count. Double-buffered that is ``fold_plan(...).compute.sum() +
2R + C - 2`` (hwsim); not double-buffered ``scalesim_gemm(...).cycles + 1`` (SCALE-Sim reports the
0-based index of the last cycle). ``cmd`` is accepted again on the edge after e1.

Guarantees: one GEMM at a time; under a stall nothing is lost or duplicated; results leave in the
documented order; a GEMM command with a zero dimension is accepted and ignored (no output); a
synchronous reset aborts the GEMM (data registers are reset-less, control and flag registers are
reset). The ``o`` payload of the last grid column is combinational from the bottom PE's adder
(the model writes a result in the cycle it is produced; an output register would add a cycle).
"""
from __future__ import annotations

from functools import partial

import numpy as np
from amaranth.hdl import Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

DATAFLOWS = ("ws", "os", "is")
COUNTER_BITS = 32


def _check_int(name: str, value, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(f"{name} must be an integer from {lo} to {hi}, not {value!r}")
    return value


def array_dims(dataflow: str, m: int, k: int, n: int) -> tuple[int, int, int]:
    """(Sr, Sc, T) as in ``hwsim.backends.systolic.array_dims`` (os: T = K)."""
    return {"ws": (k, n, m), "os": (m, n, k), "is": (k, m, n)}[dataflow]


class SystolicArray(wiring.Component):
    """An ``rows`` x ``cols`` systolic array running one GEMM at a time (module docstring).

    Parameters (validated here; a bad one raises ``ValueError`` naming it and its value):
    ``rows``, ``cols`` (1..256), ``dataflow`` (``ws``/``os``/``is``), ``word_bits`` (2..32, signed
    operands), ``acc_bits`` (``2·word_bits``..64, signed partial sums, wrapping),
    ``double_buffered`` (bool), ``dim_bits`` (2..24, width of M, K, N in ``cmd``).
    """

    kind = "array"
    _MustUse__silence = True

    def __init__(self, *, rows: int = 4, cols: int = 4, dataflow: str = "ws", word_bits: int = 8,
                 acc_bits: int = 32, double_buffered: bool = True, dim_bits: int = 16):
        self.rows = _check_int("rows", rows, 1, 256)
        self.cols = _check_int("cols", cols, 1, 256)
        if dataflow not in DATAFLOWS:
            raise ValueError(f"dataflow must be one of {', '.join(DATAFLOWS)}, not {dataflow!r}")
        self.dataflow = dataflow
        self.word_bits = _check_int("word_bits", word_bits, 2, 32)
        self.acc_bits = _check_int("acc_bits", acc_bits, 2 * word_bits, 64)
        if not isinstance(double_buffered, bool):
            raise ValueError(f"double_buffered must be True or False, not {double_buffered!r}")
        self.double_buffered = double_buffered
        self.dim_bits = _check_int("dim_bits", dim_bits, 2, 24)
        dims = data.StructLayout({"m": unsigned(dim_bits), "k": unsigned(dim_bits),
                                  "n": unsigned(dim_bits)})
        super().__init__({
            "cmd": In(stream.Signature(dims)),
            "west": In(stream.Signature(data.ArrayLayout(signed(word_bits), rows))),
            "north": In(stream.Signature(data.ArrayLayout(signed(word_bits), cols))),
            "o": Out(stream.Signature(data.ArrayLayout(signed(acc_bits), cols))),
            "busy": Out(1),
            "cycles": Out(COUNTER_BITS),
        })

    # ----- description (rtl.build, CLI) -----
    @property
    def algo(self) -> str:
        return self.dataflow

    def params(self) -> dict:
        return {"rows": self.rows, "cols": self.cols, "dataflow": self.dataflow,
                "word_bits": self.word_bits, "acc_bits": self.acc_bits,
                "double_buffered": self.double_buffered, "dim_bits": self.dim_bits}

    @property
    def latency_cycles(self) -> int:
        """Pipeline overhead of one GEMM in steps: ``2R + C - 2`` (preload, skew, de-skew/drain)."""
        return 2 * self.rows + self.cols - 2

    @property
    def elements_per_cycle(self) -> int:
        """Multiply-accumulates per step at full utilisation: ``rows * cols``."""
        return self.rows * self.cols

    def gemm_cycles(self, m: int, k: int, n: int) -> int:
        """Steps of one GEMM, from the model (``hwsim.backends.systolic_pe.simulate_gemm``)."""
        from hwsim.backends.systolic_pe import simulate_gemm
        a = np.zeros((m, k), dtype=np.int64)
        b = np.zeros((k, n), dtype=np.int64)
        return simulate_gemm(a, b, self.rows, self.cols, self.dataflow, self.double_buffered)[1]

    # ----- hardware -----
    def elaborate(self, platform):
        m = Module()
        R, C, db = self.rows, self.cols, self.double_buffered
        D = self.dim_bits + 1                      # room for origin + tile size
        acc_shape = signed(self.acc_bits)
        w_shape = signed(self.word_bits)

        # ---------------- command registers and the step enable ----------------
        running = Signal()
        sr = Signal(self.dim_bits)                 # GEMM extent on the array rows
        sc = Signal(self.dim_bits)                 # ... on the array columns
        tt = Signal(self.dim_bits)                 # streamed length per fold (os: K)
        period = Signal(D)                         # double-buffered fold period max(T, R)
        cycles = Signal(COUNTER_BITS)
        m.d.comb += [self.busy.eq(running), self.cycles.eq(cycles), self.cmd.ready.eq(~running)]

        need_north = Signal()
        need_west = Signal()
        out_due = Signal()
        west_ok = ~need_west | self.west.valid
        north_ok = ~need_north | self.north.valid
        out_ok = ~out_due | self.o.ready
        step = Signal()
        m.d.comb += [
            step.eq(running & west_ok & north_ok & out_ok),
            self.west.ready.eq(running & need_west & north_ok & out_ok),
            self.north.ready.eq(running & need_north & west_ok & out_ok),
            self.o.valid.eq(running & out_due & west_ok & north_ok),
        ]
        out_fire = Signal()
        m.d.comb += out_fire.eq(step & out_due)

        # The streamed schedule ("west" side) and the stationary one ("north" side for ws/is).
        sched = _Schedule(m, R, C, D, self.dataflow, db)
        start = Signal()
        with m.If(self.cmd.valid & ~running):
            p = self.cmd.payload
            if self.dataflow == "ws":
                srv, scv, tv = p.k, p.n, p.m
            elif self.dataflow == "is":
                srv, scv, tv = p.k, p.m, p.n
            else:
                srv, scv, tv = p.m, p.n, p.k
            m.d.sync += [sr.eq(srv), sc.eq(scv), tt.eq(tv), cycles.eq(0),
                         period.eq(Mux(tv > R, tv, R))]
            with m.If((p.m != 0) & (p.k != 0) & (p.n != 0)):
                m.d.comb += start.eq(1)
                m.d.sync += running.eq(1)
        with m.If(step):
            m.d.sync += cycles.eq(cycles + 1)

        # ---------------- operand edges ----------------
        # issue: what enters the west edge at this step; inject: the north edge
        iss_valid = Signal()
        iss_first = Signal()
        iss_last = Signal()
        iss_val = [Signal(w_shape, name=f"iss_val{i}") for i in range(R)]
        inj_en = Signal()
        inj_latch = Signal()
        inj_val = [Signal(w_shape, name=f"inj_val{j}") for j in range(C)]
        owed_add = Signal(range(R + 1))            # output beats this step's issue owes
        done_issue = Signal()                      # the whole GEMM's operands issued (after this step)
        fold_issued = Signal()                     # (not double-buffered) this fold fully issued
        sched.build(start=start, step=step, sr=sr, sc=sc, tt=tt, period=period,
                    west=self.west.payload, north=self.north.payload,
                    need_west=need_west, need_north=need_north,
                    iss_valid=iss_valid, iss_first=iss_first, iss_last=iss_last, iss_val=iss_val,
                    inj_en=inj_en, inj_latch=inj_latch, inj_val=inj_val,
                    owed_add=owed_add, done_issue=done_issue, fold_issued=fold_issued)

        # ---------------- the grid ----------------
        out_lanes = [Signal(acc_shape, name=f"out{j}") for j in range(C)]
        if self.dataflow == "os":
            _os_grid(m, R, C, db, step, acc_shape, w_shape, iss_valid, iss_first, iss_last,
                     iss_val, inj_val, out_due, out_lanes)
        else:
            _rs_grid(m, R, C, db, step, acc_shape, w_shape, iss_valid, iss_first, iss_val,
                     inj_en, inj_latch, inj_val, out_due, out_lanes)
        for j in range(C):
            m.d.comb += self.o.payload[j].eq(out_lanes[j])

        # ---------------- completion: count the result beats still owed ----------------
        owed = Signal(range(2 * R + R + C + 2))
        owed_next = Signal.like(owed)
        m.d.comb += owed_next.eq(owed + Mux(step, owed_add, 0) - out_fire)
        with m.If(step):
            m.d.sync += owed.eq(owed_next)
        with m.If(start):
            m.d.sync += owed.eq(0)
        finished = Signal()
        m.d.comb += finished.eq(out_fire & (owed_next == 0))
        with m.If(finished & done_issue):
            m.d.sync += running.eq(0)
        if not db:
            # SCALE-Sim timing: the next fold starts on the step after the fold's last result
            m.d.comb += sched.fold_done.eq(finished & fold_issued)
        return m


class _Schedule:
    """The control FSM: which operand beat enters which edge at each step (the model's
    "controller" section), with tile origins and the partial-tile lane masks."""

    def __init__(self, m, R, C, D, dataflow, db):
        self.m, self.R, self.C, self.D, self.dataflow, self.db = m, R, C, D, dataflow, db
        self.fold_done = Signal()                  # (not double-buffered) advance to the next fold

    def _tile(self, name):
        """Tile-origin registers (row origin r0, column origin c0) and an active flag."""
        return (Signal(self.D, name=f"{name}_r0"), Signal(self.D, name=f"{name}_c0"),
                Signal(name=f"{name}_active"))

    def _advance(self, r0, c0, active, sr, sc, rows_inner):
        """Next fold in fold_plan order; returns the 'this is the last fold' condition."""
        m, R, C = self.m, self.R, self.C
        last_r = r0 + R >= sr
        last_c = c0 + C >= sc
        if rows_inner:           # ws / is: for column tile (outer) for row tile (inner)
            with m.If(last_r):
                m.d.sync += [r0.eq(0), c0.eq(c0 + C)]
            with m.Else():
                m.d.sync += r0.eq(r0 + R)
        else:                    # os: for m tile (outer) for n tile (inner)
            with m.If(last_c):
                m.d.sync += [c0.eq(0), r0.eq(r0 + R)]
            with m.Else():
                m.d.sync += c0.eq(c0 + C)
        with m.If(last_r & last_c):
            m.d.sync += active.eq(0)
        return last_r & last_c

    def build(self, *, start, step, sr, sc, tt, period, west, north, need_west, need_north,
              iss_valid, iss_first, iss_last, iss_val, inj_en, inj_latch, inj_val, owed_add,
              done_issue, fold_issued):
        m, R, C, D, db = self.m, self.R, self.C, self.D, self.db
        rs = self.dataflow != "os"

        def reset_tile(r0, c0, act):
            with m.If(start):
                m.d.sync += [r0.eq(0), c0.eq(0), act.eq(1)]

        def mask(payload, lanes, limit):
            """payload lanes, zero from lane ``limit`` on (``limit`` = extent left in the tile)."""
            return [Mux(Const(i, D) < limit, payload[i], 0) for i in range(lanes)]

        all_issued = Signal(name="all_issued")     # every operand of the GEMM issued
        last_now = Signal()                        # the GEMM's last operand issues this step
        with m.If(start):
            m.d.sync += all_issued.eq(0)
        with m.Elif(step & last_now):
            m.d.sync += all_issued.eq(1)
        if db:
            m.d.comb += done_issue.eq(all_issued | last_now)

        if rs:
            # north: the stationary operand W, tile (nr0 = K origin, nc0 = column origin)
            nr0, nc0, nact = self._tile("north")
            nq = Signal(D, name="north_q")
            reset_tile(nr0, nc0, nact)
            with m.If(start):
                m.d.sync += nq.eq(0)
            if db:
                # Stream of fold g starts at step R + g*P; fold h's weights enter column 0 at
                # steps h*P + q (q = 0..R-1, bottom row first), column j j steps later (skew).
                wr0, wc0, wact = self._tile("west")
                wt = Signal(D, name="west_t")      # vector index within the fold's period
                reset_tile(wr0, wc0, wact)
                wwait = Signal(range(R + 1), name="west_wait")
                with m.If(start):
                    m.d.sync += [wt.eq(0), wwait.eq(R)]
                with m.Elif(step & (wwait != 0)):
                    m.d.sync += wwait.eq(wwait - 1)
                wrun = wact & (wwait == 0)
                m.d.comb += [iss_valid.eq(wrun & (wt < tt)), iss_first.eq(wt == 0),
                             last_now.eq(iss_valid & (wt == tt - 1) & (wr0 + R >= sr)
                                         & (wc0 + C >= sc))]
                with m.If(step & wrun):
                    with m.If(wt == period - 1):
                        m.d.sync += wt.eq(0)
                        self._advance(wr0, wc0, wact, sr, sc, True)
                    with m.Else():
                        m.d.sync += wt.eq(wt + 1)
                inj = nact & (nq < R)
                with m.If(step & nact):
                    with m.If(nq == period - 1):
                        m.d.sync += nq.eq(0)
                        self._advance(nr0, nc0, nact, sr, sc, True)
                    with m.Else():
                        m.d.sync += nq.eq(nq + 1)
                m.d.comb += inj_latch.eq(inj & (nq == R - 1))
            else:
                # per fold: preload R steps (q < R), stream T vectors, then wait for the drain;
                # the next fold starts on the step after this fold's last result (fold_done)
                q = nq
                wr0 = nr0                          # one tile for both edges
                inj = nact & (q < R)
                m.d.comb += [iss_valid.eq(nact & (q >= R) & (q < R + tt)),
                             iss_first.eq(q == R)]
                with m.If(step & nact & (q < R + tt)):
                    m.d.sync += q.eq(q + 1)
                m.d.comb += fold_issued.eq((q >= R + tt) | (iss_valid & (q == R + tt - 1)))
                with m.If(self.fold_done):
                    m.d.sync += q.eq(0)
                    self._advance(nr0, nc0, nact, sr, sc, True)
                m.d.comb += done_issue.eq(fold_issued & (nr0 + R >= sr) & (nc0 + C >= sc))
            # the beat consumed on the north edge: only rows inside the tile (row R-1-q)
            row_in_tile = Const(R - 1, D) - nq < sr - nr0
            m.d.comb += [inj_en.eq(inj), need_north.eq(inj & row_in_tile),
                         need_west.eq(iss_valid), owed_add.eq(iss_valid)]
            west_vals = mask(west, R, sr - wr0)
            north_vals = mask(north, C, sc - nc0)
            for i in range(R):
                m.d.comb += iss_val[i].eq(Mux(iss_valid, west_vals[i], 0))
            for j in range(C):
                m.d.comb += inj_val[j].eq(Mux(need_north, north_vals[j], 0))
        else:
            # os: fold g issues K operand pairs at steps g*P + k (double-buffered) or right after
            # the previous fold's last MAC (not double-buffered)
            r0, c0, act = self._tile("fold")
            kq = Signal(D, name="fold_k")
            reset_tile(r0, c0, act)
            with m.If(start):
                m.d.sync += kq.eq(0)
            is_last_fold = (r0 + R >= sr) & (c0 + C >= sc)
            m.d.comb += [iss_valid.eq(act & (kq < tt)), iss_first.eq(kq == 0),
                         iss_last.eq(kq == tt - 1),
                         last_now.eq(iss_valid & iss_last & is_last_fold)]
            if db:
                with m.If(step & act):
                    with m.If(kq == period - 1):
                        m.d.sync += kq.eq(0)
                        self._advance(r0, c0, act, sr, sc, False)
                    with m.Else():
                        m.d.sync += kq.eq(kq + 1)
            else:
                with m.If(step & act & (kq < tt)):
                    m.d.sync += kq.eq(kq + 1)
                m.d.comb += fold_issued.eq((kq >= tt) | (iss_valid & iss_last))
                with m.If(self.fold_done):
                    m.d.sync += kq.eq(0)
                    self._advance(r0, c0, act, sr, sc, False)
                m.d.comb += done_issue.eq(fold_issued & is_last_fold)
            m.d.comb += [need_west.eq(iss_valid), need_north.eq(iss_valid),
                         owed_add.eq(Mux(iss_valid & iss_first, R, 0))]
            west_vals = mask(west, R, sr - r0)
            north_vals = mask(north, C, sc - c0)
            for i in range(R):
                m.d.comb += iss_val[i].eq(Mux(iss_valid, west_vals[i], 0))
            for j in range(C):
                m.d.comb += inj_val[j].eq(Mux(iss_valid, north_vals[j], 0))


def _delay_line(m, step, value, n: int, name: str, reset_less: bool):
    """``value`` delayed by ``n`` steps (``n`` registers, advanced on ``step``); ``value`` if 0."""
    out = value
    for d in range(n):
        reg = Signal.like(value, name=f"{name}_d{d}", reset_less=reset_less)
        with m.If(step):
            m.d.sync += reg.eq(out)
        out = reg
    return out


def _rs_grid(m, R, C, db, step, acc_shape, w_shape, iss_valid, iss_first, iss_val,
             inj_en, inj_latch, inj_val, out_due, out_lanes):
    """ws / is: X moves right, partial sums move down, W stationary (``_run_rs`` of the model)."""
    # input skew: row i sees what was issued i steps ago (value, and the weight-swap token)
    in_val = [_delay_line(m, step, iss_val[i], i, f"skew_x{i}", True) for i in range(R)]
    in_first = [_delay_line(m, step, iss_valid & iss_first, i, f"skew_f{i}", False)
                for i in range(R)]
    # north edge: double-buffered, column j's weights enter j steps after column 0's
    if db:
        col_en = [_delay_line(m, step, inj_en, j, f"skew_wen{j}", False) for j in range(C)]
        col_latch = [_delay_line(m, step, inj_latch, j, f"skew_wl{j}", False) for j in range(C)]
        col_val = [_delay_line(m, step, inj_val[j], j, f"skew_w{j}", True) for j in range(C)]
    else:
        col_en = [inj_en] * C
        col_latch = [None] * C
        col_val = inj_val
    a_val = [[Signal(w_shape, name=f"a_{i}_{j}", reset_less=True) for j in range(C)]
             for i in range(R)]
    a_first = [[Signal(name=f"af_{i}_{j}") for j in range(C)] for i in range(R)]
    p_val = [[Signal(acc_shape, name=f"p_{i}_{j}", reset_less=True) for j in range(C)]
             for i in range(R)]
    w_act = [[Signal(w_shape, name=f"w_{i}_{j}", reset_less=True) for j in range(C)]
             for i in range(R)]
    w_sh = [[Signal(w_shape, name=f"wsh_{i}_{j}", reset_less=True) for j in range(C)]
            for i in range(R)] if db else None
    w_tr = [[Signal(w_shape, name=f"wtr_{i}_{j}", reset_less=True) for j in range(C)]
            for i in range(R)] if db else None
    bottom = []
    for i in range(R):
        for j in range(C):
            av = in_val[i] if j == 0 else a_val[i][j - 1]
            af = in_first[i] if j == 0 else a_first[i][j - 1]
            sync = []
            if db:
                wt = Signal(w_shape, name=f"wt_{i}_{j}")          # swap token: shadow -> active
                m.d.comb += wt.eq(Mux(af, w_sh[i][j], w_act[i][j]))
                sync.append(w_act[i][j].eq(wt))
                shifted = col_val[j] if i == 0 else w_tr[i - 1][j]
                with m.If(step & col_en[j]):
                    m.d.sync += w_tr[i][j].eq(shifted)
                    with m.If(col_latch[j]):
                        m.d.sync += w_sh[i][j].eq(shifted)
            else:
                wt = w_act[i][j]
                with m.If(step & col_en[j]):                      # preload: w_act is the chain
                    m.d.sync += w_act[i][j].eq(col_val[j] if i == 0 else w_act[i - 1][j])
            pin = p_val[i - 1][j] if i > 0 else Const(0, acc_shape)
            pn = Signal(acc_shape, name=f"pn_{i}_{j}")
            m.d.comb += pn.eq(pin + av * wt)
            sync += [p_val[i][j].eq(pn), a_val[i][j].eq(av), a_first[i][j].eq(af)]
            with m.If(step):
                m.d.sync += sync
            if i == R - 1:
                bottom.append(pn)
    # bottom edge: column j's result through C-1-j de-skew registers; valid = issue + R+C-2 steps
    for j in range(C):
        m.d.comb += out_lanes[j].eq(_delay_line(m, step, bottom[j], C - 1 - j, f"deskew{j}", True))
    m.d.comb += out_due.eq(_delay_line(m, step, iss_valid, R + C - 2, "out_valid", False))


def _os_grid(m, R, C, db, step, acc_shape, w_shape, iss_valid, iss_first, iss_last, iss_val,
             inj_val, out_due, out_lanes):
    """os: A moves right, B moves down, each PE accumulates its output (``_run_os``)."""
    in_a = [_delay_line(m, step, iss_val[i], i, f"skew_a{i}", True) for i in range(R)]
    in_first = [_delay_line(m, step, iss_valid & iss_first, i, f"skew_f{i}", False)
                for i in range(R)]
    in_last = [_delay_line(m, step, iss_valid & iss_last, i, f"skew_l{i}", False)
               for i in range(R)]
    in_b = [_delay_line(m, step, inj_val[j], j, f"skew_b{j}", True) for j in range(C)]

    def grid(name, shape, reset_less=True):
        return [[Signal(shape, name=f"{name}_{i}_{j}", reset_less=reset_less) for j in range(C)]
                for i in range(R)]
    a_val, b_val, acc = grid("a", w_shape), grid("b", w_shape), grid("acc", acc_shape)
    a_first, a_last = grid("af", 1, False), grid("al", 1, False)
    hold = grid("hold", acc_shape) if db else None
    s_bottom, last_in = [], []
    s_right = []
    for i in range(R):
        for j in range(C):
            av = in_a[i] if j == 0 else a_val[i][j - 1]
            af = in_first[i] if j == 0 else a_first[i][j - 1]
            al = in_last[i] if j == 0 else a_last[i][j - 1]
            bv = in_b[j] if i == 0 else b_val[i - 1][j]
            s = Signal(acc_shape, name=f"s_{i}_{j}")
            m.d.comb += s.eq(Mux(af, av * bv, acc[i][j] + av * bv))
            sync = [acc[i][j].eq(s), a_val[i][j].eq(av), b_val[i][j].eq(bv),
                    a_first[i][j].eq(af), a_last[i][j].eq(al)]
            with m.If(step):
                m.d.sync += sync
                if db:
                    with m.If(al):
                        m.d.sync += hold[i][j].eq(s)
            if i == R - 1:
                s_bottom.append(s)
                last_in.append(al)
            if j == C - 1:
                s_right.append((s, al))
    if db:
        # drain: the step after column j's bottom PE does its last MAC, the column's R hold
        # registers load into the drain chain (bottom one straight out), one word per step
        col_out, col_valid = [], []
        for j in range(C):
            bottom_last = Signal(name=f"bottom_last{j}")
            with m.If(step):
                m.d.sync += bottom_last.eq(last_in[j])
            chain = [None] + [Signal(acc_shape, name=f"chain_{i}_{j}", reset_less=True)
                              for i in range(1, R)]
            chain_v = [None] + [Signal(name=f"chain_v_{i}_{j}") for i in range(1, R)]
            val = Signal(acc_shape, name=f"drain{j}")
            vld = Signal(name=f"drain_v{j}")
            if R > 1:
                m.d.comb += [val.eq(Mux(bottom_last, hold[R - 1][j], chain[R - 1])),
                             vld.eq(bottom_last | chain_v[R - 1])]
            else:
                m.d.comb += [val.eq(hold[R - 1][j]), vld.eq(bottom_last)]
            for i in range(1, R):
                with m.If(step):
                    with m.If(bottom_last):
                        m.d.sync += [chain[i].eq(hold[i - 1][j]), chain_v[i].eq(1)]
                    with m.Else():
                        m.d.sync += [chain[i].eq(chain[i - 1] if i > 1 else 0),
                                     chain_v[i].eq(chain_v[i - 1] if i > 1 else 0)]
            col_out.append(val)
            col_valid.append(vld)
        # de-skew into row vectors: column j delayed C-1-j steps (column C-1, the last, not at all)
        for j in range(C):
            m.d.comb += out_lanes[j].eq(_delay_line(m, step, col_out[j], C - 1 - j,
                                                    f"deskew{j}", True))
        m.d.comb += out_due.eq(col_valid[C - 1])
    else:
        # SCALE-Sim timing: row i leaves in the step its last PE (column C-1) does its last MAC;
        # the row's other accumulators finished earlier and hold until the next fold reaches them
        due = [s_right[i][1] for i in range(R)]
        for j in range(C):
            terms = []
            for i in range(R):
                v = s_right[i][0] if j == C - 1 else acc[i][j]
                terms.append(Mux(due[i], v, 0))
            expr = terms[0]
            for t in terms[1:]:
                expr = expr | t
            m.d.comb += out_lanes[j].eq(expr)
        any_due = due[0]
        for d in due[1:]:
            any_due = any_due | d
        m.d.comb += out_due.eq(any_due)


ALGOS = {df: partial(SystolicArray, dataflow=df) for df in DATAFLOWS}


# ---------------------------------------------------------------------------------------------
# The stream protocol as numpy: what a producer sends and what the array must answer
# ---------------------------------------------------------------------------------------------
def _folds(dataflow, m, k, n, R, C):
    sr, sc, _ = array_dims(dataflow, m, k, n)
    fr, fc = -(-sr // R), -(-sc // C)
    if dataflow == "os":
        return [(i * R, j * C) for i in range(fr) for j in range(fc)]
    return [(i * R, j * C) for j in range(fc) for i in range(fr)]


def wrap(x, bits: int) -> np.ndarray:
    """Two's-complement wrap of int64 values to ``bits`` bits (signed)."""
    x = np.asarray(x, dtype=np.int64)
    if bits >= 64:
        return x
    half = np.int64(1) << np.int64(bits - 1)
    return ((x + half) & ((np.int64(1) << np.int64(bits)) - 1)) - half


def stream_beats(a, b, rows: int, cols: int, dataflow: str, double_buffered: bool = True,
                 acc_bits: int = 64, pad=None):
    """The beats one GEMM ``a (M x K) @ b (K x N)`` needs on each stream, and the ``o`` beats it
    must produce (module docstring), computed with numpy from the operands alone.

    Returns ``(west, north, out)``: int64 arrays of shape (beats, rows), (beats, cols),
    (beats, cols). Lanes past the GEMM's edge are filled from ``pad`` (a ``numpy.random.Generator``
    drawing garbage the array must ignore) or 0; expected output lanes there are 0. ``out`` holds
    the fold partial products (ws/is) or finished tiles (os), wrapped to ``acc_bits``."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    R, C = rows, cols
    mm, kk = a.shape
    nn = b.shape[1]
    if dataflow == "is":
        x, w = b.T, a.T
    else:
        x, w = a, b
    lo_hi = (-8, 8)

    def padded(vec, width):
        out = np.zeros(width, dtype=np.int64)
        if pad is not None:
            out[:] = pad.integers(*lo_hi, size=width)
        out[:len(vec)] = vec
        return out

    west, north, out = [], [], []
    for r0, c0 in _folds(dataflow, mm, kk, nn, R, C):
        if dataflow == "os":
            for k in range(kk):
                west.append(padded(a[r0:r0 + R, k], R))
                north.append(padded(b[k, c0:c0 + C], C))
            tile = np.zeros((R, C), dtype=np.int64)
            blk = a[r0:r0 + R] @ b[:, c0:c0 + C]
            tile[:blk.shape[0], :blk.shape[1]] = blk
            rows_out = tile[::-1] if double_buffered else tile
            out.extend(wrap(rows_out, acc_bits))
        else:
            wt = w[r0:r0 + R, c0:c0 + C]
            for row in wt[::-1]:                      # bottom row first
                north.append(padded(row, C))
            for t in range(x.shape[0]):
                west.append(padded(x[t, r0:r0 + R], R))
            part = np.zeros((x.shape[0], C), dtype=np.int64)
            part[:, :wt.shape[1]] = x[:, r0:r0 + R] @ wt
            out.extend(wrap(part, acc_bits))
    return (np.array(west, dtype=np.int64).reshape(-1, R),
            np.array(north, dtype=np.int64).reshape(-1, C),
            np.array(out, dtype=np.int64).reshape(-1, C))


def assemble(out, m: int, k: int, n: int, rows: int, cols: int, dataflow: str,
             double_buffered: bool = True, acc_bits: int = 64) -> np.ndarray:
    """The product ``(M x N)`` from the ``o`` beats of one GEMM (the output buffer's job:
    ws/is accumulate the K folds' partial sums, modulo ``2**acc_bits``)."""
    out = np.asarray(out, dtype=np.int64)
    R, C = rows, cols
    pos = 0
    if dataflow == "os":
        y = np.zeros((m, n), dtype=np.int64)
        for r0, c0 in _folds(dataflow, m, k, n, R, C):
            tile = out[pos:pos + R]
            pos += R
            if double_buffered:
                tile = tile[::-1]
            y[r0:r0 + R, c0:c0 + C] = tile[:min(R, m - r0), :min(C, n - c0)]
        return wrap(y, acc_bits)
    sr, sc, t = array_dims(dataflow, m, k, n)
    y = np.zeros((t, sc), dtype=np.int64)
    for r0, c0 in _folds(dataflow, m, k, n, R, C):
        y[:, c0:c0 + C] += out[pos:pos + t, :min(C, sc - c0)]
        pos += t
    y = wrap(y, acc_bits)
    return y.T.copy() if dataflow == "is" else y
