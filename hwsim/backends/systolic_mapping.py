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

from hwsim.backends.systolic_mapping_kernels import (N_OUT, ORDERS, RELEVANT, empty, fuses, jitted,  # noqa: F401
                                                   legacy_cost, mapping_cost, search)
from hwsim.lazy import numpy

np = numpy()

LOOP_NAMES = ("r", "c", "s")
OPERANDS = ("ifmap", "filter", "ofmap")
OBJECTIVES = ("latency", "energy", "edp")
OBJECTIVE_CODE = {name: i for i, name in enumerate(OBJECTIVES)}
# GEMM dimension name of each loop, per dataflow code
DIM_NAMES = (("k", "n", "m"), ("m", "n", "k"), ("k", "m", "n"))
_COST_FIELDS = ("cycles", "compute", "load0", "store_last", "dram_cycles", "stalled", "dram_reads_ifmap",
                "dram_reads_filter", "dram_writes_ofmap", "spill_bytes", "sram_reads_ifmap", "sram_reads_filter",
                "sram_reads_ofmap", "sram_writes_ofmap", "dram_bytes", "sram_bytes")


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
                            "holds": [names[d] for d in self.order if rel[a][d] and names[d] in inner]}
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
    (the rule :func:`mapping_cost` counts in closed form). Returns a dict of numpy arrays / ints. Memory
    grows with the pieces: the reference for tests; cycle mode runs the reduced grid of
    :func:`mapping_pieces` as runs (``systolic_folds``)."""
    from hwsim.backends.systolic_folds import tile_instances
    _, pieces, dram, spill = mapping_pieces(m, k, n, count, R, C, df, wb, ab, mp, fuse_in, fuse_out)
    compute, load, store = tile_instances(count, *pieces)
    return {"compute": compute, "load_bytes": load, "store_bytes": store, "dram": dram, "spill_bytes": spill}


def mapping_pieces(m: int, k: int, n: int, count: int, R: int, C: int, df: int, wb: float, ab: float,
                   mp: GemmMapping, fuse_in: bool = False, fuse_out: bool = False, reduced: bool = False):
    """The pieces of one instance on a loop grid (``systolic_folds.loop_grid``: all of them, or the reduced
    grid): (grid, (compute, load bytes, store bytes, streamed vectors) per grid piece, DRAM words per
    operand of all ``count`` instances, spilled partial-sum bytes of all instances)."""
    from hwsim.backends.systolic_folds import loop_grid
    Sr, Sc, Ss = _gemm_dims_py(m, k, n, df)
    sizes = (Sr, Sc, Ss)
    tiles = (R, C, mp.stream_tile)
    order = tuple(int(d) for d in mp.order)
    trips = [-(-sizes[d] // tiles[d]) for d in range(3)]
    g = loop_grid(order, trips, reduced)
    idx, w = g.idx, g.weight
    nf = len(g)
    ext = [np.minimum(tiles[d], sizes[d] - tiles[d] * idx[d]) for d in range(3)]
    rel = RELEVANT[df]
    load = np.zeros(nf)
    store = np.zeros(nf)
    dram = {}
    spill = 0.0
    for a, op in enumerate(OPERANDS):
        lvl = mp.levels[a]
        outside = [d for p, d in enumerate(order) if p < 3 - lvl and rel[a][d]]
        key_out = np.stack([idx[d] for d in outside], axis=1) if outside else np.zeros((nf, 1), np.int64)
        change = np.ones(nf, bool)
        change[1:] = (key_out[1:] != key_out[:-1]).any(axis=1)
        epoch = np.cumsum(change)
        rd = [d for d in range(3) if rel[a][d]]
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
            spill += float((np.where(refill, tile_words * ab, 0) * w).sum() + (np.where(spill_out, tile_words * ab, 0) * w).sum())
            dram[op] = int((np.where(final, tile_words, 0) * w).sum())
        elif op == "ofmap":
            last_s = (idx[2] == trips[2] - 1) & (not fuse_out)   # os: the output leaves after its last K piece
            store += np.where(last_s, tile_words * wb, 0)
            dram[op] = int((np.where(last_s, tile_words, 0) * w).sum())
        else:
            is_first &= not (fuse_in and op == "ifmap")
            load += np.where(is_first, tile_words * wb, 0)
            dram[op] = int((np.where(is_first, tile_words, 0) * w).sum())
    # array cycles: runs of pieces sharing the stationary tile (same r, c) stream back to back; the run's
    # last piece waits for the next tile's R-cycle shift-in (max(run stream, R) per run)
    same_next = np.zeros(nf, bool)
    same_next[:-1] = (idx[0][1:] == idx[0][:-1]) & (idx[1][1:] == idx[1][:-1])
    s_len = ext[2].astype(np.int64)
    starts = np.ones(nf, bool)
    starts[1:] = ~same_next[:-1]
    run_id = np.cumsum(starts) - 1
    streamed = s_len * g.mult[2]                       # a middle s piece stands for mult[2] pieces of the run
    before = streamed.cumsum() - streamed
    run_before = before - before[starts][run_id]       # streamed vectors of the run before this piece
    compute = np.where(same_next, s_len, np.maximum(s_len, R - run_before))
    return g, (compute, load, store, s_len), {kk: count * v for kk, v in dram.items()}, count * spill


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
    out = empty(N_OUT)
    c = [0] * 6          # the choice: candidate, order, levels of ifmap, filter, ofmap, Ts
    df = {"ws": 0, "os": 1, "is": 2}[dataflow]
    search(m, k, n, count, R, C, df, ifk, fk, ofk, wb, ab, bw, OBJECTIVE_CODE[objective], mac_pj, sram_pj, dram_pj,
           leak_pj, out, c, int(fuse_in), int(fuse_out))
    mp = GemmMapping(dataflow, fixed=c[0] == 0) if c[0] == 0 else \
        GemmMapping(dataflow, False, tuple(int(d) for d in ORDERS[c[1]]), (c[2], c[3], c[4]), c[5], c[0])
    return mp, dict(zip(_COST_FIELDS, out))


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




# ------------------------------------------------------------------ cross-check (hwsim validate)

def dram_words(cf: dict, hw) -> dict[str, int]:
    """DRAM words per operand of a GEMM's closed form ``cf`` (``SystolicBackend.mapping``): ``ifmap`` and
    ``filter`` reads, ``ofmap`` writes, and ``psum`` (accumulator words spilled plus refilled, spill bytes /
    accumulator bytes): what the peer mappers count as DRAM accesses."""
    return {"ifmap": round(cf["dram_reads_ifmap"]), "filter": round(cf["dram_reads_filter"]),
            "ofmap": round(cf["dram_writes_ofmap"]), "psum": round(cf["spill_bytes"] / (hw.acc_bits / 8))}


def best_peer(row) -> tuple[int, str]:
    """(fewest DRAM words any peer found on this GEMM under any objective, ``tool/objective``) of one row of
    ``mapping_peers.json``: what hwsim's searched mapping must not exceed."""
    return min((rec["dram_words_total"], f"{tool}/{obj}")
               for tool, objs in row["peers"].items() for obj, rec in objs.items() if "error" not in rec)


