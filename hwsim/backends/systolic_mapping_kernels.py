"""The numeric kernels of the mapping search (docs/mapping.md), written once for two callers: plain
Python (``hwsim.backends.systolic_mapping.choose``: ``estimate`` costs a handful of distinct GEMMs and
must not pay numba's start-up) and numba (:func:`jitted`: the sweep evaluator, per point). Only
constructs both accept: scalars, tuples and the cost vectors of :func:`empty`. The two give identical
numbers (IEEE doubles, the same operations in the same order): tests/test_sweep.py compares the compiled
sweep with ``estimate`` on 1,000 random points.

The scalar helpers below (:data:`int64`, :data:`ceil`, :func:`rint`, :func:`empty`) are plain Python
here, so an analytic estimate never loads numpy (hwsim.lazy); :func:`jitted` binds numpy's in the
compiled copy. Both give the same values: the kernels' integers stay far below 2**63 (a workload or
GEMM has at most 2**50 MACs: hwsim.workload.spec.MAX_MACS, hwsim.topology.MAX_GEMM_MACS), every entry
of a cost vector is stored as a double (``float``), ``math.ceil`` and ``numpy.ceil`` agree on every
double, and ``round`` and ``numpy.rint`` both round half to even."""
from __future__ import annotations

import math

int64 = int           # numpy.int64 in the compiled copy (numba needs one integer type per variable)
ceil = math.ceil      # numpy.ceil in the compiled copy


def rint(x):
    """Nearest integral double, half to even (``numpy.rint`` in the compiled copy)."""
    return float(round(x))


def empty(n):
    """A cost vector of ``n`` doubles (``numpy.empty`` in the compiled copy)."""
    return [0.0] * n


# Loop orders, outer -> inner, over the loops r = 0, c = 1, s = 2 (fixed enumeration order).
ORDERS = ((0, 1, 2), (1, 0, 2), (0, 2, 1), (2, 0, 1), (1, 2, 0), (2, 1, 0))
# RELEVANT[dataflow code][operand][loop]: does the operand depend on the loop (ws = 0, os = 1, is = 2).
RELEVANT = (
    ((1, 0, 1), (1, 1, 0), (0, 1, 1)),    # ws: ifmap M x K (s, r); filter K x N (r, c); ofmap M x N (s, c)
    ((1, 0, 1), (0, 1, 1), (1, 1, 0)),    # os: ifmap M x K (r, s); filter K x N (c, s); ofmap M x N (r, c)
    ((1, 1, 0), (1, 0, 1), (0, 1, 1)),    # is: ifmap M x K (c, r); filter K x N (r, s); ofmap M x N (s, c)
)
N_OUT = 16   # length of the cost vector (systolic_mapping._COST_FIELDS)
KERNELS = ("_cdiv", "_gemm_dims", "_multiplier", "_operand_words", "_footprint_words", "legacy_cost", "_finish",
           "mapping_cost", "_objective", "search", "_useful", "fuses")


