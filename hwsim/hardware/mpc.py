"""MPC hardware config: parties running a secret-shared inference over a network (the ``mpc`` kind).

Field names are a user-visible contract (issue 15): ``parties``, ``protocol``, ``ring_bits``,
``frac_bits``, ``bandwidth_bytes_per_s``, ``rtt_s``, ``compute_flops_per_s``, ``private_weights``, plus
the parameters CrypTen's protocols need (approximation iterations, defaults from CrypTen 0.4.1
``crypten/config/default.yaml``) and how attention heads are executed (``head_batching``).
Costs come from :mod:`hwsim.backends.mpc_protocols`; see docs/mpc.md.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from hwsim.backends.mpc_protocols import PROVIDERS, CryptenParams
from hwsim.config import field
from hwsim.errors import ConfigError, HwsimError

PROTOCOLS = ("crypten",)
HEAD_BATCHING = ("per_kind", "per_head")


@dataclass(frozen=True, kw_only=True)
class MpcConfig:
    """Two (or more) parties computing on additive secret shares with CrypTen 0.4.1's protocols.

    Network: ``rtt_s`` is the cost of one communication round (a round trip; seconds), and
    ``bandwidth_bytes_per_s`` the link bandwidth **in each direction** (full duplex, bytes/s): an op
    whose CrypTen count is ``comm_bytes`` (bytes one party sends plus receives) occupies the link for
    ``comm_bytes / 2 / bandwidth_bytes_per_s``. ``compute_flops_per_s``: local share arithmetic, in
    ring operations per second (one 64-bit multiply or multiply-accumulate = one operation; CrypTen
    runs them in torch on the CPU); ``null`` leaves the compute term out (a communication-only model,
    as the MPCViT fit).

    Parties: CrypTen's ``world_size`` (>= 2). With more than two parties CrypTen truncates with its
    wraps protocol (a scatter and a gather rooted at party 0 per rescale) and converts to binary over N
    shares; the counts reported are party 0's, the busiest (docs/mpc.md section 2b). ``provider``: who
    makes the Beaver tuples (CrypTen ``cfg.mpc.provider``): ``TFP`` (trusted first party, CrypTen's
    default: no offline traffic; with N > 2 its truncation masks are scattered online) or ``TTP`` (a
    trusted third party: the ``offline_*`` counters are what it sends).

    Cross-field checks (one ConfigError, exit 2): a ring too small for the fixed point
    (``2 * frac_bits >= ring_bits``: a product of two fixed-point numbers must fit). ``parties`` < 2
    is refused by the field's range (one line).
    """
    kind: ClassVar[str] = "mpc"
    name: str = "mpc"
    parties: int = field(2, min=2, doc="computing parties (CrypTen's world_size)")
    protocol: str = field("crypten", choices=PROTOCOLS,
                          doc="protocol suite: CrypTen 0.4.1 (additive sharing, Beaver triples)")
    provider: str = field("TFP", choices=PROVIDERS,
                          doc="Beaver tuple provider (CrypTen cfg.mpc.provider): TFP = trusted first party "
                              "(default), TTP = trusted third party")
    ring_bits: int = field(64, choices=(8, 16, 32, 64, 128),
                           doc="share ring Z_2^ring_bits (CrypTen: torch.long, 64)")
    frac_bits: int = field(16, min=0, doc="fixed-point fractional bits (CrypTen encoder.precision_bits: 16)")
    bandwidth_bytes_per_s: float = field(positive=True, doc="link bandwidth in each direction, bytes/s")
    rtt_s: float = field(min=0.0, doc="one communication round (round trip), s")
    compute_flops_per_s: float | None = field(positive=True, doc="local ring ops (64-bit multiply/MAC) per "
                                              "second; null = no compute term (communication only)")
    private_weights: bool = field(True, doc="weights secret-shared (MPCFormer, MPCViT) or public (no communication)")
    head_batching: str = field("per_kind", choices=HEAD_BATCHING,
                               doc="per_kind: heads of one kind in one tensor (CrypTen batching, the issue's "
                                   "contract); per_head: each head's attention op on its own (MPCViT's loop)")
    exp_iterations: int = field(8, min=0, doc="exp: (1 + x/2^k)^(2^k) squarings (CrypTen default 8)")
    reciprocal_nr_iters: int = field(10, min=0, doc="reciprocal Newton-Raphson iterations (default 10)")
    reciprocal_all_pos: bool = field(False, doc="reciprocal skips the sign (CrypTen default false)")
    reciprocal_initial: str = field("exp", choices=("exp", "public"),
                                    doc="reciprocal initial guess: exp (CrypTen default) or a public constant")
    sqrt_nr_iters: int = field(3, min=0, doc="inverse sqrt Newton iterations (default 3)")
    erf_iterations: int = field(8, min=0, doc="erf Taylor terms (default 8)")
    max_method: str = field("log_reduction", choices=("log_reduction",), doc="row max (CrypTen default)")
    source: str = ""

    def __post_init__(self):
        problems = []
        if 2 * self.frac_bits >= self.ring_bits:
            problems.append(f"field 'frac_bits' = {self.frac_bits}: a fixed-point product needs "
                            f"2 * frac_bits < ring_bits ({self.ring_bits})")
        if problems:
            raise ConfigError(f"mpc hardware '{self.name}'", problems)

    def protocol_params(self):
        """The :class:`hwsim.backends.mpc_protocols.CryptenParams` of this config (counts of party 0).
        Raises HwsimError (one line) for values the library rejects."""
        try:
            return CryptenParams(
                parties=self.parties, rank=0, provider=self.provider, ring_bits=self.ring_bits,
                frac_bits=self.frac_bits, exp_iterations=self.exp_iterations,
                reciprocal_nr_iters=self.reciprocal_nr_iters, reciprocal_all_pos=self.reciprocal_all_pos,
                reciprocal_initial=self.reciprocal_initial, sqrt_nr_iters=self.sqrt_nr_iters,
                erf_iterations=self.erf_iterations, max_method=self.max_method)
        except HwsimError as e:
            raise HwsimError(f"mpc hardware '{self.name}': {e}") from None

    def describe(self) -> str:
        """One line for ``hwsim presets``."""
        return (f"{self.parties}PC {self.protocol} {self.provider}, RTT {self.rtt_s * 1e3:g} ms, "
                f"{self.bandwidth_bytes_per_s * 8 / 1e6:g} Mbit/s, "
                f"{'private' if self.private_weights else 'public'} weights")
