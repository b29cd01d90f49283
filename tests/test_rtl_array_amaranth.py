"""Fast checks of the systolic-array generator (rtl/array.py) in Amaranth's own simulator.

The cocotb bench ``sims/test_array.py`` on the emitted Verilog is the verification of record;
these run small GEMMs on small arrays in a few seconds, every dataflow with and without double
buffering, and compare (1) every output beat bit-exactly with the numpy partial products of
:func:`rtl.array.stream_beats`, (2) the assembled product with ``a @ b``, (3) the step count
with the PE-grid model ``hwsim.backends.systolic_pe.simulate_gemm`` and (4) without stalls, the
clock edges from the command to the last result with the same number.
"""
from __future__ import annotations

import random

import numpy as np
import pytest

amaranth = pytest.importorskip("amaranth")

from amaranth.sim import Simulator  # noqa: E402

from hwsim.backends.systolic_pe import simulate_gemm  # noqa: E402
from rtl.array import SystolicArray, assemble, stream_beats  # noqa: E402


async def run_one(ctx, dut: SystolicArray, a, b, rng, valid_prob=1.0, ready_prob=1.0):
    """One GEMM from an Amaranth testbench: (output beats, ``cycles`` port, clock edges from
    the cmd transfer to the last result transfer)."""
    m, k = a.shape
    n = b.shape[1]
    west, north, _ = stream_beats(a, b, dut.rows, dut.cols, dut.dataflow, dut.double_buffered,
                                  dut.acc_bits, pad=np.random.default_rng(rng.randrange(1 << 30)))
    ctx.set(dut.cmd.payload, {"m": m, "k": k, "n": n})
    ctx.set(dut.cmd.valid, 1)
    while True:
        _, _, ready = await ctx.tick().sample(dut.cmd.ready)
        if ready:
            break
    ctx.set(dut.cmd.valid, 0)
    outs = []
    edge = last_out_edge = 0
    w_k = n_k = 0
    while True:
        # a beat once offered stays offered until it transfers
        if w_k < len(west) and (ctx.get(dut.west.valid) or rng.random() < valid_prob):
            ctx.set(dut.west.valid, 1)
            ctx.set(dut.west.payload, [int(v) for v in west[w_k]])
        if n_k < len(north) and (ctx.get(dut.north.valid) or rng.random() < valid_prob):
            ctx.set(dut.north.valid, 1)
            ctx.set(dut.north.payload, [int(v) for v in north[n_k]])
        ctx.set(dut.o.ready, rng.random() < ready_prob)
        _, _, wv, wr, nv, nr, ov, orr, op, busy = await ctx.tick().sample(
            dut.west.valid, dut.west.ready, dut.north.valid, dut.north.ready,
            dut.o.valid, dut.o.ready, dut.o.payload, dut.busy)
        edge += 1
        if wv and wr:
            w_k += 1
            ctx.set(dut.west.valid, 0)
        if nv and nr:
            n_k += 1
            ctx.set(dut.north.valid, 0)
        if ov and orr:
            outs.append([int(v) for v in op])
            last_out_edge = edge
        if not busy:
            break
        if edge > 100_000:
            raise AssertionError("array never finished")
    ctx.set(dut.west.valid, 0)
    ctx.set(dut.north.valid, 0)
    assert w_k == len(west) and n_k == len(north), "operand beats left over"
    return (np.array(outs, dtype=np.int64).reshape(-1, dut.cols), int(ctx.get(dut.cycles)),
            last_out_edge)


def run_gemms(dut: SystolicArray, gemms, *, seed=0, valid_prob=1.0, ready_prob=1.0):
    """Run ``gemms`` ([(a, b), ...]) back to back through ``dut``; per GEMM return
    (output beats, value of the ``cycles`` port, clock edges from the cmd transfer to the last
    result transfer)."""
    rng = random.Random(seed)
    results = []

    async def bench(ctx):
        for a, b in gemms:
            results.append(await run_one(ctx, dut, a, b, rng, valid_prob, ready_prob))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return results


def _check(dut, gemms, results, stall_free):
    for (a, b), (outs, cycles, edges) in zip(gemms, results, strict=True):
        m, k = a.shape
        n = b.shape[1]
        case = (dut.dataflow, dut.double_buffered, dut.rows, dut.cols, m, k, n)
        _, _, expected = stream_beats(a, b, dut.rows, dut.cols, dut.dataflow,
                                      dut.double_buffered, dut.acc_bits)
        assert outs.shape == expected.shape, case
        assert np.array_equal(outs, expected), case
        y = assemble(outs, m, k, n, dut.rows, dut.cols, dut.dataflow, dut.double_buffered,
                     dut.acc_bits)
        assert np.array_equal(y, a @ b), case
        model = simulate_gemm(a, b, dut.rows, dut.cols, dut.dataflow, dut.double_buffered)[1]
        assert cycles == model, (case, cycles, model)
        if stall_free:
            assert edges == model, (case, edges, model)


def _gemms(sizes, seed):
    rng = np.random.default_rng(seed)
    return [(rng.integers(-128, 128, (m, k)), rng.integers(-128, 128, (k, n)))
            for m, k, n in sizes]


ARRAYS = [(1, 1), (2, 3), (3, 2)]
SIZES = [(1, 1, 1), (2, 3, 4), (4, 1, 3), (3, 5, 2), (5, 2, 5)]


