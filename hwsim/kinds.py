"""The one table of hardware kinds: ``kind`` -> (config class, backend), imported lazily.

A kind is a frozen config dataclass (``hwsim/hardware/<kind>.py``) and a backend implementing
:class:`hwsim.backends.base.Backend` (``hwsim/backends/<kind>.py``). Adding a kind is one line here plus
those two modules, its presets and its tests; nothing else in hwsim changes. Nothing is imported until
a kind is used, so ``hwsim --help`` and a systolic estimate never import another kind's backend.
"""
from __future__ import annotations

import importlib
from functools import lru_cache

from hwsim.errors import UnknownName

# kind -> ("module:ConfigClass", "module:BackendClass")
KINDS: dict[str, tuple[str, str]] = {
    "systolic": ("hwsim.hardware.systolic:SystolicConfig", "hwsim.backends.systolic:SystolicBackend"),
    "roofline": ("hwsim.hardware.roofline:RooflineConfig", "hwsim.backends.roofline:RooflineBackend"),
}


def _load(ref: str):
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


def _entry(kind: str) -> tuple[str, str]:
    if not isinstance(kind, str) or kind not in KINDS:
        raise UnknownName("hardware kind", str(kind), KINDS)
    return KINDS[kind]


def config_class(kind: str) -> type:
    """The frozen config dataclass of ``kind``; UnknownName lists the kinds."""
    return _load(_entry(kind)[0])


@lru_cache(maxsize=None)
def backend(kind: str):
    """The backend instance of ``kind`` (one per process)."""
    return _load(_entry(kind)[1])()


def backend_for(hw):
    """The backend of a config instance (by its ``kind``)."""
    return backend(hw.kind)
