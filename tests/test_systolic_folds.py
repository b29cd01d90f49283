"""Cycle mode's runs of identical folds (hwsim.backends.systolic_folds): the reduced loop grid stands
exactly for every fold of the fold-by-fold plans, the run block schedules like the tasks written out, and a
GEMM of any size the CLI accepts (2^50 MACs, hwsim.topology.MAX_GEMM_MACS) lowers to a bounded block."""
import dataclasses

import numpy as np
import pytest

import hwsim.engine
from hwsim.backends.systolic import SystolicBackend, _fixed_plan
from hwsim.backends.systolic_folds import fold_tree
from hwsim.backends.systolic_mapping import ORDERS, GemmMapping, mapping_pieces
from hwsim.engine import TaskGraph
from hwsim.engine_runs import Run, compile_block
from hwsim.estimate import estimate
from hwsim.hardware.systolic import SystolicConfig
from hwsim.topology import MAX_GEMM_MACS
from hwsim.workload import MatMul, Workload

B = SystolicBackend()
SIZES = [1, 2, 3, 4, 5, 7, 31, 32, 33, 64, 97, 197, 500]   # 1, 2-4 tiles, exact multiples, one over/under, primes


def _written_out(grid, folds):
    """The reduced grid's folds with every run written out, in execution order."""
    out = []

    def walk(items):
        for it in items:
            if isinstance(it, Run):
                for _ in range(it.n):
                    walk(it.items)
            else:
                out.append(it)
    walk(fold_tree(grid, list(zip(*(a.tolist() for a in folds)))))
    return out


def _config(rng):
    return SystolicConfig(rows=int(rng.choice([1, 2, 4, 7, 32])), cols=int(rng.choice([1, 3, 4, 13, 32])),
                          dataflow=str(rng.choice(["ws", "os", "is"])), ifmap_sram_kib=float(rng.choice([0.25, 1, 64])),
                          filter_sram_kib=float(rng.choice([0.25, 1, 64])), ofmap_sram_kib=float(rng.choice([0.25, 0.5, 64])),
                          dram_bytes_per_cycle=float(rng.choice([0.1, 1, 3, 16, 1024])))


def test_reduced_grid_of_the_fixed_placement_is_every_fold():
    rng = np.random.default_rng(0)
    for _ in range(300):
        g = MatMul(name="g", m=int(rng.choice(SIZES)), k=int(rng.choice(SIZES)), n=int(rng.choice(SIZES)),
                   count=int(rng.integers(1, 3)))
        hw = _config(rng)
        full_grid, full, counts = _fixed_plan(g, hw)
        grid, folds, reduced_counts = _fixed_plan(g, hw, reduced=True)
        assert len(grid) <= 9 and _written_out(grid, folds) == list(zip(*(a.tolist() for a in full))), (g, hw)
        assert reduced_counts == counts


def test_reduced_grid_of_any_searched_mapping_is_every_piece():
    """Every loop order, residency level and streamed tile (random), every dataflow, with and without fusion."""
    rng = np.random.default_rng(1)
    for _ in range(600):
        m, k, n = (int(rng.choice(SIZES)) for _ in range(3))
        R, C, df = int(rng.choice([1, 4, 7, 32])), int(rng.choice([1, 3, 13, 32])), int(rng.integers(0, 3))
        o = int(rng.choice([0, 1])) if df == 1 else int(rng.integers(0, 6))     # os: s innermost
        levels = [int(rng.integers(0, 4)) for _ in range(3)]
        levels[2] = 0 if df == 1 else levels[2]
        ts = int(rng.integers(1, {0: m, 1: k, 2: n}[df] + 1))
        mp = GemmMapping(["ws", "os", "is"][df], False, tuple(ORDERS[o]), tuple(levels), ts)
        args = (m, k, n, int(rng.integers(1, 3)), R, C, df, 1.0, 4.0, mp, bool(rng.integers(0, 2)), bool(rng.integers(0, 2)))
        full_grid, full, dram, spill = mapping_pieces(*args)
        grid, folds, reduced_dram, reduced_spill = mapping_pieces(*args, reduced=True)
        assert len(grid) <= 27 and _written_out(grid, folds) == list(zip(*(a.tolist() for a in full))), args
        assert (reduced_dram, reduced_spill) == (dram, spill), args


@pytest.mark.parametrize("loop", ["python", "numba"])
def test_gemm_run_blocks_schedule_like_their_folds_written_out(loop, monkeypatch):
    """The op's cycles, array and DRAM busy cycles: the run block (closed form) against its expansion
    scheduled task by task, after a previous op, stalls included (bandwidths down to 0.1 B/cycle); with the
    engine's plain-Python loop and with its numba loop (PYTHON_TASKS = 0: every graph with a flat task)."""
    if loop == "numba":
        monkeypatch.setattr(hwsim.engine, "PYTHON_TASKS", 0)
    rng = np.random.default_rng(2)
    done = 0
    while done < 150:
        g = MatMul(name="g", m=int(rng.choice(SIZES)), k=int(rng.choice(SIZES)), n=int(rng.choice(SIZES)),
                   count=int(rng.integers(1, 4)))
        hw = dataclasses.replace(_config(rng), mapping_objective=str(rng.choice(["latency", "energy", "edp"])))
        block, _ = B._gemm_lower_uncached(g, g, hw)
        if block.slots() > 3000:
            continue          # keep the written-out schedule quick
        done += 1
        got = []
        for b in (block, block.expand()):
            graph = TaskGraph()
            graph.add_block(B.lower(MatMul(name="p", m=33, k=40, n=50), hw)[0])
            graph.add_block(b)
            t = graph.schedule()
            got.append((t.op_end(1), t.busy_cycles("array", 1), t.busy_cycles("dram", 1)))
        assert got[0] == got[1], (g, hw)


@pytest.mark.parametrize("dataflow", ["ws", "os", "is"])
@pytest.mark.parametrize("sram_kib", [64.0, 1.0])
def test_a_gemm_of_2_to_the_50_macs_lowers_to_a_bounded_block(dataflow, sram_kib):
    """65536 x 16384 x 1048576 (the CLI's largest GEMM, billions of folds on 32 x 32): a few hundred engine
    rows, and with bandwidth to spare (nothing stalls) cycle mode equals the analytic closed form exactly."""
    g = MatMul(name="g", m=65536, k=16384, n=1048576)
    assert g.macs == MAX_GEMM_MACS
    hw = SystolicConfig(dataflow=dataflow, ifmap_sram_kib=sram_kib, filter_sram_kib=sram_kib, ofmap_sram_kib=sram_kib,
                        dram_bytes_per_cycle=1e6)
    block, _ = B._gemm_lower_uncached(g, g, hw)
    assert block.slots() > 10 ** 6                  # the tasks it stands for (3 per fold)
    assert len(compile_block(block).rows) <= 400    # what the engine holds
    cyc, ana = (estimate(Workload("g", (g,)), hw, mode).ops[0] for mode in ("cycle", "analytic"))
    assert not cyc.stalled and cyc.cycles == ana.cycles and cyc.dram_bytes == ana.dram_bytes
