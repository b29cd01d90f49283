"""Reusable cocotb driver, monitor and scoreboard for the lane-parallel stream units of ``rtl/``.

Every unit has a clock ``clk``, a synchronous active-high reset ``rst``, an input stream
``i__valid`` / ``i__ready`` / ``i__payload`` and an output stream ``o__valid`` / ``o__ready`` /
``o__payload`` (Amaranth's port names for ``stream.Signature`` members ``i`` and ``o``). A payload
word packs ``lanes`` elements, lane ``j`` in bits ``[j*w, (j+1)*w)``, then any side-band fields.

API (all pure functions except the two coroutines):

* :func:`pack_beats` / :func:`unpack_beats` -- numpy ``(beats, lanes)`` arrays <-> payload words;
  :func:`add_sideband` ORs a per-beat field into words above the lanes.
* :func:`bench_rng` -- the seeded ``random.Random`` of a test; the seed is logged so a failure can
  be replayed (``HWSIM_BENCH_SEED`` overrides it, otherwise cocotb's ``RANDOM_SEED``).
* ``await start_clock_and_reset(dut)`` -- starts a 10 ns clock and applies reset.
* ``await run_stream(dut, in_words, rng=..., ...)`` -- one coroutine that drives the input words
  with random ``valid`` gaps, applies random ``ready`` backpressure on the output, optionally
  asserts reset in the middle of the stream (beats in flight are dropped by the DUT and, by
  default, sent again), and returns a :class:`StreamResult` whose ``outputs[k]`` is the output
  word of input beat ``k``. It raises ``AssertionError`` on an output with no input beat in
  flight (an extra output), on a stall (no transfer for ``max_idle_cycles``) and on missing
  outputs at the end.
* :func:`check_bit_exact` -- scoreboard: compares every lane of every beat with the expected
  array (integer equality, no tolerance) and raises ``AssertionError`` naming the first mismatch
  with its beat, lane, input value and side-band, plus the number of mismatches.

Timing discipline: inputs change only at falling clock edges; after writing them the coroutine
waits for the ``ReadOnly`` phase, where the handshake signals are settled for the next rising
edge, so it knows exactly which transfers that edge performs. This needs no assumption about
the DUT's combinational paths (``i.ready`` may depend on ``o.ready``).
"""
from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np


def pack_beats(values, width: int) -> list[int]:
    """Pack a ``(beats, lanes)`` integer array into payload words, ``width`` bits per lane
    (two's complement for negative values)."""
    arr = np.asarray(values, dtype=object)
    if arr.ndim != 2:
        raise ValueError(f"values must be a (beats, lanes) array, got shape {arr.shape}")
    mask = (1 << width) - 1
    words = []
    for row in arr:
        word = 0
        for j, v in enumerate(row):
            word |= (int(v) & mask) << (j * width)
        words.append(word)
    return words


def add_sideband(words: Sequence[int], values, offset: int, width: int) -> list[int]:
    """Return ``words`` with ``values[k]`` (two's complement, ``width`` bits) placed at bit
    ``offset`` of word ``k`` -- the layout of a side-band field after the lanes."""
    mask = (1 << width) - 1
    return [w | ((int(v) & mask) << offset) for w, v in zip(words, values, strict=True)]


def unpack_beats(words: Sequence[int], width: int, lanes: int, signed: bool = True) -> np.ndarray:
    """Inverse of :func:`pack_beats`: an int64 ``(len(words), lanes)`` array (lane ``width``
    up to 63 bits)."""
    out = np.zeros((len(words), lanes), dtype=np.int64)
    mask = (1 << width) - 1
    half = 1 << (width - 1)
    for k, word in enumerate(words):
        for j in range(lanes):
            v = (int(word) >> (j * width)) & mask
            if signed and v >= half:
                v -= 1 << width
            out[k, j] = v
    return out


