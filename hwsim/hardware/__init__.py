"""Hardware configs: one frozen dataclass per backend kind, loaded from YAML with a ``kind:`` field.

Presets ship in ``hwsim/presets/*.yaml`` and are addressed by file stem.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from hwsim.config import build, read_yaml
from hwsim.errors import ConfigError, HwsimError, UnknownName
from hwsim.hardware.systolic import SystolicConfig

PRESETS_DIR = Path(__file__).resolve().parents[1] / "presets"

# kind -> dataclass; a new backend registers its config class here.
KINDS: dict[str, type] = {"systolic": SystolicConfig}


def available_presets() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


def hardware_from_dict(data: dict, source: str):
    kind = data.get("kind")
    if kind not in KINDS:
        raise ConfigError(source, [f"field 'kind' = {kind!r}: allowed: {', '.join(sorted(KINDS))}"])
    return build(KINDS[kind], data, source, ignore=("kind",))


def load_hardware(name_or_path: str | Path, overrides: dict[str, Any] | None = None):
    """A preset name or a YAML path, with ``overrides`` (field -> value) applied and validated."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.exists():
            raise HwsimError(f"{path}: no such hardware file (presets: {', '.join(available_presets())})")
        data, source = read_yaml(path), str(path)
        data.setdefault("name", path.stem)
    else:
        file = PRESETS_DIR / f"{name_or_path}.yaml"
        if not file.exists():
            raise UnknownName("hardware preset", str(name_or_path), available_presets())
        data, source = read_yaml(file), str(file)
        data.setdefault("name", str(name_or_path))
    if overrides:
        data.update(overrides)
        source += " (with --set " + ", ".join(f"{k}={v}" for k, v in overrides.items()) + ")"
    return hardware_from_dict(data, source)


def hardware_to_dict(hw) -> dict:
    """The YAML-ready mapping ``load_hardware`` accepts back (``kind`` first)."""
    kind = next(k for k, c in KINDS.items() if isinstance(hw, c))
    return {"kind": kind, **dataclasses.asdict(hw)}


def replace_fields(hw, source: str = "override", **changes):
    """``dataclasses.replace`` with the same validation as loading."""
    return hardware_from_dict({**hardware_to_dict(hw), **changes}, source)
