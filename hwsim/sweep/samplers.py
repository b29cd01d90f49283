"""Samplers: point ids -> axis value indices, chunk by chunk.

Every design point has an integer id in ``[0, spec.points)``, its index in the sampler's sequence. A
point's axis values are a pure function of (spec, id) -- counter-based hashing for ``random``, a keyed
Feistel permutation for ``lhs``, mixed radix for ``grid`` -- so any id range can be generated on its own
(no sample is ever materialised).
"""
from __future__ import annotations

import numpy as np

_M64 = (1 << 64) - 1


def _mix_int(x: int) -> int:
    """splitmix64 finaliser on a Python int."""
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser on a uint64 array (a bijection; wraps modulo 2^64)."""
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _key(seed: int, *salt: int) -> int:
    k = _mix_int(seed)
    for s in salt:
        k = _mix_int(k ^ s)
    return k


def _permute(ids: np.ndarray, n: int, key: int) -> np.ndarray:
    """A keyed pseudo-random permutation of [0, n) applied to ``ids``: a 4-round Feistel network on
    the smallest even-bit domain >= n, with cycle walking back into range."""
    if n == 1:
        return np.zeros_like(ids)
    bits = max(2, (n - 1).bit_length())
    bits += bits % 2
    half, mask = np.uint64(bits // 2), np.uint64((1 << (bits // 2)) - 1)
    rounds = [np.uint64(_key(key, r)) for r in range(4)]

    def feistel(y):
        left, right = y >> half, y & mask
        for rk in rounds:
            left, right = right, left ^ (_mix(right ^ rk) & mask)
        return (left << half) | right

    y = feistel(ids.astype(np.uint64))
    todo = np.nonzero(y >= np.uint64(n))[0]
    while todo.size:
        y[todo] = feistel(y[todo])
        todo = todo[y[todo] >= np.uint64(n)]
    return y.astype(np.int64)


def sample_indices(spec, first: int, last: int) -> np.ndarray:
    """Axis value indices of points ``first .. last-1``: int64 array (axes, points)."""
    ids = np.arange(first, last, dtype=np.int64)
    sizes = [len(a.values) for a in spec.axes]
    out = np.empty((len(sizes), ids.size), dtype=np.int64)
    s = spec.sample
    if s.kind == "grid":                   # mixed radix, last axis fastest
        rest = ids.copy()
        for a in reversed(range(len(sizes))):
            out[a] = rest % sizes[a]
            rest //= sizes[a]
    elif s.kind == "random":               # counter-based: hash(seed, axis, point) -> uniform index
        u = ids.astype(np.uint64)
        for a, size in enumerate(sizes):
            h = _mix(u + np.uint64(_key(s.seed, 1, a)))
            out[a] = (((h >> np.uint64(32)) * np.uint64(size)) >> np.uint64(32)).astype(np.int64)
    else:                                  # lhs: axis a's stratum of point i = perm_a(i); value = stratum * size // n
        for a, size in enumerate(sizes):
            out[a] = _permute(ids, s.n, _key(s.seed, 2, a)) * size // s.n
    return out
