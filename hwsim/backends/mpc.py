"""MPC backend: secret-shared ViT inference as communication rounds, bytes and local compute.

Every op's cost comes from :mod:`hwsim.backends.mpc_protocols` (CrypTen 0.4.1's protocols, derived from
its code and tested equal to its own communicator's counts); this module only maps workload ops onto
the library's functions, following the issue's composition contract (docs/mpc.md):

==========================================  ==============================================================
workload op                                 library cost
==========================================  ==============================================================
MatMul / Gate with a trained weight         ``matmul((count*m, k), (k, n))`` (private weights) or
                                            ``matmul_public`` (public weights: no communication)
Conv2d (patch embedding)                    its im2col GEMM, the same way (grouped: a batched matmul)
MatMul of two activations (Q·K^T, A·V)      ``matmul((count, m, k), (count, k, n))``: heads batched; Q·K^T
                                            (name ending ``qk``) also pays ``public_scale`` of its
                                            scores (the d^-0.5 factor; free with two parties)
Softmax, ``attention`` kind K               ``attention(K, (count, rows, length))``: softmax,
                                            relu_softmax, 2quad
Eltwise ``scale`` (scaling attention x/N)   ``public_scale``: a public division (0 rounds with 2 parties)
Eltwise ``mean``                            ``public_scale`` (a sum then a public division)
Eltwise ``add`` / ``sum``                   ``public_op``: residuals and sums are local
LayerNorm                                   ``layernorm((count*rows, width))``
GELU variant gelu / quad / relu             ``gelu_erf`` / ``gelu_quad`` / ``relu`` on (count, n)
==========================================  ==============================================================

Anything else (an eltwise op other than those, TopK, Gather, Pool, shiftgelu, linear/hilo attention)
has no protocol here: ``supports`` rejects it, and the seam's ``check_supported`` names the ops before
any work.

Heads. CrypTen runs an op on a ``(H, N, N)`` tensor in the rounds of one head. The workload emits one
op set per attention kind of a layer (``head`` = the group's head indices), which CrypTen would run as:
Q·K^T for all heads in one matmul, each kind's attention op in turn, A·V for all heads in one matmul
(``mpc_protocols.vit_layer``). So the Q·K^T and A·V of the group that does not contain head 0 take no
round of their own (``batched_round`` = 0: they share the round of the group with head 0; their bytes,
local work and triple elements count in full). ``head_batching: per_head`` instead runs each head's
attention op on its own (MPCViT's inference loop, ``src/utils/transformers.py`` l.116-124): its rounds
and tuple requests are multiplied by the heads in the op (``len(head)``, or ``count`` when the op covers
all heads: exact at batch 1, the case MPCViT reports).

Time (``has_clock`` False, one tick = 1 ns): per op ``link = rounds x rtt_s + comm_bytes / 2 /
bandwidth_bytes_per_s`` (``comm_bytes`` is CrypTen's per-party sent + received count; the link carries
half of it in each direction at once) and ``compute = local_ops / compute_flops_per_s`` (0 when that is
null); the op takes ``link + compute`` (CrypTen alternates local work and openings, nothing overlaps). Cycle mode lowers an
op to a ``link`` task then a ``compute`` task, so the trace shows both; analytic mode is the same sum.

Parties. With ``parties`` N > 2 every count is party 0's (``CryptenParams.rank`` 0): CrypTen roots the
scatter and gather of its wraps truncation at party 0, which therefore counts (N - 1) times the other parties'
bytes for those collectives (same rounds); the link term treats those bytes like openings (half each way),
so for them the time is a lower bound (a gather into party 0 is one-way).

Offline (preprocessing) phase, as counters: what a trusted dealer would send (CrypTen's TTP provider:
one request/response per tuple, ``offline_bytes`` to party 0): ``offline_latency_s = offline_tuples x
rtt_s + offline_bytes / bandwidth_bytes_per_s + offline_macs / compute_flops_per_s``. CrypTen's default
trusted-first-party provider itself sends nothing offline (docs/mpc.md section 1). No energy model
(``has_energy`` False): no sourced model of the parties' power.
"""
from __future__ import annotations

import dataclasses
import math
from functools import lru_cache

