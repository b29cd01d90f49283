"""The golden models' cross-checks against the papers' own code: the deterministic input sets, the digests
and the registered checks (``hwsim validate``).

Two references, each recorded by a script in ``benchmarks/`` that runs the real code and writes JSON into
``hwsim/data/reference/`` (so no torch or HLS headers are needed here):

* I-BERT (kssteven418/I-BERT @ 1b09c75) and I-ViT (zkkli/I-ViT @ 380ba99) PyTorch integer modules, run by
  ``benchmarks/ibert_ivit_reference.py`` -> ``ibert_ivit_reference.json``: SHA-256 digests of their outputs on
  the input sets below, mismatch masks and samples (that script's docstring says what is run and how).
* Edge-MoE's ``src/gelu.cpp`` compiled with Xilinx's ap_fixed headers, run by
  ``benchmarks/edgemoe_gelu_reference.py`` -> ``edgemoe_gelu_reference.json``: digests over every Q10.22 word
  with |x| < 6 (50,331,648 words, ``core``) and 65,536 words over the whole range (``full``).
"""
from __future__ import annotations

import base64
import hashlib
import zlib

import numpy as np

from rtl import golden as G

# ------------------------------------------------------------------------------------------------
# Deterministic input sets: each a list of int64 arrays (elementwise sets 1-D, row-wise sets 2-D)
# ------------------------------------------------------------------------------------------------
def formula_rows(r: int, n: int, mod: int, off: int) -> np.ndarray:
    """q[i, j] = (37 i + 11 j^2 + 7 i j) mod ``mod`` - ``off``."""
    i = np.arange(r, dtype=np.int64)[:, None]
    j = np.arange(n, dtype=np.int64)[None, :]
    return (37 * i + 11 * j * j + 7 * i * j) % mod - off


def _edge8() -> list:
    eye = np.eye(64, dtype=np.int64)
    return [np.array([[5]]), np.full((2, 197), -128), np.full((1, 2048), 127), eye * 255 - 128,
            np.arange(-128, 128)[None, :], np.array([[127, -128], [-128, 127], [0, 0], [-1, -2]])]


def _pairs16() -> list:
    d = np.arange(65536, dtype=np.int64)
    return [np.stack([np.full_like(d, 32767), 32767 - d], axis=1)]


def _ties8() -> list:
    j = np.arange(64, dtype=np.int64)[None, :]
    b = np.arange(64, dtype=np.int64)[:, None]
    return [np.where(j == 0, 0, np.where(j <= b, -12, -255))]


def _ties16() -> list:
    rows = [[32767] * a + [32767 - 1382] * b + [-32768] * (64 - a - b) for a in range(1, 20) for b in range(1, 65 - a)]
    return [np.array(rows, dtype=np.int64)]


def _gelu_pairs8() -> list:
    i = np.arange(256, dtype=np.int64)[:, None]
    j = np.arange(256, dtype=np.int64)[None, :]
    return [np.minimum(j - 128, i - 128)]


SETS = {
    "codes16": ("every 16-bit code q = -32768..32767", lambda: [np.arange(-32768, 32768, dtype=np.int64)]),
    "codes8": ("every 8-bit code q = -128..127", lambda: [np.arange(-128, 128, dtype=np.int64)]),
    "neg16": ("q = -65535..0 (every difference of two 16-bit codes that is <= 0)",
              lambda: [np.arange(-65535, 1, dtype=np.int64)]),
    "neg8": ("q = -255..0 (every difference of two 8-bit codes that is <= 0)",
             lambda: [np.arange(-255, 1, dtype=np.int64)]),
    "rows8": ("512 x 64, q[i,j] = (37i + 11j^2 + 7ij) mod 256 - 128", lambda: [formula_rows(512, 64, 256, 128)]),
    "rows8_197": ("256 x 197, q[i,j] = (37i + 11j^2 + 7ij) mod 256 - 128", lambda: [formula_rows(256, 197, 256, 128)]),
    "rows16": ("256 x 128, q[i,j] = (37i + 11j^2 + 7ij) mod 8192 - 4096", lambda: [formula_rows(256, 128, 8192, 4096)]),
    "rows16_full": ("128 x 512, q[i,j] = (37i + 11j^2 + 7ij) mod 65536 - 32768",
                    lambda: [formula_rows(128, 512, 65536, 32768)]),
    "pairs16": ("65536 rows [32767, 32767 - d], d = 0..65535 (every 16-bit exp argument next to the row max)",
                _pairs16),
    "edge8": ("[[5]]; 2x197 of -128; 1x2048 of 127; 64x64 one-hot (127 on the diagonal, -128 elsewhere); "
              "the ramp -128..127; [[127,-128],[-128,127],[0,0],[-1,-2]]", _edge8),
    "ties8": ("64 x 64, row b = [0, -12 (b times), -255 ...]: at scale 8/127 the exp of -12 is a near tie "
              "(16383.5) of the 16-bit requantisation", _ties8),
    "ties16": ("1026 x 64, for a = 1..19, b = 1..64-a: [32767 (a times), 31385 (b times), -32768 ...]: at 2^-10 the "
               "exp of -1382 is a near tie of the 16-bit requantisation", _ties16),
    "gelu_pairs8": ("256 x 256, q[i,j] = min(j, i) - 128: every 8-bit (x, row max) pair with x <= max",
                    _gelu_pairs8),
}

