"""rtl.golden's I-BERT and I-ViT goldens against the papers' own PyTorch modules, run for real (not transcribed)
by benchmarks/ibert_ivit_reference.py -> hwsim/data/reference/ibert_ivit_reference.json. No torch here: the goldens are
recomputed on the same deterministic inputs (arange / integer formulas, defined in the script) and checked
against the recorded SHA-256 digests, mismatch masks and samples.

Facts recorded (float64 runs, the goldens' contract; I-BERT 1b09c75, I-ViT 380ba99):

* I-BERT ``IntGELU`` and ``IntSoftmax.int_exp``: ``ibert_gelu`` / ``ibert_exp`` bit-exact on every input.
* I-BERT ``IntSoftmax`` forward: ``ibert_softmax`` (with ``exp_scale16`` = the QuantAct's calibrated scale x S_exp)
  bit-exact on ordinary rows, but NOT everywhere: its 16-bit requantisation multiplies the integer exp by
  m_int(S_exp / exp_scale16), whereas the reference's ``QuantAct(16)`` is handed the integer exp as a float
  activation and computes ``round(round(E / S_exp) * m_int(S_exp / act_scale) / 2^(31-e))`` in float64. The two
  disagree by one LSB on (near-)ties (4 of 131,584 exhaustive exp inputs) and that reaches the softmax output on rows
  built around them (115 of 4,096 and 9 of 65,664 outputs).
* I-ViT: ``shiftmax`` / ``shiftgelu`` follow the TVM deployment code, which differs from the PyTorch modules by
  design (x0 = trunc(-1/S - 1) vs floor(-1/S), n = 16 vs 15 in Shiftmax, ``r >> 1`` vs exact ``r / 2``, truncating
  vs flooring division and int32 wrap-around vs float for positive exp arguments and large sums): the tables below
  are the agreement, asserted as it is, not as identity.

float32 runs (the modules' default dtype) are recorded too: what the real code gives there is a finding.
"""
import hashlib
import json

import numpy as np
import pytest

from hwsim.resources import data_file
from hwsim.validation import Tally, reference_data
from rtl import golden as G
from rtl import reference as ref

DATA = reference_data("ibert_ivit_reference.json")
COMPARISONS = {c["id"]: c for c in DATA["comparisons"]}

# id: (bit-exact golden outputs, outputs) -- what the script measured, stated here so a regenerated JSON that
# changes any figure shows up in review.
AGREEMENT = """
ibert_gelu/codes16/2^-10             65536 65536 | 58587 65536
ibert_gelu/codes8/2^-4                 256   256 |   256   256
ibert_gelu/codes16/10/32767          65536 65536 | 37494 65536
ibert_gelu/codes8/8/127                256   256 |   256   256
ibert_exp/neg16/2^-10                65536 65536 | 65536 65536
ibert_exp/neg8/2^-4                    256   256 |   256   256
ibert_exp/neg16/10/32767             65536 65536 |     0 65536
ibert_exp/neg8/8/127                   256   256 |   256   256
ibert_exp16/neg16/2^-10              65534 65536 | 65533 65536
ibert_exp16/neg8/2^-4                  256   256 |   255   256
ibert_exp16/neg16/10/32767           65535 65536 | 65531 65536
ibert_exp16/neg8/8/127                 255   256 |   256   256
ibert_softmax/rows8/2^-4             32768 32768 | 32768 32768
ibert_softmax/rows8_197/8/127        50432 50432 | 50432 50432
ibert_softmax/rows16/2^-10           32768 32768 | 32768 32768
ibert_softmax/pairs16/2^-10         131072 131072 | 76890 131072
ibert_softmax/edge8/2^-4              6803  6803 |  6734  6803
ibert_softmax/ties8/8/127             3981  4096 |  4096  4096
ibert_softmax/ties16/2^-10           65655 65664 | 65664 65664
ibert_softmax_default/rows8/2^-4     32768 32768 | 32768 32768
ibert_softmax_default/rows16/2^-10   32768 32768 | 32768 32768
shiftmax/rows8/2^-4                  30382 32768 | 30382 32768
shiftmax_n15/rows8/2^-4              30376 32768 | 30376 32768
shiftmax/rows8_197/8/127             49774 50432 | 49774 50432
shiftmax_n15/rows8_197/8/127         49778 50432 | 49778 50432
shiftmax/rows8_197/0.1               48932 50432 | 48954 50432
shiftmax_n15/rows8_197/0.1           48961 50432 | 48983 50432
shiftmax/rows16/2^-10                27392 32768 | 27392 32768
shiftmax_n15/rows16/2^-10            32647 32768 | 32647 32768
shiftmax/edge8/2^-4                   4749  6803 |  4746  6803
shiftmax_n15/edge8/2^-4               6797  6803 |  6794  6803
shift_exp_n15/neg8/2^-4                  0   256 |     0   256
shift_exp_n15/neg8/8/127               173   256 |   173   256
shift_exp_n15/neg16/2^-10                0 65536 |     0 65536
shift_exp_gelu_n23/neg8/2^-4           176   256 |   176   256
shift_exp_gelu_n23/neg8/8/127          176   256 |   176   256
shiftgelu/gelu_pairs8/2^-4           33817 65536 | 33646 65536
shiftgelu/gelu_pairs8/8/127          33817 65536 | 33646 65536
shiftgelu/rows16/2^-10               29508 32768 | 29508 32768
shiftgelu/rows16_full/2^-10          64741 65536 | 64741 65536
"""
EXPECTED = {}
for _line in AGREEMENT.strip().splitlines():
    _stem, _f64, _f32 = _line.split()[0], _line.split("|")[0].split()[1:], _line.split("|")[1].split()
    EXPECTED[f"{_stem}/float64"] = tuple(map(int, _f64))
    EXPECTED[f"{_stem}/float32"] = tuple(map(int, _f32))