from hwsim.backends import mpc_protocols as P
from hwsim.backends.base import BackendBase, OpCost
from hwsim.engine import PREV, make_block
from hwsim.errors import HwsimError
from hwsim.hardware.mpc import MpcConfig
from hwsim.workload.ops import GELU, Conv2d, Eltwise, Gather, LayerNorm, MatMul, Op, Pool, Softmax, TopK

TICK_S = 1e-9
# add/sum: local for any party count; mean (a public division) and scale (x / N): a truncation, local
# with two parties, CrypTen's wraps protocol with more (mpc_protocols.public_scale)
FREE_ELTWISE = {"add": P.public_op, "mean": P.public_scale, "sum": P.public_op, "scale": P.public_scale}
GELU_COSTS = {"gelu": P.gelu_erf, "quad": P.gelu_quad, "relu": P.relu}
SOFTMAX_KINDS = ("softmax", "relu_softmax", "2quad")
# counter -> unit (what each is: the MpcBackend docstring)
COUNTERS = {"rounds": "rounds", "comm_bytes": "B", "local_ops": "ring ops", "offline_elements": "elements",
            "offline_bytes": "B", "offline_macs": "MACs", "offline_tuples": "tuples", "offline_latency_s": "s"}


def unsupported_reason(op: Op) -> str | None:
    """Why the MPC backend has no protocol for ``op`` (None if it has one)."""
    if isinstance(op, (TopK, Gather, Pool)):
        return f"{type(op).__name__.lower()} (no CrypTen composition derived)"
    if isinstance(op, Eltwise):
        return None if op.op in FREE_ELTWISE else f"eltwise op '{op.op}' (costed: {', '.join(FREE_ELTWISE)})"
    if isinstance(op, Softmax):
        return None if op.attention in SOFTMAX_KINDS else f"attention '{op.attention}'"
    if isinstance(op, GELU):
        return None if op.variant in GELU_COSTS else f"gelu variant '{op.variant}' (costed: {', '.join(GELU_COSTS)})"
    if isinstance(op, (MatMul, Conv2d, LayerNorm)):
        return None
    return f"op kind {op.kind}"


def _heads_in(op: Op) -> int:
    if isinstance(op.head, tuple):
        return len(op.head)
    if isinstance(op.head, int):
        return 1
    return op.count


def proto_cost(op: Op, hw: MpcConfig, p: P.CryptenParams | None = None) -> P.ProtoCost:
    """The library cost of one workload op on ``hw`` (contract in the module docstring), including
    the head batching rules. Raises HwsimError naming the op for an op without a protocol."""
    p = p or hw.protocol_params()
    why = unsupported_reason(op)
    if why:
        raise HwsimError(f"the mpc backend cannot cost {op.name}: {why}")
    # identical ops of different layers cost the same: evaluate each shape once (the library is pure Python)
    scores = isinstance(op, MatMul) and not op.static_weights and op.name.endswith("qk")
    return _proto_cost(dataclasses.replace(op, name="", layer=None, weight=""), hw.private_weights,
                       hw.head_batching, p, scores)


@lru_cache(maxsize=4096)
def _proto_cost(op: Op, private_weights: bool, head_batching: str, p: P.CryptenParams,
                scores: bool = False) -> P.ProtoCost:
    c = op.count
    if isinstance(op, Conv2d):
        g = op.gemm()
        groups, rows = op.groups, op.count * g.m
        if not private_weights:
            return P.matmul_public((groups * rows, g.k), (g.k, g.n), p)
        if groups == 1:
            return P.matmul((rows, g.k), (g.k, g.n), p)
        return P.matmul((groups, rows, g.k), (groups, g.k, g.n), p)
    if isinstance(op, MatMul):
        if op.static_weights:
            lin = P.matmul if private_weights else P.matmul_public
            return lin((c * op.m, op.k), (op.k, op.n), p)
        cost = P.matmul((c, op.m, op.k), (c, op.k, op.n), p)
        if scores:  # Q K^T * d^-0.5 (mpc_protocols.vit_layer)
            cost = cost + P.public_scale((c, op.m, op.n), p)
        if isinstance(op.head, tuple) and 0 not in op.head:
            # batched with the same matmul of the head group holding head 0 (one tensor of all heads)
            cost = dataclasses.replace(cost, rounds=0, offline_tuples=0)
        return cost
    if isinstance(op, Softmax):
        cost = P.attention(op.attention, (c, op.rows, op.length), p)
        if head_batching == "per_head":
            k = _heads_in(op)
            cost = dataclasses.replace(cost, rounds=cost.rounds * k, offline_tuples=cost.offline_tuples * k)
        return cost
    if isinstance(op, LayerNorm):
        return P.layernorm((c * op.rows, op.width), p)
    if isinstance(op, GELU):
        return GELU_COSTS[op.variant]((c, op.n), p)
    return FREE_ELTWISE[op.op]((c, op.n), p)


