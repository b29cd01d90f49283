"""Run I-BERT's and I-ViT's own PyTorch integer modules and record what they compute, to cross-check the
NumPy goldens ``ibert_gelu`` / ``ibert_exp`` / ``ibert_softmax`` / ``shiftmax`` / ``shiftgelu`` / ``shift_exp``
of ``rtl/golden.py``.

Run (needs torch, so from a venv outside the repository; the project's venv has no torch):

    python3 -m venv /work/ref-venv && /work/ref-venv/bin/pip install torch numpy
    /work/ref-venv/bin/python benchmarks/ibert_ivit_reference.py --ibert I_BERT --ivit I_VIT \
        [-o hwsim/data/reference/ibert_ivit_reference.json]

I_BERT is a checkout (or bare git directory) of https://github.com/kssteven418/I-BERT and I_VIT one of
https://github.com/zkkli/I-ViT; the data in hwsim/data/reference was made from I-BERT
1b09c759d6aeb71312df9c6ef74fa268a87c934e and I-ViT 380ba99144e7dedf428477826a6b3060bf9b85d2 (the JSON records the
commits, torch and numpy versions).

What is run, unmodified: I-BERT ``fairseq/quantization/utils/quant_modules.py`` + ``quant_utils.py`` (``IntGELU``,
``IntSoftmax`` with its ``QuantAct(16)``) and I-ViT ``models/quantization_utils/quant_modules.py`` +
``quant_utils.py`` (``IntSoftmax`` = Shiftmax, ``IntGELU`` = ShiftGELU). The two files of each are copied verbatim
(``git show``) into a temporary package. Stubs, all outside the algorithm code:

* I-BERT's ``quant_modules.py`` imports ``from fairseq.modules import LayerNorm`` and ``from fairseq import utils``;
  ``sys.modules`` gets empty stand-ins for ``fairseq``, ``fairseq.modules`` (``LayerNorm = None``) and
  ``fairseq.utils`` (only used by the float ``quant_mode='none'`` paths, never run here).
* Both codes call ``.cuda()`` (I-BERT ``batch_frexp``; I-ViT ``batch_frexp`` and the ``torch.Tensor([...]).cuda()``
  output scales); there is no GPU, so ``torch.Tensor.cuda`` is replaced by the identity.

Every comparison is run twice: with float64 tensors (``torch.set_default_dtype(torch.float64)`` and float64 inputs
and scales: the goldens' contract computes constants in float64) and with float32 (the code's default dtype).
Integer outputs are read back as ``round(output / output_scale)`` (float64 division; the script records the largest
distance to the rounded integer). Input sets are arange / integer formulas only (``SETS``). For each comparison the
JSON holds the SHA-256 of the reference's int64 little-endian outputs (sets concatenated in order, row-major), the
number of bit-exact golden outputs, and, where they differ, the mismatch mask (packbits, zlib, base64), the SHA-256
of the reference outputs where equal and of the golden outputs where different, and a few samples.
``tests/test_golden_reference_code.py`` recomputes the goldens for the same inputs (without torch) and checks them.

Output widths: both softmaxes are built with ``output_bit=8`` (I-BERT's attention uses 8; I-ViT's TVM code shifts by
24, i.e. 8 bits, as the golden does -- note that I-ViT's own ``models/vit_quant.py`` instantiates ``IntSoftmax(16)``,
while ``swin_quant.py`` uses the default 8). ``IntGELU`` of I-ViT uses its default ``output_bit=8``.

How the softmax's ``QuantAct(16)`` is set: fresh module per forward call, so the first call initialises the
running min/max from that batch. The act receives the integer ``exp_int`` (not ``exp_int * scale``) and so
calibrates in those units: ``act_scale = max(exp_int) / 32767 = c_int * 2^30 / 32767`` (every row holds its max,
so every batch gives the same value). The golden's ``exp_scale16`` parameter is in real units; the equivalent is
``act_scale * S_exp`` (``S_exp = a*S^2/2^30``), which is what the comparison passes (recorded per comparison).
The golden is then bit-exact except on near-ties: the reference's ``fixedpoint_mul`` forms
``round(round(E / S_exp) * m_int(S_exp / act_scale) / 2^(31-e))`` in float64, the golden ``E * m_int(S_exp /
exp_scale16) >> shift`` exactly; ``ibert_exp16_float_model`` / ``ibert_softmax_float_model`` (diagnostics, NumPy)
reproduce the former (their match counts are the ``notes`` of the comparisons).

Takes about 2 s on a CPU.
"""
from __future__ import annotations

