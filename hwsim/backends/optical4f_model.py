"""4f free-space optical convolution: pass counting, time per pass, and a functional FFT model.

A 4f system (lens, Fourier-plane modulator, lens) convolves the field written on an input modulator with the
kernel whose spectrum is written on a Fourier-plane modulator; a camera detects the intensity |field|^2.
This module is the physics and bookkeeping of that, with no dependency on hwsim's backend interface:

* pass counting per conv layer (``conv_passes``): one *optical convolution* per (input channel, output
  channel) pair (FatNet's count; Li & Gupta's "no tiling"), packed onto the modulators by channel tiling
  (Li & Gupta 2022, Sec. 3.2), multiplied by the sign handling and by the grey-level frames a binary
  modulator needs;
* time per pass (``pass_time``): the slowest of the input-modulator refresh, the Fourier-modulator refresh
  (only when the kernel changes), the camera frame and the DAC / ADC sample streams;
* a functional model (``optical_correlate2d``, ``optical_conv_layer``, ``optical_tiled_frame``): input plane
  -> Fourier mask -> intensity at the camera's bit depth -> recovered output, with the chosen sign handling,
  checked against a direct (sliding-window) correlation within ``quantisation_bound``; the tiled-frame model
  also checks which block layouts let several filters share a frame (``superblock_layout``) and which do not.

Sources (full list with page/table/equation in docs/optical4f.md):
  [LG22] S. Li, P. Gupta, "4F Optical Neural Network Acceleration: An Architectural Perspective",
         Proc. SPIE 12019, 120190B (2022); PDF: shuruili77/shuruili77.github.io files/onn_architecture_spie.pdf
  [FN23] R. Ibadulla, T. M. Chen, C. C. Reyes-Aldasoro, "FatNet", AI 4(2) 2023 / arXiv 2210.16914; code:
         riadibadulla/simulator (models.py, optnn/Optics_simulation.py, optnn/OpticalConv2d.py) @ a093a1f
  [Hu22] Z. Hu et al., "High Throughput Multi-Channel Parallelized Diffraction Convolutional Neural Network
         Accelerator", arXiv 2112.12297; PDF: shuruili77/shuruili77.github.io files/gen15.pdf

Conventions: images are (rows, cols); a CNN "convolution" is a cross-correlation with 'same' output size
(PyTorch ``padding="same"``: for an even kernel the extra zero goes after the image), stride 1. Strided
layers (AlexNet conv1) are computed at full resolution and subsampled, so they cost what stride 1 costs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from hwsim.errors import HwsimError

SIGN_HANDLINGS = ("pseudo_negative", "channel_tiling", "none")
TILINGS = ("none", "channel")
PACKINGS = ("dense", "superblock")
GREY_ENCODINGS = ("thermometer", "bitplane")

# [LG22] p. 5, Sec. 4.1: "we assume a 4K, 2MHz SLM based system". The SLM is D x D (Table 1 notation);
# D = 4096 is our reading of "4K", and under the channel-tiling packing rule below it is exactly the smallest D
# that gives Table 2's VGG16-ImageNet entry (6e-5 s = 120 passes; D = 4095 gives 123); docs/optical4f.md.
LI_GUPTA_MODULATOR_PX = 4096
LI_GUPTA_FRAME_RATE_HZ = 2e6          # [LG22] p. 5, Sec. 4.1 ("2MHz")


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise HwsimError(message)


# ---------------------------------------------------------------------------------------------------------
# Workload description: one conv layer
# ---------------------------------------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class ConvLayer:
    """One conv layer as the 4f system sees it.

    ``in_h x in_w`` is the layer's input feature map (unpadded), ``kernel_h x kernel_w`` its kernel, ``groups``
    as in PyTorch (``groups == in_ch == out_ch`` is depthwise). ``shared_kernel``: a depthwise layer whose one
    kernel is shared by every channel (ConvShareViT), so a single Fourier pattern serves all channels.
    ``optical=False`` marks a layer the optics does not run (Li & Gupta leave 1x1 layers to electronics); it
    stays in the list so its work is visible, but it has no passes.
    """
    name: str
    in_ch: int
    out_ch: int
    in_h: int
    in_w: int = 0                      # 0: square, = in_h
    kernel_h: int
    kernel_w: int = 0                  # 0: square, = kernel_h
    groups: int = 1
    shared_kernel: bool = False
    optical: bool = True

    def __post_init__(self):
        if self.in_w == 0:
            object.__setattr__(self, "in_w", self.in_h)
        if self.kernel_w == 0:
            object.__setattr__(self, "kernel_w", self.kernel_h)
        where = f"conv layer '{self.name}'"
        for fname in ("in_ch", "out_ch", "in_h", "in_w", "kernel_h", "kernel_w", "groups"):
            value = getattr(self, fname)
            _require(isinstance(value, int) and value >= 1, f"{where}: {fname} = {value!r}; allowed: an integer >= 1")
        _require(self.in_ch % self.groups == 0 and self.out_ch % self.groups == 0,
                 f"{where}: groups = {self.groups} must divide in_ch = {self.in_ch} and out_ch = {self.out_ch}")
        _require(not self.shared_kernel or self.groups == self.in_ch == self.out_ch,
                 f"{where}: shared_kernel needs a depthwise layer (groups == in_ch == out_ch), "
                 f"got groups={self.groups}, in_ch={self.in_ch}, out_ch={self.out_ch}")

    @property
    def pairs(self) -> int:
        """Optical convolutions: (input channel, output channel) pairs that carry a kernel ([FN23]'s count)."""
        return (self.in_ch // self.groups) * self.out_ch

    @property
    def macs(self) -> int:
        """MACs of the layer at stride 1 with 'same' output (what a GPU would do for the same outputs)."""
        return self.pairs * self.in_h * self.in_w * self.kernel_h * self.kernel_w

    @property
    def block_px(self) -> tuple[int, int]:
        """Zero-padded channel block (M + N - 1) of [LG22] Sec. 3.2.1: a linear convolution of an M x M map
        with an N x N kernel, free of wrap-around, needs M + N - 1 samples per axis."""
        return self.in_h + self.kernel_h - 1, self.in_w + self.kernel_w - 1


# ---------------------------------------------------------------------------------------------------------
# Hardware description
# ---------------------------------------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class Optical4fDevice:
    """A 4f system: input modulator, Fourier-plane modulator, camera and the converters feeding them.

    Rates in Hz / samples per second; ``None`` for a converter means "not stated, not limiting".
    ``input_levels``: grey levels the input modulator shows in one frame (2 = binary DMD).
    ``fourier_complex``: the Fourier modulator holds complex (amplitude + phase) patterns; channel tiling
    needs it ([LG22] Sec. 3.2: "under the condition that full light modulation ... is supported").
    """
    name: str
    input_modulator_px: tuple[int, int]
    input_refresh_hz: float
    input_levels: int
    fourier_modulator_px: tuple[int, int]
    fourier_refresh_hz: float
    fourier_complex: bool
    camera_px: tuple[int, int]
    camera_fps: float
    camera_bits: int
    dac_samples_per_s: float | None = None
    adc_samples_per_s: float | None = None
    notes: str = field(default="", compare=False)

    def __post_init__(self):
        where = f"optical4f device '{self.name}'"
        for fname in ("input_modulator_px", "fourier_modulator_px", "camera_px"):
            value = getattr(self, fname)
            _require(isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, int) and v >= 1 for v in value),
                     f"{where}: {fname} = {value!r}; allowed: (rows, cols), integers >= 1")
        for fname in ("input_refresh_hz", "fourier_refresh_hz", "camera_fps"):
            value = getattr(self, fname)
            _require(isinstance(value, (int, float)) and math.isfinite(value) and value > 0,
                     f"{where}: {fname} = {value!r}; allowed: a finite rate > 0")
        for fname in ("dac_samples_per_s", "adc_samples_per_s"):
            value = getattr(self, fname)
            _require(value is None or (isinstance(value, (int, float)) and math.isfinite(value) and value > 0),
                     f"{where}: {fname} = {value!r}; allowed: a finite rate > 0, or null (not limiting)")
        _require(isinstance(self.input_levels, int) and self.input_levels >= 2,
                 f"{where}: input_levels = {self.input_levels!r}; allowed: an integer >= 2 (2 = binary)")
        _require(isinstance(self.camera_bits, int) and 1 <= self.camera_bits <= 32,
                 f"{where}: camera_bits = {self.camera_bits!r}; allowed: an integer in 1..32")


