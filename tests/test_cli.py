"""The CLI contract: commands, JSON fields, topology CSV, clear errors with exit code 2."""
import json
import subprocess
import sys

import pytest

from hwsim.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_estimate_json_contract(capsys, tmp_path):
    out = tmp_path / "r.json"
    code, _, _ = run(capsys, "estimate", "deit-s16", "tpu-v1-like", "--mode", "analytic", "--format", "json", "-o", str(out),
                     "--plot", str(tmp_path / "r.png"), "--trace", str(tmp_path / "r.trace.json"))
    assert code == 0
    r = json.loads(out.read_text())
    assert r["model"] == "deit-s16" and r["hardware"] == "tpu-v1-like" and r["mode"] == "analytic"
    assert {"cycles", "latency_s", "energy_pj", "energy_by_component_pj", "macs", "dram_bytes"} <= set(r["totals"])
    assert r["totals"]["macs"] == sum(op["macs"] for op in r["ops"]) == 4_598_882_304
    assert r["totals"]["cycles"] == sum(op["cycles"] for op in r["ops"])
    assert {"name", "kind", "cycles", "energy_pj"} <= set(r["ops"][0])
    assert (tmp_path / "r.png").stat().st_size > 10_000
    assert json.loads((tmp_path / "r.trace.json").read_text())["traceEvents"]


def test_estimate_table_csv_and_cycle_trace(capsys, tmp_path):
    code, out, _ = run(capsys, "estimate", "vit-ti16", "systolic-32x32-ws")
    assert code == 0 and "layer0.attn.qkv" in out and "total" in out
    code, out, _ = run(capsys, "estimate", "vit-ti16", "systolic", "--format", "csv", "--trace", str(tmp_path / "t.json"),
                       "--roofline", str(tmp_path / "roof.png"))
    assert code == 0 and out.splitlines()[0].startswith("name,kind,layer,block,unit,cycles,latency_s,energy_pj,energy_mac_pj")
    assert len(out.splitlines()) == 1 + 1 + 12 * 12 + 2
    assert len(json.loads((tmp_path / "t.json").read_text())["traceEvents"]) > 1000


def test_gemm_json_contract(capsys):
    code, out, _ = run(capsys, "gemm", "197", "3072", "768", "systolic", "--set", "rows=32", "--set", "cols=32",
                       "--set", "dataflow=os", "--format", "json")
    r = json.loads(out)
    assert code == 0
    for key in ("cycles", "macs", "utilization", "energy_pj"):
        assert key in r
    assert set(r["sram_reads"]) == {"ifmap", "filter"} and set(r["sram_writes"]) == {"ofmap"}
    assert set(r["dram_reads"]) == {"ifmap", "filter"} and set(r["dram_writes"]) == {"ofmap"}
    assert r["macs"] == 197 * 3072 * 768 and 0 < r["utilization"] <= 1


def test_gemm_topology_csv_gives_one_object_per_row_in_order(capsys, tmp_path):
    topo = tmp_path / "t.csv"
    topo.write_text("Layer name, M, N, K,\nqkv,197,2304,768,\nqk,197,197,64,\nfc2,197,768,3072,\n")
    code, out, _ = run(capsys, "gemm", "--topology", str(topo), "systolic", "--format", "json")
    r = json.loads(out)
    assert code == 0 and [x["name"] for x in r] == ["qkv", "qk", "fc2"] and r[1]["macs"] == 197 * 197 * 64


@pytest.mark.parametrize("argv, message", [
    (["estimate", "vit-x", "systolic"], "unknown model 'vit-x'; available: deit-b16"),
    (["estimate", "vit-b16", "systolic-9x9"], "unknown hardware preset 'systolic-9x9'; available:"),
    (["estimate", "vit-b16", "systolic", "--set", "dataflow=xs"], "field 'dataflow' = 'xs': allowed: ws, os, is"),
    (["estimate", "vit-b16", "systolic", "--set", "rows=0"], "field 'rows' = 0: must be > 0"),
    (["estimate", "vit-b16", "systolic", "--set", "rows=big"], "field 'rows' = 'big': expected integer"),
    (["estimate", "vit-b16", "systolic", "--set", "colour=red"], "unknown field 'colour'"),
    (["estimate", "vit-b16", "systolic", "--set", "rows"], "expected FIELD=VALUE"),
    (["gemm", "0", "4", "4", "systolic"], "M = 0: must be > 0"),
    (["gemm", "4", "4", "systolic"], "usage: hwsim gemm M N K HARDWARE"),
])
def test_bad_input_gives_one_line_and_exit_2(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize("content, message", [
    ("kind: systolic\nrows: [32\n", "malformed YAML at line"),
    ("- just\n- a list\n", "expected a YAML mapping"),
    ("kind: tpu\nrows: 4\n", "field 'kind' = 'tpu': allowed: roofline, systolic"),
    ("kind: systolic\nrows: 4\ncols: -2\nword_bits: 8.5\n", "field 'cols' = -2: must be > 0; field 'word_bits' = 8.5"),
])
def test_bad_hardware_yaml(capsys, tmp_path, content, message):
    f = tmp_path / "hw.yaml"
    f.write_text(content)
    code, _, err = run(capsys, "estimate", "vit-ti16", str(f))
    assert code == 2 and message in err and str(f) in err


def test_hardware_yaml_file_and_model_yaml_file_work(capsys, tmp_path):
    hw = tmp_path / "mine.yaml"
    hw.write_text("kind: systolic\nrows: 8\ncols: 8\ndataflow: os\n")
    code, out, _ = run(capsys, "estimate", "models/vit-ti16.yaml", str(hw), "--format", "json")
    assert code == 0 and json.loads(out)["hardware_config"]["rows"] == 8


def test_models_and_presets_list(capsys):
    code, out, _ = run(capsys, "models")
    assert code == 0 and all(n in out for n in ["vit-ti16", "vit-h14", "deit-b16"])
    code, out, _ = run(capsys, "presets")
    names = ["systolic", "systolic-32x32-ws", "systolic-32x32-os", "systolic-32x32-is", "systolic-128x128-ws",
             "systolic-128x128-os", "systolic-128x128-is", "tpu-v1-like"]
    assert code == 0 and all(n in out for n in names)


def test_console_script_runs():
    out = subprocess.run([sys.executable, "-m", "hwsim.cli", "presets"], capture_output=True, text=True)
    assert out.returncode == 0 and "tpu-v1-like" in out.stdout