@pytest.mark.parametrize("double_buffered", [True, False])
@pytest.mark.parametrize("dataflow", ["ws", "os", "is"])
@pytest.mark.parametrize("rows,cols", ARRAYS)
def test_products_and_cycles_equal_the_pe_grid_model(dataflow, double_buffered, rows, cols):
    dut = SystolicArray(rows=rows, cols=cols, dataflow=dataflow, double_buffered=double_buffered,
                        acc_bits=24)
    gemms = _gemms(SIZES, seed=rows * 10 + cols)
    _check(dut, gemms, run_gemms(dut, gemms), stall_free=True)


@pytest.mark.parametrize("dataflow", ["ws", "os", "is"])
def test_random_stalls_change_wall_time_not_steps(dataflow):
    dut = SystolicArray(rows=2, cols=2, dataflow=dataflow)
    gemms = _gemms([(3, 4, 5), (2, 2, 2), (5, 3, 1)], seed=3)
    results = run_gemms(dut, gemms, seed=4, valid_prob=0.6, ready_prob=0.5)
    _check(dut, gemms, results, stall_free=False)
    assert all(edges > cycles for _, cycles, edges in results)


def test_rejects_bad_parameters_naming_them():
    for kwargs, text in [({"rows": 0}, "rows must be an integer from 1 to 256, not 0"),
                         ({"dataflow": "xs"}, "dataflow must be one of ws, os, is, not 'xs'"),
                         ({"word_bits": 8, "acc_bits": 12}, "acc_bits must be an integer from 16"),
                         ({"double_buffered": 1}, "double_buffered must be True or False")]:
        with pytest.raises(ValueError, match=text):
            SystolicArray(**kwargs)


def test_cli_generates_the_array_and_rejects_bad_parameters(tmp_path, capsys):
    from rtl.cli import main
    assert main(["rtl", "generate", "array", "--rows", "3", "--cols", "2", "--dataflow", "is",
                 "--no-double-buffered", "-o", str(tmp_path)]) == 0
    assert "module array_is" in (tmp_path / "array_is.v").read_text()
    assert "(3x2 is, 6 MACs/cycle, pipeline overhead 6 cycles per GEMM)" in capsys.readouterr().out
    assert main(["rtl", "generate", "array", "--rows", "0", "-o", str(tmp_path)]) == 2
    assert "rows must be an integer from 1 to 256, not 0" in capsys.readouterr().err


def test_zero_dimension_command_is_accepted_and_ignored():
    """cmd {m, 0, n}: no operand is consumed, no result appears, busy never rises; the next
    GEMM runs normally."""
    dut = SystolicArray(rows=2, cols=2, dataflow="ws")
    seen = {}

    async def bench(ctx):
        ctx.set(dut.cmd.payload, {"m": 3, "k": 0, "n": 2})
        ctx.set(dut.cmd.valid, 1)
        ctx.set(dut.west.valid, 1)
        ctx.set(dut.north.valid, 1)
        ctx.set(dut.o.ready, 1)
        _, _, ready = await ctx.tick().sample(dut.cmd.ready)
        ctx.set(dut.cmd.valid, 0)
        for _ in range(5):
            _, _, busy, ov, wr, nr = await ctx.tick().sample(dut.busy, dut.o.valid,
                                                              dut.west.ready, dut.north.ready)
            assert not (busy or ov or wr or nr)
        seen["cycles"] = ctx.get(dut.cycles)
        seen["accepted"] = ready

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert seen == {"cycles": 0, "accepted": 1}
    gemms = _gemms([(2, 3, 2)], seed=1)
    _check(dut, gemms, run_gemms(dut, gemms), stall_free=True)


@pytest.mark.parametrize("dataflow", ["ws", "os"])
def test_reset_in_the_middle_of_a_gemm_aborts_it_cleanly(dataflow):
    """A synchronous reset halfway through a GEMM: busy falls, no result appears, and the next
    GEMM is bit- and cycle-exact (no stale flag survives)."""
    from amaranth.hdl import ClockDomain, Module
    dut = SystolicArray(rows=3, cols=2, dataflow=dataflow)
    top = Module()
    top.domains.sync = cd = ClockDomain()
    top.submodules.dut = dut
    (a0, b0), (a1, b1) = _gemms([(5, 7, 4), (4, 5, 3)], seed=8)
    west, north, _ = stream_beats(a0, b0, 3, 2, dataflow)
    got = []

    async def bench(ctx):
        ctx.set(dut.cmd.payload, {"m": 5, "k": 7, "n": 4})
        ctx.set(dut.cmd.valid, 1)
        await ctx.tick()
        ctx.set(dut.cmd.valid, 0)
        ctx.set(dut.west.valid, 1)
        ctx.set(dut.west.payload, [int(v) for v in west[0]])
        ctx.set(dut.north.valid, 1)
        ctx.set(dut.north.payload, [int(v) for v in north[0]])
        ctx.set(dut.o.ready, 1)
        for _ in range(6):                      # a few steps in: operands inside the grid
            await ctx.tick()
        assert ctx.get(dut.busy)
        ctx.set(dut.west.valid, 0)
        ctx.set(dut.north.valid, 0)
        ctx.set(cd.rst, 1)
        for _ in range(2):
            await ctx.tick()
        ctx.set(cd.rst, 0)
        _, _, busy, ov = await ctx.tick().sample(dut.busy, dut.o.valid)
        assert not busy and not ov
        got.append(await run_one(ctx, dut, a1, b1, random.Random(1)))

    sim = Simulator(top)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    _check(dut, [(a1, b1)], got, stall_free=True)
