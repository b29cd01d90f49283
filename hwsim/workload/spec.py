"""ModelSpec: a ViT described by numbers, loaded from ``models/<name>.yaml`` or any YAML path.

Two forms share the zoo: the isotropic ViT (:class:`ModelSpec`, fields below) and the hierarchical
form (:class:`hwsim.workload.hier.NetSpec`: ``stages`` of blocks, for Swin/LITv2-style ViTs and
CNNs), chosen by the presence of a ``stages`` field. The workload features of
:mod:`hwsim.workload.features` are optional fields of the isotropic form.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hwsim.config import build, field, read_yaml
from hwsim.errors import ConfigError, UnknownName
from hwsim.resources import zoo_models
from hwsim.workload import features as F
from hwsim.workload.blocks import NumericsMixin
from hwsim.workload.ops import GELU_VARIANTS

OP_CLASSES = F.OP_CLASSES
# Largest model accepted, in MACs per inference batch (2^50 ~ 1.1e15; ViT-H/14 at 224 px is ~1.7e11 per
# image): keeps every cycle, byte and energy count of the backends inside int64 / finite floats.
MAX_MACS = 1 << 50
NESTED = {"token_reduction": F.TokenReduction, "moe": F.MoESpec, "early_exit": F.EarlyExit}


@dataclass(frozen=True, kw_only=True)
class ModelSpec(NumericsMixin):
    name: str
    image_size: int = field(224, positive=True, max=65536, doc="input height = width, pixels")
    image_width: int | None = field(None, positive=True, max=65536, doc="input width when not square (default image_size)")
    patch: int = field(positive=True, max=65536, doc="patch edge, pixels")
    depth: int = field(positive=True, max=10_000, doc="transformer blocks")
    dim: int = field(positive=True, max=65536, doc="embedding width")
    heads: int = field(positive=True, max=65536)
    mlp_ratio: float = field(4.0, positive=True, max=64)
    in_chans: int = field(3, positive=True, max=65536)
    num_classes: int = field(1000, min=0, max=1_000_000)
    extra_tokens: int = field(1, min=0, max=65536, doc="class (+ distillation) tokens")
    batch: int = field(1, positive=True, max=65536)
    precision: dict | None = field(None, doc="bits per op class or GEMM role (qkv, qk, av, proj, fc1, fc2, ...)")
    layer_precision: dict | None = field(None, doc="{layer: {op class or role: bits}}, wins over precision")
    arith: dict | None = field(None, doc="GEMM arithmetic per class or role: mul, shift, add (ShiftAddViT)")
    layer_arith: dict | None = field(None, doc="{layer: {class or role: mul|shift|add}}")
    integer_only: bool = field(False, doc="I-ViT: softmax, GELU and LayerNorm are integer-only units")
    gelu: str = field("gelu", choices=GELU_VARIANTS, doc="MLP activation computed")
    attention: str | tuple = field("softmax", doc="attention kind, or per layer a kind or a list per head")
    attention_mask: str | None = field(None, doc="layer x head mask file (kind names or 0/1)")
    attention_mask_kinds: tuple = field(("scaling", "relu_softmax"), doc="kinds meant by 0 and 1 in the mask")
    hilo_alpha: float = field(0.9, min=0, max=1, doc="hilo: fraction of heads that are Lo-Fi (LITv2 alpha)")
    hilo_window: int = field(2, positive=True, max=65536, doc="hilo: Hi-Fi window edge = Lo-Fi pooling, tokens")
    dwconv_kernel: int = field(3, positive=True, max=65536, doc="shared_dwconv: kernel edge")
    token_keep: tuple | None = field(None, doc="per-layer fraction of patch tokens kept (token pruning)")
    token_reduction: F.TokenReduction | None = None
    moe: F.MoESpec | None = None
    early_exit: F.EarlyExit | None = None
    final_norm: bool = field(True, doc="LayerNorm after the last block (False: the encoder ends at the last block)")
    source: str = ""
    spec_file: str = ""

    @property
    def width(self) -> int:
        """Input width in pixels (``image_width``, else square)."""
        return self.image_width or self.image_size

    @property
    def patch_tokens(self) -> int:
        return (self.image_size // self.patch) * (self.width // self.patch)

    @property
    def tokens(self) -> int:
        return self.patch_tokens + self.extra_tokens

    @property
    def mlp_hidden(self) -> int:
        return int(round(self.dim * self.mlp_ratio))

    def macs_upper_bound(self) -> int:
        """An upper bound of the MACs ``build_workload`` makes, with every layer at full tokens and a dense MLP
        (MoE experts, exits and token selection stay within a small factor of it): patch embedding, per block
        qkv + proj (4 d^2 per token), fc1 + fc2 (2 d h), QK^T and AV (2 t^2 d), and the head."""
        b, t, d, h = self.batch, self.tokens, self.dim, self.mlp_hidden
        block = b * t * (4 * d * d + 2 * d * h) + 2 * b * t * t * d
        embed = b * self.patch_tokens * self.in_chans * self.patch ** 2 * d
        return embed + self.depth * block + b * d * self.num_classes

    def head_kinds(self) -> list[list[str]]:
        """Attention kind of every head of every layer (``depth`` x ``heads``)."""
        if self.attention_mask:
            mask = Path(self.attention_mask)
            if not mask.is_absolute() and self.spec_file:
                mask = Path(self.spec_file).parent / mask
            return F.read_head_mask(mask, self.depth, self.heads, tuple(self.attention_mask_kinds))
        problems: list[str] = []
        kinds = F.check_attention(self.attention, self.depth, self.heads, problems)
        if problems:
            raise ConfigError(self.spec_file or self.name, problems)
        return kinds


def _validate(spec: ModelSpec, source: str) -> ModelSpec:
    problems = []
    if spec.image_size % spec.patch:
        problems.append(f"field 'image_size' = {spec.image_size}: must be a multiple of patch ({spec.patch})")
    if spec.width % spec.patch:
        problems.append(f"field 'image_width' = {spec.image_width}: must be a multiple of patch ({spec.patch})")
    if spec.dim % spec.heads:
        problems.append(f"field 'heads' = {spec.heads}: must divide dim ({spec.dim})")
    if spec.mlp_hidden < 1:
        problems.append(f"field 'mlp_ratio' = {spec.mlp_ratio:g}: dim x mlp_ratio rounds to "
                        f"{spec.mlp_hidden} MLP units; must give at least 1")
    F.check_bits_map(spec.precision, "precision", problems)
    F.check_layer_maps(spec.layer_precision, spec.depth, "layer_precision", F.check_bits_map, problems)
    F.check_arith_map(spec.arith, "arith", problems)
    F.check_layer_maps(spec.layer_arith, spec.depth, "layer_arith", F.check_arith_map, problems)
    if spec.token_keep is not None:
        if len(spec.token_keep) != spec.depth:
            problems.append(f"field 'token_keep': has {len(spec.token_keep)} entries, expected depth = {spec.depth}")
        bad = [v for v in spec.token_keep if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v <= 1]
        if bad:
            problems.append(f"field 'token_keep' = {bad[0]!r}: each entry must be a fraction in (0, 1]")
    if spec.attention_mask is None:
        F.check_attention(spec.attention, spec.depth, spec.heads, problems)
    if len(spec.attention_mask_kinds) != 2 or any(k not in F.ATTENTION_KINDS for k in spec.attention_mask_kinds):
        problems.append(f"field 'attention_mask_kinds' = {list(spec.attention_mask_kinds)!r}: two kinds from "
                        f"{', '.join(F.ATTENTION_KINDS)}")
    if not 0 <= spec.hilo_alpha <= 1:
        problems.append(f"field 'hilo_alpha' = {spec.hilo_alpha}: must be in [0, 1]")
    if spec.token_reduction is not None:
        if spec.token_keep is not None:
            problems.append("field 'token_reduction': cannot be combined with token_keep")
        spec.token_reduction.resolve(spec.depth, problems)
    if spec.moe is not None:
        spec.moe.check(spec.depth, problems)
    if spec.early_exit is not None:
        spec.early_exit.check(spec.depth, problems)
    if not problems and spec.macs_upper_bound() > MAX_MACS:
        problems.append(f"model too large: {spec.macs_upper_bound():.3g} MACs per inference exceeds "
                        f"{MAX_MACS:.3g} (2^50; reduce batch, image_size, depth or dim)")
    if problems:
        raise ConfigError(source, problems)
    if spec.attention_mask:
        spec.head_kinds()  # reads and checks the mask file now: bad files fail at load, not at build
    return spec


def available_models() -> list[str]:
    return sorted(zoo_models())


def _resolve(name_or_path: str | Path) -> tuple[dict, str]:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.exists():
            raise UnknownName("model file", str(path), available_models())
        data = read_yaml(path)
        data.setdefault("name", path.stem)
        return data, str(path)
    zoo = zoo_models().get(str(name_or_path))
    if zoo is None:
        raise UnknownName("model", str(name_or_path), available_models())
    data = read_yaml(zoo)
    data.setdefault("name", str(name_or_path))
    return data, str(zoo)


def spec_from_dict(data: dict, source: str) -> "ModelSpec | Any":
    """Build and validate a spec (isotropic or hierarchical) from a YAML mapping; ``source`` names the
    file in errors."""
    data = dict(data)
    if "stages" in data:
        from hwsim.workload.hier import net_from_dict
        return net_from_dict(data, source)
    nested: dict[str, Any] = {}
    problems: list[str] = []
    for key, cls in NESTED.items():
        raw = data.pop(key, None)
        if raw is None:
            continue
        if not isinstance(raw, dict):
            problems.append(f"field '{key}' = {raw!r}: expected a mapping")
            continue
        try:
            nested[key] = build(cls, raw, source)
        except ConfigError as exc:
            problems += F.prefix_problems(exc.problems, key)
    data.setdefault("spec_file", source)
    try:
        spec = build(ModelSpec, data, source)
    except ConfigError as exc:
        raise ConfigError(source, exc.problems + problems) from None
    if problems:
        raise ConfigError(source, problems)
    return _validate(dataclasses.replace(spec, **nested), source)


def load_model(name_or_path: str | Path, **overrides: Any):
    """A zoo name (``vit-b16``) or a YAML path; ``overrides`` (image_size, batch, ...) win.
    Returns a :class:`ModelSpec` (isotropic ViT) or a :class:`hwsim.workload.hier.NetSpec`
    (``stages`` form). Raises :class:`UnknownName` / :class:`ConfigError` / :class:`HwsimError`."""
    data, source = _resolve(name_or_path)
    data.update({k: v for k, v in overrides.items() if v is not None})
    return spec_from_dict(data, source)
