#!/usr/bin/env python3
"""Cross-check hwsim's systolic mapping search against two peers' mappers (issue 13): ZigZag 3.9.1 (LOMA) and
Timeloop 3.0.3 (timeloop-mapper), on ViT-B/16's distinct GEMMs at batch 1 and 8, ``systolic-32x32-ws``.

For every GEMM it records DRAM traffic per operand (words = array elements: 8-bit operands, 8-bit final
outputs, 32-bit partial sums counted as one word each), the latency in cycles and the time each tool's
mapping search takes, and writes hwsim/data/reference/mapping_peers.json (``tests/test_mapping_peers.py``
recomputes hwsim's side from the current code and checks it against the peers' numbers recorded there).

The peers are never dependencies of hwsim; this script RUNS already-installed copies given on the command
line (TOOLCHAIN.md says how they were installed here)::

    python benchmarks/peer_mappers.py --zigzag-python /work/peers/zigzag/bin/python \\
        --timeloop-mapper /work/peers/timeloop/build/timeloop-mapper [--batches 1 8] [--out FILE]

Leave out either option to skip that tool. One peer process per (GEMM shape, objective); each reports the
wall and CPU time of its mapper call only (interpreter start and imports excluded), as hwsim's side does
(``choose`` with its memo cleared).

What the peers are given, equal to hwsim's search (docs/mapping.md, "Cross-check against the peers'
mappers", lists every difference that remains):

* a 32 x 32 array, weight stationary: the GEMM's K (reduction) on the 32 rows, N on the 32 columns, M
  streamed; one weight register per PE, so only M loops may sit under a weight (ZigZag: an 8-bit ``w_reg``
  per PE; Timeloop: a 1-entry ``WeightReg`` level of 1,024 instances keeping only Weights);
* three separate SRAMs (ifmap, filter, ofmap), each with HALF of the preset's 64 KiB: hwsim keeps every
  working set in half of its SRAM (the other half is the double buffer), the peers model no double
  buffering, so half is the capacity they may fill; the ofmap SRAM holds 32-bit partial sums
  (hwsim's ``acc_bits``): 8,192 of them;
* DRAM on top, 16 B/cycle shared by all operands (ZigZag: one 128-bit read/write port; Timeloop: 16
  words/cycle of 8 bits); DRAM traffic is counted by each tool, never recomputed here;
* two objectives per peer: ``dram`` (minimum DRAM traffic: ZigZag ``opt=energy`` with only DRAM
  accesses costing energy; Timeloop ``optimization-metrics: [last-level-accesses, delay]``) and ``latency``
  (ZigZag ``opt=latency``; Timeloop ``[delay, last-level-accesses]``).

A GEMM with ``count`` > 1 (attention per head x image; patch embedding per image at batch 8) is given to
the peers as one instance and its counts multiplied by ``count``: hwsim runs instances one after the
other and reuses nothing between them, so that is the same problem.
"""
from __future__ import annotations

import argparse
import datetime
import itertools
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "hwsim" / "data" / "reference" / "mapping_peers.json"
PRESET = "systolic-32x32-ws"
MODEL = "vit-b16"
OBJECTIVES = ("dram", "latency")


# --------------------------------------------------------------------------------------------------
# hwsim's side (also used by tests/test_mapping_peers.py)
# --------------------------------------------------------------------------------------------------
def vit_gemms(batch: int) -> list[dict]:
    """ViT-B/16's distinct GEMMs at ``batch`` as hwsim lowers them: [{op, m, k, n, count}] in workload order
    (first op of each distinct (m, k, n, count))."""
    from hwsim.workload.load import load_workload
    seen, out = set(), []
    for op in load_workload(MODEL, batch=batch).ops:
        if not hasattr(op, "gemm"):
            continue
        g = op.gemm()
        key = (g.m, g.k, g.n, g.count)
        if key not in seen:
            seen.add(key)
            out.append({"op": op.name, "m": g.m, "k": g.k, "n": g.n, "count": g.count, "gemm": g})
    return out


