"""`hwsim validate`: every fidelity cross-check of the project, re-run against its recorded reference data.

A check is a function registered with :func:`check` in the module that owns what it checks (a backend, the
golden models, the sweep evaluator, ...). It compares the current code against reference data recorded from an
independent source (a peer tool's run, a paper's table, the papers' own code) shipped as package data in
``hwsim/data/reference/`` (read with :func:`reference_data`), and returns an :class:`Outcome`. Nothing here
runs a peer tool or touches the network: the scripts in ``benchmarks/`` run the live tools and regenerate the
recorded data.

Checks are found by importing every backend module named in :data:`hwsim.kinds.KINDS` (a new kind adds its
checks by registering them in its own module; nothing else changes) and the non-backend owners in
:data:`OWNERS`, and calling each one's ``register_checks()``: a module registers its checks there, not at
import, so estimating never pays for them. The table groups them by area (the part of the name before "/": a
kind, then :data:`AREAS`).
"""
from __future__ import annotations

import importlib
import json
import time
from dataclasses import asdict, dataclass
from typing import Callable, Iterable


#: Modules owning checks that are not backends (backends are found through the kind table).
OWNERS = ("hwsim.backends.scalesim_model", "hwsim.backends.systolic_pe",
          "hwsim.backends.systolic_mapping", "hwsim.fpga_array",
          "hwsim.workload.load", "hwsim.workload.importers.torch_import", "rtl.reference", "rtl.verify")

#: Check-name areas after the kinds (a check is named "area/what"; the table groups by area in this order).
AREAS = ("workload", "golden", "rtl")

STATUSES = ("pass", "FAIL", "skipped", "--full")   # "--full": a long check not run by default


@dataclass(frozen=True)
class Outcome:
    """What one check found. ``agreement`` is short text ("exact", "max error 0.4 %", "ratio 1.00-1.13");
    ``disagreement`` names the first case outside the check's tolerance with both values."""
    cases: int
    agreement: str
    passed: bool
    disagreement: str | None = None


@dataclass(frozen=True)
class Check:
    """A registered cross-check: ``run()`` -> :class:`Outcome`. ``full`` checks run only with ``--full``;
    ``requires`` names optional modules (extras) without which the check is skipped, not failed."""
    name: str
    reference: str
    compares: str
    run: Callable[[], Outcome]
    module: str
    full: bool = False
    requires: tuple[str, ...] = ()


@dataclass(frozen=True)
class Result:
    """One row of the table (JSON: these fields)."""
    name: str
    reference: str
    compares: str
    cases: int
    agreement: str
    status: str
    disagreement: str | None = None
    seconds: float = 0.0
    module: str = ""


_REGISTRY: dict[str, Check] = {}
_DISCOVERED: set[str] = set()   # modules whose register_checks() ran


class Skipped(Exception):
    """Raised by a check that cannot run here (a tool or the repository checkout is missing): the message says
    what it needs; the check is reported as skipped, not failed."""


def check(name: str, *, reference: str, compares: str, full: bool = False, requires: Iterable[str] = ()):
    """Decorator registering ``fn() -> Outcome`` as the cross-check ``name`` (unique, "area/what").

    ``reference`` names the independent source (paper and table, tool and version, or code and commit) and
    its recorded data; ``compares`` says which quantities are compared."""
    def register(fn: Callable[[], Outcome]) -> Callable[[], Outcome]:
        if name in _REGISTRY and _REGISTRY[name].module != fn.__module__:
            raise ValueError(f"check {name!r} registered twice ({_REGISTRY[name].module}, {fn.__module__})")
        _REGISTRY[name] = Check(name, reference, compares, fn, fn.__module__, full, tuple(requires))
        return fn
    return register


def reference_data(name: str):
    """The recorded reference data ``hwsim/data/reference/<name>`` (JSON, or gzip-compressed JSON for
    ``*.json.gz``), as parsed Python objects."""
    from hwsim.resources import data_file
    raw = data_file("reference").joinpath(name).read_bytes()
    if name.endswith(".gz"):
        import gzip
        raw = gzip.decompress(raw)
    return json.loads(raw)


