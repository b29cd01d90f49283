"""Report: per-op rows and totals, the same type for cycle and analytic mode.

Outputs: a terminal table, JSON (a contract, see ``to_dict``), CSV, a per-layer energy/latency
breakdown plot and a roofline plot (matplotlib, imported lazily).
"""
from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

COMPONENTS = ("mac", "sram", "dram", "vector", "leakage")


@dataclass(frozen=True)
class OpRow:
    name: str
    kind: str
    unit: str
    cycles: int
    latency_s: float
    macs: int
    energy_by_component_pj: dict[str, float]
    dram_bytes: int
    compute_cycles: int
    dram_cycles: int
    utilization: float
    stalled: bool
    sram_reads: dict[str, int]     # words per operand
    sram_writes: dict[str, int]
    dram_reads: dict[str, int]
    dram_writes: dict[str, int]

    @property
    def energy_pj(self) -> float:
        return float(sum(self.energy_by_component_pj.values()))

    @property
    def bound(self) -> str:
        """What limits the op: memory (DRAM stalls the unit) or its compute unit."""
        return "memory" if self.stalled else self.unit

    def to_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "unit": self.unit, "cycles": self.cycles,
                "latency_s": self.latency_s, "energy_pj": self.energy_pj,
                "energy_by_component_pj": {k: float(v) for k, v in self.energy_by_component_pj.items()},
                "macs": self.macs, "dram_bytes": self.dram_bytes, "compute_cycles": self.compute_cycles,
                "dram_cycles": self.dram_cycles, "utilization": self.utilization, "bound": self.bound,
                "sram_reads": self.sram_reads, "sram_writes": self.sram_writes,
                "dram_reads": self.dram_reads, "dram_writes": self.dram_writes}


