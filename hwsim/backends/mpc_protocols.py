"""Communication cost of secret-shared ViT ops, derived from CrypTen 0.4.1's source code.

Every function takes tensor shapes (tuples of ints) and a :class:`CryptenParams` (ring and fixed-point
sizes, approximation parameters; defaults are CrypTen 0.4.1's ``crypten/config/default.yaml``) and
returns a frozen :class:`ProtoCost`. The formulas follow the code path CrypTen runs with N >= 2 parties
(``CryptenParams.parties``, CrypTen's ``world_size``), its default trusted-first-party (TFP) tuple
provider (or the trusted third party, ``provider="TTP"``) and the Beaver protocol; each function names
the CrypTen file and function it mirrors (paths are inside the ``crypten`` 0.4.1 wheel). Nothing here is
fitted: ``tests/test_mpc_protocols.py`` checks every (op, shape) that ``benchmarks/crypten_reference.py``
measured with CrypTen's own communicator (2 parties: ``tests/data/crypten_reference*.json``; 3 and 4
parties: ``hwsim/data/reference/crypten_reference_{3,4}pc.json``) and requires exact equality of rounds
and bytes for every party.

What changes with more than two parties (CrypTen 0.4.1)
-------------------------------------------------------
1. Truncation. ``arithmetic.py`` ``div_`` (l.462-464) divides shares locally only when
   ``world_size == 2``; with more parties every fixed-point rescale (after a private multiply, square
   or matmul whose operands both carry the 2^16 scale, after a multiply by a public non-integer,
   ``mean``, ``div`` by a public integer) runs ``beaver.truncate`` (l.159-168): ``wraps`` (l.129-156)
   gets ``provider.wrap_rng`` (TFP: ``comm.scatter`` of N - 1 random shares from party 0,
   ``tfp_provider.py`` l.55-68; TTP: one request for ``theta_r``, ``ttp_provider.py`` l.84-99) then
   ``comm.gather(z, 0)`` (beaver.py l.149). A multiply by a 0/1 result of a comparison (scale 1) is not
   rescaled (``_arithmetic_function`` l.389-402), so ReLU's, ``where``'s and the max's multiplies cost
   no truncation. See :func:`truncate`.
2. A2B. ``converters.py`` ``_A2B`` (l.18-39) stacks N binary sharings and sums them with
   ``BinarySharedTensor.sum`` (binary.py l.339-362): a log-reduction of ``circuit.add``s over the
   party axis (:func:`_a2b`), ceil(log2 N) adders instead of one.
3. Equality. ``mpc.py`` ``eq`` (l.244-258) uses the 2-party P-circuit only for ``world_size == 2``;
   otherwise ``1 - ne``, and ``ne`` = ``_ltz`` of ``stack([d, -d])`` (2n elements, :func:`eq`).
4. Counting (``communicator.py`` ``_logging`` l.152-232): ``all_reduce`` logs 2n elements for every
   party whatever N; ``scatter`` / ``gather`` rooted at party 0 log (N - 1) n for party 0 and n for each
   other party. So with N > 2 party 0 counts more bytes than the others (same rounds);
   ``CryptenParams.rank`` selects whose count a function returns (default 0, the busiest).

Units and conventions
---------------------
- ``rounds``: communication calls one party makes (CrypTen's ``comm_rounds``: one per ``all_reduce``,
  ``scatter``, ``gather``, ...); sequential ops add their rounds. Every party makes the same calls.
- ``comm_bytes``: bytes party ``CryptenParams.rank`` sends plus receives, as CrypTen's communicator
  counts them (``crypten/communicator/communicator.py``, ``_logging``: an ``all_reduce`` of n ring
  elements logs ``2 * n * 8`` bytes for each party; a gather to party 0 of n elements logs
  ``(N - 1) * n * 8`` for party 0 and ``n * 8`` for the others). With two parties both log the same
  amount for every op here. Bytes on the wire in each direction are ``comm_bytes / 2`` for openings.
- ``local_ops``: ring multiplications (or multiply-accumulates, or 64-bit word ANDs) one party performs
  in the online phase, counted from the Beaver recombinations (``crypten/mpc/primitives/beaver.py``).
  Public ops (adds, public scalings, the public comparison masks) are not counted.
- ``offline_elements``: ring elements of correlated randomness the op consumes (Beaver triples'
  ``c``, squares' ``r^2``, binary triples' ``c``, B2A bits' ``r_A``). With CrypTen's default TFP
  provider (``crypten/mpc/provider/tfp_provider.py``) party 0 generates every tuple locally and both
  parties derive their shares from pairwise PRG seeds (``ArithmeticSharedTensor.PRZS``), so the offline
  phase sends nothing and takes no rounds; ``offline_elements`` is what a dealer must transmit instead
  when the tuples come from a trusted third party (``crypten/mpc/provider/ttp_provider.py``: the TTP
  ``broadcast``s exactly this tensor to party 0 per request, party 1 derives all of its share from a
  seed). ``offline_bytes`` = ``offline_elements * ring_bits / 8``.
- ``offline_macs``: ring multiply-accumulates the TFP dealer (party 0) performs to build the tuples
  (``c = op(a, b)`` for a triple: the op's MACs).
- ``offline_tuples``: tuple requests (triples, square pairs, binary triples, B2A pairs); CrypTen's TTP
  serves each with one request/response exchange with party 0 (``TTPClient.ttp_request``).

Heads and batching
------------------
CrypTen runs an op on a whole tensor in the rounds of one element: heads batched in one tensor (shape
``(H, N, N)``) cost the rounds of one head and H times its bytes. Heads of different kinds run one
kind after another (:func:`attention_mixed`): their rounds add. :func:`overlap` gives the rounds if a
scheduler interleaved independent ops (not what CrypTen does; offered for what-if studies).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from functools import reduce

from hwsim.errors import HwsimError

__all__ = [
    "CryptenParams", "PROVIDERS", "ProtoCost", "ZERO", "seq", "overlap", "latency_s", "numel",
    "mul", "matmul", "matmul_public", "square", "truncate", "public_scale", "public_op",
    "and_binary", "ltz", "compare", "eq", "relu", "sign", "rand_fixed", "weighted_index", "prod",
    "max_row", "pow_int", "exp", "reciprocal", "inv_sqrt", "erf", "softmax", "gelu_erf", "gelu_quad",
    "hardtanh", "gelu_tanh_hardtanh",
    "layernorm", "div_private", "attention", "attention_mixed", "ATTENTION_KINDS", "vit_layer",
]


# ------------------------------------------------------------------------------------------------
# Parameters and the cost record
# ------------------------------------------------------------------------------------------------
PROVIDERS = ("TFP", "TTP")  # crypten/config/default.yaml mpc.provider; crypten/mpc/provider/


@dataclass(frozen=True, kw_only=True)
class CryptenParams:
    """CrypTen's protocol parameters. Defaults: CrypTen 0.4.1 ``crypten/config/default.yaml``.

    ``ring_bits``: the share ring Z_(2^ring_bits); CrypTen uses torch.long, 64
    (``circuit.py``: ``__BITS = torch.iinfo(torch.long).bits``). ``frac_bits``: fixed-point fractional
    bits (``encoder.precision_bits: 16``). ``exp_iterations`` (8), ``reciprocal_nr_iters`` (10),
    ``reciprocal_all_pos`` (False), ``reciprocal_initial`` (``"exp"`` = CrypTen's default
    ``3 exp(1 - 2x) + 0.003``, or ``"public"`` = a public constant, as sigmoid uses),
    ``sqrt_nr_iters`` (3), ``erf_iterations`` (8), ``max_method`` (``"log_reduction"``), ``parties``
    (CrypTen's ``world_size``, 2), ``rank`` (whose communication count ``comm_bytes`` reports: 0 =
    party 0, which roots CrypTen's scatters and gathers; every other party counts the same as party 1),
    ``provider`` (``"TFP"``: CrypTen's default trusted first party, ``cfg.mpc.provider``; ``"TTP"``: a
    trusted third party; they differ online only for N > 2, where TFP scatters the truncation masks).

    Raises HwsimError (one line naming the field, value and what is allowed) for fewer than 2 parties,
    a rank outside the parties, an unknown provider, a ring that is not a power of two or cannot hold
    the product of two fixed-point numbers (ring_bits <= 2 * frac_bits), and negative iteration counts.
    """
    parties: int = 2
    rank: int = 0
    provider: str = "TFP"
    ring_bits: int = 64
    frac_bits: int = 16
    exp_iterations: int = 8
    reciprocal_nr_iters: int = 10
    reciprocal_all_pos: bool = False
    reciprocal_initial: str = "exp"
    sqrt_nr_iters: int = 3
    erf_iterations: int = 8
    max_method: str = "log_reduction"

    def __post_init__(self):
        problems = []
        if not (isinstance(self.parties, int) and not isinstance(self.parties, bool) and self.parties >= 2):
            problems.append(f"parties={self.parties!r}: secret sharing needs at least 2 parties; "
                            "allowed: integers >= 2")
        elif not (isinstance(self.rank, int) and 0 <= self.rank < self.parties):
            problems.append(f"rank={self.rank!r}: must name one of the {self.parties} parties (0 .. "
                            f"{self.parties - 1})")
        if self.provider not in PROVIDERS:
            problems.append(f"provider={self.provider!r}: allowed: {', '.join(PROVIDERS)} (CrypTen cfg.mpc.provider)")
        if not (isinstance(self.ring_bits, int) and self.ring_bits >= 8
                and self.ring_bits & (self.ring_bits - 1) == 0):
            problems.append(f"ring_bits={self.ring_bits!r}: must be a power of two >= 8 "
                            "(the comparison circuit has log2(ring_bits) levels)")
        elif not (isinstance(self.frac_bits, int) and 0 <= 2 * self.frac_bits < self.ring_bits):
            problems.append(f"frac_bits={self.frac_bits!r}: a product of two fixed-point numbers needs "
                            f"2 * frac_bits < ring_bits ({self.ring_bits})")
        for name in ("exp_iterations", "reciprocal_nr_iters", "sqrt_nr_iters", "erf_iterations"):
            v = getattr(self, name)
            if not (isinstance(v, int) and v >= 0):
                problems.append(f"{name}={v!r}: must be an integer >= 0")
        if self.reciprocal_initial not in ("exp", "public"):
            problems.append(f"reciprocal_initial={self.reciprocal_initial!r}: allowed: exp, public")
        if self.max_method != "log_reduction":
            problems.append(f"max_method={self.max_method!r}: only CrypTen's default is derived; "
                            "allowed: log_reduction")
        if problems:
            raise HwsimError("mpc protocol parameters: " + "; ".join(problems))

    @property
    def elem_bytes(self) -> int:
        """Bytes of one ring element as CrypTen's communicator counts it (BYTES_PER_ELEMENT = 8)."""
        return self.ring_bits // 8

    @property
    def circuit_depth(self) -> int:
        """Levels of CrypTen's Kogge-Stone-style SPK adder and of its equality P-circuit:
        ``__LOG_BITS = log2(64) = 6`` (crypten/mpc/primitives/circuit.py)."""
        return int(math.log2(self.ring_bits))


DEFAULT = CryptenParams()


@dataclass(frozen=True)
class ProtoCost:
    """Cost of one op for one party. Fields are documented in the module docstring."""
    rounds: int = 0
    comm_bytes: int = 0
    local_ops: int = 0
    offline_elements: int = 0
    offline_bytes: int = 0
    offline_macs: int = 0
    offline_tuples: int = 0

    def __add__(self, other: "ProtoCost") -> "ProtoCost":
        """Sequential composition: everything adds."""
        return ProtoCost(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    def times(self, k: int) -> "ProtoCost":
        """The op run k times one after another."""
        return ProtoCost(*(getattr(self, f.name) * k for f in fields(self)))


ZERO = ProtoCost()


def seq(*costs: ProtoCost) -> ProtoCost:
    """Ops run one after another (how CrypTen runs a Python program): rounds and bytes add."""
    return reduce(lambda a, b: a + b, costs, ZERO)


def overlap(*costs: ProtoCost) -> ProtoCost:
    """Independent ops whose messages a scheduler sends together: rounds are the maximum, everything
    else adds. CrypTen itself does not do this across Python statements (use :func:`seq`)."""
    total = seq(*costs)
    return ProtoCost(max((c.rounds for c in costs), default=0), *(
        getattr(total, f.name) for f in fields(ProtoCost)[1:]))


def latency_s(cost: ProtoCost, *, rtt_s: float, bandwidth_bytes_per_s: float,
              local_ops_per_s: float = math.inf) -> float:
    """Online latency of ``cost`` on a network: ``rounds * rtt_s + comm_bytes / bandwidth_bytes_per_s
    + local_ops / local_ops_per_s`` (the issue's model; ``comm_bytes`` is CrypTen's per-party count, sent
    plus received, so ``bandwidth_bytes_per_s`` is in the same unit: a full-duplex link of B bytes/s each
    way moves 2B counted bytes per second). Raises HwsimError for a negative RTT or a non-positive rate."""
    if not rtt_s >= 0:
        raise HwsimError(f"mpc latency: rtt_s={rtt_s!r}: must be >= 0 seconds")
    for name, v in (("bandwidth_bytes_per_s", bandwidth_bytes_per_s), ("local_ops_per_s", local_ops_per_s)):
        if not v > 0:
            raise HwsimError(f"mpc latency: {name}={v!r}: must be > 0")
    return cost.rounds * rtt_s + cost.comm_bytes / bandwidth_bytes_per_s + cost.local_ops / local_ops_per_s


def numel(shape) -> int:
    """Number of elements of a shape (``()`` is a scalar)."""
    return math.prod(_shape(shape))


def _shape(shape) -> tuple[int, ...]:
    try:
        s = tuple(int(d) for d in shape)
    except TypeError as e:
        raise HwsimError(f"mpc protocol: shape {shape!r} is not a sequence of integers") from e
    if any(d <= 0 for d in s):
        raise HwsimError(f"mpc protocol: shape {shape!r} has a non-positive dimension; allowed: sizes >= 1")
    return s


def _row_shape(shape) -> tuple[int, ...]:
    """Shape of a keepdim reduction along the last dimension."""
    return _shape(shape)[:-1] + (1,)


def _rows(shape) -> tuple[int, int]:
    """(rows, row length) of a tensor reduced along its last dimension."""
    s = _shape(shape)
    if not s:
        raise HwsimError("mpc protocol: a row reduction needs a tensor of at least one dimension")
    return math.prod(s[:-1]), s[-1]


# ------------------------------------------------------------------------------------------------
# Arithmetic primitives (crypten/mpc/primitives/arithmetic.py, beaver.py)
# ------------------------------------------------------------------------------------------------
def _reveal(n_elements: int, p: CryptenParams) -> ProtoCost:
    """One batched opening of n ring elements: ``comm.all_reduce`` (communicator.py ``_logging``:
    ``2 * nelement`` elements for each party, one round)."""
    return ProtoCost(rounds=1, comm_bytes=2 * n_elements * p.elem_bytes)


def _rooted(n_elements: int, p: CryptenParams) -> ProtoCost:
    """One ``scatter`` from or ``gather`` to party 0 of n elements per party (communicator.py
    ``_logging``: scatter l.185-190 and 226-227, gather l.201-210): one round; party 0 logs (N - 1) n
    elements, every other party n."""
    per_party = (p.parties - 1) * n_elements if p.rank == 0 else n_elements
    return ProtoCost(rounds=1, comm_bytes=per_party * p.elem_bytes)


def _triple(n_c: int, macs: int, p: CryptenParams) -> ProtoCost:
    return ProtoCost(offline_elements=n_c, offline_bytes=n_c * p.elem_bytes, offline_macs=macs,
                     offline_tuples=1)


def mul(x_shape, y_shape, p: CryptenParams = DEFAULT, *, rescale: bool = True) -> ProtoCost:
    """Private x private element-wise multiply (broadcasting), then truncation.

    beaver.py ``__beaver_protocol("mul")``: a triple of the operands' own sizes (not the broadcast
    size), one ``reveal_batch([x - a, y - b])`` = one round of 2 (|x| + |y|) elements per party; the
    result is ``c + eps*b + a*delta + eps*delta`` (3 products of the output size). The fixed-point
    rescale is :func:`truncate` of the output (local with two parties); ``rescale=False`` when one
    operand is a comparison result of scale 1 (arithmetic.py ``_arithmetic_function`` l.389-402:
    ``div_`` only when both encoder scales exceed 1), as in ReLU, ``where`` and the max.
    """
    nx, ny = numel(x_shape), numel(y_shape)
    nz = numel(_broadcast(x_shape, y_shape))
    cost = _reveal(nx + ny, p) + ProtoCost(local_ops=3 * nz) + _triple(nz, nz, p)
    return cost + truncate((nz,), p) if rescale else cost


def _broadcast(a, b) -> tuple[int, ...]:
    a, b = _shape(a), _shape(b)
    n = max(len(a), len(b))
    a, b = (1,) * (n - len(a)) + a, (1,) * (n - len(b)) + b
    out = []
    for da, db in zip(a, b):
        if da != db and 1 not in (da, db):
            raise HwsimError(f"mpc protocol: shapes {a} and {b} do not broadcast")
        out.append(max(da, db))
    return tuple(out)


def matmul(x_shape, y_shape, p: CryptenParams = DEFAULT) -> ProtoCost:
    """Private x private (batched) matmul ``(..., M, K) @ (..., K, N)``.

    beaver.py ``__beaver_protocol("matmul")``: one round opening |x| + |y| elements; three local
    matmuls (eps@b, a@delta, eps@delta) of the op's MACs; the TFP dealer computes ``c = a @ b``; then
    :func:`truncate` of the output (local with two parties). Heads batched on the leading dims share
    these rounds.
    """
    x, y = _shape(x_shape), _shape(y_shape)
    if len(x) < 2 or len(y) < 2 or x[-1] != y[-2]:
        raise HwsimError(f"mpc protocol: matmul shapes {x} @ {y} do not agree (need (..., M, K) @ (..., K, N))")
    batch = _broadcast(x[:-2] or (1,), y[:-2] or (1,))
    m, k, n = x[-2], x[-1], y[-1]
    macs = math.prod(batch) * m * k * n
    out = math.prod(batch) * m * n
    return (_reveal(numel(x) + numel(y), p) + ProtoCost(local_ops=3 * macs) + _triple(out, macs, p)
            + truncate((out,), p))


def matmul_public(x_shape, w_shape, p: CryptenParams = DEFAULT) -> ProtoCost:
    """Private activations times public weights: local ``torch.matmul`` on the share, then
    :func:`truncate` of the output (arithmetic.py ``_arithmetic_function`` public branch): no
    communication with two parties."""
    x, w = _shape(x_shape), _shape(w_shape)
    if len(x) < 1 or len(w) < 2 or x[-1] != w[-2]:
        raise HwsimError(f"mpc protocol: matmul shapes {x} @ {w} do not agree")
    return ProtoCost(local_ops=numel(x) * w[-1]) + truncate((numel(x) // x[-1] * w[-1],), p)


def square(shape, p: CryptenParams = DEFAULT) -> ProtoCost:
    """``x.square()``: beaver.py ``square``: open ``x - r`` (one round, |x| elements), result
    ``r2 + 2 r eps + eps^2`` (2 products per element); a square pair (r, r^2) offline; then
    :func:`truncate` (arithmetic.py ``square_`` l.597-600)."""
    n = numel(shape)
    return _reveal(n, p) + ProtoCost(local_ops=2 * n) + _triple(n, n, p) + truncate(shape, p)


def truncate(shape, p: CryptenParams = DEFAULT) -> ProtoCost:
    """Division by a public integer / fixed-point rescale: arithmetic.py ``div_`` (l.446-482).

    Two parties: each party divides its own share (``share.div_(y, rounding_mode="trunc")``,
    SecureML-style local truncation): free. N > 2 parties: beaver.py ``truncate`` (l.159-168) ->
    ``wraps`` (l.129-156): the provider's ``wrap_rng`` (TFP: ``comm.scatter`` of the parties' shares of
    a random r from party 0, tfp_provider.py l.55-68, 1 round; TTP: a ``wraps`` request to the third
    party, offline) and ``comm.gather(x + r, 0)`` (beaver.py l.149, 1 round). Party 0 logs (N - 1) n
    elements per collective, the others n (:func:`_rooted`). Offline (what a TTP sends): theta_r, n
    elements. Default 3 parties, TFP: 2 rounds, party 0 32 n bytes, the others 16 n."""
    n = numel(shape)
    if p.parties == 2:
        return ZERO
    gather = _rooted(n, p) + ProtoCost(local_ops=n) + _triple(n, 0, p)
    return gather + _rooted(n, p) if p.provider == "TFP" else gather


def public_scale(shape, p: CryptenParams = DEFAULT) -> ProtoCost:
    """Multiply by a public non-integer (``x * 0.125``, ``x.div(sqrt 2)``) or divide by a public
    integer (``x.div(N)``, ``mean``): local arithmetic then one :func:`truncate` (arithmetic.py
    ``_arithmetic_function`` public branch l.361-372, rescale l.391-395, ``div_`` l.446-482). Free with
    two parties. (A multiply by a Python int is exact and never truncates: ``mul`` l.422-428.)"""
    return truncate(shape, p)


def public_op(shape, p: CryptenParams = DEFAULT) -> ProtoCost:
    """Add/subtract of private or public values, multiply by a public integer, reshape, slice, cat,
    sum along a dimension: local for any number of parties (arithmetic.py)."""
    _shape(shape)
    return ZERO


# ------------------------------------------------------------------------------------------------
# Binary circuits and comparisons (circuit.py, converters.py, binary.py, mpc.py)
# ------------------------------------------------------------------------------------------------
def and_binary(n_x: int, n_y: int, p: CryptenParams = DEFAULT) -> ProtoCost:
    """AND of two binary-shared tensors: beaver.py ``AND``: one ``reveal_batch([x ^ a, y ^ b])``
    round; ``BinarySharedTensor.__and__`` broadcasts both operands first, so pass broadcast sizes.
    3 word ANDs per output element; a binary triple offline."""
    nz = max(n_x, n_y)
    return _reveal(n_x + n_y, p) + ProtoCost(local_ops=3 * nz) + _triple(nz, nz, p)


def _binary_add(n: int, p: CryptenParams) -> ProtoCost:
    """circuit.py ``add`` (l.125-130) of two binary-shared tensors of n elements: ``S = x & y`` (1 round,
    n and n) then ``__SPK_circuit`` (l.50-87) on ``SP = stack([S, P])``: log2(ring_bits) levels, each
    ``P0 & S1P1`` with P0 broadcast to 2n: (2n, 2n) elements."""
    return and_binary(n, n, p) + and_binary(2 * n, 2 * n, p).times(p.circuit_depth)


def _a2b(n: int, p: CryptenParams) -> ProtoCost:
    """converters.py ``_A2B`` (l.18-39): each party's arithmetic share becomes a binary sharing
    (``BinarySharedTensor(share, src=i)``: PRZS, no communication), stacked on a party axis of N, then
    ``sum(dim=0)`` (binary.py ``sum`` l.339-362): while the axis has s > 1 entries, an odd one is set
    aside and the two halves of s // 2 entries are added with one :func:`_binary_add` of
    (s // 2) n elements. Two parties: one adder on n; three: two adders on n; four: 2n then n."""
    cost, s = ZERO, p.parties
    while s > 1:
        half = s // 2
        cost = cost + _binary_add(half * n, p)
        s = half + s % 2
    return cost


def _b2a_bits(n_bits: int, p: CryptenParams) -> ProtoCost:
    """beaver.py ``B2A_single_bit`` on n_bits bits: open ``xB ^ rB`` (one round); offline a B2A pair
    (TFP ``B2A_rng``; the TTP sends r_A)."""
    return _reveal(n_bits, p) + ProtoCost(local_ops=n_bits) + _triple(n_bits, 0, p)


def ltz(shape, p: CryptenParams = DEFAULT) -> ProtoCost:
    """``x._ltz()`` (mpc.py): A2B, shift out the sign bit (local), B2A of one bit per element.
    Default: 1 + 6 + 1 = 8 rounds and (32 + 6*64 + 16) n = 432 n bytes per party."""
    n = numel(shape)
    return _a2b(n, p) + _b2a_bits(n, p)


def compare(shape, p: CryptenParams = DEFAULT) -> ProtoCost:
    """``x < y``, ``x >= y``, ``x > y``, ``x <= y`` on broadcast ``shape`` (logic.py ``lt``/``ge``/...):
    one ``_ltz`` of the difference; the ``1 - ...`` is local."""
    return ltz(shape, p)


def sign(shape, p: CryptenParams = DEFAULT) -> ProtoCost:
    """logic.py ``sign``: ``1 - 2 * x._ltz()``."""
    return ltz(shape, p)


def eq(shape, p: CryptenParams = DEFAULT) -> ProtoCost:
    """``x == y``. Two parties: mpc.py ``_eqz_2PC`` (l.260-274): the two arithmetic shares become binary
    sharings (no communication), circuit.py ``eq``: ``__P_circuit`` = log2(ring_bits) ANDs of (n, n),
    then B2A of one bit; default 7 rounds, 208 n bytes. N > 2 parties: mpc.py ``eq`` (l.244-250)
    returns ``1 - ne``; ``ne`` (l.252-258) is one :func:`ltz` of ``stack([d, -d])`` (2n elements)."""
    n = numel(shape)
    if p.parties > 2:
        return ltz((2 * n,), p)
    return and_binary(n, n, p).times(p.circuit_depth) + _b2a_bits(n, p)


def relu(shape, p: CryptenParams = DEFAULT) -> ProtoCost:
    """logic.py ``relu``: ``x * x.ge(0)``: a comparison then a private multiply by the 0/1 result,
    which is not rescaled. Default (2 parties) 9 rounds."""
    return compare(shape, p) + mul(shape, shape, p, rescale=False)


def rand_fixed(shape, p: CryptenParams = DEFAULT) -> ProtoCost:
    """``crypten.rand`` (mpc.py ``MPCTensor.rand``): ``BinarySharedTensor.rand(bits=frac_bits)`` (local
    PRG) converted with converters.py ``_B2A(bits=frac_bits)``: B2A of frac_bits bits per element
    stacked in one round."""
    return _b2a_bits(p.frac_bits * numel(shape), p)


def weighted_index(shape, p: CryptenParams = DEFAULT) -> ProtoCost:
    """sampling.py ``weighted_index(dim=-1)`` (tie-breaking inside argmax): cumsum (local),
    ``crypten.rand(rows) * max_weight`` (:func:`rand_fixed`, then a private multiply of rows x rows),
    ``x.gt(r)`` on the whole tensor. Default 1 + 1 + 8 = 10 rounds. The multiply's right operand is a
    sum of 0/1 values (scale 1): no truncation."""
    row_shape = _row_shape(shape)
    return rand_fixed(row_shape, p) + mul(row_shape, row_shape, p, rescale=False) + compare(shape, p)


def prod(count: int, inner: int, p: CryptenParams = DEFAULT) -> ProtoCost:
    """regular.py ``prod(dim=0)`` over ``count`` tensors of ``inner`` elements: halve, multiply the
    halves, keep the odd one: ceil(log2(count)) rounds of private multiplies (of 0/1 comparison
    results in the max: scale 1, no truncation)."""
    cost, s = ZERO, count
    while s > 1:
        half = (s // 2) * inner
        cost = cost + mul((half,), (half,), p, rescale=False)
        s = s // 2 + s % 2
    return cost


def _argmax_pairwise(rows: int, length: int, p: CryptenParams) -> ProtoCost:
    """maximum.py ``max(dim)`` with ``max_method = "pairwise"`` (as ``_max_helper_log_reduction``
    calls it on the reduced tensor): ``_argmax_helper_pairwise``: compare each element with the
    ``row_length - 1`` cyclic rolls of its row (``a.ge(b)`` on (row_length - 1) x rows x length
    elements), AND them with ``prod(0)`` (or, when row_length - 1 >= 128, ``sum(0).ge(row_length - 1)``),
    break ties with ``weighted_index``, then ``max = (x * one_hot).sum(dim)``."""
    row_length = length if length > 1 else 2
    inner = rows * length
    cost = compare(((row_length - 1) * inner,), p)
    if row_length - 1 < 2 * 64:  # maximum.py: torch.iinfo(torch.long).bits * 2
        cost = cost + prod(row_length - 1, inner, p)
    else:
        cost = cost + compare((inner,), p)
    cost = cost + weighted_index((rows, length), p)
    return cost + mul((inner,), (inner,), p, rescale=False)


def max_row(shape, p: CryptenParams = DEFAULT) -> ProtoCost:
    """``x.max(dim=-1)`` with CrypTen's default ``log_reduction`` (maximum.py ``max`` ->
    ``_argmax_helper`` -> ``_argmax_helper_all_tree_reductions``):

    1. ``_max_helper_log_reduction``: ``int(ln m)`` (natural log) halving steps, each a comparison
       ``x >= y`` of the two halves and ``crypten.where`` (two private multiplies, two rounds), the odd
       element carried; then :func:`_argmax_pairwise` on the reduced rows;
    2. the one-hot argmax over the full rows ``x.eq(max)`` (:func:`eq`) and its ``weighted_index``;
       CrypTen computes this even when only the values are used (as ``softmax`` does).

    Rounds depend only on the row length m: 36 (m <= 2), 46 (m = 3), 78 (m = 65), 89 (m = 257).
    """
    rows, m = _rows(shape)
    cost, length = ZERO, m
    for _ in range(int(math.log(m))):
        half = length // 2
        pair = (rows * half,)
        # crypten.where(x >= y, x, y) = x * c + (1 - c) * y (logic.py where): c has scale 1
        cost = cost + compare(pair, p) + mul(pair, pair, p, rescale=False).times(2)
        length = half + length % 2
    cost = cost + _argmax_pairwise(rows, length, p)
    return cost + eq((rows, m), p) + weighted_index((rows, m), p)


# ------------------------------------------------------------------------------------------------
# Approximations (crypten/common/functions/approximations.py, power.py)
# ------------------------------------------------------------------------------------------------
def pow_int(shape, power: int, p: CryptenParams = DEFAULT) -> ProtoCost:
    """power.py ``pow`` for an integer power >= 0, exactly as written: p == 2 -> square; even ->
    ``square().pow(p // 2)``; odd -> ``square().mul_(x).pow((p - 1) // 2)``. (For odd p >= 5 this
    computes x^(3 (p-1)/2) rather than x^p; the cost follows the code.)"""
    if not isinstance(power, int) or power < 0:
        raise HwsimError(f"mpc protocol: pow exponent {power!r}: allowed: integers >= 0")
    if power <= 1:
        return ZERO
    if power == 2:
        return square(shape, p)
    if power % 2 == 0:
        return square(shape, p) + pow_int(shape, power // 2, p)
    return square(shape, p) + mul(shape, shape, p) + pow_int(shape, (power - 1) // 2, p)


def exp(shape, p: CryptenParams = DEFAULT) -> ProtoCost:
    """approximations.py ``exp`` (l.47-52): ``1 + x.div(2^k)`` (:func:`public_scale`) then k =
    exp_iterations squarings (2 parties: 8 rounds, 8 x 16 n bytes)."""
    return public_scale(shape, p) + square(shape, p).times(p.exp_iterations)


def reciprocal(shape, p: CryptenParams = DEFAULT, *, all_pos: bool | None = None) -> ProtoCost:
    """approximations.py ``reciprocal`` (method "NR"):

    - unless ``all_pos`` (default False): ``sgn = x.sign()`` (:func:`sign`), ``pos = sgn * x``,
      the positive reciprocal, ``sgn * result`` (two private multiplies);
    - initial guess ``3 exp(1 - 2x) + 0.003`` (:func:`exp`) unless ``reciprocal_initial == "public"``;
    - reciprocal_nr_iters iterations of ``result += result - result.square().mul_(x)``: a square and a
      multiply each (with a public initial guess the first iteration is public arithmetic).

    Defaults: all_pos 8 + 20 = 28 rounds, 608 n bytes; signed 38 rounds, 1104 n bytes.
    """
    all_pos = p.reciprocal_all_pos if all_pos is None else all_pos
    cost = ZERO
    if not all_pos:  # sgn = 1 - 2 x._ltz() has scale 1: sgn * x and sgn * result are not rescaled
        cost = sign(shape, p) + mul(shape, shape, p, rescale=False)
    iters = p.reciprocal_nr_iters
    if p.reciprocal_initial == "exp":
        cost = cost + exp(shape, p)
    elif iters > 0:
        iters -= 1  # first iteration on a public float: 2 * r - (r * r) * x, a public multiply
        cost = cost + public_scale(shape, p)
    cost = cost + (square(shape, p) + mul(shape, shape, p)).times(iters)
    if not all_pos:
        cost = cost + mul(shape, shape, p, rescale=False)
    return cost


def inv_sqrt(shape, p: CryptenParams = DEFAULT) -> ProtoCost:
    """approximations.py ``inv_sqrt`` (l.191-204): initial ``2.2 exp(-(x/2 + 0.2)) + 0.2 - x/1024``
    (:func:`exp`; ``div(2)``, ``mul(2.2)`` and ``div(1024)`` are public scalings), then sqrt_nr_iters
    iterations of ``y = y.mul_(3 - x * y.square()).div_(2)``: a square, two multiplies and a public
    division each. 2 parties: 8 + 9 = 17 rounds, 368 n bytes."""
    iteration = square(shape, p) + mul(shape, shape, p).times(2) + public_scale(shape, p)
    return public_scale(shape, p).times(3) + exp(shape, p) + iteration.times(p.sqrt_nr_iters)


def erf(shape, p: CryptenParams = DEFAULT) -> ProtoCost:
    """approximations.py ``erf`` (l.395-405): Taylor series ``x + sum_{k=1}^{erf_iterations} c_k
    x.pos_pow(2k+1)``, each power computed on its own by :func:`pow_int` (power.py ``pos_pow`` ->
    ``pow``), one after another, each times the public c_k, and the sum times 2/sqrt(pi) (public
    scalings). 2 parties: 34 rounds, 752 n bytes."""
    terms = seq(*(pow_int(shape, 2 * k + 1, p) + public_scale(shape, p)
                  for k in range(1, p.erf_iterations + 1)))
    return terms + public_scale(shape, p)


def softmax(shape, p: CryptenParams = DEFAULT) -> ProtoCost:
    """approximations.py ``softmax(dim=-1)``: row max (:func:`max_row`), ``exp(x - max)``, reciprocal
    of the row sums with ``reciprocal_all_pos = True``, one multiply of (n, rows) elements. A row of
    length 1 returns ones at no cost."""
    _, m = _rows(shape)
    if m == 1:
        return ZERO
    row_shape = _row_shape(shape)
    return (max_row(shape, p) + exp(shape, p) + reciprocal(row_shape, p, all_pos=True)
            + mul(shape, row_shape, p))


def gelu_erf(shape, p: CryptenParams = DEFAULT) -> ProtoCost:
    """GELU in erf form, ``x * (1 + erf(x / sqrt 2)) / 2`` (CrypTen has no GELU; the issue's contract):
    :func:`erf` plus one private multiply; ``/ sqrt 2`` and ``/ 2`` are public scalings."""
    return public_scale(shape, p) + erf(shape, p) + mul(shape, shape, p) + public_scale(shape, p)


def gelu_quad(shape, p: CryptenParams = DEFAULT) -> ProtoCost:
    """MPCFormer's Quad, ``0.125 x^2 + 0.25 x + 0.5`` (MPCFormer src/main/transformer/modeling.py:139-140):
    one :func:`square` and two public scalings (0.125, 0.25). (MPCFormer's CrypTen benchmark,
    src/benchmark/utils.py:93, writes ``0.125 * x * x``: a private multiply, same round, twice the
    bytes.)"""
    return square(shape, p) + public_scale(shape, p).times(2)


def hardtanh(shape, p: CryptenParams = DEFAULT) -> ProtoCost:
    """logic.py ``hardtanh``: ``crypten.stack([x - min, x - max]).relu()``: one :func:`relu` on twice
    the elements (the rest is local)."""
    return relu((2,) + _shape(shape), p)


def gelu_tanh_hardtanh(shape, p: CryptenParams = DEFAULT) -> ProtoCost:
    """The "newGeLU" of MPCFormer's CrypTen benchmark (src/benchmark/utils.py:65-81):
    ``0.5 x (1 + hardtanh(sqrt(2/pi) (x + 0.044715 x^3)))``: ``x.pow(3)`` (:func:`pow_int`), a
    :func:`hardtanh` standing in for tanh, one private multiply; ``0.5 *``, ``0.044715 *`` and
    ``sqrt(2/pi) *`` are public scalings. 2 parties: 2 + 9 + 1 = 12 rounds."""
    return (public_scale(shape, p).times(3) + pow_int(shape, 3, p) + hardtanh(shape, p)
            + mul(shape, shape, p))


def layernorm(shape, p: CryptenParams = DEFAULT) -> ProtoCost:
    """LayerNorm over the last dimension as the issue composes it: the row mean (``mean``: a sum and a
    public division, :func:`public_scale` of the rows), one :func:`square` of the centred values, its
    row mean, :func:`inv_sqrt` of (variance + eps) per row, one multiply (n, rows); the affine
    parameters are folded into the next linear layer. 2 parties: 19 rounds."""
    row_shape = _row_shape(shape)
    return (public_scale(row_shape, p) + square(shape, p) + public_scale(row_shape, p)
            + inv_sqrt(row_shape, p) + mul(shape, row_shape, p))


def div_private(x_shape, y_shape, p: CryptenParams = DEFAULT) -> ProtoCost:
    """``x / y`` with both private: mpc.py ``div``: ``x.mul(y.reciprocal())`` with the default
    (signed) :func:`reciprocal`."""
    return reciprocal(y_shape, p) + mul(x_shape, y_shape, p)


# ------------------------------------------------------------------------------------------------
# Attention kinds and a ViT layer
# ------------------------------------------------------------------------------------------------
def _attn_softmax(shape, p):
    return softmax(shape, p)


def _attn_relu_softmax(shape, p):
    """relu(x) / (relu(x).sum(-1) + 1e-5) (MPCViT src/utils/transformers.py:121; the eps is public)."""
    return relu(shape, p) + div_private(shape, _row_shape(shape), p)


def _attn_2quad(shape, p):
    """(x + c)^2 / its row sum (MPCFormer modeling.py:155-159, c = 5): a square then private division."""
    return square(shape, p) + div_private(shape, _row_shape(shape), p)


def _attn_scaling(shape, p):
    """x / N with N public (MPCViT src/utils/transformers.py:123): one :func:`public_scale`
    (local with two parties)."""
    return public_scale(shape, p)


ATTENTION_KINDS = {
    "softmax": _attn_softmax,
    "relu_softmax": _attn_relu_softmax,
    "2quad": _attn_2quad,
    "scaling": _attn_scaling,
}


def attention(kind: str, scores_shape, p: CryptenParams = DEFAULT) -> ProtoCost:
    """Attention-probability op of ``kind`` on scores of shape ``(H, N, N)`` (all H heads of this kind
    batched in one tensor: the rounds of one head, H times the bytes). Kinds: softmax,
    relu_softmax, 2quad, scaling. Raises HwsimError for an unknown kind."""
    try:
        fn = ATTENTION_KINDS[kind]
    except KeyError:
        raise HwsimError(f"mpc protocol: unknown attention kind {kind!r}; available: "
                         + ", ".join(ATTENTION_KINDS)) from None
    return fn(_shape(scores_shape), p)


def attention_mixed(kinds, tokens: int, p: CryptenParams = DEFAULT) -> ProtoCost:
    """Heterogeneous heads (MPCViT): ``kinds`` is a sequence of (kind, head count); the heads of each
    kind are batched in one tensor ``(count, tokens, tokens)`` and the kinds run one after another,
    so rounds add over kinds (not over heads)."""
    return seq(*(attention(k, (c, tokens, tokens), p) for k, c in kinds if c))


def vit_layer(*, tokens: int, dim: int, heads: int, mlp_hidden: int, kinds, gelu: str = "erf",
              private_weights: bool = True, p: CryptenParams = DEFAULT) -> ProtoCost:
    """One MPCViT encoder layer (MPCViT src/utils/transformers.py:245-260, ``Attention.forward`` 85-165):
    ``x = x + proj(attn(LN(x))); x = LN(x); x = x + fc2(gelu(fc1(x)))``, heads batched per kind.
    With ``private_weights`` the four weight matmuls are Beaver matmuls; otherwise they are local
    (:func:`matmul_public`). Q K^T and A V are always private x private; the scores are scaled by the
    public d^-0.5 (:func:`public_scale`). Bias adds and residuals are local. ``gelu``: "erf" or
    "quad". Returns the sequential sum (CrypTen's execution order)."""
    if dim % heads:
        raise HwsimError(f"mpc protocol: dim {dim} is not divisible by heads {heads}")
    if sum(c for _, c in kinds) != heads:
        raise HwsimError(f"mpc protocol: attention kinds {list(kinds)} do not cover {heads} heads")
    if gelu not in ("erf", "quad"):
        raise HwsimError(f"mpc protocol: gelu {gelu!r}; allowed: erf, quad")
    d = dim // heads
    lin = matmul if private_weights else matmul_public
    act = gelu_erf if gelu == "erf" else gelu_quad
    return seq(
        layernorm((tokens, dim), p),
        lin((tokens, dim), (dim, 3 * dim), p),
        matmul((heads, tokens, d), (heads, d, tokens), p),
        public_scale((heads, tokens, tokens), p),
        attention_mixed(kinds, tokens, p),
        matmul((heads, tokens, tokens), (heads, tokens, d), p),
        lin((tokens, dim), (dim, dim), p),
        layernorm((tokens, dim), p),
        lin((tokens, dim), (dim, mlp_hidden), p),
        act((tokens, mlp_hidden), p),
        lin((tokens, mlp_hidden), (mlp_hidden, dim), p),
    )