SCALES = {"2^-10": 2.0 ** -10, "2^-4": 2.0 ** -4, "10/32767": 10 / 32767, "8/127": 8 / 127, "0.1": 0.1}


# ------------------------------------------------------------------------------------------------
# Golden side (NumPy only; shared with benchmarks/ibert_ivit_reference.py and the tests)
# ------------------------------------------------------------------------------------------------
def golden_exp16(q, scale: float, exp_scale16: float) -> np.ndarray:
    """The golden's 16-bit requantised exp (the ``QuantAct(16)`` stage inside ``ibert_softmax``): the i-exp of
    q <= 0 times ``m_int`` of ``ibert_softmax_constants``, rounded half to even at ``shift``, clipped to int16."""
    k = G.ibert_softmax_constants(scale, exp_scale16)
    e, _ = G.ibert_exp(q, scale)
    prod = G._round_shift_half_even(e.astype(object) * k["m_int"], k["shift"])
    return np.clip(prod.astype(np.int64), -32768, 32767)


GOLDENS = {   # name -> (function of (chunk, scale, params) -> int64 outputs, output-scale function)
    "ibert_gelu": (lambda q, s, p: G.ibert_gelu(q, s)[0], lambda s, p: G.ibert_gelu(np.zeros(1, np.int64), s)[1]),
    "ibert_exp": (lambda q, s, p: G.ibert_exp(q, s)[0], lambda s, p: G.ibert_exp_constants(s)["out_scale"]),
    "ibert_exp16": (lambda q, s, p: golden_exp16(q, s, p["exp_scale16"]), None),
    "ibert_softmax": (lambda q, s, p: G.ibert_softmax(q, s, exp_scale16=p["exp_scale16"])[0], lambda s, p: 2.0 ** -8),
    "ibert_softmax_default": (lambda q, s, p: G.ibert_softmax(q, s)[0], lambda s, p: 2.0 ** -8),
    "shiftmax": (lambda q, s, p: G.shiftmax(q, s)[0], lambda s, p: 2.0 ** -7),
    "shiftmax_n15": (lambda q, s, p: G.shiftmax(q, s, n=15)[0], lambda s, p: 2.0 ** -7),
    "shiftgelu": (lambda q, s, p: G.shiftgelu(q, s)[0], lambda s, p: s / 2 ** 7),
    "shift_exp_n15": (lambda q, s, p: G.shift_exp(q, s, 15), None),
    "shift_exp_gelu_n23": (lambda q, s, p: G.shift_exp(q, s * 1.702, 23), None),
}

