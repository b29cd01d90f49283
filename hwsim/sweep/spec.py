"""The sweep spec: validated models x hardware axes, sampler, objectives and constraints.

What a sweep can record, optimise and constrain depends on the base hardware's kind: ``cycles`` where
the backend has a clock, ``energy_pj``/``edp_pj_s`` where it models energy, and the kind's own size
units (``area_mm2``; ``lut``, ``dsp``, ... for FPGA kinds). Axes are the base config's fields.
"""
from __future__ import annotations

import dataclasses
import math
import re
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hwsim.config import check_field, read_yaml
from hwsim.errors import ConfigError, HwsimError, short_repr

SPEC_KEYS = ("models", "hardware", "set", "axes", "sample", "objectives", "constraints", "chunk_size")
SAMPLERS = ("grid", "random", "lhs")
# objective name -> result column (all minimised), where the kind has the column
OBJECTIVES = {"latency": "latency_s", "energy": "energy_pj", "edp": "edp_pj_s", "area": "area_mm2", "cycles": "cycles"}
# constraint metric -> (result column, factor applied to the column), where the kind has the column
METRICS = {"latency_s": ("latency_s", 1.0), "latency_ms": ("latency_s", 1e3), "latency_us": ("latency_s", 1e6),
           "cycles": ("cycles", 1.0), "energy_pj": ("energy_pj", 1.0), "energy_uj": ("energy_pj", 1e-6),
           "energy_mj": ("energy_pj", 1e-9), "area_mm2": ("area_mm2", 1.0), "edp": ("edp_pj_s", 1.0),
           "edp_pj_s": ("edp_pj_s", 1.0)}
OPS = {"<=": np.less_equal, "<": np.less, ">=": np.greater_equal, ">": np.greater, "==": np.equal}
DEFAULT_CHUNK = 1 << 16
SWEEP_EXTRA = "pip install -e '.[sweep]'"
FIXED_FIELDS = ("name", "source")   # config fields that are labels, never axes
MAX_AXIS_VALUES = 10_000             # values of one axis (checked before any list is built)
MAX_POINTS = 1 << 40                 # hardware points of one sweep (~1.1e12: ids stay far inside int64)


def _extra_columns(backend, base, axis_fields) -> tuple[str, ...]:
    """Columns a config adds beyond its kind's (``Backend.sweep_columns(base, axis_fields)``, e.g. the
    systolic FPGA figures with ``fpga_target``); none without a base or the hook."""
    hook = getattr(backend, "sweep_columns", None)
    return tuple(hook(base, tuple(axis_fields))) if hook is not None and base is not None else ()


def result_columns(backend, base=None, axis_fields=()) -> tuple[str, ...]:
    """Result columns of a sweep over ``backend``'s kind, in file order (after point, model, axes);
    with ``base`` (and the swept ``axis_fields``) also the columns that config adds, before
    ``stalled`` and ``feasible`` (which stay last)."""
    return (("cycles",) if backend.has_clock else ()) + ("latency_s",) + \
        (("energy_pj", "edp_pj_s") if backend.has_energy else ()) + tuple(backend.size_units) + \
        _extra_columns(backend, base, axis_fields) + ("stalled", "feasible")


def objectives_for(backend, base=None, axis_fields=()) -> dict[str, str]:
    """Objective name -> result column for ``backend``'s kind (size units and the config's extra
    columns are objectives too)."""
    cols = result_columns(backend, base, axis_fields)
    out = {k: v for k, v in OBJECTIVES.items() if v in cols}
    out.update({u: u for u in backend.size_units + _extra_columns(backend, base, axis_fields)
                if u not in out.values()})
    return out


