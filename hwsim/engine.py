"""The event engine: tasks on named resources, whole-tick durations, dependencies, in-order per resource.

Time is integer **ticks**; how long a tick is (a clock cycle, or a fixed fine tick for kinds without
a clock) is the backend's business (``Backend.tick_s``), never the engine's. Below, "cycles" means ticks.

A task occupies one resource for ``cycles`` after all its dependencies have finished and after the
previous task on the same resource (tasks run in the order they were added to each resource). So
double buffering, overlap of transfers with compute and bandwidth stalls all come out of one rule:

    start[i] = max(free[resource[i]], max(end[d] for d in deps[i]));  end[i] = start[i] + cycles[i]

Backends describe an op as a :class:`TaskBlock` (struct of arrays, dependencies by local index, or
:data:`PREV` for "after the previous op has finished"); :class:`TaskGraph` concatenates blocks and
its ``schedule`` runs the rule above in one pass (numba for large graphs), dependencies always pointing
backwards. A block may use any number of resources and give each task any number of dependencies (the width of
its ``deps`` array); blocks of different widths are padded to the widest when scheduled. An op whose
tasks are runs of identical groups (a GEMM's folds) may instead be a ``hwsim.engine_runs.RunBlock``:
memory and time bounded by the number of distinct groups, not of tasks, the same schedule in closed
form; the :class:`Timeline` then holds one row per leaf task with its execution ``count``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from hwsim.lazy import numpy

np = numpy()

MAX_DEPS = 4   # the dependency width the builders use by default; a block may be wider
NONE = -1   # empty dependency slot
PREV = -2   # depends on the completion of the previous block (op)


@dataclass(frozen=True)
class TaskBlock:
    """Tasks of one op. ``deps`` is (n, width) of local indices, NONE or PREV (any width >= 1)."""
    resource: tuple[str, ...]      # names, indexed by ``res``
    res: np.ndarray                # int, per task
    cycles: np.ndarray             # int64, per task
    deps: np.ndarray               # int64 (n, MAX_DEPS)
    energy_pj: np.ndarray | None = None
    dram_bytes: np.ndarray | None = None
    label: np.ndarray | None = None   # small int per task, names in ``labels``
    labels: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.res)


def make_block(resources, tasks) -> TaskBlock:
    """Readable scalar builder: ``tasks`` = [(resource, cycles, deps, label)], deps local or PREV."""
    resources = tuple(resources)
    labels = tuple(sorted({t[3] for t in tasks}))
    width = max([MAX_DEPS] + [len(t[2]) for t in tasks])
    deps = np.full((len(tasks), width), NONE, dtype=np.int64)
    for i, t in enumerate(tasks):
        deps[i, :len(t[2])] = t[2]
    return TaskBlock(resources, np.array([resources.index(t[0]) for t in tasks], dtype=np.int64),
                     np.array([t[1] for t in tasks], dtype=np.int64), deps,
                     label=np.array([labels.index(t[3]) for t in tasks], dtype=np.int64), labels=labels)


def single_task_block(resource: str, ticks: int, label: str = "compute") -> TaskBlock:
    """One task on ``resource`` for ``ticks``, after the previous op."""
    return TaskBlock((resource,), np.zeros(1, np.int64), np.array([ticks], np.int64),
                     np.array([[PREV]], np.int64), label=np.zeros(1, np.int64), labels=(label,))


def _schedule_range(res, cycles, deps, start, end, free, lo, hi):
    """The rule of the module docstring over tasks ``lo..hi-1``, in place (``free``: per resource). Run as
    plain Python on lists for small graphs (faster than numpy element access) and compiled by
    :func:`_compiled` on arrays (``deps`` 2-D) for large ones."""
    for i in range(lo, hi):
        r = res[i]
        t = free[r]
        for d in deps[i]:
            if d >= 0 and end[d] > t:
                t = end[d]
        start[i] = t
        end[i] = free[r] = t + cycles[i]


@lru_cache(maxsize=1)
def _compiled():
    """The scheduler compiled with numba on first use (importing the engine does not import numba, so
    analytic estimates and ``hwsim --help`` never pay for it; nor do graphs of fewer than
    ``PYTHON_TASKS`` flat tasks, scheduled in plain Python)."""
    from numba import njit
    return njit(cache=True)(_schedule_range)


def schedule_reference(res, cycles, deps, n_res):
    """The rule of the module docstring written independently of the engine's loop (a max over a list per
    task): a block's own schedule for backends (optical4f's ideal latency) and the tests' oracle."""
    start, end, free = [], [], [0] * n_res
    for i in range(len(res)):
        t = max([free[res[i]]] + [end[d] for d in deps[i] if d >= 0])
        start.append(t)
        end.append(t + int(cycles[i]))
        free[res[i]] = end[-1]
    return np.array(start, dtype=np.int64), np.array(end, dtype=np.int64)


