"""Softmax/GELU ops are costed from the characterised RTL units (hwsim/data/unit_costs.json)."""
import math

import pytest

from hwsim import nonlinear
from hwsim.backends.systolic import SystolicBackend
from hwsim.config import parse_overrides
from hwsim.errors import ConfigError
from hwsim.hardware import load_hardware
from hwsim.workload import GELU, Softmax

B = SystolicBackend()


def test_the_table_holds_every_unit_the_configs_can_name():
    units = nonlinear.unit_table()["units"]
    assert set(units["softmax"]) == set(nonlinear.SOFTMAX_UNITS)
    assert set(units["gelu"]) == set(nonlinear.GELU_UNITS)
    for kind, algos in units.items():
        for algo, u in algos.items():
            assert u["lut"] > 0 and u["latency_cycles"] >= 1, (kind, algo)


@pytest.mark.parametrize("algo", nonlinear.SOFTMAX_UNITS)
def test_softmax_cycle_model_matches_the_rtl_unit(algo):
    pytest.importorskip("amaranth")
    from rtl.build import make_unit
    u = nonlinear.unit_model("softmax", algo)
    for n in (1, 5, 197, 256):
        unit = make_unit("softmax", algo, {"row_len": n})
        assert unit.cycles_per_row == u.passes * math.ceil(n / u.lanes) + u.row_overhead_cycles


@pytest.mark.parametrize("kind,algo", [("softmax", a) for a in nonlinear.SOFTMAX_UNITS]
                         + [("gelu", a) for a in nonlinear.GELU_UNITS])
def test_the_table_is_current_with_the_default_generators(kind, algo):
    """The characterised figures describe the generators as they are now (else: hwsim rtl characterise)."""
    pytest.importorskip("amaranth")
    from rtl.build import make_unit
    unit, u = make_unit(kind, algo, {}), nonlinear.unit_table()["units"][kind][algo]
    assert (u["lanes"], u["latency_cycles"], u["params"]) == (unit.lanes, unit.latency_cycles, unit.params())


@pytest.mark.parametrize("algo", nonlinear.SOFTMAX_UNITS)
def test_softmax_op_cycles_spread_rows_over_the_unit_instances(algo):
    hw = load_hardware("systolic", parse_overrides([f"softmax_unit={algo}", "vector_lanes=8"]))
    u = nonlinear.unit_model("softmax", algo)
    op = Softmax(name="s", rows=197, length=197, count=12)
    per_row = u.passes * math.ceil(197 / u.lanes) + u.row_overhead_cycles
    assert B.analytic(op, hw).ticks == math.ceil(197 * 12 / (8 // u.lanes)) * per_row


@pytest.mark.parametrize("algo", nonlinear.GELU_UNITS)
def test_gelu_op_cycles_are_one_beat_per_cycle_plus_latency(algo):
    hw = load_hardware("systolic", parse_overrides([f"gelu_unit={algo}", "vector_lanes=32"]))
    u = nonlinear.unit_model("gelu", algo)
    op = GELU(name="g", n=197 * 3072)
    assert B.analytic(op, hw).ticks == math.ceil(197 * 3072 / (32 // u.lanes * u.lanes)) + u.latency_cycles


def test_an_unknown_unit_name_is_a_config_error_listing_the_choices():
    with pytest.raises(ConfigError) as err:
        load_hardware("systolic", parse_overrides(["softmax_unit=magic"]))
    assert "magic" in str(err.value) and "shiftmax" in str(err.value)
