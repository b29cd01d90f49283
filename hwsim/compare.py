"""One model on several hardware configs of any kinds, side by side (``hwsim compare``)."""
from __future__ import annotations

from dataclasses import dataclass

from hwsim.report import Report, _energy, _si


@dataclass(frozen=True)
class Comparison:
    """Reports of one workload on several configs, in the given order; ratios are to the first."""
    reports: tuple[Report, ...]

    @staticmethod
    def bound_share(report: Report) -> tuple[str, float]:
        """What bounds the run: the bound holding the largest share of the latency, and that share."""
        by: dict[str, int] = {}
        for r in report.ops:
            by[r.bound] = by.get(r.bound, 0) + r.ticks
        bound = max(by, key=by.get)
        return bound, by[bound] / max(1, report.ticks)

    def records(self) -> list[dict]:
        base = self.reports[0]
        out = []
        for r in self.reports:
            bound, share = self.bound_share(r)
            e, e0 = r.energy_pj, base.energy_pj
            out.append({"hardware": r.hardware.name, "kind": r.kind, "latency_s": r.latency_s,
                        "throughput_per_s": r.throughput_per_s, "energy_pj": e,
                        "energy_per_image_pj": None if e is None else e / r.batch,
                        "bound": bound, "bound_share": share, "speedup": base.latency_s / r.latency_s,
                        "energy_ratio": None if e is None or e0 is None else e / e0, **dict(r.info.size)})
        return out

    def to_table(self) -> str:
        first = self.reports[0]
        head = f"{'hardware':<24} {'kind':<9} {'latency':>10} {'images/s':>10} {'energy':>10} {'J/image':>10} " \
               f"{'speedup':>8} {'energy x':>8}  bound"
        lines = [f"{first.model} (batch {first.batch}, {first.mode} mode); ratios to {first.hardware.name}", head,
                 "-" * len(head)]
        for rec in self.records():
            ratio = "n/a" if rec["energy_ratio"] is None else f"{rec['energy_ratio']:.3g}"
            lines.append(f"{rec['hardware']:<24} {rec['kind']:<9} {_si(rec['latency_s'], 's'):>10} "
                         f"{rec['throughput_per_s']:>10,.1f} {_energy(rec['energy_pj']):>10} "
                         f"{_energy(rec['energy_per_image_pj']):>10} {rec['speedup']:>7.3g}x {ratio:>8}  "
                         f"{rec['bound']} ({rec['bound_share']:.0%} of latency)")
        return "\n".join(lines)

    def plot(self, path) -> None:
        """Latency and energy per image per config (log scale), bars coloured by kind."""
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        recs = self.records()
        names = [r["hardware"] for r in recs]
        kinds = sorted({r["kind"] for r in recs})
        colors = [f"C{kinds.index(r['kind'])}" for r in recs]
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(max(8, 1.6 * len(names) + 4), 4.2))
        a1.bar(names, [r["latency_s"] * 1e3 for r in recs], color=colors)
        a1.set_ylabel("latency (ms)")
        a2.bar(names, [(r["energy_per_image_pj"] or 0) * 1e-9 for r in recs], color=colors)
        a2.set_ylabel("energy per image (mJ)")
        for ax in (a1, a2):
            ax.set_yscale("log")
            ax.tick_params(axis="x", rotation=30)
        for i, r in enumerate(recs):
            if r["energy_per_image_pj"] is None:
                a2.text(i, a2.get_ylim()[0], "not modelled", rotation=90, ha="center", va="bottom", fontsize=8)
        handles = [plt.Rectangle((0, 0), 1, 1, color=f"C{i}") for i in range(len(kinds))]
        a2.legend(handles, kinds, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        fig.suptitle(f"{self.reports[0].model}, batch {self.reports[0].batch} ({self.reports[0].mode} mode)")
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)
