"""Backends by hardware kind. Adding one = a module here + its config class in hwsim.hardware.KINDS."""
from __future__ import annotations

from hwsim.backends.base import Backend, OpCost
from hwsim.backends.systolic import SystolicBackend
from hwsim.errors import UnknownName

BACKENDS: dict[str, Backend] = {"systolic": SystolicBackend()}


def backend_for(hw) -> Backend:
    for backend in BACKENDS.values():
        if isinstance(hw, backend.config):
            return backend
    raise UnknownName("backend for hardware", type(hw).__name__, BACKENDS)


__all__ = ["Backend", "OpCost", "BACKENDS", "backend_for"]
