"""Process wall time of quick CLI calls, this checkout against a baseline checkout, in one run (issue 12, "a quick CLI").

Usage: .venv/bin/python benchmarks/cli_startup.py --baseline DIR [--repeat 7]

DIR is another checkout of hwsim (e.g. `git worktree add /tmp/pre 206eda3`: the code before the seam). Both run with
this interpreter and `PYTHONPATH` set to the checkout (a checkout without the package mapping of the zoo finds
`models/` itself). Each command runs `--repeat` times, alternating between the two checkouts so that machine load hits
both alike; the minimum is reported with the ratio baseline / this. Goals: `hwsim --help` < 0.2 s and the analytic
ViT-B/16 estimate < 0.3 s on a quiet machine (issue 12); the cycle-mode ViT-B/16 estimate with the mapping search < 1 s
(issue 13). With `PYTHONDONTWRITEBYTECODE=1` in the environment every hwsim module is compiled from source in every
process (~0.1 s on a quiet machine); an installed package has its bytecode compiled at install time, so the benchmark
prints which case it measured.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = {
    "hwsim --help": ["--help"],
    "hwsim estimate vit-b16 systolic-32x32-ws --mode analytic": ["estimate", "vit-b16", "systolic-32x32-ws", "--mode", "analytic"],
    "hwsim estimate vit-b16 systolic-32x32-ws (cycle mode, mapping search)": ["estimate", "vit-b16", "systolic-32x32-ws"],
}


def run(checkout: Path, args: list[str]) -> float:
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "hwsim.cli", *args], env=env, cwd=checkout, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", required=True, type=Path, help="another hwsim checkout")
    ap.add_argument("--repeat", type=int, default=7)
    a = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; bytecode cache "
          f"{'off (PYTHONDONTWRITEBYTECODE)' if os.environ.get('PYTHONDONTWRITEBYTECODE') else 'on'}")
    for name, args in COMMANDS.items():
        run(ROOT, args), run(a.baseline, args)        # warm the file cache and numba's on-disk cache
        now, base = [], []
        for _ in range(a.repeat):
            base.append(run(a.baseline, args))
            now.append(run(ROOT, args))
        print(f"{name}: {min(now):.3f} s now, {min(base):.3f} s baseline ({min(base) / min(now):.1f}x faster)")


if __name__ == "__main__":
    main()
