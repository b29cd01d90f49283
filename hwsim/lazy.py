"""numpy, loaded on first use: the analytic estimate and ``hwsim --help`` never touch it, and importing it
costs 0.14-0.22 s here, most of the 0.3 s an analytic ViT estimate may take (issue 12). Modules on that path
bind ``np = numpy()``; any attribute access loads the real module (the standard library's
:class:`importlib.util.LazyLoader` recipe from the ``importlib`` documentation, "Implementing lazy imports").
A process that imported numpy already gets the loaded module. tests/test_seam.py checks that an
analytic systolic estimate does not load it."""
from __future__ import annotations

import importlib.util
import sys


def numpy():
    """The ``numpy`` module, loaded at its first attribute access (``sys.modules`` holds it from here on,
    so a later ``import numpy`` elsewhere gets the same module and loads it)."""
    if "numpy" in sys.modules:
        return sys.modules["numpy"]
    spec = importlib.util.find_spec("numpy")
    spec.loader = importlib.util.LazyLoader(spec.loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules["numpy"] = module
    spec.loader.exec_module(module)
    return module
