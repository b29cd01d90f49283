"""Which network setting explains MPCViT's latency tables? A fit of (RTT, bandwidth) on CrypTen counts.

MPCViT's README (PKU-SEC-Lab/mpcvit, README.md lines 121-156) gives CrypTen latencies of whole ViTs but
not the network they ran on. This script composes each network from ``hwsim.backends.mpc_protocols``
(CrypTen 0.4.1's exact per-op rounds and bytes, tested against CrypTen itself) and fits

    latency = rounds * rtt_s + comm_bytes / bandwidth_bytes_per_s   [+ local_ops * s_per_op]

by non-negative least squares on relative error, for several hypotheses of how MPCViT ran its
networks (the README does not say):

- ``gelu``: ``erf`` (the issue's contract), ``tanh_hardtanh`` (MPCFormer's CrypTen benchmark,
  src/benchmark/utils.py:65-81), ``quad``;
- ``heads``: ``batched`` (heads of one kind in one tensor: the issue's contract), ``per_head``
  (MPCViT's inference loop, src/utils/transformers.py:116-124, runs every head's ReLU-softmax
  separately; the pure-softmax baseline stays batched, line 98) or ``per_head_all`` (every attention
  kind, softmax and 2Quad included, one head at a time);
- ``weights``: ``private`` (MPCFormer / MPCViT secret-share the model) or ``public``;
- ``mpcformer_gelu``: ``quad`` (MPCFormer as its paper defines it) or ``same`` (the row swaps only the
  attention: its GELU is the one of the other networks);
- ``relu``: ``once`` (the issue's contract) or ``twice`` (MPCViT's code evaluates ``self.relu(attn_head)``
  twice, src/utils/transformers.py:121).

Heterogeneous networks (mu) use k = round(mu * layers * heads) ReLU-softmax heads spread as evenly as
possible over the layers (earlier layers take the remainder), the rest scaling attention.
"MPCFormer" is 2Quad attention ((x + 5)^2 / row sum) with Quad GELU.

Writes hwsim/data/reference/mpcvit_latency_fit.json (``-o``) and prints the tables. Pure Python + numpy:
    PYTHONPATH=. python benchmarks/mpcvit_latency_fit.py -o hwsim/data/reference/mpcvit_latency_fit.json
"""
from __future__ import annotations

import argparse
import functools
import itertools
import json
import math
import sys

import numpy as np

from hwsim.backends import mpc_protocols as P

# Model sizes: MPCViT src/vit.py (vit_7_4_32: lines 181-183 and 284-292; vit_9_12_64: 196-199 and 328-336)
# tokens = (img / patch)^2 + 1 class token (src/utils/transformers.py:322-326); patch embedding is one
# 4x4 stride-4 conv with bias (src/vit.py:35-43, Tokenizer n_conv_layers=1); final LayerNorm (line 348)
# and a classifier on the class token (lines 350, 387-388).
MODELS = {
    "cifar10": dict(layers=7, heads=4, dim=256, mlp_ratio=2, img=32, patch=4, classes=10),
    "cifar100": dict(layers=7, heads=4, dim=256, mlp_ratio=2, img=32, patch=4, classes=100),
    "tiny": dict(layers=9, heads=12, dim=192, mlp_ratio=2, img=64, patch=4, classes=200),
}

# MPCViT README.md (commit 27db5c4): latency in seconds. CIFAR-10 lines 123-138, CIFAR-100 144-147,
# Tiny-ImageNet 153-156. Linformer and THE-X rows are not modelled (not CrypTen ops of this library).
TABLES = {
    "cifar10": {
        "mu=0.1": 48.03, "mu=0.3": 52.88, "mu=0.5": 58.66, "mu=0.7": 63.56,
        "softmax": 112.23, "relu_softmax": 71.82, "scaling": 44.63, "mpcformer": 66.98,
    },
    "cifar100": {"mu=0.1": 48.74, "mu=0.3": 53.34, "mu=0.5": 59.27, "mu=0.7": 63.94},
    "tiny": {"mu=0.1": 220.69, "mu=0.3": 316.77, "mu=0.5": 621.75, "mu=0.7": 823.74},
}
# MPCViT abstract (arXiv 2211.13955v3 / README line 11): on Tiny-ImageNet MPCViT has 6.2x / 2.9x lower
# latency than the baseline ViT / MPCFormer (which mu is not stated).
TINY_ABSTRACT_RATIOS = {"softmax": 6.2, "mpcformer": 2.9}