LI_GUPTA_4K_2MHZ = Optical4fDevice(
    name="li-gupta-4k-2mhz",
    input_modulator_px=(LI_GUPTA_MODULATOR_PX, LI_GUPTA_MODULATOR_PX),   # [LG22] Sec. 4.1 "4K"; D x D, Table 1
    input_refresh_hz=LI_GUPTA_FRAME_RATE_HZ,                             # [LG22] Sec. 4.1 "2MHz"
    input_levels=256,              # assumption: analog SLM; [LG22] cites analog MMAs (Sec. 3.1), gives no level count
    fourier_modulator_px=(LI_GUPTA_MODULATOR_PX, LI_GUPTA_MODULATOR_PX),
    fourier_refresh_hz=LI_GUPTA_FRAME_RATE_HZ,
    fourier_complex=True,          # [LG22] Sec. 3.2: channel tiling assumes full (amplitude + phase) modulation
    camera_px=(LI_GUPTA_MODULATOR_PX, LI_GUPTA_MODULATOR_PX),           # assumption: not stated; never limiting
    camera_fps=LI_GUPTA_FRAME_RATE_HZ,   # assumption: Table 2 times = passes / 2 MHz, so the camera keeps up
    camera_bits=8,                 # [LG22] Sec. 4.2.2: 8 bits suffice for channel tiling (12 for pseudo-negative)
    notes="Li & Gupta SPIE 2022 Sec. 4.1; converters not stated (None = not limiting)",
)

DMD_4F_PROTOTYPE = Optical4fDevice(
    name="dmd-4f-prototype",
    input_modulator_px=(1080, 1920),     # [Hu22] Methods 5.3: 1920 x 1080 DMD (DLP LightCrafter 6500, Fig. 1b)
    input_refresh_hz=60.0,         # [Hu22] Sec. 3: streaming "60Hz HDMI bottlenecked interconnect" (as built)
    input_levels=2,                # [Hu22] Sec. 2.3, 5.1: binary DMD; 8-bit CIFAR images -> 4 binary frames
    fourier_modulator_px=(1080, 1920),   # [Hu22] Fig. 1b: two DLP LightCrafter 6500 DMDs
    fourier_refresh_hz=60.0,       # same interconnect; kernels are static during a run
    fourier_complex=False,         # [Hu22] Sec. 5.2: binarised amplitude-only Fourier kernels
    camera_px=(1080, 1920),        # assumption: the paper does not give the XIMEA CB019MG sensor size
    camera_fps=100.0,              # [Hu22] Sec. 3: "allows for the camera to capture frames at 100 Hz" (max 2 kHz)
    camera_bits=8,                 # assumption: the paper does not give the camera bit depth
    notes="Hu et al. 2022 Gen 1.2 as operated; hardware limits: DMD 15 kHz, camera 2 kHz (Sec. 3)",
)


# ---------------------------------------------------------------------------------------------------------
# Pass counting
# ---------------------------------------------------------------------------------------------------------

