"""Compact op blocks for the engine: runs of identical task groups, scheduled in closed form.

A GEMM of 2^50 MACs on a 32 x 32 array is ~10^12 folds; one task per fold (``hwsim.engine.TaskBlock``)
needs memory and time in proportion. Most folds are identical (same cycles, same transfers), so a
:class:`RunBlock` describes an op as a **tree of runs**: a leaf is a *group* of task slots (e.g. one fold's
load, compute and store), a run is a sequence of items repeated ``n`` times. Its meaning is its expansion:
the flat slot sequence obtained by writing every run out (:meth:`RunBlock.expand` builds it, for tests and
small blocks), scheduled by the engine's rule (``hwsim.engine``: in order per resource, after every
dependency). A slot's dependencies are **relative**: ``d >= 1`` is the slot ``d`` places earlier in the
expanded sequence (so one group describes every fold of a run), :data:`PREV` the previous op's end,
:data:`NONE` nothing; a slot with resource ``-1`` is *absent* (e.g. a fold with nothing to load): it takes no
time and a dependency on it is empty. A dependency reaching before the block's first slot is empty too.

Scheduling without expanding: the engine's rule is linear in the max-plus algebra (``max`` for addition,
``+`` for multiplication; Baccelli, Cohen, Olsder, Quadrat, *Synchronization and Linearity*, Wiley 1992,
ch. 3): a slot maps the state vector ``x`` = (free time of each resource, end times of the last ``W`` slots,
end of the previous op) to the next one by ``x' = A (x) x`` with ``(A (x) x)_i = max_j (A_ij + x_j)``. A
group is the product of its slots' matrices and a run of ``n`` groups its ``n``-th power, computed by
repeated squaring in ``O(D^3 log n)`` (``D`` = resources + ``W`` + 1). Exact in integers: the result equals
scheduling the expansion tick for tick (tests/test_engine.py). Each leaf slot becomes one row of the
timeline with its execution ``count``, its first start and its last end.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np

from hwsim.engine import NONE, PREV, TaskBlock   # hwsim.engine imports this module only when a RunBlock is added

ABSENT = -1  # resource of an absent slot
NEG = -(1 << 62)   # max-plus zero (-infinity); sums of two stay inside int64
STEP_SLOTS = 256   # stretches of at most this many slots are stepped, longer runs jump by matrix powers


@dataclass(frozen=True)
class Group:
    """Task slots run in sequence: per slot its resource index (``ABSENT``: no task), cycles, relative
    dependencies (tuple of ints >= 1, ``PREV``), label index and DRAM bytes (per execution)."""
    res: tuple[int, ...]
    cycles: tuple[int, ...]
    deps: tuple[tuple[int, ...], ...]
    label: tuple[int, ...]
    dram_bytes: tuple[float, ...]

    def __len__(self) -> int:
        return len(self.res)


@dataclass(frozen=True)
class Run:
    """``items`` (groups and runs) repeated ``n`` >= 1 times."""
    items: tuple
    n: int


@dataclass(frozen=True, eq=False)
class RunBlock:
    """An op's tasks as a run tree (module docstring). ``tree`` is a tuple of :class:`Group` and
    :class:`Run` items, executed in order."""
    resource: tuple[str, ...]
    labels: tuple[str, ...]
    tree: tuple

    def slots(self) -> int:
        """Number of slots of the expansion (absent ones included)."""
        return _count(self.tree)

    def expand(self):
        """The equivalent flat ``hwsim.engine.TaskBlock`` (absent slots dropped, dependencies on them emptied).
        Memory grows with the expansion: for tests and small blocks."""
        flat: list = []
        _flatten(self.tree, flat)
        width = max([1] + [len(d) for _, _, d, _, _ in flat])
        new_id, res, cyc, deps, lab, byts = [], [], [], [], [], []
        for pos, (r, c, d, lb, b) in enumerate(flat):
            new_id.append(len(res) if r != ABSENT else NONE)
            if r == ABSENT:
                continue
            row = []
            for x in d:
                if x == PREV:
                    row.append(PREV)
                elif pos - x >= 0 and new_id[pos - x] != NONE:
                    row.append(new_id[pos - x])
            res.append(r), cyc.append(c), lab.append(lb), byts.append(b)
            deps.append(row + [NONE] * (width - len(row)))
        return TaskBlock(self.resource, np.array(res, np.int64), np.array(cyc, np.int64),
                         np.array(deps, np.int64).reshape(len(res), width), dram_bytes=np.array(byts, float),
                         label=np.array(lab, np.int64), labels=self.labels)


def _count(items) -> int:
    return sum(len(it) if isinstance(it, Group) else it.n * _count(it.items) for it in items)


def _flatten(items, out: list) -> None:
    for it in items:
        if isinstance(it, Group):
            out.extend(zip(it.res, it.cycles, it.deps, it.label, it.dram_bytes))
        else:
            for _ in range(it.n):
                _flatten(it.items, out)


def _window(items) -> int:
    w = 1
    for it in items:
        if isinstance(it, Group):
            w = max([w] + [x for d in it.deps for x in d])
        else:
            w = max(w, _window(it.items))
    return w


def _mp(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Max-plus product ``a (x) b``."""
    return np.maximum((a[:, :, None] + b[None, :, :]).max(axis=1), NEG)


