"""rtl.golden.edgemoe_gelu against Edge-MoE's own src/gelu.cpp, compiled with Xilinx's ap_fixed headers and
run on every Q10.22 word with |x| < 6 plus 65,536 words over the whole range
(benchmarks/edgemoe_gelu_reference.py -> hwsim/data/reference/edgemoe_gelu_reference.json)."""
import json
from pathlib import Path

import numpy as np
import pytest

from rtl.golden import edgemoe_gelu

ROOT = Path(__file__).resolve().parents[1]
from rtl import reference as ref  # noqa: E402

DATA = json.loads((ROOT / "hwsim" / "data" / "reference" / "edgemoe_gelu_reference.json").read_text())


def test_golden_equals_edgemoe_on_the_recorded_samples():
    x, y = np.array(DATA["samples"], dtype=np.int64).T
    got, scale = edgemoe_gelu(x)
    assert scale == 2.0 ** -22
    bad = np.nonzero(got != y)[0]
    assert not len(bad), [(int(x[j]), int(y[j]), int(got[j])) for j in bad[:5]]


@pytest.mark.parametrize("name", ["core", "full"])
def test_golden_is_bit_exact_with_edgemoe_on_every_recorded_word(name):
    chunks = ref.core_chunks() if name == "core" else [ref.full_words()]
    count = [0]

    def outputs():
        for x in chunks:
            count[0] += len(x)
            yield edgemoe_gelu(x)[0]
    assert ref.edgemoe_digest(outputs()) == DATA["sets"][name]["sha256"]
    assert count[0] == DATA["sets"][name]["count"]


def test_a_one_lsb_change_would_be_caught():
    """The digest check can fail: the golden off by one LSB on one word changes it."""
    y = edgemoe_gelu(ref.full_words())[0]
    assert ref.edgemoe_digest([y]) == DATA["sets"]["full"]["sha256"]
    y[1234] += 1
    assert ref.edgemoe_digest([y]) != DATA["sets"]["full"]["sha256"]
