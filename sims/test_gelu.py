"""cocotb bench for the GELU units of ``rtl/gelu.py``, and its pytest entries.

The bench (``verify_unit``, run inside the simulator) builds the stimulus for the configured unit,
drives it with random valid gaps and random ready backpressure (``sims/stream_bench.py``), and
compares every output bit-exactly with ``unit.golden`` (``rtl.golden``). Stimulus modes:

* ``exhaustive`` -- every input code for ``in_bits <= 16`` (``ibert``, ``pwl``). ShiftGELU's input
  is a pair (x, row max m >= x): for ``in_bits <= 8`` every pair; above, every x three times --
  in a row of consecutive codes (m = the beat's largest), with m = the largest code, and with m
  random. Edge-MoE takes 32-bit Q10.22 words: every value of the 16-bit slice ``x >> 10``
  (|x| < 8, all table indices and the 7 high fraction bits) with random low bits, plus 100,000
  random words (half within |x| < 6) and corners (0, +-1 LSB, extremes, +-5.5 and every table
  breakpoint +-1 LSB).
* ``random`` -- ``count`` random inputs (plus corners).

Bench options (``bench`` dict of :func:`runner.run_bench`): ``mode``, ``count``, ``seed``,
``valid_prob``, ``ready_prob``, ``reset_at_beat`` (assert reset mid-stream; the dropped beats are
sent again and checked), ``broken_golden`` (an input code whose expected output is made off by
one: the bench must then fail -- this proves it can).

Pytest entries build the Verilog and run the bench on Icarus (default) or Verilator
(``--simulator verilator`` / ``HWSIM_SIM``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

try:
    import cocotb
except ImportError:          # pytest entries skip through the `simulator` fixture
    cocotb = None


# ---------------------------------------------------------------------------------------------
# Stimulus (pure numpy)
# ---------------------------------------------------------------------------------------------
@dataclass
class Stimulus:
    """``x``: (beats, lanes) input codes; ``row_max``: (beats,) side-band or None;
    ``expected``: (beats, lanes) golden outputs."""
    x: np.ndarray
    row_max: np.ndarray | None
    expected: np.ndarray

    @property
    def elements(self) -> int:
        return int(self.x.size)


def _pad(x: np.ndarray, lanes: int, fill) -> np.ndarray:
    extra = (-len(x)) % lanes
    return np.concatenate([x, np.full(extra, fill, dtype=np.int64)]) if extra else x


def _elementwise(unit, x: np.ndarray) -> Stimulus:
    x = _pad(np.asarray(x, dtype=np.int64), unit.lanes, 0).reshape(-1, unit.lanes)
    return Stimulus(x=x, row_max=None, expected=unit.golden(x))


def _edgemoe_inputs(rng: np.random.Generator, mode: str, count: int) -> np.ndarray:
    lsb, one = 1, 1 << 22
    corners = [0, lsb, -lsb, (1 << 31) - 1, -(1 << 31), -(1 << 31) + 1, one, -one]
    for i in range(177):                     # table breakpoints i/32, both signs, +-1 LSB
        for s in (1, -1):
            base = s * (i << 17)
            corners += [base - lsb, base, base + lsb]
    parts = [np.array(corners, dtype=np.int64)]
    if mode == "exhaustive":
        hi = np.arange(-(1 << 15), 1 << 15, dtype=np.int64) << 10      # the 16-bit slice
        parts.append(hi | rng.integers(0, 1 << 10, size=hi.size, dtype=np.int64))
        count = 100_000
    half = count // 2
    parts.append(rng.integers(-(1 << 31), 1 << 31, size=count - half, dtype=np.int64))
    parts.append(rng.integers(-6 * one, 6 * one, size=half, dtype=np.int64))
    return np.concatenate(parts)


def _shiftgelu_pairs(unit, rng: np.random.Generator, mode: str, count: int):
    """(x, m) pairs grouped so that every beat shares one m; returns Stimulus."""
    lo, hi = unit.input_range()
    lanes = unit.lanes
    xs, ms = [], []
    if mode == "exhaustive" and unit.in_bits <= 8:
        for m in range(lo, hi + 1):                                   # every pair x <= m
            x = _pad(np.arange(lo, m + 1, dtype=np.int64), lanes, m)
            xs.append(x)
            ms.append(np.full(len(x) // lanes, m, dtype=np.int64))
    elif mode == "exhaustive":
        every = np.arange(lo, hi + 1, dtype=np.int64)
        rows = _pad(every, lanes, hi).reshape(-1, lanes)             # consecutive codes
        xs.append(rows.ravel())
        ms.append(rows.max(axis=1))
        x = _pad(every, lanes, hi)                                    # m = largest code
        xs.append(x)
        ms.append(np.full(len(x) // lanes, hi, dtype=np.int64))
        perm = rng.permutation(every)                                  # m random, >= x
        rows = _pad(perm, lanes, hi).reshape(-1, lanes)
        m = np.maximum(rows.max(axis=1), rng.integers(lo, hi + 1, size=len(rows)))
        xs.append(rows.ravel())
        ms.append(m)
    else:
        beats = max(1, count // lanes)
        m = rng.integers(lo, hi + 1, size=beats, dtype=np.int64)
        m[: min(4, beats)] = [lo, hi, -1, 0][: min(4, beats)]
        x = rng.integers(lo, hi + 1, size=(beats, lanes), dtype=np.int64)
        x = np.minimum(x, m[:, None])
        x[0, :] = lo
        xs.append(x.ravel())
        ms.append(m)
    x = np.concatenate(xs).reshape(-1, lanes)
    m = np.concatenate(ms)
    pairs = np.stack([x, np.broadcast_to(m[:, None], x.shape)], axis=-1)   # rows [x, m]
    expected = unit.golden(pairs)[..., 0]
    return Stimulus(x=x, row_max=m, expected=expected)


def gelu_stimulus(unit, mode: str = "exhaustive", *, seed: int = 1, count: int = 4096) -> Stimulus:
    """The stimulus and expected outputs of ``mode`` for ``unit`` (see the module docstring)."""
    if mode not in ("exhaustive", "random"):
        raise ValueError(f"unknown stimulus mode '{mode}'; available: exhaustive, random")
    rng = np.random.default_rng(seed)
    if unit.algo == "shiftgelu":
        return _shiftgelu_pairs(unit, rng, mode, count)
    if unit.algo == "edgemoe":
        return _elementwise(unit, _edgemoe_inputs(rng, mode, count))
    lo, hi = unit.input_range()
    corners = np.array([lo, lo + 1, -1, 0, 1, hi - 1, hi], dtype=np.int64)
    if mode == "exhaustive":
        if unit.in_bits > 16:
            raise ValueError(f"exhaustive stimulus needs in_bits <= 16, not {unit.in_bits}")
        return _elementwise(unit, np.arange(lo, hi + 1, dtype=np.int64))
    return _elementwise(unit, np.concatenate(
        [corners, rng.integers(lo, hi + 1, size=count, dtype=np.int64)]))


def payload_words(unit, stim: Stimulus) -> list[int]:
    """Input payload words: lanes of ``in_bits``, then ``row_max`` for ShiftGELU."""
    from stream_bench import add_sideband, pack_beats
    words = pack_beats(stim.x, unit.in_bits)
    if stim.row_max is not None:
        words = add_sideband(words, stim.row_max, unit.lanes * unit.in_bits, unit.in_bits)
    return words


# ---------------------------------------------------------------------------------------------
# cocotb bench
# ---------------------------------------------------------------------------------------------
if cocotb is not None:
    @cocotb.test()
    async def verify_unit(dut):
        """Bit-exact check of the configured GELU unit under random valid/ready."""
        import time

        from runner import bench_config, bench_unit
        from stream_bench import (bench_rng, check_bit_exact, run_stream,
                                  start_clock_and_reset, unpack_beats)

        cfg = bench_config()
        bench = cfg.get("bench", {})
        unit = bench_unit()
        rng, seed = bench_rng(dut._log, bench.get("seed", 1))
        t0 = time.perf_counter()
        stim = gelu_stimulus(unit, bench.get("mode", "exhaustive"), seed=seed,
                             count=int(bench.get("count", 4096)))
        expected = stim.expected.copy()
        broken = bench.get("broken_golden")
        if broken is not None:                     # deliberately wrong model: must fail
            expected[stim.x == int(broken)] += 1
            dut._log.info("golden broken on purpose: input %d off by one", int(broken))
        words = payload_words(unit, stim)
        t1 = time.perf_counter()
        await start_clock_and_reset(dut)
        result = await run_stream(dut, words, rng=rng,
                                  valid_prob=float(bench.get("valid_prob", 0.85)),
                                  ready_prob=float(bench.get("ready_prob", 0.75)),
                                  reset_at_beat=bench.get("reset_at_beat"))
        t2 = time.perf_counter()
        got = unpack_beats(result.outputs, unit.out_bits, unit.lanes)

        def describe(k, j):
            return "" if stim.row_max is None else f"row_max {int(stim.row_max[k])}"

        n = check_bit_exact(got, expected, inputs=stim.x, describe=describe,
                            label=f"gelu {unit.algo} {unit.params()}")
        dut._log.info("PASS %d elements bit-exact (%s, %d beats, %d cycles, %d dropped by reset "
                      "and re-sent, max %d in flight); stimulus %.2f s, simulation %.2f s",
                      n, bench.get("mode", "exhaustive"), len(words), result.cycles,
                      len(result.dropped), result.max_in_flight, t1 - t0, t2 - t1)


# ---------------------------------------------------------------------------------------------
# pytest entries
# ---------------------------------------------------------------------------------------------
def _run(simulator, algo, params, bench, tag):
    from runner import run_bench
    return run_bench("gelu", algo, params, test_module="test_gelu", testcase="verify_unit",
                     sim=simulator, bench=bench, run_tag=tag)


EXHAUSTIVE = [
    ("shiftgelu", {"in_bits": 8, "lanes": 8}),
    ("shiftgelu", {"in_bits": 16, "scale": 2.0 ** -9, "lanes": 16}),
    ("ibert", {"in_bits": 8, "scale": 0.05, "lanes": 4}),
    ("ibert", {"in_bits": 16, "lanes": 16}),
    ("pwl", {"in_bits": 8, "lanes": 4}),
    ("pwl", {"in_bits": 16, "scale": 2.0 ** -10, "lanes": 16}),
    ("edgemoe", {"lanes": 16}),
]


@pytest.mark.parametrize("algo,params", EXHAUSTIVE,
                         ids=[f"{a}-{p.get('in_bits', 32)}bit" for a, p in EXHAUSTIVE])
def test_gelu_bit_exact_exhaustive(simulator, algo, params):
    result = _run(simulator, algo, params, {"mode": "exhaustive", "seed": 1}, "exhaustive")
    assert result.ok, f"{algo} {params}: bench failed ({result.log_file}):\n{result.failure_lines()}"


@pytest.mark.parametrize("algo", ["shiftgelu", "ibert", "pwl", "edgemoe"])
def test_gelu_reset_mid_stream_drops_nothing_unexpected(simulator, algo):
    bench = {"mode": "random", "count": 1500, "seed": 2, "reset_at_beat": 100,
             "ready_prob": 0.4}
    result = _run(simulator, algo, {"lanes": 2, "pipeline_regs": 3}, bench, "reset")
    assert result.ok, f"{algo}: bench failed ({result.log_file}):\n{result.failure_lines()}"
    assert "dropped by reset" in result.log_text()


def test_deliberately_broken_golden_makes_the_bench_fail(simulator):
    result = _run(simulator, "ibert", {"in_bits": 8, "scale": 0.05, "lanes": 4},
                  {"mode": "exhaustive", "seed": 3, "broken_golden": 37}, "broken")
    assert result.tests == 1 and result.failed == 1, "a wrong golden model went unnoticed"
    log = result.log_text()
    assert "1 of 256 outputs differ; first mismatch" in log and "input 37" in log
