"""Load frozen config dataclasses from YAML mappings, validating every field in one place.

Field constraints live in the dataclass field metadata:
  ``choices`` (allowed values), ``positive`` (> 0), ``min`` (>= value), ``max`` (<= value; every
  numeric field states one, so sizes are bounded before anything is computed), ``max_why`` (shown
  with a range error), ``doc``. Numbers must be finite; integers must fit in int64. A dataclass may
  define ``problems(self) -> list[str]`` for cross-field checks; :func:`build` calls it.
"""
from __future__ import annotations

import dataclasses
import math
import os
import types
import typing
from pathlib import Path
from typing import Any, Mapping

import yaml

from hwsim.errors import MAX_PATH_CHARS, ConfigError, HwsimError, elide, short_repr


# Limits on every input file, checked before anything else is done with it. No real config, model or
# sweep spec comes near them; they bound the work a hostile or broken file can cause.
MAX_INPUT_BYTES = 4 << 20    # 4 MiB: the largest shipped input is ~2 KiB
MAX_YAML_DEPTH = 32          # nesting levels, aliases expanded (shipped files: <= 4)
MAX_YAML_NODES = 100_000     # scalars + collections, aliases expanded (alias/"billion laughs" bombs)
INT64_MAX = (1 << 63) - 1    # every count is an int64 in numpy: larger integers are refused


def read_text(path, what: str = "file", max_bytes: int = MAX_INPUT_BYTES) -> str:
    """The text of a user file (a path or an ``importlib.resources`` Traversable): at most ``max_bytes``
    bytes of UTF-8 (a leading BOM is dropped).

    Raises HwsimError naming the file for an unreadable or oversized file and for bytes that are not
    UTF-8 (with the line and column of the first bad byte)."""
    path = Path(path) if isinstance(path, str) else path
    try:
        with (open(path, "rb") if isinstance(path, os.PathLike) else path.open("rb")) as f:
            raw = f.read(max_bytes + 1)
    except OSError as exc:
        raise HwsimError(f"{elide(path, MAX_PATH_CHARS)}: cannot read {what} ({exc.strerror or exc})") from None
    if len(raw) > max_bytes:
        raise HwsimError(f"{elide(path, MAX_PATH_CHARS)}: {what} larger than {max_bytes >> 20} MiB (the limit for an input file)")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise HwsimError(f"{elide(path, MAX_PATH_CHARS)}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at line {line}, "
                         f"column {col}); save the {what} as UTF-8") from None


