"""Measure M^3ViT's per-expert token counts in its first MoE layer (layer 1) on Edge-MoE's sample image.

Run: /work/depsvenv/bin/python benchmarks/edge_moe_routing.py --edgemoe EDGE_MOE [-o hwsim/data/reference/edge_moe_routing.json]

EDGE_MOE is a bare git directory (or checkout) of https://github.com/sharc-lab/Edge-MoE. Its ``weights/``
hold the sample image and the trained weights the HLS testbench loads (testbench/e2e.cpp:58-323), but not
the expert matrices (``l*_htoh4_weight``, ``l*_h4toh_weight`` are absent from the public snapshot), so only
the routing of the first MoE layer can be computed: patch embedding, dense layer 0, layer 1's attention
and LayerNorm 2, then each task's gate. The arithmetic follows the HLS code in float32 (not its
ap_fixed<32,10>, so a token whose 2nd and 3rd gate scores are within the fixed-point error could route
differently on the board):

* patch embedding (src/conv.cpp): 16x16 patches in raster order from token 1, ``pos_embed[0]`` as token 0
  (conv.cpp:160-165);
* LayerNorm with eps 1e-6 (ViT_compute.cpp:65), biased variance (layernorm.cpp:81-118);
* attention with scale 0.125 (ViT_compute.cpp:64), 3 heads of 64, softmax over keys;
* GELU exact (erf form; Edge-MoE's table approximates it within ~1e-4, src/gelu.cpp);
* gate (src/moe.cpp:169-270): scores = w_gate[expert] . x for the 16 experts, top-2 by score.

The JSON records, per task gate (``task0``, ``task1`` = the two weight files), the 16 per-expert token
counts (tokens x top-2 = 258 assignments) and the number of experts with at least one token.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from math import erf
from pathlib import Path

import numpy as np

N, D, H, HIDDEN, E, K = 129, 192, 3, 768, 16, 2


def reader(edgemoe: Path):
    if (edgemoe / "weights").is_dir():
        return lambda name: np.frombuffer((edgemoe / "weights" / name).read_bytes(), dtype="<f4")
    git = ["git", f"--git-dir={edgemoe}"]
    return lambda name: np.frombuffer(subprocess.run([*git, "show", f"HEAD:weights/{name}"], check=True,
                                                     capture_output=True).stdout, dtype="<f4")


def layernorm(x, w, b):
    mean = x.mean(-1, keepdims=True)
    var = (x * x).mean(-1, keepdims=True) - mean * mean
    return (x - mean) / np.sqrt(var + 1e-6) * w + b


def attention(x, wqkv, bqkv, wproj, bproj):
    q, k, v = (x @ wqkv[i * D:(i + 1) * D].T + bqkv[i * D:(i + 1) * D] for i in range(3))
    out = np.empty_like(x)
    dh = D // H
    for h in range(H):
        s = (q[:, h * dh:(h + 1) * dh] @ k[:, h * dh:(h + 1) * dh].T) * 0.125
        s = np.exp(s - s.max(1, keepdims=True))
        out[:, h * dh:(h + 1) * dh] = (s / s.sum(1, keepdims=True)) @ v[:, h * dh:(h + 1) * dh]
    return out @ wproj.T + bproj


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--edgemoe", type=Path, required=True)
    ap.add_argument("-o", "--out", type=Path,
                    default=Path(__file__).resolve().parents[1] / "hwsim" / "data" / "reference" / "edge_moe_routing.json")
    args = ap.parse_args()
    w = reader(args.edgemoe)
    where = ["-C", str(args.edgemoe)] if (args.edgemoe / "weights").is_dir() else [f"--git-dir={args.edgemoe}"]
    commit = subprocess.run(["git", *where, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()

    image = w("image.float32.bin").reshape(3, 128, 256)
    pw = w("patch_embed_weight.float32.bin").reshape(D, 3 * 16 * 16)
    pos = w("pos_embed.float32.bin").reshape(N, D)
    patches = image.reshape(3, 8, 16, 16, 16).transpose(1, 3, 0, 2, 4).reshape(128, 3 * 16 * 16)
    x = np.vstack([pos[:1], patches @ pw.T + w("patch_embed_bias.float32.bin") + pos[1:]])

    for layer in (0, 1):
        p = f"l{layer}_"
        h = layernorm(x, w(p + "norm1_weight.float32.bin"), w(p + "norm1_bias.float32.bin"))
        x = x + attention(h, w(p + "qkv_weight.float32.bin").reshape(3 * D, D), w(p + "qkv_bias.float32.bin"),
                          w(p + "attn_proj_weight.float32.bin").reshape(D, D), w(p + "attn_proj_bias.float32.bin"))
        h = layernorm(x, w(p + "norm2_weight.float32.bin"), w(p + "norm2_bias.float32.bin"))
        if layer == 0:
            a = h @ w(p + "fc1_weight.float32.bin").reshape(HIDDEN, D).T + w(p + "fc1_bias.float32.bin")
            a = a * 0.5 * (1 + np.vectorize(erf)(a / np.sqrt(2)))
            x = x + a @ w(p + "fc2_weight.float32.bin").reshape(D, HIDDEN).T + w(p + "fc2_bias.float32.bin")

    result = {"source": "sharc-lab/Edge-MoE weights/ (sample image and trained M^3ViT weights), "
                        "computed by benchmarks/edge_moe_routing.py in float32",
              "edgemoe_commit": commit, "layer": 1, "tokens": N, "top_k": K, "tasks": {}}
    for task in ("task0", "task1"):
        gate = w(f"l1_w_gate_T_{task}.float32.bin").reshape(E, D)
        scores = h @ gate.T
        top = np.argsort(-scores, axis=1, kind="stable")[:, :K]
        counts = np.bincount(top.ravel(), minlength=E)
        ordered = np.sort(scores, axis=1)[:, ::-1]
        margin = ordered[:, K - 1] - ordered[:, K]
        result["tasks"][task] = {
            "expert_tokens": [int(c) for c in counts],
            "active_experts": int((counts > 0).sum()),
            "min_margin_kth_vs_next": float(margin.min()),
            "tokens_with_margin_below_1e-3": int((margin < 1e-3).sum()),
        }
        print(task, counts.tolist(), "active", int((counts > 0).sum()), "min margin", float(margin.min()))
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print("wrote", args.out)


if __name__ == "__main__":
    sys.exit(main())
