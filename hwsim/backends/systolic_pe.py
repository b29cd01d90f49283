"""Register-level, cycle-stepped functional model of the R x C PE grid (numba), for small GEMMs.

It computes the actual product ``A (M x K) @ B (K x N)`` on a simulated grid and counts the cycles the
stepped loop runs, to check the cycle formulas of ``hwsim.backends.systolic`` (double-buffered array,
``fold_plan(...).compute.sum() + pipeline_overhead_cycles(R, C)``) and of SCALE-Sim
(``hwsim.backends.scalesim_model.scalesim_gemm``) against a machine that really moves the data.

The grid
--------
PE(i, j), row i = 0..R-1 from the top, column j = 0..C-1 from the left. Every cycle each PE reads its
neighbours' registers as they were at the end of the previous cycle and writes its own registers
(two-phase update: next-state arrays are computed from current-state arrays, then copied over).
Data moves one PE per cycle: left -> right along a row, top -> bottom down a column. Edge inputs go
through a triangular *skew* buffer (row i delayed i cycles, column j delayed j cycles), so operand
vector t issued at cycle s + t meets PE(i, j) at cycle s + t + i + j. A fold always occupies the full
R x C grid: PEs outside a partial tile get zero operands but still pass data and control flags on, so
every fold has the same timing (as in both formulas).

Convention for the cycle count: cycle 0 is the first cycle anything happens (first weight shifted in,
or first operands issued for os). An edge input issued at cycle x is used by the edge PE in cycle x;
a result leaving at the array edge is written to the output SRAM in the cycle it is produced (no
extra output register). ``cycles`` = index of the cycle in which the last output word is written + 1,
i.e. the number of cycles the loop ran. (SCALE-Sim reports that index itself, hence its ``- 1``.)

ws / is (reduction over the array rows; ``_run_rs``)
----------------------------------------------------
The stationary operand W (Sr x Sc tile) sits in the PEs, the streamed operand X (T x Sr) enters at the
left edge, partial sums flow down the columns: ``Y (T x Sc) = X @ W``. ws: X = A, W = B (Sr=K, Sc=N,
T=M); is: X = B^T, W = A^T (Sr=K, Sc=M, T=N) and the product is Y^T. Registers per PE:

    a_val, a_tag, a_first   streamed operand moving right, its vector id (fold * T + t, -1 = bubble)
                            and "first vector of a fold" flag (the weight-swap token)
    p_val                   partial sum moving down (psum_in from PE(i-1, j) + a * w)
    w_act                   the weight the PE multiplies with
    w_sh, w_tr              (double-buffered only) shadow weight, and the weight-transport register of
                            the per-column shift chain that carries the next fold's weights down

Bottom edge: column j's results go through a de-skew buffer of C-1-j registers, so all C outputs of
vector t are written together; the model adds each fold's partial result into the output matrix
(outputs accumulate over the K-folds). Timing terms, physically:

* preload R: weights enter the top of each column one per cycle, bottom row's weight first; after R
  shifts every PE of the column holds its weight.
* stream T: one operand vector per cycle at the left edge.
* skew R - 1 + C - 1: the last vector reaches the bottom row R - 1 cycles after entering and the last
  column C - 1 cycles later (de-skew aligns the other columns to it).
* ``double_buffered=False`` (SCALE-Sim): w_act itself is the shift chain, so a fold is preload ->
  stream -> drain with no overlap: ``R + T + R + C - 2`` cycles per fold.
* ``double_buffered=True`` (hwsim): fold f+1's weights enter column j's transport chain while fold f
  streams (at cycle s_f + j, s_f = start of fold f's stream) and are latched into w_sh on the last
  shift; the swap token travelling with fold f+1's first vector copies w_sh into w_act, diagonal by
  diagonal. A fold may start ``P = max(T, R)`` cycles after the previous one: T for the stream, R
  because a column's R transport shifts must fit between two swap wavefronts (shorter periods
  overwrite a shadow weight before the bottom PE has swapped it in; ``period=`` lets a test show it).
  Total = R (first preload) + (F-1) * P + T + R + C - 2.

os (``_run_os``)
----------------
A rows enter at the left edge, B columns at the top edge, both skewed; PE(i, j) owns output (i, j) of
the tile. Registers per PE: a_val/a_tag/a_first/a_last (A operand moving right with the fold id and
first/last-of-K flags), b_val (B operand moving down), acc (accumulator, reset by the first flag),
hold (the finished result, latched at the last MAC so the next fold can accumulate behind it), and a
per-column drain shift chain (chain). No preload: the first operands enter at cycle 0.

* ``double_buffered=True``: the drain is physical: in the cycle after column j's bottom PE does its
  last MAC, the column's R hold values are loaded into the drain chain (the bottom one goes straight
  out) and leave through the bottom edge one per cycle: R cycles per column, overlapping the next
  fold (which needs P = max(K, R) so that a hold register is not overwritten before it is drained).
  Total = (F-1) * P + K + (R - 1) + (C - 1) + R: the "2R + C - 2" of hwsim is skew R-1 + C-1 plus the
  R-cycle drain of the last fold (os has nothing to preload).
* ``double_buffered=False`` (SCALE-Sim): SCALE-Sim counts ``K + R + C - 2`` per fold, i.e. up to the
  last MAC, with no cycle for moving the R x C results out of the array. The model reproduces that by
  letting each PE write its result out in the cycle of its last MAC (an idealised per-PE output
  port); folds run back to back, each starting after the previous fold's last MAC.

Finding (T = streamed length per fold, K for os): the grid matches the hwsim formula exactly when
T >= R. When T < R the last fold does not have to wait R cycles for a next fold's weights, so the grid
finishes ``R - T`` cycles earlier than ``fold_plan(...).compute.sum() + pipeline_overhead_cycles``,
whose last fold still costs max(T, R).
"""
from __future__ import annotations