_CACHE = {}


def golden_and_inputs(c):
    """The golden's outputs and the inputs on a comparison's set (flattened, concatenated; cached)."""
    key = (c["golden"], c["set"], c["scale"], json.dumps(c["params"], sort_keys=True))
    if key not in _CACHE:
        _CACHE[key] = ref.golden_and_inputs(c)
    return _CACHE[key]


def check(c, gold, x):
    """Assert that ``gold`` reproduces what the script recorded for comparison ``c`` (``rtl.reference.check_recorded``,
    the validate check's own: lengths, the mask's count, digests where equal / different / of all, samples)."""
    t = Tally()
    ref.check_recorded(c, gold, x, t)
    outcome = t.outcome()
    assert outcome.passed, outcome.disagreement


def test_reference_commits_and_definitions_are_recorded():
    assert DATA["sources"]["i_bert"]["commit"] == "1b09c759d6aeb71312df9c6ef74fa268a87c934e"
    assert DATA["sources"]["i_vit"]["commit"] == "380ba99144e7dedf428477826a6b3060bf9b85d2"
    assert DATA["sets"] == {k: v[0] for k, v in ref.SETS.items()}
    assert DATA["scales"] == ref.SCALES
    assert set(COMPARISONS) == set(EXPECTED)
    assert len(COMPARISONS) == len(ref.COMPARISONS) * len(ref.DTYPES)
    assert len(data_file("reference").joinpath("ibert_ivit_reference.json").read_bytes()) < 200_000


@pytest.mark.parametrize("cid", sorted(COMPARISONS))
def test_golden_against_the_recorded_reference(cid):
    c = COMPARISONS[cid]
    assert (c["matches"], c["count"]) == EXPECTED[cid]
    assert c["scale"] == ref.SCALES[c["scale_name"]]
    check(c, *golden_and_inputs(c))
    if "ref_out_scale" in c and "golden_out_scale" in c:
        if c["dtype"] == "float64":
            assert c["ref_out_scale"] == c["golden_out_scale"]
        else:
            assert c["ref_out_scale"] == pytest.approx(c["golden_out_scale"], rel=1e-6)


