"""The softmax and GELU units against their golden models and the simulator's cycle table, in Amaranth's own
simulator (no Verilog tools needed), registered as ``hwsim validate`` checks.

The cocotb benches on the emitted Verilog (``sims/``, ``hwsim rtl verify``) are the verification of record;
the checks here re-run, on the units' default parameters (the ones ``hwsim/data/unit_costs.json`` characterises
and the systolic backend costs): random and corner inputs under random valid gaps and ready backpressure,
every output compared bit-exactly with ``unit.golden`` (``rtl.golden``), and, with valid and ready held high,
the measured cycles per softmax row and GELU latency compared with the table the simulator uses
(``hwsim.nonlinear``). With ``--full``, the exhaustive cocotb benches run on Icarus where the checkout's
``sims/`` and ``iverilog`` are present.
"""
from __future__ import annotations

import random

import numpy as np


def stream(unit, beats: np.ndarray, sideband: dict | None = None, *, seed: int = 0, valid_prob: float = 0.8,
           ready_prob: float = 0.7, reset_after: int | None = None) -> dict:
    """Drive ``beats`` ((n, lanes) inputs) through a valid/ready ``unit`` in Amaranth's simulator.

    Returns ``outputs`` ((n, lanes) int64, one output beat per input beat), ``in_at`` / ``out_at`` (the cycle
    of every input and output transfer) and ``cycles``. ``sideband``: payload field -> one value per beat (the
    GELU units' row maximum). ``reset_after=k``: the reset is pulsed after input beat k is accepted and the
    partial row is sent again from its first beat (a row unit drops it). Raises AssertionError if an output
    appears with no input in flight, the stream stalls, or an output appears after the last one."""
    from amaranth.hdl import ClockDomain, Module
    from amaranth.sim import DomainReset, Simulator
    rng = random.Random(seed)
    n = len(beats)
    per_row = getattr(unit, "cycles_per_row", 1)
    res: dict = {"outputs": [], "in_at": [], "out_at": [], "cycles": 0}

    async def bench(ctx):
        sent, offered, cycles, done_reset = 0, False, 0, reset_after is None
        while len(res["outputs"]) < n:
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
            if o_valid and o_ready:
                assert len(res["outputs"]) < sent, "output without an input in flight"
                res["outputs"].append([int(v) for v in o_payload])
                res["out_at"].append(cycles)
            if i_valid and i_ready:
                sent += 1
                res["in_at"].append(cycles)
                offered = False
                if not done_reset and sent > reset_after:
                    done_reset = True
                    ctx.set(unit.i.valid, 0)
                    ctx.set(unit.o.ready, 0)
                    ctx.set(domain.rst, 1)
                    for _ in range(2):
                        try:
                            await ctx.tick()
                        except DomainReset:         # expected: we are resetting it
                            pass
                    ctx.set(domain.rst, 0)
                    sent = len(res["outputs"])      # the row in progress starts again
                    assert sent % getattr(unit, "beats_per_row", 1) == 0
                    del res["in_at"][sent:]
            assert cycles < 50 * (n + 10) * max(1, per_row), "stream stalled"
        res["cycles"] = cycles
        ctx.set(unit.i.valid, 0)                    # nothing more may come out
        ctx.set(unit.o.ready, 1)
        for _ in range(per_row + getattr(unit, "latency_cycles", 0) + 4):
            _, _, o_valid = await ctx.tick().sample(unit.o.valid)
            assert not o_valid, "extra output"

    top = Module()
    top.domains.sync = domain = ClockDomain("sync")
    top.submodules.dut = unit
    sim = Simulator(top)
    sim.add_clock(1e-8, domain="sync")
    sim.add_testbench(bench)
    sim.run()
    res["outputs"] = np.asarray(res["outputs"], dtype=np.int64).reshape(n, -1)
    return res