def bench_rng(log=None, default_seed: int | None = None) -> tuple[random.Random, int]:
    """A seeded RNG for one test and its seed (logged through ``log`` if given).

    Seed precedence: ``HWSIM_BENCH_SEED``, then ``default_seed``, then ``cocotb.RANDOM_SEED``."""
    env = os.environ.get("HWSIM_BENCH_SEED")
    if env is not None:
        seed = int(env)
    elif default_seed is not None:
        seed = int(default_seed)
    else:
        import cocotb
        seed = int(cocotb.RANDOM_SEED)
    if log is not None:
        log.info("bench seed %d (replay with HWSIM_BENCH_SEED=%d)", seed, seed)
    return random.Random(seed), seed


async def start_clock_and_reset(dut, period_ns: int = 10, reset_cycles: int = 2) -> None:
    """Start a ``period_ns`` clock on ``dut.clk`` and hold ``dut.rst`` for ``reset_cycles``
    rising edges with both streams idle; returns at a falling edge with reset released."""
    from cocotb.clock import Clock
    from cocotb.triggers import FallingEdge

    Clock(dut.clk, period_ns, unit="ns").start()
    dut.rst.value = 1
    dut.i__valid.value = 0
    dut.o__ready.value = 0
    for _ in range(reset_cycles + 1):
        await FallingEdge(dut.clk)
    dut.rst.value = 0


@dataclass
class StreamResult:
    """What :func:`run_stream` saw.

    ``outputs[k]`` is the output word for input beat ``k``; ``cycles`` the clock cycles the run
    took; ``dropped`` the beat indices that were in flight at the mid-stream reset (and were sent
    again when ``resend_dropped``); ``in_transfers`` / ``out_transfers`` the handshakes counted.
    """
    outputs: list[int]
    cycles: int
    in_transfers: int
    out_transfers: int
    dropped: list[int] = field(default_factory=list)
    max_in_flight: int = 0


