"""Measure CrypTen 0.4.1's own rounds and bytes for every MPC op hwsim's MPC backend models.

Runs the pip-installed CrypTen (a reference peer, never a dependency of hwsim) with two parties in
two local processes (``crypten.mpc.run_multiprocess(world_size=2)``), the default configuration
(``crypten/config/default.yaml``: 16 fractional bits, TFP provider, Beaver protocol, log-reduction max,
exp 8 iterations, reciprocal 10 Newton iterations, inverse sqrt 3 iterations, erf 8 terms) and
``crypten.cfg.communicator.verbose = True``. For each (op, shape) it reads
``crypten.comm.get().get_communication_stats()`` on both parties just before and just after the op
(outside any barrier, which CrypTen itself counts as a zero-byte round) and records the differences:

- ``rounds``: calls to a communication primitive made by that party (CrypTen's ``comm_rounds``);
- ``comm_bytes``: bytes that party sent plus received, as CrypTen's communicator counts them
  (``crypten/communicator/communicator.py``, ``_logging``: an ``all_reduce`` of n 64-bit elements
  logs 2 * n * 8 bytes for each party);
- ``wall_s``: party 0's wall time for the op (local processes on one machine, gloo over loopback).

Usage (CrypTen venv, see docs/mpc.md):
    /work/peers/crypten/bin/python benchmarks/crypten_reference.py -o hwsim/data/reference/crypten_reference.json
    /work/peers/crypten/bin/python benchmarks/crypten_reference.py --only small -o /tmp/small.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import platform
import sys
import time

# ---------------------------------------------------------------------------------------------
# Op compositions. Each takes MPCTensors and returns an MPCTensor; the contract of each is in
# docs/mpc.md ("How each op is composed") and mirrors hwsim/backends/mpc_protocols.py.
# ---------------------------------------------------------------------------------------------
TWO_QUAD_C = 5.0  # MPCFormer src/benchmark/utils.py:62 and src/main/transformer/modeling.py:156: (x + 5)^2
RELU_SOFTMAX_EPS = 1e-5  # MPCViT src/utils/transformers.py:51 (self.eps)
LAYERNORM_EPS = 1e-5  # torch.nn.LayerNorm default, used by MPCViT src/utils/transformers.py:217,223


def op_mul(x, y):
    return x * y


def op_matmul(x, y):
    return x.matmul(y)


def op_square(x):
    return x.square()


def op_trunc_div(x):
    return x.div(2**16)


def op_public_scale(x):
    return x * 0.125


def op_public_matmul(x, w):
    return x.matmul(w)  # w is a plain torch tensor: public weights


def op_ltz(x):
    return x._ltz()


def op_ge0(x):
    return x.ge(0)


def op_relu(x):
    return x.relu()


def op_max_row(x):
    return x.max(dim=-1, keepdim=True)[0]


def op_exp(x):
    return x.exp()


def op_reciprocal(x):
    return x.reciprocal()


def op_reciprocal_pos(x):
    import crypten

    with crypten.cfg.temp_override({"functions.reciprocal_all_pos": True}):
        return x.reciprocal()


def op_inv_sqrt(x):
    return x.inv_sqrt()


def op_softmax(x):
    return x.softmax(-1)


def op_erf(x):
    return x.erf()


def op_gelu_erf(x):
    return x * (x.div(math.sqrt(2.0)).erf() + 1) / 2


def op_gelu_quad(x):
    # MPCFormer src/main/transformer/modeling.py:139-140: quad(x) = 0.125 x^2 + 0.25 x + 0.5
    return x.square() * 0.125 + x * 0.25 + 0.5


def op_gelu_tanh_hardtanh(x):
    # MPCFormer src/benchmark/utils.py:65-81 (activation_newGeLU): cnn.Pow and cnn.Hardtanh
    return 0.5 * x * (1.0 + (math.sqrt(2 / math.pi) * (x + 0.044715 * x.pow(3))).hardtanh())


def op_layernorm(x):
    mean = x.mean(-1, keepdim=True)
    centred = x - mean
    var = centred.square().mean(-1, keepdim=True)
    return centred * (var + LAYERNORM_EPS).inv_sqrt()


def op_private_div(x, y):
    return x / y


def attn_softmax(s):
    return s.softmax(-1)


def attn_relu_softmax(s):
    r = s.relu()
    return r / (r.sum(-1, keepdim=True) + RELU_SOFTMAX_EPS)


def attn_2quad(s):
    q = (s + TWO_QUAD_C).square()
    return q / q.sum(-1, keepdim=True)


def attn_scaling(s):
    return s.div(s.size(-1))


ATTENTION = {
    "softmax": attn_softmax,
    "relu_softmax": attn_relu_softmax,
    "2quad": attn_2quad,
    "scaling": attn_scaling,
}


def attention_mixed(s, kinds):
    """Heads of one kind batched in one tensor: ``kinds`` lists (kind, n_heads) along dim 0."""
    import crypten

    outs, start = [], 0
    for kind, count in kinds:
        if count:
            outs.append(ATTENTION[kind](s[start : start + count]))
        start += count
    return crypten.cat(outs, dim=0)


def attention_per_head(s, kinds):
    """MPCViT's inference loop (src/utils/transformers.py:116-124): every head on its own."""
    import crypten

    outs, start = [], 0
    for kind, count in kinds:
        for i in range(start, start + count):
            outs.append(ATTENTION[kind](s[i : i + 1]))
        start += count
    return crypten.cat(outs, dim=0)


