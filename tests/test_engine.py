"""The engine: in-order per resource, dependencies, PREV linking between ops, trace export."""
import json

import numpy as np
import pytest

from hwsim.engine import MAX_DEPS, NONE, PREV, TaskGraph, _schedule, make_block, schedule_reference


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


def test_prev_waits_for_the_whole_previous_op():
    g = TaskGraph()
    g.add_block(make_block(["array"], [("array", 7, [PREV], "compute")]))
    g.add_block(make_block(["vector"], [("vector", 4, [PREV], "softmax")]))
    g.add_block(make_block(["array"], [("array", 2, [PREV], "compute")]))
    t = g.schedule()
    assert [t.op_end(i) for i in range(3)] == [7, 11, 13]


def test_numba_scheduler_equals_reference_on_random_graphs():
    rng = np.random.default_rng(1)
    for _ in range(20):
        n = int(rng.integers(1, 300))
        res = rng.integers(0, 4, n).astype(np.int64)
        cyc = rng.integers(0, 50, n).astype(np.int64)
        deps = np.full((n, MAX_DEPS), NONE, np.int64)
        for i in range(1, n):
            k = int(rng.integers(0, MAX_DEPS + 1))
            deps[i, :k] = rng.integers(0, i, k)
        s1, e1 = _schedule(res, cyc, deps, 4)
        s2, e2 = schedule_reference(res, cyc, deps, 4)
        assert s1.tolist() == s2.tolist() and e1.tolist() == e2.tolist()


def test_forward_dependency_is_rejected():
    g = TaskGraph()
    with pytest.raises(ValueError, match="before it"):
        g.add_block(make_block(["array"], [("array", 1, [1], "x"), ("array", 1, [], "x")]))


def test_chrome_trace_has_one_event_per_nonempty_task(tmp_path):
    g = TaskGraph()
    g.add_block(make_block(["dram", "array"], [("dram", 10, [PREV], "load"), ("array", 5, [0], "compute")]))
    t = g.schedule()
    path = tmp_path / "t.json"
    t.to_chrome_trace(path, tick_s=1e-9, op_names=["gemm"], detail="task")
    events = [e for e in json.loads(path.read_text())["traceEvents"] if e["ph"] == "X"]
    assert [(e["name"], e["ts"], e["dur"]) for e in events] == [("gemm:load", 0.0, 0.01), ("gemm:compute", 0.01, 0.005)]


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
    assert len(t.res) == 3 and t.counts.tolist() == [1_000_000, 1_000_000, 1]
    # loads every 3 ticks, each compute 5 ticks after its load ends but behind the previous compute
    assert t.op_end(0) == 3 + 5 * 1_000_000 and t.busy_cycles("dram") == 3_000_000
    t.to_chrome_trace(tmp_path / "t.json", tick_s=1e-9, detail="task")
    events = [e for e in json.loads((tmp_path / "t.json").read_text())["traceEvents"] if e["ph"] == "X"]
    assert [(e["name"], e["args"]["count"]) for e in events] == [("0:load x1000000", 1_000_000),
                                                                 ("0:compute x1000000", 1_000_000)]
