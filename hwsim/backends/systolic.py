"""Systolic-array backend: an R x C PE array (ws/os/is), double-buffered SRAMs, DRAM, a vector unit.

Mapping of a GEMM (M x K) @ (K x N) per dataflow, as in SCALE-Sim (Samajdar et al., ISPASS 2020):

    dataflow  array rows (Sr)  array cols (Sc)  streamed per fold (T)  stationary in the PEs
    ws        K                N                M                      filter tile
    os        M                N                K                      output tile
    is        K                M                N                      ifmap tile

The array runs ceil(Sr/R) * ceil(Sc/C) folds per GEMM instance. Default timing (a realistic
double-buffered array, not SCALE-Sim's): each fold streams T vectors, and the next fold's stationary
data is shifted in (R cycles) behind the current one, so a fold takes max(T, R) cycles (the last
fold T: nothing follows it); once per op
the pipeline pays R cycles to preload the first fold plus R + C - 2 cycles of skew/drain for the last
results to leave the array. SRAMs are double-buffered: the DRAM load of fold f+1 overlaps fold f, and
the array stalls when it is not done. ``scalesim_compatible`` instead reproduces SCALE-Sim 3.0's
compute cycles and access counts (``hwsim.backends.scalesim_model``), with DRAM never stalling
(its CALC bandwidth mode).

Data placement (documented assumptions): GEMM operands come from DRAM and results go back to DRAM
(a layer-by-layer schedule, as SCALE-Sim assumes); an operand that fits in half its SRAM (the other
half is the double buffer) is fetched once and reused across folds, otherwise re-fetched per fold;
ws/is partial sums stay in the ofmap SRAM unless a tile exceeds half of it, then they spill to DRAM.
Nonlinear and element-wise ops run on the vector unit on on-chip data (no DRAM traffic).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

from hwsim import energy, nonlinear
from hwsim.backends.base import BackendBase, OpCost
from hwsim.engine import TaskBlock, single_task_block
from hwsim.hardware.systolic import SystolicConfig
from hwsim.lazy import numpy
from hwsim.workload.ops import GELU, Conv2d, Eltwise, LayerNorm, MatMul, Op, Softmax

np = numpy()

# Passes a vector unit makes over the data for ops without a characterised RTL unit (each pass:
# one element per lane per cycle). Softmax and GELU are costed from their RTL units (hwsim.nonlinear).
VECTOR_PASSES = {
    "layernorm": 2,   # sum and sum of squares (one pass); normalise
    "eltwise": 1,
}
DATAFLOW_CODE = {"ws": 0, "os": 1, "is": 2}


def _cdiv(a, b):
    return -(-a // b)


def pipeline_overhead_cycles(rows, cols):
    """Per op: preload the first fold's stationary data (R) + skew and drain of the last fold (R + C - 2)."""
    return 2 * rows + cols - 2


def array_dims(dataflow: str, m: int, k: int, n: int) -> tuple[int, int, int]:
    """(Sr, Sc, T): GEMM dims on the array rows, array columns, and streamed per fold."""
    return {"ws": (k, n, m), "os": (m, n, k), "is": (k, m, n)}[dataflow]


# --------------------------------------------------------------------------------------------------
# Per-fold plans (cycle mode): one function per dataflow family.
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FoldPlan:
    """Per-fold arrays in execution order. Counts in words except the *_bytes fields."""
    compute: np.ndarray          # array cycles per fold
    load_bytes: np.ndarray       # DRAM -> SRAM before the fold
    store_bytes: np.ndarray      # SRAM -> DRAM after the fold
    sram_reads: dict             # operand -> words (totals)
    sram_writes: dict
    dram_reads: dict             # operand -> words (totals)
    dram_writes: dict
    spill_bytes: int             # partial-sum bytes moved to/from DRAM (included above)


def _plan_reduction_stationary(sr, sc, t, count, hw: SystolicConfig, stream_sram_kib, stat, stream, reduced=False):
    """ws and is: a K-tile x (N or M)-tile of ``stat`` sits in the PEs, T vectors of ``stream`` flow
    through, partial sums of the T x c output tile accumulate over the K tiles (inner loop). Returns the
    loop grid (``systolic_folds.loop_grid``: every fold of one instance, or the reduced grid), per grid fold
    (compute, load bytes, store bytes, streamed vectors) and the FoldPlan counts of all ``count`` instances."""
    from hwsim.backends.systolic_folds import loop_grid
    R, C, wb, ab = hw.rows, hw.cols, hw.word_bytes, hw.acc_bits / 8
    fr, fc = _cdiv(sr, R), _cdiv(sc, C)
    g = loop_grid((1, 0, 2), (fr, fc, 1), reduced)          # order: for j (cols) for i (rows)
    i, j, w = g.idx[0], g.idx[1], g.weight
    r, c = np.minimum(R, sr - R * i), np.minimum(C, sc - C * j)
    stream_resident = t * sr * wb <= stream_sram_kib * 1024 / 2
    spill = t * c * ab > hw.ofmap_sram_kib * 1024 / 2
    ld_stat = r * c
    ld_stream = np.where((j == 0) | (not stream_resident), t * r, 0)
    psum_in = np.where(spill & (i > 0), t * c * ab, 0)
    psum_out = np.where(spill & (i < fr - 1), t * c * ab, 0)
    out = np.where(i == fr - 1, t * c, 0)
    folds = (np.full(len(r), max(t, R), dtype=np.int64), (ld_stat + ld_stream) * wb + psum_in, out * wb + psum_out,
             np.full(len(r), t, dtype=np.int64))
    counts = dict(
        sram_reads={stat: count * sr * sc, stream: count * t * sr * fc, "ofmap": count * t * sc * (fr - 1)},
        sram_writes={"ofmap": count * t * sc * fr},
        dram_reads={stat: count * sr * sc, stream: count * int((ld_stream * w).sum())},
        dram_writes={"ofmap": count * t * sc},
        spill_bytes=int(count * ((psum_in * w).sum() + (psum_out * w).sum())),
    )
    return g, folds, counts