@dataclass(frozen=True)
class Report:
    model: str
    hardware: object
    mode: str
    ops: tuple[OpRow, ...]
    area_mm2: float = 0.0
    timeline: object = field(default=None, repr=False)

    # ---- totals ----------------------------------------------------------------------------------
    @property
    def cycles(self) -> int:
        return sum(r.cycles for r in self.ops)

    @property
    def latency_s(self) -> float:
        return self.cycles / self.hardware.clock_hz

    @property
    def energy_by_component_pj(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for r in self.ops:
            for k, v in r.energy_by_component_pj.items():
                out[k] = out.get(k, 0.0) + float(v)
        return {k: out[k] for k in COMPONENTS if k in out} | {k: v for k, v in out.items() if k not in COMPONENTS}

    @property
    def energy_pj(self) -> float:
        return sum(self.energy_by_component_pj.values())

    @property
    def macs(self) -> int:
        return sum(r.macs for r in self.ops)

    @property
    def dram_bytes(self) -> int:
        return sum(r.dram_bytes for r in self.ops)

    def totals(self) -> dict:
        return {"cycles": self.cycles, "latency_s": self.latency_s, "energy_pj": self.energy_pj,
                "energy_by_component_pj": self.energy_by_component_pj, "macs": self.macs,
                "dram_bytes": self.dram_bytes, "area_mm2": self.area_mm2,
                "edp_pj_s": self.energy_pj * self.latency_s}

    # ---- serialisation ---------------------------------------------------------------------------
    def to_dict(self) -> dict:
        from hwsim.hardware import hardware_to_dict
        return {"model": self.model, "hardware": self.hardware.name, "hardware_config": hardware_to_dict(self.hardware),
                "mode": self.mode, "totals": self.totals(), "ops": [r.to_dict() for r in self.ops]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def to_csv(self) -> str:
        buf = io.StringIO()
        fields = ["name", "kind", "unit", "cycles", "latency_s", "energy_pj", *(f"energy_{c}_pj" for c in COMPONENTS),
                  "macs", "dram_bytes", "compute_cycles", "dram_cycles", "utilization", "bound"]
        w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
        w.writeheader()
        for r in self.ops:
            d = r.to_dict()
            d.update({f"energy_{c}_pj": r.energy_by_component_pj.get(c, 0.0) for c in COMPONENTS})
            w.writerow({k: d[k] for k in fields})
        return buf.getvalue()

    def to_table(self, max_rows: int | None = None) -> str:
        head = f"{'op':<22} {'kind':<9} {'cycles':>11} {'latency':>10} {'energy':>10} {'MACs':>12} {'DRAM B':>11} {'util':>5}  bound"
        lines = [f"{self.model} on {self.hardware.name} ({self.mode} mode)", head, "-" * len(head)]
        rows = self.ops if max_rows is None else self.ops[:max_rows]
        for r in rows:
            lines.append(f"{r.name:<22} {r.kind:<9} {r.cycles:>11,} {_si(r.latency_s, 's'):>10} {_si(r.energy_pj * 1e-12, 'J'):>10} "
                         f"{r.macs:>12,} {r.dram_bytes:>11,} {r.utilization:>5.0%}  {r.bound}")
        if max_rows is not None and len(self.ops) > max_rows:
            lines.append(f"... {len(self.ops) - max_rows} more ops (use --format csv/json for all)")
        lines.append("-" * len(head))
        lines.append(f"{'total':<32} {self.cycles:>11,} {_si(self.latency_s, 's'):>10} {_si(self.energy_pj * 1e-12, 'J'):>10} "
                     f"{self.macs:>12,} {self.dram_bytes:>11,}")
        e = self.energy_by_component_pj
        lines.append("energy: " + ", ".join(f"{k} {_si(v * 1e-12, 'J')} ({v / self.energy_pj:.0%})" for k, v in e.items()))
        lines.append(f"area: {self.area_mm2:.2f} mm^2   throughput: {1 / self.latency_s:,.1f} inferences/s")
        return "\n".join(lines)

    def write_trace(self, path: str | Path) -> None:
        """Chrome/Perfetto trace JSON: the engine's task timeline (cycle mode), or one event per op
        laid back to back on its unit (analytic mode)."""
        if self.timeline is not None:
            self.timeline.to_chrome_trace(path, self.hardware.clock_hz, [r.name for r in self.ops])
            return
        units = sorted({r.unit for r in self.ops})
        events = [{"name": "thread_name", "ph": "M", "pid": 0, "tid": i, "args": {"name": u}} for i, u in enumerate(units)]
        t = 0.0
        for r in self.ops:
            events.append({"name": r.name, "ph": "X", "pid": 0, "tid": units.index(r.unit), "ts": t * 1e6,
                           "dur": r.latency_s * 1e6, "args": {"cycles": r.cycles, "energy_pj": r.energy_pj}})
            t += r.latency_s
        Path(path).write_text(json.dumps({"traceEvents": events, "displayTimeUnit": "ns"}))

    # ---- plots -----------------------------------------------------------------------------------
    def plot_breakdown(self, path: str | Path) -> None:
        """Stacked bars per layer: energy by component (top) and latency by op kind (bottom)."""
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        groups: dict[str, dict] = {}
        for r in self.ops:
            g = _layer_of(r.name)
            d = groups.setdefault(g, {"energy": {}, "cycles": {}})
            for k, v in r.energy_by_component_pj.items():
                d["energy"][k] = d["energy"].get(k, 0.0) + v
            d["cycles"][r.kind] = d["cycles"].get(r.kind, 0) + r.cycles
        names = list(groups)
        fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(max(8, 0.45 * len(names)), 7), sharex=True)
        for ax, key, scale, unit in ((ax1, "energy", 1e-6, "energy (µJ)"), (ax2, "cycles", 1e3 / self.hardware.clock_hz, "latency (ms)")):
            cats = sorted({c for g in groups.values() for c in g[key]})
            bottom = [0.0] * len(names)
            for c in cats:
                vals = [groups[n][key].get(c, 0) * scale for n in names]
                ax.bar(names, vals, bottom=bottom, label=c)
                bottom = [b + v for b, v in zip(bottom, vals)]
            ax.set_ylabel(unit)
            ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))   # beside the bars, never over them
        ax1.set_title(f"{self.model} on {self.hardware.name} ({self.mode}): {_si(self.latency_s, 's')}, {_si(self.energy_pj * 1e-12, 'J')}")
        ax2.tick_params(axis="x", rotation=60)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)

    def plot_roofline(self, path: str | Path, peak_macs_per_cycle: float, bytes_per_cycle: float) -> None:
        """Each op at (MACs per DRAM byte, achieved MACs per cycle) under the compute and bandwidth roofs."""
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import numpy as np
        pts = [(r.macs / max(r.dram_bytes, 1), r.macs / max(r.cycles, 1), r.kind) for r in self.ops if r.macs]
        fig, ax = plt.subplots(figsize=(7, 5))
        x = np.logspace(-1, 4, 200)
        ax.loglog(x, np.minimum(peak_macs_per_cycle, bytes_per_cycle * x), "k-", label="roofline")
        for kind in sorted({p[2] for p in pts}):
            sel = [p for p in pts if p[2] == kind]
            ax.scatter([p[0] for p in sel], [p[1] for p in sel], label=kind, alpha=0.7)
        ax.set_xlabel("operational intensity (MACs / DRAM byte)")
        ax.set_ylabel("achieved MACs / cycle")
        ax.set_title(f"{self.model} on {self.hardware.name} ({self.mode})")
        ax.legend()
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)


def _layer_of(name: str) -> str:
    m = re.match(r"(layer\d+)\.", name)
    return m.group(1) if m else name


def _si(value: float, unit: str) -> str:
    for scale, prefix in ((1, ""), (1e-3, "m"), (1e-6, "µ"), (1e-9, "n"), (1e-12, "p")):
        if abs(value) >= scale:
            return f"{value / scale:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}"
