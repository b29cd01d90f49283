"""Fidelity of the ``mpc`` backend: whole layers and networks against CrypTen, MPCViT's latency ratios, speed.

Everything goes through ``hwsim.estimate`` on the model YAMLs (``models/mpcvit-*.yaml``, ``mpcformer-*.yaml``),
so it checks the backend's mapping of workload ops onto the protocol library, not the library alone:

1. **Layers**: every ``vit_layer`` record of ``hwsim/data/reference/crypten_reference.json`` (CrypTen 0.4.1's own counts
   for one MPCViT layer, CIFAR and Tiny sizes, softmax / ReLU-softmax / scaling / MPCFormer / mixed heads)
   against the sum of the backend's rows of layer 0 (rounds, bytes: exact equality required).
2. **Networks**: the contract networks of ``hwsim/data/reference/crypten_reference_network.json`` (whole CIFAR-10 ViTs
   run in CrypTen) against the backend's totals.
3. **MPCViT's CIFAR-10 latency table** (README.md l.121-138): latency ratios to the ScaleAttn ViT on the preset
   ``mpc-2pc-mpcvit-fit`` (the inferred setting, docs/mpc.md section 4) against the paper's.
4. **Speed**: wall time of ``hwsim estimate mpcvit-cifar-softmax mpc-2pc-lan`` (in process, analytic and cycle,
   and the CLI as a subprocess) against CrypTen running the same ViT (recorded wall time, 2 local parties).

Run: PYTHONPATH=. python benchmarks/mpc_backend_fidelity.py -o hwsim/data/reference/mpc_backend_fidelity.json
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from hwsim.backends import mpc_protocols as P
from hwsim.estimate import estimate
from hwsim.hardware import load_hardware
from hwsim.workload import load_workload

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "hwsim" / "data" / "reference"
# MPCViT README.md l.123-138 (commit 27db5c4), CIFAR-10 latency in seconds
PAPER_CIFAR10 = {"mpcvit-cifar-softmax": 112.23, "mpcvit-cifar-relu-softmax": 71.82,
                 "mpcvit-cifar-scaling": 44.63, "mpcformer-cifar": 66.98, "mpcvit-cifar-mu0.7": 63.56}
VARIANT_MODEL = {"softmax": "mpcvit-{ds}-softmax", "relu_softmax": "mpcvit-{ds}-relu-softmax",
                 "scaling": "mpcvit-{ds}-scaling", "mpcformer": "mpcformer-{ds}", "mixed": "mpcvit-{ds}-softmax"}


def layer_sum(report, layer: int = 0) -> dict:
    rows = [r for r in report.ops if r.layer == layer]
    return {k: sum(r.counters[k] for r in rows) for k in ("rounds", "comm_bytes", "local_ops", "offline_bytes")}


def workload_for_layer_record(rec):
    """The workload whose layer 0 is the CrypTen record's layer (mixed heads: kinds in the record's order)."""
    pr = rec["params"]
    ds = "cifar" if pr["model"] == "cifar" else "tiny"
    name = VARIANT_MODEL[pr["variant"]].format(ds=ds)
    if pr["variant"] != "mixed":
        return name, load_workload(name)
    heads = [k for k, c in pr["kinds"] for _ in range(c)]
    depth = 7 if ds == "cifar" else 9
    return name + " (heads " + ", ".join(f"{k} x{c}" for k, c in pr["kinds"]) + ")", \
        load_workload(name, attention=[heads] * depth)


def layers(hw):
    recs = [r for r in json.loads((DATA / "crypten_reference.json").read_text())["results"] if r["op"] == "vit_layer"]
    out = []
    for rec in recs:
        label, w = workload_for_layer_record(rec)
        got = layer_sum(estimate(w, hw, "analytic"))
        pr = rec["params"]
        lib = P.vit_layer(tokens=pr["tokens"], dim=pr["dim"], heads=pr["heads"], mlp_hidden=pr["mlp_hidden"],
                          kinds=[tuple(k) for k in pr["kinds"]], gelu=pr["gelu"])
        out.append({"workload": label, "model": pr["model"], "variant": pr["variant"],
                    "crypten_rounds": rec["rounds"], "crypten_comm_bytes": rec["comm_bytes"],
                    "library_rounds": lib.rounds, "library_comm_bytes": lib.comm_bytes,
                    "backend_rounds": got["rounds"], "backend_comm_bytes": got["comm_bytes"],
                    "exact": got["rounds"] == rec["rounds"] == lib.rounds
                    and got["comm_bytes"] == rec["comm_bytes"] == lib.comm_bytes})
    return out


def networks(hw):
    recs = json.loads((DATA / "crypten_reference_network.json").read_text())["results"]
    out = []
    for rec in recs:
        pr = rec["params"]
        if pr["heads_mode"] != "batched" or pr["gelu_of_variant"] not in ("erf", "quad"):
            continue   # the per-head newGeLU network has no GELU variant in the workload spec
        name = VARIANT_MODEL[pr["variant"]].format(ds="cifar")
        t = estimate(load_workload(name), hw, "analytic").totals()
        out.append({"workload": name, "crypten_rounds": rec["rounds"], "crypten_comm_bytes": rec["comm_bytes"],
                    "backend_rounds": t["rounds"], "backend_comm_bytes": t["comm_bytes"],
                    "crypten_wall_s": rec["wall_s"],
                    "exact": t["rounds"] == rec["rounds"] and t["comm_bytes"] == rec["comm_bytes"]})
    return out


def mpcvit_ratios():
    """Latency ratios to the ScaleAttn ViT on the inferred setting; the MPCFormer row twice: as MPCFormer
    defines it (Quad GELU, the workload's contract) and as MPCViT's table implies (the others' GELU)."""
    hw = load_hardware("mpc-2pc-mpcvit-fit")
    lat = {}
    for name in PAPER_CIFAR10:
        lat[name] = estimate(load_workload(name), hw, "analytic").latency_s
    lat["mpcformer-cifar (gelu: gelu)"] = estimate(load_workload("mpcformer-cifar", gelu="gelu"), hw,
                                                   "analytic").latency_s
    base_p, base_m = PAPER_CIFAR10["mpcvit-cifar-scaling"], lat["mpcvit-cifar-scaling"]
    rows = []
    for name, m in lat.items():
        paper = PAPER_CIFAR10[name.split(" ")[0]]
        rp, rm = paper / base_p, m / base_m
        rows.append({"workload": name, "paper_s": paper, "model_s": m, "paper_ratio": rp, "model_ratio": rm,
                     "ratio_error": rm / rp - 1, "abs_error": m / paper - 1})
    return rows


def speed(crypten_wall_s: float):
    hw = load_hardware("mpc-2pc-lan")
    out = {}
    for mode in ("analytic", "cycle"):
        estimate(load_workload("mpcvit-cifar-softmax"), hw, mode)   # warm-up (numba compile in cycle mode)
        runs = []
        for _ in range(5):
            t = time.perf_counter()
            estimate(load_workload("mpcvit-cifar-softmax"), hw, mode)
            runs.append(time.perf_counter() - t)
        out[f"{mode}_s"] = statistics.median(runs)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    runs = []
    for _ in range(3):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "hwsim.cli", "estimate", "mpcvit-cifar-softmax", "mpc-2pc-lan",
                        "--mode", "analytic"], check=True, env=env, capture_output=True)
        runs.append(time.perf_counter() - t)
    out["cli_s"] = statistics.median(runs)
    out["crypten_wall_s"] = crypten_wall_s
    out["speedup_vs_crypten_cli"] = crypten_wall_s / out["cli_s"]
    out["speedup_vs_crypten_analytic"] = crypten_wall_s / out["analytic_s"]
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--out", help="write the results as JSON")
    ap.add_argument("--no-speed", action="store_true", help="skip the timing part")
    a = ap.parse_args(argv)
    hw = load_hardware("mpc-2pc-lan")
    res = {"layers": layers(hw), "networks": networks(hw), "mpcvit_cifar10_ratios": mpcvit_ratios()}
    softmax_net = next(n for n in res["networks"] if n["workload"] == "mpcvit-cifar-softmax")
    if not a.no_speed:
        res["speed"] = speed(softmax_net["crypten_wall_s"])
    print("| layer (workload) | model | CrypTen rounds | backend rounds | CrypTen bytes | backend bytes | exact |")
    print("|---|---|---|---|---|---|---|")
    for r in res["layers"]:
        print(f"| {r['workload']} | {r['model']} | {r['crypten_rounds']} | {r['backend_rounds']} | "
              f"{r['crypten_comm_bytes']:,} | {r['backend_comm_bytes']:,} | {r['exact']} |")
    print("\n| network | CrypTen rounds | backend rounds | CrypTen bytes | backend bytes | exact |")
    print("|---|---|---|---|---|---|")
    for r in res["networks"]:
        print(f"| {r['workload']} | {r['crypten_rounds']} | {r['backend_rounds']} | {r['crypten_comm_bytes']:,} | "
              f"{r['backend_comm_bytes']:,} | {r['exact']} |")
    print("\n| MPCViT CIFAR-10 (mpc-2pc-mpcvit-fit) | paper (s) | model (s) | paper / ScaleAttn | model / ScaleAttn | "
          "ratio error |")
    print("|---|---|---|---|---|---|")
    for r in res["mpcvit_cifar10_ratios"]:
        print(f"| {r['workload']} | {r['paper_s']:.2f} | {r['model_s']:.2f} | {r['paper_ratio']:.3f} | "
              f"{r['model_ratio']:.3f} | {100 * r['ratio_error']:+.1f} % |")
    if "speed" in res:
        s = res["speed"]
        print(f"\nspeed: hwsim estimate mpcvit-cifar-softmax mpc-2pc-lan: analytic {s['analytic_s'] * 1e3:.1f} ms, "
              f"cycle {s['cycle_s'] * 1e3:.1f} ms, CLI process {s['cli_s']:.2f} s; CrypTen running the network "
              f"{s['crypten_wall_s']:.1f} s -> {s['speedup_vs_crypten_cli']:.0f}x (CLI), "
              f"{s['speedup_vs_crypten_analytic']:.0f}x (in process)")
    if a.out:
        res["provenance"] = {"script": "benchmarks/mpc_backend_fidelity.py",
                             "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                             "python": sys.version.split()[0]}
        Path(a.out).write_text(json.dumps(res, indent=1) + "\n")
    return 0 if all(r["exact"] for r in res["layers"] + res["networks"]) else 1


if __name__ == "__main__":
    sys.exit(main())
