"""Report: per-op rows and totals, the same type for every backend kind and both modes.

Outputs: a terminal table (per op, or per layer/block with ``by``), JSON (schema version 2, a contract:
see :meth:`Report.to_dict` and the README), CSV (one column per energy component and counter present),
a per-layer energy/latency breakdown plot, a roofline plot and a Chrome/Perfetto trace (matplotlib
imported lazily).

Units: time is kept in engine ticks and converted with the backend's ``tick_s`` (seconds per tick);
``cycles`` appear only where the backend has a clock (one tick = one cycle). Energy is pJ, ``None``
(JSON null) where the backend has no energy model.
"""
from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

SCHEMA_VERSION = 2
GROUPINGS = ("layer", "block")


@dataclass(frozen=True)
class KindInfo:
    """What a report needs to know of the backend kind (``from_backend``)."""
    kind: str
    tick_s: float                     # seconds per tick for this hardware config
    has_clock: bool                   # one tick = one clock cycle
    has_energy: bool
    memory_levels: tuple[str, ...]
    size: Mapping[str, float]         # hardware size in the kind's own units (area_mm2, or lut/ff/dsp/bram)
    static_power_w: float | None
    static_component: str
    counter_units: Mapping[str, str]
    peak_macs_per_s: float | None = None   # for utilisation = MACs / (peak x latency)
    # optional per-config sections of the report (``Backend.report_sections``, e.g. the systolic ``fpga``):
    # top-level keys of the JSON, and their one-line summaries for the table (``Backend.section_lines``)
    sections: Mapping[str, Any] = field(default_factory=dict)
    section_lines: tuple[str, ...] = ()

    @classmethod
    def from_backend(cls, backend, hw) -> "KindInfo":
        sections = getattr(backend, "report_sections", None)
        sections = dict(sections(hw)) if sections else {}
        lines = getattr(backend, "section_lines", None)
        return cls(kind=backend.kind, tick_s=backend.tick_s(hw), has_clock=backend.has_clock,
                   has_energy=backend.has_energy, memory_levels=tuple(backend.memory_levels),
                   size=dict(backend.size(hw)), static_power_w=backend.static_power_w(hw) if backend.has_energy else None,
                   static_component=backend.static_component, counter_units=dict(backend.counter_units),
                   peak_macs_per_s=backend.peak_rates(hw).get("macs_per_s"),
                   sections=sections, section_lines=tuple(lines(sections)) if lines else ())


def _add(acc: dict, values: Mapping) -> dict:
    """Sum a counter mapping into ``acc``: numbers add, flat mappings add key by key."""
    for k, v in values.items():
        if isinstance(v, Mapping):
            sub = acc.setdefault(k, {})
            for kk, vv in v.items():
                sub[kk] = sub.get(kk, 0) + vv
        else:
            acc[k] = acc.get(k, 0) + v
    return acc


@dataclass(frozen=True)
class OpRow:
    """One op (or a group of ops) of a report. Time in ticks (``tick_s`` seconds each)."""
    name: str
    kind: str
    unit: str
    ticks: int
    tick_s: float
    macs: int
    energy_by_component_pj: Mapping[str, float] | None
    bytes_by_level: Mapping[str, float]
    busy_ticks: Mapping[str, int]
    utilization: float
    bound: str
    counters: Mapping[str, Any] = field(default_factory=dict)
    ideal_ticks: int = 0
    layer: int | None = None
    block: str = ""
    unit_utilization: float = 0.0   # the backend's: achieved / peak rate of ``unit`` while it is busy
    details: Mapping[str, Any] = field(default_factory=dict)   # per-op facts, not summed (OpCost.details)

    @property
    def latency_s(self) -> float:
        return self.ticks * self.tick_s

    @property
    def cycles(self) -> int:
        """Ticks, for clocked kinds (where a tick is a cycle)."""
        return self.ticks

    @property
    def energy_pj(self) -> float | None:
        e = self.energy_by_component_pj
        return None if e is None else float(sum(e.values()))

    @property
    def dram_bytes(self) -> int:
        return int(self.bytes_by_level.get("dram", 0))

    @property
    def compute_cycles(self) -> int:
        return int(self.busy_ticks.get(self.unit, 0))

    @property
    def dram_cycles(self) -> int:
        return int(self.busy_ticks.get("dram", 0))

    @property
    def stalled(self) -> bool:
        return self.bound not in ("", self.unit)

    def to_dict(self, info: KindInfo) -> dict:
        d: dict[str, Any] = {"name": self.name, "kind": self.kind, "layer": self.layer, "block": self.block,
                             "unit": self.unit}
        if info.has_clock:
            d["cycles"] = self.ticks
        e = self.energy_by_component_pj
        d.update({"latency_s": self.latency_s, "energy_pj": self.energy_pj,
                  "energy_by_component_pj": None if e is None else {k: float(v) for k, v in e.items()},
                  "macs": self.macs})
        if "dram" in info.memory_levels:
            d["dram_bytes"] = self.dram_bytes
        d["bytes_by_level"] = {k: _num(v) for k, v in self.bytes_by_level.items()}
        if info.has_clock:
            d["compute_cycles"] = self.compute_cycles
            d["dram_cycles"] = self.dram_cycles
        d.update({"busy_s": {k: v * self.tick_s for k, v in self.busy_ticks.items()},
                  "utilization": self.utilization, "unit_utilization": self.unit_utilization, "bound": self.bound})
        d.update(self.counters)
        d.update(self.details)
        return d


