"""The softmax and GELU units against their golden models and the simulator's cycle table, in Amaranth's own
simulator (no Verilog tools needed), registered as ``hwsim validate`` checks.

The cocotb benches on the emitted Verilog (``sims/``, ``hwsim rtl verify``) are the verification of record;
the checks here re-run, on the units' default parameters (the ones ``hwsim/data/unit_costs.json`` characterises
and the systolic backend costs): random and corner inputs under random valid gaps and ready backpressure,
every output compared bit-exactly with ``unit.golden`` (``rtl.golden``); the measured GELU latency (first input
to first valid output) and, with valid and ready held high, cycles per softmax row are compared with the table the
simulator uses (``hwsim.nonlinear``). With ``--full``, the exhaustive cocotb benches run on Icarus where the
checkout's ``sims/`` and ``iverilog`` are present.
"""
from __future__ import annotations

import random

import numpy as np


def stream(unit, beats: np.ndarray, sideband: dict | None = None, *, seed: int = 0, valid_prob: float = 0.8,
           ready_prob: float = 0.7, reset_after: int | None = None) -> dict:
    """Drive ``beats`` ((n, lanes) inputs) through a valid/ready ``unit`` in Amaranth's simulator.

    Returns ``outputs`` ((n, lanes) int64, one output beat per input beat), ``in_at`` / ``out_at`` (the cycle
    of every input and output transfer), ``cycles`` and ``first_valid_after`` (cycles from the first accepted
    input to the first cycle the output is valid, ready or not: a GELU unit's ``latency_cycles``). ``sideband``:
    payload field -> one value per beat (the GELU units' row maximum). ``reset_after=k``: the reset is pulsed
    after input beat k is accepted and the partial row is sent again from its first beat (a row unit drops it).
    Raises AssertionError if an output appears with no input in flight, the stream stalls (20 times the unit's
    cycles per beat, per beat plus 10), or an output appears after the last one."""
    from amaranth.hdl import ClockDomain, Module
    from amaranth.sim import DomainReset, Simulator
    rng = random.Random(seed)
    n = len(beats)
    per_row = getattr(unit, "cycles_per_row", 1)
    per_beat = max(1, per_row // getattr(unit, "beats_per_row", 1))
    res: dict = {"outputs": [], "in_at": [], "out_at": [], "cycles": 0, "first_valid_after": None}

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
            if o_valid and res["first_valid_after"] is None:
                assert res["in_at"], "output valid before any input"
                res["first_valid_after"] = cycles - res["in_at"][0]
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
            assert cycles < 20 * (n + 10) * per_beat, "stream stalled"
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


def row_beats(unit, rows: np.ndarray, pad=0) -> np.ndarray:
    """``(n, row_len)`` rows -> ``(n·beats_per_row, lanes)`` beats; the unused lanes of each row's last beat hold
    ``pad`` (a scalar or an array broadcast over them; the unit must ignore them)."""
    out = np.zeros((len(rows), unit.beats_per_row * unit.lanes), dtype=np.int64)
    out[:, unit.row_len:] = pad
    out[:, :unit.row_len] = rows
    return out.reshape(-1, unit.lanes)


def check_softmax(algo: str, rows: int, tally) -> None:
    """One softmax unit (default parameters): ``rows`` rows under backpressure bit-exact against the golden, and
    3 rows at full throughput: the row period equals the simulator's cycle model (``hwsim.nonlinear``)."""
    from hwsim import nonlinear
    from rtl.build import make_unit
    unit = make_unit("softmax", algo, {})
    x = _softmax_rows(unit, rows, np.random.default_rng(5))
    got = stream(unit, row_beats(unit, x, pad=int(unit.input_range()[1])), seed=3)["outputs"]
    want = row_beats(unit, unit.golden(x))
    bad = np.argwhere(got != want)
    tally.exact(f"softmax {algo}", len(bad), 0, f"mismatching outputs of {want.size:,}"
                + (f" (first at beat/lane {tuple(bad[0])}: RTL {got[tuple(bad[0])]}, golden {want[tuple(bad[0])]})"
                   if len(bad) else ""))
    full = stream(unit, row_beats(unit, x[:3]), valid_prob=1.0, ready_prob=1.0)
    starts = np.array(full["in_at"])[::unit.beats_per_row]
    model = nonlinear.unit_model("softmax", algo)
    per_row = nonlinear.softmax_cycles(model, 1, unit.row_len, model.lanes)
    tally.exact(f"softmax {algo}", sorted(set(np.diff(starts).tolist())), [per_row],
                f"cycles per {unit.row_len}-element row (RTL vs the simulator's unit table)")


def gelu_inputs(unit, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` GELU inputs: the corners (lo, lo + 1, -1, 0, 1, hi - 1, hi), then uniform codes over the input
    range; for Edge-MoE (Q10.22 words) the second half is redrawn within +-6.0, mostly inside its table range
    (|x| < 5.5)."""
    lo, hi = unit.input_range()
    corners = np.array([lo, lo + 1, -1, 0, 1, hi - 1, hi], dtype=np.int64)
    x = np.concatenate([corners, rng.integers(lo, hi + 1, size=count - len(corners), dtype=np.int64)])
    if unit.algo == "edgemoe":
        x[count // 2:] = rng.integers(-6 << 22, 6 << 22, size=count - count // 2)
    return x


def check_gelu(algo: str, count: int, tally) -> None:
    """One GELU unit (default parameters): corners + random inputs under backpressure bit-exact against the
    golden, and the first output valid ``latency_cycles`` after the first input, as the table says."""
    from hwsim import nonlinear
    from rtl.build import make_unit
    unit = make_unit("gelu", algo, {})
    n = -(-count // unit.lanes) * unit.lanes
    x = gelu_inputs(unit, n, np.random.default_rng(7))
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
    tally.exact(f"gelu {algo}", res["first_valid_after"], nonlinear.unit_model("gelu", algo).latency_cycles,
                "latency cycles (RTL vs the unit table)")


def _sims_dir() -> None:
    """Put the checkout's ``sims/`` (the cocotb benches) on ``sys.path``; raises
    :class:`hwsim.validation.Skipped` outside a checkout."""
    import sys
    from pathlib import Path

    from hwsim.validation import Skipped
    sims = Path(__file__).resolve().parents[1] / "sims"
    if not (sims / "runner.py").is_file():
        raise Skipped("needs the repository checkout's sims/ (the cocotb benches)")
    if str(sims) not in sys.path:
        sys.path.insert(0, str(sims))


def _cocotb(kind: str, algo: str, params: dict, testcase: str, bench: dict, tally, case: str) -> None:
    """Run one cocotb bench of record (``sims/``) on Icarus; raises :class:`hwsim.validation.Skipped` outside a
    checkout or without ``iverilog``."""
    from hwsim.validation import Skipped
    _sims_dir()
    from runner import run_bench, simulator_missing
    missing = simulator_missing("icarus")
    if missing:
        raise Skipped(missing)
    result = run_bench(kind, algo, params, test_module=f"test_{kind}", testcase=testcase, sim="icarus",
                       bench=bench, run_tag="validate")
    tally.exact(case, result.ok, True, f"cocotb bench passes (log {result.log_file})")


def register_checks() -> None:
    from hwsim.nonlinear import GELU_UNITS, SOFTMAX_UNITS, unit_table
    from hwsim.validation import Tally, check

    rows = 4
    row_len, = {u["params"]["row_len"] for u in unit_table()["units"]["softmax"].values()}   # the defaults'

    @check("rtl/softmax-units", reference="rtl.golden (each algorithm's integer golden model); unit_costs.json",
           compares=f"every softmax unit's outputs bit-exact on {rows} rows x {row_len} under backpressure; "
                    "cycles per row",
           requires=("amaranth",))
    def softmax_units():
        t = Tally()
        for algo in SOFTMAX_UNITS:
            check_softmax(algo, rows, t)
        return t.outcome()

    count = 320

    @check("rtl/gelu-units", reference="rtl.golden (each algorithm's integer golden model); unit_costs.json",
           compares=f"every GELU unit's outputs bit-exact on {count} corner + random inputs; latency",
           requires=("amaranth",))
    def gelu_units():
        t = Tally()
        for algo in GELU_UNITS:
            check_gelu(algo, count, t)
        return t.outcome()

    bits, exhaustive = 16, (("ibert", 2.0 ** -10), ("pwl", 2.0 ** -10), ("shiftgelu", 2.0 ** -9))

    @check("rtl/gelu-exhaustive", reference="rtl.golden (each algorithm's integer golden model)",
           compares=f"{bits}-bit GELU units ({', '.join(a for a, _ in exhaustive)}) on every input code, "
                    "Verilog on Icarus via cocotb",
           full=True, requires=("amaranth", "cocotb"))
    def gelu_exhaustive():
        t = Tally()
        for algo, scale in exhaustive:
            _cocotb("gelu", algo, {"in_bits": bits, "scale": scale, "lanes": 16}, "verify_unit",
                    {"mode": "exhaustive", "seed": 1}, t, f"gelu {algo} {bits}-bit")
        return t.outcome()

    side, dataflows, gemms = 4, ("ws", "os", "is"), 40

    @check("rtl/array-cycle-exact", reference="the PE-grid model (hwsim.backends.systolic_pe) and the fold formula",
           compares=f"generated {side}x{side} PE arrays, {'/'.join(dataflows)}: products bit-exact and cycles "
                    f"equal per GEMM, {gemms} GEMMs each",
           full=True, requires=("amaranth", "cocotb"))
    def array_cycle_exact():
        _sims_dir()
        from test_array import gemm_list
        t = Tally()
        for dataflow in dataflows:
            _cocotb("array", dataflow, {"rows": side, "cols": side}, "verify_gemms",
                    {"seed": 1, "gemms": gemm_list(side, side, gemms, 1)}, t, f"array {side}x{side} {dataflow}")
        return t.outcome()
