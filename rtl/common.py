"""Shared building blocks for the nonlinear units: a lane-parallel valid/ready register pipeline.

The protocol is that of :mod:`amaranth.lib.stream`: a transfer happens on a rising clock edge
where ``valid`` and ``ready`` are both high; a producer holds ``payload`` and ``valid`` steady
until the transfer. Every unit in ``rtl/`` uses it on its input (``i``) and output (``o``) ports.

Two layers, usable separately:

* :class:`PipelineControl` -- handshake control for a chain of ``depth`` register stages. Each
  stage holds one beat (``lanes`` elements plus any shared side-band) and a ``valid`` bit. A stage
  loads when it is empty or when the stage after it is loading (bubbles collapse), so under
  backpressure the chain fills up and then stalls as a whole: no beat is lost or duplicated, and
  with ``o.ready`` held high the pipeline accepts one beat per cycle. ``i.ready`` depends
  combinationally on ``o.ready`` (no skid buffer), through one OR gate per stage.
  A synchronous reset empties every stage (the data registers themselves are reset-less).
* :func:`run_steps` -- turns a list of combinational *steps* into a pipeline, placing the
  registers after the steps chosen by :func:`register_positions`. A step is a function
  ``step(m, state) -> state`` where ``state`` maps a name to an Amaranth value (shared by the whole
  beat, e.g. a row maximum) or to a list of ``lanes`` values (one per element).

:class:`ElementwiseUnit` packages both into a :class:`wiring.Component` for lane-parallel
elementwise functions (GELU and the like); subclasses only provide :meth:`ElementwiseUnit.steps`.
"""
from __future__ import annotations

from typing import Callable

from amaranth.hdl import Cat, Const, Module, Mux, Shape, Signal, Value
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

Step = Callable[[Module, dict], dict]


