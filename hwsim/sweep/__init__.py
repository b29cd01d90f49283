"""Design-space sweeps: a validated spec, deterministic samplers, chunked evaluation on a local process
pool or a Dask cluster, crash-safe streaming results (Parquet or CSV), resume, and Pareto analysis.

One module per concern: ``spec`` (parsing and validation, per-kind objectives and columns),
``samplers`` (point ids -> axis values), ``evaluate`` (a chunk of points -> result columns, with a
per-kind point evaluator), ``stores`` (results on disk), ``executors`` (where chunks run), ``runner``
(resume and streaming), ``fingerprint`` (what results depend on), ``analysis`` (reading results, Pareto fronts),
``cli`` (``hwsim sweep`` and ``hwsim pareto``). See ``docs/sweeps.md``.
"""
import importlib

# public name -> the module that defines it; imported on first use (PEP 562), so that importing the CLI
# (hwsim.sweep.cli) does not import numpy, numba or pyarrow
_WHERE = {
    **dict.fromkeys(["PerPointEvaluator", "csv_header", "evaluate_chunk", "evaluate_range", "point_evaluator"], "evaluate"),
    **dict.fromkeys(["DaskExecutor", "ProcessExecutor", "SerialExecutor", "make_executor"], "executors"),
    **dict.fromkeys(["ParetoResult", "hardware_of", "iter_results", "objective_column", "pareto", "pareto_front",
                     "read_metadata", "read_results"], "analysis"),
    **dict.fromkeys(["SweepRun", "missing_chunks", "run_sweep"], "runner"),
    "sample_indices": "samplers",
    **dict.fromkeys(["Axis", "Constraint", "ModelEntry", "Sampler", "SweepSpec", "load_spec", "objectives_for",
                     "result_columns", "spec_from_dict"], "spec"),
}

_MODULES = ("analysis", "cli", "evaluate", "executors", "fingerprint", "runner", "samplers", "spec", "stores")


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f"hwsim.sweep.{_WHERE[name]}"), name)
    if name in _MODULES:
        return importlib.import_module(f"hwsim.sweep.{name}")
    raise AttributeError(f"module 'hwsim.sweep' has no attribute {name!r}")


__all__ = sorted(_WHERE)
