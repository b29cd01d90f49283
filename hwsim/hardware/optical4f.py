"""4f free-space optical hardware config (``kind: optical4f``): modulators, camera, converters, laser, the
mode of channel tiling and sign handling, and the electronic co-processor that runs what the optics does not.

Field names are a user-visible contract. The physics and the pass counting are
:mod:`hwsim.backends.optical4f_model` (the ground truth, docs/optical4f.md); :meth:`Optical4fConfig.device`
turns a config into that module's :class:`~hwsim.backends.optical4f_model.Optical4fDevice`.

Fields left ``null`` follow another: the Fourier modulator's size and refresh default to the input
modulator's, the camera's size to the input modulator's and its frame rate to the input refresh (so a sweep of
``input_refresh_hz`` or ``input_modulator_rows`` moves the whole system). ``dac_samples_per_s`` /
``adc_samples_per_s`` ``null`` = not limiting (Li & Gupta state no converter rates).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar

from hwsim.backends.optical4f_model import (GREY_ENCODINGS, PACKINGS, SIGN_HANDLINGS, TILINGS,
                                            Optical4fDevice)
from hwsim.config import field
from hwsim.errors import ConfigError, HwsimError


@lru_cache(maxsize=32)
def _coprocessor(key: str):
    """The roofline config a ``coprocessor`` value names: a preset name or an inline mapping (as JSON key)."""
    from hwsim.hardware import hardware_from_dict, load_hardware
    value = json.loads(key)
    if isinstance(value, str):
        hw = load_hardware(value)
        source = f"coprocessor preset '{value}'"
    else:
        data = {"kind": "roofline", "name": "coprocessor", **value}
        source = "inline coprocessor"
        hw = hardware_from_dict(data, source)
    if hw.kind != "roofline":
        raise HwsimError(f"{source}: kind '{hw.kind}'; allowed: a roofline preset or mapping")
    return hw


@dataclass(frozen=True, kw_only=True)
class Optical4fConfig:
    """A 4f system: input modulator -> lens -> Fourier-plane modulator -> lens -> camera, fed by DACs and read
    by ADCs, plus an electronic co-processor (a ``roofline`` config) for every op the optics does not run.
    Sizes in pixels (rows, cols), rates in Hz or samples/s, energies in pJ per sample, powers in W.
    Raises ConfigError (one line per problem: field, value, limit) from ``__post_init__`` for a tiling that
    does not fit, a camera larger than the image plane, channel-tiling sign handling on an amplitude-only
    Fourier modulator, or a co-processor that is not a roofline config."""
    kind: ClassVar[str] = "optical4f"
    name: str = "optical4f"
    # --- modulators -------------------------------------------------------------------------------------
    input_modulator_rows: int = field(positive=True, doc="input (object-plane) modulator rows, px")
    input_modulator_cols: int = field(positive=True, doc="input modulator columns, px")
    input_refresh_hz: float = field(positive=True, doc="input modulator frame rate, Hz")
    input_levels: int = field(256, min=2, doc="grey levels the input modulator shows in one frame (2 = binary DMD)")
    fourier_modulator_rows: int | None = field(None, positive=True, doc="Fourier-plane modulator rows (null = input's)")
    fourier_modulator_cols: int | None = field(None, positive=True, doc="Fourier-plane modulator columns (null = input's)")
    fourier_refresh_hz: float | None = field(None, positive=True, doc="Fourier modulator frame rate, Hz (null = input's)")
    fourier_complex: bool = field(True, doc="the Fourier modulator holds complex (amplitude + phase) patterns")
    # --- camera -----------------------------------------------------------------------------------------
    camera_rows: int | None = field(None, positive=True, doc="camera rows, px (null = input modulator's)")
    camera_cols: int | None = field(None, positive=True, doc="camera columns, px (null = input modulator's)")
    camera_fps: float | None = field(None, positive=True, doc="camera frame rate, Hz (null = input_refresh_hz)")
    camera_bits: int = field(8, min=1, max=32, doc="camera bit depth")
    # --- converters, laser, power -------------------------------------------------------------------------
    dac_samples_per_s: float | None = field(None, positive=True, doc="DAC rate writing both modulators, samples/s (null = not limiting)")
    adc_samples_per_s: float | None = field(None, positive=True, doc="ADC rate reading the camera, samples/s (null = not limiting)")
    dac_pj_per_sample: float = field(0.0, min=0, doc="DAC energy per modulator pixel written, pJ")
    adc_pj_per_sample: float = field(0.0, min=0, doc="ADC energy per camera pixel read, pJ")
    laser_power_w: float = field(0.0, min=0, doc="optical power the laser emits while a pass is lit, W")
    optical_efficiency: float = field(1.0, positive=True, max=1.0,
                                      doc="laser wall-plug efficiency x transmission: electrical laser power = laser_power_w / this")
    input_modulator_power_w: float = field(0.0, min=0, doc="input modulator power while passes run, W")
    fourier_modulator_power_w: float = field(0.0, min=0, doc="Fourier modulator power while passes run, W")
    camera_power_w: float = field(0.0, min=0, doc="camera power while passes run, W")
    # --- mapping ------------------------------------------------------------------------------------------
    sign_handling: str = field("pseudo_negative", choices=SIGN_HANDLINGS,
                               doc="pseudo_negative: 2 passes per signed kernel; channel_tiling: signed sum in the field; none")
    tiling: str = field("channel", choices=TILINGS, doc="none: one channel pair per pass; channel: Li & Gupta's tiling")
    packing: str = field("dense", choices=PACKINGS,
                         doc="dense: ceil(pairs / tiles) (Li & Gupta's count, a lower bound); superblock: the verified layout")
    guard_px: int = field(0, min=0, doc="zero pixels between tiles beyond the (M + N - 1) padding")
    input_levels_needed: int = field(256, min=2, doc="grey levels of the data written to the input modulator")
    grey_encoding: str = field("thermometer", choices=GREY_ENCODINGS,
                               doc="how a modulator with fewer levels shows the data: thermometer or bit-plane frames")
    optical_min_kernel: int = field(2, positive=True,
                                    doc="convs with a smaller kernel (1x1) run on the co-processor (Li & Gupta Table 2 note)")
    detect_postprocess: bool = field(True, doc="square-root and accumulate every detected pixel on the co-processor "
                                     "(false: optics and converters only, as Li & Gupta's Table 2 times)")
    coprocessor: str | dict = field("gpu-rtx2080ti", doc="roofline preset name or inline roofline mapping")
    source: str = ""

    def __post_init__(self):
        problems: list[str] = []
        rows, cols = self.input_modulator_rows, self.input_modulator_cols
        f_rows, f_cols = self.fourier_px
        c_rows, c_cols = self.camera_px
        if c_rows > rows or c_cols > cols:
            problems.append(f"field 'camera_rows' x 'camera_cols' = {c_rows}x{c_cols}: exceeds the image plane "
                            f"(input_modulator {rows}x{cols})")
        if self.tiling == "channel":
            plane = (min(rows, f_rows), min(cols, f_cols))
            if self.guard_px + 2 > min(plane):
                problems.append(f"field 'guard_px' = {self.guard_px}: tiling 'channel' needs at least a 2 px block plus "
                                f"the guard on the {plane[0]}x{plane[1]} modulator overlap (limit {min(plane) - 2})")
        if self.sign_handling == "channel_tiling":
            if self.tiling != "channel":
                problems.append(f"field 'sign_handling' = 'channel_tiling': needs tiling 'channel' (got '{self.tiling}')")
            if not self.fourier_complex:
                problems.append("field 'sign_handling' = 'channel_tiling': needs fourier_complex = true (signed sums in "
                                "the field need a complex Fourier modulator); allowed here: pseudo_negative, none")
        if not isinstance(self.coprocessor, (str, dict)):
            problems.append(f"field 'coprocessor' = {self.coprocessor!r}: allowed: a roofline preset name or mapping")
        else:
            try:
                self.coprocessor_config()
            except HwsimError as exc:
                problems.append(f"field 'coprocessor' = {self.coprocessor!r}: {exc}")
        if problems:
            raise ConfigError(f"optical4f config '{self.name}'", problems)

    @property
    def fourier_px(self) -> tuple[int, int]:
        return (self.fourier_modulator_rows or self.input_modulator_rows,
                self.fourier_modulator_cols or self.input_modulator_cols)

    @property
    def camera_px(self) -> tuple[int, int]:
        return (self.camera_rows or self.input_modulator_rows, self.camera_cols or self.input_modulator_cols)

    def coprocessor_config(self):
        """The co-processor's :class:`hwsim.hardware.roofline.RooflineConfig` (preset or inline mapping)."""
        return _coprocessor(json.dumps(self.coprocessor, sort_keys=True))

    def device(self) -> Optical4fDevice:
        """This config as the ground-truth module's device (sizes as (rows, cols), nulls resolved)."""
        return Optical4fDevice(
            name=self.name,
            input_modulator_px=(self.input_modulator_rows, self.input_modulator_cols),
            input_refresh_hz=self.input_refresh_hz,
            input_levels=self.input_levels,
            fourier_modulator_px=self.fourier_px,
            fourier_refresh_hz=self.fourier_refresh_hz or self.input_refresh_hz,
            fourier_complex=self.fourier_complex,
            camera_px=self.camera_px,
            camera_fps=self.camera_fps or self.input_refresh_hz,
            camera_bits=self.camera_bits,
            dac_samples_per_s=self.dac_samples_per_s,
            adc_samples_per_s=self.adc_samples_per_s,
        )

    def modes(self) -> dict:
        """Keyword arguments of ``optical4f_model.conv_passes`` for this config."""
        return dict(tiling=self.tiling, sign_handling=self.sign_handling, packing=self.packing,
                    input_levels_needed=self.input_levels_needed, grey_encoding=self.grey_encoding,
                    guard_px=self.guard_px)

    def describe(self) -> str:
        """One line for ``hwsim presets``."""
        cop = self.coprocessor if isinstance(self.coprocessor, str) else "inline roofline"
        return (f"{self.input_modulator_rows}x{self.input_modulator_cols} px at {self.input_refresh_hz:g} Hz, "
                f"tiling {self.tiling}, signs {self.sign_handling}, co-processor {cop}")
