"""Where the ASIC area model and the FPGA figures of the generated array disagree, measured.

Run: PYTHONPATH=. python benchmarks/array_asic_vs_fpga.py

ASIC side: the systolic backend's PE-array area, ``P x hwsim.energy.pe_area_mm2(word_bits, 28)``
(TPU v1 8-bit PE, ISCA 2017, scaled ~ bits^2; hwsim/data/tech.yaml), SRAMs left out: what the
``area_mm2`` of a report charges the array itself. FPGA side: the characterised entries of
hwsim/data/array_costs.json only (Yosys synth_<target>, no interpolation). Prints four markdown
tables of ratios: growth with the PE count (ws, per target), dataflow (os and is against ws at the
same size), operand width (16/48 against 8/32 bits) and buffering (single against double). Every
ratio is one of two table entries; nothing is fitted.
"""
from __future__ import annotations

from hwsim.energy import pe_area_mm2
from hwsim.fpga_array import table

TARGETS = ("xilinx", "ecp5", "ice40")
KEYS = ("lut", "ff", "dsp")


def _entries():
    return [e for e in table()["entries"] if e.get("lut") is not None]


def _find(target, n, dataflow="ws", db=True, bits=(8, 32)):
    return next((e for e in _entries() if e["target"] == target and e["rows"] == e["cols"] == n
                 and e["dataflow"] == dataflow and e["double_buffered"] is db
                 and (e["word_bits"], e["acc_bits"]) == bits), None)


def _ratio(a, b, key):
    if a is None or b is None or not b[key]:
        return "--"
    return f"{a[key] / b[key]:.2f}"


def asic_mm2(n, word_bits=8):
    return n * n * pe_area_mm2(word_bits, 28)


def main() -> int:
    print("### Growth with the PE count (ws, double-buffered, 8/32 bits): figure at R x R over the 2x2 figure\n")
    print("| array | PEs | ASIC PE area (mm^2, 28 nm) | ASIC ratio | " +
          " | ".join(f"{t} LUT / FF / DSP ratio" for t in TARGETS) + " |")
    print("|---|---|---|---|" + "---|" * len(TARGETS))
    for n in (2, 4, 8, 16):
        cells = []
        for t in TARGETS:
            e, base = _find(t, n), _find(t, 2)
            cells.append(" / ".join(_ratio(e, base, k) for k in KEYS) if e else "--")
        print(f"| {n}x{n} | {n * n} | {asic_mm2(n):.4f} | {asic_mm2(n) / asic_mm2(2):.0f} | " + " | ".join(cells) + " |")
    print("\nPer PE (whole array / PEs): ASIC "
          f"{pe_area_mm2(8, 28) * 1e6:,.0f} um^2 at every size; FPGA LUT per PE:")
    for t in TARGETS:
        per = [f"{n}x{n} {e['lut'] / (n * n):.0f}" for n in (2, 4, 8, 16) if (e := _find(t, n))]
        print(f"- {t}: " + ", ".join(per))

    print("\n### Dataflow: os and is over ws at the same size (double-buffered, 8/32 bits)\n")
    print("| array | dataflow | ASIC ratio | " + " | ".join(f"{t} LUT / FF / DSP ratio" for t in TARGETS) + " |")
    print("|---|---|---|" + "---|" * len(TARGETS))
    for n in (4, 8):
        for df in ("os", "is"):
            cells = [" / ".join(_ratio(_find(t, n, df), _find(t, n), k) for k in KEYS)
                     if _find(t, n, df) else "--" for t in TARGETS]
            print(f"| {n}x{n} | {df} | 1.00 | " + " | ".join(cells) + " |")

    print("\n### Operand width: 16-bit operands, 48-bit accumulators over 8/32 (4x4 ws, double-buffered)\n")
    print("| ASIC ratio | " + " | ".join(f"{t} LUT / FF / DSP ratio" for t in TARGETS) + " |")
    print("|---|" + "---|" * len(TARGETS))
    cells = [" / ".join(_ratio(_find(t, 4, bits=(16, 48)), _find(t, 4), k) for k in KEYS)
             if _find(t, 4, bits=(16, 48)) else "--" for t in TARGETS]
    print(f"| {asic_mm2(4, 16) / asic_mm2(4):.2f} | " + " | ".join(cells) + " |")

    print("\n### Buffering: single over double-buffered stationary registers (4x4, 8/32 bits)\n")
    print("| dataflow | ASIC ratio | " + " | ".join(f"{t} LUT / FF / DSP ratio" for t in TARGETS) + " |")
    print("|---|---|" + "---|" * len(TARGETS))
    for df in ("ws", "os", "is"):
        cells = [" / ".join(_ratio(_find(t, 4, df, False), _find(t, 4, df), k) for k in KEYS)
                 if _find(t, 4, df, False) else "--" for t in TARGETS]
        print(f"| {df} | 1.00 | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
