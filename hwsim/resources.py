"""Package data in one place: the model zoo, the hardware presets and the cost tables.

Everything is read through :mod:`importlib.resources`, so the same code works from a checkout, an
editable install and an installed wheel. In the repository the zoo lives in the top-level ``models/``
folder; the build maps it to the package ``hwsim.zoo`` (``setup.py``), so a wheel ships it inside hwsim.
"""
from __future__ import annotations

from functools import lru_cache
from importlib import resources
from importlib.resources.abc import Traversable

ZOO = "hwsim.zoo"          # models/*.yaml
PRESETS = "hwsim.presets"  # hwsim/presets/*.yaml
DATA = "hwsim.data"        # hwsim/data/*: cost tables (tech.yaml, unit_costs.json, ...)


def _root(package: str) -> Traversable:
    """The package's files; for the zoo run from a checkout without an install (``PYTHONPATH=repo``),
    where ``hwsim.zoo`` exists only through setup.py's mapping, the top-level ``models/`` folder."""
    try:
        return resources.files(package)
    except ModuleNotFoundError:
        if package != ZOO:
            raise
        # a checkout run without installing (PYTHONPATH=.): the zoo is the repository's models/ folder
        return resources.files("hwsim").joinpath("..", "models")


def _files(package: str, suffixes: tuple[str, ...]) -> dict[str, Traversable]:
    return {f.name.rsplit(".", 1)[0]: f for f in _root(package).iterdir()
            if f.is_file() and f.name.endswith(suffixes) and not f.name.startswith(".")}


def zoo_models() -> dict[str, Traversable]:
    """Zoo name -> its YAML file (``vit-b16`` -> models/vit-b16.yaml)."""
    return _files(ZOO, (".yaml", ".yml"))


def preset_files() -> dict[str, Traversable]:
    """Preset name -> its YAML file."""
    return _files(PRESETS, (".yaml", ".yml"))


def data_file(name: str) -> Traversable:
    """A cost table of ``hwsim/data`` by file name (``tech.yaml``)."""
    return resources.files(DATA) / name


@lru_cache(maxsize=1)
def data_digest() -> str:
    """SHA-256 over every data table the backends may read (all of ``hwsim/data``, in name order):
    derived from the package contents, so a new table is covered without being listed."""
    import hashlib
    h = hashlib.sha256()
    for name, f in sorted(_files(DATA, ("",)).items()):
        if f.name.endswith((".py", ".pyc")):
            continue
        h.update(f.name.encode() + b"\0" + f.read_bytes())
    return h.hexdigest()
