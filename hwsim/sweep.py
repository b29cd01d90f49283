"""Design-space sweeps: a validated spec, deterministic samplers, chunked evaluation on a local process
pool or a Dask cluster, crash-safe streaming results (Parquet or CSV), resume, and Pareto analysis.

Point ids: every design point has an integer id ``point`` in ``[0, spec.points)``, its index in the
sampler's sequence. A point's axis values are a pure function of (spec, id) -- counter-based hashing for
``random``, a keyed Feistel permutation for ``lhs``, mixed radix for ``grid`` -- so any id range can be
generated on its own (no sample is ever materialised) and a chunk's results are a deterministic function
of (spec, first id, last id). Resume = skip the id ranges already recorded as complete.

See ``docs/sweeps.md`` for the spec format, the result layout and columns.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import os
import re
import sys
import time
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from hwsim.config import check_field, read_yaml
from hwsim.errors import ConfigError, HwsimError

SPEC_KEYS = ("models", "hardware", "set", "axes", "sample", "objectives", "constraints", "chunk_size")
SAMPLERS = ("grid", "random", "lhs")
# objective name -> result column (all minimised)
OBJECTIVES = {"latency": "latency_s", "energy": "energy_pj", "edp": "edp_pj_s", "area": "area_mm2", "cycles": "cycles"}
# constraint metric -> (result column, factor applied to the column)
METRICS = {"latency_s": ("latency_s", 1.0), "latency_ms": ("latency_s", 1e3), "latency_us": ("latency_s", 1e6),
           "cycles": ("cycles", 1.0), "energy_pj": ("energy_pj", 1.0), "energy_uj": ("energy_pj", 1e-6),
           "energy_mj": ("energy_pj", 1e-9), "area_mm2": ("area_mm2", 1.0), "edp": ("edp_pj_s", 1.0),
           "edp_pj_s": ("edp_pj_s", 1.0)}
RESULT_COLUMNS = ("cycles", "latency_s", "energy_pj", "edp_pj_s", "area_mm2", "stalled", "feasible")
OPS = {"<=": np.less_equal, "<": np.less, ">=": np.greater_equal, ">": np.greater, "==": np.equal}
DEFAULT_CHUNK = 1 << 16
SWEEP_EXTRA = "pip install -e '.[sweep]'"


# ==================================================================================================
# The spec
# ==================================================================================================
@dataclass(frozen=True)
class Axis:
    """One swept hardware field and its distinct values (validated and coerced to the field's type)."""
    field: str
    values: tuple


@dataclass(frozen=True)
class Sampler:
    """``grid`` (every combination, ``n`` = product of axis sizes), ``random`` (``n`` i.i.d. uniform
    points) or ``lhs`` (``n`` points, Latin hypercube over each axis' value indices); ``seed`` >= 0."""
    kind: str
    n: int
    seed: int = 0


@dataclass(frozen=True)
class Constraint:
    """``metric op value``, e.g. ``latency_ms <= 50``; evaluated per result row."""
    text: str
    metric: str
    op: str
    value: float

    def holds(self, cols: dict) -> np.ndarray:
        column, factor = METRICS[self.metric]
        return OPS[self.op](np.asarray(cols[column]) * factor, self.value)


@dataclass(frozen=True)
class ModelEntry:
    """One workload of the sweep: ``label`` (the ``model`` column) and its resolved ModelSpec."""
    label: str
    spec: Any


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep: models x hardware points. ``base`` is the base hardware config (preset with
    ``set`` applied); each axis overrides one of its fields. ``points`` = number of hardware points."""
    models: tuple[ModelEntry, ...]
    hardware: str
    base: Any
    axes: tuple[Axis, ...]
    sample: Sampler
    objectives: tuple[str, ...]
    constraints: tuple[Constraint, ...]
    chunk_size: int = DEFAULT_CHUNK
    source: str = ""

    @property
    def points(self) -> int:
        return self.sample.n

    def metadata(self) -> dict:
        """JSON-ready description stored with the results (for resume checks and ``hwsim pareto``)."""
        from hwsim.hardware import hardware_to_dict
        return {"models": [{"label": m.label, "spec": dataclasses.asdict(m.spec)} for m in self.models],
                "hardware": self.hardware, "base": hardware_to_dict(self.base),
                "axes": {a.field: list(a.values) for a in self.axes},
                "sample": dataclasses.asdict(self.sample), "objectives": list(self.objectives),
                "constraints": [c.text for c in self.constraints], "points": self.points}

    @property
    def fingerprint(self) -> str:
        """Hash of everything results depend on (not the chunk size, not the file name): the spec and
        the cost tables the models read (energy/area ``tech.yaml``, RTL ``unit_costs.json``), so results
        of a regenerated table are never mixed with older ones on resume."""
        meta = self.metadata()
        meta["base"].pop("source", None)
        meta["cost_tables"] = _cost_tables_digest()
        return hashlib.sha256(json.dumps(meta, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _axis_fields() -> dict[str, dataclasses.Field]:
    from hwsim.backends.systolic_points import UNSUPPORTED_FIELDS
    from hwsim.hardware.systolic import SystolicConfig
    return {f.name: f for f in dataclasses.fields(SystolicConfig) if f.init and f.name not in UNSUPPORTED_FIELDS}


def _check_value(name: str, value, f: dataclasses.Field, hint) -> Any:
    """One axis value coerced and validated as ``hwsim.config.build`` does (an axis value may not be
    null); ValueError says what is allowed."""
    value = check_field(value, f, hint)
    if value is None:
        raise ValueError("expected a value")
    return value


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _axis_values(name: str, raw) -> list:
    """Expand one axis: a list, ``{range: [start, stop, step]}`` (stop included when hit) or
    ``{log: [lo, hi]}`` / ``{log: [lo, hi, base]}`` (the powers of ``base``, default 2, in [lo, hi])."""
    if isinstance(raw, list):
        return raw
    if isinstance(raw, dict) and len(raw) == 1 and "range" in raw:
        r = raw["range"]
        if not (isinstance(r, list) and len(r) in (2, 3) and all(_number(x) for x in r)):
            raise ValueError("range: expected [start, stop] or [start, stop, step] numbers")
        start, stop, step = (r + [1])[:3]
        if step <= 0 or stop < start:
            raise ValueError("range: need step > 0 and stop >= start")
        count = int(math.floor((stop - start) / step + 1e-9)) + 1
        ints = all(isinstance(x, int) for x in (start, stop, step))
        return [start + i * step if ints else round(start + i * step, 12) for i in range(count)]
    if isinstance(raw, dict) and len(raw) == 1 and "log" in raw:
        r = raw["log"]
        if not (isinstance(r, list) and len(r) in (2, 3) and all(_number(x) for x in r)):
            raise ValueError("log: expected [lo, hi] or [lo, hi, base] numbers")
        lo, hi, base = (r + [2])[:3]
        if not (0 < lo <= hi) or base <= 1:
            raise ValueError("log: need 0 < lo <= hi and base > 1")
        e0 = math.ceil(math.log(lo, base) - 1e-9)
        out, e = [], e0
        while base ** e <= hi * (1 + 1e-12):
            out.append(base ** e if isinstance(base, int) and e >= 0 else float(base) ** e)
            e += 1
        if not out:
            raise ValueError(f"log: no power of {base} in [{lo}, {hi}]")
        return out
    raise ValueError("expected a list of values, {range: [start, stop, step]} or {log: [lo, hi]}")


def _parse_constraint(text) -> Constraint:
    m = re.fullmatch(r"\s*([A-Za-z_][A-Za-z_0-9]*)\s*(<=|>=|==|<|>)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*",
                     text) if isinstance(text, str) else None
    if not m:
        raise ValueError(f"expected 'METRIC OP NUMBER' with OP one of {', '.join(OPS)} (e.g. 'latency_ms <= 50')")
    if m.group(1) not in METRICS:
        raise ValueError(f"unknown metric '{m.group(1)}' (allowed: {', '.join(METRICS)})")
    return Constraint(text.strip(), m.group(1), m.group(2), float(m.group(3)))


def _parse_sample(raw) -> tuple[str, int | None, int]:
    if raw == "grid" or raw == {"grid": True} or raw is None:
        return "grid", None, 0
    if isinstance(raw, dict):
        kinds = [k for k in raw if k in SAMPLERS]
        extra = [k for k in raw if k not in SAMPLERS and k != "seed"]
        if len(kinds) == 1 and not extra:
            kind = kinds[0]
            n, seed = raw[kind], raw.get("seed", 0)
            if kind != "grid" and not (isinstance(n, int) and not isinstance(n, bool) and n > 0):
                raise ValueError(f"{kind}: expected a positive integer number of points, got {n!r}")
            if not (isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0):
                raise ValueError(f"seed: expected an integer >= 0, got {seed!r}")
            return kind, (None if kind == "grid" else n), seed
    raise ValueError("allowed: grid, {random: N, seed: S}, {lhs: N, seed: S}")


def spec_from_dict(data: dict, source: str, *, base_dir: Path | None = None) -> SweepSpec:
    """Validate a sweep mapping; every problem names ``source``, the field, the value and what is allowed."""
    from hwsim.hardware import load_hardware
    from hwsim.hardware.systolic import SystolicConfig
    from hwsim.workload import load_model
    problems: list[str] = []
    for key in data:
        if key not in SPEC_KEYS:
            problems.append(f"unknown field '{key}' (allowed: {', '.join(SPEC_KEYS)})")
    # ---- models
    models: list[ModelEntry] = []
    raw_models = data.get("models")
    if raw_models is None:
        problems.append("missing field 'models'")
        raw_models = []
    elif isinstance(raw_models, (str, dict)):
        raw_models = [raw_models]
    elif not isinstance(raw_models, list) or not raw_models:
        problems.append(f"field 'models' = {raw_models!r}: expected a non-empty list of model names or mappings")
        raw_models = []
    for i, m in enumerate(raw_models):
        where = f"field 'models[{i}]'"
        try:
            if isinstance(m, str):
                name, overrides, label = m, {}, m
            elif isinstance(m, dict) and isinstance(m.get("name"), str):
                overrides = {k: v for k, v in m.items() if k not in ("name", "label")}
                name = m["name"]
                shown = ",".join(f"{k}={v}" for k, v in overrides.items() if not isinstance(v, (list, dict)))
                label = m.get("label") or (f"{name}({shown})" if shown else name)
            else:
                raise HwsimError(f"{m!r}: expected a model name or a mapping with 'name' (and overrides such as "
                                 "batch, image_size, token_keep)")
            path = (base_dir / name) if base_dir and (base_dir / name).exists() else name
            models.append(ModelEntry(str(label), load_model(path, **overrides)))
        except HwsimError as exc:
            problems.append(f"{where}: {exc}")
    labels = [m.label for m in models]
    if len(set(labels)) != len(labels):
        problems.append(f"field 'models': duplicate labels {labels} (give each entry a distinct 'label')")
    # ---- base hardware
    hw_name = data.get("hardware", "systolic")
    base = None
    overrides = data.get("set") or {}
    if not isinstance(overrides, dict):
        problems.append(f"field 'set' = {overrides!r}: expected a mapping of hardware field: value")
        overrides = {}
    if not isinstance(hw_name, str):
        problems.append(f"field 'hardware' = {hw_name!r}: expected a preset name or a hardware YAML path")
    else:
        try:
            path = (base_dir / hw_name) if base_dir and (base_dir / hw_name).exists() else hw_name
            base = load_hardware(path, overrides)
            if not isinstance(base, SystolicConfig) or base.scalesim_compatible:
                problems.append(f"field 'hardware' = {hw_name!r}: sweeps need a systolic config with "
                                "scalesim_compatible: false (the vectorised analytic model)")
                base = None
        except HwsimError as exc:
            problems.append(f"field 'hardware' = {hw_name!r}: {exc}")
    # ---- axes
    axes: list[Axis] = []
    raw_axes = data.get("axes") or {}
    allowed = _axis_fields()
    hints = typing.get_type_hints(SystolicConfig)
    if not isinstance(raw_axes, dict):
        problems.append(f"field 'axes' = {raw_axes!r}: expected a mapping of hardware field: values")
        raw_axes = {}
    for name, raw in raw_axes.items():
        if name not in allowed:
            problems.append(f"field 'axes.{name}': unknown hardware field (allowed: {', '.join(sorted(allowed))})")
            continue
        try:
            values = _axis_values(name, raw)
        except ValueError as exc:
            problems.append(f"field 'axes.{name}' = {raw!r}: {exc}")
            continue
        checked, ok = [], True
        for v in values:
            try:
                checked.append(_check_value(name, v, allowed[name], hints[name]))
            except ValueError as exc:
                problems.append(f"field 'axes.{name}' = {v!r}: {exc}")
                ok = False
        if ok and not checked:
            problems.append(f"field 'axes.{name}': no values")
        elif ok and len(set(checked)) != len(checked):
            problems.append(f"field 'axes.{name}' = {raw!r}: duplicate values")
        elif ok:
            axes.append(Axis(name, tuple(checked)))
    # ---- sampler
    kind, n, seed = "grid", None, 0
    try:
        kind, n, seed = _parse_sample(data.get("sample", "grid"))
    except ValueError as exc:
        problems.append(f"field 'sample' = {data.get('sample')!r}: {exc}")
    if kind == "grid":
        n = math.prod(len(a.values) for a in axes)
    # ---- objectives and constraints
    objectives = data.get("objectives", ["latency", "energy"])
    if isinstance(objectives, str):
        objectives = [objectives]
    if not isinstance(objectives, list) or not objectives:
        problems.append(f"field 'objectives' = {objectives!r}: expected a list (allowed: {', '.join(OBJECTIVES)})")
        objectives = []
    for o in objectives:
        if o not in OBJECTIVES:
            problems.append(f"field 'objectives' = {o!r}: allowed: {', '.join(OBJECTIVES)}")
    constraints = []
    raw_c = data.get("constraints") or []
    if isinstance(raw_c, str):
        raw_c = [raw_c]
    for c in raw_c if isinstance(raw_c, list) else [raw_c]:
        try:
            constraints.append(_parse_constraint(c))
        except ValueError as exc:
            problems.append(f"field 'constraints' = {c!r}: {exc}")
    chunk = data.get("chunk_size", DEFAULT_CHUNK)
    if not (isinstance(chunk, int) and not isinstance(chunk, bool) and chunk > 0):
        problems.append(f"field 'chunk_size' = {chunk!r}: expected a positive integer")
    if problems:
        raise ConfigError(source, problems)
    return SweepSpec(tuple(models), hw_name, base, tuple(axes), Sampler(kind, n, seed), tuple(objectives),
                     tuple(constraints), chunk, source)


def load_spec(path: str | Path, *, points: int | None = None, seed: int | None = None) -> SweepSpec:
    """Read and validate a sweep YAML. ``points``/``seed`` override the sampler's N and seed."""
    path = Path(path)
    data = read_yaml(path)
    if points is not None or seed is not None:
        sample = data.get("sample", "grid")
        if not isinstance(sample, dict) or not any(k in sample for k in ("random", "lhs")):
            if points is not None:
                raise HwsimError(f"{path}: --points needs a random or lhs sampler (field 'sample' = {sample!r})")
        else:
            sample = dict(sample)
            kind = "random" if "random" in sample else "lhs"
            if points is not None:
                sample[kind] = points
            if seed is not None:
                sample["seed"] = seed
            data["sample"] = sample
    return spec_from_dict(data, str(path), base_dir=path.parent)


# ==================================================================================================
# Samplers: point ids -> axis value indices, chunk by chunk
# ==================================================================================================
_M64 = (1 << 64) - 1


def _mix_int(x: int) -> int:
    """splitmix64 finaliser on a Python int."""
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser on a uint64 array (a bijection; wraps modulo 2^64)."""
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _key(seed: int, *salt: int) -> int:
    k = _mix_int(seed)
    for s in salt:
        k = _mix_int(k ^ s)
    return k


def _permute(ids: np.ndarray, n: int, key: int) -> np.ndarray:
    """A keyed pseudo-random permutation of [0, n) applied to ``ids``: a 4-round Feistel network on
    the smallest even-bit domain >= n, with cycle walking back into range."""
    if n == 1:
        return np.zeros_like(ids)
    bits = max(2, (n - 1).bit_length())
    bits += bits % 2
    half, mask = np.uint64(bits // 2), np.uint64((1 << (bits // 2)) - 1)
    rounds = [np.uint64(_key(key, r)) for r in range(4)]

    def feistel(y):
        left, right = y >> half, y & mask
        for rk in rounds:
            left, right = right, left ^ (_mix(right ^ rk) & mask)
        return (left << half) | right

    y = feistel(ids.astype(np.uint64))
    todo = np.nonzero(y >= np.uint64(n))[0]
    while todo.size:
        y[todo] = feistel(y[todo])
        todo = todo[y[todo] >= np.uint64(n)]
    return y.astype(np.int64)


def sample_indices(spec: SweepSpec, first: int, last: int) -> np.ndarray:
    """Axis value indices of points ``first .. last-1``: int64 array (axes, points)."""
    ids = np.arange(first, last, dtype=np.int64)
    sizes = [len(a.values) for a in spec.axes]
    out = np.empty((len(sizes), ids.size), dtype=np.int64)
    s = spec.sample
    if s.kind == "grid":                   # mixed radix, last axis fastest
        rest = ids.copy()
        for a in reversed(range(len(sizes))):
            out[a] = rest % sizes[a]
            rest //= sizes[a]
    elif s.kind == "random":               # counter-based: hash(seed, axis, point) -> uniform index
        u = ids.astype(np.uint64)
        for a, size in enumerate(sizes):
            h = _mix(u + np.uint64(_key(s.seed, 1, a)))
            out[a] = (((h >> np.uint64(32)) * np.uint64(size)) >> np.uint64(32)).astype(np.int64)
    else:                                  # lhs: axis a's stratum of point i = perm_a(i); value = stratum * size // n
        for a, size in enumerate(sizes):
            out[a] = _permute(ids, s.n, _key(s.seed, 2, a)) * size // s.n
    return out


@functools.lru_cache(maxsize=1)
def _cost_tables_digest() -> str:
    """SHA-256 of the cost tables, read once per process (every chunk's fingerprint asks for it)."""
    data = Path(__file__).resolve().parent / "data"
    return hashlib.sha256(b"".join((data / name).read_bytes() for name in ("tech.yaml", "unit_costs.json"))).hexdigest()


# ==================================================================================================
# Chunk evaluation (runs in workers; does not know which executor runs it)
# ==================================================================================================
_WORKER_CACHE: dict = {}


def _evaluators(spec: SweepSpec):
    """One PointEvaluator per model, built once per process per spec."""
    key = spec.fingerprint
    if key not in _WORKER_CACHE:
        from hwsim.backends.systolic_points import PointEvaluator
        from hwsim.workload import build_workload
        _WORKER_CACHE.clear()
        _WORKER_CACHE[key] = [PointEvaluator(build_workload(m.spec), spec.base) for m in spec.models]
    return _WORKER_CACHE[key]


def _evaluate(spec: SweepSpec, first: int, last: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(axis value indices (axes, points), result columns without ``point``/``model``/axes)."""
    idx = sample_indices(spec, first, last)
    params = {a.field: np.asarray(a.values)[idx[i]] for i, a in enumerate(spec.axes)}
    per_model = [ev.evaluate(params) for ev in _evaluators(spec)]
    cols = {c: np.stack([r[c] for r in per_model], axis=1).reshape(-1) for c in RESULT_COLUMNS[:-1]}
    feasible = np.ones(len(cols["cycles"]), dtype=bool)
    for con in spec.constraints:
        feasible &= con.holds(cols)
    cols["feasible"] = feasible
    return idx, cols


def evaluate_range(spec: SweepSpec, first: int, last: int) -> dict[str, np.ndarray]:
    """Result columns of points ``first .. last-1`` as numpy arrays, one row per (point, model),
    point-major (the rows of a point are adjacent, models in spec order)."""
    idx, res = _evaluate(spec, first, last)
    nm = len(spec.models)
    cols = {"point": np.repeat(np.arange(first, last, dtype=np.int64), nm),
            "model": np.tile(np.array([m.label for m in spec.models], dtype=object), last - first)}
    for i, a in enumerate(spec.axes):
        cols[a.field] = np.repeat(np.asarray(a.values)[idx[i]], nm)
    return {**cols, **res}


def _arrow_table(spec: SweepSpec, first: int, last: int):
    """:func:`evaluate_range` as a pyarrow Table; ``model`` and string axes dictionary-encoded."""
    pa = _pyarrow()
    idx, res = _evaluate(spec, first, last)
    nm = len(spec.models)
    cols = {"point": pa.array(np.repeat(np.arange(first, last, dtype=np.int64), nm)),
            "model": pa.DictionaryArray.from_arrays(np.tile(np.arange(nm, dtype=np.int32), last - first),
                                                    [m.label for m in spec.models])}
    for i, a in enumerate(spec.axes):
        rep = np.repeat(idx[i], nm)
        if isinstance(a.values[0], str):
            cols[a.field] = pa.DictionaryArray.from_arrays(rep.astype(np.int32), list(a.values))
        else:
            cols[a.field] = pa.array(np.asarray(a.values)[rep])
    cols.update({k: pa.array(v) for k, v in res.items()})
    return pa.table(cols)


def _pyarrow():
    try:
        import pyarrow
        import pyarrow.csv  # noqa: F401
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise HwsimError(f"writing sweep results needs pyarrow: {SWEEP_EXTRA}") from None
    return pyarrow


def evaluate_chunk(spec: SweepSpec, first: int, last: int, fmt: str) -> tuple[int, int, bytes]:
    """The task every executor runs: evaluate ids ``first .. last-1`` and encode them as a complete
    Parquet file (``fmt='parquet'``) or header-less CSV text (``'csv'``). Returns (first, last, bytes)."""
    pa = _pyarrow()
    table = _arrow_table(spec, first, last)
    sink = pa.BufferOutputStream()
    if fmt == "parquet":
        pa.parquet.write_table(table, sink, compression="zstd")
    else:
        table = pa.table({n: (c.cast(pa.string()) if pa.types.is_dictionary(c.type) else c)
                          for n, c in zip(table.column_names, table.columns)})
        pa.csv.write_csv(table, sink, pa.csv.WriteOptions(include_header=False))
    return first, last, sink.getvalue().to_pybytes()


def csv_header(spec: SweepSpec) -> bytes:
    names = ["point", "model", *(a.field for a in spec.axes), *RESULT_COLUMNS]
    return (",".join(f'"{n}"' for n in names) + "\n").encode()


# ==================================================================================================
# Results on disk: crash-safe, resumable
# ==================================================================================================
def _fsync_write(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _interval_union(ranges) -> list[tuple[int, int]]:
    out: list[list[int]] = []
    for a, b in sorted(ranges):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [tuple(r) for r in out]


class ParquetParts:
    """``OUT.parquet/`` is a directory dataset: ``_sweep.json`` (metadata) and one
    ``part-<first>-<last>.parquet`` per chunk (ids first..last-1, 12-digit zero padded). A part is
    written to a hidden temp name, fsynced, then ``os.replace``d: a crash leaves the whole chunk or nothing."""

    def __init__(self, path: Path):
        self.path = path

    def exists(self) -> bool:
        return self.path.exists() and (self.path / "_sweep.json").exists()

    def metadata(self) -> dict:
        return json.loads((self.path / "_sweep.json").read_text())

    def create(self, meta: dict, header: bytes) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        tmp = self.path / ".sweep.json.tmp"
        _fsync_write(tmp, json.dumps(meta, indent=1).encode())
        os.replace(tmp, self.path / "_sweep.json")

    def remove(self) -> None:
        import shutil
        shutil.rmtree(self.path)

    def done(self) -> list[tuple[int, int]]:
        for stale in self.path.glob(".part-*"):
            stale.unlink()
        return _interval_union(self._range(p) for p in self.parts())

    def parts(self) -> list[Path]:
        return sorted(self.path.glob("part-*.parquet"))

    @staticmethod
    def _range(p: Path) -> tuple[int, int]:
        a, b = p.stem.split("-")[1:3]
        return int(a), int(b) + 1

    def write(self, first: int, last: int, payload: bytes) -> None:
        name = f"part-{first:012d}-{last - 1:012d}.parquet"
        tmp = self.path / f".{name}.tmp"
        _fsync_write(tmp, payload)
        os.replace(tmp, self.path / name)

    def close(self) -> None:
        fd = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class CsvAppend:
    """``OUT.csv`` is one CSV file (header, then each chunk's rows appended as one block) plus a
    journal ``OUT.csv.sweep``: line 1 the metadata JSON, then ``first last end_offset`` per chunk,
    appended (and fsynced) only after the chunk's rows are fsynced. On resume the CSV is truncated to
    the last journaled offset, dropping any half-written block: no point is lost or duplicated."""

    def __init__(self, path: Path):
        self.path, self.journal = path, path.with_name(path.name + ".sweep")
        self._f = self._j = None

    def exists(self) -> bool:
        return self.journal.exists()

    def metadata(self) -> dict:
        return json.loads(self.journal.read_text().splitlines()[0])

    def create(self, meta: dict, header: bytes) -> None:
        _fsync_write(self.path, header)
        _fsync_write(self.journal, (json.dumps({**meta, "header_end": len(header)}) + "\n").encode())

    def remove(self) -> None:
        for p in (self.path, self.journal):
            if p.exists():
                p.unlink()

    def _entries(self) -> list[tuple[int, int, int]]:
        text = self.journal.read_bytes().decode()
        out = []
        for line in text.split("\n")[1:-1]:     # a line without its newline is incomplete: ignore it
            parts = line.split()
            if len(parts) == 3 and all(p.isdigit() for p in parts):
                out.append(tuple(map(int, parts)))
        return out

    def done(self) -> list[tuple[int, int]]:
        entries = self._entries()
        end = entries[-1][2] if entries else self.metadata()["header_end"]
        with open(self.path, "r+b") as f:
            f.truncate(end)
        good = "\n".join([self.journal.read_text().split("\n")[0]] + [f"{a} {b} {e}" for a, b, e in entries]) + "\n"
        tmp = self.journal.with_name(self.journal.name + ".tmp")
        _fsync_write(tmp, good.encode())
        os.replace(tmp, self.journal)
        return _interval_union((a, b) for a, b, _ in entries)

    def write(self, first: int, last: int, payload: bytes) -> None:
        if self._f is None:
            self._f, self._j = open(self.path, "ab"), open(self.journal, "ab")
        self._f.write(payload)
        self._f.flush()
        os.fsync(self._f.fileno())
        self._j.write(f"{first} {last} {self._f.tell()}\n".encode())
        self._j.flush()
        os.fsync(self._j.fileno())

    def close(self) -> None:
        for f in (self._f, self._j):
            if f is not None:
                f.close()
        self._f = self._j = None


def results_store(path: str | Path):
    path = Path(path)
    if path.suffix == ".parquet":
        return ParquetParts(path), "parquet"
    if path.suffix == ".csv":
        return CsvAppend(path), "csv"
    raise HwsimError(f"{path}: results file must end in .parquet (a directory dataset) or .csv")


# ==================================================================================================
# Executors: the one seam between "what to compute" and "where it runs"
# ==================================================================================================
class SerialExecutor:
    """In this process (``--workers 1``)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def imap_unordered(self, fn, tasks: list[tuple], window: int = 1) -> Iterator:
        for t in tasks:
            yield fn(*t)


class _FuturesExecutor:
    """Shared sliding-window loop: at most ``window`` tasks in flight, results as they complete."""

    def submit(self, fn, *args):
        raise NotImplementedError

    def wait_first(self, pending: set) -> tuple[set, set]:
        raise NotImplementedError

    def imap_unordered(self, fn, tasks: list[tuple], window: int = 4) -> Iterator:
        todo, pending = list(reversed(tasks)), set()
        while todo or pending:
            while todo and len(pending) < window:
                pending.add(self.submit(fn, *todo.pop()))
            done, pending = self.wait_first(pending)
            for fut in done:
                yield fut.result()


class ProcessExecutor(_FuturesExecutor):
    """A local process pool (``fork`` start where available: workers inherit imported numpy/numba)."""

    def __init__(self, workers: int):
        import concurrent.futures as cf
        import multiprocessing as mp
        ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None
        self._cf = cf
        self._pool = cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._pool.shutdown(wait=True, cancel_futures=True)
        return False

    def submit(self, fn, *args):
        return self._pool.submit(fn, *args)

    def wait_first(self, pending):
        done, rest = self._cf.wait(pending, return_when=self._cf.FIRST_COMPLETED)
        return done, rest


class DaskExecutor(_FuturesExecutor):
    """A Dask distributed cluster: ``address`` of a scheduler, or ``local`` for a LocalCluster of
    ``workers`` single-threaded worker processes (``processes=False``: threads in this process)."""

    def __init__(self, address: str, workers: int = 2, processes: bool = True):
        try:
            from dask.distributed import Client, LocalCluster, wait
        except ImportError:
            raise HwsimError(f"--dask needs dask[distributed]: {SWEEP_EXTRA}") from None
        self._wait = wait
        self._cluster = None
        if address == "local":
            self._cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=processes,
                                         dashboard_address=None)
            self.client = Client(self._cluster)
        else:
            try:
                self.client = Client(address, timeout="10s")
            except (OSError, TimeoutError, ValueError) as exc:
                raise HwsimError(f"--dask {address}: cannot connect to the scheduler ({exc})") from None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()
        return False

    def submit(self, fn, *args):
        return self.client.submit(fn, *args, pure=False)

    def wait_first(self, pending):
        res = self._wait(list(pending), return_when="FIRST_COMPLETED")
        return set(res.done), set(res.not_done)


def make_executor(workers: int = 1, dask: str | None = None, *, dask_processes: bool = True):
    if dask:
        return DaskExecutor(dask, workers, processes=dask_processes)
    return ProcessExecutor(workers) if workers > 1 else SerialExecutor()


# ==================================================================================================
# Running a sweep
# ==================================================================================================
@dataclass(frozen=True)
class SweepRun:
    """Outcome of :func:`run_sweep`: hardware points evaluated now / skipped (already present), rows
    written (points x models), wall time in seconds."""
    evaluated: int
    skipped: int
    rows: int
    seconds: float


def missing_chunks(total: int, done: list[tuple[int, int]], chunk: int) -> list[tuple[int, int]]:
    """Id ranges not yet done, split at multiples of ``chunk``."""
    out, cur = [], 0
    for a, b in _interval_union(done) + [(total, total)]:
        lo = cur
        while lo < min(a, total):
            hi = min((lo // chunk + 1) * chunk, a, total)
            out.append((lo, hi))
            lo = hi
        cur = max(cur, b)
    return out


def run_sweep(spec: SweepSpec, output: str | Path, *, workers: int = 1, dask: str | None = None,
              resume: bool = False, overwrite: bool = False, progress: bool = True,
              dask_processes: bool = True, executor=None) -> SweepRun:
    """Evaluate every point of ``spec`` not yet in ``output``; stream each finished chunk to disk."""
    t0 = time.perf_counter()
    store, fmt = results_store(output)
    meta = {**spec.metadata(), "fingerprint": spec.fingerprint, "spec_file": spec.source, "format": fmt}
    if store.exists():
        if overwrite:
            store.remove()
        elif not resume:
            raise HwsimError(f"{output}: results exist; pass --resume to continue them or --overwrite to replace")
        elif store.metadata().get("fingerprint") != spec.fingerprint:
            raise HwsimError(f"{output}: results come from a different sweep spec or cost table (fingerprint "
                             f"{store.metadata().get('fingerprint')} != {spec.fingerprint}); use another output or --overwrite")
    elif Path(output).exists() and not overwrite:
        raise HwsimError(f"{output}: exists and is not a sweep result; remove it or pass --overwrite")
    if not store.exists():
        if Path(output).exists():
            import shutil
            shutil.rmtree(output) if Path(output).is_dir() else Path(output).unlink()
        store.create(meta, csv_header(spec))
    done = store.done()
    skipped = sum(min(b, spec.points) - a for a, b in done if a < spec.points)
    tasks = [(spec, a, b, fmt) for a, b in missing_chunks(spec.points, done, spec.chunk_size)]
    from tqdm import tqdm
    bar = tqdm(total=spec.points, initial=skipped, unit="pt", unit_scale=True, file=sys.stderr,
               disable=not progress, desc="sweep", smoothing=0.1)
    evaluated = 0
    try:
        ex = executor if executor is not None else make_executor(workers, dask, dask_processes=dask_processes)
        with ex:
            for first, last, payload in ex.imap_unordered(evaluate_chunk, tasks, window=max(2, 2 * workers)):
                store.write(first, last, payload)
                evaluated += last - first
                bar.update(last - first)
    finally:
        bar.close()
        store.close()
    return SweepRun(evaluated, skipped, evaluated * len(spec.models), time.perf_counter() - t0)


# ==================================================================================================
# Reading results and Pareto analysis
# ==================================================================================================
def read_metadata(path: str | Path) -> dict:
    store, _ = results_store(path)
    if not store.exists():
        raise HwsimError(f"{path}: no sweep results here (expected a .parquet directory or a .csv with its .sweep journal)")
    return store.metadata()


def iter_results(path: str | Path, columns: list[str] | None = None, rows_per_batch: int = 1 << 17):
    """pandas DataFrames of the results, batch by batch (memory bounded); every point's model rows are
    in one batch."""
    store, fmt = results_store(path)
    meta = read_metadata(path)
    try:
        import pandas as pd
    except ImportError:
        raise HwsimError(f"reading sweep results needs pandas: {SWEEP_EXTRA}") from None
    if fmt == "parquet":
        pa = _pyarrow()
        for part in store.parts():
            yield pa.parquet.read_table(part, columns=columns).to_pandas()
    else:
        nm = len(meta["models"])
        yield from pd.read_csv(store.path, usecols=columns, chunksize=max(nm, rows_per_batch // nm * nm))


def read_results(path: str | Path, columns: list[str] | None = None):
    """All results as one pandas DataFrame sorted by (point, model order) -- for small sweeps."""
    import pandas as pd
    frames = list(iter_results(path, columns))
    if not frames:
        return pd.DataFrame(columns=columns or [])
    df = pd.concat(frames, ignore_index=True)
    return df.sort_values("point", kind="stable").reset_index(drop=True) if "point" in df else df


def pareto_front(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Indices of the points not dominated when minimising both ``x`` and ``y``, sorted by ``x``.
    Of several identical points only the first is kept."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    order = np.lexsort((y, x))
    ys = y[order]
    best_before = np.minimum.accumulate(np.concatenate([[np.inf], ys[:-1]]))
    return order[ys < best_before]


def objective_column(name: str) -> str:
    if name in OBJECTIVES:
        return OBJECTIVES[name]
    if name in OBJECTIVES.values():
        return name
    raise HwsimError(f"unknown objective '{name}'; allowed: {', '.join(list(OBJECTIVES) + list(OBJECTIVES.values()))}")


def _per_point(df, meta: dict, model: str | None):
    """One row per point: a single model's rows, or (several models) latency, cycles and energy summed
    over the models, EDP = total energy x total latency, feasible = feasible for every model."""
    labels = [m["label"] for m in meta["models"]]
    if model is not None:
        if model not in labels:
            raise HwsimError(f"--model '{model}': not in these results (models: {', '.join(labels)})")
        return df[df["model"] == model].reset_index(drop=True)
    if len(labels) == 1:
        return df.reset_index(drop=True)
    nm = len(labels)
    first = df.iloc[::nm].reset_index(drop=True).drop(columns=["model"])
    for c in ("cycles", "latency_s", "energy_pj"):
        first[c] = df[c].to_numpy().reshape(-1, nm).sum(axis=1)
    first["edp_pj_s"] = first["energy_pj"] * first["latency_s"]
    first["feasible"] = df["feasible"].to_numpy().reshape(-1, nm).all(axis=1)
    first["stalled"] = df["stalled"].to_numpy().reshape(-1, nm).any(axis=1)
    first.insert(1, "model", "+".join(labels))
    return first


@dataclass(frozen=True)
class ParetoResult:
    """``front``: the non-dominated points (DataFrame sorted by x); ``best``: objective -> the best
    row; ``sample``: a bounded subsample of all considered points (for plots); ``considered``: count."""
    x: str
    y: str
    front: Any
    best: dict
    sample: Any
    considered: int
    by_axis: dict


def pareto(path: str | Path, x: str = "latency", y: str = "energy", *, model: str | None = None,
           include_infeasible: bool = False, sample_rows: int = 20000) -> ParetoResult:
    """Streamed over the result batches: memory holds one batch plus the running candidates."""
    import pandas as pd
    meta = read_metadata(path)
    xc, yc = objective_column(x), objective_column(y)
    objectives = list(dict.fromkeys([*meta.get("objectives", []), x, y]))
    ocols = {o: objective_column(o) for o in objectives}
    axes = list(meta["axes"])
    candidates, samples, considered = [], [], 0
    by_axis: dict = {}
    stride = max(1, meta["points"] // sample_rows)
    for batch in iter_results(path):
        df = _per_point(batch, meta, model)
        if not include_infeasible:
            df = df[df["feasible"]]
        if df.empty:
            continue
        considered += len(df)
        keep = set(pareto_front(df[xc].to_numpy(), df[yc].to_numpy()).tolist())
        keep |= {int(df[c].to_numpy().argmin()) for c in ocols.values()}
        candidates.append(df.iloc[sorted(keep)])
        samples.append(df[df["point"] % stride == 0])
        for a in axes:
            g = df.groupby(a)[[xc, yc]].min()
            by_axis[a] = g if a not in by_axis else pd.concat([by_axis[a], g]).groupby(level=0).min()
    if not candidates:
        raise HwsimError(f"{path}: no {'' if include_infeasible else 'feasible '}points"
                         + ("" if include_infeasible else " (constraints exclude all; try --all)"))
    cand = pd.concat(candidates, ignore_index=True)
    front = cand.iloc[pareto_front(cand[xc].to_numpy(), cand[yc].to_numpy())].reset_index(drop=True)
    best = {o: cand.iloc[int(cand[c].to_numpy().argmin())] for o, c in ocols.items()}
    return ParetoResult(xc, yc, front, best, pd.concat(samples, ignore_index=True), considered, by_axis)


def hardware_of(row, meta: dict) -> dict:
    """The full hardware config of a result row, as the YAML mapping ``hwsim estimate`` accepts."""
    hw = dict(meta["base"])
    for field, values in meta["axes"].items():
        kind = type(values[0])
        hw[field] = kind(row[field].item() if hasattr(row[field], "item") else row[field])
    hw["name"] = f"sweep-point-{int(row['point'])}"
    hw["source"] = f"hwsim sweep {meta.get('spec_file', '')} point {int(row['point'])}"
    return hw
