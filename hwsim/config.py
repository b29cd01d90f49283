"""Load frozen config dataclasses from YAML mappings, validating every field in one place.

Field constraints live in the dataclass field metadata:
  ``choices`` (allowed values), ``positive`` (> 0), ``min`` (>= value), ``doc`` (shown in errors).
"""
from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Mapping

import yaml

from hwsim.errors import ConfigError, HwsimError


def read_yaml(path) -> dict:
    """Parse a YAML file (a path or an ``importlib.resources`` Traversable) that must hold a mapping;
    errors name the file and the YAML problem."""
    path = Path(path) if isinstance(path, str) else path
    path_label = str(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise HwsimError(f"{path_label}: cannot read file ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise HwsimError(f"{path_label}: malformed YAML{where}: {problem}") from None
    if not isinstance(data, dict):
        raise HwsimError(f"{path_label}: expected a YAML mapping of field: value, got {type(data).__name__}")
    return data


def _type_name(tp) -> str:
    return {int: "integer", float: "number", bool: "true/false", str: "string"}.get(tp, getattr(tp, "__name__", str(tp)))


def _base_types(tp) -> tuple:
    """The accepted runtime types for an annotation (Optional unwrapped)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return tuple(t for a in typing.get_args(tp) for t in _base_types(a))
    if origin is not None:
        return (origin,)
    return (tp,)


def coerce(value: Any, tp) -> Any:
    """Check/convert one YAML value to an annotation's type; raises ValueError with what is allowed."""
    allowed = _base_types(tp)
    if value is None and type(None) in allowed:
        return None
    if bool in allowed and isinstance(value, bool):
        return value
    if int in allowed and isinstance(value, int) and not isinstance(value, bool):
        return value
    if float in allowed and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if str in allowed and isinstance(value, str):
        return value
    if float in allowed and isinstance(value, str):
        try:   # PyYAML (YAML 1.1) reads 1.0e9 without a sign as a string
            return float(value)
        except ValueError:
            pass
    if tuple in allowed and isinstance(value, (list, tuple)):
        return tuple(value)
    if dict in allowed and isinstance(value, dict):
        return value
    names = " or ".join(_type_name(t) for t in allowed if t is not type(None))
    raise ValueError(f"expected {names}")


def check_field(value, f: dataclasses.Field, hint):
    """``value`` coerced to the field's type ``hint`` and checked against its metadata (choices,
    positive, min); ``None`` passes for optional fields. ValueError says what is allowed."""
    value = coerce(value, hint)
    if value is not None:
        meta = f.metadata
        if "choices" in meta and value not in meta["choices"]:
            raise ValueError(f"allowed: {', '.join(map(str, meta['choices']))}")
        if meta.get("positive") and not value > 0:
            raise ValueError("must be > 0")
        if "min" in meta and value < meta["min"]:
            raise ValueError(f"must be >= {meta['min']}")
    return value


def build(cls, data: Mapping[str, Any], source: str, *, ignore: tuple[str, ...] = ()):
    """Instantiate frozen dataclass ``cls`` from ``data``; collect every bad field and raise once."""
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    hints = typing.get_type_hints(cls)
    problems: list[str] = []
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key in ignore:
            continue
        if key not in fields:
            problems.append(f"unknown field '{key}' (allowed: {', '.join(sorted(fields))})")
            continue
        try:
            value = check_field(value, fields[key], hints[key])
        except ValueError as exc:
            problems.append(f"field '{key}' = {value!r}: {exc}")
            continue
        kwargs[key] = value
    missing = [n for n, f in fields.items() if n not in kwargs and n not in ignore
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
               and not any(p.startswith(f"field '{n}'") for p in problems)]
    problems += [f"missing field '{n}'" for n in missing]
    if problems:
        raise ConfigError(source, problems)
    return cls(**kwargs)


def parse_overrides(items: list[str] | None) -> dict[str, Any]:
    """``["rows=32", "dataflow=os"]`` -> ``{"rows": 32, "dataflow": "os"}`` (values parsed as YAML scalars)."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise HwsimError(f"--set {item!r}: expected FIELD=VALUE")
        try:
            out[key.strip()] = yaml.safe_load(raw) if raw.strip() else raw
        except yaml.YAMLError:
            out[key.strip()] = raw
    return out


def field(default=dataclasses.MISSING, *, doc: str = "", **constraints):
    """A dataclass field with validation metadata (see module docstring)."""
    return dataclasses.field(default=default, metadata={"doc": doc, **constraints})
