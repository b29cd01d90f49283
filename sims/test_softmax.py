"""cocotb bench for the softmax units of ``rtl/softmax.py``, and its pytest entries.

The bench (``verify_unit``, run inside the simulator) builds rows of stimulus for the configured
unit, drives them beat by beat with random valid gaps and random ready backpressure
(``sims/stream_bench.py``), asserts a reset in the middle of a row (the unit drops the partial
row; the bench sends it again from its first beat) and compares every output element
bit-exactly with ``unit.golden`` (``rtl.golden``); a missing or extra output beat fails the run.
A mismatch names the row, the element, the row's inputs, the expected and the obtained value.

Stimulus (:func:`softmax_rows`), ``count`` elements in whole rows (default 100,000):

* corners -- all elements equal at the minimum, at the maximum and at 0 (every exp at its
  maximum: the largest row sum), one-hot rows (one maximum, the rest minimum) with the hot
  element first, last and in the middle, alternating extremes, a row whose maximum is the last
  element (Edge-MoE's online rescaling at the end), rising and falling ramps;
* attention scores -- Gaussian logits (sigma 1 to 4 in real units) quantised at the unit's input
  scale, the shape softmax sees in a ViT;
* random -- uniform codes over the whole input range and over narrow windows (near-equal rows).

The unused lanes of a row's last beat (``row_len % lanes != 0``) carry random codes, which the
unit must ignore; their expected output is 0.

Bench options (``bench`` dict of :func:`runner.run_bench`): ``count``, ``seed``, ``valid_prob``,
``ready_prob``, ``reset_at_beat`` (default: the middle of the 8th row; ``-1`` for none),
``broken_golden`` (a row index whose first expected element is made off by one: the bench must
then fail -- this proves it can).

Pytest entries build the Verilog and run the bench on Icarus (default) or Verilator
(``--simulator verilator`` / ``HWSIM_SIM``; tests marked ``verilator`` always use it).
"""
from __future__ import annotations

import numpy as np
import pytest

try:
    import cocotb
except ImportError:          # pytest entries skip through the `simulator` fixture
    cocotb = None

DEFAULT_COUNT = 100_000
Q22 = 1 << 22


# ---------------------------------------------------------------------------------------------
# Stimulus (pure numpy)
# ---------------------------------------------------------------------------------------------
def _input_scale(unit) -> float:
    """Real value of one input LSB (Edge-MoE: Q10.22)."""
    return 2.0 ** -22 if unit.algo == "edgemoe" else unit.params()["scale"]


