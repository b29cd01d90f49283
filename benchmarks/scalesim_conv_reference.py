#!/usr/bin/env python3
"""Run real SCALE-Sim 3.0 on convolution topologies and degenerate GEMMs, and record what it reports.

Writes ``hwsim/data/reference/scalesim_conv_reference.json``, which ``tests/test_topology.py`` and
``tests/test_hardening_scalesim.py`` check against:

* ``conv``: SCALE-Sim convolution topology files (header ``Layer name, IFMAP Height, IFMAP Width,
  Filter Height, Filter Width, Channels, Num Filter, Strides,``), run in conv mode. Per layer SCALE-Sim
  produced (a ``DP`` layer becomes one layer per channel, ``topology_utils.load_arrays_conv``): its
  layer name, its spatio-temporal dims ``(Sr, Sc, T)`` for the run's dataflow
  (``topologies.get_spatiotemporal_dims``), its MAC count (``get_layer_mac_ops``), and the COMPUTE and
  DETAILED_ACCESS report columns. hwsim reads the same file with ``hwsim.topology.read_topology``
  and lowers each layer to one GEMM; the test checks M, N, K, the MACs, and that
  ``scalesim_model.scalesim_gemm`` of the lowered GEMM reproduces SCALE-Sim's cycles and SRAM counts.
* ``gemm``: tiny GEMMs on 1x1 and 2x1 arrays (the ``scalesim_compatible`` 200 % / 0-cycle corner):
  SCALE-Sim's Total Cycles and its own "Overall Util %", or the exception it raises.

Every number is parsed from SCALE-Sim's own CSV reports or read from its ``topologies`` object;
nothing is hand-typed. SCALE-Sim runs in its own venv (TOOLCHAIN.md, scalesim row)::

    python3 -m venv /work/peers/scalesim
    /work/peers/scalesim/bin/pip install scalesim==3.0.0 numpy==1.26.4 'numba<0.61' 'pandas<2.3'
    python benchmarks/scalesim_conv_reference.py --scalesim-python /work/peers/scalesim/bin/python

Same configuration as ``benchmarks/scalesim_reference.py`` (CALC bandwidth mode, 1-byte words).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scalesim_reference import CONFIG_TEMPLATE  # noqa: E402  (same config as the GEMM records)

DEFAULT_SCALESIM_PYTHON = os.environ.get("SCALESIM_PYTHON", "/work/peers/scalesim/bin/python")
REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "hwsim" / "data" / "reference" / "scalesim_conv_reference.json"
CONV_HEADER = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
               "Num Filter, Strides,")

# (ifmap h, ifmap w, filter h, filter w, channels, num filters, stride) per layer; SCALE-Sim does no
# padding (the ifmap is given already padded).
CONV_TOPOLOGIES = {
    "resnet_stem": [("conv1", 224, 224, 7, 7, 3, 64, 2)],                  # the example
    "mixed": [("c3x3", 30, 30, 3, 3, 16, 24, 1),                             # stride 1
              ("c3x3s2", 15, 15, 3, 3, 8, 16, 2),                            # stride 2, odd size
              ("c1x1", 14, 14, 1, 1, 32, 48, 1),                             # pointwise
              ("c5x3", 20, 12, 5, 3, 6, 10, 3),                              # non-square, stride 3
              ("full", 7, 7, 7, 7, 16, 10, 1)],                              # filter = ifmap: M = 1
    "depthwise": [("DPconv", 16, 16, 3, 3, 4, 1, 1)],                      # 'DP' in the name
}
CONV_ARRAYS = {"resnet_stem": [(32, 32, "ws")],
               "mixed": [(8, 8, "ws"), (8, 8, "os"), (8, 8, "is")],
               "depthwise": [(4, 4, "os")]}
TINY_GEMMS = [(m, n, k, r, c, df) for df in ("os", "ws", "is")
              for (m, n, k, r, c) in ((1, 1, 1, 1, 1), (2, 1, 1, 1, 1), (1, 1, 2, 1, 1), (3, 2, 2, 1, 1),
                                      (2, 1, 1, 2, 1))]


def _read_rows(path: Path) -> list[dict]:
    lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
    header = [h.strip() for h in lines[0].split(",")]
    return [{h: v.strip() for h, v in zip(header, ln.split(",")) if h} for ln in lines[1:]]


def _run(tmp: Path, rows: int, cols: int, dataflow: str, topology: str, gemm: bool):
    import contextlib
    import io

    from scalesim.scale_sim import scalesim

    (tmp / "scale.cfg").write_text(CONFIG_TEMPLATE.format(rows=rows, cols=cols, dataflow=dataflow,
                                                          ifmap_kib=64, filter_kib=64, ofmap_kib=64))
    (tmp / "topo.csv").write_text(topology)
    (tmp / "layout.csv").write_text("Layer,\n")
    with contextlib.redirect_stdout(io.StringIO()):
        sim = scalesim(save_disk_space=True, verbose=False, config=str(tmp / "scale.cfg"),
                       topology=str(tmp / "topo.csv"), layout=str(tmp / "layout.csv"),
                       input_type_gemm=gemm)
        sim.run_scale(top_path=str(tmp / "out"))
    return sim


def _i(d: dict, key: str) -> int:
    return int(round(float(d[key])))


def worker(case: dict) -> dict:
    from importlib.metadata import version
    with tempfile.TemporaryDirectory(prefix="scalesim_conv_") as tmp:
        tmp = Path(tmp)
        if case["type"] == "gemm":
            m, n, k = case["M"], case["N"], case["K"]
            rec = dict(case)
            try:
                _run(tmp, case["rows"], case["cols"], case["dataflow"], f"Layer,M,N,K,\ng,{m},{n},{k},\n", True)
            except Exception as exc:            # recorded: SCALE-Sim's own failure on this input
                rec["error"] = f"{type(exc).__name__}: {exc}"
                rec["scalesim_version"] = version("scalesim")
                return rec
            comp = _read_rows(tmp / "out" / "run" / "COMPUTE_REPORT.csv")[0]
            rec.update(total_cycles=_i(comp, "Total Cycles"), overall_util_pct=float(comp["Overall Util %"]),
                       scalesim_version=version("scalesim"))
            return rec
        text = CONV_HEADER + "\n" + "".join(",".join(map(str, layer)) + ",\n" for layer in case["layers"])
        t0 = time.perf_counter()
        sim = _run(tmp, case["rows"], case["cols"], case["dataflow"], text, False)
        wall = time.perf_counter() - t0
        comp = _read_rows(tmp / "out" / "run" / "COMPUTE_REPORT.csv")
        det = _read_rows(tmp / "out" / "run" / "DETAILED_ACCESS_REPORT.csv")
        topo = sim.topo
        layers = []
        for i in range(topo.get_num_layers()):
            sr, sc, t = topo.get_spatiotemporal_dims(layer_id=i, df=case["dataflow"])
            layers.append(dict(
                name=topo.get_layer_name(i), sr=int(sr), sc=int(sc), t=int(t), macs=int(topo.get_layer_mac_ops(i)),
                total_cycles=_i(comp[i], "Total Cycles"), stall_cycles=_i(comp[i], "Stall Cycles"),
                sram_reads_ifmap=_i(det[i], "SRAM IFMAP Reads"), sram_reads_filter=_i(det[i], "SRAM Filter Reads"),
                sram_writes_ofmap=_i(det[i], "SRAM OFMAP Writes"), dram_reads_ifmap=_i(det[i], "DRAM IFMAP Reads"),
                dram_reads_filter=_i(det[i], "DRAM Filter Reads"), dram_writes_ofmap=_i(det[i], "DRAM OFMAP Writes")))
        return dict(case, csv=text, scalesim_layers=layers, scalesim_version=version("scalesim"),
                    scalesim_wall_s=round(wall, 3))


def cases() -> list[dict]:
    out = []
    for name, layers in CONV_TOPOLOGIES.items():
        for rows, cols, df in CONV_ARRAYS[name]:
            out.append(dict(type="conv", topology=name, layers=[list(l) for l in layers], rows=rows, cols=cols,
                            dataflow=df))
    for m, n, k, r, c, df in TINY_GEMMS:
        out.append(dict(type="gemm", M=m, N=n, K=k, rows=r, cols=c, dataflow=df))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scalesim-python", default=DEFAULT_SCALESIM_PYTHON)
    ap.add_argument("--out", default=str(DEFAULT_OUT))
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker is not None:
        print(json.dumps(worker(json.loads(args.worker))))
        return 0
    results = []
    t0 = time.perf_counter()
    for case in cases():
        proc = subprocess.run([args.scalesim_python, str(Path(__file__).resolve()), "--worker", json.dumps(case)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"SCALE-Sim worker failed for {case}:\n{proc.stderr[-4000:]}")
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(f"[{time.perf_counter() - t0:6.1f}s] {case.get('topology', case['type'])} "
              f"{case['rows']}x{case['cols']} {case['dataflow']}", flush=True)
    Path(args.out).write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {len(results)} records to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
