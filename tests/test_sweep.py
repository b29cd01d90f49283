"""Design-space sweeps: spec validation, samplers, exactness vs estimate, executors, crash-safe resume, Pareto."""
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from hwsim.backends.systolic_points import PointEvaluator
from hwsim.cli import main
from hwsim.estimate import estimate
from hwsim.hardware import load_hardware
from hwsim.sweep import (evaluate_range, load_spec, make_executor, missing_chunks, pareto_front, read_results,
                         run_sweep, sample_indices)
from hwsim.workload import build_workload, load_model

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "sweep_vit.yaml"

# Every numeric/choice field the vectorised model covers, so the exactness check exercises them all.
WIDE_AXES = {
    "rows": [4, 8, 16, 32, 64, 128, 256], "cols": {"range": [8, 256, 8]}, "dataflow": ["ws", "os", "is"],
    "ifmap_sram_kib": {"log": [2, 2048]}, "filter_sram_kib": [4, 16, 64, 256, 1024],
    "ofmap_sram_kib": [2, 8, 32, 128, 512], "dram_bytes_per_cycle": [1, 4, 8, 16, 32, 64, 128],
    "word_bits": [4, 8, 16], "acc_bits": [16, 24, 32], "vector_lanes": [8, 16, 32, 64, 128],
    "clock_hz": [5e8, 1e9, 1.5e9], "tech_nm": [7, 16, 28, 45],
}


def write_spec(tmp_path, name="s.yaml", **data):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def small_spec(tmp_path, **over):
    data = dict(models=["vit-ti16"], hardware="systolic",
                axes={"rows": [8, 16, 32], "cols": [16, 32], "dataflow": ["ws", "os"], "ifmap_sram_kib": [16, 64]},
                sample="grid", objectives=["latency", "energy"], constraints=["latency_ms <= 1000"])
    data.update(over)
    return write_spec(tmp_path, **data)


# ---- spec and errors ---------------------------------------------------------------------------------
def test_the_issue_spec_loads_as_written():
    spec = load_spec(EXAMPLE)
    axes = {a.field: a.values for a in spec.axes}
    assert [m.label for m in spec.models] == ["vit-b16", "deit-s16"]
    assert axes["cols"] == tuple(range(16, 257, 16))
    assert axes["ifmap_sram_kib"] == (16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0)   # powers of two, as floats
    assert axes["dataflow"] == ("ws", "os", "is") and axes["dram_bytes_per_cycle"] == (8.0, 16.0, 32.0)
    assert (spec.sample.kind, spec.sample.n, spec.sample.seed) == ("random", 100000, 7)
    assert spec.constraints[0].metric == "latency_ms" and spec.constraints[0].value == 50
    assert spec.base.rows == 32 and spec.points == 100000


