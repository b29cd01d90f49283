"""Every user file and override is read in one place (hwsim.config) and refused with one short line.

Each case is an example of issue 12 ("Hardening") turned into the behaviour it must have: a
HwsimError (exit 2 in the CLI) whose message names the file, the field or line, and what is allowed;
never a traceback, a hang or a silently accepted value.
"""
from __future__ import annotations

import dataclasses
import time

import pytest
import yaml

from hwsim import energy
from hwsim.config import MAX_YAML_DEPTH, MAX_YAML_NODES, load_yaml_text, parse_overrides, read_yaml
from hwsim.errors import MAX_MESSAGE_CHARS, ConfigError, HwsimError, UnknownName, elide, short_repr
from hwsim.hardware import load_hardware
from hwsim.hardware.systolic import TECH_NM_RANGE, SystolicConfig
from hwsim.workload import load_model
from hwsim.workload.spec import MAX_MACS, ModelSpec

MODEL = "patch: 16\ndepth: 12\ndim: 768\nheads: 12\n"


def one_line(exc: Exception, limit: int = 300) -> str:
    msg = str(exc)
    assert "\n" not in msg and len(msg) <= limit, msg[:400]
    return msg


def bad_hw(tmp_path, text: str | bytes, match: str) -> str:
    f = tmp_path / "hw.yaml"
    f.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(HwsimError) as exc:
        load_hardware(f)
    msg = one_line(exc.value)
    assert str(f) in msg and match in msg, msg
    return msg


# ---- bytes and YAML structure -------------------------------------------------------------------
def test_non_utf8_byte_names_line_and_column(tmp_path):
    bad_hw(tmp_path, b"kind: systolic\nname: caf\xe9\n", "not UTF-8 text (byte 0xe9 at line 2, column 10)")


def test_utf8_bom_is_accepted(tmp_path):
    f = tmp_path / "hw.yaml"
    f.write_bytes(b"\xef\xbb\xbfkind: systolic\nrows: 8\n")
    assert load_hardware(f).rows == 8


def test_yaml_nested_1000_deep_is_refused_not_a_recursion_error(tmp_path):
    bad_hw(tmp_path, "kind: systolic\nx: " + "[" * 1000 + "]" * 1000 + "\n",
           f"nested deeper than {MAX_YAML_DEPTH} levels")