def times_s(cost: P.ProtoCost, hw: MpcConfig) -> tuple[float, float, float]:
    """(link, compute, offline) seconds of ``cost`` on ``hw`` (module docstring). The link term is
    ``mpc_protocols.latency_s`` with the counted bandwidth 2 x ``bandwidth_bytes_per_s``."""
    link = P.latency_s(dataclasses.replace(cost, local_ops=0), rtt_s=hw.rtt_s,
                       bandwidth_bytes_per_s=2 * hw.bandwidth_bytes_per_s)
    rate = hw.compute_flops_per_s
    compute = cost.local_ops / rate if rate else 0.0
    offline = (cost.offline_tuples * hw.rtt_s + cost.offline_bytes / hw.bandwidth_bytes_per_s
               + (cost.offline_macs / rate if rate else 0.0))
    return link, compute, offline


def _ticks(seconds: float) -> int:
    return math.ceil(seconds / TICK_S - 1e-6) if seconds > 0 else 0


class MpcBackend(BackendBase):
    """Counters per op (units in ``counter_units``): ``rounds`` (CrypTen's comm_rounds, per party),
    ``comm_bytes`` (bytes one party sends plus receives, CrypTen's count; party 0's with more than 2 parties), ``local_ops`` (local ring
    multiplies / MACs per party), ``offline_elements`` / ``offline_bytes`` (correlated randomness a dealer
    sends: CrypTen's TTP provider), ``offline_macs`` (dealer MACs building the tuples), ``offline_tuples``
    (tuple requests, one dealer round trip each) and ``offline_latency_s`` (the offline phase, s).
    Memory level ``link``: ``comm_bytes``."""
    kind = "mpc"
    config = MpcConfig
    op_types = (MatMul, Conv2d, Softmax, GELU, LayerNorm, Eltwise)
    has_clock = False
    has_energy = False
    memory_levels = ("link",)
    size_units = ()
    counter_units = COUNTERS
    static_component = "static"

    def supports(self, op: Op) -> bool:
        return isinstance(op, self.op_types) and unsupported_reason(op) is None

    def unsupported_reason(self, op: Op) -> str | None:
        return unsupported_reason(op)

    def tick_s(self, hw: MpcConfig) -> float:
        return TICK_S

    def _cost(self, op: Op, hw: MpcConfig, p) -> tuple[OpCost, int, int]:
        cost = proto_cost(op, hw, p)
        link_s, compute_s, offline_s = times_s(cost, hw)
        lt, ct = _ticks(link_s), _ticks(compute_s)
        unit = "link" if lt >= ct and lt > 0 else "compute"
        counters = {**dataclasses.asdict(cost), "offline_latency_s": offline_s}
        oc = OpCost(ticks=lt + ct, ideal_ticks=lt + ct, unit=unit, macs=op.macs,
                    busy_ticks={"link": lt, "compute": ct}, bytes_by_level={"link": cost.comm_bytes},
                    energy_pj=None, bound=unit, utilization=0.0, counters=counters)
        return oc, lt, ct

    def analytic_many(self, ops, hw: MpcConfig) -> list[OpCost]:
        p = hw.protocol_params()
        return [self._cost(op, hw, p)[0] for op in ops]

    def lower(self, op: Op, hw: MpcConfig):
        """Two tasks: the op's communication on ``link``, then its local compute on ``compute``."""
        cost, lt, ct = self._cost(op, hw, hw.protocol_params())
        block = make_block(("link", "compute"), [("link", lt, [PREV], "comm"), ("compute", ct, [0], "local")])
        return block, dataclasses.replace(cost, ticks=0)

    def static_power_w(self, hw: MpcConfig) -> None:
        return None

    def size(self, hw: MpcConfig) -> dict[str, float]:
        return {}


