"""Backends, one module per hardware kind; the table from kind to backend is ``hwsim.kinds``."""
from __future__ import annotations

from hwsim.backends.base import Backend, OpCost
from hwsim.kinds import backend_for

__all__ = ["Backend", "OpCost", "backend_for"]
