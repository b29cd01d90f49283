"""`hwsim validate`: every registered cross-check passes on the recorded reference data, the README's fidelity
table is the command's markdown output, and a wrong model makes the command fail naming the case and both values."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from hwsim import validation as V
from hwsim.cli import main

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- hwsim validate --format markdown -->", "<!-- end of hwsim validate -->"


def readme_table() -> str:
    text = (ROOT / "README.md").read_text()
    return text[text.index(BEGIN) + len(BEGIN):text.index(END)].strip() + "\n"


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    """One default `hwsim validate --format json` run, shared by the tests below."""
    out = tmp_path_factory.mktemp("validate") / "v.json"
    code = main(["validate", "--format", "json", "-o", str(out)])
    return code, json.loads(out.read_text())


def test_every_default_check_passes_and_the_long_ones_are_listed(default_run):
    code, data = default_run
    failed = [(c["name"], c["disagreement"]) for c in data["checks"] if c["status"] not in ("pass", "--full")]
    assert code == 0 and not failed, failed
    names = [c["name"] for c in data["checks"]]
    # the checks each owner registers (a backend's own module, the goldens, the RTL, the workloads)
    for prefix in ("systolic/", "edge_moe/", "mpc/", "optical4f/", "golden/", "rtl/", "workload/"):
        assert any(n.startswith(prefix) for n in names), prefix
    assert {c["name"] for c in data["checks"] if c["status"] == "--full"} >= {
        "golden/edgemoe-gelu-core", "systolic/pe-grid-all", "rtl/gelu-exhaustive", "rtl/array-cycle-exact"}
    assert all(c["cases"] > 0 for c in data["checks"] if c["status"] == "pass")


def test_readme_fidelity_table_is_the_markdown_output(default_run):
    _, data = default_run
    results = [V.Result(**c) for c in data["checks"]]
    assert V.to_markdown(results) == readme_table(), \
        "README fidelity table is stale: regenerate it with 'hwsim validate --format markdown'"


def test_every_kind_registers_checks_in_its_own_backend_module():
    from hwsim.kinds import KINDS
    checks = V.discover()
    owners = {c.module for c in checks}
    for kind, (_, backend) in KINDS.items():
        if kind == "roofline":      # a bound, not a model with an independent reference to agree with
            continue
        assert backend.split(":")[0] in owners, kind


def test_a_wrong_model_fails_naming_the_first_case_and_both_values(monkeypatch, capsys):
    from hwsim.backends import scalesim_model
    real = scalesim_model.scalesim_gemm

    def off_by_one(*args, **kw):
        counts = real(*args, **kw)
        return type(counts)(**{**counts.__dict__, "cycles": counts.cycles + 1})
    monkeypatch.setattr(scalesim_model, "scalesim_gemm", off_by_one)
    assert main(["validate", "--only", "systolic/scalesim-gemm"]) == 1
    captured = capsys.readouterr()
    assert "FAIL" in captured.out
    err = captured.err.strip()
    assert len(err.splitlines()) == 1
    assert re.search(r"systolic/scalesim-gemm disagrees with SCALE-Sim 3\.0\.0 .*: \d+x\d+x\d+ on .* cycles: "
                     r"hwsim (\d+), reference (\d+)", err), err
    hw, ref = map(int, re.search(r"hwsim (\d+), reference (\d+)", err).groups())
    assert hw == ref + 1


def test_a_wrong_golden_fails_its_check(monkeypatch):
    from rtl import golden as G
    real = G.edgemoe_gelu

    def one_lsb_off(x, *a, **kw):
        y, scale = real(x, *a, **kw)
        y = np.array(y)
        y[y.size // 2] += 1
        return y, scale
    monkeypatch.setattr(G, "edgemoe_gelu", one_lsb_off)
    [result] = V.validate(only=["golden/edgemoe-gelu"])
    assert result.status == "FAIL" and "hwsim" in result.disagreement and "reference" in result.disagreement


def test_a_check_that_raises_is_a_failure_not_a_crash():
    check = V.Check("demo/raises", "nothing", "nothing", lambda: 1 / 0, __name__)
    [r] = V.run_checks([check])
    assert r.status == "FAIL" and r.disagreement == "raised ZeroDivisionError: division by zero"


def test_tally_tolerances_and_the_no_case_rule():
    t = V.Tally()
    assert t.close("a", 1.1, 1.0, 0.15) and not t.close("b", 1.2, 1.0, 0.15)
    o = t.outcome()
    assert not o.passed and o.cases == 2 and o.disagreement.startswith("b: hwsim 1.2, reference 1 (20.0% > 15.0%)")
    assert o.agreement == "max error 20.0%"
    assert V.Tally().outcome().disagreement == "no cases compared"


def test_json_markdown_and_output_file(tmp_path, capsys):
    out = tmp_path / "v.md"
    assert main(["validate", "--only", "optical4f/fatnet", "--format", "markdown", "-o", str(out)]) == 0
    text = out.read_text()
    assert text.startswith("| check | reference | compared | cases | agreement | status |")
    assert "| optical4f/fatnet-8.2x |" in text and text.count("\n") == 3
    assert main(["validate", "--list"]) == 0
    listed = capsys.readouterr().out
    assert "golden/edgemoe-gelu-core" in listed and "(--full)" in listed


def test_unknown_only_is_one_line_exit_2(capsys):
    assert main(["validate", "--only", "no/such"]) == 2
    err = capsys.readouterr().err
    assert "--only 'no/such': no such check; the checks are systolic/scalesim-gemm" in err
    assert main(["validate", "-o", str(ROOT / "no" / "such" / "dir" / "v.txt")]) == 2