PYTHON_TASKS = 20_000   # graphs with at most this many flat tasks skip numba (its import costs ~0.5 s)


class TaskGraph:
    """Accumulates op blocks in program order; each block's PREV deps point at the previous op's end."""

    SYNC = "sync"

    def __init__(self):
        self.resources: list[str] = [self.SYNC]
        self.labels: list[str] = ["sync"]
        self._parts: list[tuple] = []
        self._n = 0
        self._prev_sync = NONE
        self._segments: list[tuple] = []            # (first, end, None | compiled RunBlock) per op
        self.op_task_range: list[tuple[int, int]] = []   # [first, last] task ids per op (last = sync task)

    def add_block(self, block) -> None:
        """Append one op: a :class:`TaskBlock`, or a ``hwsim.engine_runs.RunBlock`` (runs of identical task
        groups: one timeline row per leaf task with its execution count, scheduled in closed form)."""
        if isinstance(block, TaskBlock):
            self._add_tasks(block)
        else:
            self._add_runs(block)

    def _add_tasks(self, block: TaskBlock) -> list[int]:
        """Append a :class:`TaskBlock`; returns the op's last task on each resource (task ids, ascending)."""
        n = len(block)
        rmap = np.array([self._index(self.resources, r) for r in block.resource], dtype=np.int64)
        lmap = np.array([self._index(self.labels, l) for l in block.labels] or [0], dtype=np.int64)
        base = self._n
        deps = np.where(block.deps >= 0, block.deps + base, np.where(block.deps == PREV, self._prev_sync, NONE))
        if n and (block.deps >= np.arange(n)[:, None]).any():
            raise ValueError("a task may only depend on tasks added before it")
        # the op's sync task: zero cycles on its own resource, after the last task on each resource of the block
        exits = []                                  # the last task on each resource
        for r in range(len(block.resource)):
            on_r = np.flatnonzero(block.res == r)
            if len(on_r):
                exits.append(int(on_r[-1]))
        exits.sort()
        width = max(deps.shape[1], len(exits), 1)
        if width > deps.shape[1]:
            deps = np.pad(deps, ((0, 0), (0, width - deps.shape[1])), constant_values=NONE)
        sync_deps = np.full((1, width), NONE, dtype=np.int64)
        sync_deps[0, :len(exits)] = np.array(exits, dtype=np.int64) + base
        if not exits:
            sync_deps[0, 0] = self._prev_sync
        zeros = np.zeros(n)
        self._parts.append((
            np.concatenate([rmap[block.res], [0]]),
            np.concatenate([block.cycles.astype(np.int64), [0]]),
            np.concatenate([deps, sync_deps]),
            np.concatenate([block.energy_pj if block.energy_pj is not None else zeros, [0.0]]),
            np.concatenate([block.dram_bytes if block.dram_bytes is not None else zeros, [0.0]]),
            np.concatenate([lmap[block.label] if block.label is not None else np.zeros(n, np.int64), [0]]),
            np.ones(n + 1, np.int64),
        ))
        self._segments.append((base, base + n + 1, None))
        self.op_task_range.append((base, base + n))
        self._n += n + 1
        self._prev_sync = base + n
        return [e + base for e in exits]

    def _add_runs(self, block) -> None:
        from hwsim.engine_runs import compile_block
        plan = compile_block(block)
        rmap = np.array([self._index(self.resources, r) for r in block.resource], dtype=np.int64)
        lmap = np.array([self._index(self.labels, l) for l in block.labels] or [0], dtype=np.int64)
        rows = plan.rows
        n, base = len(rows), self._n
        col = lambda k, dt: np.array([r[k] for r in rows], dtype=dt)
        self._parts.append((          # each column, then the op's sync task (count 1)
            np.append(rmap[col(0, np.int64)], 0), np.append(col(1, np.int64), 0), np.full((n + 1, 1), NONE, np.int64),
            np.zeros(n + 1), np.append(col(4, float), 0.0), np.append(lmap[col(3, np.int64)], 0),
            np.append(col(2, np.int64), 1),
        ))
        self._segments.append((base, base + n + 1, (plan, rmap)))
        self.op_task_range.append((base, base + n))
        self._n += n + 1
        self._prev_sync = base + n

    @staticmethod
    def _index(names: list[str], name: str) -> int:
        if name not in names:
            names.append(name)
        return names.index(name)

    def _columns(self) -> list:
        """The blocks' task columns concatenated in program order: res, cycles and deps (int64; deps is
        (tasks, width of the widest block), padded with NONE), energy_pj, dram_bytes, label and count."""
        width = max([p[2].shape[1] for p in self._parts] or [1])
        parts = [p if p[2].shape[1] == width else
                 (*p[:2], np.pad(p[2], ((0, 0), (0, width - p[2].shape[1])), constant_values=NONE), *p[3:])
                 for p in self._parts]
        cols = [np.concatenate(c) for c in zip(*parts)] if parts else [np.zeros(0, np.int64)] * 7
        res, cycles, deps = (np.ascontiguousarray(c, dtype=np.int64) for c in cols[:3])
        if (cycles < 0).any():
            raise ValueError("task durations must be >= 0 cycles")
        return [res, cycles, deps.reshape(-1, width), cols[3], cols[4], cols[5].astype(np.int64),
                cols[6].astype(np.int64)]

    def schedule(self) -> "Timeline":
        res, cycles, deps, energy_pj, dram_bytes, label, count = self._columns()
        start, end = self._times(res, cycles, deps)
        return Timeline(tuple(self.resources), tuple(self.labels), res, cycles, np.asarray(start, np.int64),
                        np.asarray(end, np.int64), energy_pj, dram_bytes, label, tuple(self.op_task_range), count)

    def _times(self, res, cycles, deps):
        """(start, end) of every task: the rule of the module docstring in program order (runs in closed form)."""
        n = len(res)
        flat = sum(hi - lo for lo, hi, plan in self._segments if plan is None)
        if flat > PYTHON_TASKS:
            start, end, free = np.zeros(n, np.int64), np.zeros(n, np.int64), np.zeros(len(self.resources), np.int64)
            loop, args = _compiled(), (res, cycles, deps, start, end, free)
        else:       # plain Python on lists: no numba import for small graphs
            start, end, free = [0] * n, [0] * n, [0] * len(self.resources)
            loop, args = _schedule_range, (res.tolist(), cycles.tolist(), deps.tolist(), start, end, free)
        for lo, hi, runs in self._segments:
            if runs is None:
                loop(*args, lo, hi)
                continue
            plan, rmap = runs
            prev_end = int(end[lo - 1]) if lo else 0      # the previous op's sync task
            out, block_end = plan.schedule([int(free[r]) for r in rmap], prev_end)
            for r, f in zip(rmap.tolist(), out):
                free[r] = f
            for i, row in enumerate(plan.rows):
                start[lo + i], end[lo + i] = row[5], row[6]
            start[hi - 1] = end[hi - 1] = free[0] = block_end
        return start, end


