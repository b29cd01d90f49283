"""Workloads: a model spec becomes an ordered tuple of hardware-agnostic ops.

Entry points: :func:`load_workload` (zoo name, YAML path, ``timm:NAME``, ``*.onnx``),
:func:`build_workload` (a loaded spec), :func:`expected_cost` / :func:`worst_case_cost` (early exit).
"""
from hwsim.workload.ops import (GELU, Conv2d, Eltwise, Gate, Gather, LayerNorm, MatMul, Op, Pool, Softmax,
                                TopK, ATTENTION_KINDS, GELU_VARIANTS, GEMM_ARITH)
from hwsim.workload.spec import ModelSpec, available_models, load_model
from hwsim.workload.build import ExitPoint, Workload, build_workload
from hwsim.workload.cost import expected_cost, worst_case_cost
from hwsim.workload.load import load_workload

__all__ = ["Op", "MatMul", "Conv2d", "Softmax", "GELU", "LayerNorm", "Eltwise", "TopK", "Gather", "Pool", "Gate",
           "ATTENTION_KINDS", "GELU_VARIANTS", "GEMM_ARITH",
           "ModelSpec", "load_model", "available_models", "Workload", "ExitPoint", "build_workload",
           "expected_cost", "worst_case_cost", "load_workload"]