def sizes(name):
    m = MODELS[name]
    tokens = (m["img"] // m["patch"]) ** 2 + 1
    return dict(m, tokens=tokens, mlp_hidden=int(m["dim"] * m["mlp_ratio"]), patches=tokens - 1,
                patch_in=3 * m["patch"] ** 2)


def head_plan(name, variant):
    """Per layer, the list of (kind, heads). ``variant``: softmax, relu_softmax, scaling, mpcformer, mu=X."""
    s = sizes(name)
    L, H = s["layers"], s["heads"]
    if variant.startswith("mu="):
        k = round(float(variant[3:]) * L * H)
        per = [k // L + (1 if i < k % L else 0) for i in range(L)]
        return [[("relu_softmax", r), ("scaling", H - r)] for r in per]
    kind = "2quad" if variant == "mpcformer" else variant
    return [[(kind, H)] for _ in range(L)]


def gelu_cost(kind, shape):
    return {"erf": P.gelu_erf, "quad": P.gelu_quad, "tanh_hardtanh": P.gelu_tanh_hardtanh}[kind](shape)


@functools.lru_cache(maxsize=None)
def network_cost(name, variant, *, gelu, heads, weights, mpcformer_gelu="quad", relu="once") -> P.ProtoCost:
    """Whole MPCViT network under one hypothesis (see module docstring)."""
    s = sizes(name)
    N, D, H, hid = s["tokens"], s["dim"], s["heads"], s["mlp_hidden"]
    lin = P.matmul if weights == "private" else P.matmul_public
    act = mpcformer_gelu if variant == "mpcformer" and mpcformer_gelu != "same" else gelu

    def attention(kind, shape):
        extra = P.relu(shape) if kind == "relu_softmax" and relu == "twice" else P.ZERO
        return P.attention(kind, shape) + extra

    total = lin((s["patches"], s["patch_in"]), (s["patch_in"], D))  # conv 4x4/4 = im2col matmul
    for kinds in head_plan(name, variant):
        # the layer without its attention-probability op (scaling heads are free), plus the attention
        layer = P.vit_layer(tokens=N, dim=D, heads=H, mlp_hidden=hid, kinds=[("scaling", H)],
                            gelu="quad", private_weights=weights == "private")
        layer = P.ProtoCost(*(a - b for a, b in zip(dataclass_tuple(layer), dataclass_tuple(P.gelu_quad((N, hid))))))
        layer = layer + gelu_cost(act, (N, hid))
        if heads == "per_head_all" or (heads == "per_head" and variant != "softmax"):
            attn = P.seq(*(attention(k, (1, N, N)) for k, c in kinds for _ in range(c) if k != "scaling"))
        else:
            attn = P.seq(*(attention(k, (c, N, N)) for k, c in kinds if c))
        total = total + layer + attn
    return total + P.layernorm((N, D)) + lin((1, D), (D, s["classes"]))


def dataclass_tuple(c):
    return (c.rounds, c.comm_bytes, c.local_ops, c.offline_elements, c.offline_bytes, c.offline_macs,
            c.offline_tuples)


def nnls_relative(A, t):
    """min || (A x - t) / t ||_2 with x >= 0, by enumerating active sets (A has <= 3 columns)."""
    W = A / t[:, None]
    y = np.ones_like(t)
    best = None
    for mask in itertools.product([0, 1], repeat=A.shape[1]):
        cols = [i for i, m in enumerate(mask) if m]
        x = np.zeros(A.shape[1])
        if cols:
            sol, *_ = np.linalg.lstsq(W[:, cols], y, rcond=None)
            if (sol < 0).any():
                continue
            x[cols] = sol
        r = W @ x - y
        if best is None or r @ r < best[0]:
            best = (float(r @ r), x)
    return best[1]


HYPOTHESES = [dict(gelu=g, heads=h, weights=w, mpcformer_gelu=mg, relu=r)
              for g in ("erf", "tanh_hardtanh", "quad") for h in ("batched", "per_head", "per_head_all")
              for w in ("private", "public") for mg in ("quad", "same") for r in ("once", "twice")]


def fit(rows, hyp, with_compute):
    costs = [network_cost(tbl, var, **hyp) for tbl, var, _ in rows]
    cols = [[c.rounds for c in costs], [c.comm_bytes for c in costs]]
    if with_compute:
        cols.append([c.local_ops for c in costs])
    A = np.array(cols, dtype=float).T
    t = np.array([lat for _, _, lat in rows], dtype=float)
    x = nnls_relative(A, t)
    pred = A @ x
    rel = (pred - t) / t
    return {
        "rtt_s": float(x[0]),
        "bandwidth_bytes_per_s": (float(1 / x[1]) if x[1] > 0 else math.inf),
        "s_per_local_op": float(x[2]) if with_compute else 0.0,
        "max_abs_rel_error": float(np.abs(rel).max()),
        "rms_rel_error": float(np.sqrt((rel ** 2).mean())),
        "rows": [{"table": tbl, "variant": var, "paper_s": lat, "model_s": float(p),
                  "rel_error": float(e), "rounds": c.rounds, "comm_bytes": c.comm_bytes,
                  "local_ops": c.local_ops}
                 for (tbl, var, lat), p, e, c in zip(rows, pred, rel, costs)],
    }


def own_machine_fit(reference_json):
    """The same two-term model fitted to CrypTen's wall time on this project's machine (two local
    processes, loopback: no network latency or bandwidth limit), from benchmarks/crypten_reference.py."""
    with open(reference_json) as f:
        recs = [r for r in json.load(f)["results"] if r["rounds"] > 0 and r["wall_s"] > 0.05]
    A = np.array([[r["rounds"], r["comm_bytes"]] for r in recs], dtype=float)
    t = np.array([r["wall_s"] for r in recs])
    x = nnls_relative(A, t)
    rel = (A @ x - t) / t
    return {"records": len(recs), "s_per_round": float(x[0]),
            "comm_bytes_per_s": float(1 / x[1]) if x[1] > 0 else math.inf,
            "rms_rel_error": float(np.sqrt((rel ** 2).mean())), "max_abs_rel_error": float(np.abs(rel).max())}


def rows_of(*tables):
    return [(tbl, var, lat) for tbl in tables for var, lat in TABLES[tbl].items()]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--out", help="write the fit results as JSON")
    ap.add_argument("--reference", default="hwsim/data/reference/crypten_reference.json",
                    help="CrypTen measurements whose wall times calibrate this machine (optional)")
    a = ap.parse_args(argv)

    fits = []
    for hyp in HYPOTHESES:
        for data in (("cifar10",), ("tiny",), ("cifar10", "tiny")):
            for with_compute in (False, True):
                f = fit(rows_of(*data), hyp, with_compute)
                fits.append({"hypothesis": hyp, "tables": list(data), "compute_term": with_compute, **f})

    def best(tables, compute):
        cands = [f for f in fits if f["tables"] == list(tables) and f["compute_term"] == compute]
        return min(cands, key=lambda f: f["rms_rel_error"])

    summary = {}
    for tables in (("cifar10",), ("tiny",), ("cifar10", "tiny")):
        for compute in (False, True):
            b = best(tables, compute)
            summary["+".join(tables) + ("+compute" if compute else "")] = {
                k: b[k] for k in ("hypothesis", "rtt_s", "bandwidth_bytes_per_s", "s_per_local_op",
                                  "max_abs_rel_error", "rms_rel_error", "rows")}
    contract = dict(gelu="erf", heads="batched", weights="private", mpcformer_gelu="quad", relu="once")
    for tables in (("cifar10",), ("cifar10", "tiny")):
        c = [f for f in fits if f["hypothesis"] == contract and f["tables"] == list(tables)
             and not f["compute_term"]][0]
        summary["+".join(tables) + " (issue contract)"] = {
            k: c[k] for k in ("hypothesis", "rtt_s", "bandwidth_bytes_per_s", "s_per_local_op",
                              "max_abs_rel_error", "rms_rel_error", "rows")}
    try:
        own = own_machine_fit(a.reference)
    except FileNotFoundError:
        own = None

    # ratios to the scaling-attention ViT (CIFAR-10), paper vs the best 2-parameter CIFAR-10 fit
    b = best(("cifar10",), False)
    by = {r["variant"]: r for r in b["rows"]}
    ratios = {v: {"paper": TABLES["cifar10"][v] / TABLES["cifar10"]["scaling"],
                  "model": by[v]["model_s"] / by["scaling"]["model_s"]}
              for v in ("softmax", "relu_softmax", "mpcformer", "mu=0.1", "mu=0.3", "mu=0.5", "mu=0.7")}
    for v in ratios.values():
        v["rel_error"] = v["model"] / v["paper"] - 1

    # Tiny-ImageNet: the abstract's 6.2x / 2.9x under the CIFAR-10 setting, for each mu
    hyp = b["hypothesis"]
    rtt, bw = b["rtt_s"], b["bandwidth_bytes_per_s"]

    def lat(name, var):
        c = network_cost(name, var, **hyp)
        return c.rounds * rtt + c.comm_bytes / bw

    tiny_abstract = {mu: {k: lat("tiny", k) / lat("tiny", mu) for k in TINY_ABSTRACT_RATIOS}
                     for mu in ("mu=0.1", "mu=0.3", "mu=0.5", "mu=0.7")}
    tiny_under_cifar_setting = {mu: {"paper_s": TABLES["tiny"][mu], "model_s": lat("tiny", mu)}
                                for mu in TABLES["tiny"]}

    doc = {
        "what": "least-squares (relative error, non-negative) fit of latency = rounds*rtt + bytes/bandwidth "
                "[+ local_ops*s_per_op] to MPCViT's README latency tables, rounds/bytes from "
                "hwsim.backends.mpc_protocols (CrypTen 0.4.1 exact)",
        "sources": {"latency": "PKU-SEC-Lab/mpcvit README.md lines 121-156 (commit 27db5c4)",
                    "models": "PKU-SEC-Lab/mpcvit src/vit.py lines 181-183, 196-199, 284-292, 328-336",
                    "tiny_abstract_ratios": "MPCViT abstract: 6.2x vs baseline ViT, 2.9x vs MPCFormer on Tiny-ImageNet"},
        "tables": TABLES,
        "summary": summary,
        "cifar10_ratios_to_scaling_vit": ratios,
        "tiny_under_best_cifar10_setting": {"hypothesis": hyp, "rtt_s": rtt, "bandwidth_bytes_per_s": bw,
                                            "latency": tiny_under_cifar_setting,
                                            "abstract_ratios_if_mpcvit_is": tiny_abstract},
        "own_machine_crypten_wall_time_fit": own,
        "fits": [{k: f[k] for k in ("hypothesis", "tables", "compute_term", "rtt_s", "bandwidth_bytes_per_s",
                                    "s_per_local_op", "max_abs_rel_error", "rms_rel_error")} for f in fits],
    }
    print(f"{'tables':34s} {'gelu':14s} {'heads':12s} {'weights':8s} {'mpcf':5s} {'relu':5s} {'rtt ms':>8s} {'MB/s':>10s} "
          f"{'ns/op':>8s} {'max err':>8s} {'rms err':>8s}")
    for key, s in summary.items():
        h = s["hypothesis"]
        print(f"{key:34s} {h['gelu']:14s} {h['heads']:12s} {h['weights']:8s} {h['mpcformer_gelu']:5s} {h['relu']:5s} {1e3 * s['rtt_s']:8.2f} "
              f"{s['bandwidth_bytes_per_s'] / 1e6:10.1f} {1e9 * s['s_per_local_op']:8.3f} "
              f"{s['max_abs_rel_error']:8.1%} {s['rms_rel_error']:8.1%}")
    print("\nCIFAR-10 latency / ScaleAttn-ViT latency (best 2-parameter CIFAR-10 fit):")
    for v, r in ratios.items():
        print(f"  {v:14s} paper {r['paper']:6.3f}  model {r['model']:6.3f}  ({r['rel_error']:+.1%})")
    print("\nTiny-ImageNet under the CIFAR-10 setting:")
    for mu, r in tiny_under_cifar_setting.items():
        print(f"  {mu:8s} paper {r['paper_s']:8.2f} s  model {r['model_s']:8.2f} s")
    for mu, r in tiny_abstract.items():
        print(f"  if MPCViT = {mu}: softmax ViT / MPCViT = {r['softmax']:.2f} (abstract 6.2), "
              f"MPCFormer / MPCViT = {r['mpcformer']:.2f} (abstract 2.9)")
    if own:
        print(f"\nCrypTen wall time on this machine ({own['records']} ops, loopback): "
              f"{1e3 * own['s_per_round']:.2f} ms per round + 1 s per "
              f"{own['comm_bytes_per_s'] / 1e6:.2f} MB counted (rms error {own['rms_rel_error']:.0%})")
    if a.out:
        with open(a.out, "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
        print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
