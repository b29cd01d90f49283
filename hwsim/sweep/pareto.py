"""Reading sweep results back and Pareto analysis (streamed over result batches)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hwsim.errors import HwsimError
from hwsim.sweep.evaluate import _pyarrow
from hwsim.sweep.spec import OBJECTIVES, SWEEP_EXTRA
from hwsim.sweep.stores import results_store

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


def objective_column(name: str, meta: dict | None = None) -> str:
    """The result column of objective ``name`` (``latency`` -> ``latency_s``; a column name is accepted
    as itself), among the columns of these results (``meta``) when given."""
    columns = (meta or {}).get("result_columns")
    table = {k: v for k, v in OBJECTIVES.items() if columns is None or v in columns}
    if columns is not None:
        table.update({c: c for c in columns if c not in ("stalled", "feasible") and c not in table.values()})
    if name in table:
        return table[name]
    if name in table.values():
        return name
    raise HwsimError(f"unknown objective '{name}' for these results; allowed: "
                     f"{', '.join(dict.fromkeys(list(table) + list(table.values())))}")


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
        if c in df:
            first[c] = df[c].to_numpy().reshape(-1, nm).sum(axis=1)
    if "edp_pj_s" in df:
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
    xc, yc = objective_column(x, meta), objective_column(y, meta)
    objectives = list(dict.fromkeys([*meta.get("objectives", []), x, y]))
    ocols = {o: objective_column(o, meta) for o in objectives}
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
