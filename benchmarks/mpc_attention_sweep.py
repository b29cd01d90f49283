"""Where does each attention kind win? Latency of the five MPCViT CIFAR-10 networks over RTT x bandwidth.

1. Runs the generic sweep (``hwsim sweep examples/sweep_mpc.yaml``: the per-point evaluator, ``estimate`` in
   analytic mode at each of 7 x 7 (rtt_s, bandwidth_bytes_per_s) points, communication only).
2. Evaluates the same model on a fine grid from each network's totals (rounds, comm_bytes) with the backend's
   own ``times_s`` (latency is linear in the counters), and checks it against the sweep's rows.
3. Plots the fastest network per point and the latency ratio of each network to the softmax ViT, and prints
   the crossover between the two cheapest networks.

Per head the attention kinds are totally ordered in both rounds and bytes (scaling 0 < 2Quad < ReLU-softmax <
softmax; docs/mpc.md section 2), so among attention kinds with the same GELU there is no crossover: the
network setting changes only by how much one wins. A crossover appears between whole networks whose other
ops differ: the ScaleAttn ViT (free attention, erf GELU: many bytes) against MPCFormer (2Quad attention with
rounds, Quad GELU: few bytes).

Run: PYTHONPATH=. python benchmarks/mpc_attention_sweep.py [-o docs/figures/mpc_attention_sweep.png]
"""
from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from hwsim.backends.mpc import times_s
from hwsim.backends.mpc_protocols import ProtoCost
from hwsim.config import read_yaml
from hwsim.estimate import estimate
from hwsim.hardware import load_hardware, replace_fields
from hwsim.workload import load_workload

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "examples" / "sweep_mpc.yaml"


def run_sweep(out_csv: Path) -> list[dict]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    subprocess.run([sys.executable, "-m", "hwsim.cli", "sweep", str(SPEC), "-o", str(out_csv)], check=True, env=env,
                   capture_output=True)
    with open(out_csv) as f:
        return list(csv.DictReader(f))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--out", default="mpc_attention_sweep.png", help="PNG of the two panels")
    a = ap.parse_args(argv)
    spec = read_yaml(SPEC)
    base = replace_fields(load_hardware(spec["hardware"]), **spec.get("set", {}))
    totals = {}
    for m in spec["models"]:
        t = estimate(load_workload(m), base, "analytic").totals()
        totals[m] = ProtoCost(rounds=t["rounds"], comm_bytes=t["comm_bytes"], local_ops=t["local_ops"])

    def latency(m, rtt, bw):
        link, compute, _ = times_s(totals[m], replace_fields(base, rtt_s=rtt, bandwidth_bytes_per_s=bw))
        return link + compute

    with tempfile.TemporaryDirectory() as tmp:
        rows = run_sweep(Path(tmp) / "sweep.csv")
    worst = max(abs(latency(r["model"], float(r["rtt_s"]), float(r["bandwidth_bytes_per_s"]))
                    / float(r["latency_s"]) - 1) for r in rows)
    print(f"sweep: {len(rows)} rows; closed form from the totals vs the per-point estimates: max deviation "
          f"{worst:.1e} (tick rounding)")

    rtts = np.logspace(-5, 0, 121)
    bws = np.logspace(5, 11, 121)
    R, B = np.meshgrid(rtts, bws, indexing="ij")
    lat = {m: totals[m].rounds * R + totals[m].comm_bytes / (2 * B) for m in spec["models"]}
    for m in spec["models"]:   # the grid formula is the backend's, checked at one point
        assert abs(lat[m][60, 60] / latency(m, rtts[60], bws[60]) - 1) < 1e-9
    names = list(spec["models"])
    stack = np.stack([lat[m] for m in names])
    win = stack.argmin(axis=0)
    for i, m in enumerate(names):
        share = (win == i).mean()
        print(f"{m:<28} rounds {totals[m].rounds:>6,}  bytes {totals[m].comm_bytes:>13,}  fastest on {share:6.1%} "
              f"of the grid; latency / softmax ViT {np.min(lat[m] / lat[names[0]]):.3f} .. "
              f"{np.max(lat[m] / lat[names[0]]):.3f}")
    a_, b_ = "mpcvit-cifar-scaling", "mpcformer-cifar"
    ta, tb = totals[a_], totals[b_]
    if (ta.rounds - tb.rounds) * (ta.comm_bytes - tb.comm_bytes) < 0:
        # equal latency where (R_a - R_b) rtt = (B_b - B_a) / (2 bw): rtt x bw = (B_b - B_a) / (2 (R_a - R_b))
        k = (tb.comm_bytes - ta.comm_bytes) / (2 * (ta.rounds - tb.rounds))
        print(f"crossover {a_} / {b_}: equal latency where rtt_s x bandwidth_bytes_per_s = {k:,.0f} bytes "
              f"(e.g. {k / 1.25e9 * 1e3:.2f} ms at 10 Gbit/s, {k / 12.5e6 * 1e3:.2f} ms at 100 Mbit/s); "
              f"{a_} wins at higher RTT x bandwidth")

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    fig, axes = plt.subplots(1, 2, figsize=(13, 5))
    colors = ["#d62728", "#ff7f0e", "#2ca02c", "#1f77b4", "#9467bd"]
    ax = axes[0]
    ax.pcolormesh(bws * 8 / 1e6, rtts * 1e3, win, cmap=ListedColormap(colors), vmin=-0.5, vmax=len(names) - 0.5,
                  shading="auto")
    for i, m in enumerate(names):
        ax.plot([], [], "s", color=colors[i], label=m)
    pts = {(float(r["rtt_s"]), float(r["bandwidth_bytes_per_s"])) for r in rows}
    ax.plot([b * 8 / 1e6 for _, b in pts], [r * 1e3 for r, _ in pts], "k.", ms=3, label="sweep points")
    ax.set(xscale="log", yscale="log", xlabel="bandwidth each way (Mbit/s)", ylabel="round trip (ms)",
           title="fastest network (communication only)")
    ax.legend(fontsize=7, loc="lower left")
    ax = axes[1]
    for i, m in enumerate(names[1:], 1):
        for bw, ls in ((12.5e6, "--"), (1.25e9, "-")):
            ax.plot(rtts * 1e3, lat[m][:, np.argmin(abs(bws - bw))] / lat[names[0]][:, np.argmin(abs(bws - bw))],
                    ls, color=colors[i], label=f"{m} @ {bw * 8 / 1e6:g} Mbit/s")
    ax.set(xscale="log", xlabel="round trip (ms)", ylabel="latency / softmax ViT", title="speed-up over softmax attention")
    ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(a.out, dpi=110)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
