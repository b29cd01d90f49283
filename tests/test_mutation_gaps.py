"""Tests for the gaps a mutation run (mutmut 3.8 over hwsim/nonlinear.py, hwsim/engine.py, rtl/golden.py,
hwsim/backends/systolic.py) showed: each test below fails on mutants that survived the rest of the suite.

* every characterised unit has 1 lane, so lane arithmetic (``// lanes``, ``* lanes``, ``max(1, ...)``)
  was never exercised: a multi-lane UnitModel (the table can hold one: ``hwsim rtl characterise`` with
  ``lanes`` > 1) pins it;
* a vector op's OpCost fields other than cycles and energy (utilisation, unit, compute/ideal cycles,
  word width) were unchecked;
* golden models were only run one row at a time (``keepdims``/``axis`` mutants), rounding ties and the
  PWL GELU breakpoints were not pinned, the chrome trace's thread/metadata events were not read.
"""
import json

import numpy as np
import pytest

from hwsim import nonlinear
from hwsim.backends.systolic import SystolicBackend
from hwsim.engine import PREV, TaskGraph, make_block
from hwsim.hardware.systolic import SystolicConfig
from hwsim.nonlinear import UnitModel
from hwsim.workload import GELU, Eltwise, LayerNorm, Softmax
from rtl import golden as g

B = SystolicBackend()


def unit(kind, lanes, latency=5, passes=1, overhead=0):
    return UnitModel(kind=kind, algo="x", lanes=lanes, latency_cycles=latency, passes=passes,
                     row_overhead_cycles=overhead, lut=1, ff=1, dsp=0, bram=0, fmax_mhz=None)


# ---- hwsim/nonlinear.py: lane arithmetic ----------------------------------------------------------
def test_instances_of_a_multi_lane_unit():
    four = unit("gelu", 4)
    assert nonlinear.instances(four, 16) == 4          # 16 // 4
    assert nonlinear.instances(four, 18) == 4          # whole units only
    assert nonlinear.instances(four, 2) == 1           # at least one, even if wider than the vector unit
    assert nonlinear.instances(unit("gelu", 1), 1) == 1


def test_gelu_cycles_of_a_multi_lane_unit():
    # 4 instances x 4 lanes = 16 elements per cycle: ceil(100 / 16) = 7 beats + 5 latency
    assert nonlinear.gelu_cycles(unit("gelu", 4), 100, 16) == 12
    assert nonlinear.gelu_cycles(unit("gelu", 1), 10, 1) == 15            # 1 instance, 10 beats


def test_softmax_cycles_of_a_multi_lane_unit():
    u = unit("softmax", 4, passes=3, overhead=7)
    # per row: 3 passes x ceil(10 / 4) = 9 cycles + 7; 10 rows over 8 // 4 = 2 instances: 5 groups
    assert nonlinear.softmax_cycles(u, 10, 10, 8) == 5 * 16


# ---- hwsim/backends/systolic.py: the vector op's cost fields ---------------------------------------
def test_gelu_cost_fields():
    hw = SystolicConfig(vector_lanes=32)
    u = nonlinear.unit_model("gelu", hw.gelu_unit)
    c = B.analytic(GELU(name="g", n=100_003), hw)
    cycles = 3_126 + u.latency_cycles
    assert (c.ticks, dict(c.busy_ticks), c.ideal_ticks, c.macs, c.unit) == (cycles, {"vector": cycles}, cycles, 0, "vector")
    assert c.utilization == pytest.approx(100_003 / 32 / cycles)        # busy beats / cycles
    wide = B.analytic(GELU(name="g", n=100_003), SystolicConfig(vector_lanes=32, word_bits=16))
    assert wide.energy_pj["sram"] == pytest.approx(2 * c.energy_pj["sram"])   # 2-byte words


def test_layernorm_and_eltwise_cost_fields():
    hw = SystolicConfig(vector_lanes=32)
    ln = B.analytic(LayerNorm(name="ln", rows=3, width=101), hw)
    assert (ln.ticks, dict(ln.busy_ticks), ln.ideal_ticks, ln.unit) == (20, {"vector": 20}, 20, "vector")
    assert ln.utilization == pytest.approx(303 * 2 / 32 / 20)             # 18.9375 busy of 20
    ew = B.analytic(Eltwise(name="a", n=64), hw)
    assert (ew.ticks, ew.utilization) == (2, 1.0)


def test_softmax_cost_fields():
    hw = SystolicConfig(vector_lanes=8)
    u = nonlinear.unit_model("softmax", hw.softmax_unit)
    c = B.analytic(Softmax(name="s", rows=9, length=5, count=1), hw)
    per_row = u.passes * 5 + u.row_overhead_cycles
    assert c.ticks == 2 * per_row and c.unit == "vector" and c.macs == 0
    assert c.utilization == pytest.approx(45 / 8 / c.ticks)