def register_positions(n_steps: int, n_regs: int) -> list[int]:
    """Indices of the steps after which a register stage sits (0-based, sorted, distinct).

    The last step is always registered (the unit's outputs come from flip-flops); the other
    ``n_regs - 1`` registers are spread evenly over the chain. ``1 <= n_regs <= n_steps``.

    >>> register_positions(6, 1), register_positions(6, 2), register_positions(6, 3)
    ([5], [2, 5], [1, 3, 5])
    """
    if not 1 <= n_regs <= n_steps:
        raise ValueError(f"pipeline_regs must be between 1 and {n_steps}, not {n_regs}")
    return [((i + 1) * n_steps) // n_regs - 1 for i in range(n_regs)]


class PipelineControl:
    """Valid/ready control of ``depth`` register stages between an input and an output stream.

    Attributes (all one-bit Amaranth values):

    * ``valid[k]`` -- stage ``k`` holds a beat (``k = 0`` is next to the input);
    * ``load[k]`` -- stage ``k`` captures the beat before it on this clock edge; use it as the
      clock enable of stage ``k``'s data registers (see :meth:`register`);
    * ``in_ready`` (``= load[0]``) and ``out_valid`` (``= valid[depth-1]``) -- drive the ports.

    ``load[k] = ~valid[k] | load[k+1]`` and ``load[depth] = out_ready``: a stage refills whenever
    it is empty or being emptied, which keeps one beat per cycle at full throughput and lets
    bubbles collapse behind a stalled output.
    """

    def __init__(self, m: Module, depth: int, *, in_valid: Value, out_ready: Value,
                 domain: str = "sync", name: str = "stage"):
        if depth < 1:
            raise ValueError(f"depth must be at least 1, not {depth}")
        self.depth = depth
        self.domain = domain
        self._m = m
        self._name = name
        self.valid = [Signal(name=f"{name}{k}_valid") for k in range(depth)]
        self.load = [Signal(name=f"{name}{k}_load") for k in range(depth)]
        nxt = out_ready
        for k in reversed(range(depth)):
            m.d.comb += self.load[k].eq(~self.valid[k] | nxt)
            nxt = self.load[k]
        for k in range(depth):
            prev_valid = in_valid if k == 0 else self.valid[k - 1]
            with m.If(self.load[k]):
                m.d[domain] += self.valid[k].eq(prev_valid)
        self.in_ready = self.load[0]
        self.out_valid = self.valid[depth - 1]

    def register(self, k: int, state: dict) -> dict:
        """Register ``state`` (name -> value, or name -> list of values) in stage ``k``.

        Returns a dict of the same structure holding the reset-less registers, loaded when
        ``load[k]`` is high. Register shapes are the shapes of the given values.
        """
        out = {}
        for key, val in state.items():
            if isinstance(val, (list, tuple)):
                out[key] = [self._reg(k, f"{key}_{i}", v) for i, v in enumerate(val)]
            else:
                out[key] = self._reg(k, key, val)
        return out

    def _reg(self, k: int, key: str, val) -> Signal:
        val = Value.cast(val)
        reg = Signal(val.shape(), name=f"{self._name}{k}_{key}", reset_less=True)
        with self._m.If(self.load[k]):
            self._m.d[self.domain] += reg.eq(val)
        return reg


def comb(m: Module, value, name: str) -> Signal:
    """``value`` as a combinationally driven Signal named ``name``.

    Use it for any intermediate that an expression uses more than once: Amaranth expressions are
    trees, so re-using an unnamed expression duplicates it at every use (exponentially, in a
    chain such as a divider)."""
    value = Value.cast(value)
    sig = Signal(value.shape(), name=name)
    m.d.comb += sig.eq(value)
    return sig


def _materialise(m: Module, state: dict, tag: str) -> dict:
    out = {}
    for key, val in state.items():
        if isinstance(val, list):
            out[key] = [v if isinstance(v, Signal) else comb(m, v, f"{tag}_{key}_{j}")
                        for j, v in enumerate(val)]
        else:
            out[key] = val if isinstance(val, Signal) else comb(m, val, f"{tag}_{key}")
    return out


def run_steps(m: Module, ctl: PipelineControl, steps: list[Step], state: dict,
              positions: list[int]) -> dict:
    """Apply ``steps`` in order to ``state``, registering the state in stage ``j`` of ``ctl``
    after step ``positions[j]``. ``len(positions)`` must equal ``ctl.depth``; returns the
    registered state after the last step."""
    if len(positions) != ctl.depth:
        raise ValueError(f"{len(positions)} register positions for a {ctl.depth}-stage pipeline")
    stage = 0
    for i, step in enumerate(steps):
        state = _materialise(m, step(m, state), f"s{i}")
        if stage < len(positions) and positions[stage] == i:
            state = ctl.register(stage, state)
            stage += 1
    assert stage == ctl.depth, "register positions beyond the last step"
    return state


def lane_step(fn: Callable[[Module, dict, dict], dict]) -> Step:
    """A step computing per-lane values: ``fn(m, lane, shared) -> updates``.

    ``lane`` holds lane ``j``'s entry of every list-valued state key, ``shared`` the beat-wide
    entries. The returned dict updates the lane's entries (a value of ``None`` deletes the key);
    shared entries pass through. ``fn`` is called once per lane (the logic is replicated)."""
    def step(m: Module, state: dict) -> dict:
        lane_keys = [k for k, v in state.items() if isinstance(v, list)]
        shared = {k: v for k, v in state.items() if not isinstance(v, list)}
        n = len(state[lane_keys[0]])
        lanes = []
        for j in range(n):
            lane = {k: state[k][j] for k in lane_keys}
            for k, v in fn(m, dict(lane), shared).items():
                if v is None:
                    lane.pop(k, None)
                else:
                    lane[k] = v
            lanes.append(lane)
        new = dict(shared)
        for k in lanes[0]:
            new[k] = [lane[k] for lane in lanes]
        return new
    return step


def shared_step(fn: Callable[[Module, dict], dict]) -> Step:
    """A step computing beat-wide values once: ``fn(m, shared) -> updates`` (``None`` deletes);
    lane entries pass through."""
    def step(m: Module, state: dict) -> dict:
        shared = {k: v for k, v in state.items() if not isinstance(v, list)}
        new = dict(state)
        for k, v in fn(m, shared).items():
            if v is None:
                new.pop(k, None)
            else:
                new[k] = v
        return new
    return step


def chain(*steps: Step) -> Step:
    """One step made of several applied in order (no register between them)."""
    def step(m: Module, state: dict) -> dict:
        for st in steps:
            state = st(m, state)
        return state
    return step


def divider_steps(numerator: int, num_bits: int, den: str, quo: str, n_steps: int) -> list[Step]:
    """Restoring division ``quo = numerator // den`` per lane, as ``n_steps`` lane steps.

    ``numerator`` is a constant of ``num_bits`` bits (e.g. ``2**31 - 1``); ``den`` names an
    unsigned lane value (non-zero; a zero divisor yields an all-ones quotient, as restoring
    division does); ``quo`` names the ``num_bits``-bit unsigned result. Each step resolves about
    ``num_bits / n_steps`` quotient bits (one compare-subtract each), so the registers placed
    between steps pipeline the divider. Works on the state keys ``<quo>_rem`` and ``<quo>_acc``
    internally and removes them at the end.
    """
    if not 1 <= n_steps <= num_bits:
        raise ValueError(f"n_steps must be between 1 and {num_bits}, not {n_steps}")
    if not 0 <= numerator < (1 << num_bits):
        raise ValueError(f"numerator {numerator} does not fit in {num_bits} bits")
    bounds = [num_bits - (i * num_bits) // n_steps for i in range(n_steps + 1)]
    rem_key, acc_key = f"{quo}_rem", f"{quo}_acc"

    def make(hi: int, lo: int, first: bool, last: bool) -> Step:
        def fn(m, lane, shared):
            d = Value.cast(lane[den]).as_unsigned()
            rem = Const(0, len(d)) if first else lane[rem_key]
            acc = Const(0, 0) if first else lane[acc_key]
            for i in range(hi - 1, lo - 1, -1):
                t = comb(m, Cat(Const((numerator >> i) & 1, 1), rem), f"{quo}_t{i}")  # 2*rem + bit
                ge = comb(m, t >= d, f"{quo}_ge{i}")
                rem = comb(m, Mux(ge, t - d, t)[:len(d)], f"{quo}_rem{i}")
                acc = Cat(ge, acc)                                 # quotient bits, MSB first
            if last:
                return {quo: acc, rem_key: None, acc_key: None}
            return {rem_key: rem, acc_key: acc}
        return lane_step(fn)

    return [make(bounds[i], bounds[i + 1], i == 0, i == n_steps - 1) for i in range(n_steps)]


def lanes_signature(in_shape, out_shape, lanes: int, sideband: dict | None = None) -> dict:
    """Port members ``i`` and ``o`` of a lane-parallel stream unit.

    The input payload is ``ArrayLayout(in_shape, lanes)`` (lane ``j`` in bits
    ``[j*w, (j+1)*w)``), or, with side-band fields, ``StructLayout({"x": that, **sideband})``
    (``x`` in the low bits, then the side-band fields in order). The output payload is
    ``ArrayLayout(out_shape, lanes)``.
    """
    x_layout = data.ArrayLayout(in_shape, lanes)
    in_layout = data.StructLayout({"x": x_layout, **sideband}) if sideband else x_layout
    return {
        "i": In(stream.Signature(in_layout)),
        "o": Out(stream.Signature(data.ArrayLayout(out_shape, lanes))),
    }


class UnitParameters:
    """The parameters every stream unit exposes (read-only): element widths, lanes, register stages."""

    @property
    def in_bits(self) -> int:
        return self._in_bits

    @property
    def out_bits(self) -> int:
        """Width of one output lane."""
        return self._out_bits

    @property
    def lanes(self) -> int:
        return self._lanes

    @property
    def pipeline_regs(self) -> int:
        return self._pipeline_regs


class ElementwiseUnit(UnitParameters, wiring.Component):
    """Base class of a lane-parallel elementwise function with a valid/ready stream interface.

    Ports: ``i`` (input stream, payload ``lanes`` elements of ``in_shape`` plus optional side-band
    fields shared by the beat) and ``o`` (output stream, ``lanes`` elements of ``out_shape``).

    Guarantees: latency ``pipeline_regs`` cycles from an input transfer to its output being valid
    (with ``o.ready`` high); throughput one beat (``lanes`` elements) per cycle; under
    backpressure the pipeline holds up to ``pipeline_regs`` beats and then deasserts ``i.ready``;
    beats leave in the order they came; a synchronous reset drops every beat in flight.

    Subclasses implement :meth:`steps`, a list of combinational steps operating on a state dict
    whose entry ``"x"`` is the list of lane inputs (and each side-band field its value), and whose
    final state has ``"y"``, the list of lane outputs (converted to ``out_shape`` by truncation).
    """

    # Units are also built only for their parameters and golden model (benches, CLI): no
    # "created but never used" warning from Amaranth for those.
    _MustUse__silence = True

    def __init__(self, *, in_shape, out_shape, lanes: int, pipeline_regs: int,
                 sideband: dict | None = None):
        if not isinstance(lanes, int) or lanes < 1:
            raise ValueError(f"lanes must be a positive integer, not {lanes!r}")
        self._in_shape = Shape.cast(in_shape)
        self._out_shape = Shape.cast(out_shape)
        self._lanes = lanes
        self._sideband = dict(sideband or {})
        n_steps = len(self.steps())
        self._positions = register_positions(n_steps, pipeline_regs)
        self._pipeline_regs = pipeline_regs
        super().__init__(lanes_signature(self._in_shape, self._out_shape, lanes, self._sideband))

    @property
    def max_pipeline_regs(self) -> int:
        """Number of combinational steps: the most register stages the datapath can take."""
        return len(self.steps())

    @property
    def latency_cycles(self) -> int:
        """Cycles from an input transfer to the matching output being valid: ``pipeline_regs``."""
        return self._pipeline_regs

    @property
    def elements_per_cycle(self) -> int:
        """Elements accepted and produced per cycle once the pipeline is full: ``lanes``."""
        return self._lanes

    def steps(self) -> list[Step]:
        raise NotImplementedError

    def elaborate(self, platform):
        m = Module()
        ctl = PipelineControl(m, self._pipeline_regs, in_valid=self.i.valid,
                              out_ready=self.o.ready)
        m.d.comb += [self.i.ready.eq(ctl.in_ready), self.o.valid.eq(ctl.out_valid)]
        if self._sideband:
            state = {"x": [self.i.payload.x[j] for j in range(self._lanes)]}
            for name in self._sideband:
                state[name] = getattr(self.i.payload, name)
        else:
            state = {"x": [self.i.payload[j] for j in range(self._lanes)]}
        state = {k: (v if isinstance(v, list) else Value.cast(v)) for k, v in state.items()}
        state = run_steps(m, ctl, self.steps(), state, self._positions)
        for j in range(self._lanes):
            m.d.comb += self.o.payload[j].eq(state["y"][j])
        return m
