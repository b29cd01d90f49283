"""Exports to SCALE-Sim topology CSV and ZigZag workload YAML (issue 11)."""

import pytest
import yaml

from hwsim.topology import read_topology
from hwsim.workload import Conv2d, MatMul, load_workload
from hwsim.workload.export import export_scalesim, export_zigzag


def test_scalesim_rows_read_back_as_the_same_gemms(tmp_path):
    """Every GEMM instance is one 'name,M,N,K,' row: ViT-Ti/16 has 1 + 12 x (4 + 2 x 3 heads) + 1 = 122 rows,
    and the rows' MACs add up to the workload's."""
    w = load_workload("vit-ti16")
    f = tmp_path / "topo.csv"
    f.write_text(export_scalesim(w))
    rows = read_topology(str(f))
    assert len(rows) == 1 + 12 * (4 + 2 * 3) + 1
    assert sum(m * n * k for _, m, n, k in rows) == w.macs
    assert rows[0] == ("patch_embed", 196, 192, 768) and rows[2] == ("layer0.attn.qk#0", 197, 197, 64)


def test_scalesim_grouped_conv_rows(tmp_path):
    w = load_workload("litv2-s")
    dw = next(op for op in w if isinstance(op, Conv2d) and op.groups > 1)
    text = export_scalesim(w)
    assert text.count(f"{dw.name}#") == dw.groups
    assert f"{dw.name}#0, {dw.out_h * dw.out_w}, 1, 9," in text


def test_zigzag_layers_cover_every_gemm():
    w = load_workload("deit-s16")
    layers = yaml.safe_load(export_zigzag(w))
    gemms = [op for op in w if isinstance(op, (MatMul, Conv2d))]
    assert [layer["name"] for layer in layers] == [op.name for op in gemms]
    conv = layers[0]
    assert conv["operator_type"] == "Conv" and conv["loop_sizes"] == [1, 384, 1, 14, 14, 3, 16, 16]
    assert conv["dimension_relations"] == ["ix=16*ox+1*fx", "iy=16*oy+1*fy"]
    qk = next(layer for layer in layers if layer["name"] == "layer0.attn.qk")
    assert qk["equation"] == "O[h][d][k]+=I[h][d][c]*W[h][c][k]" and qk["loop_sizes"] == [64, 197, 197, 6]
    assert qk["operand_source"]["W"] != qk["id"]               # K^T is an activation, not a constant
    fc1 = next(layer for layer in layers if layer["name"] == "layer0.mlp.fc1")
    assert fc1["equation"] == "O[d][k]+=I[d][c]*W[c][k]" and fc1["operand_source"]["W"] == fc1["id"]
    macs = sum(eval("*".join(map(str, layer["loop_sizes"]))) for layer in layers)
    assert macs == w.macs


def test_export_command_writes_file(tmp_path):
    from hwsim.cli import main
    out = tmp_path / "w.yaml"
    assert main(["export", "resnet18", "--to", "zigzag", "-o", str(out)]) == 0
    assert len(yaml.safe_load(out.read_text())) == 1 + 16 + 3 + 1     # stem, 16 block convs, 3 shortcuts, fc


def test_zigzag_parses_the_export(tmp_path):
    """ZigZag 3.9.1's own workload validator and factory accept the export (needs zigzag-dse)."""
    pytest.importorskip("zigzag")
    from zigzag.parser.workload_factory import WorkloadFactory
    from zigzag.parser.workload_validator import WorkloadValidator
    data = yaml.safe_load(export_zigzag(load_workload("resnet18")))
    v = WorkloadValidator(data)
    assert v.validate()
    mapping = [{"name": "default", "spatial_mapping": {"D1": ["K, 16"], "D2": ["C, 16"]},
                "memory_operand_links": {"O": "O", "W": "I2", "I": "I1"}}]
    workload = WorkloadFactory(v.normalized_data, mapping).create()
    assert len(list(workload.topological_sort())) == len(data)


def test_scalesim_export_through_hwsim_gemm_gives_the_estimate_cycles(tmp_path, capsys):
    """The exported CSV run through 'hwsim gemm --topology' costs each GEMM as 'hwsim estimate' does
    (analytic mode, 32x32 WS). Single-instance GEMMs agree to the cycle; an op of `count` instances
    (per-head Q·K^T, A·V) is `count` rows, each rounded up to whole cycles on its own, so the rows may
    exceed the op by fewer than `count` cycles."""
    import collections
    import json
    from hwsim import cli
    from hwsim.estimate import estimate
    from hwsim.hardware import load_hardware
    w = load_workload("vit-ti16")
    report = estimate(w, load_hardware("systolic-32x32-ws"), "analytic")
    f = tmp_path / "topo.csv"
    f.write_text(export_scalesim(w))
    assert cli.main(["gemm", "--topology", str(f), "systolic-32x32-ws", "--mode", "analytic", "--format", "json"]) == 0
    per_op = collections.Counter()
    for row in json.loads(capsys.readouterr().out):
        per_op[row["name"].split("#")[0]] += row["cycles"]
    for op, row in zip(w.ops, report.ops):
        if isinstance(op, (MatMul, Conv2d)):
            assert 0 <= per_op[op.name] - row.cycles < op.gemm().count, op.name
            if op.gemm().count == 1:
                assert per_op[op.name] == row.cycles, op.name
