"""SCALE-Sim topology files: both formats read as SCALE-Sim reads them, everything else refused.

Convolution lowering is checked against SCALE-Sim 3.0.0 itself: ``hwsim/data/reference/scalesim_conv_reference.json``
was written by ``benchmarks/scalesim_conv_reference.py``, which ran SCALE-Sim on the same CSV text and
recorded, per layer, the GEMM its compute model ran (Sr, Sc, T for the dataflow), its MAC count, and its
COMPUTE / DETAILED_ACCESS report columns.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from hwsim.backends.scalesim_model import scalesim_gemm
from hwsim.errors import HwsimError
from hwsim.topology import MAX_GEMM_DIM, check_gemm, conv_gemms, gemm_dims, positive_int, read_topology

DATA = Path(__file__).resolve().parents[1] / "hwsim" / "data" / "reference" / "scalesim_conv_reference.json"
CONV = [r for r in json.loads(DATA.read_text()) if r["type"] == "conv"]
CONV_HEADER = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, "
               "Strides,\n")


def topo(tmp_path, text: str | bytes):
    f = tmp_path / "t.csv"
    f.write_bytes(text if isinstance(text, bytes) else text.encode())
    return f


def refused(tmp_path, text, match) -> str:
    f = topo(tmp_path, text)
    with pytest.raises(HwsimError) as exc:
        read_topology(str(f))
    msg = str(exc.value)
    assert "\n" not in msg and len(msg) <= 300 and str(f) in msg and match in msg, msg
    return msg


# ---- the GEMM format ----------------------------------------------------------------------------
def test_gemm_rows_in_order_with_scalesim_header(tmp_path):
    f = topo(tmp_path, "Layer, M, N, K,\nqkv,197,2304,768,\n\n# a comment\nqk, 197, 197, 64,\n")
    assert read_topology(str(f)) == [("qkv", 197, 2304, 768), ("qk", 197, 197, 64)]


def test_gemm_file_without_header_keeps_its_first_row(tmp_path):
    f = topo(tmp_path, "qkv,197,2304,768,\nfc,1,2,3\n")
    assert read_topology(str(f)) == [("qkv", 197, 2304, 768), ("fc", 1, 2, 3)]


def test_empty_cell_is_refused_not_shifted(tmp_path):
    """``qkv,,64,32,16`` used to become M, N, K = 64, 32, 16."""
    refused(tmp_path, "Layer,M,N,K,\nqkv,,64,32,16\n", ":2: expected 4 values")
    refused(tmp_path, "Layer,M,N,K,\nqkv,,64,32,\n", ":2: column 2 (M) is empty")


def test_extra_and_missing_columns_are_refused(tmp_path):
    refused(tmp_path, "Layer,M,N,K,\nqkv,64,32,16,99,\n", "expected 4 values (name,M,N,K,), got 5")
    refused(tmp_path, "Layer,M,N,K,\nqkv,64,32,\n", "got 3")
    refused(tmp_path, "Layer,M,N,K,\nqkv,64,32,16,1:2,\n", "hwsim does not model sparsity")


def test_bad_first_data_row_is_not_skipped_as_a_header(tmp_path):
    refused(tmp_path, "l1, 197a, 768, 768,\nl2, 1, 2, 3,\n",
            ":1: M = '197a': expected a positive integer (line 1 is neither a SCALE-Sim header nor a GEMM row)")


def test_neither_format_is_refused(tmp_path):
    refused(tmp_path, "a,b,c\n1,2,3\n", "neither a SCALE-Sim header nor a GEMM row")
    refused(tmp_path, "Layer, M, N, Q,\nx,1,2,3,\n", "unrecognised header")
    refused(tmp_path, "Layer, IFMAP Height, IFMAP Width,\nx,1,2,\n", "unrecognised header")
    refused(tmp_path, "", "no layers")
    refused(tmp_path, "Layer,M,N,K,\n", "no layers")


@pytest.mark.parametrize("cell, match", [
    ("0", "M = 0: must be > 0"), ("-4", "expected a positive integer"), ("1.5", "expected a positive integer"),
    ("1_000", "expected a positive integer"), ("٣", "expected a positive integer"),
    (str(MAX_GEMM_DIM + 1), f"must be <= {MAX_GEMM_DIM:,}"), ("9" * 5000, "must be <= "),
])
def test_sizes_are_positive_bounded_integers(tmp_path, cell, match):
    refused(tmp_path, f"Layer,M,N,K,\nx,{cell},2,3,\n", match)


def test_gemm_mac_limit(tmp_path):
    refused(tmp_path, "Layer,M,N,K,\nx,16777216,16777216,16777216,\n", "the limit is 1.13e+15 (2^50)")


def test_field_over_128_kib_and_long_names(tmp_path):
    refused(tmp_path, "Layer,M,N,K,\nx" + "a" * 200_000 + ",1,2,3,\n", "longer than 256 characters")
    refused(tmp_path, 'Layer,M,N,K,\n"' + "a" * 200_000 + '",1,2,3,\n', "longer than 256 characters")


def test_non_utf8_topology(tmp_path):
    refused(tmp_path, b"Layer,M,N,K,\nq\xff,1,2,3,\n", "not UTF-8 text (byte 0xff at line 2, column 2)")


def test_cli_dims_helpers():
    assert gemm_dims(["8", "+16", "32"]) == (8, 16, 32)
    with pytest.raises(HwsimError, match="N = 999999999999999999999999999999: must be <= 16,777,216"):
        gemm_dims(["64", "999999999999999999999999999999", "64"])
    with pytest.raises(HwsimError, match="M = 0: must be > 0"):
        positive_int("0", "M")
    with pytest.raises(HwsimError, match="2.1e\\+17 MACs"):
        check_gemm(8_388_609, 5_000_000, 5_000, "gemm")


# ---- the convolution format ----------------------------------------------------------------------
def test_conv_header_is_detected_and_conv1_lowered_as_scalesim(tmp_path):
    """The issue's example: ResNet conv1 224,224,7,7,3,64,2 is 12,100 x 64 x 147, not 224 x 224 x 7."""
    f = topo(tmp_path, CONV_HEADER + "conv1,224,224,7,7,3,64,2,\n")
    assert read_topology(str(f)) == [("conv1", 12_100, 64, 147)]


