"""FPGA resources and Fmax of the generated systolic array, from its characterised table.

``hwsim/data/array_costs.json`` is written by ``hwsim rtl characterise-array``
(rtl/characterise_array.py): the array of ``rtl/array.py`` synthesised with Yosys for a ladder of
sizes per target (ice40 / ecp5 / xilinx), dataflow and buffering, with the tool versions; ice40
Fmax from nextpnr-ice40 on the HX8K (other targets are not placed: no Fmax). This module is pure
(no backend or config involved): :func:`array_fpga_cost` answers for one design point.

Scaling rule between characterised sizes (documented and tested in tests/test_fpga_array.py)
---------------------------------------------------------------------------------------------
For a query with the same (target, dataflow, double_buffered, word_bits, acc_bits) as some table
entries, let ``P = rows * cols`` (the PE count) and ``P_1 < P_2 < ...`` the PE counts of the
entries that synthesised:

* ``P`` equal to an entry's (same rows and cols): that entry's figures, exactly (``exact``);
  the same ``P`` with another shape (1x4 for 2x2): that entry's figures, not flagged exact;
* ``P_i < P < P_i+1``: every resource linear in ``P`` between the two entries
  (``x(P) = x_i + (P - P_i) * (x_i+1 - x_i) / (P_i+1 - P_i)``, the marginal cost per PE of that
  segment);
* outside the ladder: the nearest segment's line extended (extrapolated, flagged ``exact=False``
  and ``extrapolated=True``); a single entry: scaled by ``P / P_1``.

Why linear in P: per PE the array has the same registers and one multiplier-adder; what is not
per PE is the control FSM (fixed) and the skew / de-skew delay lines (``R(R-1)/2`` and
``C(C-1)/2`` words), which for square ladders also grow ~P. On the DSP targets the multiplier
count is exactly ``rows * cols`` (one DSP per PE up to 18-bit operands), which the rule
reproduces. Rounding: LUT and FF to integers, BRAM to halves.

Fmax (ice40 only): the value of the smallest characterised array with at least ``P`` PEs that
was placed and routed (a bigger array is not faster: its global stall enable fans out to every
register), else ``None`` -- an array that does not fit the HX8K has no Fmax.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from hwsim.errors import HwsimError, UnknownName
from hwsim.resources import data_file

TABLE_NAME = "array_costs.json"
TABLE = None                    # default: the package's table, read through hwsim.resources
TARGETS = ("ice40", "ecp5", "xilinx")
DATAFLOWS = ("ws", "os", "is")


@dataclass(frozen=True)
class FpgaArrayCost:
    """FPGA cost of one R x C array on one target.

    ``lut``, ``ff``, ``dsp``: cells (counted as in rtl/build.py per target); ``bram``: block RAMs
    (xilinx RAMB18 = 0.5); ``fmax_mhz``: ice40 HX8K place-and-route Fmax or ``None``;
    ``exact``: the figures are a characterised entry's; ``extrapolated``: outside the ladder;
    ``basis``: the entries used (``RxC`` list)."""
    target: str
    rows: int
    cols: int
    dataflow: str
    word_bits: int
    acc_bits: int
    double_buffered: bool
    lut: int
    ff: int
    dsp: int
    bram: float
    fmax_mhz: float | None
    exact: bool
    extrapolated: bool
    basis: tuple[str, ...]

    @property
    def lut_per_pe(self) -> float:
        return self.lut / (self.rows * self.cols)


@lru_cache(maxsize=4)
def _load(path: str | None) -> dict:
    f = data_file(TABLE_NAME) if path is None else Path(path)
    if not f.is_file():
        raise HwsimError(f"{path or 'hwsim/data/' + TABLE_NAME}: no FPGA array table; run "
                         "`hwsim rtl characterise-array`")
    return json.loads(f.read_text())


def table(path=TABLE) -> dict:
    """The characterised table (``source``, ``tools``, ``entries``); ``path`` another JSON file
    of the same form (default: the package's ``hwsim/data/array_costs.json``)."""
    return _load(None if path is None else str(path))


def _lerp(p, p0, x0, p1, x1):
    return x0 + (p - p0) * (x1 - x0) / (p1 - p0)


def array_fpga_cost(rows: int, cols: int, dataflow: str = "ws", word_bits: int = 8,
                    acc_bits: int = 32, double_buffered: bool = True, target: str = "xilinx",
                    path=TABLE) -> FpgaArrayCost:
    """Resources and Fmax of an ``rows`` x ``cols`` array (module docstring for the rule).

    Raises :class:`hwsim.errors.UnknownName` for an unknown target or dataflow and
    :class:`hwsim.errors.HwsimError` when the table has no synthesised entry for this
    (target, dataflow, buffering, word_bits, acc_bits) or ``rows``/``cols`` < 1."""
    if target not in TARGETS:
        raise UnknownName("FPGA target", target, TARGETS)
    if dataflow not in DATAFLOWS:
        raise UnknownName("dataflow", dataflow, DATAFLOWS)
    for name, v in (("rows", rows), ("cols", cols)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise HwsimError(f"{name} must be a positive integer, not {v!r}")
    entries = [e for e in table(path)["entries"]
               if e["target"] == target and e["dataflow"] == dataflow
               and e["double_buffered"] == double_buffered and e["word_bits"] == word_bits
               and e["acc_bits"] == acc_bits and e.get("lut") is not None]
    if not entries:
        raise HwsimError(f"no characterised {dataflow} array ({'double' if double_buffered else 'single'}"
                         f"-buffered, {word_bits}-bit words, {acc_bits}-bit accumulators) for "
                         f"target {target} in {path or 'hwsim/data/' + TABLE_NAME}; run "
                         "`hwsim rtl characterise-array`")
    pes = rows * cols
    by_pes = {}
    for e in sorted(entries, key=lambda e: (e["rows"] * e["cols"], e["rows"])):
        by_pes.setdefault(e["rows"] * e["cols"], e)
    exact = next((e for e in entries if e["rows"] == rows and e["cols"] == cols), None)
    keys = ("lut", "ff", "dsp", "bram")
    if exact is not None:
        vals = {k: exact[k] for k in keys}
        basis, is_exact, extra = (f"{rows}x{cols}",), True, False
    else:
        ps = sorted(by_pes)
        extra = False
        if pes in by_pes:                      # same PE count, another shape: that entry
            e = by_pes[pes]
            vals = {k: e[k] for k in keys}
            basis = (f"{e['rows']}x{e['cols']}",)
        elif len(ps) == 1:
            e = by_pes[ps[0]]
            vals = {k: e[k] * pes / ps[0] for k in keys}
            basis, extra = (f"{e['rows']}x{e['cols']}",), True
        else:
            if pes < ps[0]:
                lo, hi = ps[0], ps[1]
            elif pes > ps[-1]:
                lo, hi = ps[-2], ps[-1]
            else:
                lo = max(p for p in ps if p < pes)
                hi = min(p for p in ps if p > pes)
            a, b = by_pes[lo], by_pes[hi]
            vals = {k: _lerp(pes, lo, a[k], hi, b[k]) for k in keys}
            basis = (f"{a['rows']}x{a['cols']}", f"{b['rows']}x{b['cols']}")
            extra = pes < ps[0] or pes > ps[-1]
        is_exact = False
    placed = sorted((e["rows"] * e["cols"], e["fmax_mhz"]) for e in entries
                    if e.get("fmax_mhz") is not None)
    fmax = next((f for p, f in placed if p >= pes), None)
    return FpgaArrayCost(target=target, rows=rows, cols=cols, dataflow=dataflow,
                         word_bits=word_bits, acc_bits=acc_bits, double_buffered=double_buffered,
                         lut=int(round(max(vals["lut"], 0))), ff=int(round(max(vals["ff"], 0))),
                         dsp=int(round(max(vals["dsp"], 0))),
                         bram=round(max(vals["bram"], 0) * 2) / 2, fmax_mhz=fmax,
                         exact=is_exact, extrapolated=extra, basis=basis)


# ------------------------------------------------------------------ cross-check (hwsim validate)

def entry_comparisons():
    """The rule against the shipped table at its own entries: per synthesised entry, ``(case, what, got,
    want, tol)`` with ``tol`` None (exact): its (LUT, FF, DSP, BRAM, Fmax, exact flag) as the table has them.
    Used by the ``systolic/fpga-array`` check and tests/test_fpga_array.py."""
    for e in table()["entries"]:
        if e.get("lut") is None:
            continue
        c = array_fpga_cost(e["rows"], e["cols"], e["dataflow"], e["word_bits"], e["acc_bits"],
                            e["double_buffered"], e["target"])
        yield (f"{e['target']} {e['rows']}x{e['cols']} {e['dataflow']}", "(LUT, FF, DSP, BRAM, Fmax, exact)",
               (c.lut, c.ff, c.dsp, c.bram, c.fmax_mhz, c.exact),
               (e["lut"], e["ff"], e["dsp"], e["bram"], e["fmax_mhz"], True), None)


def held_out_comparisons(tmp_dir):
    """The rule predicting what it did not see: every interior size of every ladder (same target, dataflow,
    buffering, widths) dropped from the table (a JSON file per held-out entry in ``tmp_dir``) and predicted
    from its neighbours. Yields ``(case, what, got, want, tol)``: LUT and FF within ``tol`` = 20 % (relative),
    DSP and the (unset) exact flag exactly (``tol`` None)."""
    entries = [e for e in table()["entries"] if e.get("lut") is not None]
    groups: dict = {}
    for e in entries:
        groups.setdefault((e["target"], e["dataflow"], e["double_buffered"], e["word_bits"], e["acc_bits"]),
                          []).append(e)
    for (target, df, db, wb, ab), group in groups.items():
        group.sort(key=lambda e: e["rows"] * e["cols"])
        for mid in group[1:-1]:
            # a file per held-out entry: the table loader caches by path
            path = Path(tmp_dir) / f"{target}-{df}-{db}-{wb}-{ab}-{mid['rows']}x{mid['cols']}.json"
            path.write_text(json.dumps({"entries": [e for e in entries if e is not mid]}))
            c = array_fpga_cost(mid["rows"], mid["cols"], df, wb, ab, db, target, path=path)
            case = f"{target} {mid['rows']}x{mid['cols']} {df} held out"
            yield case, "LUT", c.lut, mid["lut"], 0.20
            yield case, "FF", c.ff, mid["ff"], 0.20
            yield case, "DSP", c.dsp, mid["dsp"], None
            yield case, "exact flag", c.exact, False, None


def register_checks() -> None:
    from hwsim.validation import Tally, check

    @check("systolic/fpga-array", reference="Yosys + nextpnr runs of rtl/array.py (array_costs.json)",
           compares="fpga_target figures: every characterised entry exact; each interior ladder size held out "
                    "and predicted from its neighbours (LUT/FF within 20 %, DSP exact)")
    def fpga_array():
        import tempfile
        t = Tally()
        with tempfile.TemporaryDirectory() as tmp:
            for case, what, got, want, tol in (*entry_comparisons(), *held_out_comparisons(tmp)):
                if tol is None:
                    t.exact(case, got, want, what)
                else:
                    t.close(case, got, want, tol, what)
        return t.outcome(f"exact at entries; held out: max error {t.max_error:.1%}")