@dataclass(frozen=True)
class Timeline:
    """The scheduled tasks (struct of arrays, cycles) and the per-op task ranges."""
    resources: tuple[str, ...]
    labels: tuple[str, ...]
    res: np.ndarray
    cycles: np.ndarray
    start: np.ndarray
    end: np.ndarray
    energy_pj: np.ndarray
    dram_bytes: np.ndarray
    label: np.ndarray
    op_ranges: tuple[tuple[int, int], ...]
    count: np.ndarray   # executions of each row (a run of identical tasks is one row)

    @property
    def makespan(self) -> int:
        return int(self.end.max()) if len(self.end) else 0

    def op_end(self, i: int) -> int:
        """Completion cycle of op ``i`` (its sync task)."""
        return int(self.end[self.op_ranges[i][1]])

    def busy_cycles(self, resource: str, i: int | None = None) -> int:
        if resource not in self.resources:
            return 0
        lo, hi = (0, len(self.res)) if i is None else self.op_ranges[i]
        mask = self.res[lo:hi] == self.resources.index(resource)
        return int((self.cycles[lo:hi] * self.count[lo:hi])[mask].sum())

    def to_chrome_trace(self, path: str | Path, tick_s: float, op_names: list[str] | None = None,
                        detail: str = "op") -> None:
        """Chrome/Perfetto trace JSON, one thread per resource (times in µs; ``tick_s`` is the length of one
        tick in seconds). ``detail="op"``: one event per op and resource, from its first task's start to its
        last task's end, with the busy ticks and task count in its args (small: ViT-B/16 on a 32x32 array is
        ~0.1 MB); ``detail="task"``: one event per task (every fold's load, compute and store: tens of MB)."""
        us = 1e6 * tick_s
        op_of = np.zeros(len(self.res), dtype=np.int64)
        for i, (lo, hi) in enumerate(self.op_ranges):
            op_of[lo:hi + 1] = i
        keep = (self.res != 0) & (self.cycles > 0)
        events = [{"name": "process_name", "ph": "M", "pid": 0, "args": {"name": "hwsim"}}]
        events += [{"name": "thread_name", "ph": "M", "pid": 0, "tid": r, "args": {"name": name}}
                   for r, name in enumerate(self.resources) if r]
        if detail == "op":
            sel = np.flatnonzero(keep)
            key = op_of[sel] * len(self.resources) + self.res[sel]
            order = np.argsort(key, kind="stable")
            sel, key = sel[order], key[order]
            _, first = np.unique(key, return_index=True)
            if len(sel):
                starts = np.minimum.reduceat(self.start[sel], first)
                ends = np.maximum.reduceat(self.end[sel], first)
                busy = np.add.reduceat(self.cycles[sel] * self.count[sel], first)
                count = np.add.reduceat(self.count[sel], first)
                for j, k in enumerate(first.tolist()):
                    i = sel[k]
                    op = op_names[op_of[i]] if op_names else str(op_of[i])
                    events.append({"name": op, "ph": "X", "pid": 0, "tid": int(self.res[i]),
                                   "ts": float(starts[j] * us), "dur": float((ends[j] - starts[j]) * us),
                                   "args": {"op": op, "busy_ticks": int(busy[j]), "tasks": int(count[j])}})
            with open(path, "w") as f:
                json.dump({"traceEvents": events, "displayTimeUnit": "ns"}, f)
            return
        if detail != "task":
            raise ValueError(f"trace detail {detail!r}: allowed: op, task")
        for i in np.flatnonzero(keep).tolist():
            op = op_names[op_of[i]] if op_names else str(op_of[i])
            n = int(self.count[i])    # a run of identical tasks (n > 1): one event from its first start to its last end
            run = {"count": n} if n > 1 else {}
            events.append({"name": f"{op}:{self.labels[self.label[i]]}" + (f" x{n}" if n > 1 else ""), "ph": "X",
                           "pid": 0, "tid": int(self.res[i]), "ts": float(self.start[i] * us),
                           "dur": float((self.end[i] - self.start[i]) * us),
                           "args": {"op": op, "cycles": int(self.cycles[i]), **run}})
        with open(path, "w") as f:
            json.dump({"traceEvents": events, "displayTimeUnit": "ns"}, f)