def _plan_output_stationary(m, k, n, count, hw: SystolicConfig, reduced=False):
    """os: an M-tile x N-tile of outputs sits in the PEs; K pairs of ifmap/filter vectors stream in.
    Loop order: for m-tile (i) for n-tile (j): the ifmap slab is reused across j if it fits. Returns what
    :func:`_plan_reduction_stationary` returns."""
    from hwsim.backends.systolic_folds import loop_grid
    R, C, wb = hw.rows, hw.cols, hw.word_bytes
    fr, fc = _cdiv(m, R), _cdiv(n, C)
    g = loop_grid((0, 1, 2), (fr, fc, 1), reduced)
    i, j, w = g.idx[0], g.idx[1], g.weight
    r, c = np.minimum(R, m - R * i), np.minimum(C, n - C * j)
    slab_resident = r * k * wb <= hw.ifmap_sram_kib * 1024 / 2
    filter_resident = k * n * wb <= hw.filter_sram_kib * 1024 / 2
    ld_if = np.where((j == 0) | ~slab_resident, r * k, 0)
    ld_f = np.where((i == 0) | (not filter_resident), k * c, 0)
    folds = (np.full(len(r), max(k, R), dtype=np.int64), (ld_if + ld_f) * wb, r * c * wb, np.full(len(r), k, dtype=np.int64))
    counts = dict(
        sram_reads={"ifmap": count * m * k * fc, "filter": count * k * n * fr, "ofmap": 0},
        sram_writes={"ofmap": count * m * n},
        dram_reads={"ifmap": count * int((ld_if * w).sum()), "filter": count * int((ld_f * w).sum())},
        dram_writes={"ofmap": count * m * n},
        spill_bytes=0,
    )
    return g, folds, counts


def _fixed_plan(gemm: MatMul, hw: SystolicConfig, reduced: bool = False):
    m, k, n, count = gemm.m, gemm.k, gemm.n, gemm.count
    if hw.dataflow == "ws":
        return _plan_reduction_stationary(k, n, m, count, hw, hw.ifmap_sram_kib, "filter", "ifmap", reduced)
    if hw.dataflow == "is":
        return _plan_reduction_stationary(k, m, n, count, hw, hw.filter_sram_kib, "ifmap", "filter", reduced)
    return _plan_output_stationary(m, k, n, count, hw, reduced)


def fold_plan(gemm: MatMul, hw: SystolicConfig) -> FoldPlan:
    """Every fold of the fixed placement, ``count`` instances in execution order (memory grows with the
    folds: the reference for tests; cycle mode runs the same folds as runs, ``systolic_folds``)."""
    from hwsim.backends.systolic_folds import tile_instances
    _, folds, counts = _fixed_plan(gemm, hw)
    compute, load, store = tile_instances(gemm.count, *folds)
    return FoldPlan(compute=compute, load_bytes=load, store_bytes=store, **counts)


# --------------------------------------------------------------------------------------------------
# Closed form (analytic mode), vectorised: every argument may be a numpy array (ops x design points).
# --------------------------------------------------------------------------------------------------
def _tile_sum(size, tile, pred):
    """Sum over tiles of ``size`` split by ``tile`` of ``pred(tile_size) * tile_size`` (full + last)."""
    full, rem = size // tile, size % tile
    return full * np.where(pred(tile), tile, 0) + np.where(rem > 0, np.where(pred(rem), rem, 0), 0)


def _last_tile(size, tile):
    rem = size % tile
    return np.where(rem == 0, tile, rem)


