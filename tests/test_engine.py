"""The engine: in-order per resource, dependencies, PREV linking between ops, trace export."""
import json

import numpy as np
import pytest

import hwsim.engine
from hwsim.engine import (MAX_DEPS, NONE, PREV, DataflowGraph, TaskBlock, TaskGraph, make_block,
                          schedule_ready_order, schedule_reference)


@pytest.fixture(params=["python", "numba"])
def both_loops(request, monkeypatch):
    """Runs a test on both loops of TaskGraph.schedule: plain Python (graphs of at most PYTHON_TASKS flat
    tasks) and compiled by numba (larger graphs; PYTHON_TASKS = 0 sends every graph with a flat task there)."""
    if request.param == "numba":
        monkeypatch.setattr(hwsim.engine, "PYTHON_TASKS", 0)


@pytest.mark.usefixtures("both_loops")
def test_in_order_per_resource_and_dependencies():
    g = TaskGraph()
    g.add_block(make_block(["dram", "array"], [
        ("dram", 10, [PREV], "load"),     # 0: 0..10
        ("dram", 10, [PREV], "load"),     # 1: 10..20 (in order behind 0)
        ("array", 5, [0], "compute"),     # 2: 10..15
        ("array", 5, [1], "compute"),     # 3: 20..25 (waits for its load)
        ("dram", 3, [2], "store"),        # 4: 20..23 (dram free at 20, after 2 ends at 15)
    ]))
    t = g.schedule()
    # block tasks then its zero-cycle sync task
    assert t.start[:5].tolist() == [0, 10, 10, 20, 20]
    assert t.end[:5].tolist() == [10, 20, 15, 25, 23]
    assert t.op_end(0) == 25 and t.makespan == 25


@pytest.mark.usefixtures("both_loops")
def test_prev_waits_for_the_whole_previous_op():
    g = TaskGraph()
    g.add_block(make_block(["array"], [("array", 7, [PREV], "compute")]))
    g.add_block(make_block(["vector"], [("vector", 4, [PREV], "softmax")]))
    g.add_block(make_block(["array"], [("array", 2, [PREV], "compute")]))
    t = g.schedule()
    assert [t.op_end(i) for i in range(3)] == [7, 11, 13]


@pytest.mark.usefixtures("both_loops")
def test_scheduler_equals_reference_on_random_graphs():
    rng = np.random.default_rng(1)
    for _ in range(20):
        n = int(rng.integers(1, 300))
        res = rng.integers(0, 4, n).astype(np.int64)
        cyc = rng.integers(0, 50, n).astype(np.int64)
        deps = np.full((n, MAX_DEPS), NONE, np.int64)
        for i in range(1, n):
            k = int(rng.integers(0, MAX_DEPS + 1))
            deps[i, :k] = rng.integers(0, i, k)
        g = TaskGraph()
        g.add_block(TaskBlock(("r0", "r1", "r2", "r3"), res, cyc, deps))
        t = g.schedule()
        s2, e2 = schedule_reference(res, cyc, deps, 4)
        assert t.start[:n].tolist() == s2.tolist() and t.end[:n].tolist() == e2.tolist()


def test_forward_dependency_is_rejected():
    g = TaskGraph()
    with pytest.raises(ValueError, match="before it"):
        g.add_block(make_block(["array"], [("array", 1, [1], "x"), ("array", 1, [], "x")]))


@pytest.mark.usefixtures("both_loops")
def test_chrome_trace_has_one_event_per_nonempty_task(tmp_path):
    g = TaskGraph()
    g.add_block(make_block(["dram", "array"], [("dram", 10, [PREV], "load"), ("array", 5, [0], "compute")]))
    t = g.schedule()
    path = tmp_path / "t.json"
    t.to_chrome_trace(path, tick_s=1e-9, op_names=["gemm"], detail="task")
    events = [e for e in json.loads(path.read_text())["traceEvents"] if e["ph"] == "X"]
    assert [(e["name"], e["ts"], e["dur"]) for e in events] == [("gemm:load", 0.0, 0.01), ("gemm:compute", 0.01, 0.005)]


