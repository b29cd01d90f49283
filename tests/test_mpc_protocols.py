"""hwsim.backends.mpc_protocols against CrypTen 0.4.1's own communication counts.

Golden numbers: ``hwsim/data/reference/crypten_reference.json`` was written by ``benchmarks/crypten_reference.py``
running the pip-installed CrypTen 0.4.1 (two parties, default config, TFP provider) with
``cfg.communicator.verbose = True``; ``hwsim/data/reference/crypten_reference_ttp.json`` is the same script with
``--provider TTP``, which also records what CrypTen's trusted third party actually sends. Every
(op, shape) must match exactly, rounds and bytes, whole ViT layers included.

More parties: ``hwsim/data/reference/crypten_reference_3pc.json`` (``--world-size 3``: every small and
ViT-sized op, attention kind and whole layer), ``crypten_reference_4pc.json`` (``--world-size 4``) and
``crypten_reference_3pc_ttp.json`` (``--world-size 3 --provider TTP``) hold every party's own count;
the library must equal each party's count exactly (party 0 roots CrypTen's scatters and gathers and
counts more bytes than the others).
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from hwsim.backends import mpc_protocols as P
from hwsim.backends.mpc import crypten_record_cost, party_counts, record_case
from hwsim.errors import HwsimError

DATA = Path(__file__).resolve().parents[1] / "hwsim" / "data" / "reference"
TFP = json.loads((DATA / "crypten_reference.json").read_text())
TTP = json.loads((DATA / "crypten_reference_ttp.json").read_text())
NPC = {n: json.loads((DATA / f"crypten_reference_{n}pc.json").read_text()) for n in (3, 4)}
NPC_TTP = json.loads((DATA / "crypten_reference_3pc_ttp.json").read_text())


def model(record, p: P.CryptenParams = P.DEFAULT) -> P.ProtoCost:
    """The library call that corresponds to one measured (op, params) of crypten_reference.py, with
    protocol parameters ``p`` (parties, rank, provider): the backend's record mapping."""
    return crypten_record_cost(record, p)


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


@pytest.mark.parametrize("record", TFP["results"], ids=record_case)
def test_rounds_and_bytes_equal_cryptens_count(record):
    cost = model(record)
    # both parties count the same for every op measured (all_reduce-based openings)
    assert (record["rounds_party1"], record["comm_bytes_party1"]) == (record["rounds"], record["comm_bytes"])
    assert (cost.rounds, cost.comm_bytes) == (record["rounds"], record["comm_bytes"])


@pytest.mark.parametrize("record", TTP["results"], ids=record_case)
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
    ({"parties": 1}, "parties=1: secret sharing needs at least 2 parties; allowed: integers >= 2"),
    ({"parties": 3, "rank": 3}, "rank=3: must name one of the 3 parties (0 .. 2)"),
    ({"provider": "dealer"}, "provider='dealer': allowed: TFP, TTP"),
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


# ---- N parties ----------------------------------------------------------------------------------------
def test_n_party_reference_data_is_crypten_041_with_every_party_counted():
    for n, doc in NPC.items():
        prov = doc["provenance"]
        assert prov["crypten"] == "0.4.1" and prov["mpc"]["world_size"] == n
        assert prov["mpc"]["provider"] == "TFP" and prov["mpc"]["precision_bits"] == 16
        assert all(f"comm_bytes_party{n - 1}" in r for r in doc["results"])
    assert NPC_TTP["provenance"]["mpc"] == {"provider": "TTP", "protocol": "beaver", "world_size": 3,
                                            "precision_bits": 16}
    three = {r["op"] for r in NPC[3]["results"]}
    assert {"mul", "matmul", "matmul_public", "square", "trunc_div", "public_scale", "ltz", "relu", "max_row",
            "exp", "reciprocal", "inv_sqrt", "erf", "softmax", "gelu_erf", "gelu_quad", "layernorm",
            "private_div", "attn_softmax", "attn_relu_softmax", "attn_2quad", "attn_scaling", "attn_mixed",
            "vit_layer"} <= three
    assert {r["params"].get("model") for r in NPC[3]["results"]} == {None, "cifar", "tiny"}


