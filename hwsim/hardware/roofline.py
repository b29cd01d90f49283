"""Roofline hardware config: a GPU or CPU as peak rates, bandwidth, on-chip capacity and power
(the baselines the papers compare against). Field names are a user-visible contract."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from hwsim.config import field

PRECISIONS = ("fp32", "fp16", "bf16", "int8")


@dataclass(frozen=True, kw_only=True)
class RooflineConfig:
    """Peak GEMM throughput per precision (FLOP/s, two per MAC; int8 in OP/s), a vector rate for
    softmax/GELU/LayerNorm/element-wise ops, DRAM bandwidth, on-chip capacity, idle and busy power,
    and an efficiency factor per op class (1.0 = the pure roofline bound)."""
    kind: ClassVar[str] = "roofline"
    name: str = "roofline"
    precision: str = field("fp16", choices=PRECISIONS, doc="precision the GEMMs run at")
    clock_hz: float = field(1e9, positive=True, doc="boost clock, Hz (informational: peaks are given per second)")
    peak_fp32_flops: float = field(positive=True, doc="dense FP32 GEMM peak, FLOP/s")
    peak_fp16_flops: float = field(positive=True, doc="dense FP16 GEMM peak (tensor cores, FP32 accumulate), FLOP/s")
    peak_bf16_flops: float | None = field(None, positive=True, doc="dense BF16 GEMM peak, FLOP/s")
    peak_int8_ops: float | None = field(None, positive=True, doc="dense INT8 GEMM peak, OP/s")
    vector_flops: float = field(positive=True, doc="non-GEMM (CUDA core / SIMD) FP32 rate, FLOP/s")
    dram_bytes_per_s: float = field(positive=True, doc="DRAM bandwidth, bytes/s")
    onchip_bytes: float = field(0.0, min=0, doc="last-level on-chip capacity, bytes: activations that fit stay on chip")
    idle_power_w: float = field(min=0, doc="power when idle, W")
    busy_power_w: float = field(positive=True, doc="power at full load (board TDP), W")
    gemm_efficiency: float = field(1.0, positive=True, max=1.0, doc="achieved / peak GEMM rate")
    vector_efficiency: float = field(1.0, positive=True, max=1.0, doc="achieved / peak vector rate")
    memory_efficiency: float = field(1.0, positive=True, max=1.0, doc="achieved / peak DRAM bandwidth")
    die_area_mm2: float | None = field(None, positive=True, doc="die area, mm^2 (reported as the size)")
    source: str = ""

    def gemm_flops(self) -> float:
        """Peak GEMM rate at ``precision`` (FLOP/s or OP/s)."""
        peak = {"fp32": self.peak_fp32_flops, "fp16": self.peak_fp16_flops, "bf16": self.peak_bf16_flops,
                "int8": self.peak_int8_ops}[self.precision]
        return self.peak_fp32_flops if peak is None else peak

    @property
    def word_bytes(self) -> float:
        return {"fp32": 4, "fp16": 2, "bf16": 2, "int8": 1}[self.precision]

    @property
    def word_bits(self) -> int:
        return int(self.word_bytes * 8)

    def describe(self) -> str:
        """One line for ``hwsim presets``."""
        return (f"{self.precision} {self.gemm_flops() / 1e12:g} TFLOP/s, {self.dram_bytes_per_s / 1e9:g} GB/s, "
                f"{self.busy_power_w:g} W")