class StrictLoader(yaml.SafeLoader):
    """PyYAML's SafeLoader that also refuses duplicate mapping keys at any depth (SafeLoader keeps the
    last one silently) and nesting deeper than ``MAX_YAML_DEPTH`` while composing (instead of a
    ``RecursionError``). Alias expansion is bounded by :func:`_check_graph` before construction."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise yaml.composer.ComposerError(None, None, f"nested deeper than {MAX_YAML_DEPTH} levels",
                                                  self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.setdefault(key, key_node)
                except TypeError:
                    raise yaml.constructor.ConstructorError(None, None, "unhashable mapping key",
                                                            key_node.start_mark) from None
                if first is not key_node:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {short_repr(key, 40)} (first at line "
                                    f"{first.start_mark.line + 1})", key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


def _check_graph(node) -> None:
    """Refuse a composed YAML node graph whose alias-expanded tree is deeper than ``MAX_YAML_DEPTH``,
    larger than ``MAX_YAML_NODES`` or recursive. Linear in the number of distinct nodes (sizes and
    heights are memoised per node, so an alias bomb is measured without being expanded)."""
    memo: dict[int, tuple[int, int]] = {}
    active: set[int] = set()

    def measure(n, depth):
        key = id(n)
        if key in active:
            raise yaml.composer.ComposerError(None, None, "recursive alias (a node that contains itself)",
                                              n.start_mark)
        if key not in memo:
            if depth > MAX_YAML_DEPTH:
                raise yaml.composer.ComposerError(None, None, f"nested deeper than {MAX_YAML_DEPTH} levels "
                                                  "(aliases expanded)", n.start_mark)
            active.add(key)
            size, height = 1, 1
            children = [] if isinstance(n, yaml.ScalarNode) else \
                n.value if isinstance(n, yaml.SequenceNode) else [c for kv in n.value for c in kv]
            for c in children:
                s, h = measure(c, depth + 1)
                size, height = size + s, max(height, h + 1)
                if size > MAX_YAML_NODES:
                    raise yaml.composer.ComposerError(None, None, f"more than {MAX_YAML_NODES:,} values once "
                                                      "aliases are expanded", n.start_mark)
            active.discard(key)
            memo[key] = (size, height)
        size, height = memo[key]
        if depth + height - 1 > MAX_YAML_DEPTH:
            raise yaml.composer.ComposerError(None, None, f"nested deeper than {MAX_YAML_DEPTH} levels "
                                              "(aliases expanded)", n.start_mark)
        return size, height

    measure(node, 1)


def _check_flow_depth(text: str) -> None:
    """Refuse flow collections (``[``/``{``) nested deeper than ``MAX_YAML_DEPTH`` before PyYAML scans
    them: its scanner tracks a possible simple key per flow level, which is quadratic in the depth
    (1,000 levels take seconds). Brackets inside quotes and comments are skipped; a bracket inside a
    plain scalar counts, which can only make the check stricter than YAML for > 32 unbalanced ones."""
    depth, quote, comment, line, col, prev = 0, "", False, 1, 0, "\n"
    for ch in text:
        col += 1
        if ch == "\n":
            line, col, comment, prev = line + 1, 0, False, "\n"
            continue
        if comment:
            continue
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"" and prev in "\n:[{,-? ":     # a quoted scalar starts after an indicator
            quote = ch
        elif ch == "#" and prev in "\n \t":
            comment = True
        elif ch in "[{":
            depth += 1
            if depth > MAX_YAML_DEPTH:
                raise yaml.composer.ComposerError(None, None, f"nested deeper than {MAX_YAML_DEPTH} levels",
                                                  yaml.Mark("", 0, line - 1, col - 1, None, None))
        elif ch in "]}":
            depth = max(0, depth - 1)
        prev = " " if ch in " \t" else ch


def load_yaml_text(text: str):
    """Parse one YAML document with :class:`StrictLoader` and the limits above; raises ``yaml.YAMLError``."""
    _check_flow_depth(text)
    loader = StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_graph(node)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    problem = getattr(exc, "problem", None) or (str(exc).splitlines() or ["unreadable"])[0]
    return f"malformed YAML{where}: {elide(problem)}"


def read_yaml(path) -> dict:
    """Parse a YAML file (a path or an ``importlib.resources`` Traversable) that must hold a mapping;
    errors name the file and the YAML problem.

    Refused with HwsimError (one line): unreadable, over ``MAX_INPUT_BYTES`` or non-UTF-8 files,
    malformed YAML, duplicate keys at any depth, nesting over ``MAX_YAML_DEPTH``, more than
    ``MAX_YAML_NODES`` values once aliases are expanded, recursive aliases, and a top level that is
    not a mapping."""
    text = read_text(path)
    try:
        data = load_yaml_text(text)
    except yaml.YAMLError as exc:
        raise HwsimError(f"{elide(path, MAX_PATH_CHARS)}: {_yaml_problem(exc)}") from None
    except RecursionError:      # defensive: the limits above make this unreachable
        raise HwsimError(f"{elide(path, MAX_PATH_CHARS)}: malformed YAML: nested too deeply") from None
    if not isinstance(data, dict):
        raise HwsimError(f"{elide(path, MAX_PATH_CHARS)}: expected a YAML mapping of field: value, got {type(data).__name__}")
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
    """Check/convert one YAML value to an annotation's type; raises ValueError with what is allowed.

    Numbers must be finite (NaN and infinity are refused) and integers must fit in int64."""
    allowed = _base_types(tp)
    if value is None and type(None) in allowed:
        return None
    if bool in allowed and isinstance(value, bool):
        return value
    if int in allowed and isinstance(value, int) and not isinstance(value, bool):
        if not -INT64_MAX - 1 <= value <= INT64_MAX:
            raise ValueError("must fit in a 64-bit integer")
        return value
    if float in allowed and isinstance(value, (int, float)) and not isinstance(value, bool):
        return _finite(value)
    if str in allowed and isinstance(value, str):
        return value
    if float in allowed and isinstance(value, str):
        try:   # PyYAML (YAML 1.1) reads 1.0e9 without a sign as a string
            number = float(value)
        except ValueError:
            pass
        else:
            return _finite(number)
    if tuple in allowed and isinstance(value, (list, tuple)):
        return tuple(value)
    if dict in allowed and isinstance(value, dict):
        return value
    names = " or ".join(_type_name(t) for t in allowed if t is not type(None))
    raise ValueError(f"expected {names}")


def _finite(value) -> float:
    try:
        number = float(value)
    except OverflowError:
        raise ValueError("must be a finite number") from None
    if not math.isfinite(number):
        raise ValueError("must be a finite number (not NaN or infinity)")
    return number


def _num(x) -> str:
    """A bound for a message: integers with thousands separators, floats in %g."""
    return f"{x:,}" if isinstance(x, int) else f"{x:g}"


def check_field(value, f: dataclasses.Field, hint):
    """``value`` coerced to the field's type ``hint`` and checked against its metadata (``choices``,
    ``positive``, ``min``, ``max``); ``None`` passes for optional fields. ValueError says what is allowed
    (e.g. "must be <= 65,536")."""
    value = coerce(value, hint)
    if value is not None:
        meta = f.metadata
        if "choices" in meta and value not in meta["choices"]:
            raise ValueError(f"allowed: {', '.join(map(str, meta['choices']))}")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if meta.get("positive") and not value > 0:
                raise ValueError("must be > 0")
            if "min" in meta and value < meta["min"]:
                raise ValueError(f"must be >= {_num(meta['min'])}")
            if "max" in meta and value > meta["max"]:
                why = f" ({meta['max_why']})" if "max_why" in meta else ""
                raise ValueError(f"must be <= {_num(meta['max'])}{why}")
    return value


def build(cls, data: Mapping[str, Any], source: str, *, ignore: tuple[str, ...] = ()):
    """Instantiate frozen dataclass ``cls`` from ``data``; collect every bad field and raise once.

    After the fields pass one by one, the cross-field hook ``cls.problems(self) -> list[str]`` (if the
    class defines one) adds what no single field shows (e.g. ``acc_bits`` below ``word_bits``); its
    problems are raised in the same ConfigError."""
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    hints = typing.get_type_hints(cls)
    problems: list[str] = []
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key in ignore:
            continue
        if not isinstance(key, str) or key not in fields:
            problems.append(_unknown_field(key, fields))
            continue
        try:
            value = check_field(value, fields[key], hints[key])
        except ValueError as exc:
            problems.append(f"field '{key}' = {short_repr(value)}: {exc}")
            continue
        kwargs[key] = value
    missing = [n for n, f in fields.items() if n not in kwargs and n not in ignore
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
               and not any(p.startswith(f"field '{n}'") for p in problems)]
    problems += [f"missing field '{n}'" for n in missing]
    if problems:
        raise ConfigError(source, problems)
    obj = cls(**kwargs)
    hook = getattr(obj, "problems", None)
    if callable(hook):
        problems = list(hook())
        if problems:
            raise ConfigError(source, problems)
    return obj


def _unknown_field(key, fields) -> str:
    """``unknown field 'x'``, with the closest names if any, else the allowed ones (elided)."""
    import difflib
    close = difflib.get_close_matches(str(key), list(fields), n=3)
    if close:
        return f"unknown field {short_repr(key, 40)} (did you mean {' or '.join(map(repr, close))}?)"
    return f"unknown field {short_repr(key, 40)} (allowed: {elide(', '.join(sorted(fields)), 150)})"


def parse_overrides(items: list[str] | None) -> dict[str, Any]:
    """``["rows=32", "dataflow=os"]`` -> ``{"rows": 32, "dataflow": "os"}`` (values parsed as YAML
    scalars with the same strict loader and limits as files; unparsable text stays a string)."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise HwsimError(f"--set {short_repr(item)}: expected FIELD=VALUE")
        if key.strip() in out:
            raise HwsimError(f"--set {short_repr(key.strip(), 40)} given twice")
        try:
            out[key.strip()] = load_yaml_text(raw) if raw.strip() else raw
        except yaml.YAMLError:
            out[key.strip()] = raw
        except RecursionError:
            raise HwsimError(f"--set {short_repr(key.strip(), 40)}: value nested too deeply") from None
    return out


def field(default=dataclasses.MISSING, *, doc: str = "", **constraints):
    """A dataclass field with validation metadata (see module docstring)."""
    return dataclasses.field(default=default, metadata={"doc": doc, **constraints})
