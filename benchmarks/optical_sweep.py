"""Where the 4f system overtakes the GPU: latency of ConvShareViT and VGG16-ImageNet on convshare-4f over the modulator
refresh rate (Fourier modulator and camera follow) and square modulator resolution, against the roofline GPU
(gpu-rtx2080ti, analytic), with the crossover refresh rate per resolution (bisection, hwsim.backends.optical4f.
crossover_refresh_hz). Writes docs/figures/optical4f_sweep.png and prints the table docs/optical4f.md quotes.

    PYTHONPATH=. python benchmarks/optical_sweep.py [--out docs/figures/optical4f_sweep.png]
"""
from __future__ import annotations

import argparse

import numpy as np

from hwsim.backends.optical4f import crossover_refresh_hz
from hwsim.estimate import estimate
from hwsim.hardware import load_hardware, replace_fields
from hwsim.workload import load_workload

MODELS = ("convshare-vit", "vgg16-imagenet")
SIZES = (512, 1024, 2048, 4096)
RATES = np.logspace(3, 10, 29)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="docs/figures/optical4f_sweep.png")
    ap.add_argument("--hardware", default="convshare-4f")
    ap.add_argument("--gpu", default="gpu-rtx2080ti")
    args = ap.parse_args()
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    base = load_hardware(args.hardware)
    fig, axes = plt.subplots(1, len(MODELS), figsize=(6 * len(MODELS), 4.2))
    print(f"| model | GPU ({args.gpu}, roofline) | modulator | crossover refresh | optical at 2 MHz |")
    print("|---|---|---|---|---|")
    for ax, name in zip(axes, MODELS):
        w = load_workload(name)
        gpu_s = estimate(w, load_hardware(args.gpu), "analytic").latency_s
        for size in SIZES:
            hw = replace_fields(base, "sweep", input_modulator_rows=size, input_modulator_cols=size)
            lat = [estimate(w, replace_fields(hw, "sweep", input_refresh_hz=float(f)), "analytic").latency_s for f in RATES]
            ax.loglog(RATES, lat, label=f"{size}x{size}")
            cross = crossover_refresh_hz(w, hw, gpu_s)
            at2 = estimate(w, replace_fields(hw, "sweep", input_refresh_hz=2e6), "analytic").latency_s
            shown = "never (electronics alone slower)" if cross is None else f"{cross:.3g} Hz"
            print(f"| {name} | {gpu_s:.3g} s | {size}x{size} | {shown} | {at2:.3g} s |")
            if cross:
                ax.axvline(cross, color=ax.lines[-1].get_color(), ls=":", lw=0.8)
        ax.axhline(gpu_s, color="k", ls="--", label=f"{args.gpu} (roofline)")
        ax.set_xlabel("modulator refresh rate (Hz)")
        ax.set_ylabel("latency per image (s)")
        ax.set_title(f"{name} on {args.hardware}")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
