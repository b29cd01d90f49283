"""rtl.golden.edgemoe_gelu against Edge-MoE's own src/gelu.cpp, compiled with Xilinx's ap_fixed headers and
run on every Q10.22 word with |x| < 6 plus 65,536 words over the whole range
(benchmarks/edgemoe_gelu_reference.py -> hwsim/data/reference/edgemoe_gelu_reference.json)."""
import numpy as np
import pytest

from hwsim.validation import reference_data
from rtl import reference as ref
from rtl.golden import edgemoe_gelu

DATA = reference_data("edgemoe_gelu_reference.json")


def test_golden_equals_edgemoe_on_the_recorded_samples():
    x, y = np.array(DATA["samples"], dtype=np.int64).T
    got, scale = edgemoe_gelu(x)
    assert scale == 2.0 ** -22
    bad = np.nonzero(got != y)[0]
    assert not len(bad), [(int(x[j]), int(y[j]), int(got[j])) for j in bad[:5]]


@pytest.mark.parametrize("name", ["core", "full"])
def test_golden_is_bit_exact_with_edgemoe_on_every_recorded_word(name):
    sha, count = ref.edgemoe_golden_digest(name)          # "core" streamed chunk by chunk
    assert sha == DATA["sets"][name]["sha256"]
    assert count == DATA["sets"][name]["count"]


def test_a_one_lsb_change_would_be_caught():
    """The digest check can fail: the golden off by one LSB on one word changes it."""
    y = edgemoe_gelu(ref.full_words())[0]
    assert ref.edgemoe_digest([y]) == DATA["sets"]["full"]["sha256"]
    y[1234] += 1
    assert ref.edgemoe_digest([y]) != DATA["sets"]["full"]["sha256"]