# ---- rtl/golden.py ---------------------------------------------------------------------------------
ROW_FUNCS = {
    "shiftmax": lambda x: g.shiftmax(x, 2.0 ** -4)[0],
    "shiftgelu": lambda x: g.shiftgelu(x, 2.0 ** -4)[0],
    "ibert_softmax": lambda x: g.ibert_softmax(x, 2.0 ** -4)[0],
    "lut_softmax": lambda x: g.lut_softmax(x, 2.0 ** -4)[0],
    "edgemoe_softmax": lambda x: g.edgemoe_softmax(x)[0],
}


@pytest.mark.parametrize("name", sorted(ROW_FUNCS))
def test_a_batch_of_rows_equals_each_row_alone(name):
    rng = np.random.default_rng(7)
    rows = rng.integers(-128, 128, size=(5, 23))
    rows[2] -= 100
    rows[2] = np.clip(rows[2], -128, 127)
    f = ROW_FUNCS[name]
    batch = np.asarray(f(rows))
    for i in range(len(rows)):
        assert batch[i].tolist() == np.asarray(f(rows[i])).tolist(), (name, i)


def test_round_shift_half_even_ties():
    v = np.array([1, 2, 3, 5, 6, 7, -2, -6, 10], dtype=np.int64)
    # v / 4: 0.25 0.5 0.75 1.25 1.5 1.75 -0.5 -1.5 2.5 -> ties go to the even neighbour
    assert g._round_shift_half_even(v, 2).tolist() == [0, 0, 1, 1, 2, 2, 0, -2, 2]


def test_pwl_gelu_breakpoints_and_regions():
    t = g.pwl_gelu_table(2.0 ** -5)               # [-4, 4] at 1/32: codes -128 + 16 i, the last clipped to 128
    assert t["breakpoints"] == [-128 + 16 * i for i in range(17)]
    t6 = g.pwl_gelu_table(2.0 ** -6)              # [-4, 4] at 1/64 is wider than 8 bits: clipped to -128..128
    assert t6["breakpoints"][:5] == [-128] * 5 and t6["breakpoints"][-5:] == [128] * 5
    scale = 2.0 ** -4                             # breakpoints -64 + 8 i: inputs below -64 give 0, >= 64 give x
    t4 = g.pwl_gelu_table(scale)
    b, k, c = t4["breakpoints"], t4["slopes"], t4["intercepts"]
    x = np.arange(-128, 128)
    got = g.pwl_gelu(x, scale)[0]
    for xi, yi in zip(x.tolist(), got.tolist()):
        if xi < b[0]:
            want = 0
        elif xi >= b[-1]:
            want = xi
        else:
            i = max(j for j in range(16) if b[j] <= xi)
            want = (k[i] * xi + c[i]) >> 12
        assert yi == want, xi


def test_ibert_constants_error_names_the_scale_and_the_shift():
    with pytest.raises(ValueError, match=r"exp_scale16 1e-30 is too small for scale 0.0625: .* \(shift -?\d+\)"):
        g.ibert_softmax_constants(2.0 ** -4, 1e-30)


# ---- hwsim/engine.py: the trace's metadata and per-task fields -------------------------------------
def test_chrome_trace_metadata_and_args(tmp_path):
    gr = TaskGraph()
    gr.add_block(make_block(["dram", "array"], [("dram", 10, [PREV], "load"), ("array", 5, [0], "compute")]))
    gr.add_block(make_block(["array"], [("array", 3, [PREV], "compute")]))
    t = gr.schedule()
    path = tmp_path / "t.json"
    t.to_chrome_trace(path, tick_s=0.5e-9, detail="task")
    data = json.loads(path.read_text())
    assert data["displayTimeUnit"] == "ns"
    meta = [e for e in data["traceEvents"] if e["ph"] == "M"]
    assert meta[0] == {"name": "process_name", "ph": "M", "pid": 0, "args": {"name": "hwsim"}}
    threads = {e["tid"]: e["args"]["name"] for e in meta[1:]}
    assert set(threads.values()) == {"dram", "array"} and all(e["name"] == "thread_name" for e in meta[1:])
    events = [e for e in data["traceEvents"] if e["ph"] == "X"]
    assert [(e["name"], e["ts"], e["dur"], e["args"]) for e in events] == [
        ("0:load", 0.0, 0.005, {"op": "0", "cycles": 10}),
        ("0:compute", 0.005, 0.0025, {"op": "0", "cycles": 5}),
        ("1:compute", 0.0075, 0.0015, {"op": "1", "cycles": 3})]
    assert {threads[e["tid"]] for e in events} == {"dram", "array"} and all(e["pid"] == 0 for e in events)
    assert t.busy_cycles("array") == 8 and t.busy_cycles("dram") == 10 and t.busy_cycles("array", 1) == 3
    assert t.busy_cycles("vector") == 0