@pytest.mark.usefixtures("both_loops")
def test_chrome_trace_per_op_spans_each_resource_with_its_busy_ticks(tmp_path):
    g = TaskGraph()
    g.add_block(make_block(["dram", "array"], [("dram", 10, [PREV], "load"), ("array", 5, [0], "compute"),
                                               ("dram", 4, [1], "store"), ("array", 0, [2], "idle")]))
    g.add_block(make_block(["array"], [("array", 7, [PREV], "compute")]))
    path = tmp_path / "t.json"
    g.schedule().to_chrome_trace(path, tick_s=1e-9, op_names=["a", "b"])
    events = [e for e in json.loads(path.read_text())["traceEvents"] if e["ph"] == "X"]
    got = sorted((e["name"], e["tid"], e["ts"], e["dur"], e["args"]["busy_ticks"], e["args"]["tasks"]) for e in events)
    dram, array = 1, 2   # thread ids: resources in order of first use after the sync resource
    assert got == [("a", dram, 0.0, 0.019, 14, 2), ("a", array, 0.01, 0.005, 5, 1), ("b", array, 0.019, 0.007, 7, 1)]


# ---- data-flow issue (DataflowGraph, opt-in per backend) ----------------------------------------------------

def _random_program(rng, n_ops, resources=("dram", "array", "vector")):
    """Random well-formed blocks (every task depends on PREV or on an earlier task of its block, as the
    backends' blocks do) and random producers (each op reads a random subset of earlier ops, or says nothing)."""
    blocks, producers = [], []
    for op in range(n_ops):
        tasks = []
        for i in range(int(rng.integers(1, 5))):
            res = resources[int(rng.integers(0, len(resources)))]
            deps = [PREV] if i == 0 or rng.random() < 0.3 else []
            deps += sorted({int(d) for d in rng.integers(0, i, int(rng.integers(1, 3)))}) if i else []
            tasks.append((res, int(rng.integers(0, 30)), deps, "t"))
        blocks.append(make_block(resources, tasks))
        r = rng.random()
        producers.append(None if r < 0.2 else () if r < 0.3 or op == 0 else
                         tuple(sorted({int(p) for p in rng.integers(0, op, int(rng.integers(1, 4)))})))
    return blocks, producers


def _dataflow(blocks, producers, queued=()):
    g = DataflowGraph(queued)
    for b, p in zip(blocks, producers):
        g.add_block(b, p)
    return g


@pytest.mark.usefixtures("both_loops")
def test_dataflow_without_producers_or_queues_is_the_program_order_schedule():
    rng = np.random.default_rng(7)
    for _ in range(30):
        blocks, _ = _random_program(rng, int(rng.integers(1, 12)))
        g = TaskGraph()
        for b in blocks:
            g.add_block(b)
        t0, t1 = g.schedule(), _dataflow(blocks, [None] * len(blocks)).schedule()
        assert t1.start.tolist() == t0.start.tolist() and t1.end.tolist() == t0.end.tolist()


def test_dataflow_schedule_is_schedule_reference_on_its_own_dependencies():
    """With no queued resource every resource is chained in program order, so serving tasks in ready order is
    the one-pass rule over the graph's dependencies (producers' ends, resource chains, sync chain)."""
    rng = np.random.default_rng(11)
    for _ in range(40):
        blocks, producers = _random_program(rng, int(rng.integers(1, 15)))
        g = _dataflow(blocks, producers)
        t = g.schedule()
        deps = g.dependencies()
        arr = np.full((len(deps), max(map(len, deps), default=1) or 1), NONE, np.int64)
        for i, d in enumerate(deps):
            arr[i, :len(d)] = d
        s, e = schedule_reference(t.res, t.cycles, arr, len(g.resources))
        assert t.start.tolist() == s.tolist() and t.end.tolist() == e.tolist()


