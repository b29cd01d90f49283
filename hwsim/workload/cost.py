"""Expected and worst-case totals of per-op values (cycles, energy, bytes, MACs) for workloads with
early exits (LGViT and friends): the report computes per-op values as usual and folds them here."""
from __future__ import annotations

from typing import Sequence

from hwsim.errors import HwsimError
from hwsim.workload.build import Workload


def _check(workload: Workload, values: Sequence[float]) -> None:
    if len(values) != len(workload.ops):
        raise HwsimError(f"expected_cost: {len(values)} values for {len(workload.ops)} ops of {workload.model}")


def expected_cost(workload: Workload, per_op_values: Sequence[float]) -> float:
    """Sum over ops of value x probability that the op runs (:meth:`Workload.run_probability`):
    the mean cost per run when images leave at the exits with the spec's probabilities. Equals
    :func:`worst_case_cost` for a workload without exits. Raises HwsimError on a length mismatch."""
    _check(workload, per_op_values)
    return float(sum(v * p for v, p in zip(per_op_values, workload.run_probability())))


def worst_case_cost(workload: Workload, per_op_values: Sequence[float]) -> float:
    """Sum of all ops' values: an image that reaches the final head (and evaluates every exit head)."""
    _check(workload, per_op_values)
    return float(sum(per_op_values))
