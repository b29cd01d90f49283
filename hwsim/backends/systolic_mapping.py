"""Mapping search for the systolic backend: tile and order every GEMM to fit the SRAMs (docs/mapping.md).

A GEMM (M x K) @ (K x N) on an R x C array is three loops over tiles, named by where each GEMM dimension
goes on the array (``hwsim.backends.systolic.array_dims``):

    loop  dimension on          ws   is   os    tile
    r     the array rows         K    K    M     R
    c     the array columns      N    M    N     C
    s     the streamed vectors   M    N    K     Ts (searched)

One iteration of the three loops is a *fold piece*: an R x C tile sits in the PEs (ws: filter, is:
ifmap, os: the outputs) while Ts vectors stream through. Each operand depends on two loops
(``RELEVANT``); it has a *residency level* L in 0..3: its SRAM holds the data touched by the L innermost
loops (L = 0: one tile; 3: the whole operand), fetched tile by tile on first use and kept until an
outer loop it depends on moves on. Its DRAM reads are its size times the trip counts of the loops it
does not depend on that lie outside its resident loops with a loop it depends on inside them (that is
when its tiles leave the SRAM and come back). ws/is partial sums (the output, ``acc_bits`` wide)
follow the same rule: every extra visit of an output tile is one spill (write) and one refill (read)
of accumulators; a reduction loop innermost keeps them on chip. os keeps the reduction (s) innermost:
the accumulators stay in the PEs.

Constraints: every operand's resident working set fits half its SRAM (the other half is the double
buffer); os requires the s loop innermost. The search enumerates every loop order (6; 2 for os) and
every residency level of every operand, drops levels that only add a loop the operand does not depend
on (same footprint, never more traffic: the deeper level is taken), and for each combination takes the
largest streamed tile Ts that fits, balanced over the tiles (Ts = ceil(S / ceil(S / Ts_max))): at a fixed
order and residency a larger tile never adds DRAM traffic or array cycles. The fixed placement of the
previous model (``hwsim.backends.systolic.fold_plan`` / ``gemm_closed_form``: untiled stream, an operand
resident only if it fits whole, partial sums spilled when a tile exceeds half the ofmap SRAM) is
candidate 0, so the search never does worse than it. The winner minimises ``mapping_objective``
(latency: cycles; energy: the GEMM's dynamic + leakage energy; edp: their product); ties go to fewer
DRAM bytes, then to the lower candidate number (deterministic).

The closed form of one mapping (:func:`mapping_cost`) is checked against a fold-by-fold plan
(:func:`mapping_fold_plan`, which cycle mode runs on the engine) and, for the array cycles, against the
cycle-stepped PE grid (``hwsim.backends.systolic_pe``) in tests/test_systolic_mapping.py.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numba import njit

# Loop orders, outer -> inner, over the loops r = 0, c = 1, s = 2 (fixed enumeration order).
ORDERS = np.array([(0, 1, 2), (1, 0, 2), (0, 2, 1), (2, 0, 1), (1, 2, 0), (2, 1, 0)], dtype=np.int64)
LOOP_NAMES = ("r", "c", "s")
OPERANDS = ("ifmap", "filter", "ofmap")
OBJECTIVES = ("latency", "energy", "edp")
OBJECTIVE_CODE = {name: i for i, name in enumerate(OBJECTIVES)}
# RELEVANT[dataflow code][operand][loop]: does the operand depend on the loop (ws = 0, os = 1, is = 2).
RELEVANT = np.array([
    [(1, 0, 1), (1, 1, 0), (0, 1, 1)],    # ws: ifmap M x K (s, r); filter K x N (r, c); ofmap M x N (s, c)
    [(1, 0, 1), (0, 1, 1), (1, 1, 0)],    # os: ifmap M x K (r, s); filter K x N (c, s); ofmap M x N (r, c)
    [(1, 1, 0), (1, 0, 1), (0, 1, 1)],    # is: ifmap M x K (c, r); filter K x N (r, s); ofmap M x N (s, c)
], dtype=np.int64)
# GEMM dimension name of each loop, per dataflow code
DIM_NAMES = (("k", "n", "m"), ("m", "n", "k"), ("k", "m", "n"))
N_OUT = 16   # length of the cost vector (see _COST_FIELDS)
_COST_FIELDS = ("cycles", "compute", "load0", "store_last", "dram_cycles", "stalled", "dram_reads_ifmap",
                "dram_reads_filter", "dram_writes_ofmap", "spill_bytes", "sram_reads_ifmap", "sram_reads_filter",
                "sram_reads_ofmap", "sram_writes_ofmap", "dram_bytes", "sram_bytes")


@njit(cache=True)
def _cdiv(a, b):
    return -(-a // b)


@njit(cache=True)
def _gemm_dims(m, k, n, df):
    """(Sr, Sc, Ss): extents of the r, c, s loops."""
    if df == 0:
        return k, n, m
    if df == 1:
        return m, n, k
    return k, m, n


@njit(cache=True)
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


@njit(cache=True)
def _operand_words(rel, order, level, trips, sizes):
    """DRAM words of one operand (ws/is ofmap: words x visits)."""
    size = 1
    for d in range(3):
        if rel[d] == 1:
            size *= sizes[d]
    return size * _multiplier(rel, order, level, trips)


@njit(cache=True)
def _footprint_words(rel, order, level, sizes, tiles):
    """Words of an operand resident at ``level``: per loop it depends on, the full extent if the loop is
    among the ``level`` innermost, else one tile."""
    w = 1
    for p in range(3):
        d = order[p]
        if rel[d] == 1:
            w *= sizes[d] if p >= 3 - level else min(tiles[d], sizes[d])
    return w


@njit(cache=True)
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


@njit(cache=True)
def _finish(count, core, stream, R, C, load_words, store_words, spill, load0, store_last, bw, wb,
            d_if, d_f, s_if, s_f, s_of, w_of, out):
    """Shared tail of both closed forms: per-op pipeline terms, the DRAM-overlap bound, energy-side bytes."""
    compute = count * core - max(0, R - stream) + (2 * R + C - 2)   # last fold lasts its stream
    dram_b = count * ((load_words + store_words) * wb + spill)
    sl = np.int64(np.ceil(store_last / bw))
    l0 = np.int64(np.ceil(load0 / bw))
    dc = np.int64(np.ceil(dram_b / bw))
    out[0] = l0 + max(compute, dc - l0 - sl) + sl
    out[1] = compute
    out[2] = l0
    out[3] = sl
    out[4] = dc
    out[5] = 1.0 if dc - l0 - sl > compute else 0.0
    out[6] = count * d_if
    out[7] = count * d_f
    out[8] = count * store_words
    out[9] = count * spill
    out[10] = count * s_if
    out[11] = count * s_f
    out[12] = count * s_of
    out[13] = count * w_of
    # energy-side byte counts, as SystolicBackend._gemm_cost rounds them
    dram_bytes = np.rint((count * d_if + count * d_f + count * store_words) * wb + count * spill)
    out[14] = dram_bytes
    out[15] = (count * s_if + count * s_f + count * s_of + count * w_of) * wb + dram_bytes


@njit(cache=True)
def mapping_cost(m, k, n, count, R, C, df, wb, ab, bw, o, lv_if, lv_f, lv_of, ts, out, fuse_in, fuse_out):
    """Closed form of one searched mapping (loop order ``ORDERS[o]``, residency levels, streamed tile
    ``ts``) for one GEMM; fills ``out`` (``_COST_FIELDS``). Capacity is not checked here
    (:func:`search` does it). ``fuse_in``: the ifmap is already on chip (the previous op's output,
    ``fusion``): no DRAM reads of it. ``fuse_out``: the output stays on chip for the next op: no final
    DRAM writes (spilled partial sums still move)."""
    Sr, Sc, Ss = _gemm_dims(m, k, n, df)
    order = ORDERS[o]
    sizes = (np.int64(Sr), np.int64(Sc), np.int64(Ss))          # tuples: no heap allocation per candidate
    fr, fc, fs = _cdiv(Sr, R), _cdiv(Sc, C), _cdiv(Ss, ts)
    trips = (np.int64(fr), np.int64(fc), np.int64(fs))
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


@njit(cache=True)
def _objective(out, obj, macs, mac_pj, sram_pj, dram_pj, leak_pj):
    """The value ``mapping_objective`` minimises: cycles, energy (pJ: MACs + SRAM + DRAM + leakage over
    the cycles) or their product."""
    if obj == 0:
        return out[0]
    e = macs * mac_pj + out[15] * sram_pj + out[14] * dram_pj + out[0] * leak_pj
    return e if obj == 1 else e * out[0]


@njit(cache=True)
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
    sizes = (np.int64(Sr), np.int64(Sc), np.int64(Ss))
    trips0 = (np.int64(_cdiv(Sr, R)), np.int64(_cdiv(Sc, C)), np.int64(1))
    rel = RELEVANT[df]
    half_of = ofk * 1024 / 2
    if fuse_out:
        half_of -= m * n * wb          # the output kept for the next op
    half = (ifk * 1024 / 2, fk * 1024 / 2, half_of)
    nbytes = (wb, wb, wb if df == 1 else ab)
    cur = np.empty(N_OUT)
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
            if rel[a, 2] == 0 and not (a == 0 and fuse_in) and not (df == 1 and a == 2):
                best_l = -1
                for la in range(4):
                    if _footprint_words(rel[a], order, la, sizes, (np.int64(R), np.int64(C), np.int64(1))) * nbytes[a] <= half[a]:
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
                            if rel[a, d] == 1:
                                if d == 2:
                                    s_covered = p >= 3 - lv[a]
                                    if s_covered:
                                        fixed *= Ss
                                else:
                                    fixed *= sizes[d] if p >= 3 - lv[a] else min(sizes[d], R if d == 0 else C)
                        if rel[a, 2] == 1 and not s_covered:
                            cap = np.int64(half[a] // (fixed * nbytes[a]))
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


@njit(cache=True)
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


# --------------------------------------------------------------------------------------------------
# The chosen mapping as an object (reports) and as per-fold arrays (cycle mode)
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GemmMapping:
    """One GEMM's mapping. ``fixed``: the previous fixed placement (candidate 0). Otherwise ``order``
    (loop indices outer -> inner over r, c, s), ``levels`` (ifmap, filter, ofmap residency levels) and
    ``stream_tile`` (Ts). ``dataflow``: ws / os / is."""
    dataflow: str
    fixed: bool
    order: tuple = ()
    levels: tuple = ()
    stream_tile: int = 0
    candidate: int = 0

    def to_dict(self, m: int, k: int, n: int, rows: int, cols: int, objective: str) -> dict:
        """The report's ``mapping`` object: tile per GEMM dimension, loop order (outer -> inner, GEMM
        dimension names), and per operand the loops it stays resident across."""
        df = {"ws": 0, "os": 1, "is": 2}[self.dataflow]
        names = DIM_NAMES[df]
        sizes = dict(zip(names, _gemm_dims_py(m, k, n, df)))
        if self.fixed:
            from hwsim.backends.systolic import array_dims
            order = {"ws": ("n", "k", "m"), "is": ("m", "k", "n"), "os": ("m", "n", "k")}[self.dataflow]
            tile = {names[0]: min(rows, sizes[names[0]]), names[1]: min(cols, sizes[names[1]]),
                    names[2]: array_dims(self.dataflow, m, k, n)[2]}
            return {"placement": "fixed", "objective": objective, "loop_order": list(order), "tile": tile,
                    "resident": "an operand that fits half its SRAM whole; else re-fetched per fold"}
        loops = [names[d] for d in self.order]
        tile = {names[0]: min(rows, sizes[names[0]]), names[1]: min(cols, sizes[names[1]]), names[2]: self.stream_tile}
        rel = RELEVANT[df]
        resident = {}
        for a, op in enumerate(OPERANDS):
            inner = [names[d] for d in self.order[3 - self.levels[a]:]]
            resident[op] = {"across": inner,
                            "holds": [names[d] for d in self.order if rel[a, d] and names[d] in inner]}
        return {"placement": "searched", "objective": objective, "candidate": self.candidate,
                "loop_order": loops, "tile": tile, "resident": resident}


def _gemm_dims_py(m, k, n, df):
    return {0: (k, n, m), 1: (m, n, k), 2: (k, m, n)}[df]


def mapping_fold_plan(m: int, k: int, n: int, count: int, R: int, C: int, df: int, wb: float, ab: float,
                      mp: GemmMapping, fuse_in: bool = False, fuse_out: bool = False):
    """Fold pieces of a searched mapping in execution order, simulated tile by tile: per piece its array
    cycles (``compute``, without the per-op preload/drain), DRAM load and store bytes, and the totals
    of DRAM words per operand and spilled partial-sum bytes. A tile is loaded on first use while its
    operand's resident set holds it; the set is emptied when an outer loop the operand depends on moves
    (the rule :func:`mapping_cost` counts in closed form). Returns a dict of numpy arrays / ints."""
    Sr, Sc, Ss = _gemm_dims_py(m, k, n, df)
    sizes = (Sr, Sc, Ss)
    tiles = (R, C, mp.stream_tile)
    order = tuple(int(d) for d in mp.order)
    trips = [-(-sizes[d] // tiles[d]) for d in range(3)]
    tsz = [np.minimum(tiles[d], sizes[d] - tiles[d] * np.arange(trips[d])) for d in range(3)]
    grids = np.meshgrid(*[np.arange(trips[d]) for d in order], indexing="ij")
    idx = [None, None, None]
    for p, d in enumerate(order):
        idx[d] = grids[p].reshape(-1)
    nf = len(idx[0])
    ext = [tsz[d][idx[d]] for d in range(3)]
    rel = RELEVANT[df]
    load = np.zeros(nf)
    store = np.zeros(nf)
    dram = {}
    spill = 0.0
    for a, op in enumerate(OPERANDS):
        lvl = mp.levels[a]
        outside = [d for p, d in enumerate(order) if p < 3 - lvl and rel[a, d]]
        key_out = np.stack([idx[d] for d in outside], axis=1) if outside else np.zeros((nf, 1), np.int64)
        change = np.ones(nf, bool)
        change[1:] = (key_out[1:] != key_out[:-1]).any(axis=1)
        epoch = np.cumsum(change)
        rd = [d for d in range(3) if rel[a, d]]
        tile_key = idx[rd[0]] * (trips[rd[1]] + 1) + idx[rd[1]]
        pair = epoch * (trips[rd[0]] + 1) * (trips[rd[1]] + 1) + tile_key
        _, first = np.unique(pair, return_index=True)
        is_first = np.zeros(nf, bool)
        is_first[first] = True
        tile_words = ext[rd[0]] * ext[rd[1]]
        if op == "ofmap" and df != 1:
            # partial sums: refill on the first use in a residency period unless it is the tile's first
            # reduction step; spill at the last use in a period unless it is the tile's last step
            _, last_rev = np.unique(pair[::-1], return_index=True)
            is_last = np.zeros(nf, bool)
            is_last[nf - 1 - last_rev] = True
            red = idx[0]                                   # the reduction loop is r for ws/is
            refill = is_first & (red > 0)
            spill_out = is_last & (red < trips[0] - 1)
            load += np.where(refill, tile_words * ab, 0)
            final = (red == trips[0] - 1) & (not fuse_out)
            store += np.where(spill_out, tile_words * ab, 0) + np.where(final, tile_words * wb, 0)
            spill += float(np.where(refill, tile_words * ab, 0).sum() + np.where(spill_out, tile_words * ab, 0).sum())
            dram[op] = int(np.where(final, tile_words, 0).sum())
        elif op == "ofmap":
            last_s = (idx[2] == trips[2] - 1) & (not fuse_out)   # os: the output leaves after its last K piece
            store += np.where(last_s, tile_words * wb, 0)
            dram[op] = int(np.where(last_s, tile_words, 0).sum())
        else:
            is_first &= not (fuse_in and op == "ifmap")
            load += np.where(is_first, tile_words * wb, 0)
            dram[op] = int(np.where(is_first, tile_words, 0).sum())
    # array cycles: runs of pieces sharing the stationary tile (same r, c) stream back to back; the run's
    # last piece waits for the next tile's R-cycle shift-in (max(run stream, R) per run)
    same_next = np.zeros(nf, bool)
    same_next[:-1] = (idx[0][1:] == idx[0][:-1]) & (idx[1][1:] == idx[1][:-1])
    s_len = ext[2].astype(np.int64)
    starts = np.ones(nf, bool)
    starts[1:] = ~same_next[:-1]
    run_id = np.cumsum(starts) - 1
    before = s_len.cumsum() - s_len
    run_before = before - before[starts][run_id]       # streamed vectors of the run before this piece
    compute = np.where(same_next, s_len, np.maximum(s_len, R - run_before))
    compute = np.tile(compute, count)
    compute[-1] = s_len[-1]          # the last piece waits for no next tile
    return {"compute": compute, "load_bytes": np.tile(load, count), "store_bytes": np.tile(store, count),
            "dram": {kk: count * v for kk, v in dram.items()}, "spill_bytes": count * spill}


def pe_schedule(m: int, k: int, n: int, R: int, C: int, df: int, mp: GemmMapping):
    """The fold schedule of a searched ws/is mapping for the PE-grid model
    (``hwsim.backends.systolic_pe.simulate_gemm(schedule=...)``): consecutive pieces that keep the
    stationary tile are one fold streaming their rows back to back. Returns (r0, c0, s0, sl) arrays."""
    if df == 1:
        raise ValueError("pe_schedule covers ws and is (os keeps its fold order; the K tiles stream back to back)")
    Sr, Sc, Ss = _gemm_dims_py(m, k, n, df)
    tiles = (R, C, mp.stream_tile)
    sizes = (Sr, Sc, Ss)
    trips = [-(-sizes[d] // tiles[d]) for d in range(3)]
    grids = np.meshgrid(*[np.arange(trips[d]) for d in mp.order], indexing="ij")
    idx = [None, None, None]
    for p, d in enumerate(mp.order):
        idx[d] = grids[p].reshape(-1)
    s_start = idx[2] * tiles[2]
    s_len = np.minimum(tiles[2], Ss - s_start)
    new = np.ones(len(s_start), bool)
    new[1:] = (idx[0][1:] != idx[0][:-1]) | (idx[1][1:] != idx[1][:-1])
    run = np.cumsum(new) - 1
    return idx[0][new] * R, idx[1][new] * C, s_start[new], np.bincount(run, s_len)


@lru_cache(maxsize=4096)
def choose(m: int, k: int, n: int, count: int, R: int, C: int, dataflow: str, ifk: float, fk: float, ofk: float,
           wb: float, ab: float, bw: float, objective: str, mac_pj: float, sram_pj: float, dram_pj: float,
           leak_pj: float, fuse_in: int = 0, fuse_out: int = 0) -> tuple[GemmMapping, dict]:
    """The search for one GEMM on one config (memoised): (mapping, closed-form cost dict)."""
    out = np.empty(N_OUT)
    choice = np.empty(6, dtype=np.int64)
    df = {"ws": 0, "os": 1, "is": 2}[dataflow]
    search(m, k, n, count, R, C, df, ifk, fk, ofk, wb, ab, bw, OBJECTIVE_CODE[objective], mac_pj, sram_pj, dram_pj,
           leak_pj, out, choice, int(fuse_in), int(fuse_out))
    c = choice.tolist()
    mp = GemmMapping(dataflow, fixed=c[0] == 0) if c[0] == 0 else \
        GemmMapping(dataflow, False, tuple(int(d) for d in ORDERS[c[1]]), (c[2], c[3], c[4]), c[5], c[0])
    return mp, dict(zip(_COST_FIELDS, out.tolist()))


# --------------------------------------------------------------------------------------------------
# Fusion: which GEMM outputs stay on chip for the next op (hardware field ``fusion``)
# --------------------------------------------------------------------------------------------------
FUSIONS = ("none", "attention", "all")
_PASS_THROUGH = ("softmax", "gelu")   # vector ops between producer and consumer, element by element


def fusion_roles(ops) -> list[tuple]:
    """Per op, per fusion mode (none, attention, all): ``(in_words, in_from_gemm, out_words)``.
    ``in_words`` > 0: the op is a GEMM whose ifmap (``in_words`` per instance) is the output of an earlier
    op in a fusable chain, ``producer -> (softmax | gelu)* -> this GEMM``, with equal element counts:
    ``attention`` fuses Q·K^T -> softmax -> A·V (activation x activation GEMMs); ``all`` also
    LayerNorm -> GEMM and GEMM -> GELU -> GEMM (FC1 -> GELU -> FC2) and any such chain.
    ``in_from_gemm``: the producer is a GEMM (its output must also fit the ofmap SRAM).
    ``out_words`` > 0: the op is that producer GEMM (words per instance). Whether a chain fuses on a
    given config is decided by :func:`fuses` (the tensor must fit half of both SRAMs)."""
    from hwsim.workload.ops import Conv2d, LayerNorm, MatMul
    roles = [[(0, False, 0)] * 3 for _ in ops]
    for j, op in enumerate(ops):
        if not isinstance(op, MatMul) or isinstance(op, Conv2d):
            continue
        need = op.m * op.k * op.count
        i = j - 1
        passed = []
        while i >= 0 and ops[i].kind in _PASS_THROUGH and ops[i].elements == need:
            passed.append(ops[i].kind)
            i -= 1
        if i < 0:
            continue
        p = ops[i]
        if isinstance(p, MatMul) and not isinstance(p, Conv2d) and p.m * p.n * p.count == need and p.count == op.count:
            words = op.m * op.k
            attention = (not p.static_weights) and (not op.static_weights) and "softmax" in passed
            for mode in ((1, 2) if attention else (2,)):
                roles[j][mode] = (words, True, roles[j][mode][2])
                roles[i][mode] = (roles[i][mode][0], roles[i][mode][1], words)
        elif isinstance(p, LayerNorm) and p.elements == need and not passed:
            roles[j][2] = (op.m * op.k, False, roles[j][2][2])
    return [tuple(r) for r in roles]


@njit(cache=True)
def fuses(words, from_gemm, wb, ifk, ofk):
    """A fused tensor of ``words`` stays on chip iff it fits half the consumer's ifmap SRAM and, when a
    GEMM produced it, half the producer's ofmap SRAM (the other halves keep double-buffering)."""
    if words <= 0:
        return False
    b = words * wb
    return b <= ifk * 1024 / 2 and (not from_gemm or b <= ofk * 1024 / 2)
