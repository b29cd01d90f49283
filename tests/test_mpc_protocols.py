"""hwsim.backends.mpc_protocols against CrypTen 0.4.1's own communication counts.

Golden numbers: ``hwsim/data/reference/crypten_reference.json`` was written by ``benchmarks/crypten_reference.py``
running the pip-installed CrypTen 0.4.1 (two parties, default config, TFP provider) with
``cfg.communicator.verbose = True``; ``hwsim/data/reference/crypten_reference_ttp.json`` is the same script with
``--provider TTP``, which also records what CrypTen's trusted third party actually sends. Every
(op, shape) must match exactly, rounds and bytes, whole ViT layers included.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from hwsim.backends import mpc_protocols as P
from hwsim.errors import HwsimError

DATA = Path(__file__).resolve().parents[1] / "hwsim" / "data" / "reference"
TFP = json.loads((DATA / "crypten_reference.json").read_text())
TTP = json.loads((DATA / "crypten_reference_ttp.json").read_text())


def model(record) -> P.ProtoCost:
    """The library call that corresponds to one measured (op, params) of crypten_reference.py."""
    op, prm = record["op"], record["params"]
    x = prm.get("x")
    if op == "vit_layer":
        return P.vit_layer(tokens=prm["tokens"], dim=prm["dim"], heads=prm["heads"],
                           mlp_hidden=prm["mlp_hidden"], kinds=prm["kinds"], gelu=prm["gelu"],
                           private_weights=prm["weights"] == "private")
    if op == "attn_mixed":
        return P.attention_mixed(prm["kinds"], x[-1])
    if op.startswith("attn_"):
        return P.attention(op[len("attn_"):], x)
    calls = {
        "mul": lambda: P.mul(x, prm["y"]),
        "matmul": lambda: P.matmul(x, prm["y"]),
        "matmul_public": lambda: P.matmul_public(x, prm["y"]),
        "square": lambda: P.square(x),
        "trunc_div": lambda: P.truncate(x),
        "public_scale": lambda: P.public_op(x),
        "ltz": lambda: P.ltz(x),
        "ge0": lambda: P.compare(x),
        "relu": lambda: P.relu(x),
        "max_row": lambda: P.max_row(x),
        "exp": lambda: P.exp(x),
        "reciprocal": lambda: P.reciprocal(x),
        "reciprocal_pos": lambda: P.reciprocal(x, all_pos=True),
        "inv_sqrt": lambda: P.inv_sqrt(x),
        "erf": lambda: P.erf(x),
        "gelu_erf": lambda: P.gelu_erf(x),
        "gelu_quad": lambda: P.gelu_quad(x),
        "gelu_tanh_hardtanh": lambda: P.gelu_tanh_hardtanh(x),
        "layernorm": lambda: P.layernorm(x),
        "private_div": lambda: P.div_private(x, prm["y"]),
        "softmax": lambda: P.softmax(x),
    }
    return calls[op]()


def _rid(r):
    p = r["params"]
    tag = p.get("variant") or "x".join(map(str, p.get("x", [])))
    return f"{r['op']}-{p.get('model', 'small')}-{tag}" + (f"-y{'x'.join(map(str, p['y']))}" if "y" in p else "")


def test_reference_data_is_crypten_041_with_its_defaults():
    prov = TFP["provenance"]
    assert prov["crypten"] == "0.4.1"
    assert prov["mpc"] == {"provider": "TFP", "protocol": "beaver", "precision_bits": 16}
    assert TTP["provenance"]["mpc"]["provider"] == "TTP"
    ops = {r["op"] for r in TFP["results"]}
    assert {"mul", "matmul", "trunc_div", "ltz", "relu", "max_row", "exp", "reciprocal", "inv_sqrt",
            "softmax", "gelu_erf", "gelu_quad", "layernorm", "attn_softmax", "attn_relu_softmax",
            "attn_2quad", "attn_scaling", "attn_mixed", "vit_layer"} <= ops
    assert {r["params"].get("model") for r in TFP["results"]} == {None, "cifar", "tiny"}


def test_default_params_are_cryptens_default_config():
    cfg = TFP["provenance"]["config"]  # crypten.cfg.functions as the measuring run saw it
    d = P.CryptenParams()
    assert (d.exp_iterations, d.reciprocal_nr_iters, d.sqrt_nr_iters, d.erf_iterations) == (
        cfg["exp_iterations"], cfg["reciprocal_nr_iters"], cfg["sqrt_nr_iters"], cfg["erf_iterations"])
    assert d.reciprocal_all_pos == cfg["reciprocal_all_pos"] and cfg["reciprocal_initial"] is None
    assert d.reciprocal_initial == "exp" and cfg["sqrt_nr_initial"] is None
    assert d.max_method == cfg["max_method"]
    assert d.frac_bits == TFP["provenance"]["mpc"]["precision_bits"] and d.ring_bits == 64


@pytest.mark.parametrize("record", TFP["results"], ids=_rid)
def test_rounds_and_bytes_equal_cryptens_count(record):
    cost = model(record)
    # both parties count the same for every op measured (all_reduce-based openings)
    assert (record["rounds_party1"], record["comm_bytes_party1"]) == (record["rounds"], record["comm_bytes"])
    assert (cost.rounds, cost.comm_bytes) == (record["rounds"], record["comm_bytes"])


@pytest.mark.parametrize("record", TTP["results"], ids=_rid)
def test_offline_tuples_equal_what_cryptens_ttp_sends(record):
    cost = model(record)
    # party 1 never talks to the TTP: its counts are the online phase, unchanged by the provider
    assert (cost.rounds, cost.comm_bytes) == (record["rounds_party1"], record["comm_bytes_party1"])
    assert cost.offline_elements == record["ttp_elements"]
    assert cost.offline_tuples == record["ttp_requests"]
    assert cost.offline_bytes == 8 * record["ttp_elements"]


def _measured(op, **params):
    hits = [r for r in TFP["results"] if r["op"] == op
            and all(r["params"].get(k) == v for k, v in params.items())]
    assert len(hits) == 1, (op, params)
    return hits[0]


@pytest.mark.parametrize("model_tag,heads,tokens", [("cifar", 4, 65)])
def test_heads_batched_in_one_tensor_share_rounds(model_tag, heads, tokens):
    one = _measured("attn_softmax", model=model_tag, x=[1, tokens, tokens])
    all_heads = _measured("attn_softmax", model=model_tag, x=[heads, tokens, tokens])
    assert all_heads["rounds"] == one["rounds"] == 115          # measured: rounds of one head
    assert all_heads["comm_bytes"] == heads * one["comm_bytes"]  # measured: bytes scale with heads
    for h in (1, 2, 3, 12, 64):
        c1 = P.attention("softmax", (1, tokens, tokens))
        ch = P.attention("softmax", (h, tokens, tokens))
        assert ch.rounds == c1.rounds and ch.comm_bytes == h * c1.comm_bytes


def test_mixed_heads_run_kind_after_kind():
    # MPCViT heterogeneous attention: 3 ReLU-softmax heads batched, 1 scaling head (free)
    rec = _measured("attn_mixed", model="cifar")
    assert rec["params"]["kinds"] == [["relu_softmax", 3], ["scaling", 1]]
    assert rec["rounds"] == P.attention("relu_softmax", (3, 65, 65)).rounds == 48
    kinds = [("softmax", 2), ("relu_softmax", 1), ("2quad", 1)]
    mixed = P.attention_mixed(kinds, 65)
    assert mixed == P.seq(*(P.attention(k, (c, 65, 65)) for k, c in kinds))
    assert mixed.rounds == 115 + 48 + 40


def test_changing_one_heads_kind_changes_cost_by_the_kinds_difference():
    base = P.vit_layer(tokens=65, dim=256, heads=4, mlp_hidden=512, kinds=[("relu_softmax", 4)])
    one_scaled = P.vit_layer(tokens=65, dim=256, heads=4, mlp_hidden=512,
                             kinds=[("relu_softmax", 3), ("scaling", 1)])
    # CIFAR layers measured with CrypTen: 127 rounds / 46,398,528 B and 127 / 44,297,728 B
    assert (base.rounds, base.comm_bytes) == (127, 46_398_528)
    assert (one_scaled.rounds, one_scaled.comm_bytes) == (127, 44_297_728)
    diff = base.comm_bytes - one_scaled.comm_bytes
    assert diff == (P.attention("relu_softmax", (4, 65, 65)).comm_bytes
                    - P.attention("relu_softmax", (3, 65, 65)).comm_bytes)
    all_scaled = P.vit_layer(tokens=65, dim=256, heads=4, mlp_hidden=512, kinds=[("scaling", 4)])
    assert base.rounds - all_scaled.rounds == P.attention("relu_softmax", (4, 65, 65)).rounds


def test_public_weights_remove_exactly_the_weight_matmuls():
    kw = dict(tokens=65, dim=256, heads=4, mlp_hidden=512, kinds=[("softmax", 4)])
    private, public = P.vit_layer(**kw), P.vit_layer(**kw, private_weights=False)
    weights = P.seq(P.matmul((65, 256), (256, 768)), P.matmul((65, 256), (256, 256)),
                    P.matmul((65, 256), (256, 512)), P.matmul((65, 512), (512, 256)))
    assert private.rounds - public.rounds == 4
    assert private.comm_bytes - public.comm_bytes == weights.comm_bytes
    assert _measured("matmul_public", x=[4, 8])["comm_bytes"] == 0


def test_max_rounds_depend_only_on_row_length():
    # log-reduction: int(ln m) halving steps, each a comparison (8 rounds) and a where (2 rounds)
    for m, rounds in [(1, 36), (2, 36), (3, 46), (8, 56), (65, 78), (257, 89)]:
        assert P.max_row((1, m)).rounds == P.max_row((12, 7, m)).rounds == rounds


def test_costs_scale_with_ring_and_iterations():
    p32 = P.CryptenParams(ring_bits=32, frac_bits=12)
    # comparison circuit depth log2(ring_bits): 1 + 5 + 1 rounds; 4-byte elements
    assert P.ltz((10,), p32).rounds == 7
    assert P.ltz((10,), p32).comm_bytes == 10 * 4 * (4 + 5 * 8 + 2)
    assert P.exp((10,), P.CryptenParams(exp_iterations=5)).rounds == 5
    assert P.reciprocal((10,), P.CryptenParams(reciprocal_nr_iters=3), all_pos=True).rounds == 8 + 6
    assert P.reciprocal((10,), P.CryptenParams(reciprocal_initial="public"), all_pos=True).rounds == 18
    assert P.inv_sqrt((10,), P.CryptenParams(sqrt_nr_iters=1)).rounds == 8 + 3


def test_offline_definition_under_tfp():
    c = P.matmul((65, 256), (256, 768))
    assert c.offline_elements == 65 * 768 and c.offline_bytes == 8 * 65 * 768
    assert c.offline_macs == 65 * 256 * 768 and c.offline_tuples == 1
    assert c.local_ops == 3 * 65 * 256 * 768


def test_cost_is_frozen_and_adds():
    c = P.square((4,))
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.rounds = 3
    assert (c + c).rounds == 2 and c.times(3).comm_bytes == 3 * c.comm_bytes
    assert P.overlap(c, c, P.exp((4,))).rounds == 8


@pytest.mark.parametrize("kwargs,message", [
    ({"parties": 1}, "parties=1: only 2 is derived"),
    ({"parties": 3}, "parties=3: only 2 is derived"),
    ({"ring_bits": 32, "frac_bits": 16}, "frac_bits=16: a product of two fixed-point numbers needs 2 * frac_bits < ring_bits (32)"),
    ({"ring_bits": 48}, "ring_bits=48: must be a power of two"),
    ({"exp_iterations": -1}, "exp_iterations=-1: must be an integer >= 0"),
    ({"reciprocal_initial": "guess"}, "reciprocal_initial='guess': allowed: exp, public"),
])
def test_bad_parameters_get_one_clear_line(kwargs, message):
    with pytest.raises(HwsimError) as e:
        P.CryptenParams(**kwargs)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_latency_is_rounds_times_rtt_plus_bytes_over_bandwidth():
    c = P.ProtoCost(rounds=10, comm_bytes=2_000_000, local_ops=3_000)
    assert P.latency_s(c, rtt_s=1e-3, bandwidth_bytes_per_s=1e9) == pytest.approx(0.010 + 0.002)
    assert P.latency_s(c, rtt_s=0, bandwidth_bytes_per_s=1e6, local_ops_per_s=1e3) == pytest.approx(2 + 3)
    with pytest.raises(HwsimError, match=r"rtt_s=-0.001: must be >= 0 seconds"):
        P.latency_s(c, rtt_s=-1e-3, bandwidth_bytes_per_s=1e9)
    with pytest.raises(HwsimError, match=r"bandwidth_bytes_per_s=0: must be > 0"):
        P.latency_s(c, rtt_s=1e-3, bandwidth_bytes_per_s=0)


def test_bad_shapes_and_kinds_get_one_clear_line():
    with pytest.raises(HwsimError, match="unknown attention kind 'linear'; available: softmax, relu_softmax, 2quad, scaling"):
        P.attention("linear", (1, 4, 4))
    with pytest.raises(HwsimError, match="non-positive dimension"):
        P.exp((0, 4))
    with pytest.raises(HwsimError, match="do not agree"):
        P.matmul((4, 8), (7, 3))
    with pytest.raises(HwsimError, match="do not cover 4 heads"):
        P.vit_layer(tokens=65, dim=256, heads=4, mlp_hidden=512, kinds=[("softmax", 3)])
