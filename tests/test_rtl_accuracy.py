"""The committed accuracy table (docs/rtl_accuracy.md) is what rtl.accuracy computes today."""
from pathlib import Path

from rtl import accuracy

DOC = Path(__file__).resolve().parents[1] / "docs" / "rtl_accuracy.md"


def test_committed_accuracy_table_is_current():
    table = accuracy.format_markdown(accuracy.accuracy_table())
    assert table in DOC.read_text(), "docs/rtl_accuracy.md is stale: regenerate it with 'hwsim rtl accuracy'"


def test_every_algorithm_has_a_reference_row_with_finite_errors():
    rows = accuracy.accuracy_table(rows=60)
    ref = {(r["kind"], r["algo"]) for r in rows if r["variant"] == "reference"}
    assert ref == {("softmax", a) for a in ("shiftmax", "ibert", "edgemoe", "lut")} | \
                  {("gelu", a) for a in ("shiftgelu", "ibert", "edgemoe", "pwl")}
    for r in rows:
        assert 0 <= r["mean_abs"] <= r["max_abs"] < 100
        if r["kind"] == "softmax":
            assert 0 <= r["top1"] <= 1 and r["kl"] >= 0


def test_precise_variants_beat_their_reference():
    rows = {(r["kind"], r["algo"], r["variant"]): r for r in accuracy.accuracy_table(rows=60)}
    assert rows["softmax", "edgemoe", "exp table 2^10"]["max_abs"] < rows["softmax", "edgemoe", "reference"]["max_abs"]
    assert rows["softmax", "lut", "16-bit output"]["max_abs"] < rows["softmax", "lut", "reference"]["max_abs"]
    assert rows["gelu", "pwl", "16-bit input, 32 segments"]["max_abs"] < rows["gelu", "pwl", "16-bit input, 16 segments"]["max_abs"]