GELU = {"erf": lambda x: op_gelu_erf(x), "quad": lambda x: op_gelu_quad(x),
        "tanh_hardtanh": lambda x: op_gelu_tanh_hardtanh(x)}


def vit_layer(x, w, tokens, dim, heads, mlp_hidden, attn_kinds, gelu, per_head=False):
    """One MPCViT encoder layer (src/utils/transformers.py:245-260, Attention.forward 85-165),
    private weights, LayerNorm affine folded away, dropout/drop-path identity at inference:
    x = x + proj(attn(LN(x))); x = LN(x); x = x + W2 gelu(W1 x)."""
    d = dim // heads
    h = op_layernorm(x)
    qkv = h.matmul(w["qkv"])  # (N, 3D)
    qkv = qkv.reshape(tokens, 3, heads, d).permute(1, 2, 0, 3)  # (3, H, N, d)
    q, k, v = qkv[0], qkv[1], qkv[2]
    s = q.matmul(k.transpose(-2, -1)) * (d**-0.5)  # (H, N, N)
    a = attention_per_head(s, attn_kinds) if per_head else attention_mixed(s, attn_kinds)
    o = a.matmul(v).permute(1, 0, 2).reshape(tokens, dim)
    x = x + (o.matmul(w["proj"]) + w["proj_b"])
    x = op_layernorm(x)
    h1 = x.matmul(w["fc1"]) + w["fc1_b"]
    g = GELU[gelu](h1)
    return x + (g.matmul(w["fc2"]) + w["fc2_b"])


