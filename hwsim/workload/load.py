"""load_workload: one entry point for every way a user names a model."""
from __future__ import annotations

from typing import Any

from hwsim.errors import HwsimError
from hwsim.workload.build import Workload, build_workload
from hwsim.workload.spec import load_model


def load_workload(ref: str, *, task: int | str | None = None, **overrides: Any) -> Workload:
    """The workload of ``ref``:

    - a zoo name (``vit-b16``, ``swin-t``) or a YAML path: :func:`load_model` then :func:`build_workload`;
      ``overrides`` (``batch``, ``image_size``, any spec field) win over the file;
    - ``timm:NAME``: the timm model created without weights (offline), lowered by
      :mod:`hwsim.workload.importers.torch_import` (needs the ``torch`` extra: torch + timm);
      overrides ``batch`` and ``image_size`` apply;
    - ``*.onnx``: an ONNX graph lowered by :mod:`hwsim.workload.importers.onnx_import` (extra ``onnx``);
      ``batch`` applies.

    ``task``: the task whose MoE gate runs (task routing), by name or index. Raises HwsimError (one line) on
    a bad reference, field, task or missing extra.
    """
    ref = str(ref)
    if ref.startswith("timm:"):
        from hwsim.workload.importers.torch_import import from_timm
        return from_timm(ref[len("timm:"):], **overrides)
    if ref.lower().endswith(".onnx"):
        from hwsim.workload.importers.onnx_import import from_onnx
        return from_onnx(ref, **overrides)
    spec = load_model(ref, **overrides)
    if task is not None:
        moe = getattr(spec, "moe", None)
        if moe is None or moe.routing != "task":
            raise HwsimError(f"task {task!r}: model {ref} has no mixture of experts routed by task")
        task = moe.task_index(task)
    return build_workload(spec, task=task)