def gemm_closed_form(m, k, n, count, rows, cols, dataflow_code, ifmap_kib, filter_kib, ofmap_kib,
                     word_bytes, acc_bytes, dram_bytes_per_cycle):
    """Closed form of the fold-plan model. Returns a dict of arrays: ``compute`` (array cycles incl.
    pipeline overhead), ``load0``/``store_last``/``dram_total`` (DRAM cycles of the first load, last
    store, all transfers if each fold's transfer were one burst), ``cycles``, ``dram_bytes``,
    per-operand SRAM and DRAM words (``sram_reads_ifmap``, ..., ``dram_writes_ofmap``), ``spill_bytes``."""
    m, k, n, count = (np.asarray(a, dtype=np.int64) for a in (m, k, n, count))
    R, C = np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)
    df = np.asarray(dataflow_code)
    wb, ab, bw = word_bytes, acc_bytes, dram_bytes_per_cycle
    is_ws, is_os = df == 0, df == 1
    # --- ws / is (reduction over array rows) ---
    sr = k
    sc = np.where(is_ws, n, m)
    t = np.where(is_ws, m, n)
    stream_kib = np.where(is_ws, ifmap_kib, filter_kib)
    fr, fc = _cdiv(sr, R), _cdiv(sc, C)
    stream_res = t * sr * wb <= stream_kib * 1024 / 2
    ld_stream = t * sr * np.where(stream_res, 1, fc)
    half_of = ofmap_kib * 1024 / 2
    spill_cols = _tile_sum(sc, C, lambda c: t * c * ab > half_of)
    spill_b = spill_cols * t * ab * 2 * (fr - 1)
    r0, c0 = np.minimum(R, sr), np.minimum(C, sc)
    red = dict(
        compute=fr * fc * np.maximum(t, R),
        load_words=sr * sc + ld_stream, store_words=t * sc, spill=spill_b,
        load0=(r0 * c0 + t * r0) * wb,
        store_last=t * _last_tile(sc, C) * wb,
        sram_reads_ifmap=np.where(is_ws, t * sr * fc, sr * sc), sram_reads_filter=np.where(is_ws, sr * sc, t * sr * fc),
        sram_reads_ofmap=t * sc * (fr - 1), sram_writes_ofmap=t * sc * fr,
        dram_reads_ifmap=np.where(is_ws, ld_stream, sr * sc), dram_reads_filter=np.where(is_ws, sr * sc, ld_stream),
    )
    # --- os ---
    fr_o, fc_o = _cdiv(m, R), _cdiv(n, C)
    ld_if = _tile_sum(m, R, lambda r: r * k * wb <= ifmap_kib * 1024 / 2) * k
    ld_if = ld_if + (m * k - ld_if) * fc_o   # non-resident slabs are re-fetched for every n-tile
    ld_f = k * n * np.where(k * n * wb <= filter_kib * 1024 / 2, 1, fr_o)
    osd = dict(
        compute=fr_o * fc_o * np.maximum(k, R),
        load_words=ld_if + ld_f, store_words=m * n, spill=0 * m,
        load0=(np.minimum(R, m) * k + k * np.minimum(C, n)) * wb,
        store_last=_last_tile(m, R) * _last_tile(n, C) * wb,
        sram_reads_ifmap=m * k * fc_o, sram_reads_filter=k * n * fr_o, sram_reads_ofmap=0 * m, sram_writes_ofmap=m * n,
        dram_reads_ifmap=ld_if, dram_reads_filter=ld_f,
    )
    pick = {key: np.where(is_os, osd[key], red[key]) for key in red}
    # every fold lasts max(T, R) (the next fold's stationary data shifts in behind it) but the last
    stream = np.where(is_os, k, t)
    compute = count * pick["compute"] - np.maximum(0, R - stream) + pipeline_overhead_cycles(R, C)
    dram_bytes = count * ((pick["load_words"] + pick["store_words"]) * wb + pick["spill"])
    store_last = np.ceil(pick["store_last"] / bw).astype(np.int64)
    load0 = np.ceil(pick["load0"] / bw).astype(np.int64)
    dram_cycles = np.ceil(dram_bytes / bw).astype(np.int64)
    middle = np.maximum(compute, dram_cycles - load0 - store_last)
    out = dict(compute=compute, load0=load0, store_last=store_last, dram_cycles=dram_cycles,
               cycles=load0 + middle + store_last, stalled=dram_cycles - load0 - store_last > compute,
               dram_bytes=dram_bytes, spill_bytes=count * pick["spill"], dram_writes_ofmap=count * pick["store_words"])
    for key in ("sram_reads_ifmap", "sram_reads_filter", "sram_reads_ofmap", "sram_writes_ofmap",
                "dram_reads_ifmap", "dram_reads_filter"):
        out[key] = count * pick[key]
    return out