def test_ibert_requantisation_differs_only_on_near_ties():
    """The one I-BERT discrepancy in float64: the 16-bit requantisation, one LSB, at these exps."""
    for c in COMPARISONS.values():   # the cause, confirmed: a float64 model of fixedpoint_mul matches everywhere
        if c["dtype"] == "float64" and c["id"].startswith(("ibert_exp16/", "ibert_softmax/")):
            assert c["notes"]["float64_model_of_fixedpoint_mul_matches"] == c["count"], c["id"]
    got = {}
    for cid in ("ibert_exp16/neg16/2^-10", "ibert_exp16/neg16/10/32767", "ibert_exp16/neg8/8/127"):
        got[cid] = sorted((q, r, g) for _, q, r, g in COMPARISONS[cid + "/float64"]["samples"] if r != g)
    assert got == {"ibert_exp16/neg16/2^-10": [(-1382, 8487, 8486), (-812, 14860, 14859)],
                   "ibert_exp16/neg16/10/32767": [(-374, 29293, 29294)],
                   "ibert_exp16/neg8/8/127": [(-12, 16383, 16384)]}
    # At 8/127, x0 = -12: e(-12) is exactly half of e(0), so its 16-bit value 32767/2 = 16383.5 is an exact tie,
    # rounded down by the reference's float path and up by the golden's m_int; a row [0, -12, -12, -255 ...] shows it.
    c = COMPARISONS["ibert_softmax/ties8/8/127/float64"]
    row = ref.set_chunks("ties8")[0][2:3]
    out = G.ibert_softmax(row, 8 / 127, exp_scale16=c["params"]["exp_scale16"])[0][0]
    assert out[:3].tolist() == [127, 64, 64]                       # the reference gives [128, 63, 63]
    assert ref.decode_mask(c["mismatch_mask"], c["count"])[128:131].all()
    assert [128, 0, 128, 127] in c["samples"]


def test_ivit_differences_have_the_documented_causes():
    """Examples of each TVM-vs-PyTorch difference, as recorded from the PyTorch run."""
    def mism(cid):
        return {q: (r, g) for _, q, r, g in COMPARISONS[cid + "/float64"]["samples"] if r != g}
    # x0: TVM trunc(-1/S - 1) = -17 at S = 2^-4, PyTorch floor(-1/S) = -16: the clamped exp is 17 vs 16
    assert G.shiftmax_x0(2.0 ** -4) == -17 and mism("shift_exp_n15/neg8/2^-4")[-255] == (16, 17)
    # r >> 1 vs r / 2 (x0 = -16 in both at S = 8/127): d = -191, q = 11, r = -15 -> 8<<4 = 128 vs 8.5*16 = 136
    assert mism("shift_exp_n15/neg8/8/127")[-133] == (136, 128)
    # negative row max: e(-max) has a positive argument; TVM shifts by n - q >= 32 (golden: 0), PyTorch does not
    assert mism("shiftgelu/gelu_pairs8/2^-4")[-128] == (-640, -16000)
    # int32 wrap: at 2^-10, x0 = -602 and 498 << 23 > 2^31 (TVM wraps, PyTorch floats)
    assert mism("shiftgelu/rows16/2^-10")[3923] == (976827, -482529)
    # Shiftmax row sum of 2048 equal elements: 2048 * 17 * 2^16 wraps int32 (TVM); PyTorch (n = 15, x0 = -16) does not
    assert mism("shiftmax/edge8/2^-4")[127] == (0, -1)


def test_a_wrong_golden_would_be_caught(monkeypatch):
    """The checks can fail: one LSB in one output, or a changed constant, breaks them."""
    c = COMPARISONS["ibert_gelu/codes16/2^-10/float64"]
    gold, x = golden_and_inputs(c)
    bad = gold.copy()
    bad[12345] += 1
    with pytest.raises(AssertionError):
        check(c, bad, x)
    c = COMPARISONS["shiftgelu/rows16/2^-10/float64"]                 # a comparison with recorded mismatches
    gold, x = golden_and_inputs(c)
    mask = ref.decode_mask(c["mismatch_mask"], c["count"])
    for j in (np.nonzero(mask)[0][0], np.nonzero(~mask)[0][0]):
        bad = gold.copy()
        bad[j] += 1
        with pytest.raises(AssertionError):
            check(c, bad, x)
    monkeypatch.setattr(G, "IBERT_EXP_N", 29)
    c = COMPARISONS["ibert_exp/neg8/2^-4/float64"]
    with pytest.raises(AssertionError):
        check(c, *ref.golden_and_inputs(c))                          # uncached: the patched golden
    monkeypatch.setattr(G, "shiftmax_x0", lambda s: int(np.floor(-1.0 / s)))   # PyTorch's x0 instead of TVM's
    c = COMPARISONS["shiftmax/rows8/2^-4/float64"]
    with pytest.raises(AssertionError):
        check(c, *ref.golden_and_inputs(c))


def test_digest_is_of_int64_little_endian():
    a = np.array([1, -2], dtype=np.int64)
    assert ref.digest([a]) == hashlib.sha256(a.astype("<i8").tobytes()).hexdigest()
