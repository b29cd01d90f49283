"""The register-level PE-grid model (hwsim.backends.systolic_pe) against exact products and the cycle
formulas of hwsim (fold_plan + pipeline overhead) and SCALE-Sim (scalesim_gemm)."""
import itertools

import numpy as np
import pytest

from hwsim.backends.scalesim_model import scalesim_gemm
from hwsim.backends.systolic import array_dims, fold_plan, pipeline_overhead_cycles
from hwsim.backends.systolic_pe import GridHazard, simulate_gemm
from hwsim.hardware.systolic import SystolicConfig
from hwsim.workload.ops import MatMul

SIZES = [1, 2, 3, 5, 8, 13, 16, 17]
ARRAYS = [(1, 1), (2, 3), (4, 4), (3, 7), (8, 8)]
DATAFLOWS = ["ws", "os", "is"]


def _cases():
    """Every (m, k, n) in SIZES^3 (512 per dataflow and array; ~1.5 s warm for all 7680 GEMMs)."""
    return list(itertools.product(SIZES, SIZES, SIZES))


def _operands(m, k, n, seed):
    rng = np.random.default_rng(seed)
    return rng.integers(-128, 128, (m, k)), rng.integers(-128, 128, (k, n))   # int8 range


def hwsim_cycles(m, k, n, rows, cols, dataflow):
    """hwsim's double-buffered compute cycles: per-fold max(T, R) + 2R + C - 2 per op."""
    hw = SystolicConfig(rows=rows, cols=cols, dataflow=dataflow)
    return int(fold_plan(MatMul(name="g", m=m, k=k, n=n), hw).compute.sum()) + pipeline_overhead_cycles(rows, cols)