class Tally:
    """Collects comparisons of hwsim (``got``) against a reference (``want``), case by case.

    A case (a GEMM, a layer, an input set) may compare several quantities (``what``); ``cases`` counts the
    distinct cases. ``exact`` comparisons must be equal; ``close`` ones may differ by a relative error up to
    ``tol`` (|got / want - 1|, reported as the maximum over the comparisons). The first comparison outside
    its tolerance is kept, with both values, for the report."""

    def __init__(self) -> None:
        self._cases: set[str] = set()
        self.max_error = 0.0
        self.inexact = False
        self.first_bad: str | None = None

    @property
    def cases(self) -> int:
        return len(self._cases)

    def _bad(self, case: str, what: str, text: str) -> None:
        if self.first_bad is None:
            self.first_bad = f"{case}{' ' + what if what else ''}: {text}"

    def exact(self, case: str, got, want, what: str = "") -> bool:
        self._cases.add(case)
        if got == want:
            return True
        self.inexact = True
        self._bad(case, what, f"hwsim {got!r}, reference {want!r}")
        return False

    def close(self, case: str, got: float, want: float, tol: float, what: str = "") -> bool:
        self._cases.add(case)
        error = abs(got / want - 1.0) if want else (0.0 if got == want else float("inf"))
        self.max_error = max(self.max_error, error)
        self.inexact |= got != want
        if error <= tol:
            return True
        self._bad(case, what, f"hwsim {got:.6g}, reference {want:.6g} ({_percent(error)} > {_percent(tol)})")
        return False

    def outcome(self, agreement: str | None = None) -> Outcome:
        """``agreement`` overrides the default text ("exact" or "max error X %")."""
        if agreement is None:
            agreement = "exact" if not self.inexact else f"max error {_percent(self.max_error)}"
        return Outcome(self.cases, agreement, self.first_bad is None and self.cases > 0,
                       self.first_bad if self.first_bad else (None if self.cases else "no cases compared"))


def _percent(x: float) -> str:
    """A relative error as short text: 1.2e-13 (below 0.01 %), 0.42 %, 7.2 %."""
    return f"{x:.1e}" if 0 < x < 1e-4 else (f"{x:.2%}" if x < 0.01 else f"{x:.1%}")


def discover() -> list[Check]:
    """Every registered check: grouped by area (the kinds in table order, then :data:`AREAS`), then in module
    order (:data:`OWNERS`, then the kinds' backends) and definition order."""
    from hwsim.kinds import KINDS
    modules = [spec[1].split(":")[0] for spec in KINDS.values()] + list(OWNERS)
    for module in modules:
        try:
            owner = importlib.import_module(module)
        except ImportError as exc:   # an owner needing an extra that is not installed: its checks are absent
            if exc.name and exc.name.split(".")[0] in ("hwsim", "rtl"):
                raise
            continue
        if module not in _DISCOVERED and hasattr(owner, "register_checks"):
            owner.register_checks()
            _DISCOVERED.add(module)
    areas = {a: i for i, a in enumerate([*KINDS, *AREAS])}
    order = {m: i for i, m in enumerate(dict.fromkeys([*OWNERS, *modules]))}   # peers' data before self-checks
    seq = {name: i for i, name in enumerate(_REGISTRY)}
    return sorted(_REGISTRY.values(), key=lambda c: (areas.get(c.name.split("/")[0], len(areas)),
                                                      order.get(c.module, len(order)), seq[c.name]))


def _missing(requires: tuple[str, ...]) -> str | None:
    import importlib.util
    for mod in requires:
        if importlib.util.find_spec(mod) is None:
            return mod
    return None


def run_checks(checks: Iterable[Check]) -> list[Result]:
    """Run ``checks`` in order (an iterable, so a progress bar may wrap it); a check that raises is a failure
    naming the exception (a check must not crash the table). A check whose ``requires`` are missing is
    skipped with the module it needs."""
    results = []
    for c in checks:
        start = time.perf_counter()
        missing = _missing(c.requires)
        if missing:
            results.append(Result(c.name, c.reference, c.compares, 0, "-", "skipped",
                                   f"needs the '{missing}' module (pip install 'hwsim[all]')", 0.0, c.module))
            continue
        try:
            o = c.run()
        except Skipped as exc:
            results.append(Result(c.name, c.reference, c.compares, 0, "-", "skipped", str(exc), 0.0, c.module))
            continue
        except Exception as exc:  # noqa: BLE001 -- reported as the check's failure, with its type
            o = Outcome(0, "-", False, f"raised {type(exc).__name__}: {exc}")
        results.append(Result(c.name, c.reference, c.compares, o.cases, o.agreement, "pass" if o.passed else "FAIL",
                              o.disagreement, round(time.perf_counter() - start, 3), c.module))
    return results


