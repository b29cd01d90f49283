"""Hardware configs: one frozen dataclass per kind (``hwsim.kinds``), loaded from YAML with a ``kind:`` field.

Presets ship as package data (``hwsim/presets/*.yaml``, read through ``hwsim.resources``) and are
addressed by file stem. Every config class has a ``kind`` class attribute and ``describe()``, a one-line
summary for ``hwsim presets``.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from hwsim import kinds
from hwsim.config import build, read_yaml
from hwsim.errors import ConfigError, HwsimError, UnknownName, elide, short_repr
from hwsim.resources import preset_files


def available_presets() -> list[str]:
    return sorted(preset_files())


def hardware_from_dict(data: dict, source: str):
    kind = data.get("kind")
    if not isinstance(kind, str) or kind not in kinds.KINDS:
        shown = short_repr(kind) if isinstance(kind, (str, int, float, type(None))) else type(kind).__name__
        raise ConfigError(source, [f"field 'kind' = {shown}: allowed: {', '.join(sorted(kinds.KINDS))}"])
    return build(kinds.config_class(kind), data, source, ignore=("kind",))


def load_hardware(name_or_path: str | Path, overrides: dict[str, Any] | None = None):
    """A preset name or a YAML path, with ``overrides`` (field -> value) applied and validated."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.exists():
            raise HwsimError(f"{path}: no such hardware file (presets: {', '.join(available_presets())})")
        data, source = read_yaml(path), str(path)
        data.setdefault("name", path.stem)
    else:
        file = preset_files().get(str(name_or_path))
        if file is None:
            raise UnknownName("hardware preset", str(name_or_path), available_presets())
        data, source = read_yaml(file), str(file)
        data.setdefault("name", str(name_or_path))
    if overrides:
        data.update(overrides)
        source += " (with --set " + ", ".join(f"{k}={elide(str(v), 40)}" for k, v in overrides.items()) + ")"
    return hardware_from_dict(data, source)


def hardware_to_dict(hw) -> dict:
    """The YAML-ready mapping ``load_hardware`` accepts back (``kind`` first)."""
    return {"kind": hw.kind, **dataclasses.asdict(hw)}


def replace_fields(hw, source: str = "override", **changes):
    """``dataclasses.replace`` with the same validation as loading."""
    return hardware_from_dict({**hardware_to_dict(hw), **changes}, source)