def scalesim_closed_form(m, k, n, rows, cols, dataflow):
    """SCALE-Sim's per-GEMM cycles. The final -1 is SCALE-Sim's off-by-one: it reports the 0-based
    index of the cycle of the last ofmap write (its cycle counter starts at 0), not the count."""
    sr, sc, t = array_dims(dataflow, m, k, n)
    folds = -(-sr // rows) * -(-sc // cols)
    per_fold = rows + cols + t - 2 if dataflow == "os" else 2 * rows + cols + t - 2
    return folds * per_fold - 1


@pytest.mark.parametrize("rows,cols", ARRAYS)
@pytest.mark.parametrize("dataflow", DATAFLOWS)
def test_products_exact_and_cycles_match_formulas(dataflow, rows, cols):
    for m, k, n in _cases():
        a, b = _operands(m, k, n, seed=m * 10000 + k * 100 + n + 7 * rows + cols)
        exact = a.astype(np.int64) @ b.astype(np.int64)
        case = (dataflow, rows, cols, m, k, n)

        y_db, cyc_db = simulate_gemm(a, b, rows, cols, dataflow, double_buffered=True)
        y_ss, cyc_ss = simulate_gemm(a, b, rows, cols, dataflow, double_buffered=False)
        assert y_db.dtype == np.int64 and np.array_equal(y_db, exact), case
        assert np.array_equal(y_ss, exact), case

        # SCALE-Sim timing: the grid's cycle count is one more than SCALE-Sim's reported number
        # (SCALE-Sim reports the last cycle's 0-based index), and equals the closed forms.
        s = scalesim_gemm(m, n, k, rows, cols, dataflow).cycles
        assert cyc_ss - 1 == s == scalesim_closed_form(m, k, n, rows, cols, dataflow), case

        # hwsim timing: fold_plan compute (max(T, R) per fold, T for the last) + 2R + C - 2, exactly.
        assert cyc_db == hwsim_cycles(m, k, n, rows, cols, dataflow), case


@pytest.mark.parametrize("dataflow", DATAFLOWS)
def test_hwsim_formula_exact_when_stream_covers_preload(dataflow):
    """T >= R (the usual case for real layers): grid cycles == fold_plan compute + 2R + C - 2."""
    rows, cols = 4, 3
    for m, k, n in [(5, 9, 7), (16, 16, 16), (17, 13, 8), (4, 4, 4)]:
        assert array_dims(dataflow, m, k, n)[2] >= rows
        a, b = _operands(m, k, n, seed=7)
        y, cyc = simulate_gemm(a, b, rows, cols, dataflow)
        assert np.array_equal(y, a @ b)
        assert cyc == hwsim_cycles(m, k, n, rows, cols, dataflow)


@pytest.mark.parametrize("dataflow", DATAFLOWS)
def test_short_stream_last_fold_lasts_t_not_r(dataflow):
    """T < R: every fold but the last waits R cycles for the next fold's stationary data; the last
    needs only its T stream cycles before skew/drain. fold_plan charges exactly that (this case was
    found by this model: the formula used to charge max(T, R) for the last fold too)."""
    rows, cols = 8, 5
    m, k, n = {"ws": (3, 20, 11), "os": (20, 3, 11), "is": (20, 11, 3)}[dataflow]   # T = 3
    folds = {"ws": 3 * 3, "os": 3 * 3, "is": 2 * 4}[dataflow]
    t = array_dims(dataflow, m, k, n)[2]
    assert t == 3 < rows
    a, b = _operands(m, k, n, seed=11)
    y, cyc = simulate_gemm(a, b, rows, cols, dataflow)
    assert np.array_equal(y, a @ b)
    assert cyc == hwsim_cycles(m, k, n, rows, cols, dataflow) == (folds - 1) * rows + t + 2 * rows + cols - 2


def test_wrong_formulas_are_rejected():
    """The comparison discriminates: off-by-one variants of both formulas do not match the grid."""
    for dataflow, (m, k, n) in itertools.product(DATAFLOWS, [(5, 9, 7), (17, 16, 13)]):
        a, b = _operands(m, k, n, seed=3)
        _, cyc_db = simulate_gemm(a, b, 4, 4, dataflow, True)
        _, cyc_ss = simulate_gemm(a, b, 4, 4, dataflow, False)
        good = hwsim_cycles(m, k, n, 4, 4, dataflow)
        assert cyc_db == good and cyc_db not in (good - 1, good + 1)
        ss = scalesim_closed_form(m, k, n, 4, 4, dataflow)
        assert cyc_ss - 1 == ss and cyc_ss not in (ss, ss + 2)     # the -1 matters


@pytest.mark.parametrize("dataflow", DATAFLOWS)
@pytest.mark.parametrize("m,k,n", [(3, 20, 11), (20, 3, 11), (20, 11, 3), (9, 9, 9)])
def test_fold_period_shorter_than_max_t_r_corrupts(dataflow, m, k, n):
    """max(T, R) is the shortest fold period the grid supports: one cycle less overwrites stationary
    (ws/is: shadow weights, os: finished results in the hold registers) or streamed data in flight."""
    rows, cols = 4, 4
    a, b = _operands(m, k, n, seed=5)
    t = array_dims(dataflow, m, k, n)[2]
    p = max(t, rows)
    y, _ = simulate_gemm(a, b, rows, cols, dataflow, period=p)
    assert np.array_equal(y, a @ b)
    try:
        y_bad, _ = simulate_gemm(a, b, rows, cols, dataflow, period=p - 1)
    except GridHazard:
        return
    assert not np.array_equal(y_bad, a @ b)


@pytest.mark.parametrize("double_buffered", [True, False])
@pytest.mark.parametrize("dataflow", DATAFLOWS)
def test_faulty_pe_is_detected(dataflow, double_buffered):
    a, b = _operands(13, 13, 13, seed=9)
    for pe in [(0, 0), (3, 2), (2, 3)]:
        y, _ = simulate_gemm(a, b, 4, 4, dataflow, double_buffered, fault=pe)
        assert not np.array_equal(y, a @ b), pe
    y, _ = simulate_gemm(a, b, 4, 4, dataflow, double_buffered, fault=(4, 0))   # no such PE
    assert np.array_equal(y, a @ b)


def test_rejects_bad_arguments():
    a, b = np.ones((2, 3), dtype=np.int64), np.ones((3, 4), dtype=np.int64)
    with pytest.raises(ValueError):
        simulate_gemm(a, b, 2, 2, "xs")
    with pytest.raises(ValueError):
        simulate_gemm(a, b.T, 2, 2, "ws")
    with pytest.raises(ValueError):
        simulate_gemm(a, b, 0, 2, "ws")
