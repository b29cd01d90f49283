"""Output paths checked before any work is done, so a long run never ends in an unwritable file."""
from __future__ import annotations

import os
from pathlib import Path

from hwsim.errors import HwsimError

# matplotlib's built-in savefig formats (Agg, PDF, PS, SVG and PIL back ends)
PLOT_SUFFIXES = (".png", ".pdf", ".svg", ".jpg", ".jpeg", ".eps", ".ps", ".tif", ".tiff", ".webp")


def check_output(path: str | None, option: str, suffixes: tuple[str, ...] | None = None, *,
                 directory: bool = False) -> None:
    """HwsimError (one line naming ``option``) unless ``path`` can be written: its parent directory exists and
    is writable, it is not a directory (a file, with ``directory=True``), and its suffix is one of
    ``suffixes`` when given. ``None`` (option not given) passes."""
    if path is None:
        return
    p = Path(path)
    if suffixes and p.suffix.lower() not in suffixes:
        raise HwsimError(f"{option} {path}: unsupported file type '{p.suffix or '(none)'}' (allowed: {', '.join(suffixes)})")
    if directory:
        if p.exists() and not p.is_dir():
            raise HwsimError(f"{option} {path}: exists and is a file, not a directory")
    elif p.is_dir():
        raise HwsimError(f"{option} {path}: is a directory, not a file")
    parent = p.parent if not (directory and p.is_dir()) else p
    while directory and not parent.exists() and parent != parent.parent:
        parent = parent.parent               # a directory to create: its first existing ancestor must be writable
    if not parent.is_dir():
        raise HwsimError(f"{option} {path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise HwsimError(f"{option} {path}: directory {parent} is not writable")
