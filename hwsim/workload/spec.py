"""ModelSpec: a ViT described by numbers, loaded from ``models/<name>.yaml`` or any YAML path."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hwsim.config import build, field, read_yaml
from hwsim.errors import ConfigError, UnknownName
from hwsim.resources import zoo_models
OP_CLASSES = ("matmul", "softmax", "gelu", "layernorm", "eltwise")


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    name: str
    image_size: int = field(224, positive=True, doc="input height = width, pixels")
    patch: int = field(positive=True, doc="patch edge, pixels")
    depth: int = field(positive=True, doc="transformer blocks")
    dim: int = field(positive=True, doc="embedding width")
    heads: int = field(positive=True)
    mlp_ratio: float = field(4.0, positive=True)
    in_chans: int = field(3, positive=True)
    num_classes: int = field(1000, min=0)
    extra_tokens: int = field(1, min=0, doc="class (+ distillation) tokens")
    batch: int = field(1, positive=True)
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


def _validate(spec: ModelSpec, source: str) -> ModelSpec:
    problems = []
    if spec.image_size % spec.patch:
        problems.append(f"field 'image_size' = {spec.image_size}: must be a multiple of patch ({spec.patch})")
    if spec.dim % spec.heads:
        problems.append(f"field 'heads' = {spec.heads}: must divide dim ({spec.dim})")
    for key, bits in (spec.precision or {}).items():
        if key not in OP_CLASSES:
            problems.append(f"field 'precision.{key}': unknown op class (allowed: {', '.join(OP_CLASSES)})")
        elif not isinstance(bits, int) or isinstance(bits, bool) or not 1 <= bits <= 64:
            problems.append(f"field 'precision.{key}' = {bits!r}: expected an integer bit width 1..64")
    if spec.token_keep is not None:
        if len(spec.token_keep) != spec.depth:
            problems.append(f"field 'token_keep': has {len(spec.token_keep)} entries, expected depth = {spec.depth}")
        bad = [v for v in spec.token_keep if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v <= 1]
        if bad:
            problems.append(f"field 'token_keep' = {bad[0]!r}: each entry must be a fraction in (0, 1]")
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
    return _validate(build(ModelSpec, data, source), source)
