"""MPCViT's latency tables against CrypTen's exact counts: the recorded network-setting fit.

``hwsim/data/reference/mpcvit_latency_fit.json`` was written by ``benchmarks/mpcvit_latency_fit.py`` (MPCViT
README.md lines 121-156 for the latencies; rounds and bytes from hwsim.backends.mpc_protocols). These tests
re-run the recorded best CIFAR-10 fit and check what docs/mpc.md states about it.
"""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIT = json.loads((ROOT / "hwsim" / "data" / "reference" / "mpcvit_latency_fit.json").read_text())


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("mpcvit_latency_fit", ROOT / "benchmarks" / "mpcvit_latency_fit.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_tables_are_the_readme_numbers(script):
    assert FIT["tables"]["cifar10"] == {"mu=0.1": 48.03, "mu=0.3": 52.88, "mu=0.5": 58.66, "mu=0.7": 63.56,
                                         "softmax": 112.23, "relu_softmax": 71.82, "scaling": 44.63,
                                         "mpcformer": 66.98}
    assert FIT["tables"]["tiny"] == {"mu=0.1": 220.69, "mu=0.3": 316.77, "mu=0.5": 621.75, "mu=0.7": 823.74}
    assert script.TABLES == FIT["tables"]


def test_recorded_cifar10_setting_is_reproduced(script):
    best = FIT["summary"]["cifar10"]
    again = script.fit(script.rows_of("cifar10"), best["hypothesis"], False)
    assert again["rtt_s"] == pytest.approx(best["rtt_s"], rel=1e-9)
    assert again["bandwidth_bytes_per_s"] == pytest.approx(best["bandwidth_bytes_per_s"], rel=1e-9)


def test_cifar10_ratios_between_attention_kinds_within_15_percent():
    ratios = FIT["cifar10_ratios_to_scaling_vit"]
    for variant in ("softmax", "relu_softmax", "mpcformer", "mu=0.1", "mu=0.3", "mu=0.5", "mu=0.7"):
        assert abs(ratios[variant]["rel_error"]) <= 0.15, (variant, ratios[variant])
    # the README's own ratios (paper column) are what the model is compared with
    assert ratios["softmax"]["paper"] == pytest.approx(112.23 / 44.63)


def test_tiny_imagenet_table_is_not_linear_in_relu_softmax_heads(script):
    """Each mu step adds 0.2 x 108 ~ 22 ReLU-softmax heads; CrypTen's cost of a head does not depend on
    mu, so any (rtt, bandwidth) gives near-equal steps, but the README's steps differ by 3x
    (96 s, 305 s, 202 s): no single network setting explains the Tiny-ImageNet table."""
    t = FIT["tables"]["tiny"]
    steps = [t["mu=0.3"] - t["mu=0.1"], t["mu=0.5"] - t["mu=0.3"], t["mu=0.7"] - t["mu=0.5"]]
    assert max(steps) / min(steps) > 3
    hyp = FIT["summary"]["cifar10"]["hypothesis"]
    rounds = [script.network_cost("tiny", f"mu={m}", **hyp).rounds for m in (0.1, 0.3, 0.5, 0.7)]
    nbytes = [script.network_cost("tiny", f"mu={m}", **hyp).comm_bytes for m in (0.1, 0.3, 0.5, 0.7)]
    byte_steps = [b - a for a, b in zip(nbytes, nbytes[1:])]
    round_steps = [b - a for a, b in zip(rounds, rounds[1:])]
    assert max(byte_steps) / min(byte_steps) < 1.1 and max(round_steps) / min(round_steps) < 1.1
    assert FIT["summary"]["tiny"]["max_abs_rel_error"] > 0.15
    assert FIT["summary"]["cifar10+tiny"]["max_abs_rel_error"] > 0.15


NETWORK = ROOT / "hwsim" / "data" / "reference" / "crypten_reference_network.json"


@pytest.mark.skipif(not NETWORK.exists(), reason="whole-network CrypTen run not recorded")
def test_whole_networks_equal_cryptens_count(script):
    """Whole MPCViT CIFAR-10 networks run in CrypTen 0.4.1 (benchmarks/crypten_reference.py --only network):
    the composition used by the fit (embedding conv, 7 layers, final LayerNorm, classifier) is exact, for the
    issue's contract and for the execution that best explains MPCViT's table (every head on its own)."""
    records = json.loads(NETWORK.read_text())["results"]
    assert {r["params"]["variant"] for r in records} == {"softmax", "mpcformer", "mu=0.7"}
    for r in records:
        p = r["params"]
        assert [[tuple(k) for k in layer] for layer in p["plan"]] == script.head_plan("cifar10", p["variant"])
        cost = script.network_cost("cifar10", p["variant"], gelu=p["gelu"], heads=p["heads_mode"],
                                   weights=p["weights"], mpcformer_gelu=p["mpcformer_gelu"], relu="once")
        assert (cost.rounds, cost.comm_bytes) == (r["rounds"], r["comm_bytes"]), p["variant"]
        assert (r["rounds_party1"], r["comm_bytes_party1"]) == (r["rounds"], r["comm_bytes"])
