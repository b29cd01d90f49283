"""The analytic systolic model vectorised across design points, for one fixed workload.

``estimate(workload, hw, "analytic")`` evaluates one hardware config; :class:`PointEvaluator` evaluates
arrays of them (one entry per design point) with numpy broadcasting, ops x points:

* GEMMs (MatMul, Conv2d as im2col): the backend's own mapping search and closed form
  (:func:`~hwsim.backends.systolic_mapping.search`, docs/mapping.md) for every (op, point), compiled. Identical GEMM shapes
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
from hwsim.backends.systolic import DATAFLOW_CODE, EnergyModel, SystolicBackend
from hwsim.backends.systolic_mapping import FUSIONS, N_OUT, OBJECTIVE_CODE, choose, fusion_roles, jitted

_J = jitted()                  # the compiled twins of the kernels ``choose`` runs in plain Python
search, fuses = _J.search, _J.fuses
from hwsim.hardware.systolic import SystolicConfig
from hwsim.workload import Conv2d, MatMul, Workload

# Fields only the array/GEMM timing uses. The per-config scalars (energy tables, area per PE, vector
# unit costs) are assumed NOT to depend on them; every other field (including ones added later) is
# treated as possibly relevant and grouped on. If a vector-unit model starts to use one of these,
# remove it here (the 1,000-point exactness test against ``estimate`` catches the drift).
ARRAY_ONLY_FIELDS = frozenset({"rows", "cols", "dataflow", "dram_bytes_per_cycle", "clock_hz", "name", "source",
                               "mapping_objective", "fusion", "fpga_target"})
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


# What the array's FPGA figures depend on (hwsim.backends.systolic_fpga; scalesim_compatible is never swept here).
FPGA_FIELDS = ("rows", "cols", "dataflow", "word_bits", "acc_bits", "fpga_target")

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
# GEMMs, compiled: per (op, point) the backend's own mapping search (``systolic_mapping.search``, the
# compiled twin of what ``estimate`` runs through ``choose``), summed over ops per point.
# ``gemm_totals_numpy`` computes the same totals point by point through ``choose``; a test checks they agree.
# --------------------------------------------------------------------------------------------------
@njit(cache=True)
def _gemm_totals_kernel(m, k, n, count, mult, fin, fgemm, fout, rows, cols, df, ifk, fk, ofk, wb, ab, bw, fusion, obj,
                        mac_pj, sram_pj, dram_pj, leak_pj, out_cycles, out_sram_bytes, out_dram_bytes, out_stalled):
    """Per point: the mapping search of every distinct GEMM (``systolic_mapping.search``, the function the
    backend calls), the winners' cycles and energy-side bytes summed with their multiplicities."""
    cost = np.empty(N_OUT)
    choice = np.empty(6, dtype=np.int64)
    for p in range(rows.shape[0]):
        cyc, sram, dram, stalled = 0, 0.0, 0.0, False
        for o in range(m.shape[0]):
            f = fusion[p]
            fi = 1 if fuses(fin[o, f], fgemm[o, f] == 1, wb[p], ifk[p], ofk[p]) else 0
            fo = 1 if fuses(fout[o, f], True, wb[p], ifk[p], ofk[p]) else 0
            search(m[o], k[o], n[o], count[o], rows[p], cols[p], df[p], ifk[p], fk[p], ofk[p], wb[p], ab[p], bw[p],
                   obj[p], mac_pj[p], sram_pj[p], dram_pj[p], leak_pj[p], cost, choice, fi, fo)
            mu = mult[o]
            cyc += mu * np.int64(cost[0])
            sram += mu * cost[15]
            dram += mu * cost[14]
            if cost[4] > cost[1]:   # memory-bound: the DRAM is busier than the array (hwsim.estimate's bound)
                stalled = True
        out_cycles[p] = cyc
        out_sram_bytes[p] = sram
        out_dram_bytes[p] = dram
        out_stalled[p] = stalled


_GEMM_MEMO_MAX = 1 << 18   # distinct search inputs kept per evaluator (~60 MB at most)


