#!/usr/bin/env python3
"""Run real SCALE-Sim 3.0 on a fixed set of GEMMs x array configs and record its outputs.

The records in ``hwsim/data/reference/scalesim_reference.json`` are what ``tests/test_scalesim_model.py``
checks ``hwsim.backends.scalesim_model`` against. Every number in them is parsed from the CSV reports
SCALE-Sim itself writes (COMPUTE_REPORT.csv, DETAILED_ACCESS_REPORT.csv); nothing is hand-typed.

SCALE-Sim is never a dependency of hwsim: it lives in its own venv (TOOLCHAIN.md, scalesim row)::

    python3 -m venv /work/scalesim-venv
    /work/scalesim-venv/bin/pip install scalesim==3.0.0 numpy==1.26.4 'numba<0.61' 'pandas<2.3'

Usage (any Python >= 3.8 can drive it; only the workers need SCALE-Sim)::

    python benchmarks/scalesim_reference.py [--scalesim-python PATH] [--jobs 2] [--out FILE]
    SCALESIM_PYTHON=/path/to/python python benchmarks/scalesim_reference.py

The driver re-invokes this same file under the SCALE-Sim interpreter with ``--worker`` once per case
(one process per case; each worker reports its own wall time and peak RSS, resource.getrusage).
Configuration: CALC interface-bandwidth mode (SCALE-Sim's default estimate-bandwidth mode), no
sparsity, no custom layout, offsets 0 / 10,000,000 / 20,000,000 as in SCALE-Sim's configs/scale.cfg.
SCALE-Sim hard-codes a 1-byte word (single_layer_sim.py: ``word_size = 1``), so every record has
``word_bytes = 1``.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

DEFAULT_SCALESIM_PYTHON = "/work/scalesim-venv/bin/python"
REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "hwsim" / "data" / "reference" / "scalesim_reference.json"

CONFIG_TEMPLATE = """\
[general]
run_name = run

[architecture_presets]
ArrayHeight: {rows}
ArrayWidth: {cols}
IfmapSramSzkB: {ifmap_kib}
FilterSramSzkB: {filter_kib}
OfmapSramSzkB: {ofmap_kib}
IfmapOffset: 0
FilterOffset: 10000000
OfmapOffset: 20000000
Bandwidth: 10
Dataflow: {dataflow}
MemoryBanks: 1
ReadRequestBuffer: 512
WriteRequestBuffer: 512

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: 10
IfmapSRAMBankNum: 10
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: 10
FilterSRAMBankNum: 10
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport: false