def group_rows(rows, by: str) -> list[OpRow]:
    """Rows summed per layer (``by='layer'``: ``layer3``; ops outside the blocks keep their block or
    name) or per block (``layer3.attn``), in first-appearance order. Bound and unit are those of the
    op with the most ticks in the group; utilisation is tick-weighted."""
    if by not in GROUPINGS:
        from hwsim.errors import UnknownName
        raise UnknownName("grouping", by, GROUPINGS)
    groups: dict[str, list[OpRow]] = {}
    for r in rows:
        if r.layer is None:
            key = r.block or r.name
        else:
            key = f"layer{r.layer}" + (f".{r.block}" if by == "block" and r.block else "")
        groups.setdefault(key, []).append(r)
    out = []
    for key, rs in groups.items():
        top = max(rs, key=lambda r: r.ticks)
        ticks = sum(r.ticks for r in rs)
        energy = None if any(r.energy_by_component_pj is None for r in rs) else \
            _sum_maps(r.energy_by_component_pj for r in rs)
        counters: dict = {}
        for r in rs:
            _add(counters, r.counters)
        kinds = list(dict.fromkeys(r.kind for r in rs))
        out.append(OpRow(name=key, kind=kinds[0] if len(kinds) == 1 else "group", unit=top.unit, ticks=ticks,
                         tick_s=top.tick_s, macs=sum(r.macs for r in rs), energy_by_component_pj=energy,
                         bytes_by_level=_sum_maps(r.bytes_by_level for r in rs),
                         busy_ticks=_sum_maps(r.busy_ticks for r in rs),
                         utilization=sum(r.utilization * r.ticks for r in rs) / ticks if ticks else 0.0,
                         unit_utilization=sum(r.unit_utilization * r.ticks for r in rs) / ticks if ticks else 0.0,
                         bound=top.bound, counters=counters, ideal_ticks=sum(r.ideal_ticks for r in rs),
                         layer=top.layer, block=top.block if by == "block" else ""))
    return out


def _sum_maps(maps) -> dict:
    out: dict = {}
    for m in maps:
        for k, v in m.items():
            out[k] = out.get(k, 0) + v
    return out


def _num(v):
    return int(v) if isinstance(v, float) and v.is_integer() else v


