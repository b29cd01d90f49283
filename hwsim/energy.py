"""Energy (pJ) and area (mm^2) constants from the sourced table ``hwsim/data/tech.yaml``.

Energy figures are Horowitz ISSCC 2014 at 45 nm, area figures TPU v1 (ISCA 2017) at 28 nm; other
nodes scale energy ~ node and area ~ node^2 (first-order; documented in the YAML).
"""
from __future__ import annotations

import math
from functools import lru_cache
import yaml

from hwsim.resources import data_file


@lru_cache(maxsize=1)
def _table() -> dict:
    return yaml.safe_load(data_file("tech.yaml").read_text())


def _interp_bits(points: dict, bits: int) -> float:
    """Energy of an integer unit of ``bits`` width; quadratic (mult) / linear (add) between points
    is approximated by log-log interpolation, extrapolated from the nearest pair."""
    xs = sorted(points)
    if bits in points:
        return float(points[bits])
    lo, hi = (xs[0], xs[1]) if bits < xs[0] else (xs[-2], xs[-1]) if bits > xs[-1] else \
        max((a, b) for a, b in zip(xs, xs[1:]) if a < bits)
    slope = math.log(points[hi] / points[lo]) / math.log(hi / lo)
    return float(points[lo] * (bits / lo) ** slope)


def _energy_scale(tech_nm: int) -> float:
    return tech_nm / 45.0


def mac_pj(word_bits: int, acc_bits: int, tech_nm: int = 45) -> float:
    """One multiply (word_bits) plus one accumulate (acc_bits), pJ."""
    e = _table()[45]["energy_pj"]
    return (_interp_bits(e["int_mult"], word_bits) + _interp_bits(e["int_add"], acc_bits)) * _energy_scale(tech_nm)


def alu_pj(bits: int, tech_nm: int = 45) -> float:
    """One multiply-add at ``bits`` width (a vector-unit element operation), pJ."""
    return mac_pj(bits, bits, tech_nm)


def sram_pj_per_byte(size_kib: float, tech_nm: int = 45) -> float:
    """SRAM access energy per byte for an array of ``size_kib``: log-size interpolation of the
    8 KB / 32 KB / 1 MB Horowitz points (64-bit words), clamped at the ends."""
    pts = _table()[45]["energy_pj"]["sram_pj_per_64b"]
    xs = sorted(pts)
    kib = min(max(size_kib, xs[0]), xs[-1])
    for a, b in zip(xs, xs[1:]):
        if a <= kib <= b:
            t = math.log(kib / a) / math.log(b / a)
            return (pts[a] + t * (pts[b] - pts[a])) / 8 * _energy_scale(tech_nm)
    raise AssertionError("unreachable")


def dram_pj_per_byte(tech_nm: int = 45) -> float:
    """DRAM access energy per byte (does not scale with logic node)."""
    return float(_table()[45]["energy_pj"]["dram_pj_per_byte"])


def node_range_nm() -> tuple[int, int]:
    """``(smallest, largest)`` technology node, nm, the scaling of this module is applied to
    (``node_range_nm`` in tech.yaml; an assumption stated there)."""
    lo, hi = _table()["node_range_nm"]
    return int(lo), int(hi)


def leakage_fraction() -> float:
    return float(_table()["leakage_fraction_of_mac"])


def pe_area_mm2(word_bits: int, tech_nm: int) -> float:
    """Area of one MAC PE: the TPU v1 8-bit figure, scaled ~ bits^2 (multiplier) and node^2."""
    return _table()[28]["area_mm2"]["pe_8bit"] * (word_bits / 8) ** 2 * (tech_nm / 28) ** 2


def sram_area_mm2(kib: float, tech_nm: int) -> float:
    return _table()[28]["area_mm2"]["sram_per_kib"] * kib * (tech_nm / 28) ** 2