[run_presets]
InterfaceBandwidth: CALC
UseRamulatorTrace: False
"""

DATAFLOWS = ("ws", "os", "is")
SRAM_DEFAULT = (64, 64, 64)  # KiB, SCALE-Sim's configs/scale.cfg


def cases() -> list[dict]:
    """The fixed case list: GEMM (m, n, k) x array (rows, cols) x dataflow x SRAM sizes (KiB)."""
    out: list[dict] = []

    def add(m, n, k, rows, cols, dfs=DATAFLOWS, srams=(SRAM_DEFAULT,), tag=""):
        for df in dfs:
            for ifk, fik, ofk in srams:
                out.append(dict(M=m, N=n, K=k, rows=rows, cols=cols, dataflow=df,
                                ifmap_sram_kib=ifk, filter_sram_kib=fik, ofmap_sram_kib=ofk,
                                word_bytes=1, tag=tag))

    small_sram = ((4, 4, 4),)
    mixed_sram = ((64, 64, 64), (4, 4, 4), (1, 2, 1))
    # Small arrays: dims smaller than the array, exact multiples, one over, primes.
    for rows, cols in ((4, 4), (8, 16), (16, 8), (7, 13)):
        add(3, 2, 1, rows, cols, tag="tiny")                              # all dims < array
        add(rows - 1 if rows > 1 else 1, cols - 1 if cols > 1 else 1, rows - 1 if rows > 1 else 1,
            rows, cols, tag="below")                                      # just under
        add(2 * rows, 3 * cols, 2 * rows, rows, cols, srams=mixed_sram, tag="multiple")
        add(rows + 1, cols + 1, rows + 1, rows, cols, tag="one-over")
        add(37, 41, 29, rows, cols, srams=mixed_sram, tag="primes")
        add(97, 61, 53, rows, cols, srams=small_sram, tag="primes-big")
    # 32x32: multiples / one-over / primes, SRAM pressure, an exact SRAM-epoch edge
    add(64, 96, 64, 32, 32, srams=mixed_sram, tag="multiple")
    add(33, 33, 33, 32, 32, tag="one-over")
    add(101, 131, 67, 32, 32, srams=mixed_sram, tag="primes")
    add(40, 64, 50, 32, 32, srams=((4, 4, 4),), tag="epoch-edge")       # M*K = 2000 = 4 KiB epoch
    add(197, 197, 64, 32, 32, srams=((64, 64, 64), (4, 4, 4)), tag="vit-attn-qk")
    add(197, 64, 197, 32, 32, tag="vit-attn-av")
    add(197, 768, 768, 32, 32, srams=((64, 64, 64), (8, 4, 2)), tag="vit-qkv/proj")
    # Non-square prime array on a ViT layer
    add(197, 64, 197, 7, 13, dfs=("ws",), srams=((2, 3, 1),), tag="vit-attn-av")
    # 128x128
    add(100, 100, 100, 128, 128, tag="below")
    add(129, 257, 129, 128, 128, srams=((64, 64, 64), (4, 4, 4)), tag="one-over")
    add(197, 197, 64, 128, 128, tag="vit-attn-qk")
    add(197, 768, 768, 128, 128, srams=((64, 64, 64), (4, 4, 4)), tag="vit-qkv/proj")
    # Read-SRAM epoch corner cases of the os filter (column blocks that straddle an epoch) and
    # degenerate 1-wide arrays
    add(20, 200, 50, 32, 32, dfs=("os",), srams=((4, 4, 4),), tag="os-filter-epoch")
    add(40, 40, 125, 16, 8, dfs=("os",), srams=((4, 4, 4),), tag="os-filter-epoch")
    add(13, 11, 17, 1, 8, srams=((64, 64, 64), (1, 1, 1)), tag="degenerate")
    add(13, 11, 17, 8, 1, srams=((64, 64, 64), (1, 1, 1)), tag="degenerate")
    # The ViT-B MLP-up GEMM quoted in TOOLCHAIN.md (SCALE-Sim 670,463 cycles)
    add(197, 3072, 768, 32, 32, dfs=("ws",), tag="vit-mlp1")
    return out


# ----------------------------------------------------------------------------------------------
# Worker: runs inside the SCALE-Sim venv
# ----------------------------------------------------------------------------------------------
def _read_report(path: Path) -> dict:
    lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
    header = [h.strip() for h in lines[0].split(",")]
    values = [v.strip() for v in lines[1].split(",")]
    return {h: v for h, v in zip(header, values) if h}


def worker(case: dict) -> dict:
    import contextlib
    import io
    from importlib.metadata import version

    from scalesim.scale_sim import scalesim

    with tempfile.TemporaryDirectory(prefix="scalesim_ref_") as tmp:
        tmp = Path(tmp)
        (tmp / "scale.cfg").write_text(CONFIG_TEMPLATE.format(
            rows=case["rows"], cols=case["cols"], dataflow=case["dataflow"],
            ifmap_kib=case["ifmap_sram_kib"], filter_kib=case["filter_sram_kib"],
            ofmap_kib=case["ofmap_sram_kib"]))
        # GEMM topology rows are `name,M,N,K,` (trailing comma; topology_utils.load_arrays_gemm)
        (tmp / "gemm.csv").write_text("Layer,M,N,K,\ngemm,{M},{N},{K},\n".format(**case))
        (tmp / "layout.csv").write_text("Layer,\n")  # unused without custom layout, but required
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            sim = scalesim(save_disk_space=True, verbose=False, config=str(tmp / "scale.cfg"),
                           topology=str(tmp / "gemm.csv"), layout=str(tmp / "layout.csv"),
                           input_type_gemm=True)
            sim.run_scale(top_path=str(tmp / "out"))
        wall = time.perf_counter() - t0
        comp = _read_report(tmp / "out" / "run" / "COMPUTE_REPORT.csv")
        det = _read_report(tmp / "out" / "run" / "DETAILED_ACCESS_REPORT.csv")

    def i(d, key):
        return int(round(float(d[key])))

    rec = {k: case[k] for k in ("M", "N", "K", "rows", "cols", "dataflow", "ifmap_sram_kib",
                                "filter_sram_kib", "ofmap_sram_kib", "word_bytes")}
    rec.update(
        total_cycles=i(comp, "Total Cycles"),
        total_cycles_incl_prefetch=i(comp, "Total Cycles (incl. prefetch)"),
        stall_cycles=i(comp, "Stall Cycles"),
        sram_reads_ifmap=i(det, "SRAM IFMAP Reads"),
        sram_reads_filter=i(det, "SRAM Filter Reads"),
        sram_writes_ofmap=i(det, "SRAM OFMAP Writes"),
        dram_reads_ifmap=i(det, "DRAM IFMAP Reads"),
        dram_reads_filter=i(det, "DRAM Filter Reads"),
        dram_writes_ofmap=i(det, "DRAM OFMAP Writes"),
        scalesim_version=version("scalesim"),
        scalesim_wall_s=round(wall, 3),
        tag=case.get("tag", ""),
    )
    return rec


# ----------------------------------------------------------------------------------------------
# Driver
# ----------------------------------------------------------------------------------------------
def run_case(python: str, case: dict) -> dict:
    proc = subprocess.Popen([python, str(Path(__file__).resolve()), "--worker", json.dumps(case)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"SCALE-Sim worker failed for {case}:\n{err[-4000:]}")
    return json.loads(out.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scalesim-python", default=os.environ.get("SCALESIM_PYTHON",
                                                                DEFAULT_SCALESIM_PYTHON))
    ap.add_argument("--out", default=str(DEFAULT_OUT))
    ap.add_argument("--jobs", type=int, default=1, help="parallel SCALE-Sim processes")
    ap.add_argument("--only", default="", help="substring filter on tag (debugging)")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.worker is not None:
        import resource
        rec = worker(json.loads(args.worker))
        rec["scalesim_maxrss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        print(json.dumps(rec))
        return 0

    todo = [c for c in cases() if args.only in c["tag"]]
    # Largest first so the long runs overlap the many short ones.
    todo.sort(key=lambda c: -(c["M"] * c["N"] * c["K"]))
    t0 = time.perf_counter()
    results: list[dict] = []

    def one(c):
        r = run_case(args.scalesim_python, c)
        print(f"[{time.perf_counter() - t0:7.1f}s] {c['M']}x{c['N']}x{c['K']} on "
              f"{c['rows']}x{c['cols']} {c['dataflow']} sram={c['ifmap_sram_kib']}/"
              f"{c['filter_sram_kib']}/{c['ofmap_sram_kib']} -> {r['total_cycles']} cycles "
              f"({r['scalesim_wall_s']} s, {r['scalesim_maxrss_mib']} MiB)", flush=True)
        return r

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = list(pool.map(one, todo))
    key = lambda r: (r["rows"], r["cols"], r["M"], r["N"], r["K"], r["dataflow"],
                     r["ifmap_sram_kib"], r["filter_sram_kib"], r["ofmap_sram_kib"])
    results.sort(key=key)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {len(results)} records to {args.out} in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