# ---- data-flow issue (opt-in per backend: ``Backend.dataflow``) ---------------------------------------------

def schedule_ready_order(res, cycles, deps, n_res):
    """(start, end) ticks when every resource serves its tasks in the order they become ready (all their
    dependencies ended), ties by task index, one at a time and without pre-emption: a task starts at
    max(its ready time, the end of the task its resource served before it). ``deps`` is one sequence of task
    indices per task (any order; no cycles). Plain Python with a heap of (ready, index): the ready times of
    popped tasks never decrease (a task becomes ready at the end of a dependency popped before it), so each
    resource sees its tasks in ready order. With a dependency from each task on the previous task of its
    resource it is exactly :func:`schedule_reference`."""
    import heapq
    n = len(res)
    succ: list[list[int]] = [[] for _ in range(n)]
    waiting = [0] * n
    for i, ds in enumerate(deps):
        for d in set(int(d) for d in ds):
            succ[d].append(i)
            waiting[i] += 1
    ready = [0] * n
    heap = [(0, i) for i in range(n) if not waiting[i]]
    free = [0] * n_res
    start = np.zeros(n, np.int64)
    end = np.zeros(n, np.int64)
    done = 0
    while heap:
        t, i = heapq.heappop(heap)
        r = int(res[i])
        s = max(t, free[r])
        e = s + int(cycles[i])
        start[i], end[i], free[r] = s, e, e
        done += 1
        for j in succ[i]:
            ready[j] = max(ready[j], e)
            waiting[j] -= 1
            if not waiting[j]:
                heapq.heappush(heap, (ready[j], j))
    if done != n:
        raise ValueError("the task dependencies contain a cycle")
    return start, end


