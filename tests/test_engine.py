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
    t.to_chrome_trace(path, tick_s=1e-9, op_names=["gemm"])
    events = [e for e in json.loads(path.read_text())["traceEvents"] if e["ph"] == "X"]
    assert [(e["name"], e["ts"], e["dur"]) for e in events] == [("gemm:load", 0.0, 0.01), ("gemm:compute", 0.01, 0.005)]
