"""ModelSpec: a ViT described by numbers, loaded from ``models/<name>.yaml`` or any YAML path."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hwsim.config import build, field, read_yaml
from hwsim.errors import ConfigError, UnknownName, elide, short_repr
from hwsim.resources import zoo_models
OP_CLASSES = ("matmul", "softmax", "gelu", "layernorm", "eltwise")
# Largest model accepted, in MACs per inference batch (2^50 ~ 1.1e15; ViT-H/14 at 224 px is ~1.7e11 per
# image): keeps every cycle, byte and energy count of the backends inside int64 / finite floats.
MAX_MACS = 1 << 50


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    name: str
    # Bounds: no real ViT leaves them; with MAX_MACS below they keep every count inside int64.
    image_size: int = field(224, positive=True, max=65536, doc="input height = width, pixels")
    patch: int = field(positive=True, max=65536, doc="patch edge, pixels")
    depth: int = field(positive=True, max=10_000, doc="transformer blocks")
    dim: int = field(positive=True, max=65536, doc="embedding width")
    heads: int = field(positive=True, max=65536)
    mlp_ratio: float = field(4.0, positive=True, max=64)
    in_chans: int = field(3, positive=True, max=65536)
    num_classes: int = field(1000, min=0, max=1_000_000)
    extra_tokens: int = field(1, min=0, max=65536, doc="class (+ distillation) tokens")
    batch: int = field(1, positive=True, max=65536)
    precision: dict | None = field(None, doc="bits per op class (matmul, softmax, gelu, layernorm, eltwise)")
    token_keep: tuple | None = field(None, doc="per-layer fraction of patch tokens kept (token pruning)")
    source: str = ""

    @property
    def patch_tokens(self) -> int:
        return (self.image_size // self.patch) ** 2

    @property
    def tokens(self) -> int:
        return self.patch_tokens + self.extra_tokens

    @property
    def mlp_hidden(self) -> int:
        return int(round(self.dim * self.mlp_ratio))

    def bits(self, op_class: str) -> int:
        return (self.precision or {}).get(op_class, 8)

    def macs_upper_bound(self) -> int:
        """MACs of the ops ``build_workload`` makes, with every layer at full tokens (exact without
        ``token_keep``): patch embedding, per block qkv + proj (4 d^2 per token), fc1 + fc2
        (2 d h), QK^T and AV (2 t^2 d), and the head."""
        b, t, d, h = self.batch, self.tokens, self.dim, self.mlp_hidden
        block = b * t * (4 * d * d + 2 * d * h) + 2 * b * t * t * d
        embed = b * self.patch_tokens * self.in_chans * self.patch ** 2 * d
        return embed + self.depth * block + b * d * self.num_classes

    def problems(self) -> list[str]:
        """Cross-field checks (called by ``hwsim.config.build``): each problem names the field."""
        problems = []
        if self.image_size % self.patch:
            problems.append(f"field 'image_size' = {self.image_size}: must be a multiple of patch ({self.patch})")
        if self.dim % self.heads:
            problems.append(f"field 'heads' = {self.heads}: must divide dim ({self.dim})")
        if self.mlp_hidden < 1:
            problems.append(f"field 'mlp_ratio' = {self.mlp_ratio:g}: dim x mlp_ratio rounds to "
                            f"{self.mlp_hidden} MLP units; must give at least 1")
        if isinstance(self.precision, dict):
            for key, bits in self.precision.items():
                if key not in OP_CLASSES:
                    problems.append(f"field 'precision.{elide(str(key), 40)}': unknown op class "
                                    f"(allowed: {', '.join(OP_CLASSES)})")
                elif not isinstance(bits, int) or isinstance(bits, bool) or not 1 <= bits <= 64:
                    problems.append(f"field 'precision.{key}' = {short_repr(bits)}: expected an integer bit width 1..64")
        if self.token_keep is not None:
            if len(self.token_keep) != self.depth:
                problems.append(f"field 'token_keep': has {len(self.token_keep)} entries, expected depth = {self.depth}")
            bad = [v for v in self.token_keep
                   if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v <= 1]
            if bad:
                problems.append(f"field 'token_keep' = {short_repr(bad[0])}: each entry must be a fraction in (0, 1]")
        if not problems and self.macs_upper_bound() > MAX_MACS:
            problems.append(f"model too large: {self.macs_upper_bound():.3g} MACs per inference exceeds "
                            f"{MAX_MACS:.3g} (2^50; reduce batch, image_size, depth or dim)")
        return problems


def _validate(spec: ModelSpec, source: str) -> ModelSpec:
    """Raise ConfigError(source, spec.problems()) if there are any; kept for callers of the old name."""
    problems = spec.problems()
    if problems:
        raise ConfigError(source, problems)
    return spec


def available_models() -> list[str]:
    return sorted(zoo_models())


def load_model(name_or_path: str | Path, **overrides: Any) -> ModelSpec:
    """A zoo name (``vit-b16``) or a YAML path; ``overrides`` (image_size, batch, ...) win."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.exists():
            raise UnknownName("model file", str(path), available_models())
        data = read_yaml(path)
        data.setdefault("name", path.stem)
        source = str(path)
    else:
        zoo = zoo_models().get(str(name_or_path))
        if zoo is None:
            raise UnknownName("model", str(name_or_path), available_models())
        data = read_yaml(zoo)
        data.setdefault("name", str(name_or_path))
        source = str(zoo)
    data.update({k: v for k, v in overrides.items() if v is not None})
    return build(ModelSpec, data, source)   # build runs ModelSpec.problems()