def tiles_per_frame(modulator_px: tuple[int, int], block_px: tuple[int, int], guard_px: int = 0) -> int:
    """Blocks of ``block_px`` (rows, cols) that fit on a ``modulator_px`` frame on a regular grid, each
    followed by ``guard_px`` zero pixels. 0 if even one block does not fit.

    This is the packing rule reconstructed from [LG22] Table 2 (docs/optical4f.md): with the block equal to the
    zero-padded channel block (M + N - 1) the padding is itself the guard band, so ``guard_px = 0`` there.
    """
    _require(guard_px >= 0, f"guard_px = {guard_px}; allowed: >= 0")
    return (modulator_px[0] // (block_px[0] + guard_px)) * (modulator_px[1] // (block_px[1] + guard_px))


def sign_factor(sign_handling: str) -> int:
    """Passes per signed kernel: 2 for pseudo-negative (positive and negative parts run separately and are
    subtracted after detection; [LG22] Sec. 3.2.2 "halves the throughput", [FN23] Optics_simulation.optConv2d),
    1 for channel tiling (the signed sum forms in the optical field before detection, [LG22] Sec. 3.2.2) and
    1 for none (kernels and outputs assumed non-negative)."""
    _require(sign_handling in SIGN_HANDLINGS,
             f"sign_handling = {sign_handling!r}; allowed: {', '.join(SIGN_HANDLINGS)}")
    return 2 if sign_handling == "pseudo_negative" else 1


def grey_level_frames(levels_needed: int, modulator_levels: int, encoding: str = "thermometer") -> int:
    """Frames a modulator with ``modulator_levels`` grey levels needs to show data of ``levels_needed`` levels.

    ``thermometer``: one frame per threshold step, ceil((L - 1) / (m - 1)); [Hu22] Methods 5.1 shows 8-bit
    CIFAR-10 on a binary DMD as 4 thresholded binary images per channel (5 levels: 0 and 4 thresholds).
    ``bitplane``: one frame per digit in base m, ceil(log_m L); the optics is linear in the input, so the
    bit-plane results are weighted and summed electronically (each frame costs a camera readout).
    Both sum detected amplitudes after the camera, which is exact only when each frame's output is
    non-negative (non-negative kernels, or each half of a pseudo-negative pair).
    """
    _require(encoding in GREY_ENCODINGS, f"grey encoding = {encoding!r}; allowed: {', '.join(GREY_ENCODINGS)}")
    _require(isinstance(levels_needed, int) and levels_needed >= 2,
             f"levels_needed = {levels_needed!r}; allowed: an integer >= 2")
    _require(isinstance(modulator_levels, int) and modulator_levels >= 2,
             f"modulator_levels = {modulator_levels!r}; allowed: an integer >= 2")
    if levels_needed <= modulator_levels:
        return 1
    if encoding == "thermometer":
        return -(-(levels_needed - 1) // (modulator_levels - 1))
    frames, reach = 0, 1
    while reach < levels_needed:          # integer ceil(log_m L), no float log
        reach *= modulator_levels
        frames += 1
    return frames


@dataclass(frozen=True)
class PassCount:
    """Passes of one layer. ``optical_convs``: (in, out) channel pairs with a kernel; ``tiles_per_frame``:
    blocks per modulator frame (1 without tiling); ``passes``: frames through the 4f system (each one a
    modulator write and a camera readout); ``kernel_loads``: Fourier-plane patterns written (a kernel is
    reloaded only when it changes); ``camera_px_per_pass``: pixels read per pass (valid output regions)."""
    layer: str
    optical_convs: int
    tiles_per_frame: int
    passes: int
    kernel_loads: int
    sign_factor: int
    grey_frames: int
    camera_px_per_pass: int


def conv_passes(layer: ConvLayer, device: Optical4fDevice, *, tiling: str, sign_handling: str,
                packing: str = "dense", input_levels_needed: int = 2, grey_encoding: str = "thermometer",
                guard_px: int = 0) -> PassCount:
    """Passes for one conv layer.

    tiling ``none``: one (input channel, output channel) pair per pass ([LG22] Table 2 "No Tiling" =
    sum of in x out over layers / 2 MHz; [FN23]'s "optical convolutions").
    tiling ``channel``: the layer's pairs become zero-padded (M + N - 1)^2 blocks ([LG22] Sec. 3.2.1), packed
    filter-major on a regular grid, ``tiles_per_frame`` per frame, so passes = ceil(pairs / T): channel tiling
    (a filter's channels summed optically) followed by kernel tiling (several filters per frame) as [LG22]
    Sec. 3.2.1 last paragraph describes. A filter whose channels straddle frames has its partial sums added
    electronically. This is the rule reconstructed from Table 2 (docs/optical4f.md for its fit per row).
    ``packing="dense"`` (that rule) packs pairs as if any T blocks could serve: a lower bound on passes, met
    only when each filter's blocks can be a shifted copy of the input layout. ``packing="superblock"`` counts
    the layout ``superblock_layout`` builds and ``optical_tiled_frame`` verifies: each filter a shifted copy
    of the channel rectangle on a lattice (channels split into equal groups first if they exceed a frame).
    A ``shared_kernel`` layer tiles its channel maps against one kernel (input tiling) and loads it once.

    ``input_levels_needed`` > the modulator's levels multiplies the passes by ``grey_level_frames``.
    Raises HwsimError for an unknown mode, a block larger than a modulator, or channel-tiling sign handling
    on a system that cannot hold complex Fourier patterns.
    """
    _require(tiling in TILINGS, f"tiling = {tiling!r}; allowed: {', '.join(TILINGS)}")
    _require(packing in PACKINGS, f"packing = {packing!r}; allowed: {', '.join(PACKINGS)}")
    signs = sign_factor(sign_handling)
    _require(layer.optical, f"conv layer '{layer.name}' is marked optical = false; it has no optical passes")
    where = f"conv layer '{layer.name}' on '{device.name}'"
    if sign_handling == "channel_tiling":
        _require(tiling == "channel", f"{where}: sign_handling 'channel_tiling' needs tiling 'channel', got {tiling!r}")
        _require(device.fourier_complex, f"{where}: sign_handling 'channel_tiling' needs a complex Fourier "
                 "modulator (fourier_complex = true); allowed on this device: pseudo_negative, none")
    block = layer.block_px
    for fname in ("input_modulator_px", "fourier_modulator_px"):
        limit = getattr(device, fname)
        _require(block[0] <= limit[0] and block[1] <= limit[1],
                 f"{where}: padded block {block[0]}x{block[1]} (input {layer.in_h}x{layer.in_w} + kernel "
                 f"{layer.kernel_h}x{layer.kernel_w} - 1) exceeds {fname} = {limit[0]}x{limit[1]}")
    grey = grey_level_frames(input_levels_needed, device.input_levels, grey_encoding)
    out_px = layer.in_h * layer.in_w
    if tiling == "none":
        tiles = 1
        frames = layer.pairs
        filters_per_pass = 1
    else:
        grid = tuple(min(device.input_modulator_px[i], device.fourier_modulator_px[i]) // (block[i] + guard_px)
                     for i in (0, 1))
        tiles = grid[0] * grid[1]
        _require(tiles >= 1, f"{where}: no {block[0]}x{block[1]} block with guard {guard_px} fits the modulators")
        per_filter = layer.pairs // layer.out_ch
        if layer.shared_kernel:                  # input tiling: any T maps against the one kernel
            frames = -(-layer.pairs // tiles)
            filters_per_pass = min(layer.out_ch, tiles)
        elif packing == "dense":
            frames = -(-layer.pairs // tiles)
            filters_per_pass = max(1, min(layer.out_ch, tiles // per_filter))
        else:
            groups = -(-per_filter // tiles)     # channel groups summed electronically across frames
            per_group = -(-per_filter // groups)
            copies = superblock_shape(per_group, grid)[2]
            frames = -(-(layer.out_ch * groups) // copies)
            filters_per_pass = max(1, min(layer.out_ch, copies // groups))
    passes = frames * signs * grey
    if layer.shared_kernel:
        kernel_loads = signs                  # one shared pattern (w+ for all maps, then w-) serves every pass
    else:
        kernel_loads = frames * signs         # kernels stay put while grey-level frames of the input cycle
    _require(filters_per_pass * out_px <= device.camera_px[0] * device.camera_px[1],
             f"{where}: {filters_per_pass} output maps of {layer.in_h}x{layer.in_w} per pass exceed camera_px = "
             f"{device.camera_px[0]}x{device.camera_px[1]}")
    return PassCount(layer=layer.name, optical_convs=layer.pairs, tiles_per_frame=tiles, passes=passes,
                     kernel_loads=kernel_loads, sign_factor=signs, grey_frames=grey,
                     camera_px_per_pass=filters_per_pass * out_px)


def network_passes(layers, device: Optical4fDevice, **modes) -> list[PassCount]:
    """``conv_passes`` for every optical layer of ``layers`` (non-optical layers are skipped)."""
    return [conv_passes(layer, device, **modes) for layer in layers if layer.optical]


# ---------------------------------------------------------------------------------------------------------
# Time per pass
# ---------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PassTime:
    """The terms that bound one pass, seconds. The pass takes the slowest (they run concurrently: the
    modulators display while the camera integrates and the converters stream the next frame)."""
    input_modulator_s: float
    fourier_modulator_s: float
    camera_s: float
    dac_s: float
    adc_s: float

    @property
    def seconds(self) -> float:
        return max(self.input_modulator_s, self.fourier_modulator_s, self.camera_s, self.dac_s, self.adc_s)

    @property
    def bound(self) -> str:
        """Name of the slowest term (ties go to the first in field order)."""
        terms = {"input_modulator": self.input_modulator_s, "fourier_modulator": self.fourier_modulator_s,
                 "camera": self.camera_s, "dac": self.dac_s, "adc": self.adc_s}
        return max(terms, key=terms.get)


def pass_time(device: Optical4fDevice, *, input_px: int, kernel_px: int, camera_px_read: int,
              kernel_reloaded: bool = True) -> PassTime:
    """Time of one pass: input-modulator refresh (1 / input_refresh_hz), Fourier-modulator refresh
    (1 / fourier_refresh_hz, only if the kernel changes), camera frame (1 / camera_fps; the camera reads
    ``camera_px_read`` <= camera_px pixels), DAC (pixels written / dac_samples_per_s, kernel pixels only when
    reloaded) and ADC (pixels read / adc_samples_per_s). Raises HwsimError for negative or oversized counts."""
    for fname, value in (("input_px", input_px), ("kernel_px", kernel_px), ("camera_px_read", camera_px_read)):
        _require(isinstance(value, (int, np.integer)) and value >= 0, f"{fname} = {value!r}; allowed: an integer >= 0")
    camera_total = device.camera_px[0] * device.camera_px[1]
    _require(camera_px_read <= camera_total,
             f"camera_px_read = {camera_px_read} exceeds camera_px = "
             f"{device.camera_px[0]}x{device.camera_px[1]} on '{device.name}'")
    written = input_px + (kernel_px if kernel_reloaded else 0)
    return PassTime(
        input_modulator_s=1.0 / device.input_refresh_hz,
        fourier_modulator_s=(1.0 / device.fourier_refresh_hz) if kernel_reloaded else 0.0,
        camera_s=1.0 / device.camera_fps,
        dac_s=written / device.dac_samples_per_s if device.dac_samples_per_s else 0.0,
        adc_s=camera_px_read / device.adc_samples_per_s if device.adc_samples_per_s else 0.0,
    )


def layer_time_s(layer: ConvLayer, device: Optical4fDevice, **modes) -> float:
    """Seconds for one layer: its passes, each timed by ``pass_time`` with full-frame modulator writes and
    the pass's valid output maps read; passes that reuse the previous kernel skip the Fourier refresh."""
    count = conv_passes(layer, device, **modes)
    frame_in = device.input_modulator_px[0] * device.input_modulator_px[1]
    frame_k = device.fourier_modulator_px[0] * device.fourier_modulator_px[1]
    with_reload = pass_time(device, input_px=frame_in, kernel_px=frame_k, camera_px_read=count.camera_px_per_pass)
    reuse = pass_time(device, input_px=frame_in, kernel_px=frame_k, camera_px_read=count.camera_px_per_pass,
                      kernel_reloaded=False)
    return count.kernel_loads * with_reload.seconds + (count.passes - count.kernel_loads) * reuse.seconds


def network_time_s(layers, device: Optical4fDevice, **modes) -> float:
    """Seconds per input for the optical layers of ``layers`` (Li & Gupta Table 2 counts conv layers only)."""
    return sum(layer_time_s(layer, device, **modes) for layer in layers if layer.optical)


# ---------------------------------------------------------------------------------------------------------
# Functional model (numpy FFT)
# ---------------------------------------------------------------------------------------------------------

def direct_correlate2d(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Reference CNN convolution: 'same' cross-correlation of x (H, W) with w (kh, kw) by explicit sliding
    windows (no FFT). Zero padding (kh - 1) // 2 before and the rest after, as PyTorch ``padding="same"``."""
    x = np.asarray(x, dtype=float)
    w = np.asarray(w, dtype=float)
    kh, kw = w.shape
    top, left = (kh - 1) // 2, (kw - 1) // 2
    padded = np.pad(x, ((top, kh - 1 - top), (left, kw - 1 - left)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (kh, kw))
    return np.einsum("ijab,ab->ij", windows, w)


def camera_quantise(intensity: np.ndarray, bits: int | None, full_scale: float | None = None) -> np.ndarray:
    """Camera detection: intensities rounded to 2**bits - 1 uniform steps of ``full_scale`` (default: the
    frame's maximum, i.e. ideal exposure), clipped to [0, full_scale]. ``bits=None``: an ideal camera.
    [LG22] Sec. 4.2.2 models the camera the same way (8 / 12 bits, 256 / 4096 uniform intervals)."""
    intensity = np.asarray(intensity, dtype=float)
    if bits is None:
        return intensity
    _require(isinstance(bits, int) and 1 <= bits <= 32, f"camera bits = {bits!r}; allowed: an integer in 1..32")
    scale = float(intensity.max()) if full_scale is None else float(full_scale)
    if scale <= 0:
        return np.zeros_like(intensity)
    steps = 2 ** bits - 1
    return np.clip(np.rint(intensity / scale * steps), 0, steps) * (scale / steps)


def quantisation_bound(full_scale: float, bits: int | None) -> float:
    """Largest amplitude error one detection can make: the camera rounds the intensity I <= full_scale to
    within half a step d = full_scale / (2**bits - 1), and |sqrt(a) - sqrt(b)| <= sqrt(|a - b|), so the
    recovered amplitude sqrt(I_q) is within sqrt(d / 2) of sqrt(I). 0 for an ideal camera."""
    if bits is None:
        return 0.0
    return math.sqrt(full_scale / (2 * (2 ** bits - 1)))


def _detect_correlation(x: np.ndarray, w: np.ndarray, bits: int | None) -> tuple[np.ndarray, float]:
    """One 4f pass computing the 'same' correlation of x with w: the input plane is x zero-padded to the
    (H + kh - 1, W + kw - 1) block; the Fourier mask is conj(FFT(w padded)) (a matched filter, which turns the
    lens pair's convolution into the correlation CNNs use); the camera detects |field|^2 at ``bits``.
    Returns the recovered amplitude sqrt(I_q) cropped to H x W and the per-pass error bound."""
    h, wd = x.shape
    kh, kw = w.shape
    size = (h + kh - 1, wd + kw - 1)
    top, left = (kh - 1) // 2, (kw - 1) // 2
    plane = np.zeros(size)
    plane[top:top + h, left:left + wd] = x               # input modulator: the image inside its padded block
    kernel_plane = np.zeros(size)
    kernel_plane[:kh, :kw] = w
    mask = np.conj(np.fft.fft2(kernel_plane))            # Fourier-plane modulator
    field = np.fft.ifft2(np.fft.fft2(plane) * mask)      # second lens: back to the image plane
    intensity = np.abs(field[:h, :wd]) ** 2              # camera: square-law detection of the H x W output
    full_scale = float(intensity.max())                  # exposure set on the pixels read
    amplitude = np.sqrt(camera_quantise(intensity, bits, full_scale))
    return amplitude, quantisation_bound(full_scale, bits)


def optical_correlate2d(x: np.ndarray, w: np.ndarray, *, sign_handling: str = "none",
                        camera_bits: int | None = None) -> tuple[np.ndarray, float]:
    """A single-channel CNN convolution (same-size cross-correlation) through the 4f system.

    ``none``: one pass, output sqrt(I) = |x * w| (correct when x * w >= 0, e.g. non-negative x and w).
    ``pseudo_negative``: w = w+ - w-, two passes, output sqrt(I+) - sqrt(I-) (correct for x >= 0;
    [FN23] Optics_simulation.optConv2d subtracts the two detected amplitudes the same way).
    ``channel_tiling`` with one channel is ``none``: the camera returns |y| ([LG22] Sec. 4.2.1: the absolute
    value is the activation). Returns (output (H, W), error bound: |output - ideal| <= bound for x >= 0)."""
    x = np.asarray(x, dtype=float)
    w = np.asarray(w, dtype=float)
    _require(x.ndim == 2 and w.ndim == 2, f"x and w must be 2-D, got shapes {x.shape} and {w.shape}")
    sign_factor(sign_handling)
    if sign_handling == "pseudo_negative":
        pos, bound_pos = _detect_correlation(x, np.maximum(w, 0.0), camera_bits)
        neg, bound_neg = _detect_correlation(x, np.maximum(-w, 0.0), camera_bits)
        return pos - neg, bound_pos + bound_neg
    return _detect_correlation(x, w, camera_bits)


def optical_tiled_frame(x: np.ndarray, w: np.ndarray, input_blocks, kernel_blocks, plane_blocks: tuple[int, int],
                        camera_bits: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One 4f frame with several channels and filters tiled on the modulators, as (H + kh - 1, W + kw - 1)
    blocks on a ``plane_blocks`` (rows, cols) grid.

    x: (C, H, W) input maps, map c written at block ``input_blocks[c]`` (row, col) of the input modulator;
    w: (K, C, kh, kw) kernels, w[f, c] written at block ``kernel_blocks[f][c]`` of the Fourier modulator (as the
    spectrum of that tiled plane, conjugated: a matched filter). The system computes one circular correlation
    of the two planes ([LG22] eq. (2)); filter f is read at the lag where its channel c meets map c, i.e.
    offset by kernel_blocks[f][0] - input_blocks[0] blocks, and detected as |.|^2 at ``camera_bits``. If every
    filter's blocks are the input layout shifted by one offset, and no two filters' offsets differ (modulo the
    grid) by a difference of two input blocks, the read value is |sum_c x_c * w[f, c]|; otherwise other
    (map, kernel) pairs land on it (crosstalk). Returns (K, H, W) amplitudes and the per-filter error bound."""
    c, h, wd = x.shape
    k, _, kh, kw = w.shape
    bh, bw = h + kh - 1, wd + kw - 1
    size = (plane_blocks[0] * bh, plane_blocks[1] * bw)
    top, left = (kh - 1) // 2, (kw - 1) // 2
    tiled_x = np.zeros(size)
    for ch, (br, bc) in enumerate(input_blocks):
        _require(0 <= br < plane_blocks[0] and 0 <= bc < plane_blocks[1], f"input block {(br, bc)} outside {plane_blocks}")
        tiled_x[br * bh:br * bh + h, bc * bw:bc * bw + wd] += x[ch]
    tiled_w = np.zeros(size)
    for f in range(k):
        for ch, (br, bc) in enumerate(kernel_blocks[f]):
            _require(0 <= br < plane_blocks[0] and 0 <= bc < plane_blocks[1], f"kernel block {(br, bc)} outside {plane_blocks}")
            tiled_w[br * bh:br * bh + kh, bc * bw:bc * bw + kw] += w[f, ch]
    field = np.fft.ifft2(np.fft.fft2(tiled_x) * np.conj(np.fft.fft2(tiled_w)))
    out = np.empty((k, h, wd))
    bounds = np.empty(k)
    for f in range(k):
        # lag (i - top, j - left) + the filter's offset is output pixel (i, j); negative lags wrap. The camera
        # reads only this valid H x W region ([LG22] Sec. 3.2.1, Fig. 1e) and exposes for it.
        off_r = (kernel_blocks[f][0][0] - input_blocks[0][0]) * bh
        off_c = (kernel_blocks[f][0][1] - input_blocks[0][1]) * bw
        rows = (np.arange(h) - top - off_r) % size[0]
        cols = (np.arange(wd) - left - off_c) % size[1]
        intensity = np.abs(field[np.ix_(rows, cols)]) ** 2
        full_scale = float(intensity.max())
        out[f] = np.sqrt(camera_quantise(intensity, camera_bits, full_scale))
        bounds[f] = quantisation_bound(full_scale, camera_bits)
    return out, bounds


def dense_layout(channels: int, filters: int, plane_blocks: tuple[int, int]):
    """The packing ``conv_passes(packing="dense")`` counts: input maps in raster order over the grid, and the
    filters' (filter, channel) blocks packed one after another in raster order. Returns (input_blocks,
    kernel_blocks) for ``optical_tiled_frame``. When ``channels`` does not divide the grid width, a filter's
    blocks are not a shifted copy of the input layout and its channels do not sum."""
    n_c = plane_blocks[1]
    _require(channels * filters <= plane_blocks[0] * n_c,
             f"{channels} x {filters} blocks exceed the {plane_blocks[0]}x{n_c} block grid")
    input_blocks = [divmod(ch, n_c) for ch in range(channels)]
    kernel_blocks = [[divmod(f * channels + ch, n_c) for ch in range(channels)] for f in range(filters)]
    return input_blocks, kernel_blocks


def superblock_shape(channels: int, plane_blocks: tuple[int, int]) -> tuple[int, int, int]:
    """The channel rectangle (rows, cols) of blocks that fits the most filters per frame when every filter is a
    shifted copy of it on a lattice of that pitch, and that count. Raises HwsimError if ``channels`` exceed the
    grid (split the channels first)."""
    n_r, n_c = plane_blocks
    _require(1 <= channels <= n_r * n_c, f"{channels} channels do not fit a {n_r}x{n_c} block grid")
    best = (0, 0, 0)
    for rows in range(1, n_r + 1):
        cols = -(-channels // rows)
        if cols <= n_c:
            count = (n_r // rows) * (n_c // cols)
            if count > best[2]:
                best = (rows, cols, count)
    return best


def superblock_layout(channels: int, filters: int, plane_blocks: tuple[int, int]):
    """Crosstalk-free packing for ``optical_tiled_frame``: the input maps fill a rows x cols rectangle of blocks
    (``superblock_shape``), each filter's kernels the same rectangle shifted to a lattice point (pitch = the
    rectangle). Two filters' offsets differ by at least the rectangle in one axis, also across the wrap of a
    circular frame, so no input-block difference matches them. Raises HwsimError if the filters do not fit."""
    rows, cols, per_frame = superblock_shape(channels, plane_blocks)
    _require(filters <= per_frame, f"{filters} filters of {channels} channels exceed {per_frame} per "
             f"{plane_blocks[0]}x{plane_blocks[1]} block frame")
    per_row = plane_blocks[1] // cols
    input_blocks = [divmod(ch, cols) for ch in range(channels)]
    kernel_blocks = []
    for f in range(filters):
        r0, c0 = (f // per_row) * rows, (f % per_row) * cols
        kernel_blocks.append([(r0 + br, c0 + bc) for br, bc in input_blocks])
    return input_blocks, kernel_blocks


def _channel_tiled_layer(x: np.ndarray, w: np.ndarray, bits: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Channel tiling as [LG22] eqs. (2)-(3) lay it out: per output filter, one frame holding the C maps and
    the C kernels in the same order on a ceil(sqrt(C)) x ceil(sqrt(C)) grid of blocks, no extra padding (the
    frame's circular correlation only corrupts the invalid region). The camera detects |sum|^2 once per
    filter, so the output is |y|."""
    c, k = x.shape[0], w.shape[0]
    grid = math.ceil(math.sqrt(c))
    input_blocks = [divmod(ch, grid) for ch in range(c)]
    out = np.empty((k,) + x.shape[1:])
    bounds = np.empty(k)
    for f in range(k):
        frame, bound = optical_tiled_frame(x, w[f:f + 1], input_blocks, [input_blocks], (grid, grid), bits)
        out[f], bounds[f] = frame[0], bound[0]
    return out, bounds


def optical_conv_layer(x: np.ndarray, w: np.ndarray, *, sign_handling: str,
                       camera_bits: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A multi-channel conv layer (x: (C, H, W), w: (K, C, kh, kw)) through the 4f system.

    ``channel_tiling``: one detection per filter of the optically summed channels -> |y| ([LG22] Sec. 3.2).
    ``pseudo_negative`` / ``none``: one detection per (filter, channel) pair (two for pseudo-negative), the
    channel sum formed electronically after the camera ([FN23] OpticalConv2d.forward sums over channels after
    optConv2d), so every partial sum carries its own quantisation error.
    Returns (output (K, H, W), per-filter error bound (K,)): |output - ideal| <= bound, where ideal is |y| for
    channel tiling and y for the others, valid for x >= 0 (and w >= 0 for ``none``)."""
    x = np.asarray(x, dtype=float)
    w = np.asarray(w, dtype=float)
    _require(x.ndim == 3 and w.ndim == 4 and w.shape[1] == x.shape[0],
             f"x must be (C, H, W) and w (K, C, kh, kw) with the same C, got {x.shape} and {w.shape}")
    sign_factor(sign_handling)
    if sign_handling == "channel_tiling":
        return _channel_tiled_layer(x, w, camera_bits)
    k, c = w.shape[:2]
    out = np.zeros((k,) + x.shape[1:])
    bounds = np.zeros(k)
    for f in range(k):
        for ch in range(c):
            partial, bound = optical_correlate2d(x[ch], w[f, ch], sign_handling=sign_handling, camera_bits=camera_bits)
            out[f] += partial
            bounds[f] += bound
    return out, bounds


# ---------------------------------------------------------------------------------------------------------
# The CNNs the 4f literature times (plain data; docs/optical4f.md gives the derivation of each)
# ---------------------------------------------------------------------------------------------------------

def vgg16(input_px: int) -> tuple[ConvLayer, ...]:
    """VGG16's 13 conv layers (Simonyan & Zisserman, config D: 3x3, same padding, 2x2 max-pool after blocks
    of 2, 2, 3, 3, 3 layers) on an input_px x input_px RGB image. [LG22] Table 2 times it on CIFAR-10 (32),
    ImageNet (224) and SpaceNet 7."""
    widths = [64, 64, "pool", 128, 128, "pool", 256, 256, 256, "pool", 512, 512, 512, "pool", 512, 512, 512]
    layers, in_ch, size, index = [], 3, input_px, 0
    for width in widths:
        if width == "pool":
            size //= 2
            continue
        index += 1
        layers.append(ConvLayer(name=f"conv{index}", in_ch=in_ch, out_ch=width, in_h=size, kernel_h=3))
        in_ch = width
    return tuple(layers)


def alexnet_li_gupta() -> tuple[ConvLayer, ...]:
    """AlexNet as [LG22] count it: Krizhevsky et al.'s widths 96, 256, 384, 384, 256 without the two-GPU
    grouping. sum(in x out) = 368,928 -> 0.184464 s at 2 MHz = Table 2's 1.84e-1 (torchvision's 64-192-384-
    256-256 gives 0.125 s; the grouped original 0.117 s). Spatial sizes: the standard 227 input, 11x11 stride
    4 -> 55, pool -> 27 (conv2, 5x5), pool -> 13 (conv3..5, 3x3)."""
    return (
        ConvLayer(name="conv1", in_ch=3, out_ch=96, in_h=227, kernel_h=11),
        ConvLayer(name="conv2", in_ch=96, out_ch=256, in_h=27, kernel_h=5),
        ConvLayer(name="conv3", in_ch=256, out_ch=384, in_h=13, kernel_h=3),
        ConvLayer(name="conv4", in_ch=384, out_ch=384, in_h=13, kernel_h=3),
        ConvLayer(name="conv5", in_ch=384, out_ch=256, in_h=13, kernel_h=3),
    )


def srcnn_li_gupta() -> tuple[ConvLayer, ...]:
    """SRCNN (Dong et al., TPAMI 2016) as [LG22] Sec. 4.1 describe it: 9x9 and 5x5 optical layers on a 512 x 512
    target; its 1x1 middle layer left to electronics (as they do for DeconvNet's 1x1). The widths are not in
    [LG22]: the RGB model with Dong et al.'s wider setting n1 = 128, n2 = 64 gives 3 x 128 + 64 x 3 = 576 pairs
    = 2.88e-4 s, Table 2's no-tiling entry exactly (the default n1 = 64, n2 = 32 gives 288 = 1.44e-4 s)."""
    return (
        ConvLayer(name="conv1", in_ch=3, out_ch=128, in_h=512, kernel_h=9),
        ConvLayer(name="conv2_1x1", in_ch=128, out_ch=64, in_h=512, kernel_h=1, optical=False),
        ConvLayer(name="conv3", in_ch=64, out_ch=3, in_h=512, kernel_h=5),
    )


def deconvnet_xu(input_px: int) -> tuple[ConvLayer, ...]:
    """DeconvNet (Xu et al., NIPS 2014) with [LG22] Sec. 4.1's kernels 121x1, 1x121, 16x16, 1x1, 8x8, the 1x1
    excluded ([LG22] Table 2 note). Widths are our reading of Xu et al. (not verified against their paper, which
    was not at hand): 38 separable 1-D kernels (the 1x121 applied per channel), 512 maps in the outlier-rejection
    part, one grey output. sum(in x out) = 20,044 -> 1.00e-2 s vs Table 2's 1.02e-2 (-1.7 %); no integer width
    of this shape gives 1.02e-2. ``input_px`` is not in [LG22] either: it is a required argument."""
    return (
        ConvLayer(name="conv1_121x1", in_ch=1, out_ch=38, in_h=input_px, kernel_h=121, kernel_w=1),
        ConvLayer(name="conv2_1x121", in_ch=38, out_ch=38, in_h=input_px, kernel_h=1, kernel_w=121, groups=38),
        ConvLayer(name="conv3_16x16", in_ch=38, out_ch=512, in_h=input_px, kernel_h=16),
        ConvLayer(name="conv4_1x1", in_ch=512, out_ch=512, in_h=input_px, kernel_h=1, optical=False),
        ConvLayer(name="conv5_8x8", in_ch=512, out_ch=1, in_h=input_px, kernel_h=8),
    )


def resnet18_fatnet_code() -> tuple[ConvLayer, ...]:
    """The ResNet-18 [FN23] compare against, as their code defines it (riadibadulla/simulator models.py class
    ResNet): a 7x7 stem at 32 x 32 then adaptive pooling to 16, 8, 4, 2 after the first conv of each stage,
    3x3 convs, residual adds without 1x1 projection convs (17 conv layers + a linear classifier)."""
    spec = [("conv1", 3, 64, 32, 7)]
    spec += [(f"res1.{i}", 64, 64, 16, 3) for i in (1, 2)] + [(f"res2.{i}", 64, 64, 16, 3) for i in (1, 2)]
    spec += [("conv2.1", 64, 128, 16, 3), ("conv2.2", 128, 128, 8, 3)] + [(f"res3.{i}", 128, 128, 8, 3) for i in (1, 2)]
    spec += [("conv3.1", 128, 256, 8, 3), ("conv3.2", 256, 256, 4, 3)] + [(f"res4.{i}", 256, 256, 4, 3) for i in (1, 2)]
    spec += [("conv4.1", 256, 512, 4, 3), ("conv4.2", 512, 512, 2, 3)] + [(f"res5.{i}", 512, 512, 2, 3) for i in (1, 2)]
    return tuple(ConvLayer(name=n, in_ch=i, out_ch=o, in_h=s, kernel_h=k) for n, i, o, s, k in spec)


def fatnet_cifar() -> tuple[ConvLayer, ...]:
    """FatNet as [FN23]'s code defines it (riadibadulla/simulator models.py class FatNet / Optica_FatNet): same
    stem as the ResNet, then feature maps held at 10 x 10 (adaptive pool after conv2.1) with fewer channels
    and larger kernels (4, 5, 7, 10), and a 10x10 conv to one channel as the classifier."""
    spec = [("conv1", 3, 64, 32, 7)]
    spec += [(f"res1.{i}", 64, 64, 16, 3) for i in (1, 2)] + [(f"res2.{i}", 64, 64, 16, 3) for i in (1, 2)]
    spec += [("conv2.1", 64, 82, 16, 4), ("conv2.2", 82, 82, 10, 5)] + [(f"res3.{i}", 82, 82, 10, 5) for i in (1, 2)]
    spec += [("conv3.1", 82, 78, 10, 7), ("conv3.2", 78, 78, 10, 10)] + [(f"res4.{i}", 78, 78, 10, 10) for i in (1, 2)]
    spec += [("conv4.1", 78, 151, 10, 10), ("conv4.2", 151, 155, 10, 10), ("res5.1", 155, 151, 10, 10),
             ("res5.2", 151, 155, 10, 10), ("classifier", 155, 1, 10, 10)]
    return tuple(ConvLayer(name=n, in_ch=i, out_ch=o, in_h=s, kernel_h=k) for n, i, o, s, k in spec)


# [LG22] p. 5, Table 2: seconds per input (conv layers only): GPU (2080 Ti, fp16), channel tiling, no tiling,
# speedup (= GPU / channel tiling). Keys are ours; "VGG16-SpaceNet7" is Table 2's spelling.
LI_GUPTA_TABLE2 = {
    "vgg16-cifar10": {"gpu_s": 5.07e-5, "channel_tiling_s": 6e-6, "no_tiling_s": 8.17e-1, "speedup": 8.45},
    "vgg16-imagenet": {"gpu_s": 1.41e-3, "channel_tiling_s": 6e-5, "no_tiling_s": 8.17e-1, "speedup": 23.50},
    "alexnet-imagenet": {"gpu_s": 1.31e-4, "channel_tiling_s": 7e-6, "no_tiling_s": 1.84e-1, "speedup": 18.71},
    "vgg16-spacenet7": {"gpu_s": 1.79e-2, "channel_tiling_s": 1.06e-3, "no_tiling_s": 8.17e-1, "speedup": 16.89},
    "deconvnet": {"gpu_s": 3.76e-4, "channel_tiling_s": 8e-6, "no_tiling_s": 1.02e-2, "speedup": 47.00},
    "srcnn": {"gpu_s": 1.48e-3, "channel_tiling_s": 2.4e-5, "no_tiling_s": 2.88e-4, "speedup": 61.67},
}


def li_gupta_networks() -> dict[str, tuple[ConvLayer, ...]]:
    """The layer list behind each Table 2 row (keys of ``LI_GUPTA_TABLE2``). Input sizes [LG22] do not state:
    SpaceNet 7 at its native 1024 x 1024 px (assumption from the dataset's description); DeconvNet at 88 px,
    FITTED (not a source value): the packing rule gives Table 2's 16 passes for 85..90 px inputs only."""
    return {
        "vgg16-cifar10": vgg16(32),
        "vgg16-imagenet": vgg16(224),
        "alexnet-imagenet": alexnet_li_gupta(),
        "vgg16-spacenet7": vgg16(1024),
        "deconvnet": deconvnet_xu(88),
        "srcnn": srcnn_li_gupta(),
    }
