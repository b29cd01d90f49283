"""A systolic GEMM's folds as runs of identical folds: cycle mode in memory and time bounded for any size.

Folds are visited by three nested loops over tiles (``hwsim.backends.systolic_mapping``: r over the
array rows, c over the array columns, s over the streamed vectors; the fixed placement of
``hwsim.backends.systolic.fold_plan`` is the same nest with an untiled stream). Everything a fold does
(array cycles, DRAM bytes loaded and stored, whether its operands' tiles are fetched or still resident)
depends on each loop index only through equalities: is it the first tile, the last tile (the only one
of a different size), or equal to its neighbour's. So a loop of ``T >= 4`` trips has three kinds of
iteration, 0, the ``T - 2`` middle ones and ``T - 1``, and a **reduced grid** of at most 3 x 3 x 3 folds
describes the whole nest: its middle folds, repeated, are the real ones (:func:`loop_grid`; exact, tested
against the full plan on many GEMMs in tests/test_systolic_folds.py). The plan functions compute each
fold's numbers on a grid (full for the fold-by-fold reference, reduced here), with per-fold weights for the
totals, and :func:`gemm_run_block` turns the reduced grid into a ``hwsim.engine_runs.RunBlock``:
``count`` instances of the nest, the first and last folds peeled off (preload and drain), each fold a
group of three tasks (load of the next fold, compute, store; the double buffering of
``SystolicBackend._gemm_lower``), which the engine schedules in closed form. A 65536^3 GEMM is then a few
hundred engine rows instead of ~10^8 tasks.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hwsim.engine_runs import ABSENT, PREV, Group, Run, RunBlock

LOAD, COMPUTE, STORE = 1, 0, 2   # label indices in ("compute", "load", "store")


@dataclass(frozen=True)
class LoopGrid:
    """Folds of a nest in execution order. ``idx[d]``: tile index of loop ``d`` (r = 0, c = 1, s = 2) per fold;
    ``mult[d]``: how many real tile indices it stands for (1 on a full grid); ``weight``: their product (real
    folds per grid fold); ``order``, ``reps``: per loop position (outer -> inner) the multiplicities, for
    :func:`fold_tree`."""
    idx: tuple
    mult: tuple
    weight: np.ndarray
    order: tuple
    reps: tuple

    def __len__(self) -> int:
        return len(self.weight)


def _reps(trips: int, reduced: bool):
    if not reduced or trips <= 3:
        return np.arange(trips, dtype=np.int64), np.ones(trips, np.int64)
    return np.array([0, 1, trips - 1], np.int64), np.array([1, trips - 2, 1], np.int64)


def loop_grid(order, trips, reduced: bool = False) -> LoopGrid:
    """The folds of loops ``order`` (outer -> inner, loop ids 0..2) with ``trips`` per loop id: every fold
    (``reduced=False``) or the 0 / middle / last representatives of each loop (``reduced=True``)."""
    reps = [_reps(int(trips[d]), reduced) for d in order]
    gi = np.meshgrid(*[r[0] for r in reps], indexing="ij")
    gm = np.meshgrid(*[r[1] for r in reps], indexing="ij")
    idx, mult = [None] * 3, [None] * 3
    for p, d in enumerate(order):
        idx[d], mult[d] = gi[p].reshape(-1), gm[p].reshape(-1)
    weight = mult[0] * mult[1] * mult[2]
    return LoopGrid(tuple(idx), tuple(mult), weight, tuple(order), tuple(r[1].tolist() for r in reps))


def fold_tree(grid: LoopGrid, leaves: list) -> list:
    """Nest the grid's per-fold ``leaves`` (execution order) into runs: a representative standing for
    ``m > 1`` tile indices becomes ``Run(its sub-nest, m)``."""
    def build(p, offset):
        stride = int(np.prod([len(r) for r in grid.reps[p + 1:]], dtype=np.int64))
        items = []
        for k, m in enumerate(grid.reps[p]):
            sub = build(p + 1, offset + k * stride) if p + 1 < len(grid.reps) else [leaves[offset + k]]
            items += [Run(tuple(sub), m)] if m > 1 else sub
        return items
    return build(0, 0)


# ---- helpers on trees of leaves (tuples) and Runs --------------------------------------------------
def _first(item):
    return item if isinstance(item, tuple) else _first(item.items[0])


def _peel_first(items):
    it = items[0]
    if isinstance(it, tuple):
        return it, list(items[1:])
    leaf, rest = _peel_first(it.items)
    return leaf, rest + ([Run(it.items, it.n - 1)] if it.n > 1 else []) + list(items[1:])


def _peel_last(items):
    it = items[-1]
    if isinstance(it, tuple):
        return it, list(items[:-1])
    leaf, rest = _peel_last(it.items)
    return leaf, list(items[:-1]) + ([Run(it.items, it.n - 1)] if it.n > 1 else []) + rest


def _sum(items, f) -> int:
    return sum(f(it) if isinstance(it, tuple) else it.n * _sum(it.items, f) for it in items)


def tile_instances(count: int, compute, load, store, s_len) -> tuple:
    """The full per-fold arrays of a plan (one instance's folds on a full grid: array cycles, load and store
    bytes, streamed vectors) for ``count`` instances in execution order: (compute, load bytes, store
    bytes). The last fold computes only its streamed vectors (it waits for no next tile)."""
    compute = np.tile(compute, count)
    compute[-1] = s_len[-1]
    return compute, np.tile(load, count), np.tile(store, count)


def gemm_run_block(leaves: list, grid: LoopGrid, count: int, R: int, C: int, bw: float):
    """The engine block of a GEMM whose folds on ``grid`` are ``leaves`` = (array cycles, load bytes, store
    bytes, streamed vectors) per grid fold, repeated for ``count`` instances. The first fold also preloads
    its stationary data (R cycles); the last streams only its vectors (no next tile to wait for) and drains
    (R + C - 2): ``SystolicBackend._gemm_lower``'s per-op terms. Returns (RunBlock, array cycles, DRAM
    cycles, ideal cycles = first load + array cycles + last store)."""
    tree = fold_tree(grid, leaves)
    if count > 1:
        tree = [Run(tuple(tree), count)]
    first, rest = _peel_first(tree)
    if rest:
        last, rest = _peel_last(rest)
        seq = [(first[0] + R, *first[1:])] + rest + [(last[3] + R + C - 2, *last[1:])]
    else:
        seq = [(first[3] + 2 * R + C - 2, *first[1:])]
    cyc = lambda b: math.ceil(b / bw)
    compute = _sum(seq, lambda lf: lf[0])
    dram = _sum(seq, lambda lf: cyc(lf[1]) + cyc(lf[2]))
    ideal = cyc(seq[0][1]) + compute + cyc(_peel_last(seq)[0][2])
    groups: dict = {}

    def group(next_load, leaf, first_fold):
        key = (next_load, leaf[0], leaf[2], first_fold)
        g = groups.get(key)
        if g is None:
            ld, st = cyc(next_load), cyc(leaf[2])
            # load of the next fold after the buffer it reuses is free (compute two slots back),
            # compute after its own load (four slots back), store after the compute
            deps = ((PREV,), (2, PREV), (1,)) if first_fold else ((2,), (4,), (1,))
            g = groups[key] = Group((0 if next_load > 0 else ABSENT, 1, 0 if leaf[2] > 0 else ABSENT),
                                    (ld, int(leaf[0]), st), deps, (LOAD, COMPUTE, STORE),
                                    (float(next_load), 0.0, float(leaf[2])))
        return g

    def emit(items, succ_load, at_start):
        out = []
        for i, it in enumerate(items):
            nxt = _first(items[i + 1])[1] if i + 1 < len(items) else succ_load
            if isinstance(it, tuple):
                out.append(group(nxt, it, at_start and i == 0))
            else:
                if it.n > 1:
                    out.append(Run(tuple(emit(it.items, _first(it.items[0])[1], False)), it.n - 1))
                out += emit(it.items, nxt, False)
        return out

    load0 = seq[0][1]
    prefix = Group((0 if load0 > 0 else ABSENT,), (cyc(load0),), ((PREV,),), (LOAD,), (float(load0),))
    block = RunBlock(("dram", "array"), ("compute", "load", "store"), tuple([prefix] + emit(seq, 0, True)))
    return block, compute, dram, ideal