def metrics_for(backend, base=None, axis_fields=()) -> dict[str, tuple[str, float]]:
    """Constraint metric -> (result column, factor) for ``backend``'s kind and the config's extra columns."""
    cols = result_columns(backend, base, axis_fields)
    out = {k: v for k, v in METRICS.items() if v[0] in cols}
    out.update({u: (u, 1.0) for u in backend.size_units + _extra_columns(backend, base, axis_fields)})
    return out
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
    column: str
    factor: float = 1.0

    def holds(self, cols: dict) -> np.ndarray:
        return OPS[self.op](np.asarray(cols[self.column]) * self.factor, self.value)


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

    @property
    def kind(self) -> str:
        return self.base.kind

    @property
    def result_columns(self) -> tuple[str, ...]:
        from hwsim.kinds import backend
        return result_columns(backend(self.kind), self.base, [a.field for a in self.axes])

    def metadata(self) -> dict:
        """JSON-ready description stored with the results (for resume checks and ``hwsim pareto``)."""
        from hwsim.hardware import hardware_to_dict
        return {"models": [{"label": m.label, "spec": dataclasses.asdict(m.spec)} for m in self.models],
                "hardware": self.hardware, "kind": self.kind, "base": hardware_to_dict(self.base),
                "axes": {a.field: list(a.values) for a in self.axes},
                "sample": dataclasses.asdict(self.sample), "objectives": list(self.objectives),
                "constraints": [c.text for c in self.constraints], "points": self.points,
                "result_columns": list(self.result_columns)}

    @property
    def fingerprint(self) -> str:
        """Hash of everything results depend on (not the chunk size, not the file name): the spec and
        every data table the backends read (``hwsim.sweep.fingerprint``), so results of a regenerated
        table are never mixed with older ones on resume."""
        from hwsim.sweep.fingerprint import fingerprint
        return fingerprint(self.metadata())


def _axis_fields(config_class) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(config_class) if f.init and f.name not in FIXED_FIELDS}


def _check_value(name: str, value, f: dataclasses.Field, hint) -> Any:
    """One axis value coerced and validated as ``hwsim.config.build`` does (an axis value may not be
    null); ValueError says what is allowed."""
    value = check_field(value, f, hint)
    if value is None:
        raise ValueError("expected a value")
    return value


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _axis_values(name: str, raw) -> list:
    """Expand one axis: a list, ``{range: [start, stop, step]}`` (stop included when hit) or
    ``{log: [lo, hi]}`` / ``{log: [lo, hi, base]}`` (the powers of ``base``, default 2, in [lo, hi])."""
    if isinstance(raw, list):
        if len(raw) > MAX_AXIS_VALUES:
            raise ValueError(f"more than {MAX_AXIS_VALUES:,} values")
        return raw
    if isinstance(raw, dict) and len(raw) == 1 and "range" in raw:
        r = raw["range"]
        if not (isinstance(r, list) and len(r) in (2, 3) and all(_number(x) for x in r)):
            raise ValueError("range: expected [start, stop] or [start, stop, step] finite numbers")
        start, stop, step = (r + [1])[:3]
        if step <= 0 or stop < start:
            raise ValueError("range: need step > 0 and stop >= start")
        if (stop - start) / step >= MAX_AXIS_VALUES:
            raise ValueError(f"range: more than {MAX_AXIS_VALUES:,} values")
        count = int(math.floor((stop - start) / step + 1e-9)) + 1
        ints = all(isinstance(x, int) for x in (start, stop, step))
        return [start + i * step if ints else round(start + i * step, 12) for i in range(count)]
    if isinstance(raw, dict) and len(raw) == 1 and "log" in raw:
        r = raw["log"]
        if not (isinstance(r, list) and len(r) in (2, 3) and all(_number(x) for x in r)):
            raise ValueError("log: expected [lo, hi] or [lo, hi, base] finite numbers")
        lo, hi, base = (r + [2])[:3]
        if not (0 < lo <= hi) or base <= 1:
            raise ValueError("log: need 0 < lo <= hi and base > 1")
        if math.log(hi / lo, base) >= MAX_AXIS_VALUES:
            raise ValueError(f"log: more than {MAX_AXIS_VALUES:,} values")
        e0 = math.ceil(math.log(lo, base) - 1e-9)
        out, e = [], e0
        while base ** e <= hi * (1 + 1e-12):
            out.append(base ** e if isinstance(base, int) and e >= 0 else float(base) ** e)
            e += 1
        if not out:
            raise ValueError(f"log: no power of {base} in [{lo}, {hi}]")
        return out
    raise ValueError("expected a list of values, {range: [start, stop, step]} or {log: [lo, hi]}")


def _parse_constraint(text, metrics: dict) -> Constraint:
    m = re.fullmatch(r"\s*([A-Za-z_][A-Za-z_0-9]*)\s*(<=|>=|==|<|>)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*",
                     text) if isinstance(text, str) else None
    if not m:
        raise ValueError(f"expected 'METRIC OP NUMBER' with OP one of {', '.join(OPS)} (e.g. 'latency_ms <= 50')")
    if m.group(1) not in metrics:
        raise ValueError(f"unknown metric '{m.group(1)}' (allowed: {', '.join(metrics)})")
    return Constraint(text.strip(), m.group(1), m.group(2), float(m.group(3)), *metrics[m.group(1)])