def _cdiv(a, b):
    return -(-a // b)


def _gemm_dims(m, k, n, df):
    """(Sr, Sc, Ss): extents of the r, c, s loops."""
    if df == 0:
        return k, n, m
    if df == 1:
        return m, n, k
    return k, m, n


def _multiplier(rel, order, level, trips):
    """How many times an operand is fetched (ws/is ofmap: visited): the product of the trip counts of
    the loops it does not depend on that lie outside its ``level`` innermost loops and have a loop it
    depends on (trip > 1) inside them, still outside."""
    outside = 3 - level
    mult = 1
    for p in range(outside):
        d = order[p]
        if rel[d] == 0 and trips[d] > 1:
            for q in range(p + 1, outside):
                e = order[q]
                if rel[e] == 1 and trips[e] > 1:
                    mult *= trips[d]
                    break
    return mult


def _operand_words(rel, order, level, trips, sizes):
    """DRAM words of one operand (ws/is ofmap: words x visits)."""
    size = 1
    for d in range(3):
        if rel[d] == 1:
            size *= sizes[d]
    return size * _multiplier(rel, order, level, trips)


def _footprint_words(rel, order, level, sizes, tiles):
    """Words of an operand resident at ``level``: per loop it depends on, the full extent if the loop is
    among the ``level`` innermost, else one tile."""
    w = 1
    for p in range(3):
        d = order[p]
        if rel[d] == 1:
            w *= sizes[d] if p >= 3 - level else min(tiles[d], sizes[d])
    return w


def legacy_cost(m, k, n, count, R, C, df, ifk, fk, ofk, wb, ab, bw, out):
    """The previous fixed placement (``hwsim.backends.systolic.gemm_closed_form``, same arithmetic in the
    same order) for one GEMM; fills ``out`` (``_COST_FIELDS``)."""
    if df == 1:   # os
        fr, fc = -(-m // R), -(-n // C)
        full, rem = m // R, m % R
        s = 0
        if R * k * wb <= ifk * 1024 / 2:
            s += full * R
        if rem > 0 and rem * k * wb <= ifk * 1024 / 2:
            s += rem
        ld_if = s * k
        ld_if = ld_if + (m * k - ld_if) * fc
        ld_f = k * n * (1 if k * n * wb <= fk * 1024 / 2 else fr)
        core = fr * fc * max(k, R)
        load_words, store_words, spill = ld_if + ld_f, m * n, 0.0
        load0 = (min(R, m) * k + k * min(C, n)) * wb
        lm, ln = m % R, n % C
        store_last = (R if lm == 0 else lm) * (C if ln == 0 else ln) * wb
        s_if, s_f, s_of, w_of = m * k * fc, k * n * fr, 0, m * n
        d_if, d_f = ld_if, ld_f
        stream = k
    else:         # ws (0) / is (2)
        ws = df == 0
        sr = k
        sc = n if ws else m
        t = m if ws else n
        stream_kib = ifk if ws else fk
        fr, fc = -(-sr // R), -(-sc // C)
        ld_stream = t * sr * (1 if t * sr * wb <= stream_kib * 1024 / 2 else fc)
        half_of = ofk * 1024 / 2
        full, rem = sc // C, sc % C
        spill_cols = 0
        if t * C * ab > half_of:
            spill_cols += full * C
        if rem > 0 and t * rem * ab > half_of:
            spill_cols += rem
        spill = spill_cols * t * ab * 2 * (fr - 1)
        r0, c0 = min(R, sr), min(C, sc)
        core = fr * fc * max(t, R)
        load_words, store_words = sr * sc + ld_stream, t * sc
        load0 = (r0 * c0 + t * r0) * wb
        store_last = t * (C if rem == 0 else rem) * wb
        s_if = t * sr * fc if ws else sr * sc
        s_f = sr * sc if ws else t * sr * fc
        s_of, w_of = t * sc * (fr - 1), t * sc * fr
        d_if = ld_stream if ws else sr * sc
        d_f = sr * sc if ws else ld_stream
        stream = t
    _finish(count, core, stream, R, C, load_words, store_words, spill, load0, store_last, bw, wb,
            d_if, d_f, s_if, s_f, s_of, w_of, out)


def _finish(count, core, stream, R, C, load_words, store_words, spill, load0, store_last, bw, wb,
            d_if, d_f, s_if, s_f, s_of, w_of, out):
    """Shared tail of both closed forms: per-op pipeline terms, the DRAM-overlap bound, energy-side bytes."""
    compute = count * core - max(0, R - stream) + (2 * R + C - 2)   # last fold lasts its stream
    dram_b = count * ((load_words + store_words) * wb + spill)
    sl = int64(ceil(store_last / bw))
    l0 = int64(ceil(load0 / bw))
    dc = int64(ceil(dram_b / bw))
    out[0] = float(l0 + max(compute, dc - l0 - sl) + sl)
    out[1] = float(compute)
    out[2] = float(l0)
    out[3] = float(sl)
    out[4] = float(dc)
    out[5] = 1.0 if dc - l0 - sl > compute else 0.0
    out[6] = float(count * d_if)
    out[7] = float(count * d_f)
    out[8] = float(count * store_words)
    out[9] = float(count * spill)
    out[10] = float(count * s_if)
    out[11] = float(count * s_f)
    out[12] = float(count * s_of)
    out[13] = float(count * w_of)
    # energy-side byte counts, as SystolicBackend._gemm_cost rounds them
    dram_bytes = rint((count * d_if + count * d_f + count * store_words) * wb + count * spill)
    out[14] = dram_bytes
    out[15] = (count * s_if + count * s_f + count * s_of + count * w_of) * wb + dram_bytes


def mapping_cost(m, k, n, count, R, C, df, wb, ab, bw, o, lv_if, lv_f, lv_of, ts, out, fuse_in, fuse_out):
    """Closed form of one searched mapping (loop order ``ORDERS[o]``, residency levels, streamed tile
    ``ts``) for one GEMM; fills ``out`` (``_COST_FIELDS``). Capacity is not checked here
    (:func:`search` does it). ``fuse_in``: the ifmap is already on chip (the previous op's output,
    ``fusion``): no DRAM reads of it. ``fuse_out``: the output stays on chip for the next op: no final
    DRAM writes (spilled partial sums still move)."""
    Sr, Sc, Ss = _gemm_dims(m, k, n, df)
    order = ORDERS[o]
    sizes = (int64(Sr), int64(Sc), int64(Ss))          # tuples: no heap allocation per candidate
    fr, fc, fs = _cdiv(Sr, R), _cdiv(Sc, C), _cdiv(Ss, ts)
    trips = (int64(fr), int64(fc), int64(fs))
    rel = RELEVANT[df]
    levels = (lv_if, lv_f, lv_of)
    tl = Ss - ts * (fs - 1)                       # last streamed tile
    # the stationary tile stays across consecutive pieces iff every loop inside s has one trip
    ps = 0
    for p in range(3):
        if order[p] == 2:
            ps = p
    merged = True
    for q in range(ps + 1, 3):
        if trips[order[q]] > 1:
            merged = False
    if merged:
        core = fr * fc * max(Ss, R)
        stream = Ss
    else:
        core = fr * fc * ((fs - 1) * max(ts, R) + max(tl, R))
        stream = tl
    w0 = _operand_words(rel[0], order, levels[0], trips, sizes)
    w1 = _operand_words(rel[1], order, levels[1], trips, sizes)
    w2 = _operand_words(rel[2], order, levels[2], trips, sizes)
    if fuse_in:
        w0 = 0
    words = (w0, w1, w2)
    keep_in = 0 if fuse_in else 1
    r0, c0, s0 = min(R, Sr), min(C, Sc), min(ts, Ss)
    rl, cl = Sr - R * (fr - 1), Sc - C * (fc - 1)
    if df == 1:   # os: outputs leave once; ifmap R x Ts and filter Ts x C first
        d_if, d_f = words[0], words[1]
        store_words, spill = m * n, 0.0
        load0 = (keep_in * r0 * s0 + s0 * c0) * wb
        store_last = rl * cl * wb
        s_if, s_f, s_of, w_of = m * k * fc, k * n * fr, 0, m * n
    else:         # ws / is: stationary tile + the first Ts x r0 of the stream; V visits of each output
        stat_words = words[1] if df == 0 else words[0]
        strm_words = words[0] if df == 0 else words[1]
        d_if = strm_words if df == 0 else stat_words
        d_f = stat_words if df == 0 else strm_words
        visits = words[2] // (Ss * Sc)
        store_words = Ss * Sc
        spill = (visits - 1) * Ss * Sc * ab * 2
        if df == 0:
            load0 = (r0 * c0 + keep_in * s0 * r0) * wb
        else:
            load0 = (keep_in * r0 * c0 + s0 * r0) * wb
        store_last = tl * cl * wb
        stat_loads = Sr * Sc * (1 if merged else fs)
        s_strm = Ss * Sr * fc
        s_if = s_strm if df == 0 else stat_loads
        s_f = stat_loads if df == 0 else s_strm
        s_of, w_of = Ss * Sc * (fr - 1), Ss * Sc * fr
    if fuse_out:
        store_words, store_last = 0, 0.0
    _finish(count, core, stream, R, C, d_if + d_f, store_words, spill, load0, store_last, bw, wb,
            d_if, d_f, s_if, s_f, s_of, w_of, out)


def _objective(out, obj, macs, mac_pj, sram_pj, dram_pj, leak_pj):
    """The value ``mapping_objective`` minimises: cycles, energy (pJ: MACs + SRAM + DRAM + leakage over
    the cycles) or their product."""
    if obj == 0:
        return out[0]
    e = macs * mac_pj + out[15] * sram_pj + out[14] * dram_pj + out[0] * leak_pj
    return e if obj == 1 else e * out[0]


def search(m, k, n, count, R, C, df, ifk, fk, ofk, wb, ab, bw, obj, mac_pj, sram_pj, dram_pj, leak_pj, best_out, choice,
           fuse_in, fuse_out):
    """Exhaustive search over the mapping space of one GEMM (module docstring). Fills ``best_out`` with the
    winner's cost vector and ``choice`` with (candidate number, order, level ifmap, level filter,
    level ofmap, Ts); candidate 0 is the fixed placement (then the other entries are -1). Returns the
    number of feasible candidates evaluated. ``fuse_in`` / ``fuse_out`` (``fusion``, decided by the caller,
    who checked that the fused tensor fits half of the ifmap and ofmap SRAMs): the ifmap is resident whole
    (level 3, no DRAM reads); the output occupies its share of the ofmap SRAM and is not written back.
    The fixed placement (candidate 0) is costed without fusion."""
    macs = m * k * n * count
    legacy_cost(m, k, n, count, R, C, df, ifk, fk, ofk, wb, ab, bw, best_out)
    best = _objective(best_out, obj, macs, mac_pj, sram_pj, dram_pj, leak_pj)
    best_dram = best_out[14]
    for i in range(6):
        choice[i] = -1
    choice[0] = 0
    Sr, Sc, Ss = _gemm_dims(m, k, n, df)
    sizes = (int64(Sr), int64(Sc), int64(Ss))
    trips0 = (int64(_cdiv(Sr, R)), int64(_cdiv(Sc, C)), int64(1))
    rel = RELEVANT[df]
    half_of = ofk * 1024 / 2
    if fuse_out:
        half_of -= m * n * wb          # the output kept for the next op
    half = (ifk * 1024 / 2, fk * 1024 / 2, half_of)
    nbytes = (wb, wb, wb if df == 1 else ab)
    cur = empty(N_OUT)
    cand = 0
    n_eval = 1
    for o in range(6):
        order = ORDERS[o]
        if df == 1 and order[2] != 2:
            continue          # os: the reduction (s) loop stays innermost
        # an operand that does not depend on s (the stationary one of ws/is): its footprint does not
        # limit Ts, so only its deepest fitting level can win (never more traffic, same everything else)
        only = [-1, -1, -1]
        infeasible = False
        for a in range(3):
            if rel[a][2] == 0 and not (a == 0 and fuse_in) and not (df == 1 and a == 2):
                best_l = -1
                for la in range(4):
                    if _footprint_words(rel[a], order, la, sizes, (int64(R), int64(C), int64(1))) * nbytes[a] <= half[a]:
                        best_l = la
                if best_l < 0:
                    infeasible = True
                only[a] = best_l
        if infeasible:
            continue
        # candidate levels per operand: skip a level whose next loop adds nothing to the footprint
        for l0 in range(4):
            if only[0] >= 0 and l0 != only[0]:
                continue
            if fuse_in and l0 < 3:
                continue      # the fused input is resident whole (its capacity checked by the caller)
            if not fuse_in and only[0] < 0 and not _useful(rel[0], order, l0, trips0, Ss):
                continue
            for l1 in range(4):
                if only[1] >= 0 and l1 != only[1]:
                    continue
                if only[1] < 0 and not _useful(rel[1], order, l1, trips0, Ss):
                    continue
                for l2 in range(4):
                    if df == 1 and l2 > 0:
                        break
                    if only[2] >= 0 and l2 != only[2]:
                        continue
                    if df != 1 and only[2] < 0 and not _useful(rel[2], order, l2, trips0, Ss):
                        continue
                    cand += 1
                    lv = (l0, l1, l2)
                    # the largest streamed tile every working set allows
                    ts_max = Ss
                    ok = True
                    for a in range(3):
                        if a == 0 and fuse_in:
                            continue
                        fixed = 1
                        s_covered = False
                        for p in range(3):
                            d = order[p]
                            if rel[a][d] == 1:
                                if d == 2:
                                    s_covered = p >= 3 - lv[a]
                                    if s_covered:
                                        fixed *= Ss
                                else:
                                    fixed *= sizes[d] if p >= 3 - lv[a] else min(sizes[d], R if d == 0 else C)
                        if rel[a][2] == 1 and not s_covered:
                            cap = int64(half[a] // (fixed * nbytes[a]))
                            if cap < ts_max:
                                ts_max = cap
                        elif fixed * nbytes[a] > half[a]:
                            ok = False
                    if not ok or ts_max < 1:
                        continue
                    ts = _cdiv(Ss, _cdiv(Ss, ts_max))
                    mapping_cost(m, k, n, count, R, C, df, wb, ab, bw, o, l0, l1, l2, ts, cur, fuse_in, fuse_out)
                    n_eval += 1
                    v = _objective(cur, obj, macs, mac_pj, sram_pj, dram_pj, leak_pj)
                    if v < best or (v == best and cur[14] < best_dram):
                        best, best_dram = v, cur[14]
                        best_out[:] = cur
                        choice[0], choice[1], choice[2], choice[3], choice[4], choice[5] = cand, o, l0, l1, l2, ts
    return n_eval


def _useful(rel, order, level, trips0, Ss):
    """False if going one level deeper covers a loop the operand does not depend on, or one with a
    single trip (same footprint, never more traffic). The s loop's trips depend on Ts: it is treated
    as useful whenever Ss > 1."""
    if level == 3:
        return True
    d = order[2 - level]          # the loop the next level would add
    if rel[d] == 0:
        return False
    if d == 2:
        return Ss > 1
    return trips0[d] > 1


def fuses(words, from_gemm, wb, ifk, ofk):
    """A fused tensor of ``words`` stays on chip iff it fits half the consumer's ifmap SRAM and, when a
    GEMM produced it, half the producer's ofmap SRAM (the other halves keep double-buffering)."""
    if words <= 0:
        return False
    b = words * wb
    return b <= ifk * 1024 / 2 and (not from_gemm or b <= ofk * 1024 / 2)


_JIT = None


def jitted():
    """The numba-compiled kernels (cached on disk): a module whose functions are :data:`KERNELS` compiled
    from this file's source, calling each other compiled."""
    global _JIT
    if _JIT is None:
        import sys
        import types

        from numba import njit
        mod = types.ModuleType(__name__ + "_jit")
        mod.__file__ = __file__
        with open(__file__) as f:
            exec(compile(f.read(), __file__, "exec"), mod.__dict__)
        import numpy as np
        mod.int64, mod.ceil, mod.rint, mod.empty = np.int64, np.ceil, np.rint, np.empty
        for name in KERNELS:
            setattr(mod, name, njit(cache=True)(getattr(mod, name)))
        sys.modules[mod.__name__] = mod
        _JIT = mod
    return _JIT