import argparse
import importlib
import json
import math
import re
import subprocess
import sys
import tempfile
import time
import types
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from rtl import golden as G  # noqa: E402

IBERT_FILES = ("fairseq/quantization/utils/quant_modules.py", "fairseq/quantization/utils/quant_utils.py")
IVIT_FILES = ("models/quantization_utils/quant_modules.py", "models/quantization_utils/quant_utils.py")


# The input sets, the goldens' side and the digests live in the package (rtl/reference.py), so that
# `hwsim validate` can re-check the recorded data without this script.
from rtl.reference import (COMPARISONS, DTYPES, GOLDENS, REFERENCES, SCALES, SETS, digest, encode_mask,  # noqa: E402
                           set_chunks)


# ------------------------------------------------------------------------------------------------
# Reference side (torch)
# ------------------------------------------------------------------------------------------------
def _git(repo: Path, *args, text=True) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=text, check=True).stdout


def load_reference(ibert: Path, ivit: Path, work: Path):
    """Import the two ``quant_modules`` packages, copied verbatim, with the stubs of the module docstring."""
    import torch
    torch.Tensor.cuda = lambda self, *a, **k: self                    # stub: no GPU, .cuda() is the identity
    fairseq, fmods, futils = (types.ModuleType(n) for n in ("fairseq", "fairseq.modules", "fairseq.utils"))
    fmods.LayerNorm = None                                            # stub: unused by IntGELU / IntSoftmax
    fairseq.modules, fairseq.utils = fmods, futils
    sys.modules.update({"fairseq": fairseq, "fairseq.modules": fmods, "fairseq.utils": futils})
    sources, mods = {}, {}
    for key, repo, files, url in (("i_bert", ibert, IBERT_FILES, "kssteven418/I-BERT"),
                                  ("i_vit", ivit, IVIT_FILES, "zkkli/I-ViT")):
        pkg = work / f"{key}_ref"
        pkg.mkdir()
        (pkg / "__init__.py").write_text("")
        for f in files:
            (pkg / Path(f).name).write_text(_git(repo, "show", f"HEAD:{f}"))
        sources[key] = {"repo": url, "commit": _git(repo, "rev-parse", "HEAD").strip(), "files": list(files)}
    sys.path.insert(0, str(work))
    mods["i_bert"] = importlib.import_module("i_bert_ref.quant_modules")
    mods["i_vit"] = importlib.import_module("i_vit_ref.quant_modules")
    return torch, mods, sources


def run_reference(torch, mods, kind: str, chunk: np.ndarray, scale: float, dtype: str):
    """One array through the reference: (integer outputs, output scale or None, largest distance of the float
    outputs/scale to an integer, extra parameters for the golden)."""
    dt = getattr(torch, dtype)
    torch.set_default_dtype(dt)
    IB, IV = mods["i_bert"], mods["i_vit"]
    sf = torch.tensor([scale], dtype=dt)
    qt = torch.tensor(chunk, dtype=dt)
    params, out_scale = {}, None
    with torch.no_grad():
        if kind == "ibert_gelu":
            out, osf = IB.IntGELU(quant_mode="symmetric")(qt * sf, sf)
            v, out_scale = out.double() / osf.double(), float(osf)
        elif kind == "ibert_exp":
            v, osf = IB.IntSoftmax(8, quant_mode="symmetric").int_exp(qt, sf)
            v, out_scale = v.double(), float(osf)
        elif kind == "ibert_exp16":
            m = IB.IntSoftmax(8, quant_mode="symmetric")
            e, esf = m.int_exp(qt, sf)
            ex, asf = m.act(e, esf)
            v = ex.double() / asf.double()
            params["act_scale"] = float(asf)
        elif kind == "ibert_softmax":
            m = IB.IntSoftmax(8, quant_mode="symmetric")
            out, osf = m(qt * sf, sf)
            v, out_scale = out.double() / osf, float(osf)
            params["act_scale"] = float(m.act.act_scaling_factor)
        elif kind == "ivit_softmax":
            out, osf = IV.IntSoftmax(8)(qt * sf, sf)
            v, out_scale = out.double() / osf.double(), float(osf)
        elif kind == "ivit_softmax_exp":
            v, _ = IV.IntSoftmax(8).int_exp_shift(qt, sf)
            v = v.double()
        elif kind == "ivit_gelu_exp":
            v, _ = IV.IntGELU(8).int_exp_shift(qt, sf * 1.702)
            v = v.double()
        elif kind == "ivit_gelu":
            out, osf = IV.IntGELU(8)(qt * sf, sf)
            v, out_scale = out.double() / osf.double(), float(osf)
        else:
            raise ValueError(kind)
    v = v.numpy().reshape(chunk.shape)
    r = np.round(v)
    return r.astype(np.int64), out_scale, float(np.abs(v - r).max()), params