def _parse_sample(raw) -> tuple[str, int | None, int]:
    if raw == "grid" or raw == {"grid": True} or raw is None:
        return "grid", None, 0
    if isinstance(raw, dict):
        kinds = [k for k in raw if k in SAMPLERS]
        extra = [k for k in raw if k not in SAMPLERS and k != "seed"]
        if len(kinds) == 1 and not extra:
            kind = kinds[0]
            n, seed = raw[kind], raw.get("seed", 0)
            if kind == "grid" and n is not True:
                raise ValueError(f"grid takes no number of points (it is every combination), got {n!r}")
            if kind != "grid" and not (isinstance(n, int) and not isinstance(n, bool) and 0 < n <= MAX_POINTS):
                raise ValueError(f"{kind}: expected a positive integer number of points <= {MAX_POINTS:,}, "
                                 f"got {short_repr(n)}")
            if not (isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0):
                raise ValueError(f"seed: expected an integer >= 0, got {seed!r}")
            return kind, (None if kind == "grid" else n), seed
    raise ValueError("allowed: grid, {random: N, seed: S}, {lhs: N, seed: S}")


def spec_from_dict(data: dict, source: str, *, base_dir: Path | None = None) -> SweepSpec:
    """Validate a sweep mapping; every problem names ``source``, the field, the value and what is allowed."""
    from hwsim.hardware import load_hardware
    from hwsim.kinds import backend
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
        except HwsimError as exc:
            problems.append(f"field 'hardware' = {hw_name!r}: {exc}")
    # ---- axes
    axes: list[Axis] = []
    raw_axes = data.get("axes")
    raw_axes = {} if raw_axes is None else raw_axes
    config_class = type(base) if base is not None else None
    allowed = _axis_fields(config_class) if config_class else {}
    hints = typing.get_type_hints(config_class) if config_class else {}
    if not isinstance(raw_axes, dict):
        problems.append(f"field 'axes' = {short_repr(raw_axes)}: expected a mapping of hardware field: values")
        raw_axes = {}
    for name, raw in raw_axes.items():
        if config_class is None:
            break                  # the hardware problem is reported; axes cannot be checked without a kind
        if name not in allowed:
            problems.append(f"field 'axes.{name}': unknown field of a {base.kind} config "
                            f"(allowed: {', '.join(sorted(allowed))})")
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
        if n > MAX_POINTS:
            problems.append(f"field 'axes': the grid has {n:.3g} points, more than {MAX_POINTS:,}; sample it "
                            "({random: N} or {lhs: N})")
    # ---- objectives and constraints (what the base kind can report)
    kind_backend = backend(base.kind) if base is not None else None
    axis_names = [a.field for a in axes]
    allowed_obj = objectives_for(kind_backend, base, axis_names) if kind_backend else OBJECTIVES
    metrics = metrics_for(kind_backend, base, axis_names) if kind_backend else METRICS
    default_obj = ["latency", "energy"] if "energy" in allowed_obj else ["latency"]
    objectives = data.get("objectives")
    objectives = default_obj if objectives is None else objectives   # null means the default, as for constraints
    if isinstance(objectives, str):
        objectives = [objectives]
    if not isinstance(objectives, list) or not objectives:
        problems.append(f"field 'objectives' = {objectives!r}: expected a list (allowed: {', '.join(allowed_obj)})")
        objectives = []
    for o in objectives:
        if isinstance(o, str) and o in allowed_obj:
            continue
        if kind_backend is not None and o in ("energy", "edp") and not kind_backend.has_energy:
            problems.append(f"field 'objectives' = {o!r}: the {base.kind} backend has no energy model "
                            f"(allowed: {', '.join(allowed_obj)})")
        else:
            problems.append(f"field 'objectives' = {o!r}: allowed: {', '.join(allowed_obj)}")
    constraints = []
    raw_c = data.get("constraints") or []
    if isinstance(raw_c, str):
        raw_c = [raw_c]
    for c in raw_c if isinstance(raw_c, list) else [raw_c]:
        try:
            constraints.append(_parse_constraint(c, metrics))
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
            option = "--points" if points is not None else "--seed"
            raise HwsimError(f"{path}: {option} needs a random or lhs sampler (field 'sample' = {short_repr(sample)}; "
                             "grid is every combination, with no count or seed)")
        else:
            sample = dict(sample)
            kind = "random" if "random" in sample else "lhs"
            if points is not None:
                sample[kind] = points
            if seed is not None:
                sample["seed"] = seed
            data["sample"] = sample
    return spec_from_dict(data, str(path), base_dir=path.parent)
