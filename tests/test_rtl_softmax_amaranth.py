"""Fast checks of the softmax generators in Amaranth's own simulator (no Verilog, no cocotb).

The cocotb benches in ``sims/test_softmax.py`` on the emitted Verilog are the verification of
record; these run a few hundred rows per algorithm with random valid gaps and random ready
backpressure and compare every output bit-exactly with ``rtl.golden`` through ``unit.golden``.
They also pin the documented cycle formulas (measured with valid and ready held high) and the
parameter validation messages.
"""
from __future__ import annotations

import numpy as np
import pytest

amaranth = pytest.importorskip("amaranth")

from rtl.softmax import ALGOS  # noqa: E402
from rtl.verify import row_beats, stream  # noqa: E402


def expected_beats(unit, rows: np.ndarray) -> np.ndarray:
    """Golden outputs as beats; the unused lanes of a row's last beat are 0."""
    return row_beats(unit, unit.golden(rows), pad=0)


# outputs, transfer cycles and cycle count; reset_after=k pulses the reset after input beat k; checks that no
# output comes without an input in flight, none after the last one, and that the stream never stalls
simulate = stream


def _rows(unit, n: int, rng: np.random.Generator) -> np.ndarray:
    """Random rows plus corners: all equal (min and max), one-hot, extremes, Gaussian scores."""
    lo, hi = unit.input_range()
    if unit.algo == "edgemoe":          # Q10.22 scores within +-8.0, and some wide ones
        rows = rng.integers(-8 << 22, 8 << 22, size=(n, unit.row_len))
        rows[: n // 4] = rng.normal(0, 2.0 * (1 << 22), size=(n // 4, unit.row_len)).astype(np.int64)
        rows[-1] = rng.integers(lo, hi + 1, size=unit.row_len)
    else:
        rows = rng.integers(lo, hi + 1, size=(n, unit.row_len))
        g = np.clip(np.round(rng.normal(0, (hi - lo) / 8, size=(n // 4, unit.row_len))), lo, hi)
        rows[: n // 4] = g.astype(np.int64)
    rows[0] = lo
    rows[1] = hi
    rows[2] = lo
    rows[2, unit.row_len // 2] = hi
    rows[3] = hi
    rows[3, 0] = lo
    return rows


CASES = [
    ("shiftmax", {"row_len": 13}),
    ("shiftmax", {"row_len": 10, "lanes": 3, "pipeline_regs": 2, "div_bits_per_cycle": 4}),
    ("shiftmax", {"row_len": 1}),
    ("ibert", {"row_len": 13}),
    ("ibert", {"in_bits": 16, "scale": 2.0 ** -8, "row_len": 9, "lanes": 4, "out_bits": 12,
               "pipeline_regs": 3, "div_bits_per_cycle": 3}),
    ("ibert", {"row_len": 1, "lanes": 2}),
    ("edgemoe", {"row_len": 13}),
    ("edgemoe", {"row_len": 11, "lanes": 4, "exp_lut_bits": 10, "pipeline_regs": 2,
                 "div_bits_per_cycle": 5}),
    ("edgemoe", {"row_len": 1}),
    ("lut", {"row_len": 13}),
    ("lut", {"row_len": 12, "lanes": 5, "recip_bits": 10, "out_bits": 16, "pipeline_regs": 1}),
    ("lut", {"row_len": 1}),
]


@pytest.mark.parametrize("algo,params", CASES, ids=[f"{a}-{i}" for i, (a, _) in enumerate(CASES)])
def test_softmax_matches_golden_under_backpressure_and_reset(algo, params):
    unit = ALGOS[algo](**params)
    rng = np.random.default_rng(5)
    rows = _rows(unit, 120, rng)
    beats = row_beats(unit, rows, pad=int(unit.input_range()[1]))   # padding must be ignored
    reset_after = unit.beats_per_row * 7 + unit.beats_per_row // 2
    res = simulate(unit, beats, seed=3, reset_after=reset_after)
    expected = expected_beats(unit, rows)
    bad = np.argwhere(res["outputs"] != expected)
    assert not len(bad), (f"{algo} {params}: {len(bad)} mismatches; first at beat/lane {bad[0]}: "
                          f"got {res['outputs'][tuple(bad[0])]} expected {expected[tuple(bad[0])]}")


@pytest.mark.parametrize("algo,params", [
    ("shiftmax", {"row_len": 20, "lanes": 3}), ("ibert", {"row_len": 8}),
    ("edgemoe", {"row_len": 7, "lanes": 2, "pipeline_regs": 3}), ("lut", {"row_len": 9})])
def test_cycles_per_row_and_latency_match_the_documented_formulas(algo, params):
    unit = ALGOS[algo](**params)
    b, d, n = unit.beats_per_row, unit.pipeline_depth, unit.norm_cycles
    assert unit.cycles_per_row == unit.passes * b + 2 * d + n
    assert unit.latency_cycles == (unit.passes - 1) * b + 2 * d + n
    rows = _rows(unit, 6, np.random.default_rng(1))
    res = simulate(unit, row_beats(unit, rows), valid_prob=1.0, ready_prob=1.0)
    in_at, out_at = np.array(res["in_at"]), np.array(res["out_at"])
    row_starts = in_at[::b]
    assert set(np.diff(row_starts)) == {unit.cycles_per_row}
    assert set(out_at[::b] - row_starts) == {unit.latency_cycles}
    assert set(np.diff(in_at.reshape(-1, b), axis=1).ravel()) <= {1}      # one beat per cycle
    assert set(np.diff(out_at.reshape(-1, b), axis=1).ravel()) <= {1}
    np.testing.assert_array_equal(res["outputs"], expected_beats(unit, rows))
    assert unit.elements_per_cycle == unit.row_len / unit.cycles_per_row


def test_saturating_sums_at_the_longest_rows():
    """All elements equal: the largest possible sum (every exp at its maximum)."""
    for algo, params in [("shiftmax", {"row_len": 1927, "lanes": 64}),
                         ("edgemoe", {"row_len": 511, "lanes": 16}),
                         ("ibert", {"row_len": 1000, "lanes": 50}),
                         ("lut", {"row_len": 1000, "lanes": 50})]:
        unit = ALGOS[algo](**params)
        lo, hi = unit.input_range()
        rows = np.array([[hi] * unit.row_len, [lo] * unit.row_len])
        rows[1, -1] = lo + 1
        res = simulate(unit, row_beats(unit, rows), valid_prob=1.0, ready_prob=0.5)
        np.testing.assert_array_equal(res["outputs"], expected_beats(unit, rows), err_msg=algo)


def test_shiftmax_longest_row_is_the_int32_limit():
    assert ALGOS["shiftmax"]().params()["row_len"] == 197
    ALGOS["shiftmax"](row_len=1927)
    with pytest.raises(ValueError, match=r"row_len must be an integer in \[1, 1927\], not 1928"):
        ALGOS["shiftmax"](row_len=1928)


def test_every_algo_has_defaults_and_params_roundtrip():
    for name, cls in ALGOS.items():
        unit = cls()
        again = cls(**unit.params())
        assert again.params() == unit.params(), name
        assert unit.algo == name and unit.kind == "softmax"
        assert unit.row_len == 197 and unit.lanes == 1
        assert unit.pipeline_regs == unit.max_pipeline_regs
        assert 0 < unit.elements_per_cycle < 1


def test_bad_parameters_name_the_parameter_and_value():
    with pytest.raises(ValueError, match=r"lanes must be an integer in \[1, 64\], not 0"):
        ALGOS["lut"](lanes=0)
    with pytest.raises(ValueError, match=r"row_len must be an integer in \[1, 511\], not 512"):
        ALGOS["edgemoe"](row_len=512)
    with pytest.raises(ValueError, match=r"row_len must be an integer in \[1, \d+\], not 0"):
        ALGOS["ibert"](row_len=0)
    with pytest.raises(ValueError, match=r"pipeline_regs must be an integer in \[1, 4\], not 9"):
        ALGOS["shiftmax"](pipeline_regs=9)
    with pytest.raises(ValueError, match=r"scale must be a positive finite number, not -1"):
        ALGOS["ibert"](scale=-1)
    with pytest.raises(ValueError, match=r"exp_lut_bits must be an integer in \[1, 12\], not 13"):
        ALGOS["edgemoe"](exp_lut_bits=13)
    with pytest.raises(ValueError, match=r"recip_bits must be an integer in \[1, 15\], not 16"):
        ALGOS["lut"](recip_bits=16)
    with pytest.raises(ValueError, match=r"div_bits_per_cycle must be an integer in \[1, 31\], not 0"):
        ALGOS["shiftmax"](div_bits_per_cycle=0)
    with pytest.raises(ValueError, match=r"exp_scale16 .* too coarse"):
        ALGOS["ibert"](exp_scale16=100.0)
    with pytest.raises(ValueError, match=r"rows must have row_len = 197"):
        ALGOS["lut"]().golden(np.zeros((2, 5)))