def select(checks: list[Check], *, full: bool = False, only: Iterable[str] = ()) -> list[Check]:
    """The checks of a default run (``full`` adds the long ones). ``only``: names or name prefixes
    ("systolic/"); a prefix selects the long checks under it only with ``full``, an exact name always.
    Raises HwsimError naming an ``only`` entry that matches nothing, with the check names."""
    from hwsim.errors import HwsimError
    only = list(only)
    for pattern in only:
        if not any(c.name.startswith(pattern) for c in checks):
            raise HwsimError(f"--only {pattern!r}: no such check; the checks are "
                             + ", ".join(c.name for c in checks))
    return [c for c in checks if (not only and (full or not c.full))
            or any(c.name == p or (c.name.startswith(p) and (full or not c.full)) for p in only)]


def validate(*, full: bool = False, only: Iterable[str] = (), wrap=lambda checks: checks) -> list[Result]:
    """Run the chosen checks (see :func:`select`) and return one :class:`Result` per check in table order; on a
    default run the long checks are listed with status "--full" (not run). ``wrap`` may wrap the iterable of
    checks (a progress bar)."""
    checks = discover()
    chosen = select(checks, full=full, only=only)
    done = {r.name: r for r in run_checks(wrap(chosen))}
    shown = chosen if only else checks
    return [done.get(c.name) or Result(c.name, c.reference, c.compares, 0, "-", "--full", None, 0.0, c.module)
            for c in shown]


# ------------------------------------------------------------------------------------------ formats

COLUMNS = (("check", "name"), ("reference", "reference"), ("compared", "compares"), ("cases", "cases"),
           ("agreement", "agreement"), ("status", "status"))


def _cells(r: Result) -> list[str]:
    return [(f"{r.cases:,}" if r.status != "--full" else "-") if k == "cases" else str(getattr(r, k))
            for _, k in COLUMNS]


def to_markdown(results: list[Result]) -> str:
    """The fidelity table as GitHub markdown (no timings: the README keeps it and a test compares)."""
    lines = ["| " + " | ".join(h for h, _ in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in results:
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in _cells(r)) + " |")
    return "\n".join(lines) + "\n"


def to_table(results: list[Result], width: int = 40) -> str:
    """Fixed-width text: one row per check (long cells elided), then the failures' first disagreements."""
    def cut(text: str, n: int) -> str:
        return text if len(text) <= n else text[: n - 3] + "..."
    rows = [[cut(c, width) for c in _cells(r)] + [f"{r.seconds:.1f}"] for r in results]
    head = [h for h, _ in COLUMNS] + ["s"]
    widths = [max(len(x) for x in col) for col in zip(head, *rows)]
    out = ["  ".join(x.ljust(w) for x, w in zip(head, widths)).rstrip()]
    out += ["  ".join(x.ljust(w) for x, w in zip(row, widths)).rstrip() for row in rows]
    notes = [r for r in results if r.status != "pass" and r.disagreement]
    for r in notes:
        out.append(f"{r.status} {r.name}: {r.disagreement}")
    counts = {s: sum(r.status == s for r in results) for s in STATUSES}
    out.append(f"{counts['pass']} passed, {counts['FAIL']} failed, {counts['skipped']} skipped"
               + (f", {counts['--full']} long ones not run (--full)" if counts["--full"] else "")
               + f" in {sum(r.seconds for r in results):.1f} s")
    return "\n".join(out) + "\n"


def to_json(results: list[Result]) -> str:
    counts = {s: sum(r.status == s for r in results) for s in STATUSES}
    return json.dumps({"schema_version": 1, "passed": counts["pass"], "failed": counts["FAIL"],
                       "skipped": counts["skipped"], "not_run": counts["--full"],
                       "checks": [asdict(r) for r in results]}, indent=2) + "\n"


def first_failure(results: list[Result]) -> Result | None:
    return next((r for r in results if r.status == "FAIL"), None)


__all__ = ["Check", "Outcome", "Result", "Skipped", "Tally", "check", "discover", "reference_data", "run_checks",
           "select", "to_json", "to_markdown", "to_table", "first_failure", "validate"]
