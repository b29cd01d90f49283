"""Design-space sweeps: a validated spec, deterministic samplers, chunked evaluation on a local process
pool or a Dask cluster, crash-safe streaming results (Parquet or CSV), resume, and Pareto analysis.

One module per concern: ``spec`` (parsing and validation, per-kind objectives and columns),
``samplers`` (point ids -> axis values), ``evaluate`` (a chunk of points -> result columns, with a
per-kind point evaluator), ``stores`` (results on disk), ``executors`` (where chunks run), ``runner``
(resume and streaming), ``fingerprint`` (what results depend on), ``pareto`` (reading results, fronts),
``cli`` (``hwsim sweep`` and ``hwsim pareto``). See ``docs/sweeps.md``.
"""
from hwsim.sweep.evaluate import PerPointEvaluator, csv_header, evaluate_chunk, evaluate_range, point_evaluator
from hwsim.sweep.executors import DaskExecutor, ProcessExecutor, SerialExecutor, make_executor
from hwsim.sweep.pareto import (ParetoResult, hardware_of, iter_results, objective_column, pareto, pareto_front,
                                read_metadata, read_results)
from hwsim.sweep.runner import SweepRun, missing_chunks, run_sweep
from hwsim.sweep.samplers import sample_indices
from hwsim.sweep.spec import (Axis, Constraint, ModelEntry, Sampler, SweepSpec, load_spec, objectives_for,
                              result_columns, spec_from_dict)

__all__ = ["Axis", "Constraint", "DaskExecutor", "ModelEntry", "ParetoResult", "PerPointEvaluator", "ProcessExecutor",
           "Sampler", "SerialExecutor", "SweepRun", "SweepSpec", "csv_header", "evaluate_chunk", "evaluate_range",
           "hardware_of", "iter_results", "load_spec", "make_executor", "missing_chunks", "objective_column",
           "objectives_for", "pareto", "pareto_front", "point_evaluator", "read_metadata", "read_results",
           "result_columns", "run_sweep", "sample_indices", "spec_from_dict"]