def hwsim_side(gemm, hw=None, timed: bool = False, repeats: int = 5) -> dict:
    """hwsim's searched mapping of one GEMM (``SystolicBackend.mapping``) on the preset: DRAM words per
    operand (``psum``: accumulator words spilled plus refilled, spill_bytes / acc_bytes), their total, the
    closed-form cycles, the mapping object and, with ``timed``, the search time (wall and CPU seconds, median
    of ``repeats`` searches, the memo cleared before each)."""
    from hwsim.backends import systolic_mapping
    from hwsim.backends.systolic import SystolicBackend
    from hwsim.hardware import load_hardware
    hw = hw or load_hardware(PRESET)
    walls, cpus = [], []
    for _ in range(repeats if timed else 1):
        if timed:
            systolic_mapping.choose.cache_clear()
        t0, c0 = time.perf_counter(), time.process_time()
        mp, cf = SystolicBackend().mapping(gemm, hw)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    wall, cpu = statistics.median(walls), statistics.median(cpus)
    words = systolic_mapping.dram_words(cf, hw)
    rec = {"dram_words": words, "dram_words_total": sum(words.values()), "dram_bytes": round(cf["dram_bytes"]),
           "cycles": round(cf["cycles"]),
           "mapping": mp.to_dict(gemm.m, gemm.k, gemm.n, hw.rows, hw.cols, hw.mapping_objective)}
    if timed:
        rec["search_wall_s"], rec["search_cpu_s"] = wall, cpu
    return rec


# --------------------------------------------------------------------------------------------------
# ZigZag 3.9.1
# --------------------------------------------------------------------------------------------------
def _port(name, kind, bw_max, allocation):
    return {"name": name, "type": kind, "bandwidth_min": 8, "bandwidth_max": bw_max, "allocation": allocation}