def head_plan(layers, heads, variant):
    """Per layer (kind, heads) for a network variant; mu=X: k = round(X * layers * heads) ReLU-softmax
    heads spread evenly over the layers (earlier layers take the remainder), the rest scaling."""
    if variant.startswith("mu="):
        k = round(float(variant[3:]) * layers * heads)
        per = [k // layers + (1 if i < k % layers else 0) for i in range(layers)]
        return [[("relu_softmax", r), ("scaling", heads - r)] for r in per]
    kind = "2quad" if variant == "mpcformer" else variant
    return [[(kind, heads)] for _ in range(layers)]


def vit_network(img, w, p):
    """A whole MPCViT network (src/vit.py ViTLite, src/utils/transformers.py TransformerClassifier):
    4x4/4 conv patch embedding with bias, class token, positional embedding, layers, final LayerNorm,
    classifier on the class token. All weights private."""
    import crypten

    t = img.conv2d(w["patch"], stride=p["patch"]) + w["patch_b"]  # (1, D, h, w)
    t = t.reshape(p["dim"], p["tokens"] - 1).transpose(0, 1)  # (P, D)
    x = crypten.cat([w["cls"], t], dim=0) + w["pos"]
    for lw, kinds in zip(w["layers"], p["plan"]):
        x = vit_layer(x, lw, p["tokens"], p["dim"], p["heads"], p["mlp_hidden"],
                      [tuple(k) for k in kinds], p["gelu_of_variant"], p["heads_mode"] == "per_head_all")
    x = op_layernorm(x)
    return x[0:1].matmul(w["fc"]) + w["fc_b"]


# ---------------------------------------------------------------------------------------------
# The cases: (op, params, builder). A builder returns (fn, list of input specs); an input spec is
# ("private", shape) or ("public", shape).
# ---------------------------------------------------------------------------------------------
CIFAR = dict(tokens=65, dim=256, heads=4, mlp_hidden=512)  # MPCViT src/vit.py:181-183, 284-292
TINY = dict(tokens=257, dim=192, heads=12, mlp_hidden=384)  # MPCViT src/vit.py:196-199, 328-336


def cases(only):
    small, vit = [], []
    # elementwise and matmul primitives
    small += [
        ("mul", {"x": [4, 8], "y": [4, 8]}, op_mul, [("private", [4, 8]), ("private", [4, 8])]),
        ("mul", {"x": [4, 8], "y": [4, 1]}, op_mul, [("private", [4, 8]), ("private", [4, 1])]),
        ("matmul", {"x": [4, 8], "y": [8, 3]}, op_matmul, [("private", [4, 8]), ("private", [8, 3])]),
        ("matmul_public", {"x": [4, 8], "y": [8, 3]}, op_public_matmul, [("private", [4, 8]), ("public", [8, 3])]),
        ("square", {"x": [4, 8]}, op_square, [("private", [4, 8])]),
        ("trunc_div", {"x": [4, 8], "divisor": 2**16}, op_trunc_div, [("private", [4, 8])]),
        ("public_scale", {"x": [4, 8]}, op_public_scale, [("private", [4, 8])]),
        ("ltz", {"x": [4, 8]}, op_ltz, [("private", [4, 8])]),
        ("ge0", {"x": [4, 8]}, op_ge0, [("private", [4, 8])]),
        ("relu", {"x": [4, 8]}, op_relu, [("private", [4, 8])]),
        ("exp", {"x": [4, 8]}, op_exp, [("private", [4, 8])]),
        ("reciprocal", {"x": [4, 8]}, op_reciprocal, [("private", [4, 8])]),
        ("reciprocal_pos", {"x": [4, 8]}, op_reciprocal_pos, [("private", [4, 8])]),
        ("inv_sqrt", {"x": [4, 8]}, op_inv_sqrt, [("private", [4, 8])]),
        ("erf", {"x": [4, 8]}, op_erf, [("private", [4, 8])]),
        ("gelu_erf", {"x": [4, 8]}, op_gelu_erf, [("private", [4, 8])]),
        ("gelu_quad", {"x": [4, 8]}, op_gelu_quad, [("private", [4, 8])]),
        ("gelu_tanh_hardtanh", {"x": [4, 8]}, op_gelu_tanh_hardtanh, [("private", [4, 8])]),
        ("layernorm", {"x": [4, 8]}, op_layernorm, [("private", [4, 8])]),
        ("private_div", {"x": [4, 8], "y": [4, 1]}, op_private_div, [("private", [4, 8]), ("private", [4, 1])]),
    ]
    for m in (1, 2, 3, 5, 8, 9, 17, 65):
        small.append(("max_row", {"x": [3, m]}, op_max_row, [("private", [3, m])]))
    for kind, fn in ATTENTION.items():
        small.append((f"attn_{kind}", {"x": [2, 5, 5]}, fn, [("private", [2, 5, 5])]))
    small.append(("softmax", {"x": [3, 7]}, op_softmax, [("private", [3, 7])]))

    for tag, cfg in (("cifar", CIFAR), ("tiny", TINY)):
        n, dmod, h, hid = cfg["tokens"], cfg["dim"], cfg["heads"], cfg["mlp_hidden"]
        s_shape = [h, n, n]
        vit += [
            ("matmul", {"x": [n, dmod], "y": [dmod, 3 * dmod], "model": tag}, op_matmul,
             [("private", [n, dmod]), ("private", [dmod, 3 * dmod])]),
            ("matmul", {"x": [h, n, dmod // h], "y": [h, dmod // h, n], "model": tag}, op_matmul,
             [("private", [h, n, dmod // h]), ("private", [h, dmod // h, n])]),
            ("layernorm", {"x": [n, dmod], "model": tag}, op_layernorm, [("private", [n, dmod])]),
            ("gelu_erf", {"x": [n, hid], "model": tag}, op_gelu_erf, [("private", [n, hid])]),
            ("gelu_quad", {"x": [n, hid], "model": tag}, op_gelu_quad, [("private", [n, hid])]),
            ("relu", {"x": [n, hid], "model": tag}, op_relu, [("private", [n, hid])]),
            ("max_row", {"x": s_shape, "model": tag}, op_max_row, [("private", s_shape)]),
            ("exp", {"x": s_shape, "model": tag}, op_exp, [("private", s_shape)]),
            ("reciprocal", {"x": [h, n, 1], "model": tag}, op_reciprocal, [("private", [h, n, 1])]),
            ("inv_sqrt", {"x": [n, 1], "model": tag}, op_inv_sqrt, [("private", [n, 1])]),
        ]
        for kind, fn in ATTENTION.items():
            vit.append((f"attn_{kind}", {"x": s_shape, "model": tag}, fn, [("private", s_shape)]))
        # one head alone: rounds equal the batched heads' rounds, bytes 1/H of them
        vit.append(("attn_softmax", {"x": [1, n, n], "model": tag}, attn_softmax, [("private", [1, n, n])]))
        # heterogeneous heads, each kind batched in one tensor
        k = max(1, round(0.7 * h)) if h > 1 else 1
        mixed = [("relu_softmax", k), ("scaling", h - k)]
        vit.append(("attn_mixed", {"x": s_shape, "kinds": mixed, "model": tag},
                    (lambda s, mixed=mixed: attention_mixed(s, mixed)), [("private", s_shape)]))
        layer_variants = [
            ("softmax", [("softmax", h)], "erf"),
            ("relu_softmax", [("relu_softmax", h)], "erf"),
            ("scaling", [("scaling", h)], "erf"),
            ("mpcformer", [("2quad", h)], "quad"),
            ("mixed", mixed, "erf"),
        ]
        for name, kinds, gelu in layer_variants:
            params = {"model": tag, "tokens": n, "dim": dmod, "heads": h, "mlp_hidden": hid,
                      "kinds": kinds, "gelu": gelu, "weights": "private", "variant": name}
            vit.append(("vit_layer", params, None, None))
    network = []
    c10 = dict(CIFAR, layers=7, img=32, patch=4, classes=10)  # MPCViT src/vit.py:181-183, 284-292
    for variant, gelu, heads_mode, mpcformer_gelu in (
        ("softmax", "erf", "batched", "quad"),        # the issue's contract
        ("mpcformer", "erf", "batched", "quad"),      # the contract: 2Quad + Quad GELU
        ("mu=0.7", "tanh_hardtanh", "per_head_all", "same"),  # the execution that best fits MPCViT's table
    ):
        plan = head_plan(c10["layers"], c10["heads"], variant)
        gv = mpcformer_gelu if variant == "mpcformer" and mpcformer_gelu != "same" else gelu
        network.append(("vit_network", dict(model="cifar10", variant=variant, gelu=gelu, heads_mode=heads_mode,
                                            mpcformer_gelu=mpcformer_gelu, weights="private", plan=plan,
                                            gelu_of_variant=gv, **c10), None, None))
    if only == "small":
        return small
    if only == "vit":
        return vit
    if only == "network":
        return network
    return small + vit


# ---------------------------------------------------------------------------------------------
def _run(only, seed, provider):
    import crypten
    import crypten.communicator as comm
    import torch

    crypten.init()
    crypten.cfg.communicator.verbose = True
    torch.manual_seed(seed)
    rank = comm.get().get_rank()
    results = []
    ttp = {"requests": 0, "elements": 0}
    if provider == "TTP" and rank == 0:
        # Count what the trusted third party really sends party 0 (the only party that asks it):
        # crypten/mpc/provider/ttp_provider.py TTPClient.ttp_request broadcasts one tensor per tuple.
        client = crypten.mpc.provider.ttp_provider.TTPClient.get()
        original = client.ttp_request

        def counting_request(*args, **kwargs):
            result = original(*args, **kwargs)
            ttp["requests"] += 1
            ttp["elements"] += result.nelement()
            return result

        client.ttp_request = counting_request

    def private(shape):
        return crypten.cryptensor(torch.randn(*shape) if shape else torch.randn(()), src=0)

    for op, params, fn, inputs in cases(only):
        if op == "vit_network":
            n, dmod, hid = params["tokens"], params["dim"], params["mlp_hidden"]
            k = params["patch"]

            def layer_weights():
                return {"qkv": private([dmod, 3 * dmod]) * 0.05, "proj": private([dmod, dmod]) * 0.05,
                        "proj_b": private([dmod]), "fc1": private([dmod, hid]) * 0.05,
                        "fc1_b": private([hid]), "fc2": private([hid, dmod]) * 0.05, "fc2_b": private([dmod])}

            w = {"patch": private([dmod, 3, k, k]) * 0.1, "patch_b": private([dmod, 1, 1]),
                 "cls": private([1, dmod]), "pos": private([n, dmod]) * 0.2,
                 "layers": [layer_weights() for _ in range(params["layers"])],
                 "fc": private([dmod, params["classes"]]) * 0.05, "fc_b": private([params["classes"]])}
            args = [private([1, 3, params["img"], params["img"]])]

            def fn(img, w=w, p=params):
                return vit_network(img, w, p)
        elif op == "vit_layer":
            n, dmod, hid = params["tokens"], params["dim"], params["mlp_hidden"]
            w = {
                "qkv": private([dmod, 3 * dmod]) * 0.05,
                "proj": private([dmod, dmod]) * 0.05,
                "proj_b": private([dmod]),
                "fc1": private([dmod, hid]) * 0.05,
                "fc1_b": private([hid]),
                "fc2": private([hid, dmod]) * 0.05,
                "fc2_b": private([dmod]),
            }
            args = [private([n, dmod])]
            kinds = [tuple(k) for k in params["kinds"]]

            def fn(x, w=w, p=params, kinds=kinds):
                return vit_layer(x, w, p["tokens"], p["dim"], p["heads"], p["mlp_hidden"], kinds, p["gelu"])
        else:
            args = [private(shape) if kind == "private" else torch.randn(*shape) for kind, shape in inputs]
        comm.get().barrier()
        ttp_before = dict(ttp)
        before = comm.get().get_communication_stats()
        tic = time.perf_counter()
        out = fn(*args)
        wall = time.perf_counter() - tic
        after = comm.get().get_communication_stats()
        comm.get().barrier()
        del out
        results.append({
            "op": op,
            "params": params,
            "rounds": int(after["rounds"] - before["rounds"]),
            "comm_bytes": int(round(after["bytes"] - before["bytes"])),
            "wall_s": wall,
            "rank": rank,
            "ttp_requests": ttp["requests"] - ttp_before["requests"],
            "ttp_elements": ttp["elements"] - ttp_before["elements"],
        })
        if rank == 0:
            print(f"{op:16s} {json.dumps(params):90s} rounds={results[-1]['rounds']:5d} "
                  f"bytes={results[-1]['comm_bytes']:12d} {wall:8.3f}s", flush=True)
    return results


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--out", required=True, help="JSON file to write")
    ap.add_argument("--only", choices=["all", "small", "vit", "network"], default="all",
                    help="all = small + vit; network = whole MPCViT CIFAR-10 networks (slow, separate file)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--provider", choices=["TFP", "TTP"], default="TFP",
                    help="tuple provider; TTP also records what the trusted third party sends (offline)")
    a = ap.parse_args(argv)

    import crypten
    import torch

    crypten.cfg.mpc.provider = a.provider  # read by run_multiprocess (starts the TTP server) and the parties
    runner = crypten.mpc.run_multiprocess(world_size=2)(_run)
    per_rank = runner(a.only, a.seed, a.provider)
    if per_rank is None or len(per_rank) < 2:
        print("crypten_reference: a party failed; no results written", file=sys.stderr)
        return 1
    r0, r1 = per_rank[0], per_rank[1]  # a TTP server process, if any, returns None last
    rows = []
    for x0, x1 in zip(r0, r1):
        assert x0["op"] == x1["op"] and x0["params"] == x1["params"]
        rows.append({
            "op": x0["op"],
            "params": x0["params"],
            "rounds": x0["rounds"],
            "comm_bytes": x0["comm_bytes"],
            "rounds_party1": x1["rounds"],
            "comm_bytes_party1": x1["comm_bytes"],
            "wall_s": round(x0["wall_s"], 6),
        })
        if a.provider == "TTP":
            rows[-1].update({"ttp_requests": x0["ttp_requests"], "ttp_elements": x0["ttp_elements"]})
    doc = {
        "what": "CrypTen 0.4.1 communication per op, measured with its own communicator (verbose=True), 2 parties",
        "units": {
            "rounds": "communication calls made by party 0 during the op (CrypTen comm_rounds)",
            "comm_bytes": "bytes party 0 sent plus received, as CrypTen's communicator counts them (8 bytes per ring element; an all_reduce of n elements logs 16 n)",
            "rounds_party1/comm_bytes_party1": "the same for party 1",
            "wall_s": "party 0 wall time of the op, two local processes, gloo over loopback, CPU",
            "ttp_requests/ttp_elements": "(TTP provider only) tuples party 0 requested from the trusted third party and the 64-bit elements the TTP sent; party 0's rounds/comm_bytes then also include this TTP traffic, party 1's do not",
        },
        "provenance": {
            "script": "benchmarks/crypten_reference.py",
            "command": " ".join(["benchmarks/crypten_reference.py"] + (argv if argv is not None else sys.argv[1:])),
            "crypten": crypten.__version__,
            "torch": torch.__version__,
            "python": platform.python_version(),
            "machine": platform.machine(),
            "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "config": {k: (v if isinstance(v, (int, float, str, bool)) or v is None else str(v))
                       for k, v in crypten.cfg.config.functions.items()},
            "mpc": {"provider": a.provider, "protocol": crypten.cfg.mpc.protocol,
                    "precision_bits": crypten.cfg.encoder.precision_bits},
            "note": "crypten/nn/onnx_converter.py import of torch.onnx._internal.registration made tolerant in the venv copy (unused by MPC code)",
        },
        "results": rows,
    }
    with open(a.out, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(f"wrote {len(rows)} rows to {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