# (id stem, reference, golden, set, scale name). Each is run in float64 and float32 (id suffix).
COMPARISONS = [
    ("ibert_gelu/codes16/2^-10", "ibert_gelu", "ibert_gelu", "codes16", "2^-10"),
    ("ibert_gelu/codes8/2^-4", "ibert_gelu", "ibert_gelu", "codes8", "2^-4"),
    ("ibert_gelu/codes16/10/32767", "ibert_gelu", "ibert_gelu", "codes16", "10/32767"),
    ("ibert_gelu/codes8/8/127", "ibert_gelu", "ibert_gelu", "codes8", "8/127"),
    ("ibert_exp/neg16/2^-10", "ibert_exp", "ibert_exp", "neg16", "2^-10"),
    ("ibert_exp/neg8/2^-4", "ibert_exp", "ibert_exp", "neg8", "2^-4"),
    ("ibert_exp/neg16/10/32767", "ibert_exp", "ibert_exp", "neg16", "10/32767"),
    ("ibert_exp/neg8/8/127", "ibert_exp", "ibert_exp", "neg8", "8/127"),
    ("ibert_exp16/neg16/2^-10", "ibert_exp16", "ibert_exp16", "neg16", "2^-10"),
    ("ibert_exp16/neg8/2^-4", "ibert_exp16", "ibert_exp16", "neg8", "2^-4"),
    ("ibert_exp16/neg16/10/32767", "ibert_exp16", "ibert_exp16", "neg16", "10/32767"),
    ("ibert_exp16/neg8/8/127", "ibert_exp16", "ibert_exp16", "neg8", "8/127"),
    ("ibert_softmax/rows8/2^-4", "ibert_softmax", "ibert_softmax", "rows8", "2^-4"),
    ("ibert_softmax/rows8_197/8/127", "ibert_softmax", "ibert_softmax", "rows8_197", "8/127"),
    ("ibert_softmax/rows16/2^-10", "ibert_softmax", "ibert_softmax", "rows16", "2^-10"),
    ("ibert_softmax/pairs16/2^-10", "ibert_softmax", "ibert_softmax", "pairs16", "2^-10"),
    ("ibert_softmax/edge8/2^-4", "ibert_softmax", "ibert_softmax", "edge8", "2^-4"),
    ("ibert_softmax/ties8/8/127", "ibert_softmax", "ibert_softmax", "ties8", "8/127"),
    ("ibert_softmax/ties16/2^-10", "ibert_softmax", "ibert_softmax", "ties16", "2^-10"),
    ("ibert_softmax_default/rows8/2^-4", "ibert_softmax", "ibert_softmax_default", "rows8", "2^-4"),
    ("ibert_softmax_default/rows16/2^-10", "ibert_softmax", "ibert_softmax_default", "rows16", "2^-10"),
    ("shiftmax/rows8/2^-4", "ivit_softmax", "shiftmax", "rows8", "2^-4"),
    ("shiftmax_n15/rows8/2^-4", "ivit_softmax", "shiftmax_n15", "rows8", "2^-4"),
    ("shiftmax/rows8_197/8/127", "ivit_softmax", "shiftmax", "rows8_197", "8/127"),
    ("shiftmax_n15/rows8_197/8/127", "ivit_softmax", "shiftmax_n15", "rows8_197", "8/127"),
    ("shiftmax/rows8_197/0.1", "ivit_softmax", "shiftmax", "rows8_197", "0.1"),
    ("shiftmax_n15/rows8_197/0.1", "ivit_softmax", "shiftmax_n15", "rows8_197", "0.1"),
    ("shiftmax/rows16/2^-10", "ivit_softmax", "shiftmax", "rows16", "2^-10"),
    ("shiftmax_n15/rows16/2^-10", "ivit_softmax", "shiftmax_n15", "rows16", "2^-10"),
    ("shiftmax/edge8/2^-4", "ivit_softmax", "shiftmax", "edge8", "2^-4"),
    ("shiftmax_n15/edge8/2^-4", "ivit_softmax", "shiftmax_n15", "edge8", "2^-4"),
    ("shift_exp_n15/neg8/2^-4", "ivit_softmax_exp", "shift_exp_n15", "neg8", "2^-4"),
    ("shift_exp_n15/neg8/8/127", "ivit_softmax_exp", "shift_exp_n15", "neg8", "8/127"),
    ("shift_exp_n15/neg16/2^-10", "ivit_softmax_exp", "shift_exp_n15", "neg16", "2^-10"),
    ("shift_exp_gelu_n23/neg8/2^-4", "ivit_gelu_exp", "shift_exp_gelu_n23", "neg8", "2^-4"),
    ("shift_exp_gelu_n23/neg8/8/127", "ivit_gelu_exp", "shift_exp_gelu_n23", "neg8", "8/127"),
    ("shiftgelu/gelu_pairs8/2^-4", "ivit_gelu", "shiftgelu", "gelu_pairs8", "2^-4"),
    ("shiftgelu/gelu_pairs8/8/127", "ivit_gelu", "shiftgelu", "gelu_pairs8", "8/127"),
    ("shiftgelu/rows16/2^-10", "ivit_gelu", "shiftgelu", "rows16", "2^-10"),
    ("shiftgelu/rows16_full/2^-10", "ivit_gelu", "shiftgelu", "rows16_full", "2^-10"),
]
DTYPES = ("float64", "float32")

