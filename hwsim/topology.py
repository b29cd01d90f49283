"""Reading SCALE-Sim topology files (the GEMM format: rows ``name,M,N,K,``)."""
from __future__ import annotations

import csv
from pathlib import Path

from hwsim.errors import HwsimError


def positive_int(text: str, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise HwsimError(f"{what} = {text!r}: expected a positive integer") from None
    if value <= 0:
        raise HwsimError(f"{what} = {value}: must be > 0")
    return value


def read_topology(path: str) -> list[tuple[str, int, int, int]]:
    """SCALE-Sim GEMM topology CSV: rows ``name,M,N,K,`` (a header row is skipped)."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise HwsimError(f"{path}: cannot read topology ({exc.strerror})") from None
    rows = []
    for lineno, row in enumerate(csv.reader(text.splitlines()), 1):
        cells = [c.strip() for c in row if c.strip()]
        if not cells or cells[0].startswith("#"):
            continue
        if len(cells) < 4:
            raise HwsimError(f"{path}:{lineno}: expected 'name,M,N,K,', got {','.join(row)!r}")
        if not cells[1].lstrip("-").isdigit():
            if lineno == 1 or not rows:
                continue   # header
        m, n, k = (positive_int(c, f"{path}:{lineno}: {d}") for c, d in zip(cells[1:4], "MNK"))
        rows.append((cells[0], m, n, k))
    if not rows:
        raise HwsimError(f"{path}: no GEMM rows (expected 'name,M,N,K,' lines)")
    return rows