async def run_stream(dut, in_words: Sequence[int], *, rng: random.Random,
                     valid_prob: float = 0.8, ready_prob: float = 0.7,
                     reset_at_beat: int | None = None, reset_cycles: int = 3,
                     resend_dropped: bool = True, max_idle_cycles: int = 2000,
                     drain_cycles: int = 32) -> StreamResult:
    """Drive ``in_words`` through the DUT and collect one output word per input beat.

    Each cycle the input is offered with probability ``valid_prob`` (a word, once offered, stays
    offered until accepted, as the stream protocol requires) and the output is accepted with
    probability ``ready_prob``. With ``reset_at_beat=k`` the reset is asserted (for
    ``reset_cycles`` cycles, both streams idle) right after input beat ``k`` has been accepted;
    the beats then in flight are lost by design and are re-sent when ``resend_dropped``.
    After the last expected output, ``drain_cycles`` more cycles with ``o.ready`` high check that
    no extra output appears. Must be called after :func:`start_clock_and_reset`, at a falling
    edge.
    """
    from cocotb.triggers import FallingEdge, ReadOnly

    clk = dut.clk
    i_valid, i_ready, i_payload = dut.i__valid, dut.i__ready, dut.i__payload
    o_valid, o_ready, o_payload = dut.o__valid, dut.o__ready, dut.o__payload
    n = len(in_words)
    outputs: list[int | None] = [None] * n
    send_queue = list(range(n))[::-1]   # pop() from the end = next beat to send
    in_flight: list[int] = []            # accepted beats awaiting output, oldest first
    head = 0                             # in_flight[head] is the oldest
    dropped: list[int] = []
    offered: int | None = None
    received = 0
    cycles = idle = 0
    in_xfers = out_xfers = 0
    max_in_flight = 0
    reset_pending = reset_at_beat is not None
    random_ = rng.random

    while received < n:
        # -- falling edge: choose this cycle's inputs --
        if offered is None and send_queue and random_() < valid_prob:
            offered = send_queue.pop()
            i_payload.value = int(in_words[offered])
            i_valid.value = 1
        elif offered is None:
            i_valid.value = 0
        ready = 1 if random_() < ready_prob else 0
        o_ready.value = ready
        await ReadOnly()
        # -- settled: the handshakes of the coming rising edge --
        took_in = offered is not None and i_ready.value == 1
        if ready and o_valid.value == 1:
            if head >= len(in_flight):
                raise AssertionError(f"extra output 0x{o_payload.value.to_unsigned():x} at cycle "
                                     f"{cycles} with no input beat in flight")
            outputs[in_flight[head]] = o_payload.value.to_unsigned()
            head += 1
            received += 1
            out_xfers += 1
            idle = 0
        if took_in:
            in_flight.append(offered)
            in_xfers += 1
            idle = 0
            beat_taken, offered = offered, None
        else:
            beat_taken = None
        max_in_flight = max(max_in_flight, len(in_flight) - head)
        idle += 1
        cycles += 1
        if idle > max_idle_cycles:
            raise AssertionError(f"stream stalled: no transfer for {max_idle_cycles} cycles at "
                                 f"cycle {cycles}; {received}/{n} outputs received, "
                                 f"{len(in_flight) - head} beats in flight")
        await FallingEdge(clk)
        if reset_pending and beat_taken is not None and in_xfers > reset_at_beat:
            reset_pending = False
            lost = in_flight[head:]
            dropped.extend(lost)
            del in_flight[head:]
            if resend_dropped:
                send_queue.extend(reversed(lost))
            i_valid.value = 0
            o_ready.value = 0
            dut.rst.value = 1
            for _ in range(reset_cycles):
                await FallingEdge(clk)
                cycles += 1
            dut.rst.value = 0
            if not resend_dropped:
                for k in lost:
                    outputs[k] = -1
                received += len(lost)

    # -- drain: nothing more may come out --
    i_valid.value = 0
    o_ready.value = 1
    for _ in range(drain_cycles):
        await ReadOnly()
        if o_valid.value == 1:
            raise AssertionError(f"extra output 0x{o_payload.value.to_unsigned():x} after all "
                                 f"{n} expected outputs")
        await FallingEdge(clk)
        cycles += 1
    missing = [k for k, v in enumerate(outputs) if v is None]
    if missing:
        raise AssertionError(f"{len(missing)} outputs missing, first for input beat {missing[0]}")
    return StreamResult(outputs=outputs, cycles=cycles, in_transfers=in_xfers,
                        out_transfers=out_xfers, dropped=dropped, max_in_flight=max_in_flight)


def check_bit_exact(got, expected, *, inputs, label: str = "",
                    describe: Callable[[int, int], str] | None = None) -> int:
    """Scoreboard: every lane of every beat must equal ``expected`` exactly.

    ``got``, ``expected`` and ``inputs`` are ``(beats, lanes)`` integer arrays (``inputs`` are the
    lane inputs, for the message); ``describe(beat, lane)`` may add context such as a side-band
    value. Returns the number of elements compared; raises ``AssertionError`` naming the first
    mismatch and the total number of mismatches otherwise.
    """
    got = np.asarray(got, dtype=np.int64)
    expected = np.asarray(expected, dtype=np.int64)
    inputs = np.asarray(inputs)
    if got.shape != expected.shape:
        raise AssertionError(f"{label}: got {got.shape} outputs, expected {expected.shape}")
    bad = np.argwhere(got != expected)
    if len(bad):
        k, j = (int(v) for v in bad[0])
        extra = f", {describe(k, j)}" if describe else ""
        raise AssertionError(
            f"{label}: {len(bad)} of {expected.size} outputs differ; first mismatch at beat {k} "
            f"lane {j}: input {int(inputs[k, j])}{extra} -> got {int(got[k, j])}, "
            f"expected {int(expected[k, j])}")
    return int(expected.size)