def ibert_exp16_float_model(q: np.ndarray, scale: float, act_scale: float) -> np.ndarray:
    """Diagnostic only: what I-BERT's ``QuantAct(16)`` computes, in NumPy float64 -- ``fixedpoint_mul`` gets the
    integer exp as ``pre_act`` and S_exp as its scale: ``z = round(E / S_exp)``, ``new_scale = S_exp /
    float32(act_scale)``, (m, e) = frexp, ``m_int = round_half_up(m 2^31)``, ``round(z m_int / 2^(31 - e))``."""
    e_int, s_exp = G.ibert_exp(q, scale)
    z = np.round(e_int.astype(np.float64) / s_exp)
    m, e = math.frexp(s_exp / float(np.float32(act_scale)))
    m_int = int(Decimal(m * 2 ** 31).quantize(Decimal("1"), rounding=ROUND_HALF_UP))
    return np.clip(np.round(z * float(m_int) / 2.0 ** (31 - e)), -32768, 32767).astype(np.int64)


def ibert_softmax_float_model(q: np.ndarray, scale: float, act_scale: float) -> np.ndarray:
    """Diagnostic only: ``ibert_softmax`` with the 16-bit stage replaced by :func:`ibert_exp16_float_model`
    (the rest in exact integers, as the golden does)."""
    d = q - q.max(axis=-1, keepdims=True)
    e16 = ibert_exp16_float_model(d.reshape(-1), scale, act_scale).reshape(q.shape)
    return (e16 * ((1 << 32) // e16.sum(axis=-1, keepdims=True))) >> 24


def compare(torch, mods, stem, kind, golden, set_name, scale_name, dtype) -> dict:
    scale = SCALES[scale_name]
    refs, gold, inputs, worst, params, out_scales = [], [], [], 0.0, {}, set()
    for chunk in set_chunks(set_name):
        r, osf, dev, p = run_reference(torch, mods, kind, chunk, scale, dtype)
        if "act_scale" in p:
            ka = G.ibert_exp_constants(scale)["out_scale"]
            p = {"act_scale": p["act_scale"], "exp_scale16": p["act_scale"] * ka}
            if params and params != p:
                raise RuntimeError(f"{stem}: the QuantAct calibrated differently on two arrays: {params} vs {p}")
        params = p or params
        out_scales.add(osf)
        worst = max(worst, dev)
        refs.append(r.reshape(-1))
        gold.append(np.asarray(GOLDENS[golden][0](chunk, scale, params), dtype=np.int64).reshape(-1))
        inputs.append(chunk.reshape(-1))
    ref, gld, x = np.concatenate(refs), np.concatenate(gold), np.concatenate(inputs)
    mask = ref != gld
    n_bad = int(mask.sum())
    entry = {"id": f"{stem}/{dtype}", "reference": REFERENCES[kind], "golden": golden, "set": set_name,
             "scale_name": scale_name, "scale": scale, "dtype": dtype, "params": params,
             "count": int(len(ref)), "matches": int(len(ref) - n_bad), "ref_sha256": digest([ref]),
             "max_distance_to_integer": worst, "mismatch_mask": encode_mask(mask),
             "ref_sha256_where_equal": digest([ref[~mask]]), "golden_sha256_where_different": digest([gld[mask]])}
    if len(out_scales) == 1 and None not in out_scales:
        entry["ref_out_scale"] = out_scales.pop()
        if GOLDENS[golden][1] is not None:
            entry["golden_out_scale"] = GOLDENS[golden][1](scale, params)
    pick = list(np.linspace(0, len(ref) - 1, 6 if dtype == "float64" else 2).astype(int))
    bad = np.nonzero(mask)[0]
    pick += list(bad[np.linspace(0, len(bad) - 1, min(len(bad), 6)).astype(int)]) if len(bad) else []
    entry["samples"] = [[int(j), int(x[j]), int(ref[j]), int(gld[j])] for j in sorted(set(pick))]
    if kind in ("ibert_exp16", "ibert_softmax"):
        fn = ibert_exp16_float_model if kind == "ibert_exp16" else ibert_softmax_float_model
        model = np.concatenate([fn(c, scale, params["act_scale"]).reshape(-1) for c in set_chunks(set_name)])
        entry["notes"] = {"float64_model_of_fixedpoint_mul_matches": int((model == ref).sum())}
    if kind == "ibert_gelu" and dtype == "float32":
        nz = x != 0
        entry["notes"] = {"erf_term_differs": int((np.round(ref[nz] / x[nz]) != gld[nz] // x[nz]).sum()),
                          "outputs_beyond_2^24": int((np.abs(ref) > 2 ** 24).sum())}
    return entry


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ibert", type=Path, required=True, help="kssteven418/I-BERT checkout or git dir")
    ap.add_argument("--ivit", type=Path, required=True, help="zkkli/I-ViT checkout or git dir")
    ap.add_argument("-o", "--output", type=Path, default=ROOT / "hwsim" / "data" / "reference" / "ibert_ivit_reference.json")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        torch, mods, sources = load_reference(args.ibert, args.ivit, Path(tmp))
        comparisons = []
        for dtype in DTYPES:
            for stem, kind, golden, set_name, scale_name in COMPARISONS:
                t0 = time.perf_counter()
                e = compare(torch, mods, stem, kind, golden, set_name, scale_name, dtype)
                comparisons.append(e)
                extra = f"  {e['notes']}" if "notes" in e else ""
                print(f"{e['id']:<40} {e['matches']:>7,} / {e['count']:>7,} bit-exact "
                      f"({100 * e['matches'] / e['count']:6.2f} %), "
                      f"max |v - round v| {e['max_distance_to_integer']:.2g}, "
                      f"{time.perf_counter() - t0:.1f} s{extra}")
                for j, q, r, g in [s for s in e["samples"] if s[2] != s[3]][:3]:
                    print(f"    index {j}: q = {q} -> reference {r}, golden {g}")
    data = {
        "what": "outputs of I-BERT's and I-ViT's own PyTorch integer modules on deterministic inputs, compared with "
                "rtl/golden.py; made by benchmarks/ibert_ivit_reference.py",
        "sources": sources, "torch": torch.__version__, "numpy": np.__version__,
        "stubs": ["sys.modules fairseq, fairseq.modules (LayerNorm = None), fairseq.utils: empty stand-ins for "
                  "I-BERT quant_modules.py's imports, unused by IntGELU/IntSoftmax in quant_mode 'symmetric'",
                  "torch.Tensor.cuda = identity (no GPU; called by batch_frexp and I-ViT's output scales)"],
        "sets": {k: v[0] for k, v in SETS.items()}, "scales": SCALES,
        "sample_format": "[flat index into the set's concatenated row-major inputs, input q, reference, golden]",
        "comparisons": comparisons}
    text = re.sub(r"\[\s+(-?\d+),\s+(-?\d+),\s+(-?\d+),\s+(-?\d+)\s+\]", r"[\1, \2, \3, \4]",
                  json.dumps(data, indent=1))           # one line per sample
    args.output.write_text(text + "\n")
    print(f"wrote {args.output} ({args.output.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