@dataclass(frozen=True)
class Report:
    """Rows of one estimate and what the kind tells about them. ``batch``: images per run.
    ``run_probability``: per op, the probability it runs (workloads with early exits; None without):
    the totals are then the worst case (every exit head, the whole network) and ``expected_*`` the mean."""
    model: str
    hardware: object
    mode: str
    ops: tuple[OpRow, ...]
    info: KindInfo
    batch: int = 1
    timeline: object = field(default=None, repr=False)
    run_probability: tuple[float, ...] | None = None

    # ---- totals ----------------------------------------------------------------------------------
    @property
    def kind(self) -> str:
        return self.info.kind

    @property
    def ticks(self) -> int:
        return sum(r.ticks for r in self.ops)

    @property
    def cycles(self) -> int:
        return self.ticks

    @property
    def latency_s(self) -> float:
        return self.ticks * self.info.tick_s

    @property
    def throughput_per_s(self) -> float:
        """Images per second: batch / latency."""
        return self.batch / self.latency_s if self.latency_s > 0 else math.inf

    @property
    def energy_by_component_pj(self) -> dict[str, float] | None:
        if not self.info.has_energy:
            return None
        out: dict[str, float] = {}
        for r in self.ops:
            for k, v in (r.energy_by_component_pj or {}).items():
                out[k] = out.get(k, 0.0) + float(v)
        return out

    @property
    def energy_pj(self) -> float | None:
        e = self.energy_by_component_pj
        return None if e is None else sum(e.values())

    @property
    def macs(self) -> int:
        return sum(r.macs for r in self.ops)

    @property
    def dram_bytes(self) -> int:
        return sum(r.dram_bytes for r in self.ops)

    @property
    def area_mm2(self) -> float | None:
        return self.info.size.get("area_mm2")

    @property
    def counters(self) -> dict:
        out: dict = {}
        for r in self.ops:
            _add(out, r.counters)
        return out

    def totals(self) -> dict:
        t: dict[str, Any] = {}
        if self.info.has_clock:
            t["cycles"] = self.cycles
        e = self.energy_pj
        t.update({"latency_s": self.latency_s, "energy_pj": e, "energy_by_component_pj": self.energy_by_component_pj,
                  "macs": self.macs})
        if "dram" in self.info.memory_levels:
            t["dram_bytes"] = self.dram_bytes
        t["bytes_by_level"] = {k: _num(v) for k, v in _sum_maps(r.bytes_by_level for r in self.ops).items()}
        t.update(self.info.size)
        t.update({"edp_pj_s": None if e is None else e * self.latency_s, "batch": self.batch,
                  "throughput_per_s": self.throughput_per_s,
                  "energy_per_image_pj": None if e is None else e / self.batch,
                  "static_power_w": self.info.static_power_w})
        if self.run_probability is not None:
            p = self.run_probability
            t["worst_case_latency_s"] = self.latency_s
            t["expected_latency_s"] = sum(r.latency_s * q for r, q in zip(self.ops, p))
            t["expected_energy_pj"] = None if e is None else \
                sum((r.energy_pj or 0.0) * q for r, q in zip(self.ops, p))
        t.update(self.counters)
        return t

    # ---- serialisation ---------------------------------------------------------------------------
    def to_dict(self, by: str | None = None) -> dict:
        from hwsim.hardware import hardware_to_dict
        d = {"schema_version": SCHEMA_VERSION, "kind": self.kind, "model": self.model, "hardware": self.hardware.name,
             "hardware_config": hardware_to_dict(self.hardware), "mode": self.mode,
             "counter_units": dict(self.info.counter_units), "totals": self.totals(),
             **self.info.sections, "ops": [r.to_dict(self.info) for r in self.ops]}
        if by:
            d["groups"] = [r.to_dict(self.info) for r in group_rows(self.ops, by)]
        return d

    def to_json(self, by: str | None = None) -> str:
        return json.dumps(self.to_dict(by), indent=2, allow_nan=False)

    def to_csv(self, by: str | None = None) -> str:
        """One row per op (or group), one column per energy component and per counter present
        (mapping counters flattened as ``<counter>_<key>``)."""
        rows = group_rows(self.ops, by) if by else list(self.ops)
        dicts = [r.to_dict(self.info) for r in rows]
        components = list(dict.fromkeys(c for r in rows for c in (r.energy_by_component_pj or {})))
        flat = [self._flat_counters(r.counters) for r in rows]
        counter_cols = list(dict.fromkeys(c for f in flat for c in f))
        levels = list(dict.fromkeys(lv for r in rows for lv in r.bytes_by_level))
        head = ["name", "kind", "layer", "block", "unit"] + (["cycles"] if self.info.has_clock else []) + \
            ["latency_s", "energy_pj", *(f"energy_{c}_pj" for c in components), "macs"] + \
            (["dram_bytes"] if "dram" in self.info.memory_levels else []) + \
            [f"bytes_{lv}" for lv in levels if lv != "dram"] + \
            (["compute_cycles", "dram_cycles"] if self.info.has_clock else []) + \
            ["utilization", "unit_utilization", "bound", *counter_cols]
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=head, lineterminator="\n", extrasaction="ignore")
        w.writeheader()
        for r, d, f in zip(rows, dicts, flat):
            d.update({f"energy_{c}_pj": (r.energy_by_component_pj or {}).get(c, 0.0) for c in components})
            d.update({f"bytes_{lv}": _num(r.bytes_by_level.get(lv, 0)) for lv in levels})
            d.update({c: f.get(c, 0) for c in counter_cols})
            w.writerow({k: ("" if d.get(k) is None else d.get(k)) for k in head})
        return buf.getvalue()

    @staticmethod
    def _flat_counters(counters: Mapping) -> dict:
        out = {}
        for k, v in counters.items():
            if isinstance(v, Mapping):
                out.update({f"{k}_{kk}": vv for kk, vv in v.items()})
            else:
                out[k] = v
        return out

    def to_table(self, max_rows: int | None = None, by: str | None = None) -> str:
        rows = group_rows(self.ops, by) if by else list(self.ops)
        clock = self.info.has_clock
        scalars = [k for k, v in self.counters.items() if not isinstance(v, Mapping)]
        width = max([22] + [len(r.name) for r in rows[: max_rows or len(rows)]])
        head = f"{'op' if not by else by:<{width}} {'kind':<9} " + (f"{'cycles':>11} " if clock else "") + \
            f"{'latency':>10} {'energy':>10} {'MACs':>14} " + \
            (f"{'DRAM B':>12} " if "dram" in self.info.memory_levels else "") + \
            "".join(f"{_short(k):>12} " for k in scalars) + f"{'util':>5}  bound"
        title = f"{self.model} on {self.hardware.name} ({self.kind}, {self.mode} mode" + \
            (f", batch {self.batch}" if self.batch != 1 else "") + ")"
        lines = [title, head, "-" * len(head)]

        units = self.info.counter_units

        def line(name, kind, r_ticks, lat, energy, macs, dram, counters, util, bound):
            s = f"{name:<{width}} {kind:<9} " + (f"{r_ticks:>11,} " if clock else "") + \
                f"{_si(lat, 's'):>10} {_energy(energy):>10} {macs:>14,} " + \
                (f"{dram:>12,} " if "dram" in self.info.memory_levels else "") + \
                "".join(f"{_count(counters.get(k, 0), units.get(k)):>12} " for k in scalars)
            return s + (f"{util:>5.0%}  {bound}" if util is not None else "")

        shown = rows if max_rows is None else rows[:max_rows]
        for r in shown:
            lines.append(line(r.name, r.kind, r.ticks, r.latency_s, r.energy_pj, r.macs, r.dram_bytes, r.counters,
                              r.utilization, r.bound))
        if max_rows is not None and len(rows) > max_rows:
            lines.append(f"... {len(rows) - max_rows} more rows (use --all, --by layer, or --format csv/json)")
        lines.append("-" * len(head))
        lines.append(line("total", "", self.ticks, self.latency_s, self.energy_pj, self.macs, self.dram_bytes,
                          self.counters, None, ""))
        e = self.energy_by_component_pj
        if e:
            total = sum(e.values())
            lines.append("energy: " + ", ".join(f"{k} {_si(v * 1e-12, 'J')} ({v / total:.0%})" for k, v in e.items()))
        elif e is None:
            lines.append(f"energy: not modelled by the {self.kind} backend")
        if self.run_probability is not None:
            t = self.totals()
            lines.append(f"early exit: expected {_si(t['expected_latency_s'], 's')}, "
                         f"{_energy(t['expected_energy_pj'])} per run; worst case (the totals) {_si(self.latency_s, 's')}")
        size = ", ".join(f"{k} {_number(v)}" for k, v in self.info.size.items()) or "not modelled"
        lines.append(f"size: {size}   throughput: {self.throughput_per_s:,.1f} images/s" +
                     (f" (batch {self.batch})" if self.batch != 1 else ""))
        lines.extend(self.info.section_lines)
        return "\n".join(lines)

    def write_trace(self, path: str | Path, detail: str = "op") -> None:
        """Chrome/Perfetto trace JSON: the engine's timeline (cycle mode; ``detail`` ``op``: one event per op and
        resource, ``task``: one per task), or one event per op laid back to back on its unit (analytic mode)."""
        if self.timeline is not None:
            self.timeline.to_chrome_trace(path, self.info.tick_s, [r.name for r in self.ops], detail=detail)
            return
        units = sorted({r.unit for r in self.ops})
        events = [{"name": "thread_name", "ph": "M", "pid": 0, "tid": i, "args": {"name": u}} for i, u in enumerate(units)]
        t = 0.0
        for r in self.ops:
            events.append({"name": r.name, "ph": "X", "pid": 0, "tid": units.index(r.unit), "ts": t * 1e6,
                           "dur": r.latency_s * 1e6, "args": {"ticks": r.ticks, "energy_pj": r.energy_pj}})
            t += r.latency_s
        Path(path).write_text(json.dumps({"traceEvents": events, "displayTimeUnit": "ns"}))

    # ---- plots -----------------------------------------------------------------------------------
    def plot_breakdown(self, path: str | Path, stack: str = "kind") -> None:
        """Stacked bars per layer (from the structure the ops carry): energy by component (top, when the
        backend models energy) and latency by op kind, or by block with ``stack='block'`` (attn, mlp,
        moe, ...; bottom)."""
        if stack not in ("kind", "block"):
            from hwsim.errors import UnknownName
            raise UnknownName("plot stacking", stack, ("kind", "block"))
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        groups: dict[str, dict] = {}
        for r in self.ops:
            g = f"layer{r.layer}" if r.layer is not None else (r.block or r.name)
            d = groups.setdefault(g, {"energy": {}, "latency": {}})
            for k, v in (r.energy_by_component_pj or {}).items():
                d["energy"][k] = d["energy"].get(k, 0.0) + v
            cat = r.kind if stack == "kind" else (r.block or r.kind)
            d["latency"][cat] = d["latency"].get(cat, 0.0) + r.latency_s
        names = list(groups)
        panels = ([("energy", 1e-6, "energy (µJ)")] if self.info.has_energy else []) + [("latency", 1e3, "latency (ms)")]
        fig, axes = plt.subplots(len(panels), 1, figsize=(max(8, 0.45 * len(names)), 3.5 * len(panels)), sharex=True,
                                 squeeze=False)
        for ax, (key, scale, unit) in zip(axes[:, 0], panels):
            cats = sorted({c for g in groups.values() for c in g[key]})
            bottom = [0.0] * len(names)
            for c in cats:
                vals = [groups[n][key].get(c, 0) * scale for n in names]
                ax.bar(names, vals, bottom=bottom, label=c)
                bottom = [b + v for b, v in zip(bottom, vals)]
            ax.set_ylabel(unit)
            ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))   # beside the bars, never over them
        axes[0, 0].set_title(f"{self.model} on {self.hardware.name} ({self.mode}): {_si(self.latency_s, 's')}, "
                             f"{_energy(self.energy_pj)}")
        axes[-1, 0].tick_params(axis="x", rotation=60)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)

    def plot_roofline(self, path: str | Path, peak_macs_per_s: float, dram_bytes_per_s: float) -> None:
        """Each op at (MACs per DRAM byte, achieved MACs per second) under the compute and bandwidth roofs."""
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import numpy as np
        pts = [(r.macs / max(r.dram_bytes, 1), r.macs / max(r.latency_s, 1e-30), r.kind) for r in self.ops if r.macs]
        fig, ax = plt.subplots(figsize=(7, 5))
        x = np.logspace(-1, 4, 200)
        ax.loglog(x, np.minimum(peak_macs_per_s, dram_bytes_per_s * x), "k-", label="roofline")
        for kind in sorted({p[2] for p in pts}):
            sel = [p for p in pts if p[2] == kind]
            ax.scatter([p[0] for p in sel], [p[1] for p in sel], label=kind, alpha=0.7)
        ax.set_xlabel("operational intensity (MACs / DRAM byte)")
        ax.set_ylabel("achieved MACs / s")
        ax.set_title(f"{self.model} on {self.hardware.name} ({self.mode})")
        ax.legend()
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)


def _number(v) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float) and not v.is_integer():
        return f"{v:,.2f}"
    return f"{int(v):,}"


def _short(name: str) -> str:
    return name if len(name) <= 12 else name[:11] + "…"


def _count(v, unit: str | None = None) -> str:
    """A counter for the table: seconds (unit ``s``) with an SI prefix, other numbers as whole counts."""
    if unit == "s" and isinstance(v, (int, float)):
        return _si(v, "s") if v else "0 s"
    return f"{v:,.0f}" if isinstance(v, (int, float)) else str(v)


def _energy(pj: float | None) -> str:
    return "n/a" if pj is None else _si(pj * 1e-12, "J")


def _si(value: float, unit: str) -> str:
    for scale, prefix in ((1, ""), (1e-3, "m"), (1e-6, "µ"), (1e-9, "n"), (1e-12, "p")):
        if abs(value) >= scale:
            return f"{value / scale:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}"