import numpy as np
from numba import njit

DATAFLOWS = ("ws", "os", "is")


class GridHazard(RuntimeError):
    """The grid never delivered every output word (a schedule overwrote data still in flight)."""


@njit(cache=True)
def _cdiv(a, b):
    return -(-a // b)


@njit(cache=True, inline="always")
def _delay(line, i, n, value):
    """Delay line ``i`` of ``n`` stages (``line[i, 0]`` newest): shift ``value`` in and return
    the value that entered ``n`` cycles ago (``value`` itself when ``n == 0``)."""
    if n == 0:
        return value
    out = line[i, n - 1]
    for d in range(n - 1, 0, -1):
        line[i, d] = line[i, d - 1]
    line[i, 0] = value
    return out


@njit(cache=True)
def _run_rs(x, w, R, C, double_buffered, period, fault_i, fault_j, r0, c0, s0, sl):
    """Reduction-stationary grid (ws / is): Y (T x Sc) = X (T x Sr) @ W (Sr x Sc). Returns (Y, cycles).
    Fold g holds the W tile at (r0[g], c0[g]) and streams X rows s0[g] .. s0[g] + sl[g] - 1 (a fold
    schedule: the fixed order, or a searched mapping's runs). ``period`` > 0 fixes every fold period
    (test hook); else fold g lasts max(sl[g], R)."""
    T, Sr = x.shape
    Sc = w.shape[1]
    F = r0.shape[0]
    y = np.zeros((T, Sc), dtype=np.int64)
    # stream start of each fold (double-buffered), tag offsets, tag -> fold
    st = np.empty(F + 1, dtype=np.int64)
    off = np.empty(F + 1, dtype=np.int64)
    st[0], off[0] = R, 0
    for g in range(F):
        pg = period if period > 0 else max(sl[g], R)
        st[g + 1] = st[g] + pg
        off[g + 1] = off[g] + sl[g]
    tag_fold = np.empty(off[F], dtype=np.int64)
    for g in range(F):
        tag_fold[off[g]:off[g + 1]] = g
    ptr = np.zeros(C, dtype=np.int64)
    gi = 0

    # --- registers (current state) and their next state ---
    a_val = np.zeros((R, C), dtype=np.int64)
    a_tag = np.full((R, C), -1, dtype=np.int64)
    a_first = np.zeros((R, C), dtype=np.bool_)
    p_val = np.zeros((R, C), dtype=np.int64)
    w_act = np.zeros((R, C), dtype=np.int64)
    w_sh = np.zeros((R, C), dtype=np.int64)
    w_tr = np.zeros((R, C), dtype=np.int64)
    n_a_val = a_val.copy()
    n_a_tag = a_tag.copy()
    n_a_first = a_first.copy()
    n_p_val = p_val.copy()
    n_w_act = w_act.copy()
    n_w_sh = w_sh.copy()
    n_w_tr = w_tr.copy()
    # input skew buffer: row i has i stages (stage d of row i = skv[i, d]); output de-skew: column j
    # has C-1-j stages
    skv = np.zeros((R, R), dtype=np.int64)
    skt = np.full((R, R), -1, dtype=np.int64)
    skf = np.zeros((R, R), dtype=np.bool_)
    dqv = np.zeros((C, C), dtype=np.int64)
    dqt = np.full((C, C), -1, dtype=np.int64)
    # edge signals of the current cycle
    iss_val = np.zeros(R, dtype=np.int64)
    in_val = np.zeros(R, dtype=np.int64)
    in_tag = np.full(R, -1, dtype=np.int64)
    in_first = np.zeros(R, dtype=np.bool_)
    inj_en = np.zeros(C, dtype=np.bool_)
    inj_val = np.zeros(C, dtype=np.int64)
    latch = np.zeros(C, dtype=np.bool_)

    fold_words = np.zeros(F, dtype=np.int64)
    total_words = off[F] * C
    words = 0
    cur = 0            # non-double-buffered controller: current fold and the cycle its preload began
    base = 0
    tau = 0
    limit = 8
    for g in range(F):
        limit += max(sl[g], R, period) + 2 * R + C + sl[g] + 2
    while tau < limit:
        # ---------------- controller: what enters at the edges this cycle ----------------
        iss_tag = -1
        iss_first = False
        for j in range(C):
            inj_en[j] = False
            latch[j] = False
        if double_buffered:
            # stream of fold g starts at s_g = st[g] (R + the periods of the folds before it)
            while gi < F and tau >= st[gi] + sl[gi]:
                gi += 1
            if gi < F and tau >= st[gi]:
                t = tau - st[gi]
                iss_tag = off[gi] + t
                iss_first = t == 0
            # fold h's weights enter column j at cycles s_h - R + j + q, q = 0..R-1 (bottom row first)
            for j in range(C):
                u = tau - j
                h = ptr[j]
                while h < F and u >= st[h]:
                    h += 1
                ptr[j] = h
                if h < F and u >= st[h] - R:
                    q = u - st[h] + R
                    inj_en[j] = True
                    latch[j] = q == R - 1
                    row = r0[h] + R - 1 - q
                    col = c0[h] + j
                    inj_val[j] = w[row, col] if (row < Sr and col < Sc) else 0
        else:
            q = tau - base
            if cur < F:
                if q < R:  # preload: all columns shift together
                    for j in range(C):
                        inj_en[j] = True
                        row = r0[cur] + R - 1 - q
                        col = c0[cur] + j
                        inj_val[j] = w[row, col] if (row < Sr and col < Sc) else 0
                elif q - R < sl[cur]:
                    t = q - R
                    iss_tag = off[cur] + t
                    iss_first = t == 0
        if iss_tag >= 0:
            g = tag_fold[iss_tag]
            t = s0[g] + iss_tag - off[g]
            for i in range(R):
                k = r0[g] + i
                iss_val[i] = x[t, k] if k < Sr else 0
        else:
            for i in range(R):
                iss_val[i] = 0

        # ---------------- input skew: row i sees what was issued i cycles ago ----------------
        for i in range(R):
            in_val[i] = _delay(skv, i, i, iss_val[i])
            in_tag[i] = _delay(skt, i, i, iss_tag)
            in_first[i] = _delay(skf, i, i, iss_first)

        # ---------------- PEs (read current state, write next state) ----------------
        for i in range(R):
            for j in range(C):
                if j == 0:
                    av = in_val[i]
                    at = in_tag[i]
                    af = in_first[i]
                else:
                    av = a_val[i, j - 1]
                    at = a_tag[i, j - 1]
                    af = a_first[i, j - 1]
                pin = p_val[i - 1, j] if i > 0 else 0
                wt = w_act[i, j]
                n_w_act[i, j] = wt
                if double_buffered:
                    if af and at >= 0:          # swap token: the new fold's weight comes in
                        wt = w_sh[i, j]
                        n_w_act[i, j] = wt
                    if inj_en[j]:
                        v = inj_val[j] if i == 0 else w_tr[i - 1, j]
                        n_w_tr[i, j] = v
                        n_w_sh[i, j] = v if latch[j] else w_sh[i, j]
                    else:
                        n_w_tr[i, j] = w_tr[i, j]
                        n_w_sh[i, j] = w_sh[i, j]
                elif inj_en[j]:                  # preload: w_act is the shift chain
                    n_w_act[i, j] = inj_val[j] if i == 0 else w_act[i - 1, j]
                prod = av * wt
                if i == fault_i and j == fault_j:
                    prod ^= 1                    # fault injection (tests only)
                n_p_val[i, j] = pin + prod
                n_a_val[i, j] = av
                n_a_tag[i, j] = at
                n_a_first[i, j] = af

        # ---------------- bottom edge: de-skew, write to the output ----------------
        for j in range(C):
            v = n_p_val[R - 1, j]               # produced by the bottom PE this cycle
            tg = n_a_tag[R - 1, j]
            v = _delay(dqv, j, C - 1 - j, v)
            tg = _delay(dqt, j, C - 1 - j, tg)
            if tg >= 0:
                g = tag_fold[tg]
                t = s0[g] + tg - off[g]
                col = c0[g] + j
                if col < Sc:
                    y[t, col] += v              # accumulate this fold's partial result
                fold_words[g] += 1
                words += 1

        # ---------------- clock edge ----------------
        a_val[:, :] = n_a_val
        a_tag[:, :] = n_a_tag
        a_first[:, :] = n_a_first
        p_val[:, :] = n_p_val
        w_act[:, :] = n_w_act
        w_sh[:, :] = n_w_sh
        w_tr[:, :] = n_w_tr
        if words == total_words:
            return y, tau + 1
        if not double_buffered and cur < F and fold_words[cur] == sl[cur] * C:
            cur += 1                            # fold drained: next preload starts next cycle
            base = tau + 1
        tau += 1
    return y, -1                                # outputs were lost (a hazard): never finished


@njit(cache=True)
def _run_os(a, b, R, C, double_buffered, period, fault_i, fault_j):
    """Output-stationary grid: Y (M x N) = A (M x K) @ B (K x N). Returns (Y, cycles)."""
    M, K = a.shape
    N = b.shape[1]
    Fr = _cdiv(M, R)
    Fc = _cdiv(N, C)
    F = Fr * Fc
    y = np.zeros((M, N), dtype=np.int64)
    m0 = np.empty(F, dtype=np.int64)
    n0 = np.empty(F, dtype=np.int64)
    for g in range(F):                          # fold_plan order: for m tile (outer) for n tile
        m0[g] = (g // Fc) * R
        n0[g] = (g % Fc) * C

    a_val = np.zeros((R, C), dtype=np.int64)
    a_tag = np.full((R, C), -1, dtype=np.int64)
    a_first = np.zeros((R, C), dtype=np.bool_)
    a_last = np.zeros((R, C), dtype=np.bool_)
    b_val = np.zeros((R, C), dtype=np.int64)
    acc = np.zeros((R, C), dtype=np.int64)
    hold = np.zeros((R, C), dtype=np.int64)
    hold_tag = np.full((R, C), -1, dtype=np.int64)
    chain = np.zeros((R, C), dtype=np.int64)
    n_a_val = a_val.copy()
    n_a_tag = a_tag.copy()
    n_a_first = a_first.copy()
    n_a_last = a_last.copy()
    n_b_val = b_val.copy()
    n_acc = acc.copy()
    n_hold = hold.copy()
    n_hold_tag = hold_tag.copy()
    n_chain = chain.copy()
    bottom_last = np.full(C, -1, dtype=np.int64)   # fold whose last MAC the bottom PE did last cycle
    n_bottom_last = bottom_last.copy()
    drain_tag = np.full(C, -1, dtype=np.int64)     # fold being drained by column j, and rows left
    drain_left = np.zeros(C, dtype=np.int64)
    # skew buffers: A row i has i stages (carrying the flags), B column j has j stages
    skv = np.zeros((R, R), dtype=np.int64)
    skt = np.full((R, R), -1, dtype=np.int64)
    skf = np.zeros((R, R), dtype=np.bool_)
    skl = np.zeros((R, R), dtype=np.bool_)
    skb = np.zeros((C, C), dtype=np.int64)
    iss_a = np.zeros(R, dtype=np.int64)
    iss_b = np.zeros(C, dtype=np.int64)
    in_val = np.zeros(R, dtype=np.int64)
    in_tag = np.full(R, -1, dtype=np.int64)
    in_first = np.zeros(R, dtype=np.bool_)
    in_last = np.zeros(R, dtype=np.bool_)
    in_b = np.zeros(C, dtype=np.int64)

    fold_words = np.zeros(F, dtype=np.int64)
    total_words = F * R * C
    words = 0
    cur = 0
    base = 0
    tau = 0
    limit = F * (max(K, R, period) + 2 * R + C + K + 2) + 8
    while tau < limit:
        # ---------------- controller ----------------
        iss_tag = -1
        k = 0
        if double_buffered:
            g = tau // period
            kk = tau - g * period
            if g < F and kk < K:
                iss_tag = g
                k = kk
        elif cur < F and tau - base < K:
            iss_tag = cur
            k = tau - base
        iss_first = iss_tag >= 0 and k == 0
        iss_last = iss_tag >= 0 and k == K - 1
        for i in range(R):
            m = m0[iss_tag] + i if iss_tag >= 0 else M
            iss_a[i] = a[m, k] if m < M else 0
        for j in range(C):
            n = n0[iss_tag] + j if iss_tag >= 0 else N
            iss_b[j] = b[k, n] if n < N else 0

        # ---------------- skew buffers ----------------
        for i in range(R):
            in_val[i] = _delay(skv, i, i, iss_a[i])
            in_tag[i] = _delay(skt, i, i, iss_tag)
            in_first[i] = _delay(skf, i, i, iss_first)
            in_last[i] = _delay(skl, i, i, iss_last)
        for j in range(C):
            in_b[j] = _delay(skb, j, j, iss_b[j])

        # ---------------- drain (reads current state) ----------------
        if double_buffered:
            for j in range(C):
                out_row = -1
                if bottom_last[j] >= 0:          # column j finished: parallel load of the chain
                    drain_tag[j] = bottom_last[j]
                    drain_left[j] = R - 1
                    out_row = R - 1
                    v = hold[R - 1, j]
                    for i in range(1, R):
                        n_chain[i, j] = hold[i - 1, j]
                elif drain_left[j] > 0:
                    out_row = drain_left[j] - 1
                    drain_left[j] -= 1
                    v = chain[R - 1, j]
                    for i in range(1, R):
                        n_chain[i, j] = chain[i - 1, j]
                if out_row >= 0:
                    g = drain_tag[j]
                    m = m0[g] + out_row
                    n = n0[g] + j
                    if m < M and n < N:
                        y[m, n] = v
                    fold_words[g] += 1
                    words += 1

        # ---------------- PEs ----------------
        for j in range(C):
            n_bottom_last[j] = -1
        for i in range(R):
            for j in range(C):
                if j == 0:
                    av = in_val[i]
                    at = in_tag[i]
                    af = in_first[i]
                    al = in_last[i]
                else:
                    av = a_val[i, j - 1]
                    at = a_tag[i, j - 1]
                    af = a_first[i, j - 1]
                    al = a_last[i, j - 1]
                bv = in_b[j] if i == 0 else b_val[i - 1, j]
                n_hold[i, j] = hold[i, j]
                n_hold_tag[i, j] = hold_tag[i, j]
                n_acc[i, j] = acc[i, j]
                if at >= 0:
                    prod = av * bv
                    if i == fault_i and j == fault_j:
                        prod ^= 1
                    s = prod if af else acc[i, j] + prod
                    n_acc[i, j] = s
                    if al:
                        if double_buffered:
                            n_hold[i, j] = s
                            n_hold_tag[i, j] = at
                            if i == R - 1:
                                n_bottom_last[j] = at
                        else:                    # SCALE-Sim: result leaves at its last MAC
                            m = m0[at] + i
                            n = n0[at] + j
                            if m < M and n < N:
                                y[m, n] = s
                            fold_words[at] += 1
                            words += 1
                n_a_val[i, j] = av
                n_a_tag[i, j] = at
                n_a_first[i, j] = af
                n_a_last[i, j] = al
                n_b_val[i, j] = bv

        # ---------------- clock edge ----------------
        a_val[:, :] = n_a_val
        a_tag[:, :] = n_a_tag
        a_first[:, :] = n_a_first
        a_last[:, :] = n_a_last
        b_val[:, :] = n_b_val
        acc[:, :] = n_acc
        hold[:, :] = n_hold
        hold_tag[:, :] = n_hold_tag
        chain[:, :] = n_chain
        bottom_last[:] = n_bottom_last
        if words == total_words:
            return y, tau + 1
        if not double_buffered and cur < F and fold_words[cur] == R * C:
            cur += 1                            # last MAC of the fold done: next fold starts
            base = tau + 1
        tau += 1
    return y, -1                                # outputs were lost (a hazard): never finished


def simulate_gemm(a, b, rows: int, cols: int, dataflow: str, double_buffered: bool = True, *,
                  period: int | None = None, fault: tuple[int, int] | None = None,
                  schedule: tuple | None = None) -> tuple[np.ndarray, int]:
    """Run ``a (M x K) @ b (K x N)`` on an ``rows`` x ``cols`` grid in ``dataflow`` (ws/os/is).

    Returns ``(product, cycles)``: the int64 product the grid computed and the number of cycles the
    stepped loop ran until the last output word was written (see the module docstring).
    ``double_buffered=True``: hwsim's timing (stationary data double-buffered, folds overlap);
    ``False``: SCALE-Sim's (each fold fills, streams and drains on its own).
    Test hooks: ``period`` overrides the double-buffered fold period (default max(T, R)); ``fault=(i, j)``
    flips bit 0 of every product PE(i, j) computes. ``schedule`` (ws/is only): a fold schedule
    ``(r0, c0, s0, sl)`` of int arrays, the stationary tile's row/column origin and the streamed range of
    each fold in execution order (``systolic_mapping.pe_schedule`` builds it for a searched mapping); default:
    the fixed order (column tile outer, row tile inner, the whole stream per fold). Raises :class:`GridHazard` if output words were
    lost (the loop is bounded, so a bad schedule cannot hang).
    """
    if dataflow not in DATAFLOWS:
        raise ValueError(f"dataflow must be one of {DATAFLOWS}, got {dataflow!r}")
    a = np.ascontiguousarray(a, dtype=np.int64)
    b = np.ascontiguousarray(b, dtype=np.int64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0] or min(a.shape + b.shape) < 1:
        raise ValueError(f"need (M x K) @ (K x N) with all dims >= 1, got {a.shape} @ {b.shape}")
    if rows < 1 or cols < 1:
        raise ValueError("rows and cols must be >= 1")
    m, k = a.shape
    n = b.shape[1]
    t = {"ws": m, "os": k, "is": n}[dataflow]
    p = max(t, rows) if period is None else int(period)
    if p < 1:
        raise ValueError("period must be >= 1")
    fi, fj = (-1, -1) if fault is None else fault
    if dataflow in ("ws", "is"):
        sr, sc = k, (n if dataflow == "ws" else m)
        if schedule is None:
            fr, fc = _cdiv(sr, rows), _cdiv(sc, cols)
            g = np.arange(fr * fc)
            schedule = ((g % fr) * rows, (g // fr) * cols, np.zeros(fr * fc), np.full(fr * fc, t))
        r0, c0, s0, sl = (np.ascontiguousarray(v, dtype=np.int64) for v in schedule)
        per = int(period) if period is not None else 0
        x, w = (a, b) if dataflow == "ws" else (np.ascontiguousarray(b.T), np.ascontiguousarray(a.T))
        y, cycles = _run_rs(x, w, rows, cols, double_buffered, per, fi, fj, r0, c0, s0, sl)
        if dataflow == "is":
            y = np.ascontiguousarray(y.T)
    else:
        y, cycles = _run_os(a, b, rows, cols, double_buffered, p, fi, fj)
    if cycles < 0:
        raise GridHazard(f"{dataflow} grid {rows}x{cols} lost output words (period={p} too short?)")
    return y, int(cycles)


# ------------------------------------------------------------------ cross-checks (hwsim validate)

def _grid_against_formulas(stride: int):
    """Every ``stride``-th (m, k, n) of {1, 2, 3, 5, 8, 13, 16, 17}^3 on 1x1, 2x3, 4x4, 3x7 and 8x8 grids in
    every dataflow: the grid's product equals numpy's, its double-buffered cycles equal hwsim's fold formula
    (``fold_plan`` compute + 2R + C - 2) and its single-buffered cycles equal SCALE-Sim's closed form + 1."""
    import itertools

    from hwsim.backends.scalesim_model import scalesim_gemm
    from hwsim.backends.systolic import fold_plan, pipeline_overhead_cycles
    from hwsim.hardware.systolic import SystolicConfig
    from hwsim.validation import Tally
    from hwsim.workload.ops import MatMul
    sizes = (1, 2, 3, 5, 8, 13, 16, 17)
    t = Tally()
    shapes = list(itertools.product(sizes, sizes, sizes))[::stride]
    for dataflow, (rows, cols) in itertools.product(DATAFLOWS, ((1, 1), (2, 3), (4, 4), (3, 7), (8, 8))):
        hw = SystolicConfig(rows=rows, cols=cols, dataflow=dataflow)
        for m, k, n in shapes:
            rng = np.random.default_rng(m * 10000 + k * 100 + n + 7 * rows + cols)
            a, b = rng.integers(-128, 128, (m, k)), rng.integers(-128, 128, (k, n))
            case = f"{m}x{k}x{n} on {rows}x{cols} {dataflow}"
            y_db, cyc_db = simulate_gemm(a, b, rows, cols, dataflow, double_buffered=True)
            y_ss, cyc_ss = simulate_gemm(a, b, rows, cols, dataflow, double_buffered=False)
            exact = a @ b
            t.exact(case, bool(np.array_equal(y_db, exact) and np.array_equal(y_ss, exact)), True, "product")
            formula = int(fold_plan(MatMul(name="g", m=m, k=k, n=n), hw).compute.sum()) \
                + pipeline_overhead_cycles(rows, cols)
            t.exact(case, cyc_db, formula, "double-buffered cycles vs hwsim's fold formula")
            t.exact(case, cyc_ss - 1, scalesim_gemm(m, n, k, rows, cols, dataflow).cycles,
                    "single-buffered cycles - 1 vs SCALE-Sim's closed form")
    return t.outcome()


def register_checks() -> None:
    from hwsim.validation import check
    what = "register-level PE grid: exact products; cycles vs hwsim's fold formula and SCALE-Sim's"
    check("systolic/pe-grid", reference="numpy products; fold formulas (docs/architecture.md)",
          compares=what + " (every 8th shape)")(lambda: _grid_against_formulas(8))
    check("systolic/pe-grid-all", reference="numpy products; fold formulas (docs/architecture.md)",
          compares=what + " (all 7,680 GEMMs)", full=True)(lambda: _grid_against_formulas(1))
