"""Fast checks of the GELU generators in Amaranth's own simulator (no Verilog, no cocotb).

The cocotb benches in ``sims/test_gelu.py`` on the emitted Verilog are the verification of
record; these run a few thousand vectors per algorithm in seconds, with random valid gaps and
random ready backpressure, and compare bit-exactly with ``rtl.golden`` through ``unit.golden``.
"""
from __future__ import annotations

import numpy as np
import pytest

amaranth = pytest.importorskip("amaranth")

from rtl.gelu import ALGOS  # noqa: E402
from rtl.verify import gelu_inputs, stream  # noqa: E402


def simulate(unit, beats: np.ndarray, sideband: dict | None = None, **kw) -> tuple[np.ndarray, int]:
    """Drive ``beats`` ((n, lanes) inputs) through ``unit`` with ``rtl.verify.stream`` (random valid gaps and
    ready backpressure unless ``valid_prob``/``ready_prob`` say otherwise); return ((n, lanes) outputs, cycles).

    Checks on the way that the first output of the idle pipeline is valid exactly ``latency_cycles`` after the
    first input."""
    res = stream(unit, beats, sideband, **kw)
    assert res["first_valid_after"] == unit.latency_cycles
    return res["outputs"], res["cycles"]


CASES = [
    ("ibert", {}),
    ("ibert", {"in_bits": 8, "scale": 0.05, "lanes": 3, "pipeline_regs": 2}),
    ("edgemoe", {}),
    ("edgemoe", {"lanes": 4, "pipeline_regs": 1}),
    ("pwl", {}),
    ("pwl", {"in_bits": 16, "scale": 2.0 ** -10, "lanes": 2, "pipeline_regs": 1}),
]


@pytest.mark.parametrize("algo,params", CASES, ids=[f"{a}-{i}" for i, (a, _) in enumerate(CASES)])
def test_elementwise_gelu_matches_golden_under_backpressure(algo, params):
    unit = ALGOS[algo](**params)
    rng = np.random.default_rng(7)
    x = gelu_inputs(unit, (2000 // unit.lanes) * unit.lanes, rng)   # Edge-MoE: mostly inside |x| < 5.5
    beats = x.reshape(-1, unit.lanes)
    got, _ = simulate(unit, beats, seed=3)
    expected = unit.golden(x).reshape(-1, unit.lanes)
    bad = np.argwhere(got != expected)
    assert not len(bad), (f"{algo} {params}: {len(bad)} mismatches; first input "
                          f"{beats[tuple(bad[0])]} got {got[tuple(bad[0])]} "
                          f"expected {expected[tuple(bad[0])]}")


@pytest.mark.parametrize("params", [{}, {"in_bits": 16, "scale": 2.0 ** -9, "lanes": 2}])
def test_shiftgelu_matches_golden_with_row_max_sideband(params):
    unit = ALGOS["shiftgelu"](**params)
    rng = np.random.default_rng(11)
    lo, hi = unit.input_range()
    rows = rng.integers(lo, hi + 1, size=(250, 8 * unit.lanes), dtype=np.int64)
    rows[0, :] = lo                     # all equal, at the minimum
    rows[1, 0] = hi                     # one hot at the maximum
    rows[2, :] = rng.integers(lo, lo + 4, size=rows.shape[1])   # negative row max
    expected = unit.golden(rows)
    beats = rows.reshape(-1, unit.lanes)
    row_max = np.repeat(rows.max(axis=-1), rows.shape[1] // unit.lanes)
    got, _ = simulate(unit, beats, {"row_max": row_max}, seed=5)
    bad = np.argwhere(got != expected.reshape(-1, unit.lanes))
    assert not len(bad), f"{len(bad)} mismatches, first at beat/lane {bad[0]}"


def test_full_throughput_is_one_beat_per_cycle_and_latency_is_pipeline_regs():
    unit = ALGOS["ibert"](in_bits=8, scale=0.05, lanes=4, pipeline_regs=3)
    assert (unit.latency_cycles, unit.elements_per_cycle) == (3, 4)
    x = np.arange(-128, 128, dtype=np.int64).reshape(-1, 4)
    res = stream(unit, x, valid_prob=1.0, ready_prob=1.0)
    assert res["cycles"] == len(x) + unit.latency_cycles
    assert res["out_at"][0] - res["in_at"][0] == unit.latency_cycles   # idle pipeline: first output after latency
    assert np.diff(res["out_at"]).tolist() == [1] * (len(x) - 1)         # then one beat per cycle
    np.testing.assert_array_equal(res["outputs"], unit.golden(x))


def test_every_algo_has_defaults_params_roundtrip_and_documented_latency():
    for name, cls in ALGOS.items():
        unit = cls()
        again = cls(**unit.params())
        assert again.params() == unit.params(), name
        assert unit.latency_cycles == unit.params()["pipeline_regs"], name
        assert unit.elements_per_cycle == unit.params()["lanes"], name
        assert unit.algo == name and unit.kind == "gelu"


def test_bad_parameters_name_the_parameter_and_value():
    with pytest.raises(ValueError, match=r"lanes must be a positive integer, not 0"):
        ALGOS["ibert"](lanes=0)
    with pytest.raises(ValueError, match=r"pipeline_regs must be an integer in \[1, \d+\], not 99"):
        ALGOS["edgemoe"](pipeline_regs=99)
    with pytest.raises(ValueError, match=r"scale must be a positive finite number, not -1"):
        ALGOS["ibert"](scale=-1)
