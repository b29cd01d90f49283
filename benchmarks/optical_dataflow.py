"""Data-flow issue on the optical4f backend: cycle-mode latency with every op after the previous one (program order),
with data-flow issue but the co-processor serving ops in program order (the rule not chosen), and as the backend
runs (co-processor queued), plus the scheduling time of hwsim.engine.DataflowGraph against TaskGraph measured in this
run. Prints the table docs/optical4f.md ("Data flow") quotes.

    PYTHONPATH=. python benchmarks/optical_dataflow.py
"""
from __future__ import annotations

import time

from hwsim.engine import DataflowGraph, TaskGraph
from hwsim.hardware import load_hardware
from hwsim.kinds import backend
from hwsim.workload import load_workload

CASES = (("convshare-vit", 1, "convshare-4f"), ("convshare-vit", 64, "convshare-4f"),
         ("vgg16-cifar10", 1, "li-gupta-4k-2mhz"), ("vgg16-imagenet", 1, "li-gupta-4k-2mhz"),
         ("alexnet-imagenet", 1, "li-gupta-4k-2mhz"), ("resnet18-cifar", 1, "convshare-4f"),
         ("fatnet-cifar", 1, "convshare-4f"))


def makespan_s(graph, blocks, producers, tick_s) -> tuple[float, float]:
    """(makespan in s, seconds to build and schedule the graph)."""
    t = time.perf_counter()
    for block, p in zip(blocks, producers):
        graph.add_block(block) if p is False else graph.add_block(block, p)
    span = graph.schedule().makespan
    return span * tick_s, time.perf_counter() - t


def main() -> None:
    b = backend("optical4f")
    makespan_s(TaskGraph(), [b.lower(load_workload("vgg16-cifar10").ops[0], load_hardware("convshare-4f"))[0]],
               [False], 1.0)     # warm up before timing (these graphs, < PYTHON_TASKS tasks, never load numba)
    print("| workload | batch | hardware | program order | data flow, co-processor in program order | "
          "data flow, co-processor queued (the backend) | gain | schedule time, DataflowGraph / TaskGraph |")
    print("|---|---|---|---|---|---|---|---|")
    for name, batch, hw_name in CASES:
        w, hw = load_workload(name, batch=batch), load_hardware(hw_name)
        blocks = [b.lower(op, hw)[0] for op in w.ops]
        producers, tick = w.producers(), b.tick_s(hw)
        program, t0 = makespan_s(TaskGraph(), blocks, [False] * len(blocks), tick)
        in_order, _ = makespan_s(DataflowGraph(), blocks, producers, tick)
        queued, t1 = makespan_s(DataflowGraph(b.dataflow_queued), blocks, producers, tick)
        print(f"| {name} | {batch} | {hw_name} | {program * 1e6:.4f} us | {in_order * 1e6:.4f} us | "
              f"{queued * 1e6:.4f} us | {(program - queued) * 1e9:.1f} ns ({(program - queued) / program:.1%}) | "
              f"{t1 / t0:.1f}x ({t1 * 1e3:.0f} / {t0 * 1e3:.0f} ms) |")


if __name__ == "__main__":
    main()