@pytest.mark.parametrize("change, expected", [
    ({"axes": {"rowz": [1, 2]}}, ["field 'axes.rowz'", "unknown field of a systolic config", "allowed:", "rows"]),
    ({"axes": {"dataflow": ["ws", "xy"]}}, ["field 'axes.dataflow' = 'xy'", "allowed: ws, os, is"]),
    ({"axes": {"rows": [16, -4]}}, ["field 'axes.rows' = -4", "must be > 0"]),
    ({"axes": {"cols": {"range": [16, 8, 4]}}}, ["field 'axes.cols'", "stop >= start"]),
    ({"sample": {"sobol": 10}}, ["field 'sample'", "allowed: grid, {random: N, seed: S}, {lhs: N, seed: S}"]),
    ({"sample": {"random": -5, "seed": 1}}, ["field 'sample'", "positive integer"]),
    ({"constraints": ["latency_ms <== 5"]}, ["field 'constraints' = 'latency_ms <== 5'", "METRIC OP NUMBER"]),
    ({"constraints": ["power_w <= 5"]}, ["unknown metric 'power_w'", "latency_ms"]),
    ({"models": ["vit-zz"]}, ["field 'models[0]'", "unknown model 'vit-zz'", "vit-b16"]),
    ({"models": [{"name": "vit-ti16", "batch": 0}]}, ["field 'models[0]'", "field 'batch' = 0", "must be > 0"]),
    ({"hardware": "tpu-v9"}, ["field 'hardware' = 'tpu-v9'", "unknown hardware preset", "systolic-32x32-ws"]),
    ({"objectives": ["power"]}, ["field 'objectives' = 'power'", "allowed: latency, energy, edp, area"]),
    ({"colour": "red"}, ["unknown field 'colour'", "allowed: models"]),
])
def test_bad_specs_give_one_line_naming_file_field_value_and_allowed(tmp_path, capsys, change, expected):
    spec = small_spec(tmp_path, **change)
    code = main(["sweep", str(spec), "-o", str(tmp_path / "r.parquet"), "-q"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("hwsim: error: ") and str(spec) in err, err
    for text in expected:
        assert text in err, (text, err)
    assert not (tmp_path / "r.parquet").exists()


def test_missing_spec_file_and_bad_output_suffix(tmp_path, capsys):
    assert main(["sweep", str(tmp_path / "nope.yaml"), "-o", str(tmp_path / "r.parquet")]) == 2
    assert "nope.yaml: cannot read file" in capsys.readouterr().err
    assert main(["sweep", str(small_spec(tmp_path)), "-o", str(tmp_path / "r.json"), "-q"]) == 2
    assert "must end in .parquet" in capsys.readouterr().err


# ---- samplers ----------------------------------------------------------------------------------------
def test_grid_enumerates_every_combination_once(tmp_path):
    spec = load_spec(small_spec(tmp_path))
    assert spec.points == 3 * 2 * 2 * 2
    idx = sample_indices(spec, 0, spec.points)
    assert len({tuple(c) for c in idx.T}) == spec.points
    assert np.array_equal(np.hstack([sample_indices(spec, 0, 5), sample_indices(spec, 5, 24)]), idx)


@pytest.mark.parametrize("kind", ["random", "lhs"])
def test_random_and_lhs_are_seeded_chunk_independent_and_in_range(tmp_path, kind):
    spec = load_spec(write_spec(tmp_path, models=["vit-ti16"], axes=WIDE_AXES, sample={kind: 10007, "seed": 3}))
    whole = sample_indices(spec, 0, spec.points)
    pieces = np.hstack([sample_indices(spec, a, b) for a, b in missing_chunks(spec.points, [(100, 200)], 999)]
                       + [sample_indices(spec, 100, 200)])
    order = np.argsort(np.r_[np.setdiff1d(np.arange(spec.points), np.arange(100, 200)), np.arange(100, 200)])
    assert np.array_equal(pieces[:, order], whole)
    assert np.array_equal(sample_indices(load_spec(spec.source), 0, spec.points), whole)      # same spec + seed
    other = load_spec(spec.source, seed=4)
    assert not np.array_equal(sample_indices(other, 0, spec.points), whole)
    for a, axis in enumerate(spec.axes):
        counts = np.bincount(whole[a], minlength=len(axis.values))
        assert whole[a].min() >= 0 and whole[a].max() < len(axis.values)
        if kind == "lhs":     # Latin hypercube: every value used floor(N/n) or ceil(N/n) times
            assert counts.max() - counts.min() <= 1, (axis.field, counts)
        else:                 # uniform: within 6 sigma
            expect = spec.points / len(axis.values)
            assert np.all(np.abs(counts - expect) < 6 * np.sqrt(expect) + 1), (axis.field, counts)


def test_missing_chunks_covers_the_gaps_exactly():
    got = missing_chunks(100, [(10, 25), (20, 40), (90, 120)], 16)
    ids = np.concatenate([np.arange(a, b) for a, b in got])
    assert np.array_equal(ids, np.r_[0:10, 40:90]) and all(b - a <= 16 for a, b in got)


# ---- exactness ---------------------------------------------------------------------------------------
def _points(spec, n):
    idx = sample_indices(spec, 0, n)
    return [{a.field: a.values[idx[i, j]] for i, a in enumerate(spec.axes)} for j in range(n)]


def test_vectorised_model_equals_estimate_analytic_on_1000_random_points(tmp_path):
    axes = dict(WIDE_AXES)
    from hwsim.hardware.systolic import SystolicConfig
    for f in dataclasses.fields(SystolicConfig):      # any choice field (e.g. vector-unit RTL units) too
        # fpga_target: its table covers 8/32-bit (and 16/48-bit ws) arrays only, not these widths; its
        # sweep columns are checked against estimate in tests/test_fpga_array.py
        if "choices" in f.metadata and f.name not in ("dataflow", "fpga_target"):
            axes[f.name] = list(f.metadata["choices"])
    spec = load_spec(write_spec(tmp_path, models=["vit-b16"], axes=axes, sample={"random": 1000, "seed": 11}))
    cols = evaluate_range(spec, 0, 1000)
    workload = build_workload(load_model("vit-b16"))
    for j, point in enumerate(_points(spec, 1000)):
        hw = dataclasses.replace(spec.base, **point)
        r = estimate(workload, hw, "analytic")
        assert cols["cycles"][j] == r.cycles, (point, cols["cycles"][j], r.cycles)
        assert cols["energy_pj"][j] == pytest.approx(r.energy_pj, rel=1e-9, abs=0), point
        assert cols["latency_s"][j] == pytest.approx(r.latency_s, rel=1e-12, abs=0)
        assert cols["area_mm2"][j] == pytest.approx(r.area_mm2, rel=1e-12, abs=0)
        assert cols["stalled"][j] == any(o.stalled for o in r.ops)
    # the compiled kernel is bit-identical to the backend's numpy closed form
    ev = PointEvaluator(workload, spec.base, compiled=False)
    idx = sample_indices(spec, 0, 1000)
    ref = ev.evaluate({a.field: np.asarray(a.values)[idx[i]] for i, a in enumerate(spec.axes)})
    assert np.array_equal(ref["cycles"], cols["cycles"]) and np.array_equal(ref["energy_pj"], cols["energy_pj"])


def test_vectorised_model_equals_cycle_mode_where_nothing_stalls(tmp_path):
    axes = {k: WIDE_AXES[k] for k in ("rows", "cols", "dataflow", "ifmap_sram_kib", "filter_sram_kib", "ofmap_sram_kib")}
    axes["dram_bytes_per_cycle"] = [32, 64, 128, 256]
    spec = load_spec(write_spec(tmp_path, models=["vit-ti16"], axes=axes, sample={"random": 60, "seed": 5}))
    cols = evaluate_range(spec, 0, 60)
    workload = build_workload(load_model("vit-ti16"))
    equal = 0
    for j, point in enumerate(_points(spec, 60)):
        r = estimate(workload, dataclasses.replace(spec.base, **point), "cycle")
        if not any(o.stalled for o in r.ops):
            assert cols["cycles"][j] == r.cycles, point
            assert cols["energy_pj"][j] == pytest.approx(r.energy_pj, rel=1e-9, abs=0)
            equal += 1
    assert equal >= 10, equal


# ---- running: executors, determinism, resume -----------------------------------------------------------
def test_dask_local_cluster_gives_the_same_results_as_the_process_pool(tmp_path):
    pytest.importorskip("dask.distributed")
    path = write_spec(tmp_path, models=["vit-ti16", {"name": "deit-ti16", "batch": 2}], axes=WIDE_AXES,
                      sample={"lhs": 30000, "seed": 2}, chunk_size=4000)
    spec = load_spec(path)
    run_sweep(spec, tmp_path / "pool.parquet", workers=2, progress=False)
    with make_executor(2, "local", dask_processes=False) as ex:
        run = run_sweep(spec, tmp_path / "dask.parquet", executor=ex, progress=False)
    assert run.evaluated == 30000 and run.rows == 60000
    a, b = read_results(tmp_path / "pool.parquet"), read_results(tmp_path / "dask.parquet")
    assert len(a) == 60000 and list(a["model"].astype(str)[:2]) == ["vit-ti16", "deit-ti16(batch=2)"]
    assert a.equals(b)
    one = evaluate_range(spec, 12000, 12010)
    assert np.array_equal(a["energy_pj"].to_numpy()[24000:24020], one["energy_pj"])


def test_existing_results_need_resume_or_overwrite_and_resume_checks_the_spec(tmp_path, capsys):
    spec = small_spec(tmp_path)
    out = str(tmp_path / "r.csv")
    assert main(["sweep", str(spec), "-o", out, "-q"]) == 0
    assert main(["sweep", str(spec), "-o", out, "-q"]) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(["sweep", str(spec), "-o", out, "-q", "--resume"]) == 0
    assert "0 points" in capsys.readouterr().err
    other = small_spec(tmp_path, name="t.yaml", constraints=["latency_ms <= 1"])
    assert main(["sweep", str(other), "-o", out, "-q", "--resume"]) == 2
    assert "different sweep spec" in capsys.readouterr().err
    df = read_results(out)
    assert list(df["point"]) == list(range(24)) and df["feasible"].all()


def test_resume_refuses_results_made_with_other_cost_tables(tmp_path, capsys, monkeypatch):
    """A regenerated unit-cost or tech table changes the results, so old parts must not be mixed in."""
    import hwsim.sweep as sweep
    import hwsim.sweep.fingerprint
    spec = small_spec(tmp_path)
    out = str(tmp_path / "r.csv")
    assert main(["sweep", str(spec), "-o", out, "-q"]) == 0
    monkeypatch.setattr(sweep.fingerprint.resources, "data_digest", lambda: "regenerated")
    assert main(["sweep", str(spec), "-o", out, "-q", "--resume"]) == 2
    assert "cost table" in capsys.readouterr().err


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_sigkill_then_resume_loses_and_duplicates_nothing(tmp_path, fmt):
    # sized for the mapping search (issue 13): every WIDE_AXES point is a distinct config, searched per
    # GEMM (~100x the old fixed-placement cost per point), so fewer points in smaller chunks
    path = write_spec(tmp_path, models=["vit-ti16", "deit-ti16"], axes=WIDE_AXES, sample={"random": 150_000, "seed": 9},
                      constraints=["latency_ms <= 20"], chunk_size=2500)
    out = tmp_path / f"r.{fmt}"
    cmd = [sys.executable, "-m", "hwsim.cli", "sweep", str(path), "-o", str(out), "--workers", "2", "-q"]
    proc = subprocess.Popen(cmd, start_new_session=True, stderr=subprocess.PIPE)
    parts = lambda: len(list(out.glob("part-*"))) if fmt == "parquet" else \
        max(0, len(out.with_name(out.name + ".sweep").read_text().splitlines()) - 1) if out.with_name(out.name + ".sweep").exists() else 0
    deadline = time.time() + 60
    while parts() < 5 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    assert proc.poll() is None, "sweep finished before it could be killed; make it bigger"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = parts()
    assert 5 <= killed_at < 60
    done = subprocess.run(cmd + ["--resume"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    got = read_results(out, ["point", "model", "cycles", "energy_pj", "feasible"])
    assert len(got) == 300_000
    assert np.array_equal(got["point"].to_numpy(), np.repeat(np.arange(150_000), 2))      # all, once each
    spec = load_spec(path)
    for a in (0, 77_777, 149_990):         # equal to a clean evaluation
        ref = evaluate_range(spec, a, a + 10)
        rows = slice(2 * a, 2 * a + 20)
        assert np.array_equal(got["cycles"].to_numpy()[rows], ref["cycles"])
        assert np.array_equal(got["energy_pj"].to_numpy()[rows], ref["energy_pj"])
        assert list(got["model"].astype(str)[rows]) == list(ref["model"])


# ---- analysis ----------------------------------------------------------------------------------------
def test_pareto_front_on_a_hand_made_table_and_against_brute_force():
    x = np.array([1, 2, 3, 4, 2, 5, 1, 3])
    y = np.array([9, 5, 6, 1, 7, 1, 9, 2])
    assert pareto_front(x, y).tolist() == [0, 1, 7, 3]       # (1,9) (2,5) (3,2) (4,1); dup (1,9) and (5,1) out
    rng = np.random.default_rng(0)
    for _ in range(20):
        x, y = rng.integers(0, 30, 200), rng.integers(0, 30, 200)
        front = set(pareto_front(x, y).tolist())
        for i in range(200):
            dominated = np.any((x <= x[i]) & (y <= y[i]) & ((x < x[i]) | (y < y[i])))
            twin_first = np.flatnonzero((x == x[i]) & (y == y[i]))[0] == i
            assert (i in front) == (not dominated and twin_first)


def test_pareto_command_prints_front_and_best_yaml_that_estimate_accepts(tmp_path, capsys):
    spec = small_spec(tmp_path)
    out = str(tmp_path / "r.parquet")
    assert main(["sweep", str(spec), "-o", out, "-q", "--workers", "2"]) == 0
    capsys.readouterr()
    code = main(["pareto", out, "--x", "latency", "--y", "energy", "--plot", str(tmp_path / "f.png"),
                 "--by-axis", str(tmp_path / "a.png"), "--best-dir", str(tmp_path / "best")])
    stdout = capsys.readouterr().out
    assert code == 0 and "Pareto front" in stdout and "# best latency" in stdout and "kind: systolic" in stdout
    assert (tmp_path / "f.png").stat().st_size > 5000 and (tmp_path / "a.png").stat().st_size > 5000
    df = read_results(out)
    front = pareto_front(df["latency_s"].to_numpy(), df["energy_pj"].to_numpy())
    assert f"of {len(df)} feasible points" in stdout and f"minimising both): {len(front)} of" in stdout
    for objective, col in (("latency", "latency_s"), ("energy", "energy_pj")):
        best = df.iloc[int(df[col].to_numpy().argmin())]
        hw_file = tmp_path / "best" / f"best-{objective}.yaml"
        assert yaml.safe_load(hw_file.read_text())["kind"] == "systolic"
        assert load_hardware(hw_file).rows == best["rows"]
        assert main(["estimate", "vit-ti16", str(hw_file), "--mode", "analytic", "--format", "json"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["totals"]["cycles"] == best["cycles"] and report["totals"][col] == pytest.approx(best[col], rel=1e-9)