# ------------------------------------------------------------------ cross-checks (hwsim validate)

def crypten_record_cost(record: dict, p: P.CryptenParams = P.DEFAULT) -> P.ProtoCost:
    """The protocol-library call for one (op, params) record measured by ``benchmarks/crypten_reference.py``
    (the record's ``op`` names the CrypTen call, ``params`` its shapes; ``hwsim/data/reference/crypten_*``),
    with protocol parameters ``p`` (parties, the rank whose count to return, provider)."""
    op, prm = record["op"], record["params"]
    x = prm.get("x")
    if op == "vit_layer":
        return P.vit_layer(tokens=prm["tokens"], dim=prm["dim"], heads=prm["heads"], mlp_hidden=prm["mlp_hidden"],
                           kinds=[tuple(k) for k in prm["kinds"]], gelu=prm["gelu"],
                           private_weights=prm["weights"] == "private", p=p)
    if op == "attn_mixed":
        return P.attention_mixed(prm["kinds"], x[-1], p)
    if op.startswith("attn_"):
        return P.attention(op[len("attn_"):], x, p)
    calls = {"mul": lambda: P.mul(x, prm["y"], p), "matmul": lambda: P.matmul(x, prm["y"], p),
             "matmul_public": lambda: P.matmul_public(x, prm["y"], p), "square": lambda: P.square(x, p),
             "trunc_div": lambda: P.truncate(x, p), "public_scale": lambda: P.public_scale(x, p),
             "ltz": lambda: P.ltz(x, p), "ge0": lambda: P.compare(x, p), "relu": lambda: P.relu(x, p),
             "max_row": lambda: P.max_row(x, p), "exp": lambda: P.exp(x, p), "reciprocal": lambda: P.reciprocal(x, p),
             "reciprocal_pos": lambda: P.reciprocal(x, p, all_pos=True), "inv_sqrt": lambda: P.inv_sqrt(x, p),
             "erf": lambda: P.erf(x, p), "gelu_erf": lambda: P.gelu_erf(x, p), "gelu_quad": lambda: P.gelu_quad(x, p),
             "gelu_tanh_hardtanh": lambda: P.gelu_tanh_hardtanh(x, p), "layernorm": lambda: P.layernorm(x, p),
             "private_div": lambda: P.div_private(x, prm["y"], p), "softmax": lambda: P.softmax(x, p)}
    return calls[op]()


def party_counts(record: dict, parties: int):
    """(rank, (rounds, comm_bytes)) of every party in a record of ``benchmarks/crypten_reference.py``
    (party 0's keys are ``rounds``/``comm_bytes``, party i's ``rounds_party{i}``/``comm_bytes_party{i}``)."""
    yield 0, (record["rounds"], record["comm_bytes"])
    for rank in range(1, parties):
        yield rank, (record[f"rounds_party{rank}"], record[f"comm_bytes_party{rank}"])


def record_case(r: dict) -> str:
    """The case label of a record of ``benchmarks/crypten_reference.py`` (``hwsim validate``'s case, the tests' id)."""
    p = r["params"]
    tag = p.get("variant") or "x".join(map(str, p.get("x", [])))
    return f"{r['op']} {p.get('model', '')} {tag}".replace("  ", " ") + (f" y {p['y']}" if "y" in p else "")


#: Whole networks of ``crypten_reference_network.json``: its ``variant`` -> the workload it measured.
NETWORK_WORKLOADS = {"softmax": "mpcvit-cifar-softmax", "mpcformer": "mpcformer-cifar"}
#: MPCViT README latency table, CIFAR-10 (commit 27db5c4, l.123-138), ms per image.
MPCVIT_LATENCY_MS = {"mpcvit-cifar-softmax": 112.23, "mpcvit-cifar-relu-softmax": 71.82, "mpcvit-cifar-scaling": 44.63,
                     "mpcvit-cifar-mu0.7": 63.56, "mpcformer-cifar": 66.98}