def test_conv_filter_larger_than_ifmap_and_bad_cells(tmp_path):
    refused(tmp_path, CONV_HEADER + "c,4,4,5,3,1,1,1,\n", "filter 5 x 3 is larger than the ifmap 4 x 4")
    refused(tmp_path, CONV_HEADER + "c,4,4,3,3,1,1,\n", "expected 8 values")
    refused(tmp_path, CONV_HEADER + "c,4,4,3,3,1,1,0,\n", "stride = 0: must be > 0")
    refused(tmp_path, CONV_HEADER + "c,4,4,3,3,,1,1,\n", "column 6 (channels) is empty")
    refused(tmp_path, CONV_HEADER + "c,4,4,3,3,1,1,1,1:1,\n", "sparsity")


def test_depthwise_layer_is_one_gemm_per_channel():
    assert conv_gemms("DPconv", 16, 16, 3, 3, 4, 1, 1) == [(f"DPconvChannel_{i}", 196, 1, 9) for i in range(4)]


@pytest.mark.parametrize("rec", CONV, ids=lambda r: f"{r['topology']}-{r['rows']}x{r['cols']}-{r['dataflow']}")
def test_conv_lowering_matches_scalesim(tmp_path, rec):
    """Same CSV text SCALE-Sim ran: same layer names, the GEMM SCALE-Sim ran (its Sr, Sc, T are the
    fold_geometry of our M, N, K), the same MACs, and scalesim_gemm of our GEMM reproduces its cycles and
    SRAM counts exactly. (DRAM counts are not compared: a convolution's im2col ifmap repeats addresses,
    which changes SCALE-Sim's SRAM hit pattern but not the GEMM shape.)"""
    assert rec["scalesim_version"] == "3.0.0"
    got = read_topology(str(topo(tmp_path, rec["csv"])))
    ref = rec["scalesim_layers"]
    assert [g[0] for g in got] == [r["name"] for r in ref]
    for (name, m, n, k), r in zip(got, ref):
        sr, sc, t = {"ws": (k, n, m), "os": (m, n, k), "is": (k, m, n)}[rec["dataflow"]]
        assert (sr, sc, t) == (r["sr"], r["sc"], r["t"]), name
        assert m * n * k == r["macs"], name
        s = scalesim_gemm(m, n, k, rec["rows"], rec["cols"], rec["dataflow"])
        assert (s.cycles, s.sram_reads_ifmap, s.sram_reads_filter, s.sram_writes_ofmap) == \
            (r["total_cycles"], r["sram_reads_ifmap"], r["sram_reads_filter"], r["sram_writes_ofmap"]), name
