"""Workloads: a model spec becomes an ordered tuple of hardware-agnostic ops."""
from hwsim.workload.ops import GELU, Conv2d, Eltwise, LayerNorm, MatMul, Op, Softmax
from hwsim.workload.spec import ModelSpec, available_models, load_model
from hwsim.workload.build import Workload, build_workload

__all__ = ["Op", "MatMul", "Conv2d", "Softmax", "GELU", "LayerNorm", "Eltwise",
           "ModelSpec", "load_model", "available_models", "Workload", "build_workload"]