def _softmax_rows(unit, n: int, rng: np.random.Generator) -> np.ndarray:
    """Random rows plus corners (all at the minimum, all at the maximum, one-hot, one low)."""
    lo, hi = unit.input_range()
    if unit.algo == "edgemoe":          # Q10.22 scores within +-8.0
        rows = rng.integers(-8 << 22, 8 << 22, size=(n, unit.row_len))
    else:
        rows = rng.integers(lo, hi + 1, size=(n, unit.row_len))
    rows[0], rows[1] = lo, hi
    rows[2] = lo
    rows[2, unit.row_len // 2] = hi
    return rows


def _row_beats(unit, rows: np.ndarray, pad: int = 0) -> np.ndarray:
    out = np.full((len(rows), unit.beats_per_row * unit.lanes), pad, dtype=np.int64)
    out[:, :unit.row_len] = rows
    return out.reshape(-1, unit.lanes)


def check_softmax(algo: str, rows: int, tally) -> None:
    """One softmax unit (default parameters): ``rows`` rows under backpressure bit-exact against the golden, and
    3 rows at full throughput: the row period equals the simulator's cycle model (``hwsim.nonlinear``)."""
    from hwsim import nonlinear
    from rtl.build import make_unit
    unit = make_unit("softmax", algo, {})
    x = _softmax_rows(unit, rows, np.random.default_rng(5))
    got = stream(unit, _row_beats(unit, x, pad=int(unit.input_range()[1])), seed=3)["outputs"]
    want = _row_beats(unit, unit.golden(x))
    bad = np.argwhere(got != want)
    tally.exact(f"softmax {algo}", len(bad), 0, f"mismatching outputs of {want.size:,}"
                + (f" (first at beat/lane {tuple(bad[0])}: RTL {got[tuple(bad[0])]}, golden {want[tuple(bad[0])]})"
                   if len(bad) else ""))
    full = stream(unit, _row_beats(unit, x[:3]), valid_prob=1.0, ready_prob=1.0)
    starts = np.array(full["in_at"])[::unit.beats_per_row]
    model = nonlinear.unit_model("softmax", algo)
    per_row = model.passes * -(-unit.row_len // model.lanes) + model.row_overhead_cycles
    tally.exact(f"softmax {algo}", sorted(set(np.diff(starts).tolist())), [per_row],
                f"cycles per {unit.row_len}-element row (RTL vs the simulator's unit table)")


def check_gelu(algo: str, count: int, tally) -> None:
    """One GELU unit (default parameters): corners + random inputs under backpressure bit-exact against the
    golden, and at full throughput the first output ``latency_cycles`` after the input, as the table says."""
    from hwsim import nonlinear
    from rtl.build import make_unit
    unit = make_unit("gelu", algo, {})
    rng = np.random.default_rng(7)
    lo, hi = unit.input_range()
    corners = np.array([lo, lo + 1, -1, 0, 1, hi - 1, hi], dtype=np.int64)
    n = -(-count // unit.lanes) * unit.lanes
    x = np.concatenate([corners, rng.integers(lo, hi + 1, size=n - len(corners), dtype=np.int64)])
    if algo == "edgemoe":               # Q10.22 words: half inside the table range
        x[n // 2:] = rng.integers(-6 << 22, 6 << 22, size=n - n // 2)
    sideband = None
    if algo == "shiftgelu":             # ShiftGELU needs each row's maximum: rows of 8 beats
        rows = x.reshape(-1, 8 * unit.lanes) if n % (8 * unit.lanes) == 0 else x.reshape(1, -1)
        want = unit.golden(rows).reshape(-1, unit.lanes)
        sideband = {"row_max": np.repeat(rows.max(axis=-1), rows.shape[1] // unit.lanes)}
    else:
        want = unit.golden(x).reshape(-1, unit.lanes)
    res = stream(unit, x.reshape(-1, unit.lanes), sideband, seed=3)
    bad = np.argwhere(res["outputs"] != want)
    tally.exact(f"gelu {algo}", len(bad), 0, f"mismatching outputs of {want.size:,}"
                + (f" (first at beat/lane {tuple(bad[0])})" if len(bad) else ""))
    beats = x[: 4 * unit.lanes].reshape(-1, unit.lanes)
    side = {k: v[:4] for k, v in sideband.items()} if sideband else None
    full = stream(unit, beats, side, valid_prob=1.0, ready_prob=1.0)
    tally.exact(f"gelu {algo}", full["out_at"][0] - full["in_at"][0],
                nonlinear.unit_model("gelu", algo).latency_cycles, "latency cycles (RTL vs the unit table)")


def _cocotb(kind: str, algo: str, params: dict, testcase: str, bench: dict, tally, case: str) -> None:
    """Run one cocotb bench of record (``sims/``) on Icarus; raises :class:`hwsim.validation.Skipped` outside a
    checkout or without ``iverilog``."""
    import sys
    from pathlib import Path

    from hwsim.validation import Skipped
    sims = Path(__file__).resolve().parents[1] / "sims"
    if not (sims / "runner.py").is_file():
        raise Skipped("needs the repository checkout's sims/ (the cocotb benches)")
    if str(sims) not in sys.path:
        sys.path.insert(0, str(sims))
    from runner import run_bench, simulator_missing
    missing = simulator_missing("icarus")
    if missing:
        raise Skipped(missing)
    result = run_bench(kind, algo, params, test_module=f"test_{kind}", testcase=testcase, sim="icarus",
                       bench=bench, run_tag="validate")
    tally.exact(case, result.ok, True, f"cocotb bench passes (log {result.log_file})")


def register_checks() -> None:
    from hwsim.nonlinear import GELU_UNITS, SOFTMAX_UNITS
    from hwsim.validation import Tally, check

    @check("rtl/softmax-units", reference="rtl.golden (each algorithm's integer golden model); unit_costs.json",
           compares="every softmax unit's outputs bit-exact on 4 rows x 197 under backpressure; cycles per row",
           requires=("amaranth",))
    def softmax_units():
        t = Tally()
        for algo in SOFTMAX_UNITS:
            check_softmax(algo, 4, t)
        return t.outcome()

    @check("rtl/gelu-units", reference="rtl.golden (each algorithm's integer golden model); unit_costs.json",
           compares="every GELU unit's outputs bit-exact on 320 corner + random inputs; latency",
           requires=("amaranth",))
    def gelu_units():
        t = Tally()
        for algo in GELU_UNITS:
            check_gelu(algo, 320, t)
        return t.outcome()

    @check("rtl/gelu-exhaustive", reference="rtl.golden (each algorithm's integer golden model)",
           compares="16-bit GELU units (ibert, pwl, shiftgelu) on every input code, Verilog on Icarus via cocotb",
           full=True, requires=("amaranth", "cocotb"))
    def gelu_exhaustive():
        t = Tally()
        for algo, scale in (("ibert", 2.0 ** -10), ("pwl", 2.0 ** -10), ("shiftgelu", 2.0 ** -9)):
            _cocotb("gelu", algo, {"in_bits": 16, "scale": scale, "lanes": 16}, "verify_unit",
                    {"mode": "exhaustive", "seed": 1}, t, f"gelu {algo} 16-bit")
        return t.outcome()

    @check("rtl/array-cycle-exact", reference="the PE-grid model (hwsim.backends.systolic_pe) and the fold formula",
           compares="generated 4x4 PE arrays, ws/os/is: products bit-exact and cycles equal per GEMM, 40 GEMMs each",
           full=True, requires=("amaranth", "cocotb"))
    def array_cycle_exact():
        import sys
        from pathlib import Path
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sims"))
        t = Tally()
        for dataflow in ("ws", "os", "is"):
            try:
                from test_array import gemm_list
            except ImportError:
                from hwsim.validation import Skipped
                raise Skipped("needs the repository checkout's sims/ (the cocotb benches)") from None
            _cocotb("array", dataflow, {"rows": 4, "cols": 4}, "verify_gemms",
                    {"seed": 1, "gemms": gemm_list(4, 4, 40, 1)}, t, f"array 4x4 {dataflow}")
        return t.outcome()