# --------------------------------------------------------------------------------------------------
# Energy and area
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EnergyModel:
    mac_pj: float
    sram_pj_per_byte: float
    dram_pj_per_byte: float
    vector_pj_per_element_pass: float
    leakage_pj_per_cycle: float

    @classmethod
    def of(cls, hw: SystolicConfig) -> "EnergyModel":
        return _energy_model(cls, hw)

    @classmethod
    def _of(cls, hw: SystolicConfig) -> "EnergyModel":
        mac = hw.mac_pj if hw.mac_pj is not None else energy.mac_pj(hw.word_bits, hw.acc_bits, hw.tech_nm)
        kib = (hw.ifmap_sram_kib + hw.filter_sram_kib + hw.ofmap_sram_kib) / 3
        sram = hw.sram_pj_per_byte if hw.sram_pj_per_byte is not None else energy.sram_pj_per_byte(kib, hw.tech_nm)
        dram = hw.dram_pj_per_byte if hw.dram_pj_per_byte is not None else energy.dram_pj_per_byte(hw.tech_nm)
        leak = hw.leakage_pj_per_cycle if hw.leakage_pj_per_cycle is not None else \
            energy.leakage_fraction() * energy.mac_pj(hw.word_bits, hw.acc_bits, hw.tech_nm) * hw.pes
        return cls(mac, sram, dram, energy.alu_pj(32, hw.tech_nm), leak)


@lru_cache(maxsize=64)
def _energy_model(cls, hw: SystolicConfig) -> EnergyModel:
    """``EnergyModel.of``, memoised per config (every op of a model asks for it)."""
    return cls._of(hw)


class _LowerKey:
    """Cache key of a lowered GEMM: shape, count, MACs, config and fusion flags (not the op's name)."""
    __slots__ = ("key", "gemm", "op")

    def __init__(self, gemm, op, hw, fuse):
        self.key, self.gemm, self.op = (gemm.m, gemm.k, gemm.n, gemm.count, op.macs, fuse, hw), gemm, op

    def __hash__(self):
        return hash(self.key)

    def __eq__(self, other):
        return self.key == other.key


@lru_cache(maxsize=256)
def _lowered_cached(backend, key: _LowerKey):
    return backend._gemm_lower_uncached(key.gemm, key.op, key.key[-1], key.key[-2])