class DataflowGraph(TaskGraph):
    """A :class:`TaskGraph` whose ops wait for the ops they read instead of the previous op.

    ``add_block(block, producers)``: the block's PREV dependencies point at the ends of the ops with indices
    ``producers`` (every resource's last task of each; ``()``: the op reads nothing earlier and starts at 0),
    or, with ``producers=None`` (the workload does not say), at the previous op's completion, which is the
    completion of every op before it (ops complete in program order: each op's zero-tick sync task follows the
    previous one's), as in :class:`TaskGraph`. Blocks are :class:`TaskBlock` s (tasks served one by one); a
    ``RunBlock`` (runs of tasks in closed form, program order only) raises TypeError.

    Resources: tasks of one op on one resource keep the block's order. Across ops, a resource serves ops in
    program order (the block order), as in :class:`TaskGraph`, unless it is named in ``queued``: a queued
    resource (a co-processor taking work from any op whose inputs are ready) serves tasks in the order they
    become ready, ties in program order (:func:`schedule_ready_order`; the sync resource is never queued). So
    an op never starts before its producers end, an op on its own resources overlaps the ops before it that it
    does not read, and a queued resource lets a later, independent op run ahead of an earlier op still waiting
    for its inputs. With no
    queued resource and ``producers=None`` everywhere the schedule is exactly :class:`TaskGraph`'s.

    The timeline keeps program order (op ``i``'s tasks are ``op_task_range[i]``) and ``op_end(i)`` is the
    completion of ops 0..i (monotone), so per-op contributions ``op_end(i) - op_end(i - 1)`` still add up to
    the makespan.
    """

    def __init__(self, queued: tuple[str, ...] = ()):
        super().__init__()
        self.queued = tuple(queued)
        self._deps: list[list[int]] = []        # global dependencies per task, sync tasks included
        self._exits: list[list[int]] = []       # per op: its last task on each resource

    def add_block(self, block: TaskBlock, producers: tuple[int, ...] | None = None) -> None:
        base, prev_sync, op = self._n, self._prev_sync, len(self._exits)
        if not isinstance(block, TaskBlock):
            raise TypeError(f"op {op}: data-flow issue serves tasks one by one in ready order; a "
                            f"{type(block).__name__} (runs of tasks in closed form) needs TaskGraph")
        if producers is not None and any(not 0 <= p < op for p in producers):
            raise ValueError(f"op {op}: producers {producers} must be earlier ops")
        exits = self._add_tasks(block)
        entry = [prev_sync] if producers is None else sorted({e for p in producers for e in self._exits[p]})
        entry = [e for e in entry if e >= 0]
        for row in block.deps.tolist():
            deps = [d + base for d in row if d >= 0]
            if PREV in row:
                deps += entry
            self._deps.append(deps)
        self._deps.append(exits)                # the sync task
        self._exits.append(exits or [base + len(block)])

    def dependencies(self, res: np.ndarray | None = None) -> list[list[int]]:
        """Every task's dependencies as :func:`schedule_ready_order` sees them: the blocks' own, the producers',
        the previous task on the same resource within an op, and the previous task on the same resource
        across ops for every resource not queued (the sync resource included). ``res``: the resource column
        (computed when not given)."""
        if res is None:
            res = self._columns()[0]
        queued = {self.resources.index(r) for r in self.queued if r in self.resources and r != self.SYNC}
        op_of = np.empty(len(res), np.int64)
        for i, (lo, hi) in enumerate(self.op_task_range):
            op_of[lo:hi + 1] = i
        last: dict[int, int] = {}                 # resource -> the last task added on it
        out = []
        for i, r in enumerate(res.tolist()):
            deps = list(self._deps[i])
            j = last.get(r)
            if j is not None and (r not in queued or op_of[j] == op_of[i]):
                deps.append(j)
            last[r] = i
            out.append(deps)
        return out

    def _times(self, res, cycles, deps):
        """(start, end) of every task in ready order (:func:`schedule_ready_order` on :meth:`dependencies`)."""
        return schedule_ready_order(res, cycles, self.dependencies(res), len(self.resources))