def zigzag_inputs(hw, m: int = 2) -> tuple[dict, list]:
    """ZigZag's accelerator and mapping (as YAML-able objects) for ``hw`` (a ws SystolicConfig) and a GEMM
    with ``m`` streamed rows (m = 1 has no M loop to keep innermost, and every weight is used once). Sizes in
    bits. Energy per access: DRAM 1,000, SRAM 1, register and MAC 0, so ``opt=energy`` minimises DRAM
    accesses (SRAM accesses only break ties). SRAM ports are as wide as the array needs (hwsim models no
    SRAM bandwidth limit)."""
    half = lambda kib: int(kib * 1024 * 8 // 2)    # noqa: E731  bits in half of the SRAM
    wb, ab = hw.word_bits, hw.acc_bits
    sram = lambda op, kib, bw, rd, wr: {          # noqa: E731
        "size": half(kib), "r_cost": 1.0, "w_cost": 1.0, "area": 0, "latency": 1, "operands": [op],
        "ports": [_port("r_port_1", "read", bw, rd), _port("w_port_1", "write", bw, wr)],
        "served_dimensions": ["D1", "D2"]}
    memories = {
        "w_reg": {"size": wb, "r_cost": 0.0, "w_cost": 0.0, "area": 0, "latency": 1, "operands": ["I2"],
                  "ports": [_port("r_port_1", "read", wb, ["I2, tl"]), _port("w_port_1", "write", wb, ["I2, fh"])],
                  "served_dimensions": []},
        "ifmap_sram": sram("I1", hw.ifmap_sram_kib, hw.rows * wb * 8, ["I1, tl"], ["I1, fh"]),
        "filter_sram": sram("I2", hw.filter_sram_kib, hw.rows * hw.cols * wb, ["I2, tl"], ["I2, fh"]),
        "ofmap_sram": sram("O", hw.ofmap_sram_kib, hw.cols * ab * 8, ["O, tl", "O, th"], ["O, fh", "O, fl"]),
        "dram": {"size": 10 ** 12, "r_cost": 1000.0, "w_cost": 1000.0, "area": 0, "latency": 1,
                 "operands": ["I1", "I2", "O"],
                 "ports": [{"name": "rw_port_1", "type": "read_write", "bandwidth_min": 8,
                            "bandwidth_max": int(hw.dram_bytes_per_cycle * 8),
                            "allocation": ["I1, fh", "I1, tl", "I2, fh", "I2, tl", "O, fh", "O, tl", "O, fl",
                                           "O, th"]}],
                 "served_dimensions": ["D1", "D2"]},
    }
    accel = {"name": "hwsim_" + hw.name.replace("-", "_"), "memories": memories,
             "operational_array": {"unit_energy": 0.0, "unit_area": 1, "dimensions": ["D1", "D2"],
                                   "sizes": [hw.rows, hw.cols], "systolic_dimensions": ["D1", "D2"]}}
    mapping = [{"name": "default", "spatial_mapping": {"D1": [f"C, {hw.rows}"], "D2": [f"K, {hw.cols}"]},
                # weight stationary: the innermost temporal loop is an M (= D) loop, so a weight stays in its
                # PE while vectors stream (LOMA's partial-ordering constraint: position 0 = innermost)
                "temporal_ordering": [["D", "*"]] if m > 1 else [],
                "memory_operand_links": {"O": "O", "W": "I2", "I": "I1"}}]
    return accel, mapping


def zigzag_workload(m, k, n, hw) -> list:
    """One GEMM instance, ZigZag's names: O[d][k] += I[d][c] * W[c][k] with D = M, C = K, K = N."""
    return [{"id": 0, "name": "gemm", "operator_type": "Gemm", "equation": "O[d][k]+=I[d][c]*W[c][k]",
             "loop_dims": ["D", "C", "K"], "loop_sizes": [m, k, n],
             "operand_precision": {"W": hw.word_bits, "I": hw.word_bits, "O": hw.acc_bits, "O_final": hw.word_bits}}]


ZIGZAG_WORKER = r'''
import json, sys, time, logging
logging.disable(logging.CRITICAL)
from zigzag.api import get_hardware_performance_zigzag
from zigzag.mapping.data_movement import DataMoveAttr
d, opt = sys.argv[1], sys.argv[2]
t0, c0 = time.perf_counter(), time.process_time()
energy, latency, cmes = get_hardware_performance_zigzag(d + "/workload.yaml", d + "/accelerator.yaml",
    d + "/mapping.yaml", opt=opt, dump_folder=d + "/out", loma_show_progress_bar=False)
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
import pickle
cme = pickle.load(open(d + "/out/list_of_cmes.pickle", "rb"))[0]
moves = {}
for op, levels in cme.mapping_int.unit_mem_data_movement.items():
    top = levels[-1].get_attribute(DataMoveAttr.DATA_ELEM_MOVE_COUNT)
    moves[str(op)] = {k: int(v) for k, v in top.__jsonrepr__().items()}
loops = open(d + "/out/loop_ordering.txt").read()
print(json.dumps({"wall_s": wall, "cpu_s": cpu, "dram_moves": moves, "latency_total2": float(cme.latency_total2),
                  "ideal_temporal_cycle": float(cme.ideal_temporal_cycle), "energy": float(cme.energy_total),
                  "loop_ordering": loops}))
'''


def run_zigzag(python: str, m, k, n, hw, objective: str, workdir: Path) -> dict:
    """Run ZigZag's LOMA on one GEMM instance; DRAM words per operand from its top-level data movement
    (elements: I and W ``rd_out_to_low``; O ``wr_in_by_low`` (final and partial writes) and ``rd_out_to_low``
    (partial-sum refills))."""
    import yaml
    accel, mapping = zigzag_inputs(hw, m)
    import shutil
    shutil.rmtree(workdir / "out", ignore_errors=True)
    workdir.mkdir(parents=True, exist_ok=True)
    for name, obj in (("accelerator", accel), ("mapping", mapping), ("workload", zigzag_workload(m, k, n, hw))):
        (workdir / f"{name}.yaml").write_text(yaml.safe_dump(obj, sort_keys=False))
    opt = {"dram": "energy", "latency": "latency"}[objective]
    p = subprocess.run([python, "-c", ZIGZAG_WORKER, str(workdir), opt], capture_output=True, text=True)
    if p.returncode:
        raise RuntimeError(f"zigzag failed on {m}x{k}x{n}: {p.stderr[-2000:]}")
    r = json.loads(p.stdout.strip().splitlines()[-1])
    mv = r["dram_moves"]
    o_writes, o_reads = mv["O"]["wr_in_by_low"], mv["O"]["rd_out_to_low"]
    words = {"ifmap": mv["I"]["rd_out_to_low"], "filter": mv["W"]["rd_out_to_low"], "ofmap": m * n,
             "psum": o_writes - m * n + o_reads}
    return {"dram_words": words, "cycles": r["latency_total2"], "search_wall_s": r["wall_s"],
            "search_cpu_s": r["cpu_s"], "raw": {"dram_moves": mv, "ideal_temporal_cycle": r["ideal_temporal_cycle"],
                                                "loop_ordering": r["loop_ordering"]}}


# --------------------------------------------------------------------------------------------------
# Timeloop 3.0.3
# --------------------------------------------------------------------------------------------------
SRAMS = ("IfmapSRAM", "FilterSRAM", "OfmapSRAM")
KEEPS = {"WeightReg": "Weights", "IfmapSRAM": "Inputs", "FilterSRAM": "Weights", "OfmapSRAM": "Outputs"}


def timeloop_spec(m, k, n, hw, objective: str, threads: int, victory: int, chain=SRAMS) -> dict:
    """timeloop-mapper input (one YAML document) for one GEMM instance as a CNN layer: C = K (reduction),
    K = N, P = M; R = S = Q = N_batch = 1. Levels inner -> outer: a 1-word weight register per PE (1,024
    instances, 32 x 32), then the three SRAMs in the order ``chain`` (one instance each, half the preset's
    KiB, each keeping only its data space) and DRAM. Timeloop's hierarchy is a chain, so an outer SRAM's
    tile spans the loops of the inner ones: the caller tries several chains. The 'ruby' mapspace allows
    imperfect factors (M = 197 is prime)."""
    half_words = lambda kib, bits: int(kib * 1024 * 8 // 2 // bits)   # noqa: E731
    wb = hw.word_bits
    bw = hw.dram_bytes_per_cycle * 8 / wb
    metrics = ["last-level-accesses", "delay"] if objective == "dram" else ["delay", "last-level-accesses"]
    sram = {"IfmapSRAM": half_words(hw.ifmap_sram_kib, wb), "FilterSRAM": half_words(hw.filter_sram_kib, wb),
            "OfmapSRAM": half_words(hw.ofmap_sram_kib, hw.acc_bits)}
    storage = [{"name": "WeightReg", "entries": 1, "instances": hw.rows * hw.cols, "meshX": hw.cols, "word-bits": wb}]
    storage += [{"name": name, "entries": sram[name], "instances": 1, "word-bits": wb} for name in chain]
    storage.append({"name": "DRAM", "technology": "DRAM", "instances": 1, "word-bits": wb,
                    "read_bandwidth": bw, "write_bandwidth": bw, "shared_bandwidth": bw})
    dataspaces = ("Weights", "Inputs", "Outputs")
    targets = [{"type": "datatype", "target": t, "keep": [d], "bypass": [x for x in dataspaces if x != d]}
               for t, d in KEEPS.items()]
    # weight stationary: only P (= M, weight-irrelevant) loops under the weight register; K (reduction) on
    # the array rows (Y), N on the columns (X), fanned out below the innermost SRAM
    targets.append({"type": "temporal", "target": "WeightReg", "factors": "R1 S1 Q1 N1 C1 K1"})
    # the array is filled where a dimension divides by its side (as hwsim's tiles); else left to the mapper
    fill = " ".join(f"{d}{side}" for d, dim, side in (("C", k, hw.rows), ("K", n, hw.cols)) if dim % side == 0)
    targets.append({"type": "spatial", "target": chain[0], "factors": ("R1 S1 P1 Q1 N1 " + fill).strip(),
                    "permutation": "KC", "split": 1})
    return {
        "arch": {"arithmetic": {"name": "MACs", "instances": hw.rows * hw.cols, "meshX": hw.cols,
                                "word-bits": wb}, "storage": storage},
        "problem": {"R": 1, "S": 1, "P": m, "Q": 1, "C": k, "K": n, "N": 1, "Wstride": 1, "Hstride": 1,
                    "Wdilation": 1, "Hdilation": 1},
        "mapspace": {"template": "ruby", "constraints": targets},
        "mapper": {"optimization-metrics": metrics, "num-threads": threads, "algorithm": "hybrid",
                   "victory-condition": victory, "timeout": 10 * victory, "log-stats": False,
                   "live-status": False},
    }


def _timeloop_dram(stats: str, level: str = "DRAM") -> dict:
    """Per data space, the scalar reads / updates / fills of ``level`` in timeloop-mapper.stats.txt
    (the per-level section; DRAM has one instance, so per-instance = total)."""
    sec = stats.split(f"=== {level} ===", 1)[1].split("\n=== ", 1)[0]
    out = {}
    for ds in ("Weights", "Inputs", "Outputs"):
        part = sec.split(f"    {ds}:", 1)[1]
        part = re.split(r"\n    \w+:\n", part, 1)[0]
        get = lambda key: int(float(re.search(rf"{key}\s*(?:\(per-instance\))?\s*:\s*([\d.e+]+)", part).group(1)))  # noqa: E731
        out[ds] = {"reads": get("Scalar reads"), "updates": get("Scalar updates"), "fills": get("Scalar fills")}
    return out


def run_timeloop(mapper: str, m, k, n, hw, objective: str, workdir: Path, threads: int, victory: int,
                 chains=(SRAMS,)) -> dict:
    """Run timeloop-mapper on one GEMM instance once per SRAM chain (``timeloop_spec``) and keep the best
    run for ``objective`` (DRAM words, then cycles; or cycles, then DRAM words). DRAM words per operand from
    its stats (Inputs / Weights reads; Outputs updates = final and partial writes, Outputs reads = partial
    refills); cycles from its summary. The search time is the sum over the chains."""
    runs, failed = [], []
    for c in chains:
        try:
            runs.append(_timeloop_once(mapper, m, k, n, hw, objective, workdir / "-".join(c), threads, victory, c))
        except RuntimeError as e:
            failed.append({"chain": list(c), "error": str(e)[-300:]})
    if not runs:
        raise RuntimeError(f"timeloop found no valid mapping on {m}x{k}x{n} in any chain")
    key = (lambda r: (sum(r["dram_words"].values()), r["cycles"])) if objective == "dram" else \
        (lambda r: (r["cycles"], sum(r["dram_words"].values())))
    best = dict(min(runs, key=key))
    best["search_wall_s"] = sum(r["search_wall_s"] for r in runs)
    best["search_cpu_s"] = sum(r["search_cpu_s"] for r in runs)
    best["raw"] = dict(best["raw"], per_chain=[{"chain": r["raw"]["chain"], "dram_words": r["dram_words"],
                                                "cycles": r["cycles"], "search_wall_s": r["search_wall_s"]}
                                               for r in runs], failed_chains=failed)
    return best


def _timeloop_once(mapper, m, k, n, hw, objective, workdir: Path, threads, victory, chain) -> dict:
    import yaml
    workdir.mkdir(parents=True, exist_ok=True)
    for f in workdir.glob("timeloop-mapper.*"):
        f.unlink()
    spec = timeloop_spec(m, k, n, hw, objective, threads, victory, chain)
    (workdir / "spec.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    r0, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    p = subprocess.run([mapper, "spec.yaml"], cwd=workdir, capture_output=True, text=True)
    wall, r1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_CHILDREN)
    stats_file = workdir / "timeloop-mapper.stats.txt"
    if p.returncode or not stats_file.exists():
        raise RuntimeError(f"timeloop failed on {m}x{k}x{n}: {(p.stdout + p.stderr)[-2000:]}")
    stats = stats_file.read_text()
    d = _timeloop_dram(stats)
    o = d["Outputs"]
    words = {"ifmap": d["Inputs"]["reads"], "filter": d["Weights"]["reads"], "ofmap": m * n,
             "psum": o["updates"] - m * n + o["reads"]}
    cycles = int(re.search(r"Cycles:\s*(\d+)", stats.split("Summary Stats", 1)[1]).group(1))
    return {"dram_words": words, "cycles": cycles, "search_wall_s": wall,
            "search_cpu_s": (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime),
            "raw": {"chain": list(chain), "dram": d, "map": (workdir / "timeloop-mapper.map.txt").read_text()}}


# --------------------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------------------
def _git_head() -> str:
    p = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True)
    return p.stdout.strip()


def _scaled(rec: dict, count: int) -> dict:
    """A per-instance peer record times ``count`` (traffic and cycles; search time unchanged)."""
    words = {k: v * count for k, v in rec["dram_words"].items()}
    return {"dram_words": words, "dram_words_total": sum(words.values()), "cycles": rec["cycles"] * count,
            "search_wall_s": rec["search_wall_s"], "search_cpu_s": rec["search_cpu_s"], "raw": rec.get("raw")}


def _fmt_words(w: dict) -> str:
    return " / ".join(f"{w[k]:,}" for k in ("ifmap", "filter", "ofmap", "psum"))


def markdown_tables(doc: dict) -> str:
    """The committed tables of docs/mapping.md from a recorded document: per GEMM, DRAM words (total; best
    objective of each peer), cycles (each peer's latency objective), search time (wall and CPU, and their
    ratios to hwsim's); then DRAM words per operand. Cycles are the latency objective's (the DRAM objective's where
    a tool ran only that)."""
    tools = [t for t in ("zigzag", "timeloop") if any(t in r["peers"] for r in doc["rows"])]
    name = {"zigzag": "ZigZag", "timeloop": "Timeloop"}
    head = ["batch", "GEMM (M x K x N x count)", "hwsim DRAM words"]
    head += [f"{name[t]} best DRAM words" for t in tools]
    head += ["hwsim cycles"] + [f"{name[t]} cycles" for t in tools]
    head += ["hwsim search wall / CPU"] + [f"{name[t]} search wall / CPU (x hwsim)" for t in tools]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    ops = ["| batch | GEMM | tool / objective | ifmap / filter / ofmap / psum words | total |", "|---|---|---|---|---|"]
    for r in doc["rows"]:
        h = r["hwsim"]
        g = f"{r['op']} {r['m']}x{r['k']}x{r['n']} x{r['count']}"
        cells = [str(r["batch"]), g, f"{h['dram_words_total']:,}"]
        ok = {t: {o: rec for o, rec in r["peers"].get(t, {}).items() if "error" not in rec} for t in tools}
        for t in tools:
            if not ok[t]:
                err = next(iter(r["peers"].get(t, {}).values()), {}).get("error", "")
                cells.append("not run" if err.startswith("not run") else "no valid mapping found")
                continue
            obj, rec = min(ok[t].items(), key=lambda kv: kv[1]["dram_words_total"])
            ratio = rec["dram_words_total"] / h["dram_words_total"]
            cells.append(f"{rec['dram_words_total']:,} ({obj}; x{ratio:.2f})")
        cells.append(f"{h['cycles']:,}")
        cells += [f"{ok[t].get('latency', ok[t].get('dram'))['cycles']:,.0f}" if ok[t] else "-" for t in tools]
        cells.append(f"{h['search_wall_s'] * 1e3:.1f} / {h['search_cpu_s'] * 1e3:.1f} ms")
        for t in tools:
            if not ok[t]:
                cells.append("-")
                continue
            wall = max(rec["search_wall_s"] for rec in ok[t].values())
            cpu = max(rec["search_cpu_s"] for rec in ok[t].values())
            cells.append(f"{wall:.1f} / {cpu:.1f} s (x{wall / h['search_wall_s']:,.0f} / "
                         f"x{cpu / h['search_cpu_s']:,.0f})")
        lines.append("| " + " | ".join(cells) + " |")
        ops.append(f"| {r['batch']} | {g} | hwsim | {_fmt_words(h['dram_words'])} | {h['dram_words_total']:,} |")
        for t in tools:
            for obj, rec in ok[t].items():
                ops.append(f"| | | {name[t]} / {obj} | {_fmt_words(rec['dram_words'])} | {rec['dram_words_total']:,} |")
    return "\n".join(lines) + "\n\n" + "\n".join(ops) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--zigzag-python", help="python of a venv with zigzag-dse 3.9.1 (skip ZigZag if absent)")
    ap.add_argument("--timeloop-mapper", help="timeloop-mapper 3.0.3 binary (skip Timeloop if absent)")
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--timeloop-threads", type=int, default=1)
    ap.add_argument("--timeloop-victory", type=int, default=2000,
                    help="victory-condition: stop after this many consecutive non-improving valid mappings")
    ap.add_argument("--timeloop-chains", nargs="+", default=[",".join(p) for p in itertools.permutations(SRAMS)],
                    help="orders (inner -> outer) of the three SRAM levels to try, e.g. OfmapSRAM,IfmapSRAM,FilterSRAM "
                         "(default: all 6)")
    ap.add_argument("--timeloop-objectives", nargs="+", default=list(OBJECTIVES), choices=OBJECTIVES)
    ap.add_argument("--workdir", default=None, help="keep the peers' inputs and outputs here")
    ap.add_argument("--reuse", action="store_true",
                    help="reuse a peer run whose result.json is already in --workdir (same inputs, earlier run)")
    ap.add_argument("--reuse-only", nargs="*", default=[], choices=("zigzag", "timeloop"),
                    help="for these tools only reuse earlier results (a shape without one is recorded as not run)")
    ap.add_argument("--out", default=str(DEFAULT_OUT))
    ap.add_argument("--table", metavar="JSON", help="only print the markdown tables of a recorded file")
    args = ap.parse_args(argv)
    if args.table:
        print(markdown_tables(json.loads(Path(args.table).read_text())))
        return 0
    sys.path.insert(0, str(REPO))
    from hwsim.hardware import load_hardware
    hw = load_hardware(PRESET)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="peer_mappers_"))
    tools = {}
    if args.zigzag_python:
        tools["zigzag"] = lambda m, k, n, obj, d: run_zigzag(args.zigzag_python, m, k, n, hw, obj, d)
    if args.timeloop_mapper:
        chains = [tuple(c.split(",")) for c in args.timeloop_chains]
        tools["timeloop"] = lambda m, k, n, obj, d: run_timeloop(args.timeloop_mapper, m, k, n, hw, obj, d,
                                                                 args.timeloop_threads, args.timeloop_victory,
                                                                 chains)
    # warm-up: numba's dispatch and the first calls load once per process; time the searches after it
    from hwsim.workload.ops import MatMul
    hwsim_side(MatMul(name="warmup", m=100, k=100, n=100), hw, timed=True)
    per_shape: dict = {}      # (tool, m, k, n, objective) -> per-instance record (each shape runs once)
    rows = []
    for batch in args.batches:
        for g in vit_gemms(batch):
            m, k, n, cnt = g["m"], g["k"], g["n"], g["count"]
            row = {"batch": batch, "op": g["op"], "m": m, "k": k, "n": n, "count": cnt,
                   "hwsim": hwsim_side(g["gemm"], hw, timed=True), "peers": {}}
            for tool, run in tools.items():
                for obj in (args.timeloop_objectives if tool == "timeloop" else OBJECTIVES):
                    key = (tool, m, k, n, obj)
                    done = work / f"{tool}_{m}x{k}x{n}_{obj}" / "result.json"
                    if key not in per_shape and args.reuse and done.exists():
                        per_shape[key] = json.loads(done.read_text())
                    if key not in per_shape and tool in args.reuse_only:
                        per_shape[key] = {"error": "not run (--reuse-only: no earlier result)", "search_wall_s": 0.0}
                    if key not in per_shape:
                        t = time.perf_counter()
                        try:
                            per_shape[key] = run(m, k, n, obj, done.parent)
                        except RuntimeError as e:   # recorded, not hidden: the table shows it
                            per_shape[key] = {"error": str(e)[-500:], "search_wall_s": time.perf_counter() - t}
                            print(f"{tool:8s} {obj:7s} {m}x{k}x{n}: FAILED {str(e)[-200:]}", flush=True)
                        else:
                            print(f"{tool:8s} {obj:7s} {m}x{k}x{n}: {per_shape[key]['dram_words']} "
                                  f"{per_shape[key]['cycles']:.0f} cycles, {time.perf_counter() - t:.1f} s",
                                  flush=True)
                        done.write_text(json.dumps(per_shape[key]))
                    if "error" in per_shape[key]:
                        row["peers"].setdefault(tool, {})[obj] = per_shape[key]
                        continue
                    row["peers"].setdefault(tool, {})[obj] = _scaled(per_shape[key], cnt)
            rows.append(row)
            h = row["hwsim"]
            print(f"hwsim    b{batch} {g['op']:18s} {m}x{k}x{n} x{cnt}: {h['dram_words']} {h['cycles']} cycles, "
                  f"{h['search_wall_s'] * 1e3:.1f} ms", flush=True)
    versions = {}
    if args.zigzag_python:
        versions["zigzag"] = subprocess.run([args.zigzag_python, "-c", "import importlib.metadata as m; "
                                             "print(m.version('zigzag-dse'))"], capture_output=True,
                                            text=True).stdout.strip()
    if args.timeloop_mapper:
        versions["timeloop"] = "3.0.3 (NVlabs/timeloop tag v3.0.3, pat-public in tree; scons -j2, -O3)"
    import yaml
    accel, mapping = zigzag_inputs(hw)
    doc = {
        "description": "ViT-B/16 GEMMs on systolic-32x32-ws: hwsim's mapping search vs ZigZag (LOMA) and "
                       "Timeloop's mapper; DRAM words per operand (psum = 32-bit partial sums spilled + "
                       "refilled, one word each), cycles, search time. Written by benchmarks/peer_mappers.py.",
        "provenance": {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                       "hwsim_commit": _git_head(), "tool_versions": versions, "preset": PRESET,
                       "hardware": {f: getattr(hw, f) for f in ("rows", "cols", "dataflow", "ifmap_sram_kib",
                                                                 "filter_sram_kib", "ofmap_sram_kib",
                                                                 "dram_bytes_per_cycle", "word_bits", "acc_bits",
                                                                 "mapping_objective")},
                       "host": os.uname().nodename, "cpu_count": os.cpu_count(),
                       "load_average_at_end": os.getloadavg(),
                       "command": " ".join([Path(sys.argv[0]).name] + (argv or sys.argv[1:]))},
        "configs": {"zigzag": {"accelerator": yaml.safe_dump(accel, sort_keys=False),
                               "mapping": yaml.safe_dump(mapping, sort_keys=False),
                               "workload_example": yaml.safe_dump(zigzag_workload(197, 768, 768, hw), sort_keys=False),
                               "api": "get_hardware_performance_zigzag(..., opt=energy|latency, lpf_limit=6 (default), "
                                      "temporal_mapping_type='uneven' (default))"},
                    "timeloop": {"spec_example": yaml.safe_dump(timeloop_spec(197, 768, 768, hw, "dram",
                                                                              args.timeloop_threads,
                                                                              args.timeloop_victory),
                                                                sort_keys=False),
                                 "chains": args.timeloop_chains, "threads": args.timeloop_threads,
                                 "victory_condition": args.timeloop_victory}},
        "rows": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(doc, indent=1, default=str) + "\n")
    print(markdown_tables(doc))
    print("wrote", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
