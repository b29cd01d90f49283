"""Chunk evaluation (runs in workers; does not know which executor runs it).

Each model of a sweep gets one point evaluator for the base config's kind: the kind's vectorised
evaluator (``Backend.point_evaluator``, e.g. the systolic closed form over arrays of design points) when
it has one and covers every swept field, otherwise :class:`PerPointEvaluator`, which runs the scalar
``estimate(..., "analytic")`` on each point, so every kind can be swept from the day it lands.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from hwsim.errors import HwsimError
from hwsim.sweep.samplers import sample_indices
from hwsim.sweep.spec import SWEEP_EXTRA, SweepSpec

_WORKER_CACHE: dict = {}


class PerPointEvaluator:
    """The generic evaluator: ``estimate(workload, point, "analytic")`` for each point, where a point is
    the base config with the axis values applied (``dataclasses.replace``, as the vectorised evaluators
    do). Returns the kind's result columns (``hwsim.sweep.spec.result_columns``) as arrays."""

    def __init__(self, workload, base):
        from hwsim.kinds import backend_for
        self.workload, self.base, self.backend = workload, base, backend_for(base)

    def evaluate(self, params: dict) -> dict[str, np.ndarray]:
        """The columns of ``params``' points; a column the config adds (``Backend.sweep_columns``) comes
        from ``Backend.sweep_values`` of the point's config."""
        from hwsim.estimate import estimate
        from hwsim.sweep.spec import result_columns
        columns = [c for c in result_columns(self.backend, self.base, list(params)) if c != "feasible"]
        extra = set(columns) - set(result_columns(self.backend))   # the kind's own columns: no config, no hook
        n = max([np.size(v) for v in params.values() if np.ndim(v) > 0] or [1])
        out = {c: [] for c in columns}
        for i in range(n):
            point = {f: _item(v[i] if np.ndim(v) > 0 else v) for f, v in params.items()}
            hw = dataclasses.replace(self.base, **point)
            report = estimate(self.workload, hw, "analytic")
            t = report.totals()
            if extra:
                t = {**t, **self.backend.sweep_values(hw)}
            for c in columns:
                out[c].append(any(r.stalled for r in report.ops) if c == "stalled" else t[c])
        return {c: np.asarray(v) for c, v in out.items()}


def _item(v):
    return v.item() if isinstance(v, np.generic) else v


def point_evaluator(workload, base, fields) -> object:
    """The kind's vectorised evaluator if it has one covering ``fields``, else :class:`PerPointEvaluator`."""
    from hwsim.kinds import backend_for
    fast = backend_for(base).point_evaluator(workload, base)
    if fast is not None and set(fields) <= set(getattr(fast, "fields", fields)):
        return fast
    return PerPointEvaluator(workload, base)


def _evaluators(spec: SweepSpec):
    """One point evaluator per model, built once per process per spec."""
    key = spec.fingerprint
    if key not in _WORKER_CACHE:
        from hwsim.workload import build_workload
        _WORKER_CACHE.clear()
        fields = [a.field for a in spec.axes]
        _WORKER_CACHE[key] = [point_evaluator(build_workload(m.spec), spec.base, fields) for m in spec.models]
    return _WORKER_CACHE[key]


def _evaluate(spec: SweepSpec, first: int, last: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(axis value indices (axes, points), result columns without ``point``/``model``/axes)."""
    idx = sample_indices(spec, first, last)
    params = {a.field: np.asarray(a.values)[idx[i]] for i, a in enumerate(spec.axes)}
    per_model = [ev.evaluate(params) for ev in _evaluators(spec)]
    cols = {c: np.stack([r[c] for r in per_model], axis=1).reshape(-1) for c in spec.result_columns[:-1]}
    feasible = np.ones(len(cols["latency_s"]), dtype=bool)
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
    names = ["point", "model", *(a.field for a in spec.axes), *spec.result_columns]
    return (",".join(f'"{n}"' for n in names) + "\n").encode()