REFERENCES = {
    "ibert_gelu": "I-BERT IntGELU(quant_mode='symmetric').forward(q*S, S)",
    "ibert_exp": "I-BERT IntSoftmax.int_exp(q, S)",
    "ibert_exp16": "I-BERT IntSoftmax: int_exp(q, S) then its QuantAct(16) (self.act), first call calibrating",
    "ibert_softmax": "I-BERT IntSoftmax(8, quant_mode='symmetric').forward(q*S, S), fresh module per array",
    "ivit_softmax": "I-ViT IntSoftmax(8).forward(q*S, S) (Shiftmax, n = 15)",
    "ivit_softmax_exp": "I-ViT IntSoftmax.int_exp_shift(q, S) (n = 15)",
    "ivit_gelu_exp": "I-ViT IntGELU.int_exp_shift(q, 1.702*S) (n = 23)",
    "ivit_gelu": "I-ViT IntGELU(8).forward(q*S, S) (ShiftGELU, n = 23)",
}


def set_chunks(name: str) -> list:
    return SETS[name][1]()


def digest(arrays) -> str:
    """SHA-256 of the arrays' int64 little-endian words, in order (what the I-BERT/I-ViT script records)."""
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(np.asarray(a, dtype=np.int64).reshape(-1), dtype="<i8").tobytes())
    return h.hexdigest()


def encode_mask(mask: np.ndarray) -> str | None:
    return base64.b64encode(zlib.compress(np.packbits(mask).tobytes(), 9)).decode() if mask.any() else None


def decode_mask(text: str | None, count: int) -> np.ndarray:
    if text is None:
        return np.zeros(count, dtype=bool)
    bits = np.unpackbits(np.frombuffer(zlib.decompress(base64.b64decode(text)), dtype=np.uint8))
    return bits[:count].astype(bool)


def golden_outputs(golden: str, chunks: list, scale: float, params: dict) -> np.ndarray:
    """The golden's outputs on a set's ``chunks``, flattened and concatenated (int64)."""
    fn = GOLDENS[golden][0]
    return np.concatenate([np.asarray(fn(c, scale, params), dtype=np.int64).reshape(-1) for c in chunks])


def golden_and_inputs(c: dict) -> tuple[np.ndarray, np.ndarray]:
    """The golden's outputs and the inputs on recorded comparison ``c``'s set (each flattened and concatenated;
    the set is built once)."""
    chunks = set_chunks(c["set"])
    return (golden_outputs(c["golden"], chunks, c["scale"], c["params"]),
            np.concatenate([a.reshape(-1) for a in chunks]))


def check_recorded(c: dict, gold: np.ndarray, x: np.ndarray, tally) -> int:
    """Check the golden's outputs ``gold`` on the inputs ``x`` against what the reference code gave for recorded
    comparison ``c``, into ``tally`` (:class:`hwsim.validation.Tally`): equal to the reference exactly where
    the script found them equal (digest; all outputs' digest when all are), unchanged where they differed (so
    the mismatch count is today's), and on the recorded samples. Returns the bit-exact outputs (count minus the
    recorded mask's mismatches)."""
    case, count = c["id"], c["count"]
    tally.exact(case, (len(gold), len(x)), (count, count), "outputs and inputs")
    if len(gold) != count or len(x) != count:
        return 0
    mask = decode_mask(c["mismatch_mask"], count)
    matches = count - int(mask.sum())
    tally.exact(case, matches, c["matches"], "bit-exact outputs (the recorded mismatch mask against the count)")
    tally.exact(case, digest([gold[~mask]]), c["ref_sha256_where_equal"],
                "SHA-256 of the golden where the reference code agreed")
    tally.exact(case, digest([gold[mask]]), c["golden_sha256_where_different"],
                "SHA-256 of the golden where it differed (documented differences)")
    if matches == count:
        tally.exact(case, digest([gold]), c["ref_sha256"], "SHA-256 of the golden (all equal to the reference)")
    for j, q, r, g in c["samples"]:
        tally.exact(case, (int(x[j]), int(gold[j]), bool(mask[j])), (q, g, r != g),
                    f"sample {j} (input, golden output, differs from the reference's {r})")
    return matches


