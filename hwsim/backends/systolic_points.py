"""The analytic systolic model vectorised across design points, for one fixed workload.

``estimate(workload, hw, "analytic")`` evaluates one hardware config; :class:`PointEvaluator` evaluates
arrays of them (one entry per design point) with numpy broadcasting, ops x points:

* GEMMs (MatMul, Conv2d as im2col): the backend's own :func:`~hwsim.backends.systolic.gemm_closed_form`
  on op dims of shape (ops, 1) and hardware parameters of shape (1, points). Identical GEMM shapes
  (ViT blocks repeat ``depth`` times) are evaluated once and weighted by their multiplicity.
* Everything that depends only on the "scalar" hardware fields (energy per MAC / SRAM byte / DRAM byte,
  leakage per PE, PE and SRAM area, and the vector-unit ops) is computed by the scalar backend once per
  distinct combination of those fields among the points (a sweep has few), then gathered per point.
  The vector ops are costed in ONE function, :func:`_vector_ops`, which calls the scalar backend, so a
  change of ``SystolicBackend._vector_cost`` is followed automatically.

The result reproduces ``estimate(..., "analytic")`` exactly: cycles equal as integers, energy equal to
rounding (sums are taken in a different order). ``tests/test_sweep.py`` checks 1,000 random points.
"""
from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Mapping

import numpy as np
from numba import njit

from hwsim import energy
from hwsim.backends.systolic import DATAFLOW_CODE, EnergyModel, SystolicBackend, gemm_closed_form
from hwsim.hardware.systolic import SystolicConfig
from hwsim.workload import Conv2d, MatMul, Workload

# Fields only the array/GEMM timing uses. The per-config scalars (energy tables, area per PE, vector
# unit costs) are assumed NOT to depend on them; every other field (including ones added later) is
# treated as possibly relevant and grouped on. If a vector-unit model starts to use one of these,
# remove it here (the 1,000-point exactness test against ``estimate`` catches the drift).
ARRAY_ONLY_FIELDS = frozenset({"rows", "cols", "dataflow", "dram_bytes_per_cycle", "clock_hz", "name", "source"})
# Fields a sweep may not vary with the vectorised model (SCALE-Sim mode has no closed form over points).
UNSUPPORTED_FIELDS = frozenset({"scalesim_compatible", "name", "source"})

_BACKEND = SystolicBackend()


def _vector_ops(ops: list[tuple[object, int]], hw: SystolicConfig) -> tuple[int, float]:
    """Total (cycles, dynamic energy pJ) of the non-GEMM ops (softmax, gelu, layernorm, eltwise on the
    vector unit) on ``hw``; ``ops`` holds (op, multiplicity) of distinct ops. The only place non-GEMM
    ops are handled: it delegates to the scalar backend. Assumption (checked by the exactness test):
    the SRAM sizes enter vector-op costs only through ``EnergyModel.sram_pj_per_byte``, linearly."""
    cycles, pj = 0, 0.0
    for op, mult in ops:
        cost = _BACKEND._vector_cost(op, hw)
        cycles += mult * int(cost.ticks)
        pj += mult * float(sum(cost.energy_pj.values()))
    return cycles, pj


# Per-config scalars, in two groups computed once per distinct value combination of their fields.
SRAM_FIELDS = ("ifmap_sram_kib", "filter_sram_kib", "ofmap_sram_kib", "sram_pj_per_byte", "tech_nm")


def _sram_scalars(hw: SystolicConfig) -> dict:
    """pJ per SRAM byte and SRAM area (mm^2): depend on SRAM_FIELDS only."""
    kib = hw.ifmap_sram_kib + hw.filter_sram_kib + hw.ofmap_sram_kib
    return {"sram_pj_per_byte": EnergyModel.of(hw).sram_pj_per_byte, "sram_area_mm2": energy.sram_area_mm2(kib, hw.tech_nm)}


def _other_scalars(hw: SystolicConfig, vector_ops) -> dict:
    """Everything else not array-only: pJ per MAC and DRAM byte, leakage (per PE, or the whole-chip
    override), PE area, and the vector ops as cycles + energy_a + energy_b * sram_pj_per_byte
    (probed with the SRAM energy overridden to 0 and 1 pJ/byte)."""
    one = dataclasses.replace(hw, rows=1, cols=1)
    em = EnergyModel.of(one)
    override = hw.leakage_pj_per_cycle is not None
    vc, e0 = _vector_ops(vector_ops, dataclasses.replace(hw, sram_pj_per_byte=0.0))
    _, e1 = _vector_ops(vector_ops, dataclasses.replace(hw, sram_pj_per_byte=1.0))
    return {"mac_pj": em.mac_pj, "dram_pj_per_byte": em.dram_pj_per_byte,
            "leak_pj_per_pe": 0.0 if override else em.leakage_pj_per_cycle,
            "leak_pj_const": em.leakage_pj_per_cycle if override else 0.0,
            "pe_area_mm2": energy.pe_area_mm2(hw.word_bits, hw.tech_nm),
            "vector_cycles": vc, "vector_pj_a": e0, "vector_pj_b": e1 - e0}


