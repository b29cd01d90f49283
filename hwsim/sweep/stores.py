"""Results on disk, crash-safe and resumable: a Parquet directory dataset of parts, or one CSV plus a journal."""
from __future__ import annotations

import json
import os
from pathlib import Path

from hwsim.errors import HwsimError

def _fsync_write(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _interval_union(ranges) -> list[tuple[int, int]]:
    out: list[list[int]] = []
    for a, b in sorted(ranges):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [tuple(r) for r in out]


class ParquetParts:
    """``OUT.parquet/`` is a directory dataset: ``_sweep.json`` (metadata) and one
    ``part-<first>-<last>.parquet`` per chunk (ids first..last-1, 12-digit zero padded). A part is
    written to a hidden temp name, fsynced, then ``os.replace``d: a crash leaves the whole chunk or nothing."""

    def __init__(self, path: Path):
        self.path = path

    def exists(self) -> bool:
        return self.path.exists() and (self.path / "_sweep.json").exists()

    def metadata(self) -> dict:
        return json.loads((self.path / "_sweep.json").read_text())

    def create(self, meta: dict, header: bytes) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        tmp = self.path / ".sweep.json.tmp"
        _fsync_write(tmp, json.dumps(meta, indent=1).encode())
        os.replace(tmp, self.path / "_sweep.json")

    def remove(self) -> None:
        import shutil
        shutil.rmtree(self.path)

    def done(self) -> list[tuple[int, int]]:
        for stale in self.path.glob(".part-*"):
            stale.unlink()
        return _interval_union(self._range(p) for p in self.parts())

    def parts(self) -> list[Path]:
        return sorted(self.path.glob("part-*.parquet"))

    @staticmethod
    def _range(p: Path) -> tuple[int, int]:
        a, b = p.stem.split("-")[1:3]
        return int(a), int(b) + 1

    def write(self, first: int, last: int, payload: bytes) -> None:
        name = f"part-{first:012d}-{last - 1:012d}.parquet"
        tmp = self.path / f".{name}.tmp"
        _fsync_write(tmp, payload)
        os.replace(tmp, self.path / name)

    def close(self) -> None:
        fd = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class CsvAppend:
    """``OUT.csv`` is one CSV file (header, then each chunk's rows appended as one block) plus a
    journal ``OUT.csv.sweep``: line 1 the metadata JSON, then ``first last end_offset`` per chunk,
    appended (and fsynced) only after the chunk's rows are fsynced. On resume the CSV is truncated to
    the last journaled offset, dropping any half-written block: no point is lost or duplicated."""

    def __init__(self, path: Path):
        self.path, self.journal = path, path.with_name(path.name + ".sweep")
        self._f = self._j = None

    def exists(self) -> bool:
        return self.journal.exists()

    def metadata(self) -> dict:
        return json.loads(self.journal.read_text().splitlines()[0])

    def create(self, meta: dict, header: bytes) -> None:
        _fsync_write(self.path, header)
        _fsync_write(self.journal, (json.dumps({**meta, "header_end": len(header)}) + "\n").encode())

    def remove(self) -> None:
        for p in (self.path, self.journal):
            if p.exists():
                p.unlink()

    def _entries(self) -> list[tuple[int, int, int]]:
        text = self.journal.read_bytes().decode()
        out = []
        for line in text.split("\n")[1:-1]:     # a line without its newline is incomplete: ignore it
            parts = line.split()
            if len(parts) == 3 and all(p.isdigit() for p in parts):
                out.append(tuple(map(int, parts)))
        return out

    def done(self) -> list[tuple[int, int]]:
        entries = self._entries()
        end = entries[-1][2] if entries else self.metadata()["header_end"]
        with open(self.path, "r+b") as f:
            f.truncate(end)
        good = "\n".join([self.journal.read_text().split("\n")[0]] + [f"{a} {b} {e}" for a, b, e in entries]) + "\n"
        tmp = self.journal.with_name(self.journal.name + ".tmp")
        _fsync_write(tmp, good.encode())
        os.replace(tmp, self.journal)
        return _interval_union((a, b) for a, b, _ in entries)

    def write(self, first: int, last: int, payload: bytes) -> None:
        if self._f is None:
            self._f, self._j = open(self.path, "ab"), open(self.journal, "ab")
        self._f.write(payload)
        self._f.flush()
        os.fsync(self._f.fileno())
        self._j.write(f"{first} {last} {self._f.tell()}\n".encode())
        self._j.flush()
        os.fsync(self._j.fileno())

    def close(self) -> None:
        for f in (self._f, self._j):
            if f is not None:
                f.close()
        self._f = self._j = None


def results_store(path: str | Path):
    path = Path(path)
    if path.suffix == ".parquet":
        return ParquetParts(path), "parquet"
    if path.suffix == ".csv":
        return CsvAppend(path), "csv"
    raise HwsimError(f"{path}: results file must end in .parquet (a directory dataset) or .csv")
