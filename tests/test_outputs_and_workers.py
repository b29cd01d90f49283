"""Output paths are checked before any work; sweep workers never outlive their parent; identical sweeps write
identical bytes whatever the worker count."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from hwsim.cli import main


def one_line_error(capsys, argv, *needles):
    t0 = time.perf_counter()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and all(n in err for n in needles), err
    return time.perf_counter() - t0


@pytest.mark.parametrize("extra, needles", [
    (["-o", "no/such/dir/r.json"], ["-o no/such/dir/r.json", "does not exist"]),
    (["--plot", "p.txt"], ["--plot p.txt", "unsupported file type '.txt'", ".png"]),
    (["--trace", "t.csv"], ["--trace t.csv", "allowed: .json"]),
    (["--roofline", "no/such/r.png"], ["--roofline", "does not exist"]),
])
def test_estimate_checks_output_paths_before_simulating(capsys, tmp_path, monkeypatch, extra, needles):
    monkeypatch.chdir(tmp_path)
    one_line_error(capsys, ["estimate", "vit-h14", "tpu-v1-like", *extra], *needles)
    assert list(tmp_path.iterdir()) == []


def test_an_output_that_is_a_directory_is_refused(capsys, tmp_path):
    one_line_error(capsys, ["estimate", "vit-ti16", "systolic", "-o", str(tmp_path)], "is a directory")


def spec_file(tmp_path, **extra):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"models": ["vit-ti16"], "hardware": "systolic",
                                    "axes": {"rows": [8, 16, 32], "cols": [8, 16]}, **extra}))
    return path


def test_sweep_and_pareto_check_their_outputs_first(capsys, tmp_path):
    spec = spec_file(tmp_path)
    one_line_error(capsys, ["sweep", str(spec), "-o", str(tmp_path / "r.txt"), "-q"], "must end in .parquet")
    one_line_error(capsys, ["sweep", str(spec), "-o", str(tmp_path / "no" / "r.csv"), "-q"], "does not exist")
    out = str(tmp_path / "r.csv")
    assert main(["sweep", str(spec), "-o", out, "-q"]) == 0
    capsys.readouterr()
    (tmp_path / "file").write_text("x")
    one_line_error(capsys, ["pareto", out, "--best-dir", str(tmp_path / "file")], "is a file, not a directory")
    one_line_error(capsys, ["pareto", out, "--plot", str(tmp_path / "f.txt")], "unsupported file type")


def test_identical_csv_sweeps_are_byte_identical_whatever_the_worker_count(tmp_path):
    spec = spec_file(tmp_path, sample={"random": 3000, "seed": 3}, chunk_size=97)
    outs = []
    for workers in (1, 2, 2):
        out = tmp_path / f"r{len(outs)}.csv"
        assert main(["sweep", str(spec), "-o", str(out), "-q", "--workers", str(workers)]) == 0
        outs.append(out.read_bytes())
    assert outs[0] == outs[1] == outs[2]


def _children(pid: int) -> list[int]:
    kids = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        kids += [int(c) for c in (task / "children").read_text().split()]
    return kids


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigkill_of_a_sweep_leaves_no_worker_behind(tmp_path):
    spec = spec_file(tmp_path, axes={"rows": {"range": [4, 256, 4]}, "cols": {"range": [4, 256, 4]}},
                     sample={"random": 3_000_000, "seed": 1}, chunk_size=20000, models=["vit-b16"])
    out = tmp_path / "r.parquet"
    proc = subprocess.Popen([sys.executable, "-m", "hwsim.cli", "sweep", str(spec), "-o", str(out), "--workers", "2", "-q"],
                            start_new_session=True, stderr=subprocess.DEVNULL)
    deadline = time.time() + 90
    workers: list[int] = []
    while time.time() < deadline and proc.poll() is None:
        workers = _children(proc.pid)
        if len(workers) >= 2 and len(list(out.glob("part-*"))) >= 1:
            break
        time.sleep(0.05)
    assert proc.poll() is None and len(workers) >= 2, "the sweep finished or never started its workers"
    os.kill(proc.pid, signal.SIGKILL)          # the parent only: no clean-up code runs in it
    proc.wait()
    deadline = time.time() + 15
    alive = lambda: [w for w in workers if Path(f"/proc/{w}").exists()
                     and "zombie" not in Path(f"/proc/{w}/status").read_text().lower()]
    while alive() and time.time() < deadline:
        time.sleep(0.1)
    left = alive()
    for w in left:
        os.kill(w, signal.SIGKILL)
    assert not left, f"workers {left} outlived their parent"