def register_checks() -> None:
    from hwsim.validation import Tally, check, reference_data

    @check("systolic/peer-mappers", reference="ZigZag 3.9.1 (LOMA) and Timeloop 3.0.3 mappers, run here "
                                              "(mapping_peers.json)",
           compares="DRAM words of the searched mapping vs the best peer mapping, ViT-B/16's 16 distinct GEMMs "
                    "at batch 1 and 8 on systolic-32x32-ws (hwsim's <= best peer's)")
    def peer_mappers():
        from hwsim.backends.systolic import SystolicBackend
        from hwsim.hardware import load_hardware
        from hwsim.workload.ops import MatMul
        record, t, ratios = reference_data("mapping_peers.json"), Tally(), []
        hw = load_hardware("systolic-32x32-ws")
        for row in record["rows"]:
            gemm = MatMul(name=row["op"], m=row["m"], k=row["k"], n=row["n"], count=row["count"])
            _, cf = SystolicBackend().mapping(gemm, hw)
            ours = sum(dram_words(cf, hw).values())
            best, who = best_peer(row)
            t.exact(f"batch {row['batch']} {row['op']} {row['m']}x{row['k']}x{row['n']}", ours <= best, True,
                    f"hwsim {ours:,} <= best peer {best:,} DRAM words ({who})")
            ratios.append(best / ours)
        return t.outcome(f"never more; best peer moves {min(ratios):.2f}-{max(ratios):.2f}x hwsim's words")
