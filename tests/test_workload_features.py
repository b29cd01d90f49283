"""Workload features of issue 11: op structure, token reduction, precision and arithmetic, attention
kinds per layer and head, MoE, early exit; each checked by its op list and MACs computed by hand."""
import dataclasses
import gzip
import json
from math import ceil
from pathlib import Path

import pytest

from hwsim.errors import ConfigError, HwsimError
from hwsim.workload import (Gate, Gather, MatMul, Softmax, TopK, Eltwise, build_workload, expected_cost,
                            load_model, load_workload, worst_case_cost)

DATA = Path(__file__).parent / "data"
OLD_ZOO = ["deit-b16", "deit-s16", "deit-ti16", "vit-b16", "vit-b32", "vit-h14", "vit-l16", "vit-s16", "vit-ti16"]


def spec(tmp_path, text, name="m.yaml"):
    f = tmp_path / name
    f.write_text(text)
    return load_model(f)


def ops_by_name(w):
    return {op.name: op for op in w}


@pytest.mark.parametrize("name", OLD_ZOO)
def test_existing_zoo_op_lists_unchanged(name):
    """Every field the ops had at commit 942ffef (recorded by running that commit's builder:
    tests/data/zoo_ops_942ffef.json.gz) is unchanged: same op types, names, shapes, counts, bits."""
    golden = json.loads(gzip.decompress((DATA / "zoo_ops_942ffef.json.gz").read_bytes()))[name]
    w = build_workload(load_model(name))
    assert len(w.ops) == len(golden)
    for op, (cls, *fields) in zip(w.ops, golden):
        assert type(op).__name__ == cls
        assert {k: getattr(op, k) for k, _ in fields} == dict(fields), op.name


def test_ops_carry_structure():
    ops = ops_by_name(load_workload("vit-b16"))
    assert ops["layer2.attn.qkv"].weight == "layer2.attn.qkv" and ops["layer2.attn.qk"].weight == ""
    assert ops["layer2.attn.qk"].head is None and ops["layer2.attn.softmax"].attention == "softmax"
    assert ops["layer2.mlp.fc1"].expert is None and ops["layer2.mlp.fc1"].arith == "mul"
    assert ops["layer2.mlp.gelu"].variant == "gelu"
