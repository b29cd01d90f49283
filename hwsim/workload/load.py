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


# ------------------------------------------------------------------ cross-checks (hwsim validate)

#: (zoo name, published GMACs (multiply-accumulates, as the papers' "FLOPs" count them), where it is printed,
#: tolerance). The backbone is counted (early-exit heads are extra).
PUBLISHED_GMACS = (
    ("vit-b16", 17.6, "DeiT, Touvron et al. ICML 2021, Table 1 (ViT-B)", 0.04),
    ("deit-b16", 17.6, "DeiT, Touvron et al. ICML 2021, Table 1", 0.04),
    ("deit-s16", 4.6, "DeiT, Touvron et al. ICML 2021, Table 1", 0.04),
    ("deit-ti16", 1.3, "DeiT, Touvron et al. ICML 2021, Table 1 (one decimal printed)", 0.04),
    ("vit-l16", 61.6, "ViT, Dosovitskiy et al. ICLR 2021 (as tabulated by DeiT/timm)", 0.04),
    ("vit-h14", 167.4, "ViT, Dosovitskiy et al. ICLR 2021 (as tabulated by DeiT/timm)", 0.04),
    ("vit-b32", 4.4, "ViT-B/32 (timm's table)", 0.04),
    ("swin-t", 4.5, "Swin, Liu et al. ICCV 2021, Table 1", 0.02),
    ("litv2-s", 3.7, "LITv2, Pan et al. NeurIPS 2022, Table 1", 0.02),
    ("evit-deit-s-0.7", 3.0, "EViT code README (youweiliang/evit), DeiT-S keep 0.7", 0.02),
    ("resnet18", 1.8, "ResNet, He et al. CVPR 2016, Table 1", 0.02),
    ("ivit-deit-s", 4.6, "DeiT, Touvron et al. ICML 2021, Table 1 (I-ViT keeps DeiT-S's GEMMs)", 0.02),
    ("mobile-vmoe-ti", 1.3, "DeiT-Ti, Touvron et al. Table 1 (k = 1: the dense model; one decimal printed)", 0.04),
    ("lgvit-vit-b16", 17.6, "ViT-B/16 backbone (DeiT-B, Touvron et al. Table 1); exits are extra", 0.02),
    ("vgg16-imagenet", 15.47, "torchvision model docs, vgg16 GFLOPS", 0.02),
    ("vgg16-cifar10", 0.313, "kuangliu/pytorch-cifar VGG16 layer shapes (0.313 GMACs by their formula)", 0.02),
)


def register_checks() -> None:
    from hwsim.validation import Tally, check

    @check("workload/zoo-macs", reference="the papers' published GFLOPs (DeiT, ViT, Swin, LITv2, EViT, ResNet, VGG)",
           compares=f"MACs of {len(PUBLISHED_GMACS)} zoo models (backbone) within 2 % (4 % where one decimal is printed)")
    def zoo_macs():
        t = Tally()
        for name, gmacs, where, tol in PUBLISHED_GMACS:
            macs = sum(op.macs for op in load_workload(name) if op.block != "exit")
            t.close(f"{name} ({where})", macs / 1e9, gmacs, tol, "GMACs")
        return t.outcome()
