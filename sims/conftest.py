"""pytest options for the cocotb benches in ``sims/``.

``--simulator icarus|verilator`` (or ``HWSIM_SIM``) picks the simulator; Icarus is the default.
Tests marked ``verilator`` always use Verilator. A missing simulator skips the bench with one line
saying what to install (see :func:`sims.runner.simulator_missing`).
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

_SIMS = Path(__file__).resolve().parent
for _p in (str(_SIMS), str(_SIMS.parent)):
    if _p not in sys.path:
        sys.path.insert(0, _p)


def pytest_addoption(parser):
    parser.addoption("--simulator", action="store", default=None,
                     choices=("icarus", "verilator"),
                     help="HDL simulator for the cocotb benches (default: $HWSIM_SIM or icarus)")


@pytest.fixture
def simulator(request) -> str:
    """The simulator for this test; skips it when that simulator is not installed."""
    from runner import simulator_missing, simulator_name

    if request.node.get_closest_marker("verilator"):
        sim = "verilator"
    else:
        sim = simulator_name(request.config.getoption("--simulator"))
    missing = simulator_missing(sim)
    if missing:
        pytest.skip(missing)
    return sim


def pytest_collection_modifyitems(config, items):
    """``slow`` benches run only when selected (``-m slow``), as the marker's description says."""
    if "slow" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="slow bench: run with -m slow")
    for item in items:
        if item.get_closest_marker("slow"):
            item.add_marker(skip)