def test_alias_bomb_is_refused_fast_with_a_short_line(tmp_path):
    """The 'billion laughs' file of the issue shape: 9 levels of 9 aliases = 9^9 strings if expanded."""
    lines = ["kind: systolic", 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    prev = "a"
    for c in "bcdefghi":
        lines.append(f"{c}: &{c} [" + ",".join([f"*{prev}"] * 9) + "]")
        prev = c
    lines.append("rows: *i")
    t0 = time.perf_counter()
    bad_hw(tmp_path, "\n".join(lines) + "\n", f"more than {MAX_YAML_NODES:,} values once aliases are expanded")
    assert time.perf_counter() - t0 < 1.0


def test_alias_chain_deeper_than_the_limit_is_refused():
    """Each alias adds a level without nesting in the text: the expanded depth is what counts."""
    text = "a0: &a0 [1]\n" + "".join(f"a{i}: &a{i} [*a{i - 1}]\n" for i in range(1, 40))
    with pytest.raises(yaml.YAMLError, match="aliases expanded"):
        load_yaml_text(text)


def test_recursive_alias_is_refused():
    with pytest.raises(yaml.YAMLError, match="recursive alias"):
        load_yaml_text("x: &a [*a]\n")


def test_small_aliases_and_merge_keys_still_work():
    data = load_yaml_text("base: &b {rows: 8, cols: 8}\nhw:\n  <<: *b\n  cols: 16\nlist: [*b, *b]\n")
    assert data["hw"] == {"rows": 8, "cols": 16} and data["list"] == [{"rows": 8, "cols": 8}] * 2


@pytest.mark.parametrize("text, line", [
    ("kind: systolic\nrows: 0\nrows: 16\n", 3),                       # top level (rows: 0 then 16)
    ("kind: systolic\nx:\n  a: {b: 1, b: 2}\n", 3),                   # nested flow mapping
    ("kind: systolic\nx:\n  - y: 1\n    y: 2\n", 4),                  # inside a list
])
def test_duplicate_keys_at_any_depth_are_refused(tmp_path, text, line):
    msg = bad_hw(tmp_path, text, "duplicate key")
    assert f"line {line}" in msg


def test_top_level_must_be_a_mapping(tmp_path):
    bad_hw(tmp_path, "- a\n- b\n", "expected a YAML mapping")


def test_oversized_file_is_refused_before_parsing(tmp_path):
    bad_hw(tmp_path, "kind: systolic\n" + "#" * (5 << 20) + "\n", "larger than 4 MiB")


def test_read_yaml_on_a_directory(tmp_path):
    with pytest.raises(HwsimError, match="cannot read file"):
        read_yaml(tmp_path)


# ---- numbers -------------------------------------------------------------------------------------
@pytest.mark.parametrize("override, match", [
    ("rows=100000000000000000000", "must fit in a 64-bit integer"),
    ("rows=65537", "must be <= 65,536"),
    ("cols=0", "must be > 0"),
    ("dram_bytes_per_cycle=1e-300", "must be >= 0.1"),
    ("dram_bytes_per_cycle=1e-30", "must be >= 0.1"),
    ("mac_pj=nan", "must be a finite number"),
    ("mac_pj=.nan", "must be a finite number"),
    ("clock_hz=inf", "must be a finite number"),
    ("clock_hz=-.inf", "must be a finite number"),
    ("clock_hz=1e400", "must be a finite number"),
    ("ifmap_sram_kib=1e100", "must be <= 67,108,864 (64 GiB)"),
    ("word_bits=3", "allowed: 1, 2, 4, 8, 16, 32, 64"),
    ("acc_bits=4", "must be >= word_bits (8)"),
    ("tech_nm=2420", f"must be <= {TECH_NM_RANGE[1]}"),
    ("tech_nm=3", f"must be >= {TECH_NM_RANGE[0]}"),
    ("leakage_pj_per_cycle=1e300", "must be <= 1e+09"),
])
def test_hardware_numbers_out_of_range(override, match):
    with pytest.raises(ConfigError) as exc:
        load_hardware("systolic", parse_overrides([override]))
    field = override.split("=")[0]
    assert f"field '{field}'" in one_line(exc.value) and match in str(exc.value), str(exc.value)


def test_every_numeric_field_states_a_maximum():
    """The issue's rule: every size has a stated maximum checked up front."""
    for cls in (SystolicConfig, ModelSpec):
        for f in dataclasses.fields(cls):
            if f.type in ("int", "float", "float | None", "int | None") and f.name != "name":
                assert "max" in f.metadata or "choices" in f.metadata, (cls.__name__, f.name)


def test_tech_range_is_the_energy_tables():
    assert TECH_NM_RANGE == energy.node_range_nm()
    assert load_hardware("systolic", {"tech_nm": TECH_NM_RANGE[0]}).tech_nm == 7


def test_all_problems_of_a_file_are_collected(tmp_path):
    msg = bad_hw(tmp_path, "kind: systolic\nrows: .inf\ncols: 70000\nword_bits: 3\n", "field 'rows'")
    assert "field 'cols'" in msg and "field 'word_bits'" in msg


@pytest.mark.parametrize("text, match", [
    (MODEL + "mlp_ratio: .inf\n", "field 'mlp_ratio' = inf: must be a finite number"),
    (MODEL + "mlp_ratio: .nan\n", "field 'mlp_ratio' = nan: must be a finite number"),
    (MODEL.replace("depth: 12", "depth: 1000000"), "field 'depth' = 1000000: must be <= 10,000"),
    (MODEL + "batch: 100000000000000000000\n", "must fit in a 64-bit integer"),
    (MODEL + "mlp_ratio: 0.0001\n", "rounds to 0 MLP units"),
    (MODEL + "batch: 65536\nimage_size: 4096\n", "model too large"),
    (MODEL + "token_keep: [.nan]\n", "field 'token_keep'"),
    (MODEL.replace("patch: 16", "patch: [16]"), "field 'patch' = [16]: expected integer"),
])
def test_model_numbers_out_of_range(tmp_path, text, match):
    f = tmp_path / "m.yaml"
    f.write_text(text)
    with pytest.raises(HwsimError) as exc:
        load_model(f)
    assert match in one_line(exc.value) and str(f) in str(exc.value), str(exc.value)


def test_the_largest_zoo_model_is_far_below_the_mac_limit():
    from hwsim.workload import available_models
    for name in available_models():
        from hwsim.workload import build_workload
        assert build_workload(load_model(name)).macs < MAX_MACS / 1000, name


def test_macs_upper_bound_is_exact_without_token_keep():
    from hwsim.workload import build_workload
    spec = load_model("vit-b16", batch=3)
    assert spec.macs_upper_bound() == build_workload(spec).macs


# ---- names, lists where scalars belong, message length ------------------------------------------
def test_a_list_where_a_name_belongs(tmp_path):
    bad_hw(tmp_path, "kind: systolic\nname: [a, b]\n", "field 'name' = ['a', 'b']: expected string")
    bad_hw(tmp_path, "kind: systolic\ndataflow: [ws]\n", "field 'dataflow'")


def test_long_values_are_elided_in_messages(tmp_path):
    msg = bad_hw(tmp_path, "kind: systolic\ndataflow: " + "x" * 100_000 + "\n", "field 'dataflow'")
    assert "..." in msg and len(msg) < 300


def test_unknown_field_suggests_the_close_name():
    with pytest.raises(ConfigError, match=r"unknown field 'rowz' \(did you mean 'rows'\?\)"):
        load_hardware("systolic", {"rowz": 3})


def test_many_problems_stay_one_bounded_line():
    overrides = {f"bad{i}": i for i in range(200)}
    with pytest.raises(ConfigError) as exc:
        load_hardware("systolic", overrides)
    assert len(exc.value.problems) == 200
    msg = one_line(exc.value, MAX_MESSAGE_CHARS)
    assert "more)" in msg


def test_unknown_name_is_elided():
    msg = str(UnknownName("model", "v" * 10_000, ["vit-b16"]))
    assert len(msg) < 150 and "available: vit-b16" in msg


def test_error_helpers():
    assert elide("a" * 10, 10) == "a" * 10 and len(elide("a" * 100, 10)) == 10
    assert elide("two\nlines") == "two lines"
    nested = [[[[[1] * 1000] * 1000]]]
    assert len(short_repr(nested)) <= 80           # bounded work and length on a huge value
    assert len(str(HwsimError("x" * 10_000))) == MAX_MESSAGE_CHARS


def test_set_overrides_use_the_strict_reader():
    assert parse_overrides(["rows=32", "dataflow=os", "mac_pj=0.5"]) == {"rows": 32, "dataflow": "os",
                                                                         "mac_pj": 0.5}
    with pytest.raises(HwsimError, match="given twice"):
        parse_overrides(["rows=1", "rows=2"])
    value = parse_overrides(["x=" + "[" * 500 + "]" * 500])["x"]
    assert isinstance(value, str)                  # too deep to parse: kept as text, then refused by type
    with pytest.raises(ConfigError, match="field 'rows'"):
        load_hardware("systolic", {"rows": value})
