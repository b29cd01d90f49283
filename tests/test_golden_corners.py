"""Corners of the golden models that the random tests never reach (issue 12, "Tests that let real
mistakes through": the Shiftmax negative-sum corner).

Shiftmax (I-ViT TVM code, rtl/golden.py) keeps its row sum in int32. At scale 2^-4 every element equal
to the row max has e = (-x0) << 16 = 17 * 65,536 = 1,114,112 (x0 = -17: shiftmax_x0(2^-4)), so a row
of more than 1,927 such elements wraps the sum negative; then ``factor = (2^31 - 1) / S`` is negative
and C truncation toward zero (not floor) decides the output. The reference code does exactly this, so
the outputs leave [0, 127]; the numbers below are worked by hand from that code.
"""
import numpy as np

from rtl import golden as g
from test_golden import ivit_softmax_row   # the plain C-int32 transcription of the TVM code

SCALE = 2.0 ** -4
E_MAX = 17 << 16                            # 1,114,112


def test_row_sum_wraps_negative_and_the_factor_truncates_toward_zero():
    row = [5] * 3727
    # sum = 3727 * 1,114,112 = 4,152,295,424 -> int32: 4,152,295,424 - 2^32 = -142,671,872
    # factor = trunc(2,147,483,647 / -142,671,872) = trunc(-15.05) = -15   (floor would give -16)
    # out = (-15 * 1,114,112) >> 24 = -16,711,680 >> 24 = -1             (floor: -17,825,792 >> 24 = -2)
    got, scale = g.shiftmax(np.array(row), SCALE)
    assert 3727 * E_MAX - 2 ** 32 == -142_671_872
    assert got.tolist() == [-1] * 3727 == ivit_softmax_row(row, SCALE)
    assert scale == 2.0 ** -7


def test_product_wraps_too_near_the_top_of_the_int32_range():
    row = [5] * 3855
    # sum = 3855 * 1,114,112 - 2^32 = -65,536; factor = trunc(2,147,483,647 / -65,536) = -32,767
    # product = -32,767 * 1,114,112 = -36,506,107,904 -> int32: -2,146,369,536; >> 24 = -128
    got, _ = g.shiftmax(np.array(row), SCALE)
    assert got.tolist() == [-128] * 3855 == ivit_softmax_row(row, SCALE)


def test_mixed_row_in_the_wrapped_regime_matches_the_transcription():
    row = [5] * 3852 + [-100, -100, 0]
    got, _ = g.shiftmax(np.array(row), SCALE)
    assert got.tolist() == ivit_softmax_row(row, SCALE)
    assert sorted(set(got.tolist())) == [-56, -43, -1]