def _corner_rows(unit) -> list[np.ndarray]:
    lo, hi = unit.input_range()
    n = unit.row_len
    if unit.algo == "edgemoe":            # keep the Q10.22 corners within +-256.0 too
        lo_r, hi_r = -(256 * Q22), 256 * Q22 - 1
    else:
        lo_r, hi_r = lo, hi
    rows = []
    for v in (lo, hi, 0, lo_r, hi_r):
        rows.append(np.full(n, v))        # all equal: every exp at its maximum
    for pos in (0, n - 1, n // 2):
        for a, b in ((lo, hi), (lo_r, hi_r), (-1, 0)):
            r = np.full(n, a)
            r[pos] = b                    # one-hot
            rows.append(r)
    alt = np.where(np.arange(n) % 2 == 0, hi, lo)
    rows += [alt, alt[::-1].copy()]
    ramp = np.linspace(lo_r, hi_r, n).round().astype(np.int64)
    rows += [ramp, ramp[::-1].copy()]
    if unit.algo == "edgemoe":            # new maxima all along the row (online rescaling)
        rows.append((np.arange(n) * (Q22 // 8)).astype(np.int64) - 40 * Q22)
        rows.append(np.arange(n, dtype=np.int64) * Q22 // 64)
    return rows


def softmax_rows(unit, count: int = DEFAULT_COUNT, seed: int = 1) -> np.ndarray:
    """``(rows, row_len)`` input codes: corners, quantised Gaussian attention scores and random
    rows, about ``count`` elements in total (at least every corner row)."""
    rng = np.random.default_rng(seed)
    lo, hi = unit.input_range()
    n = unit.row_len
    rows = _corner_rows(unit)
    n_rows = max(len(rows), -(-count // n))
    left = n_rows - len(rows)
    scale = _input_scale(unit)
    n_gauss = left // 2
    n_uni = left - n_gauss
    if n_gauss:
        sigma = rng.uniform(1.0, 4.0, size=(n_gauss, 1))
        mu = rng.uniform(-2.0, 2.0, size=(n_gauss, 1))
        z = rng.normal(0.0, 1.0, size=(n_gauss, n)) * sigma + mu
        rows.extend(np.clip(np.round(z / scale), lo, hi).astype(np.int64))
    if n_uni:
        if unit.algo == "edgemoe":
            span = (rng.integers(1, 64, size=(n_uni, 1)) * Q22).astype(np.int64)
            base = rng.integers(-200 * Q22, 200 * Q22, size=(n_uni, 1))
            uni = base + (rng.random((n_uni, n)) * span).astype(np.int64)
            uni[: max(1, n_uni // 20)] = rng.integers(lo, hi + 1, size=(max(1, n_uni // 20), n))
        else:
            uni = rng.integers(lo, hi + 1, size=(n_uni, n))
            narrow = n_uni // 3                                  # near-equal rows
            width = rng.integers(1, 16, size=(narrow, 1))
            base = rng.integers(lo, hi - 16, size=(narrow, 1))
            uni[:narrow] = base + (rng.random((narrow, n)) * width).astype(np.int64)
        rows.extend(np.clip(uni, lo, hi))
    return np.stack([np.asarray(r, dtype=np.int64) for r in rows])


def stimulus_beats(unit, rows: np.ndarray, seed: int = 1):
    """Input beats (random codes in the padding lanes) and expected output beats (0 there)."""
    from rtl.verify import row_beats
    rng = np.random.default_rng(seed + 1)
    lo, hi = unit.input_range()
    extra = unit.beats_per_row * unit.lanes - unit.row_len
    pad = rng.integers(lo, hi + 1, size=(len(rows), extra)) if extra else 0
    return row_beats(unit, rows, pad), row_beats(unit, unit.golden(rows), 0)


# ---------------------------------------------------------------------------------------------
# cocotb bench
# ---------------------------------------------------------------------------------------------
if cocotb is not None:
    @cocotb.test()
    async def verify_unit(dut):
        """Bit-exact check of the configured softmax unit under random valid/ready and a reset."""
        import time

        from runner import bench_config, bench_unit
        from stream_bench import (bench_rng, check_bit_exact, pack_beats, run_stream,
                                  start_clock_and_reset, unpack_beats)

        cfg = bench_config()
        bench = cfg.get("bench", {})
        unit = bench_unit()
        rng, seed = bench_rng(dut._log, bench.get("seed", 1))
        t0 = time.perf_counter()
        rows = softmax_rows(unit, int(bench.get("count", DEFAULT_COUNT)), seed=seed)
        beats, expected = stimulus_beats(unit, rows, seed=seed)
        bpr = unit.beats_per_row
        broken = bench.get("broken_golden")
        if broken is not None:                     # deliberately wrong model: must fail
            expected[int(broken) * bpr, 0] += 1
            dut._log.info("golden broken on purpose: row %d element 0 off by one", int(broken))
        words = pack_beats(beats, unit.in_bits)
        reset_at = int(bench.get("reset_at_beat", min(7, len(rows) - 1) * bpr + bpr // 2))
        t1 = time.perf_counter()
        await start_clock_and_reset(dut)
        result = await run_stream(dut, words, rng=rng,
                                  valid_prob=float(bench.get("valid_prob", 0.85)),
                                  ready_prob=float(bench.get("ready_prob", 0.75)),
                                  reset_at_beat=None if reset_at < 0 else reset_at,
                                  max_idle_cycles=4 * unit.cycles_per_row + 100,
                                  drain_cycles=unit.cycles_per_row + 32)
        t2 = time.perf_counter()
        got = unpack_beats(result.outputs, unit.out_bits, unit.lanes, signed=unit.out_signed)

        def describe(k, j):
            r, e = divmod(k * unit.lanes + j, bpr * unit.lanes)
            if e >= unit.row_len:
                return f"row {r}, padding lane (output must be 0)"
            row = rows[r]
            shown = ", ".join(str(int(v)) for v in row[:48]) + (", ..." if len(row) > 48 else "")
            return f"row {r} element {e} (row max {int(row.max())}); row inputs [{shown}]"

        n = check_bit_exact(got, expected, inputs=beats, describe=describe,
                            label=f"softmax {unit.algo} {unit.params()}")
        dut._log.info("PASS %d elements bit-exact in %d rows (%d beats, %d cycles, %d beats "
                      "dropped by reset and re-sent); stimulus %.2f s, simulation %.2f s",
                      len(rows) * unit.row_len, len(rows), len(words), result.cycles,
                      len(result.dropped), t1 - t0, t2 - t1)
        assert n == expected.size


# ---------------------------------------------------------------------------------------------
# pytest entries
# ---------------------------------------------------------------------------------------------
def _run(simulator, algo, params, bench, tag):
    from runner import run_bench
    return run_bench("softmax", algo, params, test_module="test_softmax", testcase="verify_unit",
                     sim=simulator, bench=bench, run_tag=tag)


def _assert_ok(result, what):
    assert result.ok, f"{what}: bench failed ({result.log_file}):\n{result.failure_lines()}"
    assert "PASS" in result.log_text() and "dropped by reset" in result.log_text()


ALGOS = ("shiftmax", "ibert", "edgemoe", "lut")
# 100k elements per unit at ViT's row length; 4 lanes do not divide 197, so every row's last
# beat has padding lanes.
FULL = {"row_len": 197, "lanes": 4}


@pytest.mark.parametrize("algo", ALGOS)
def test_softmax_bit_exact_100k_elements(simulator, algo):
    result = _run(simulator, algo, FULL, {"count": DEFAULT_COUNT, "seed": 1}, "full")
    _assert_ok(result, f"{algo} {FULL}")


@pytest.mark.parametrize("algo", ALGOS)
def test_softmax_row_len_1_and_defaults(simulator, algo):
    """row_len 1 (the output is the exp of 0, normalised), then the default unit (1 lane)."""
    result = _run(simulator, algo, {"row_len": 1}, {"count": 300, "seed": 2}, "row1")
    _assert_ok(result, f"{algo} row_len 1")
    result = _run(simulator, algo, {}, {"count": 8000, "seed": 3, "ready_prob": 0.5}, "defaults")
    _assert_ok(result, f"{algo} defaults")


def test_deliberately_broken_golden_makes_the_bench_fail(simulator):
    result = _run(simulator, "lut", {"row_len": 16, "lanes": 4},
                  {"count": 2000, "seed": 4, "broken_golden": 30}, "broken")
    assert result.tests == 1 and result.failed == 1, "a wrong golden model went unnoticed"
    log = result.log_text()
    assert "1 of " in log and "outputs differ; first mismatch at beat 120 lane 0" in log
    assert "row 30 element 0" in log


@pytest.mark.verilator
def test_softmax_bit_exact_on_verilator(simulator):
    """One unit on Verilator (~7 s of C++ build); every unit runs there with
    ``--simulator verilator``."""
    result = _run(simulator, "edgemoe", {"row_len": 64, "lanes": 2},
                  {"count": 20_000, "seed": 5}, "verilator")
    _assert_ok(result, "edgemoe on verilator")
