"""SCALE-Sim's tiny-GEMM corner (issue 12: "scalesim_compatible on a 1x1 os array: 2x1x1 reports 200%
utilisation and 1x1x1 reports 0 cycles"), measured on SCALE-Sim 3.0.0 itself.

``hwsim/data/reference/scalesim_conv_reference.json`` (``benchmarks/scalesim_conv_reference.py``) holds SCALE-Sim's
"Total Cycles" and its own "Overall Util %" for tiny GEMMs on 1x1 and 2x1 arrays, or the exception it
raised. The 200 % is SCALE-Sim's: its Total Cycles is the zero-based index of the last ofmap write.
``scalesim_gemm`` reproduces it (``cycles``) and also gives ``elapsed_cycles = cycles + 1``.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from hwsim.backends.scalesim_model import scalesim_gemm, scalesim_gemm_many
from hwsim.validation import reference_data

TINY = [r for r in reference_data("scalesim_conv_reference.json") if r["type"] == "gemm"]


@pytest.mark.parametrize("rec", TINY, ids=lambda r: f"{r['M']}x{r['N']}x{r['K']}-{r['rows']}x{r['cols']}-{r['dataflow']}")
def test_tiny_gemms_match_scalesim_and_elapsed_cycles_bound_utilisation(rec):
    s = scalesim_gemm(rec["M"], rec["N"], rec["K"], rec["rows"], rec["cols"], rec["dataflow"])
    macs, pes = rec["M"] * rec["N"] * rec["K"], rec["rows"] * rec["cols"]
    assert s.elapsed_cycles == s.cycles + 1
    assert macs / (pes * s.elapsed_cycles) <= 1
    if "error" in rec:                 # SCALE-Sim divides by its own 0 cycles
        assert rec["error"].startswith("ZeroDivisionError") and s.cycles == 0
        return
    assert s.cycles == rec["total_cycles"]
    assert rec["overall_util_pct"] == pytest.approx(100 * macs / (pes * s.cycles))


def test_the_issue_examples():
    two = scalesim_gemm(2, 1, 1, 1, 1, "os")
    assert (two.cycles, two.elapsed_cycles) == (1, 2)      # SCALE-Sim: 1 cycle, "Overall Util %" 200
    one = scalesim_gemm(1, 1, 1, 1, 1, "os")
    assert (one.cycles, one.elapsed_cycles) == (0, 1)      # SCALE-Sim: ZeroDivisionError


def test_utilisation_with_elapsed_cycles_never_exceeds_one():
    rng = np.random.default_rng(12)
    m, n, k = (rng.integers(1, 50, 2000) for _ in range(3))
    rows, cols = rng.integers(1, 9, 2000), rng.integers(1, 9, 2000)
    for df in ("ws", "os", "is"):
        s = scalesim_gemm_many(m, n, k, rows, cols, df)
        np.testing.assert_array_equal(s.elapsed_cycles, s.cycles + 1)
        assert np.all(m * n * k <= rows * cols * s.elapsed_cycles)


@pytest.mark.parametrize("mode", ["analytic", "cycle"])
@pytest.mark.parametrize("m,scalesim_cycles", [(1, 0), (2, 1)])
def test_the_issue_examples_through_hwsim_gemm(capsys, mode, m, scalesim_cycles):
    """'hwsim gemm' keeps SCALE-Sim's Total Cycles as ``cycles`` (the mode's contract), while latency, energy and
    utilisation count the cycles the array works: never 0 s, never over 100 %."""
    from hwsim.cli import main
    assert main(["gemm", str(m), "1", "1", "systolic", "--mode", mode, "--format", "json", "--set", "rows=1",
                 "--set", "cols=1", "--set", "dataflow=os", "--set", "scalesim_compatible=true"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["cycles"], out["elapsed_cycles"]) == (scalesim_cycles, scalesim_cycles + 1)
    assert out["utilization"] == 1.0 and out["latency_s"] == pytest.approx(out["elapsed_cycles"] / 1e9)
    assert main(["gemm", str(m), "1", "1", "systolic", "--mode", mode, "--set", "rows=1", "--set", "cols=1",
                 "--set", "dataflow=os", "--set", "scalesim_compatible=true"]) == 0
    table = capsys.readouterr().out
    assert "100.0%" in table and "SCALE-Sim's Total Cycles" in table
