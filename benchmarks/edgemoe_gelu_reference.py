"""Run Edge-MoE's own GELU (``src/gelu.cpp``) and record what it computes, to cross-check ``rtl.golden.edgemoe_gelu``.

Run: .venv/bin/python benchmarks/edgemoe_gelu_reference.py --edgemoe EDGE_MOE --hls HLS_TYPES [-o hwsim/data/reference/edgemoe_gelu_reference.json]

EDGE_MOE is a checkout (or bare git directory) of https://github.com/sharc-lab/Edge-MoE and HLS_TYPES one of
https://github.com/Xilinx/HLS_arbitrary_Precision_Types (Xilinx's open-source ``ap_fixed.h``, the same
arbitrary-precision types Vitis HLS uses in C simulation). The script compiles the unmodified body of
``gelu(fm_t x)`` (its ``#include`` lines and ``#pragma HLS`` directives dropped, the ``hls::vector``
template after it cut) with g++ against those headers, with the three helpers it takes from Edge-MoE's
``include/util.hpp`` / ``hls_math.h`` written out here: ``hls::signbit`` (the sign bit), ``ap_fixed_relu``
and ``bitcount`` (copied from util.hpp). It feeds raw Q10.22 words through it:

* ``core``: every word with |x| < 6 (x in [-6·2^22, 6·2^22): 50,331,648 words; the table covers |x| < 5.5);
* ``full``: 65,536 words over the whole 32-bit range, ``x_i = (i·2654435761 mod 2^32)`` as int32.

For each set it compares the outputs with ``rtl.golden.edgemoe_gelu`` (printing any mismatch) and writes the
SHA-256 of the outputs (int32 little-endian, in input order) with the reference commits and a few hundred
explicit samples to the JSON that ``tests/test_edgemoe_gelu_reference.py`` checks the golden against.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from rtl.golden import edgemoe_gelu  # noqa: E402


HARNESS = r"""
#include <ap_fixed.h>
#include <cstdio>
#include <cstdint>
namespace hls {                       // hls_math.h: signbit of an ap_fixed is its MSB
template <int W, int I, ap_q_mode Q, ap_o_mode O, int N>
bool signbit(const ap_fixed<W, I, Q, O, N>& x) { return x[W - 1]; }
}
// include/util.hpp
template <typename T> static constexpr T bitcount(T num) { return (num == 0 || num == 1) ? num : 1 + bitcount(num >> 1); }
template <typename T> static constexpr T ap_fixed_relu(T x) { return hls::signbit(x) ? T(0) : x; }
typedef ap_fixed<32, 10> fm_t;        // include/datatypes.hpp
#include "gelu_body.cpp"
int main() {
  static int32_t buf[1 << 16];
  size_t n;
  while ((n = fread(buf, 4, 1 << 16, stdin)) > 0) {
    for (size_t i = 0; i < n; i++) {
      fm_t x; x.range(31, 0) = (uint32_t)buf[i];
      buf[i] = (int32_t)(uint32_t)gelu(x).range(31, 0).to_uint();
    }
    fwrite(buf, 4, n, stdout);
  }
}
"""


from rtl.reference import core_chunks, full_words  # noqa: E402


def _git_text(repo: Path, path: str) -> tuple[str, str]:
    """(file text, commit) from a checkout or a bare git directory."""
    commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True,
                            check=True).stdout.strip()
    text = subprocess.run(["git", "-C", str(repo), "show", f"HEAD:{path}"], capture_output=True, text=True,
                          check=True).stdout
    return text, commit


def build(edgemoe: Path, hls: Path, work: Path) -> tuple[Path, dict]:
    src, em_commit = _git_text(edgemoe, "src/gelu.cpp")
    body = "\n".join(line for line in src.splitlines() if not line.startswith("#include"))
    body = body[:body.index("template<size_t N>")].replace("#pragma HLS", "// #pragma HLS")
    (work / "gelu_body.cpp").write_text(body)
    (work / "harness.cpp").write_text(HARNESS)
    inc = work / "hls"
    inc.mkdir()
    archive = subprocess.run(["git", "-C", str(hls), "archive", "HEAD", "include"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(inc)], input=archive.stdout, check=True)
    hls_commit = subprocess.run(["git", "-C", str(hls), "rev-parse", "HEAD"], capture_output=True, text=True,
                                check=True).stdout.strip()
    exe = work / "gelu_ref"
    subprocess.run(["g++", "-O2", "-std=c++14", "-w", f"-I{inc / 'include'}", str(work / "harness.cpp"),
                    "-o", str(exe)], check=True)
    return exe, {"edge_moe": f"sharc-lab/Edge-MoE@{em_commit} src/gelu.cpp",
                 "ap_fixed": f"Xilinx/HLS_arbitrary_Precision_Types@{hls_commit} include/"}


def run_reference(exe: Path, x: np.ndarray) -> np.ndarray:
    out = subprocess.run([str(exe)], input=x.astype("<i4").tobytes(), capture_output=True, check=True).stdout
    return np.frombuffer(out, dtype="<i4").astype(np.int64)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--edgemoe", type=Path, required=True, help="sharc-lab/Edge-MoE checkout or git dir")
    ap.add_argument("--hls", type=Path, required=True, help="Xilinx/HLS_arbitrary_Precision_Types checkout or git dir")
    ap.add_argument("-o", "--output", type=Path, default=ROOT / "hwsim" / "data" / "reference" / "edgemoe_gelu_reference.json")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        exe, sources = build(args.edgemoe, args.hls, Path(tmp))
        sets, samples = {}, []
        for name, chunks, definition in (
                ("core", list(core_chunks()), "every Q10.22 word x in [-6*2^22, 6*2^22), ascending"),
                ("full", [full_words()], "x_i = int32(i*2654435761 mod 2^32), i = 0..65535")):
            t0 = time.perf_counter()
            ref_h, gold_h, count, bad = hashlib.sha256(), hashlib.sha256(), 0, 0
            for x in chunks:
                ref, (gold, _) = run_reference(exe, x), edgemoe_gelu(x)
                ref_h.update(ref.astype("<i4").tobytes())
                gold_h.update(gold.astype("<i4").tobytes())
                miss = np.nonzero(ref != gold)[0]
                for j in miss[:5]:
                    print(f"  MISMATCH {name}: x = {x[j]} -> Edge-MoE {ref[j]}, golden {gold[j]}")
                bad += len(miss)
                count += len(x)
                pick = np.linspace(0, len(x) - 1, 4 if name == "core" else 64).astype(int)
                samples += [[int(x[j]), int(ref[j])] for j in pick]
            sets[name] = {"definition": definition, "count": count, "sha256": ref_h.hexdigest()}
            print(f"{name}: {count:,} words through Edge-MoE's gelu.cpp in {time.perf_counter() - t0:.1f} s; "
                  f"golden bit-exact on {count - bad:,} of {count:,}")
    args.output.write_text(json.dumps({
        "what": "outputs of Edge-MoE's own gelu(fm_t) (raw Q10.22 words), made by benchmarks/edgemoe_gelu_reference.py",
        "sources": sources, "sets": sets, "samples": samples}, indent=1) + "\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