# ------------------------------------------------------------------------------------------------
# Edge-MoE GELU (src/gelu.cpp): Q10.22 words
# ------------------------------------------------------------------------------------------------
CORE_LIMIT = 6 << 22     # |x| < 6.0 in Q10.22
CHUNK = 1 << 22


def core_chunks():
    """The ``core`` set in input order, in chunks (int64)."""
    for start in range(-CORE_LIMIT, CORE_LIMIT, CHUNK):
        yield np.arange(start, min(start + CHUNK, CORE_LIMIT), dtype=np.int64)


def full_words() -> np.ndarray:
    """The ``full`` set: 65,536 words spread over the 32-bit range by Knuth's multiplicative hash."""
    i = np.arange(1 << 16, dtype=np.uint64)
    return ((i * np.uint64(2654435761)) % np.uint64(1 << 32)).astype(np.uint32).view(np.int32).astype(np.int64)


def edgemoe_digest(chunks) -> str:
    """SHA-256 of int32 little-endian words, chunk after chunk (what the Edge-MoE script records)."""
    h = hashlib.sha256()
    for c in chunks:
        h.update(np.asarray(c, dtype="<i4").tobytes())
    return h.hexdigest()


def edgemoe_golden_digest(name: str) -> tuple[str, int]:
    """(:func:`edgemoe_digest` of the golden's outputs, word count) on the set ``name`` ("core", streamed chunk
    by chunk, or "full")."""
    count = 0

    def outputs():
        nonlocal count
        for x in core_chunks() if name == "core" else [full_words()]:
            count += len(x)
            yield G.edgemoe_gelu(x)[0]
    sha = edgemoe_digest(outputs())
    return sha, count


# ------------------------------------------------------------------------------------------------
# Registered cross-checks (hwsim validate)
# ------------------------------------------------------------------------------------------------
def register_checks() -> None:
    from hwsim.validation import Tally, check, reference_data

    def recorded(prefix: tuple[str, ...]):
        data, t, matches, count = reference_data("ibert_ivit_reference.json"), Tally(), 0, 0
        for c in data["comparisons"]:
            if c["dtype"] == "float64" and c["reference"].startswith(prefix):
                matches, count = matches + check_recorded(c, *golden_and_inputs(c), t), count + c["count"]
        return t.outcome(f"{matches:,}/{count:,} bit-exact, rest documented")

    @check("golden/ibert", reference="I-BERT's PyTorch IntGELU/IntSoftmax @ 1b09c75 (ibert_ivit_reference.json)",
           compares="integer outputs of ibert_gelu/exp/softmax on every 8- and 16-bit code and row sets")
    def ibert():
        return recorded(("I-BERT",))

    @check("golden/ivit", reference="I-ViT's PyTorch Shiftmax/ShiftGELU @ 380ba99 (ibert_ivit_reference.json)",
           compares="integer outputs of shiftmax/shiftgelu/shift_exp (TVM variant, differences documented)")
    def ivit():
        return recorded(("I-ViT",))

    def edgemoe(names: tuple[str, ...]):
        data, t = reference_data("edgemoe_gelu_reference.json"), Tally()
        x, y = np.array(data["samples"], dtype=np.int64).T
        got = G.edgemoe_gelu(x)[0]
        for xi, yi, gi in zip(x, y, got):
            t.exact(f"x = {xi}", int(gi), int(yi), "output word")
        for name in names:
            sha, count = edgemoe_golden_digest(name)
            t.exact(f"set {name}", count, data["sets"][name]["count"], "words")
            t.exact(f"set {name}", sha, data["sets"][name]["sha256"], f"SHA-256 of the golden's {count:,} outputs")
        words = len(x) + sum(data["sets"][n]["count"] for n in names)
        return t.outcome(f"bit-exact on {words:,} words")

    src = "Edge-MoE src/gelu.cpp with ap_fixed (edgemoe_gelu_reference.json)"
    check("golden/edgemoe-gelu", reference=src,
          compares="edgemoe_gelu output words: recorded samples + 65,536 words over the Q10.22 range")(
        lambda: edgemoe(("full",)))
    check("golden/edgemoe-gelu-core", reference=src, full=True,
          compares="edgemoe_gelu output words: every Q10.22 word with |x| < 6 (50,331,648)")(
        lambda: edgemoe(("core",)))