@pytest.mark.parametrize("queued", [(), ("vector",), ("array", "vector"), ("dram", "array", "vector")])
def test_a_dependent_op_never_starts_before_its_producers_end(queued):
    rng = np.random.default_rng(len(queued))
    for _ in range(40):
        blocks, producers = _random_program(rng, int(rng.integers(1, 15)))
        t = _dataflow(blocks, producers, queued).schedule()
        ends = [int(t.end[lo:hi].max(initial=0)) for lo, hi in t.op_ranges]
        for i, (lo, hi) in enumerate(t.op_ranges):
            before = range(i) if producers[i] is None else producers[i]   # None: every earlier op
            assert all(int(t.start[lo:hi].min(initial=ends[i])) >= ends[p] for p in before)
        for r in range(1, len(t.resources)):    # one task at a time on every resource
            on = np.flatnonzero(t.res == r)
            order = np.lexsort((t.end[on], t.start[on]))     # zero-tick tasks first at equal starts
            assert (t.start[on][order][1:] >= t.end[on][order][:-1]).all()
        assert [t.op_end(i) for i in range(len(blocks))] == sorted(t.op_end(i) for i in range(len(blocks)))
        assert t.makespan == t.op_end(len(blocks) - 1)


@pytest.mark.usefixtures("both_loops")
def test_a_queued_resource_serves_ready_work_first_and_an_independent_op_overlaps():
    """ln; v = a long optical task then its post-processing on the co-processor; qk reads only ln; av reads
    v and qk. Program order: qk waits behind v's post-processing, 5 + 100 + 7 + 20 + 3 = 135. With the
    co-processor queued, qk runs at 5..25 during v's 100 ticks and the run is the critical path
    ln -> v -> post -> av = 5 + 100 + 7 + 3 = 115."""
    blocks = [make_block(["electronic"], [("electronic", 5, [PREV], "ln")]),
              make_block(["optical", "electronic"], [("optical", 100, [PREV], "pass"), ("electronic", 7, [0], "post")]),
              make_block(["electronic"], [("electronic", 20, [PREV], "qk")]),
              make_block(["electronic"], [("electronic", 3, [PREV], "av")])]
    producers = [(), (0,), (0,), (1, 2)]
    program = TaskGraph()
    for b in blocks:
        program.add_block(b)
    assert program.schedule().makespan == 135
    assert _dataflow(blocks, producers).schedule().makespan == 135        # in program order qk still waits
    t = _dataflow(blocks, producers, queued=("electronic",)).schedule()
    assert t.makespan == 115
    qk = t.op_ranges[2][0]
    assert (int(t.start[qk]), int(t.end[qk])) == (5, 25)
    assert [t.op_end(i) for i in range(4)] == [5, 112, 112, 115]


def test_producers_must_be_earlier_ops():
    g = DataflowGraph()
    g.add_block(make_block(["array"], [("array", 1, [PREV], "x")]))
    with pytest.raises(ValueError, match="earlier ops"):
        g.add_block(make_block(["array"], [("array", 1, [PREV], "x")]), (1,))


def test_dataflow_issue_rejects_run_blocks_by_name():
    """Ready-order issue serves tasks one by one; a RunBlock's rows are runs of tasks (TaskGraph only)."""
    from hwsim.engine_runs import Group, Run, RunBlock
    g = DataflowGraph()
    with pytest.raises(TypeError, match="RunBlock"):
        g.add_block(RunBlock(("array",), ("x",), (Run((Group((0,), (1,), ((PREV,),), (0,), (0.0,)),), 2),)))


def test_ready_order_serves_each_resource_by_ready_time_then_index_without_idling():
    """The whole definition of schedule_ready_order, checked on random graphs: per resource, tasks in order of
    (ready time = last dependency's end, index), each starting at max(ready, the previous one's end)."""
    rng = np.random.default_rng(3)
    for _ in range(40):
        n = int(rng.integers(1, 200))
        res = rng.integers(0, 3, n)
        cyc = rng.integers(0, 40, n)
        deps = [sorted({int(d) for d in rng.integers(0, i, int(rng.integers(0, 4)))}) if i else [] for i in range(n)]
        start, end = schedule_ready_order(res, cyc, deps, 3)
        ready = [max([int(end[d]) for d in ds], default=0) for ds in deps]
        assert (end - start == cyc).all()
        for r in range(3):
            prev_end = 0
            for i in sorted(np.flatnonzero(res == r).tolist(), key=lambda i: (ready[i], i)):
                assert start[i] == max(ready[i], prev_end)
                prev_end = int(end[i])