def _nid(item):
    n, r = item
    return f"{n}pc " + record_case(r)


@pytest.mark.parametrize("item", [(n, r) for n, doc in NPC.items() for r in doc["results"]], ids=_nid)
def test_n_party_rounds_and_bytes_equal_cryptens_count_for_every_party(item):
    n, record = item
    for rank, measured in party_counts(record, n):
        cost = model(record, P.CryptenParams(parties=n, rank=rank))
        assert (cost.rounds, cost.comm_bytes) == measured, rank


@pytest.mark.parametrize("record", NPC_TTP["results"], ids=record_case)
def test_three_party_ttp_online_counts_and_what_the_ttp_sends(record):
    # parties 1 and 2 never talk to the TTP: their counts are the online phase under the TTP provider
    for rank, measured in list(party_counts(record, 3))[1:]:
        cost = model(record, P.CryptenParams(parties=3, rank=rank, provider="TTP"))
        assert (cost.rounds, cost.comm_bytes) == measured, rank
    cost = model(record, P.CryptenParams(parties=3, provider="TTP"))
    assert (cost.offline_elements, cost.offline_tuples) == (record["ttp_elements"], record["ttp_requests"])


def test_more_parties_truncate_with_a_scatter_and_a_gather_rooted_at_party_0():
    n = 32  # the measured 4x8 trunc_div: 2 rounds; party 0 logs (N - 1) n per collective, the others n
    for parties in (3, 4):
        rec = next(r for r in NPC[parties]["results"] if r["op"] == "trunc_div")
        assert rec["rounds"] == 2 and rec["comm_bytes"] == 2 * (parties - 1) * n * 8
        assert all(b == 2 * n * 8 for _, (_, b) in list(party_counts(rec, parties))[1:])
    # with a trusted third party the masks come offline: only the gather is online
    rec = next(r for r in NPC_TTP["results"] if r["op"] == "trunc_div")
    assert (rec["rounds_party1"], rec["comm_bytes_party1"]) == (1, n * 8)
    assert P.truncate((n,), P.CryptenParams(parties=3, provider="TTP")).comm_bytes == 2 * n * 8
    assert P.truncate((n,)) == P.ZERO  # two parties: local


def test_comparisons_with_more_parties_add_adders_not_truncations():
    # A2B sums N binary sharings with a log-reduction of adders: 2 -> 1 adder, 3 and 4 -> 2 adders
    for parties, rounds in ((2, 8), (3, 15), (4, 15), (5, 22), (8, 22)):
        assert P.ltz((10,), P.CryptenParams(parties=parties)).rounds == rounds
    # ReLU multiplies by the 0/1 comparison result: no truncation at any party count
    p3 = P.CryptenParams(parties=3)
    assert P.relu((4, 8), p3).rounds == P.ltz((4, 8), p3).rounds + 1
    assert _measured_n(3, "relu", x=[4, 8])["rounds"] == 16


def _measured_n(n, op, **params):
    hits = [r for r in NPC[n]["results"] if r["op"] == op
            and all(r["params"].get(k) == v for k, v in params.items())]
    assert len(hits) == 1, (op, params)
    return hits[0]


def test_three_party_layers_cost_more_rounds_than_two_party_layers_by_the_truncations():
    kw = dict(tokens=65, dim=256, heads=4, mlp_hidden=512, kinds=[("scaling", 4)])
    two, three = P.vit_layer(**kw), P.vit_layer(**kw, p=P.CryptenParams(parties=3))
    rec = _measured_n(3, "vit_layer", model="cifar", variant="scaling")
    assert (three.rounds, three.comm_bytes) == (rec["rounds"], rec["comm_bytes"])
    assert three.rounds > two.rounds