def _mp_vec(a: np.ndarray, x: list[int]) -> list[int]:
    v = np.maximum((a + np.array(x, dtype=np.int64)[None, :]).max(axis=1), NEG)
    return v.tolist()


def _mp_pow(a: np.ndarray, n: int) -> np.ndarray:
    out = None
    while n:
        if n & 1:
            out = a if out is None else _mp(a, out)
        n >>= 1
        if n:
            a = _mp(a, a)
    return out


class _Scheduler:
    """Evaluates one block's run tree from a state vector (resources, window, previous op end)."""

    def __init__(self, block: RunBlock):
        self.block = block
        self.nr = len(block.resource)
        self.w = _window(block.tree)
        self.p = self.nr + self.w           # index of the previous op's end
        self.dim = self.p + 1
        self.mats: dict = {}
        self.rows: list = []                # per leaf slot: [res, cycles, count, label, bytes, start, end]
        self.row_of: dict = {}              # (id of group, slot) -> row
        self.sizes: dict = {}               # id of an item tuple -> slots of its expansion
        self.memo: dict = {}                # relative free times -> (free after, end, row times), relative
        self._assign(block.tree, 1)

    def _assign(self, items, count):
        for it in items:
            if isinstance(it, Group):
                for s in range(len(it)):
                    if it.res[s] != ABSENT:
                        key = (id(it), s)
                        if key in self.row_of:
                            self.rows[self.row_of[key]][2] += count
                        else:
                            self.row_of[key] = len(self.rows)
                            self.rows.append([it.res[s], it.cycles[s], count, it.label[s], it.dram_bytes[s], None, None])
            else:
                self._assign(it.items, count * it.n)

    # ---- one slot, concretely -------------------------------------------------------------------
    def _group(self, g: Group, x: list, first: bool, last: bool) -> None:
        nr, p = self.nr, self.p
        for s in range(len(g)):
            r = g.res[s]
            if r == ABSENT:
                end = NEG
            else:
                t = x[r]
                for d in g.deps[s]:
                    v = x[p] if d == PREV else x[nr + d - 1]
                    if v > t:
                        t = v
                end = t + g.cycles[s]
                x[r] = end
                if first or last:
                    row = self.rows[self.row_of[(id(g), s)]]
                    if first and row[5] is None:
                        row[5] = t
                    if last:
                        row[6] = end
            x[nr + 1:p] = x[nr:p - 1]
            x[nr] = end

    # ---- the same as max-plus matrices ----------------------------------------------------------
    def _slot_matrix(self, r, c, deps) -> np.ndarray:
        nr, p, dim = self.nr, self.p, self.dim
        a = np.full((dim, dim), NEG, np.int64)
        for i in range(dim):
            if i != nr and not (nr < i < p):
                a[i, i] = 0                         # resources and the previous op's end stay
        for i in range(nr + 1, p):
            a[i, i - 1] = 0                         # the window shifts by one slot
        if r != ABSENT:
            src = [r] + [p if d == PREV else nr + d - 1 for d in deps]
            for j in src:
                a[nr, j] = max(a[nr, j], c)         # end = max(sources) + cycles
            a[r] = a[nr]
        return a

    def matrix(self, items) -> np.ndarray:
        key = id(items)
        m = self.mats.get(key)
        if m is None:
            m = None
            for it in items:
                if isinstance(it, Group):
                    for s in range(len(it)):
                        sm = self._slot_matrix(it.res[s], it.cycles[s], it.deps[s])
                        m = sm if m is None else _mp(sm, m)
                else:
                    rm = _mp_pow(self.matrix(it.items), it.n)
                    m = rm if m is None else _mp(rm, m)
            self.mats[key] = m
        return m

    def slots(self, items) -> int:
        key = id(items)
        n = self.sizes.get(key)
        if n is None:
            n = self.sizes[key] = _count(items)
        return n

    def run(self, items, x: list, first: bool, last: bool) -> list:
        """The state after ``items`` from state ``x``, recording first starts / last ends as asked.
        Short stretches are stepped slot by slot (cheaper than building matrices), long runs jump by a
        power of their matrix."""
        if not first and not last and self.slots(items) > STEP_SLOTS:
            return _mp_vec(self.matrix(items), x)
        for it in items:
            if isinstance(it, Group):
                self._group(it, x, first, last)
            elif it.n == 1:
                x = self.run(it.items, x, first, last)
            else:
                x = self.run(it.items, x, first, False)
                if it.n > 2:
                    if (it.n - 2) * self.slots(it.items) <= STEP_SLOTS:
                        for _ in range(it.n - 2):
                            x = self.run(it.items, x, False, False)
                    else:
                        x = _mp_vec(_mp_pow(self.matrix(it.items), it.n - 2), x)
                x = self.run(it.items, x, False, last)
        return x

    def schedule(self, free: list[int], prev_end: int):
        """Schedule the block after an op that ended at ``prev_end``, its resources free from ``free`` (ticks,
        indexed like ``block.resource``). Returns (free times after the block, the block's end = the latest
        end of its last task on each resource it uses, or ``prev_end`` if it has none); fills the first start
        and last end of each row."""
        # the rule commutes with a common shift of all times: schedule relative to prev_end, memoised
        # (a ViT repeats each block's GEMMs ``depth`` times from the same relative state)
        prev_end = int(prev_end)
        key = tuple(int(f) - prev_end for f in free)
        hit = self.memo.get(key)
        if hit is None:
            for row in self.rows:
                row[5] = row[6] = None
            x = self.run(self.block.tree, list(key) + [NEG] * self.w + [0], True, True)
            used = {row[0] for row in self.rows}
            hit = self.memo[key] = (x[:self.nr], max([0] + [x[r] for r in used]),
                                    [(row[5], row[6]) for row in self.rows])
        out, end, times = hit
        for row, (a, b) in zip(self.rows, times):
            row[5], row[6] = a + prev_end, b + prev_end
        return [f + prev_end for f in out], end + prev_end


_COMPILED: "weakref.WeakKeyDictionary[RunBlock, _Scheduler]" = weakref.WeakKeyDictionary()


def compile_block(block: RunBlock) -> _Scheduler:
    """The block's timeline rows (``rows``: per leaf slot ``[res, cycles, count, label, dram_bytes, first
    start, last end]``, counts summed over the tree) and its ``schedule(free, prev_end)``; one per block
    object (backends memoise their blocks, so an op repeated in a model is compiled once)."""
    sch = _COMPILED.get(block)
    if sch is None:
        sch = _COMPILED[block] = _Scheduler(block)
    return sch