def mpcvit_table_workload(name: str):
    """The workload of a :data:`MPCVIT_LATENCY_MS` row as MPCViT's table implies it: MPCFormer with 2Quad attention
    and the other networks' GELU (docs/mpc.md); its paper's Quad GELU is the zoo default."""
    from hwsim.workload import load_workload
    return load_workload(name, **({"gelu": "gelu"} if name == "mpcformer-cifar" else {}))


def register_checks() -> None:
    from hwsim.validation import Tally, check, reference_data

    @check("mpc/crypten-ops", reference="CrypTen 0.4.1's communicator, run here (crypten_reference*.json)",
           compares="online rounds and bytes per op, attention kind and ViT layer (2, 3 and 4 parties, every "
                    "party); offline tuples (TTP)")
    def crypten_ops():
        t = Tally()
        for r in reference_data("crypten_reference.json")["results"]:
            c = crypten_record_cost(r)
            t.exact(record_case(r), (c.rounds, c.comm_bytes), (r["rounds"], r["comm_bytes"]), "(rounds, bytes)")
        for r in reference_data("crypten_reference_ttp.json")["results"]:
            c = crypten_record_cost(r)
            t.exact("TTP " + record_case(r), (c.rounds, c.comm_bytes, c.offline_elements, c.offline_tuples),
                    (r["rounds_party1"], r["comm_bytes_party1"], r["ttp_elements"], r["ttp_requests"]),
                    "(rounds, bytes, offline elements, offline tuples)")
        for n in (3, 4):  # more parties: every party's own count (party 0 roots the truncation collectives)
            for r in reference_data(f"crypten_reference_{n}pc.json")["results"]:
                for rank, measured in party_counts(r, n):
                    c = crypten_record_cost(r, P.CryptenParams(parties=n, rank=rank))
                    t.exact(f"{n}PC party {rank} " + record_case(r), (c.rounds, c.comm_bytes), measured,
                            "(rounds, bytes)")
        for r in reference_data("crypten_reference_3pc_ttp.json")["results"]:  # parties 1, 2 never talk to the TTP
            for rank, measured in list(party_counts(r, 3))[1:]:
                c = crypten_record_cost(r, P.CryptenParams(parties=3, rank=rank, provider="TTP"))
                t.exact(f"3PC TTP party {rank} " + record_case(r), (c.rounds, c.comm_bytes, c.offline_elements,
                        c.offline_tuples), (*measured, r["ttp_elements"], r["ttp_requests"]),
                        "(rounds, bytes, offline elements, offline tuples)")
        return t.outcome()

    @check("mpc/crypten-networks", reference="CrypTen 0.4.1 whole CIFAR-10 ViTs (crypten_reference_network.json)",
           compares="rounds and bytes of whole networks through hwsim estimate")
    def crypten_networks():
        from hwsim.estimate import estimate
        from hwsim.hardware import load_hardware
        from hwsim.workload import load_workload
        t, lan = Tally(), load_hardware("mpc-2pc-lan")
        for r in reference_data("crypten_reference_network.json")["results"]:
            if r["params"]["heads_mode"] != "batched":
                continue
            name = NETWORK_WORKLOADS[r["params"]["variant"]]
            tot = estimate(load_workload(name), lan, "analytic").totals()
            t.exact(name, (tot["rounds"], tot["comm_bytes"]), (r["rounds"], r["comm_bytes"]), "(rounds, bytes)")
        return t.outcome()

    @check("mpc/mpcvit-latency", reference="MPCViT README latency table, CIFAR-10 (commit 27db5c4, l.123-138)",
           compares="latency ratios to the scaling-attention ViT on preset mpc-2pc-mpcvit-fit (tolerance 15 %)")
    def mpcvit_latency():
        from hwsim.estimate import estimate
        from hwsim.hardware import load_hardware
        hw, t, paper = load_hardware("mpc-2pc-mpcvit-fit"), Tally(), MPCVIT_LATENCY_MS
        lat = {m: estimate(mpcvit_table_workload(m), hw, "analytic").latency_s for m in paper}
        for m in paper:
            t.close(m, lat[m] / lat["mpcvit-cifar-scaling"], paper[m] / paper["mpcvit-cifar-scaling"], 0.15,
                    "latency / scaling ViT's")
        return t.outcome()
