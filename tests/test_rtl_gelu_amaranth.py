"""Fast checks of the GELU generators in Amaranth's own simulator (no Verilog, no cocotb).

The cocotb benches in ``sims/test_gelu.py`` on the emitted Verilog are the verification of
record; these run a few thousand vectors per algorithm in seconds, with random valid gaps and
random ready backpressure, and compare bit-exactly with ``rtl.golden`` through ``unit.golden``.
"""
from __future__ import annotations

import random

import numpy as np
import pytest

amaranth = pytest.importorskip("amaranth")

from amaranth.sim import Simulator  # noqa: E402

from rtl.gelu import ALGOS  # noqa: E402


def simulate(unit, beats: np.ndarray, sideband: dict | None = None, *, seed: int = 0,
             valid_prob: float = 0.8, ready_prob: float = 0.7) -> tuple[np.ndarray, int]:
    """Drive ``beats`` ((n, lanes) inputs) through ``unit``; return ((n, lanes) outputs, cycles).

    Checks on the way that no output appears without an input in flight and that the first
    output of an idle pipeline comes exactly ``latency_cycles`` after its input."""
    rng = random.Random(seed)
    n = len(beats)
    outputs: list[list[int]] = []
    cycles = 0

    async def bench(ctx):
        nonlocal cycles
        sent = 0
        sent_at: list[int] = []
        offered = False
        first_valid = None
        while len(outputs) < n:
            if not offered and sent < n and rng.random() < valid_prob:
                if sideband:
                    ctx.set(unit.i.payload.x, [int(v) for v in beats[sent]])
                    for name, values in sideband.items():
                        ctx.set(getattr(unit.i.payload, name), int(values[sent]))
                else:
                    ctx.set(unit.i.payload, [int(v) for v in beats[sent]])
                ctx.set(unit.i.valid, 1)
                offered = True
            elif not offered:
                ctx.set(unit.i.valid, 0)
            ctx.set(unit.o.ready, 1 if rng.random() < ready_prob else 0)
            _, _, i_valid, i_ready, o_valid, o_ready, o_payload = await ctx.tick().sample(
                unit.i.valid, unit.i.ready, unit.o.valid, unit.o.ready, unit.o.payload)
            cycles += 1
            if o_valid and first_valid is None:
                first_valid = cycles
                assert first_valid - sent_at[0] == unit.latency_cycles
            if o_valid and o_ready:
                assert len(outputs) < sent, "output without an input in flight"
                outputs.append([int(v) for v in o_payload])
            if i_valid and i_ready:
                sent += 1
                sent_at.append(cycles)
                offered = False
            assert cycles < 50 * n + 1000, "stream stalled"

    sim = Simulator(unit)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return np.asarray(outputs, dtype=np.int64), cycles


def _inputs(unit, count: int, rng: np.random.Generator) -> np.ndarray:
    lo, hi = unit.input_range()
    corners = np.array([lo, lo + 1, -1, 0, 1, hi - 1, hi], dtype=np.int64)
    rand = rng.integers(lo, hi + 1, size=count - len(corners), dtype=np.int64)
    return np.concatenate([corners, rand])


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
    x = _inputs(unit, (2000 // unit.lanes) * unit.lanes, rng)
    if algo == "edgemoe":   # Q10.22 words: mostly inside the table range |x| < 5.5
        x[len(x) // 2:] = rng.integers(-6 << 22, 6 << 22, size=len(x) - len(x) // 2)
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
    got, cycles = simulate(unit, x, valid_prob=1.0, ready_prob=1.0)
    assert cycles == len(x) + unit.latency_cycles
    np.testing.assert_array_equal(got, unit.golden(x))


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