# --------------------------------------------------------------------------------------------------
# GEMM closed form, compiled: the same arithmetic as ``gemm_closed_form`` (same operation order, so
# results are bit-identical), one scalar evaluation per (op, point), summed over ops per point.
# ``_gemm_totals_numpy`` computes the same totals with the backend's own numpy function; a test
# checks they agree.
# --------------------------------------------------------------------------------------------------
@njit(cache=True)
def _tile_sum_le(size, tile, k, w, limit):
    """Sum of the tile sizes t of ``size`` split by ``tile`` with t * k * w <= limit."""
    full, rem = size // tile, size % tile
    s = 0
    if tile * k * w <= limit:
        s += full * tile
    if rem > 0 and rem * k * w <= limit:
        s += rem
    return s


@njit(cache=True)
def _gemm_totals_kernel(m, k, n, count, mult, rows, cols, df, ifk, fk, ofk, wb, ab, bw,
                        out_cycles, out_sram_bytes, out_dram_bytes, out_stalled):
    for p in range(rows.shape[0]):
        R, C, d = rows[p], cols[p], df[p]
        w, a, b = wb[p], ab[p], bw[p]
        cyc, sram, dram, stalled = 0, 0.0, 0.0, False
        for o in range(m.shape[0]):
            M, K, N, cnt = m[o], k[o], n[o], count[o]
            if d == 1:   # os
                fr, fc = -(-M // R), -(-N // C)
                ld_if = _tile_sum_le(M, R, K, w, ifk[p] * 1024 / 2) * K
                ld_if = ld_if + (M * K - ld_if) * fc
                ld_f = K * N * (1 if K * N * w <= fk[p] * 1024 / 2 else fr)
                core = fr * fc * max(K, R)
                load_words, store_words, spill = ld_if + ld_f, M * N, 0.0
                load0 = (min(R, M) * K + K * min(C, N)) * w
                lm, ln = M % R, N % C
                store_last = (R if lm == 0 else lm) * (C if ln == 0 else ln) * w
                s_if, s_f, s_of, w_of = M * K * fc, K * N * fr, 0, M * N
                d_if, d_f = ld_if, ld_f
            else:        # ws (0) / is (2)
                ws = d == 0
                sr = K
                sc = N if ws else M
                t = M if ws else N
                stream_kib = ifk[p] if ws else fk[p]
                fr, fc = -(-sr // R), -(-sc // C)
                ld_stream = t * sr * (1 if t * sr * w <= stream_kib * 1024 / 2 else fc)
                half_of = ofk[p] * 1024 / 2
                full, rem = sc // C, sc % C
                spill_cols = 0
                if t * C * a > half_of:
                    spill_cols += full * C
                if rem > 0 and t * rem * a > half_of:
                    spill_cols += rem
                spill = spill_cols * t * a * 2 * (fr - 1)
                r0, c0 = min(R, sr), min(C, sc)
                core = fr * fc * max(t, R)
                load_words, store_words = sr * sc + ld_stream, t * sc
                load0 = (r0 * c0 + t * r0) * w
                store_last = t * (C if rem == 0 else rem) * w
                s_if = t * sr * fc if ws else sr * sc
                s_f = sr * sc if ws else t * sr * fc
                s_of, w_of = t * sc * (fr - 1), t * sc * fr
                d_if = ld_stream if ws else sr * sc
                d_f = sr * sc if ws else ld_stream
            stream = K if d == 1 else t
            compute = cnt * core - max(0, R - stream) + (2 * R + C - 2)   # last fold lasts T
            dram_b = cnt * ((load_words + store_words) * w + spill)
            sl = np.int64(np.ceil(store_last / b))
            l0 = np.int64(np.ceil(load0 / b))
            dc = np.int64(np.ceil(dram_b / b))
            cycles = l0 + max(compute, dc - l0 - sl) + sl
            if dc - l0 - sl > compute:
                stalled = True
            # energy-side byte counts, as SystolicBackend._gemm_cost rounds them
            dram_bytes = np.rint((cnt * d_if + cnt * d_f + cnt * store_words) * w + cnt * spill)
            sram_bytes = (cnt * s_if + cnt * s_f + cnt * s_of + cnt * w_of) * w + dram_bytes
            mu = mult[o]
            cyc += mu * cycles
            sram += mu * sram_bytes
            dram += mu * dram_bytes
        out_cycles[p] = cyc
        out_sram_bytes[p] = sram
        out_dram_bytes[p] = dram
        out_stalled[p] = stalled


class PointEvaluator:
    """Analytic cost of one workload on many systolic configs at once.

    ``base`` supplies every field not given per point. :meth:`evaluate` takes ``params``: field name ->
    1-D array (one value per point) or scalar, and returns per-point arrays (units in the names):
    ``cycles`` (int64), ``latency_s``, ``energy_pj`` (incl. leakage), ``edp_pj_s`` (energy x latency,
    pJ*s), ``area_mm2``, ``stalled`` (some GEMM is DRAM-bound in steady state).
    """

    # the swept fields this evaluator covers (others fall back to per-point estimates)
    fields = frozenset(f.name for f in dataclasses.fields(SystolicConfig) if f.init) - UNSUPPORTED_FIELDS

    def __init__(self, workload: Workload, base: SystolicConfig, *, compiled: bool = True):
        if base.scalesim_compatible:
            raise ValueError("the vectorised model does not cover scalesim_compatible hardware")
        self.workload, self.base, self.compiled = workload, base, compiled
        gemms: Counter = Counter()
        macs: Counter = Counter()
        vector: Counter = Counter()
        first_vec: dict = {}
        for op in workload.ops:
            if isinstance(op, (MatMul, Conv2d)):
                g = op.gemm()
                key = (g.m, g.k, g.n, g.count)
                gemms[key] += 1
                macs[key] = op.macs
            else:
                key = (type(op), op.kind, op.elements, op.bits, op.out_bits)
                vector[key] += 1
                first_vec.setdefault(key, op)
        keys = list(gemms)
        dims = np.array(keys, dtype=np.int64).reshape(-1, 4)
        self._m, self._k, self._n, self._count = (dims[:, i:i + 1] for i in range(4))
        self._mult = np.array([gemms[k] for k in keys], dtype=np.int64)[:, None]
        self._macs_total = sum(macs[k] * gemms[k] for k in keys)
        self._vector_ops = [(first_vec[k], vector[k]) for k in vector]
        self._cache: dict = {}

    # ---- per-config scalars, grouped ------------------------------------------------------------
    def _grouped(self, name: str, fn, fields, params: Mapping, n: int) -> dict[str, np.ndarray]:
        """``fn(hw) -> dict of floats`` once per distinct combination of ``fields`` among the points
        (memoised across calls), gathered back to per-point arrays."""
        varying = [f for f in fields if f in params and np.ndim(params[f]) > 0]
        fixed = {f: _py(params[f]) for f in fields if f in params and np.ndim(params[f]) == 0}
        if varying:
            codes, uniques, radix = np.zeros(n, dtype=np.int64), [], 1
            for f in varying:
                u, inv = np.unique(np.asarray(params[f]), return_inverse=True)
                codes += inv.reshape(-1).astype(np.int64) * radix
                radix *= len(u)
                uniques.append(u)
            group, inv = np.unique(codes, return_inverse=True)
            combos = []
            for code in group.tolist():
                combo = {}
                for f, u in zip(varying, uniques):
                    combo[f] = _py(u[code % len(u)])
                    code //= len(u)
                combos.append(combo)
        else:
            inv, combos = np.zeros(n, dtype=np.int64), [{}]
        rows = []
        for c in combos:
            key = (name,) + tuple(sorted({**fixed, **c}.items()))
            hit = self._cache.get(key)
            if hit is None:
                hit = self._cache[key] = fn(dataclasses.replace(self.base, **fixed, **c))
            rows.append(hit)
        return {k: np.array([r[k] for r in rows])[inv] for k in rows[0]}

    def _scalar_columns(self, params: Mapping, n: int) -> dict[str, np.ndarray]:
        other = [f.name for f in dataclasses.fields(SystolicConfig)
                 if f.name not in ARRAY_ONLY_FIELDS and f.name not in SRAM_FIELDS[:4]]
        out = self._grouped("sram", _sram_scalars, SRAM_FIELDS, params, n)
        out.update(self._grouped("other", lambda hw: _other_scalars(hw, self._vector_ops), other, params, n))
        return out

    # ---- the evaluation --------------------------------------------------------------------------
    def evaluate(self, params: Mapping[str, object]) -> dict[str, np.ndarray]:
        n = max([np.size(v) for v in params.values() if np.ndim(v) > 0] or [1])
        p = {f: getattr(self.base, f) for f in ("rows", "cols", "dataflow", "ifmap_sram_kib", "filter_sram_kib",
                                                  "ofmap_sram_kib", "word_bits", "acc_bits", "dram_bytes_per_cycle",
                                                  "clock_hz")}
        p.update(params)
        arr = {f: np.broadcast_to(np.asarray(v), (n,)) for f, v in p.items()}
        if arr["dataflow"].dtype.kind in "USO":
            codes = np.empty(n, dtype=np.int64)
            for name, code in DATAFLOW_CODE.items():
                codes[arr["dataflow"] == name] = code
            arr["dataflow"] = codes
        hw = {f: np.ascontiguousarray(arr[f], dtype=np.int64) for f in ("rows", "cols", "dataflow")}
        hw.update({f: np.ascontiguousarray(arr[f], dtype=np.float64)
                   for f in ("ifmap_sram_kib", "filter_sram_kib", "ofmap_sram_kib", "dram_bytes_per_cycle")})
        hw["word_bytes"] = arr["word_bits"].astype(np.int64) / 8
        hw["acc_bytes"] = arr["acc_bits"].astype(np.int64) / 8
        g = (self.gemm_totals if self.compiled else self.gemm_totals_numpy)(hw)
        s = self._scalar_columns(params, n)
        cycles = g["cycles"] + s["vector_cycles"].astype(np.int64)
        pes = hw["rows"] * hw["cols"]
        leak = s["leak_pj_const"] + s["leak_pj_per_pe"] * pes
        vector_pj = s["vector_pj_a"] + s["vector_pj_b"] * s["sram_pj_per_byte"]
        energy_pj = (self._macs_total * s["mac_pj"] + g["sram_bytes"] * s["sram_pj_per_byte"]
                     + g["dram_bytes"] * s["dram_pj_per_byte"] + vector_pj + cycles * leak)
        latency_s = cycles / arr["clock_hz"]
        return {"cycles": cycles, "latency_s": latency_s, "energy_pj": energy_pj, "edp_pj_s": energy_pj * latency_s,
                "area_mm2": pes * s["pe_area_mm2"] + s["sram_area_mm2"], "stalled": g["stalled"]}

    def gemm_totals(self, hw: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Over all GEMMs, per point: ``cycles`` (int64), ``sram_bytes`` and ``dram_bytes`` (as the
        energy model counts them), ``stalled``. ``hw``: contiguous int64 rows/cols/dataflow codes,
        float64 SRAM KiB, DRAM bytes per cycle, word and accumulator bytes."""
        n = hw["rows"].shape[0]
        out = {"cycles": np.empty(n, np.int64), "sram_bytes": np.empty(n), "dram_bytes": np.empty(n),
               "stalled": np.empty(n, np.bool_)}
        flat = lambda a: np.ascontiguousarray(a.reshape(-1))
        _gemm_totals_kernel(flat(self._m), flat(self._k), flat(self._n), flat(self._count), flat(self._mult),
                            hw["rows"], hw["cols"], hw["dataflow"], hw["ifmap_sram_kib"], hw["filter_sram_kib"],
                            hw["ofmap_sram_kib"], hw["word_bytes"], hw["acc_bytes"], hw["dram_bytes_per_cycle"],
                            out["cycles"], out["sram_bytes"], out["dram_bytes"], out["stalled"])
        return out

    def gemm_totals_numpy(self, hw: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """:meth:`gemm_totals` with the backend's numpy ``gemm_closed_form`` (ops x points): the reference."""
        wb = hw["word_bytes"]
        cf = gemm_closed_form(self._m, self._k, self._n, self._count, hw["rows"][None], hw["cols"][None],
                              hw["dataflow"][None], hw["ifmap_sram_kib"][None], hw["filter_sram_kib"][None],
                              hw["ofmap_sram_kib"][None], wb[None], hw["acc_bytes"][None], hw["dram_bytes_per_cycle"][None])
        dram_words = cf["dram_reads_ifmap"] + cf["dram_reads_filter"] + cf["dram_writes_ofmap"]
        dram_bytes = np.rint(dram_words * wb + cf["spill_bytes"])
        sram_words = cf["sram_reads_ifmap"] + cf["sram_reads_filter"] + cf["sram_reads_ofmap"] + cf["sram_writes_ofmap"]
        sram_bytes = sram_words * wb + dram_bytes
        mult = self._mult
        return {"cycles": (mult * cf["cycles"]).sum(axis=0), "sram_bytes": (mult * sram_bytes).sum(axis=0),
                "dram_bytes": (mult * dram_bytes).sum(axis=0), "stalled": cf["stalled"].any(axis=0)}


def _py(v):
    """numpy scalar -> the Python scalar a config field holds."""
    return v.item() if isinstance(v, np.generic) else v