# ---- runs of identical groups (hwsim.engine_runs) ---------------------------------------------------
def _random_tree(rng, depth=0):
    from hwsim.engine_runs import ABSENT, Group, Run
    items = []
    for _ in range(int(rng.integers(1, 4))):
        if depth < 3 and rng.random() < 0.4:
            items.append(Run(tuple(_random_tree(rng, depth + 1)), int(rng.integers(1, 6))))
            continue
        k = int(rng.integers(1, 4))
        res = tuple(int(rng.choice([ABSENT, 0, 1, 2])) for _ in range(k))
        deps = tuple(tuple(int(rng.choice([PREV, 1, 2, 3, 4, 5])) for _ in range(int(rng.integers(0, 3))))
                     for _ in range(k))
        items.append(Group(res, tuple(int(c) for c in rng.integers(0, 20, k)), deps, (0,) * k, (0.0,) * k))
    return items


@pytest.mark.usefixtures("both_loops")
def test_run_blocks_schedule_exactly_like_their_expansion():
    """Max-plus closed form (powers of each run's matrix) against the tick rule on the written-out
    tasks: op ends, busy ticks per resource and each op's first start / last end per resource, on 300
    random run trees (nested runs, absent slots, dependencies reaching before the block) between flat ops."""
    from hwsim.engine_runs import RunBlock
    rng = np.random.default_rng(3)
    names = ("dram", "array", "vector")
    for case in range(300):
        block = RunBlock(names, ("x",), tuple(_random_tree(rng)))
        before = make_block(["array", "dram"], [("array", int(rng.integers(0, 30)), [PREV], "a"),
                                                ("dram", int(rng.integers(0, 30)), [PREV], "b")])
        after = make_block(["vector"], [("vector", 3, [PREV], "c")])
        lines = []
        for b in (block, block.expand()):
            g = TaskGraph()
            for blk in (before, b, after):
                g.add_block(blk)
            t = g.schedule()
            lo, hi = t.op_ranges[1]
            span = {r: (int(t.start[lo:hi][t.res[lo:hi] == t.resources.index(r)].min(initial=-1)),
                        int(t.end[lo:hi][t.res[lo:hi] == t.resources.index(r)].max(initial=-1)))
                    for r in names if r in t.resources}
            lines.append(([t.op_end(i) for i in range(3)], [t.busy_cycles(r, 1) for r in names], span))
        assert lines[0] == lines[1], case


def test_a_run_of_a_million_groups_is_one_row_with_its_count(tmp_path):
    from hwsim.engine_runs import Group, Run, RunBlock
    fold = Group((0, 1), (3, 5), ((2,), (1,)), (0, 1), (48.0, 0.0))    # load, then compute after it
    g = TaskGraph()
    g.add_block(RunBlock(("dram", "array"), ("load", "compute"), (Run((fold,), 1_000_000),)))
    t = g.schedule()
    assert len(t.res) == 3 and t.count.tolist() == [1_000_000, 1_000_000, 1]
    # loads every 3 ticks, each compute 5 ticks after its load ends but behind the previous compute
    assert t.op_end(0) == 3 + 5 * 1_000_000 and t.busy_cycles("dram") == 3_000_000
    t.to_chrome_trace(tmp_path / "t.json", tick_s=1e-9, detail="task")
    events = [e for e in json.loads((tmp_path / "t.json").read_text())["traceEvents"] if e["ph"] == "X"]
    assert [(e["name"], e["args"]["count"]) for e in events] == [("0:load x1000000", 1_000_000),
                                                                 ("0:compute x1000000", 1_000_000)]