class PointEvaluator:
    """Analytic cost of one workload on many systolic configs at once.

    ``base`` supplies every field not given per point. :meth:`evaluate` takes ``params``: field name ->
    1-D array (one value per point) or scalar, and returns per-point arrays (units in the names):
    ``cycles`` (int64), ``latency_s``, ``energy_pj`` (incl. leakage), ``edp_pj_s`` (energy x latency,
    pJ*s), ``area_mm2``, with an ``fpga_target`` (base or swept) ``lut``, ``ff``, ``dsp``, ``bram``,
    ``fmax_hz`` (NaN where there is none) and latency at min(clock_hz, Fmax), ``stalled`` (some GEMM is bound by memory: its DRAM transfers take longer than its compute).
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
        for op, role in zip(workload.ops, fusion_roles(workload.ops)):
            if isinstance(op, (MatMul, Conv2d)):
                g = op.gemm()
                key = (g.m, g.k, g.n, g.count, role)
                gemms[key] += 1
                macs[key] = op.macs
            else:
                key = (type(op), op.kind, op.elements, op.bits, op.out_bits)
                vector[key] += 1
                first_vec.setdefault(key, op)
        keys = list(gemms)
        dims = np.array([kk[:4] for kk in keys], dtype=np.int64).reshape(-1, 4)
        # fusion roles per distinct GEMM and mode (none, attention, all): words in, producer is a GEMM, words out
        self._fin = np.array([[r[0] for r in kk[4]] for kk in keys], dtype=np.int64).reshape(-1, 3)
        self._fgemm = np.array([[int(r[1]) for r in kk[4]] for kk in keys], dtype=np.int64).reshape(-1, 3)
        self._fout = np.array([[r[2] for r in kk[4]] for kk in keys], dtype=np.int64).reshape(-1, 3)
        self._m, self._k, self._n, self._count = (dims[:, i:i + 1] for i in range(4))
        self._mult = np.array([gemms[k] for k in keys], dtype=np.int64)[:, None]
        self._macs_total = sum(macs[k] * gemms[k] for k in keys)
        self._vector_ops = [(first_vec[k], vector[k]) for k in vector]
        self._cache: dict = {}
        self._gemm_memo: dict = {}     # search-relevant columns (bytes) -> GEMM totals, across calls

    # ---- per-config scalars, grouped ------------------------------------------------------------
    def _grouped(self, name: str, fn, fields, params: Mapping, n: int) -> dict[str, np.ndarray]:
        """``fn(hw) -> dict of floats`` once per distinct combination of ``fields`` among the points
        (memoised across calls), gathered back to per-point arrays."""
        varying = [f for f in fields if f in params and np.ndim(params[f]) > 0]
        fixed = {f: _py(params[f]) for f in fields if f in params and np.ndim(params[f]) == 0}
        if varying:
            codes, uniques, radix = np.zeros(n, dtype=np.int64), [], 1
            for f in varying:
                u, inv = _codes(params[f])
                codes += inv * radix
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
                                                  "clock_hz", "mapping_objective", "fusion")}
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
        s = self._scalar_columns(params, n)
        pes = hw["rows"] * hw["cols"]
        leak = s["leak_pj_const"] + s["leak_pj_per_pe"] * pes
        fusion = np.zeros(n, dtype=np.int64)
        for code, name in enumerate(FUSIONS):
            fusion[arr["fusion"] == name] = code
        objective = np.zeros(n, dtype=np.int64)
        for name, code in OBJECTIVE_CODE.items():
            objective[arr["mapping_objective"] == name] = code
        # what the mapping search weighs (energy / edp objectives), per point
        hw.update(objective=objective, fusion=fusion, mac_pj=_f64(s["mac_pj"], n), sram_pj=_f64(s["sram_pj_per_byte"], n),
                  dram_pj=_f64(s["dram_pj_per_byte"], n), leak_pj=_f64(leak, n))
        g = self.gemm_totals(hw, _combined_codes(params, n)) if self.compiled else self.gemm_totals_numpy(hw)
        cycles = g["cycles"] + s["vector_cycles"].astype(np.int64)
        vector_pj = s["vector_pj_a"] + s["vector_pj_b"] * s["sram_pj_per_byte"]
        energy_pj = (self._macs_total * s["mac_pj"] + g["sram_bytes"] * s["sram_pj_per_byte"]
                     + g["dram_bytes"] * s["dram_pj_per_byte"] + vector_pj + cycles * leak)
        fpga = self._fpga_columns(params, n)
        clock = arr["clock_hz"] if fpga is None else fpga.pop("clock_hz_used")
        latency_s = cycles / clock
        return {"cycles": cycles, "latency_s": latency_s, "energy_pj": energy_pj, "edp_pj_s": energy_pj * latency_s,
                "area_mm2": pes * s["pe_area_mm2"] + s["sram_area_mm2"], **(fpga or {}), "stalled": g["stalled"]}

    def _fpga_columns(self, params: Mapping, n: int) -> dict[str, np.ndarray] | None:
        """With an ``fpga_target`` (base or axis): the FPGA columns per point (``systolic_fpga.fpga_columns``,
        once per distinct array and target) and ``clock_hz_used`` = min(clock_hz, Fmax); else None
        (the clock is ``clock_hz``, as before the field existed)."""
        if self.base.fpga_target == "none" and "fpga_target" not in params:
            return None
        from hwsim.backends.systolic_fpga import fpga_columns
        out = self._grouped("fpga", fpga_columns, FPGA_FIELDS, params, n)
        clock = np.broadcast_to(np.asarray(params.get("clock_hz", self.base.clock_hz), dtype=np.float64), (n,))
        out["clock_hz_used"] = np.fmin(clock, out["fmax_hz"])     # NaN Fmax (not placed): the clock
        return out

    def gemm_totals(self, hw: Mapping[str, np.ndarray], group: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Over all GEMMs, per point: ``cycles`` (int64), ``sram_bytes`` and ``dram_bytes`` (as the
        energy model counts them), ``stalled``. ``hw``: contiguous int64 rows/cols/dataflow codes,
        float64 SRAM KiB, DRAM bytes per cycle, word and accumulator bytes. ``group``: optional int64 codes
        equal for points whose swept fields are equal (the columns are functions of them): distinct
        combinations are then found by sorting those codes instead of the columns' 120-byte rows."""
        # the search depends on these columns only: evaluate each distinct combination once (a sweep's
        # points repeat them: e.g. examples/sweep_vit.yaml has <= 4,032 among any number of points)
        cols = ("rows", "cols", "dataflow", "ifmap_sram_kib", "filter_sram_kib", "ofmap_sram_kib", "word_bytes",
                "acc_bytes", "dram_bytes_per_cycle", "objective", "fusion", "mac_pj", "sram_pj", "dram_pj", "leak_pj")
        # distinct combinations: by ``group`` (sorting int64 codes), else unique rows of the columns' raw bytes
        if group is None:
            key = np.ascontiguousarray(np.stack([np.asarray(hw[c], dtype=np.float64) for c in cols], axis=1))
            group = key.view(np.dtype((np.void, 8 * len(cols)))).reshape(-1)
        _, first, inverse = np.unique(group, return_index=True, return_inverse=True)
        u = {c: np.ascontiguousarray(np.asarray(hw[c])[first]) for c in cols}
        # memoised across calls (a sweep's chunks repeat the same combinations): search only the new ones
        rows = np.stack([u[c].astype(np.float64) for c in cols], axis=1)
        keys = [r.tobytes() for r in rows]
        memo = self._gemm_memo
        new = [i for i, kb in enumerate(keys) if kb not in memo]
        if new:
            sel = np.array(new, dtype=np.int64)
            m = len(sel)
            res = {"cycles": np.empty(m, np.int64), "sram_bytes": np.empty(m), "dram_bytes": np.empty(m),
                   "stalled": np.empty(m, np.bool_)}
            us = {c: np.ascontiguousarray(u[c][sel]) for c in cols}
            flat = lambda a: np.ascontiguousarray(a.reshape(-1))
            _gemm_totals_kernel(flat(self._m), flat(self._k), flat(self._n), flat(self._count), flat(self._mult),
                                self._fin, self._fgemm, self._fout, us["rows"], us["cols"], us["dataflow"],
                                us["ifmap_sram_kib"], us["filter_sram_kib"], us["ofmap_sram_kib"], us["word_bytes"],
                                us["acc_bytes"], us["dram_bytes_per_cycle"], us["fusion"], us["objective"], us["mac_pj"],
                                us["sram_pj"], us["dram_pj"], us["leak_pj"],
                                res["cycles"], res["sram_bytes"], res["dram_bytes"], res["stalled"])
            if len(memo) + m > _GEMM_MEMO_MAX:
                memo.clear()
            for j, i in enumerate(new):
                memo[keys[i]] = (res["cycles"][j], res["sram_bytes"][j], res["dram_bytes"][j], res["stalled"][j])
        got = [memo[kb] for kb in keys]
        inverse = inverse.reshape(-1)
        return {k: np.array([g[j] for g in got], dtype=dt)[inverse]
                for j, (k, dt) in enumerate((("cycles", np.int64), ("sram_bytes", np.float64),
                                             ("dram_bytes", np.float64), ("stalled", np.bool_)))}

    def gemm_totals_numpy(self, hw: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """:meth:`gemm_totals` point by point through the backend's memoised scalar search
        (``systolic_mapping.choose``, what ``estimate`` uses): the reference for the compiled loop."""
        n = hw["rows"].shape[0]
        out = {"cycles": np.zeros(n, np.int64), "sram_bytes": np.zeros(n), "dram_bytes": np.zeros(n),
               "stalled": np.zeros(n, np.bool_)}
        codes = {v: k for k, v in DATAFLOW_CODE.items()}
        objectives = {v: k for k, v in OBJECTIVE_CODE.items()}
        for p in range(n):
            for o in range(self._m.shape[0]):
                f, w, i_k, o_k = int(hw["fusion"][p]), float(hw["word_bytes"][p]), float(hw["ifmap_sram_kib"][p]), \
                    float(hw["ofmap_sram_kib"][p])
                fuse = (int(fuses(int(self._fin[o, f]), bool(self._fgemm[o, f]), w, i_k, o_k)),
                        int(fuses(int(self._fout[o, f]), True, w, i_k, o_k)))
                _, c = choose(int(self._m[o, 0]), int(self._k[o, 0]), int(self._n[o, 0]), int(self._count[o, 0]),
                              int(hw["rows"][p]), int(hw["cols"][p]), codes[int(hw["dataflow"][p])],
                              *(float(hw[f][p]) for f in ("ifmap_sram_kib", "filter_sram_kib", "ofmap_sram_kib",
                                                          "word_bytes", "acc_bytes", "dram_bytes_per_cycle")),
                              objectives[int(hw["objective"][p])],
                              *(float(hw[f][p]) for f in ("mac_pj", "sram_pj", "dram_pj", "leak_pj")), *fuse)
                mu = int(self._mult[o, 0])
                out["cycles"][p] += mu * int(c["cycles"])
                out["sram_bytes"][p] += mu * c["sram_bytes"]
                out["dram_bytes"][p] += mu * c["dram_bytes"]
                out["stalled"][p] |= c["dram_cycles"] > c["compute"]
        return out


_CODES: dict = {}   # id of a parameter array -> (a copy of its values, its unique values, per-point codes)


def _codes(values) -> tuple[np.ndarray, np.ndarray]:
    """(unique values, int64 code per point) of one swept field's array, memoised per array (checked equal
    to the memoised copy, an O(n) comparison instead of an O(n log n) sort): the sweep passes the same
    arrays to every model's evaluator and to each grouping."""
    values = np.asarray(values)
    hit = _CODES.get(id(values))
    if hit is not None and hit[0].shape == values.shape and hit[0].dtype == values.dtype and np.array_equal(hit[0], values):
        return hit[1], hit[2]
    u, inv = np.unique(values, return_inverse=True)
    if len(_CODES) > 64:
        _CODES.clear()
    _CODES[id(values)] = (values.copy(), u, inv.reshape(-1).astype(np.int64))
    return u, _CODES[id(values)][2]


def _combined_codes(params: Mapping, n: int) -> np.ndarray | None:
    """One int64 code per point, equal iff every swept (array) field is equal; None if the product of the
    fields' distinct counts does not fit an int64."""
    code, radix = np.zeros(n, np.int64), 1
    for f in sorted(params):
        if np.ndim(params[f]) > 0:
            u, inv = _codes(params[f])
            code = code + inv * radix
            radix *= len(u)
            if radix > 2 ** 62:
                return None
    return code


def _f64(a, n):
    return np.ascontiguousarray(np.broadcast_to(np.asarray(a, dtype=np.float64), (n,)))


def _py(v):
    """numpy scalar -> the Python scalar a config field holds."""
    return v.item() if isinstance(v, np.generic) else v
