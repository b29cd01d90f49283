"""4f free-space optical backend: convolutions as optical passes, everything else on an electronic co-processor.

Built on the ground-truth module :mod:`hwsim.backends.optical4f_model` (docs/optical4f.md); no formula of it is
repeated here. Per op:

* **Optical ops**: a ``Conv2d`` whose kernel is at least ``optical_min_kernel`` becomes a
  :class:`~hwsim.backends.optical4f_model.ConvLayer`; ``conv_passes`` gives its passes (channel pairs, channel
  tiling / packing, sign handling, grey-level frames) and kernel loads, ``pass_time`` the time of a pass with
  and without a Fourier-pattern reload. Instances (``count``, the batch): a depthwise conv with
  ``attention='shared_dwconv'`` (ConvShareViT: one kernel shared by every channel) tiles the maps of all
  instances against its one kernel, loaded once (a channel multiplier m = out_ch / in_ch, or in_ch / out_ch
  with groups = out_ch, is m shared kernels);
  any other conv runs each kernel frame for every instance before the next kernel is loaded, so passes scale
  with ``count`` and kernel loads do not (a kernel is reloaded only when it changes), except under dense
  channel tiling, which packs the instances' channel pairs into shared frames like more groups of one layer
  (ceil(count x pairs / tiles) frames; superblock packing keeps count x its frames). Each pass is three
  stages, as the hardware overlaps them: DAC writes of the modulator frames (``dac``), the lit frame
  (``optical``: the slowest of the input-modulator refresh, the Fourier refresh when the pattern changes,
  and the camera frame), the ADC readout of the pass's valid output maps (``adc``); then, when
  ``detect_postprocess``, the detected pixels are square-rooted and accumulated (pseudo-negative
  differences, channel groups split over frames, grey-level frames) on the co-processor (``electronic``).
* **Electronic ops** (GEMMs, 1x1 convs, softmax, LayerNorm, GELU, element-wise, pooling): the co-processor, a
  ``roofline`` config costed by the roofline backend's own model (:mod:`hwsim.backends.roofline`).

Analytic mode: an optical op takes max(sum over passes of the slowest stage, post-processing) = the model's
``layer_time_s`` for one instance; an electronic op its roofline latency; ops run back to back. Cycle mode
(frame level): an optical op is a pipeline of up to ``MAX_CHUNKS`` chunks of passes (a chunk = consecutive
passes; exact per pass below that), DAC(j) -> optical(j) -> ADC(j) -> post(j), each stage in order on its
resource, so the DAC writes of chunk j + 1, the optical frames of chunk j and the readout and electronic
post-processing of chunk j - 1 overlap; the engine adds the pipeline's fill and drain. Ops issue by data flow
(``dataflow``, :class:`hwsim.engine.DataflowGraph`): an op waits for the ops it reads, not for the previous
op. The optical path (``dac``, ``optical``, ``adc``) serves ops in program order, one kernel set after
another, so two optical ops' passes never interleave (the kernel-load count stays per op) but an optical op's
DAC writes start as soon as the previous optical op's are done; the co-processor (``electronic``) is queued:
it runs whatever work is ready first, so an electronic op that does not read an optical op runs during that
op's passes (ConvShareViT: Q.K^T and softmax during v's passes), ahead of v's post-processing.

Energy per op: laser (``laser_power_w / optical_efficiency`` over lit time), input and Fourier modulators and
camera (their power over lit time), DAC (pJ per modulator pixel written), ADC (pJ per camera pixel read),
``electronic`` (the co-processor's active energy), plus ``static`` = the co-processor's idle power over every
op. Counters: ``passes``, ``kernel_loads``, ``optical_convs``, and the busy time split ``optical_s``,
``conversion_s`` (DAC + ADC), ``electronic_s``. One tick is 1 ps (no clock).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import cache

import numpy as np

from hwsim.backends import optical4f_model as om
from hwsim.backends.base import BackendBase, OpCost
from hwsim.engine import NONE, PREV, TaskBlock, schedule_reference, single_task_block
from hwsim.errors import HwsimError
from hwsim.hardware.optical4f import Optical4fConfig
from hwsim.workload.ops import GELU, Conv2d, Eltwise, LayerNorm, MatMul, Op, Softmax

TICK_S = 1e-12
MAX_CHUNKS = 64          # cycle mode: at most this many pipeline chunks per optical op (exact per pass below)
STAGES = ("dac", "optical", "adc", "electronic")
COUNTER_UNITS = {"passes": "passes", "kernel_loads": "patterns", "optical_convs": "pairs",
                 "optical_s": "s", "conversion_s": "s", "electronic_s": "s"}


def _ticks(seconds: float) -> int:
    return int(math.ceil(seconds / TICK_S - 1e-9)) if seconds > 0 else 0


@dataclass(frozen=True)
class OpticalPlan:
    """One optical op: passes, kernel loads, the per-stage seconds summed over its passes, and the
    co-processor post-processing of its detected pixels."""
    layer: om.ConvLayer
    passes: int
    kernel_loads: int
    optical_convs: int
    camera_px_per_pass: int
    dac_s: float
    optical_s: float
    adc_s: float
    analytic_s: float          # sum over passes of the slowest stage (the model's layer time)
    samples_written: int
    samples_read: int
    tile_use: float            # channel pairs carried / tile slots offered over the passes, in (0, 1]
    post: OpCost | None        # roofline cost of the post-processing, None when disabled


def optical_layer(op: Conv2d, hw: Optical4fConfig) -> tuple[om.ConvLayer, int, int] | None:
    """The model layer of a Conv2d, with the pass and kernel-load multipliers of its instances; None for a
    conv that runs on the co-processor (kernel < ``optical_min_kernel``). Raises HwsimError (one line naming the
    fields and limits) when its padded block exceeds a modulator."""
    if op.kernel < hw.optical_min_kernel:
        return None
    plane = (min(hw.input_modulator_rows, hw.fourier_px[0]), min(hw.input_modulator_cols, hw.fourier_px[1]))
    block = (op.in_h + op.kernel - 1, op.in_w + op.kernel - 1)
    if block[0] > plane[0] or block[1] > plane[1]:
        raise HwsimError(f"hardware '{hw.name}', op '{op.name}': kernel {op.kernel}x{op.kernel} on a {op.in_h}x{op.in_w} "
                         f"map needs a {block[0]}x{block[1]} padded block, larger than the modulators (fields "
                         f"'input_modulator_rows' x 'input_modulator_cols' / 'fourier_modulator_*' = {plane[0]}x{plane[1]})")
    narrow, wide = min(op.in_ch, op.out_ch), max(op.in_ch, op.out_ch)
    if op.attention == "shared_dwconv" and op.groups == narrow and wide % narrow == 0:
        c = narrow * op.count
        mult = wide // narrow
        layer = om.ConvLayer(name=op.name, in_ch=c, out_ch=c, in_h=op.in_h, in_w=op.in_w, kernel_h=op.kernel,
                             groups=c, shared_kernel=True)
        return layer, mult, mult
    if hw.tiling == "channel" and hw.packing == "dense" and op.count > 1:
        # dense channel tiling packs (instance, input channel, output channel) blocks alike: the instances are
        # groups of one layer, ceil(count x pairs / tiles) frames
        layer = om.ConvLayer(name=op.name, in_ch=op.in_ch * op.count, out_ch=op.out_ch * op.count, in_h=op.in_h,
                             in_w=op.in_w, kernel_h=op.kernel, groups=op.groups * op.count)
        return layer, 1, 1
    layer = om.ConvLayer(name=op.name, in_ch=op.in_ch, out_ch=op.out_ch, in_h=op.in_h, in_w=op.in_w,
                         kernel_h=op.kernel, groups=op.groups)
    return layer, op.count, 1


class Optical4fBackend(BackendBase):
    """Counters (units in ``counter_units``): ``passes`` (frames through the 4f system), ``kernel_loads``
    (Fourier patterns written), ``optical_convs`` ((input, output) channel pairs, FatNet's count), and the busy
    seconds ``optical_s`` / ``conversion_s`` / ``electronic_s`` (each resource's own busy time, so they can
    sum to more than the latency where stages overlap). ``utilization`` of an optical op: the fraction of the
    modulator's tile slots over its passes that carry a channel pair (1 without tiling)."""
    kind = "optical4f"
    config = Optical4fConfig
    op_types = (MatMul, Conv2d, Softmax, GELU, LayerNorm, Eltwise)
    has_clock = False
    has_energy = True
    memory_levels = ("dram",)
    size_units = ("modulator_px",)
    counter_units = COUNTER_UNITS
    static_component = "static"
    dataflow = True
    dataflow_queued = ("electronic",)

    # ---- helpers ---------------------------------------------------------------------------------------
    @staticmethod
    def _roofline():
        from hwsim.kinds import backend
        return backend("roofline")

    def plan(self, op: Conv2d, hw: Optical4fConfig) -> OpticalPlan | None:
        """The optical plan of a conv (None if it runs on the co-processor)."""
        mapped = optical_layer(op, hw)
        if mapped is None:
            return None
        layer, pass_mult, load_mult = mapped
        dev = hw.device()
        try:
            count = om.conv_passes(layer, dev, **hw.modes())
        except HwsimError as exc:
            raise HwsimError(f"hardware '{hw.name}', op '{op.name}': {exc}") from None
        passes = count.passes * pass_mult
        loads = min(passes, count.kernel_loads * load_mult)
        frame_in = hw.input_modulator_rows * hw.input_modulator_cols
        frame_k = hw.fourier_px[0] * hw.fourier_px[1]
        cam = count.camera_px_per_pass
        t_load = om.pass_time(dev, input_px=frame_in, kernel_px=frame_k, camera_px_read=cam, kernel_reloaded=True)
        t_keep = om.pass_time(dev, input_px=frame_in, kernel_px=frame_k, camera_px_read=cam, kernel_reloaded=False)
        keep = passes - loads
        optical = lambda t: max(t.input_modulator_s, t.fourier_modulator_s, t.camera_s)
        post = None
        read = passes * cam
        if hw.detect_postprocess:
            post = self._roofline().analytic(
                Eltwise(name=op.name + ".detect", n=read, op="sqrt_accumulate"), hw.coprocessor_config())
        return OpticalPlan(layer=layer, passes=passes, kernel_loads=loads, optical_convs=layer.pairs * pass_mult,
                           camera_px_per_pass=cam,
                           dac_s=loads * t_load.dac_s + keep * t_keep.dac_s,
                           optical_s=loads * optical(t_load) + keep * optical(t_keep),
                           adc_s=loads * t_load.adc_s + keep * t_keep.adc_s,
                           analytic_s=loads * t_load.seconds + keep * t_keep.seconds,
                           samples_written=passes * frame_in + loads * frame_k, samples_read=read, post=post,
                           tile_use=min(1.0, count.optical_convs * count.sign_factor * count.grey_frames
                                        / (count.passes * count.tiles_per_frame)))

    def _optical_cost(self, op: Conv2d, p: OpticalPlan, hw: Optical4fConfig, ticks: int, ideal: int) -> OpCost:
        post_s = p.post.ticks * self._roofline().tick_s(hw.coprocessor_config()) if p.post else 0.0
        lit = p.optical_s
        e = {"laser": hw.laser_power_w / hw.optical_efficiency * lit * 1e12,
             "input_modulator": hw.input_modulator_power_w * lit * 1e12,
             "fourier_modulator": hw.fourier_modulator_power_w * lit * 1e12,
             "camera": hw.camera_power_w * lit * 1e12,
             "dac": hw.dac_pj_per_sample * p.samples_written,
             "adc": hw.adc_pj_per_sample * p.samples_read,
             "electronic": sum(p.post.energy_pj.values()) if p.post else 0.0}
        stages = {"optical": p.optical_s, "dac": p.dac_s, "adc": p.adc_s, "electronic": post_s}
        return OpCost(ticks=ticks, ideal_ticks=ideal, unit="optical", macs=op.macs,
                      busy_ticks={k: _ticks(v) for k, v in stages.items() if v > 0},
                      bytes_by_level={"dram": p.post.bytes_by_level.get("dram", 0.0) if p.post else 0.0},
                      energy_pj=e, bound=max(stages, key=stages.get), utilization=p.tile_use,
                      counters={"passes": p.passes, "kernel_loads": p.kernel_loads, "optical_convs": p.optical_convs,
                                "optical_s": p.optical_s, "conversion_s": p.dac_s + p.adc_s, "electronic_s": post_s})

    def _electronic_cost(self, op: Op, hw: Optical4fConfig) -> OpCost:
        cop = hw.coprocessor_config()
        c = self._roofline().analytic(op, cop)
        seconds = c.ticks * self._roofline().tick_s(cop)
        ticks = _ticks(seconds)
        return OpCost(ticks=ticks, ideal_ticks=ticks, unit="electronic", macs=op.macs,
                      busy_ticks={"electronic": ticks}, bytes_by_level=dict(c.bytes_by_level),
                      energy_pj={"electronic": sum(c.energy_pj.values())},
                      bound="electronic" if c.bound != "memory" else "memory", utilization=c.utilization,
                      counters={"passes": 0, "kernel_loads": 0, "optical_convs": 0, "optical_s": 0.0,
                                "conversion_s": 0.0, "electronic_s": seconds})

    def _pipeline(self, p: OpticalPlan, hw: Optical4fConfig) -> TaskBlock:
        """Chunks of passes as DAC -> optical -> ADC -> post tasks (module docstring)."""
        n = max(1, min(p.passes, MAX_CHUNKS))
        post_s = p.post.ticks * self._roofline().tick_s(hw.coprocessor_config()) if p.post else 0.0
        share = np.diff(np.round(np.linspace(0, p.passes, n + 1)).astype(np.int64)) / max(p.passes, 1)
        totals = [_ticks(s) for s in (p.dac_s, p.optical_s, p.adc_s, post_s)]
        stage_ticks = []
        for total in totals:     # split each stage's whole ticks over the chunks, summing exactly
            edges = np.round(np.concatenate([[0], np.cumsum(share)]) * total).astype(np.int64)
            stage_ticks.append(np.diff(edges))
        res, cyc, deps, lab = [], [], [], []
        for j in range(n):
            for s in range(4):
                if s == 0:
                    dep = PREV if j == 0 else NONE
                else:
                    dep = len(res) - 1
                res.append(s)
                cyc.append(int(stage_ticks[s][j]))
                deps.append([dep])
                lab.append(s)
        return TaskBlock(STAGES, np.array(res, np.int64), np.array(cyc, np.int64), np.array(deps, np.int64),
                         label=np.array(lab, np.int64), labels=STAGES)

    # ---- the Backend interface -------------------------------------------------------------------------
    def tick_s(self, hw: Optical4fConfig) -> float:
        return TICK_S

    def analytic_many(self, ops, hw: Optical4fConfig) -> list[OpCost]:
        out = []
        for op in ops:
            p = self.plan(op, hw) if isinstance(op, Conv2d) else None
            if p is None:
                out.append(self._electronic_cost(op, hw))
                continue
            post_s = p.post.ticks * self._roofline().tick_s(hw.coprocessor_config()) if p.post else 0.0
            ticks = _ticks(max(p.analytic_s, post_s))
            out.append(self._optical_cost(op, p, hw, ticks, ticks))
        return out

    def lower(self, op: Op, hw: Optical4fConfig) -> tuple[TaskBlock, OpCost]:
        p = self.plan(op, hw) if isinstance(op, Conv2d) else None
        if p is None:
            cost = self._electronic_cost(op, hw)
            return single_task_block("electronic", cost.ticks, label=op.kind), replace(cost, ticks=0)
        block = self._pipeline(p, hw)
        _, end = schedule_reference(block.res, block.cycles, np.where(block.deps < 0, NONE, block.deps), len(STAGES))
        ideal = int(end.max()) if len(end) else 0
        return block, self._optical_cost(op, p, hw, 0, ideal)

    def static_power_w(self, hw: Optical4fConfig) -> float:
        """The co-processor's idle power (modulators, camera and laser are charged per pass)."""
        return self._roofline().static_power_w(hw.coprocessor_config())

    def size(self, hw: Optical4fConfig) -> dict[str, float]:
        """``modulator_px``: pixels of the input plus the Fourier-plane modulator."""
        return {"modulator_px": float(hw.input_modulator_rows * hw.input_modulator_cols
                                      + hw.fourier_px[0] * hw.fourier_px[1])}


def crossover_refresh_hz(workload, hw: Optical4fConfig, baseline_s: float, *, lo: float = 1e2, hi: float = 1e12,
                         rel: float = 1e-4, mode: str = "analytic") -> float | None:
    """The modulator refresh rate (``input_refresh_hz``; the Fourier modulator and camera follow it where they
    are null) above which ``workload`` on ``hw`` is faster than ``baseline_s`` seconds (e.g. a GPU's roofline
    latency), by bisection in log frequency to relative precision ``rel``. Latency falls monotonically with the
    rate (every optical stage time is 1 / rate or independent of it). None if even ``hi`` is not faster (the
    electronic ops alone take longer than the baseline); ``lo`` if already ``lo`` is faster."""
    from hwsim.estimate import estimate
    from hwsim.hardware import replace_fields

    def faster(rate: float) -> bool:
        return estimate(workload, replace_fields(hw, "crossover", input_refresh_hz=rate), mode).latency_s < baseline_s

    if not faster(hi):
        return None
    if faster(lo):
        return lo
    while hi / lo > 1 + rel:
        mid = math.sqrt(lo * hi)
        lo, hi = (lo, mid) if faster(mid) else (mid, hi)
    return hi


# ------------------------------------------------------------------ cross-checks (hwsim validate)

def li_gupta_table2_workloads() -> dict:
    """The Table 2 rows of Li & Gupta (SPIE 12019, p. 5) a Conv2d workload can express: the zoo's VGG16 and
    AlexNet, VGG16 on SpaceNet 7 at 1024 px (an assumption, docs/optical4f.md) and SRCNN as [LG22] Sec. 4.1 times
    it (``optical4f_model.srcnn_li_gupta``; its 1x1 layer left to the electronics). DeconvNet's 121x1 kernels are
    not square, so that row stays with the model's own test. Built once per process (the workloads are frozen);
    each call gets its own dict."""
    return dict(_li_gupta_table2_workloads())


@cache
def _li_gupta_table2_workloads() -> dict:
    from hwsim.workload import Conv2d, Workload, load_workload
    srcnn = tuple(Conv2d(name=l.name, in_ch=l.in_ch, out_ch=l.out_ch, in_h=l.in_h, in_w=l.in_w, kernel=l.kernel_h,
                         padding=l.kernel_h // 2) for l in om.srcnn_li_gupta())
    return {"vgg16-cifar10": load_workload("vgg16-cifar10"), "vgg16-imagenet": load_workload("vgg16-imagenet"),
            "alexnet-imagenet": load_workload("alexnet-imagenet"),
            "vgg16-spacenet7": load_workload("vgg16-imagenet", image_size=1024),
            "srcnn": Workload(model="srcnn", ops=srcnn)}


def optical_seconds(report) -> float:
    """Seconds of the optical conv layers only (what Table 2 times)."""
    return sum(r.latency_s for r in report.ops if r.unit == "optical")


#: Channel-tiling passes per Table 2 row: (this backend's dense packing, Table 2's seconds x 2 MHz). The gaps
#: are the packing rule's, which the paper does not give (docs/optical4f.md, "Packing rule").
LI_GUPTA_CHANNEL_TILING_PASSES = {"vgg16-cifar10": (13, 12), "vgg16-imagenet": (120, 120),
                                  "alexnet-imagenet": (9, 14), "vgg16-spacenet7": (2601, 2120), "srcnn": (12, 48)}


def register_checks() -> None:
    from hwsim.validation import Tally, check

    lg = "Li & Gupta, SPIE 12019 120190B (2022), Table 2"

    @check("optical4f/li-gupta-no-tiling", reference=lg + ", no-tiling column",
           compares="seconds per input on li-gupta-4k-2mhz, both modes, to the 3 printed figures")
    def no_tiling():
        from hwsim.estimate import estimate
        from hwsim.hardware import load_hardware
        t, hw = Tally(), load_hardware("li-gupta-4k-2mhz", {"tiling": "none", "sign_handling": "none"})
        for row, w in li_gupta_table2_workloads().items():
            for mode in ("analytic", "cycle"):
                got = float(f"{optical_seconds(estimate(w, hw, mode)):.2e}")
                t.exact(f"{row} ({mode})", got, om.LI_GUPTA_TABLE2[row]["no_tiling_s"], "s")
        return t.outcome()

    @check("optical4f/li-gupta-channel-tiling", reference=lg + ", channel-tiling column",
           compares="passes per input under channel tiling (packing rule reconstructed, not published)")
    def channel_tiling():
        from hwsim.estimate import estimate
        from hwsim.hardware import load_hardware
        t, hw, errors = Tally(), load_hardware("li-gupta-4k-2mhz"), {}
        for row, w in li_gupta_table2_workloads().items():
            ours, table = LI_GUPTA_CHANNEL_TILING_PASSES[row]
            t.exact(row, round(om.LI_GUPTA_TABLE2[row]["channel_tiling_s"] * 2e6), table, "Table 2 passes")
            t.exact(row, estimate(w, hw, "cycle").counters["passes"], ours, "passes (the documented reconstruction)")
            errors[row] = ours / table - 1
        exact = [r for r, e in errors.items() if e == 0]
        return t.outcome(f"{', '.join(exact)} exact; others {min(errors.values()):+.0%} to "
                         f"{max(errors.values()):+.0%} (documented)")

    @check("optical4f/fatnet-8.2x", reference="FatNet (arXiv 2210.16914): '8.2 times fewer optical convolutions'",
           compares="optical convolutions of resnet18-cifar / fatnet-cifar (the authors' code's layers)")
    def fatnet():
        from hwsim.estimate import estimate
        from hwsim.hardware import load_hardware
        from hwsim.workload import load_workload
        t, hw = Tally(), load_hardware("li-gupta-4k-2mhz", {"tiling": "none", "sign_handling": "none"})
        res, fat = (estimate(load_workload(m), hw, "analytic").counters["passes"]
                    for m in ("resnet18-cifar", "fatnet-cifar"))
        t.exact("resnet18-cifar / fatnet-cifar", round(res / fat, 1), 8.2, f"ratio ({res:,} / {fat:,})")
        return t.outcome()