class SystolicBackend(BackendBase):
    """Counters (units in ``counter_units``): per-operand SRAM and DRAM accesses in words,
    ``sram_reads``/``sram_writes``/``dram_reads``/``dram_writes`` = {ifmap, filter, ofmap: words}."""
    kind = "systolic"
    config = SystolicConfig
    op_types = (MatMul, Conv2d, Softmax, GELU, LayerNorm, Eltwise)
    has_clock = True
    has_energy = True
    memory_levels = ("dram", "sram")
    size_units = ("area_mm2",)
    counter_units = {"sram_reads": "words", "sram_writes": "words", "dram_reads": "words", "dram_writes": "words"}
    static_component = "leakage"

    # ---- GEMMs -----------------------------------------------------------------------------------
    def _gemm_cost(self, op: Op, hw: SystolicConfig, plan_or_counts, cycles: int, compute: int,
                   dram_cycles: int, ideal: int, stalled: bool) -> OpCost:
        em = EnergyModel.of(hw)
        wb = hw.word_bytes
        sram_reads, sram_writes, dram_reads, dram_writes, spill = plan_or_counts
        dram_words = sum(dram_reads.values()) + sum(dram_writes.values())
        dram_bytes = int(round(dram_words * wb + spill))
        # SRAM energy: array-side reads/writes plus the DRAM fills/drains passing through the SRAMs.
        sram_bytes = (sum(sram_reads.values()) + sum(sram_writes.values())) * wb + dram_bytes
        e = {"mac": op.macs * em.mac_pj, "sram": sram_bytes * em.sram_pj_per_byte, "dram": dram_bytes * em.dram_pj_per_byte}
        words = lambda d: {k: int(v) for k, v in d.items()}
        return OpCost(ticks=cycles, ideal_ticks=ideal, unit="array", macs=op.macs,
                      busy_ticks={"array": compute, "dram": dram_cycles},
                      bytes_by_level={"dram": dram_bytes, "sram": sram_bytes}, energy_pj=e,
                      bound="memory" if stalled else "array",
                      utilization=op.macs / (hw.pes * compute) if compute else 0.0,
                      counters={"sram_reads": words(sram_reads), "sram_writes": words(sram_writes),
                                "dram_reads": words(dram_reads), "dram_writes": words(dram_writes)})

    def _scalesim_cost(self, gemm: MatMul, op: Op, hw: SystolicConfig) -> OpCost:
        """``scalesim_compatible``: SCALE-Sim 3.0's counts (hwsim.backends.scalesim_model). The op lasts the
        cycles the array works, ``elapsed_cycles`` = "Total Cycles" + 1 per instance (SCALE-Sim's figure is the
        zero-based index of the last write: 0 for 1x1x1 on a 1x1 os array), so latency, energy and utilisation
        stay honest; SCALE-Sim's own figure is kept in ``details["scalesim_total_cycles"]``."""
        from hwsim.backends.scalesim_model import scalesim_gemm
        s = scalesim_gemm(gemm.m, gemm.n, gemm.k, hw.rows, hw.cols, hw.dataflow, hw.ifmap_sram_kib,
                          hw.filter_sram_kib, hw.ofmap_sram_kib, max(1, hw.word_bits // 8))
        cnt = gemm.count
        counts = ({"ifmap": cnt * s.sram_reads_ifmap, "filter": cnt * s.sram_reads_filter}, {"ofmap": cnt * s.sram_writes_ofmap},
                  {"ifmap": cnt * s.dram_reads_ifmap, "filter": cnt * s.dram_reads_filter}, {"ofmap": cnt * s.dram_writes_ofmap}, 0)
        cycles = cnt * s.elapsed_cycles
        cost = self._gemm_cost(op, hw, counts, cycles, cycles, 0, cycles, False)
        return replace(cost, details={"scalesim_total_cycles": cnt * s.cycles})

    def mapping(self, gemm: MatMul, hw: SystolicConfig, fuse: tuple[int, int] = (0, 0)):
        """The searched mapping of one GEMM (``hwsim.backends.systolic_mapping.choose``, memoised):
        (GemmMapping, its closed-form cost dict). ``fuse``: (input on chip, output kept on chip)."""
        from hwsim.backends.systolic_mapping import choose
        em = EnergyModel.of(hw)
        return choose(gemm.m, gemm.k, gemm.n, gemm.count, hw.rows, hw.cols, hw.dataflow, float(hw.ifmap_sram_kib),
                      float(hw.filter_sram_kib), float(hw.ofmap_sram_kib), hw.word_bytes, hw.acc_bits / 8,
                      float(hw.dram_bytes_per_cycle), hw.mapping_objective, em.mac_pj, em.sram_pj_per_byte,
                      em.dram_pj_per_byte, em.leakage_pj_per_cycle, *fuse)

    @staticmethod
    def fusion_flags(ops, hw: SystolicConfig) -> list[tuple[int, int]]:
        """Per op: (its ifmap is on chip, its output stays on chip) under ``hw.fusion``
        (``systolic_mapping.fusion_roles`` and ``fuses``); (0, 0) for ``none`` and SCALE-Sim mode."""
        if hw.fusion == "none" or hw.scalesim_compatible:
            return [(0, 0)] * len(ops)
        from hwsim.backends.systolic_mapping import FUSIONS, fusion_roles, fuses
        mode = FUSIONS.index(hw.fusion)
        out = []
        for r in fusion_roles(ops):
            w_in, from_gemm, w_out = r[mode]
            out.append((int(fuses(w_in, from_gemm, hw.word_bytes, float(hw.ifmap_sram_kib), float(hw.ofmap_sram_kib))),
                        int(fuses(w_out, True, hw.word_bytes, float(hw.ifmap_sram_kib), float(hw.ofmap_sram_kib)))))
        return out

    @staticmethod
    def _cf_counts(cf) -> tuple:
        """(sram_reads, sram_writes, dram_reads, dram_writes, spill_bytes) of a closed-form cost dict."""
        i = lambda x: int(round(x))
        return ({"ifmap": i(cf["sram_reads_ifmap"]), "filter": i(cf["sram_reads_filter"]), "ofmap": i(cf["sram_reads_ofmap"])},
                {"ofmap": i(cf["sram_writes_ofmap"])},
                {"ifmap": i(cf["dram_reads_ifmap"]), "filter": i(cf["dram_reads_filter"])},
                {"ofmap": i(cf["dram_writes_ofmap"])}, cf["spill_bytes"])

    def _details(self, gemm: MatMul, hw: SystolicConfig, mp, fuse=(0, 0)) -> dict:
        d = mp.to_dict(gemm.m, gemm.k, gemm.n, hw.rows, hw.cols, hw.mapping_objective)
        d["fused"] = {"ifmap_on_chip": bool(fuse[0]), "ofmap_kept_on_chip": bool(fuse[1])}
        return {"mapping": d}

    def _gemm_lower(self, gemm: MatMul, op: Op, hw: SystolicConfig, fuse=(0, 0)) -> tuple[TaskBlock, OpCost]:
        """Memoised per (GEMM shape, MACs, config, fusion): a ViT repeats each block's GEMMs ``depth`` times."""
        return _lowered_cached(self, _LowerKey(gemm, op, hw, tuple(fuse)))

    def _gemm_lower_uncached(self, gemm: MatMul, op: Op, hw: SystolicConfig, fuse=(0, 0)) -> tuple[TaskBlock, OpCost]:
        bw = hw.dram_bytes_per_cycle
        if hw.scalesim_compatible:
            cost = self._scalesim_cost(gemm, op, hw)
            return single_task_block("array", cost.ticks), replace(cost, ticks=0)
        from hwsim.backends.systolic_folds import gemm_run_block
        mp, cf = self.mapping(gemm, hw, fuse)
        if mp.fixed:
            grid, folds, c = _fixed_plan(gemm, hw, reduced=True)
            counts = (c["sram_reads"], c["sram_writes"], c["dram_reads"], c["dram_writes"], c["spill_bytes"])
        else:
            from hwsim.backends.systolic_mapping import mapping_pieces
            grid, folds, dram, spill = mapping_pieces(gemm.m, gemm.k, gemm.n, gemm.count, hw.rows, hw.cols,
                                                      DATAFLOW_CODE[hw.dataflow], hw.word_bytes, hw.acc_bits / 8, mp,
                                                      bool(fuse[0]), bool(fuse[1]), reduced=True)
            sr, sw, _, _, _ = self._cf_counts(cf)
            counts = (sr, sw, {"ifmap": dram["ifmap"], "filter": dram["filter"]}, {"ofmap": dram["ofmap"]}, spill)
        # every fold: the next fold's load overlaps it (double buffering), its store follows it; runs of
        # identical folds stay runs (systolic_folds), so memory and time do not grow with the GEMM
        leaves = list(zip(*(a.tolist() for a in folds)))
        block, compute, dram_cycles, ideal = gemm_run_block(leaves, grid, gemm.count, hw.rows, hw.cols, bw)
        cost = self._gemm_cost(op, hw, counts, 0, compute, dram_cycles, ideal, False)
        return block, replace(cost, details=self._details(gemm, hw, mp, fuse))

    def _gemm_analytic_many(self, gemms: list[tuple[MatMul, Op]], hw: SystolicConfig, fuses=None) -> list[OpCost]:
        """Closed form of each GEMM's searched mapping (memoised per distinct GEMM shape)."""
        if hw.scalesim_compatible:
            return [self._scalesim_cost(gemm, op, hw) for gemm, op in gemms]
        out = []
        for j, (gemm, op) in enumerate(gemms):
            fuse = fuses[j] if fuses is not None else (0, 0)
            mp, cf = self.mapping(gemm, hw, fuse)
            i = lambda x: int(round(x))
            ideal = i(cf["load0"] + cf["compute"] + cf["store_last"])
            cost = self._gemm_cost(op, hw, self._cf_counts(cf), i(cf["cycles"]), i(cf["compute"]), i(cf["dram_cycles"]),
                                   ideal, bool(cf["stalled"]))
            out.append(replace(cost, details=self._details(gemm, hw, mp, fuse)))
        return out

    # ---- vector ops ------------------------------------------------------------------------------
    def _vector_cost(self, op: Op, hw: SystolicConfig) -> OpCost:
        """Softmax and GELU run on instances of the characterised RTL unit chosen by
        ``softmax_unit`` / ``gelu_unit`` (hwsim.nonlinear: cycles from the unit's cycle model; each
        element is read from and written to SRAM once, the unit holds the row). LayerNorm and
        element-wise ops make ``VECTOR_PASSES`` passes over SRAM data, one element per lane per cycle."""
        em = EnergyModel.of(hw)
        if isinstance(op, (Softmax, GELU)):
            unit = nonlinear.unit_model(op.kind, hw.softmax_unit if isinstance(op, Softmax) else hw.gelu_unit)
            if isinstance(op, Softmax):
                cycles = int(nonlinear.softmax_cycles(unit, op.rows * op.count, op.length, hw.vector_lanes))
            else:
                cycles = int(nonlinear.gelu_cycles(unit, op.elements, hw.vector_lanes))
            passes, sram_passes = unit.passes, 1
            busy = op.elements / (int(nonlinear.instances(unit, hw.vector_lanes)) * unit.lanes)
        else:
            passes = sram_passes = VECTOR_PASSES["layernorm" if isinstance(op, LayerNorm) else "eltwise"]
            cycles = passes * _cdiv(op.elements, hw.vector_lanes)
            busy = op.elements * passes / hw.vector_lanes
        # one ALU operation per element and pass
        sram_bytes = 2 * op.elements * sram_passes * hw.word_bytes
        e = {"vector": op.elements * passes * em.vector_pj_per_element_pass, "sram": sram_bytes * em.sram_pj_per_byte}
        return OpCost(ticks=cycles, ideal_ticks=cycles, unit="vector", busy_ticks={"vector": cycles},
                      bytes_by_level={"sram": sram_bytes}, energy_pj=e, bound="vector",
                      utilization=busy / cycles if cycles else 0.0,
                      counters={"sram_reads": {}, "sram_writes": {}, "dram_reads": {}, "dram_writes": {}})

    # ---- the Backend interface -------------------------------------------------------------------
    def tick_s(self, hw: SystolicConfig) -> float:
        """One tick is one array clock cycle: ``1 / clock_hz``, or with an ``fpga_target``
        ``1 / min(clock_hz, Fmax)`` (hwsim.backends.systolic_fpga)."""
        from hwsim.backends.systolic_fpga import clock_hz_used
        return 1.0 / clock_hz_used(hw)

    def lower(self, op: Op, hw: SystolicConfig) -> tuple[TaskBlock, OpCost]:
        if isinstance(op, (MatMul, Conv2d)):
            return self._gemm_lower(op.gemm(), op, hw)
        cost = self._vector_cost(op, hw)
        return single_task_block("vector", cost.ticks, label=op.kind), cost

    def lower_many(self, ops, hw: SystolicConfig) -> list[tuple[TaskBlock, OpCost]]:
        """``lower`` for a whole op sequence, with ``fusion`` (which needs the neighbours of each op)."""
        flags = self.fusion_flags(ops, hw)
        out = []
        for op, fuse in zip(ops, flags):
            if isinstance(op, (MatMul, Conv2d)):
                out.append(self._gemm_lower(op.gemm(), op, hw, fuse))
            else:
                out.append(self.lower(op, hw))
        return out

    def analytic_many(self, ops, hw: SystolicConfig) -> list[OpCost]:
        """``analytic`` for a sequence of ops, GEMMs evaluated in one vectorised closed-form call."""
        gemm_idx = [i for i, op in enumerate(ops) if isinstance(op, (MatMul, Conv2d))]
        flags = self.fusion_flags(ops, hw)
        out: list = [None] * len(ops)
        for i, cost in zip(gemm_idx, self._gemm_analytic_many([(ops[i].gemm(), ops[i]) for i in gemm_idx], hw,
                                                               [flags[i] for i in gemm_idx])):
            out[i] = cost
        for i, op in enumerate(ops):
            if out[i] is None:
                out[i] = self._vector_cost(op, hw)
        return out

    def static_power_w(self, hw: SystolicConfig) -> float:
        """Leakage: ``leakage_pj_per_cycle`` (tech table or override) at the clock used, in W."""
        from hwsim.backends.systolic_fpga import clock_hz_used
        return EnergyModel.of(hw).leakage_pj_per_cycle * 1e-12 * clock_hz_used(hw)

    def size(self, hw: SystolicConfig) -> dict[str, float]:
        """``area_mm2``: PEs (TPU v1 PE, scaled) + the three SRAMs (hwsim/data/tech.yaml)."""
        kib = hw.ifmap_sram_kib + hw.filter_sram_kib + hw.ofmap_sram_kib
        return {"area_mm2": hw.pes * energy.pe_area_mm2(hw.word_bits, hw.tech_nm) + energy.sram_area_mm2(kib, hw.tech_nm)}

    def peak_rates(self, hw: SystolicConfig) -> dict[str, float]:
        from hwsim.backends.systolic_fpga import clock_hz_used
        clock = clock_hz_used(hw)
        return {"macs_per_s": hw.pes * clock, "dram_bytes_per_s": hw.dram_bytes_per_cycle * clock}

    # ---- FPGA view (``fpga_target``; hwsim.backends.systolic_fpga) -------------------------------
    def report_sections(self, hw: SystolicConfig) -> dict:
        """Top-level report sections: ``fpga`` with an ``fpga_target`` (else none)."""
        from hwsim.backends.systolic_fpga import fpga_section
        section = fpga_section(hw)
        return {} if section is None else {"fpga": section}

    def section_lines(self, sections: dict) -> list[str]:
        """The table's line for each of the :meth:`report_sections` given."""
        from hwsim.backends.systolic_fpga import summary_line
        return [summary_line(sections["fpga"])] if "fpga" in sections else []

    def sweep_columns(self, base: SystolicConfig, axis_fields=()) -> tuple[str, ...]:
        """Extra sweep result columns: the FPGA figures when the base or an axis sets ``fpga_target``."""
        from hwsim.backends.systolic_fpga import FPGA_COLUMNS
        return FPGA_COLUMNS if base.fpga_target != "none" or "fpga_target" in axis_fields else ()

    def sweep_values(self, hw: SystolicConfig) -> dict[str, float]:
        """The :meth:`sweep_columns` of one config (NaN where it has no value)."""
        from hwsim.backends.systolic_fpga import fpga_columns
        return fpga_columns(hw)

    def point_evaluator(self, workload, base: SystolicConfig):
        """The vectorised analytic model over design points (not for ``scalesim_compatible``)."""
        if base.scalesim_compatible:
            return None
        from hwsim.backends.systolic_points import PointEvaluator
        return PointEvaluator(workload, base)

    def gemm_fields(self, row, hw: SystolicConfig) -> dict:
        """The ``hwsim gemm`` JSON contract: cycles, MACs, utilization = MACs / (PEs x cycles), SRAM
        reads of ifmap and filter, SRAM writes of ofmap, DRAM reads/writes per operand (words), energy,
        latency and bound; plus the ``mapping`` the search chose (not in ``scalesim_compatible`` mode).
        ``hwsim.estimate.gemm_result`` adds the report's sections (the ``fpga`` object with an
        ``fpga_target``). In ``scalesim_compatible`` mode ``cycles`` is SCALE-Sim's "Total Cycles" and
        ``elapsed_cycles`` (one more per instance) the cycles the array works, which latency, energy and
        utilisation use (:meth:`_scalesim_cost`)."""
        c = row.counters
        details = dict(row.details)
        cycles = {"cycles": row.ticks}
        if "scalesim_total_cycles" in details:
            cycles = {"cycles": details.pop("scalesim_total_cycles"), "elapsed_cycles": row.ticks}
        return {**cycles, "macs": row.macs,
                "utilization": row.macs / (hw.pes * row.ticks) if row.ticks else 0.0,
                "sram_reads": {"ifmap": c["sram_reads"]["ifmap"], "filter": c["sram_reads"]["filter"]},
                "sram_writes": {"ofmap": c["sram_writes"]["ofmap"]},
                "dram_reads": {"ifmap": c["dram_reads"]["ifmap"], "filter": c["dram_reads"]["filter"]},
                "dram_writes": {"ofmap": c["dram_writes"]["ofmap"]},
                "energy_pj": row.energy_pj, "latency_s": row.latency_s, "bound": row.bound, **details}


# ------------------------------------------------------------------ cross-checks (hwsim validate)

def random_gemm_cases(n: int, seed: int):
    """``n`` random (MatMul, SystolicConfig) pairs for cross-checks and tests: sizes 1, exact multiples of the
    arrays, one over/under and primes (1..256), arrays 1x1..32x32, every dataflow, SRAMs 0.5..64 KiB and DRAM
    1..1024 B/cycle, so that many cases stall and many do not."""
    rng = np.random.default_rng(seed)
    sizes = [1, 2, 7, 31, 32, 33, 64, 97, 197, 256]
    for _ in range(n):
        yield (MatMul(name="g", m=int(rng.choice(sizes)), k=int(rng.choice(sizes)), n=int(rng.choice(sizes)),
                      count=int(rng.integers(1, 4))),
               SystolicConfig(rows=int(rng.choice([1, 4, 7, 16, 32])), cols=int(rng.choice([1, 4, 13, 16, 32])),
                              dataflow=str(rng.choice(["ws", "os", "is"])),
                              ifmap_sram_kib=float(rng.choice([1, 8, 64])), filter_sram_kib=float(rng.choice([1, 8, 64])),
                              ofmap_sram_kib=float(rng.choice([0.5, 8, 64])),
                              dram_bytes_per_cycle=float(rng.choice([1, 4, 16, 64, 1024]))))


def register_checks() -> None:
    from hwsim.validation import Tally, check

    @check("systolic/analytic-vs-cycle", reference="hwsim's cycle-level engine (event schedule of every fold)",
           compares="analytic cycles of 120 random GEMMs x configs where nothing stalls; DRAM bytes on all")
    def analytic_vs_cycle():
        from hwsim.estimate import estimate
        from hwsim.workload import Workload
        t, stalled = Tally(), 0
        for g, hw in random_gemm_cases(120, seed=1):
            case = f"{g.m}x{g.k}x{g.n} x{g.count} on {hw.describe()}"
            cyc = estimate(Workload("g", (g,)), hw, "cycle").ops[0]
            ana = estimate(Workload("g", (g,)), hw, "analytic").ops[0]
            t.exact(case, ana.dram_bytes, cyc.dram_bytes, "DRAM bytes")
            if cyc.stalled:
                stalled += 1
                t.exact(case, ana.cycles <= cyc.cycles, True, f"analytic {ana.cycles} <= cycle {cyc.cycles} (stalled)")
            else:
                t.exact(case, ana.cycles, cyc.cycles, "cycles")
        return t.outcome(f"exact on {t.cases - stalled} unstalled; a lower bound on {stalled} stalled")

    @check("systolic/sweep-evaluator", reference="hwsim estimate --mode analytic, point by point",
           compares="the vectorised sweep evaluator on 60 random ViT-B/16 configs: cycles, energy, area")
    def sweep_evaluator():
        from hwsim.backends.systolic_points import PointEvaluator
        from hwsim.estimate import estimate
        from hwsim.workload import load_workload
        rng, n = np.random.default_rng(11), 60
        choices = {"rows": [4, 8, 16, 32, 64, 128], "cols": [8, 16, 24, 32, 64, 256], "dataflow": ["ws", "os", "is"],
                   "ifmap_sram_kib": [2, 16, 64, 512], "filter_sram_kib": [4, 64, 1024], "ofmap_sram_kib": [2, 32, 512],
                   "dram_bytes_per_cycle": [1, 8, 32, 128], "word_bits": [4, 8, 16], "vector_lanes": [8, 32, 128],
                   "tech_nm": [7, 28, 45]}
        cols_of = {f: rng.choice(np.array(v), n) for f, v in choices.items()}
        workload, base, t = load_workload("vit-b16"), SystolicConfig(), Tally()
        got = PointEvaluator(workload, base).evaluate({f: np.array(v) for f, v in cols_of.items()})
        for j in range(n):
            point = {f: (str(v[j]) if f == "dataflow" else int(v[j])) for f, v in cols_of.items()}
            r = estimate(workload, replace(base, **point), "analytic")
            case = ", ".join(f"{f}={v}" for f, v in point.items())
            t.exact(case, int(got["cycles"][j]), r.cycles, "cycles")
            t.close(case, float(got["energy_pj"][j]), r.energy_pj, 1e-9, "energy (pJ)")
            t.close(case, float(got["area_mm2"][j]), r.area_mm2, 1e-12, "area (mm^2)")
        return t.outcome()
