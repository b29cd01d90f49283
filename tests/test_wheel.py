"""The package installs from a wheel, outside the checkout, with the zoo, the presets and the data tables inside it."""
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_installs_into_a_fresh_venv_and_runs_outside_the_checkout(tmp_path):
    pytest.importorskip("build", reason="python -m build needs the 'build' package (pip install -e '.[dev]')")
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(ROOT)],
                   check=True, capture_output=True, cwd=tmp_path)
    wheel = next(dist.glob("hwsim-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for must in ("hwsim/zoo/vit-b16.yaml", "hwsim/presets/gpu-a100.yaml", "hwsim/data/tech.yaml",
                 "hwsim/data/unit_costs.json", "hwsim/sweep/runner.py", "hwsim/data/reference/scalesim_reference.json",
                 "rtl/reference.py"):
        assert must in names, must
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(wheel)], check=True, env=env, capture_output=True)
    run = lambda *args: subprocess.run([str(venv / "bin" / "hwsim"), *args], capture_output=True, text=True,
                                       cwd=tmp_path, env=env, check=True).stdout
    models = run("models")
    assert "vit-b16" in models and "deit-s16" in models
    out = run("estimate", "vit-b16", "systolic", "--mode", "analytic")
    assert "layer0.attn.qkv" in out and "total" in out
    assert "gpu-a100" in run("presets")
    # the installed package validates itself against the reference data it ships
    table = run("validate", "--only", "systolic/scalesim-gemm", "--only", "golden/edgemoe-gelu", "--only", "mpc/")
    assert "5 passed, 0 failed" in table
