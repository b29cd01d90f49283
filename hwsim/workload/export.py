"""Exports of a workload to other tools' formats, so they run on exactly the same GEMMs.

- :func:`export_scalesim`: SCALE-Sim's GEMM topology CSV (rows ``name,M,N,K,`` with ifmap M x K,
  filter K x N, ofmap M x N: SCALE-Sim 3.0 ``topologies/GEMM_mnk``; read back by
  :func:`hwsim.topology.read_topology`). An op with ``count`` instances becomes ``count`` rows
  (``name#i``), a convolution its im2col GEMM (``groups`` rows for a grouped one); vector ops have
  no SCALE-Sim row and are left out.
- :func:`export_zigzag`: ZigZag 3.9.1's workload YAML (a list of layers with ``equation``,
  ``loop_dims``, ``loop_sizes``, ``operand_precision``, ``operand_source``), in the form ZigZag's own
  ONNX parser writes (zigzag/parser/onnx/gemm_parser.py, conv_parser.py): GEMMs as
  ``O[h][d][k]+=I[h][d][c]*W[h][c][k]`` (``H`` = instances, absent when 1; ``W`` without ``[h]`` when
  it is a trained weight), convolutions as ``O[b][g][k][oy][ox]+=W[g][k][c][fy][fx]*I[b][g][c][iy][ix]``
  with stride relations and padding. Each layer's ``I`` comes from the previous exported layer (a
  chain: ZigZag costs layers one at a time), trained weights are constant operands (source = own id).
  ZigZag costs GEMM/conv layers only; vector ops are left out, as ZigZag leaves them out.
"""
from __future__ import annotations

import io
from pathlib import Path

import yaml

from hwsim.errors import HwsimError
from hwsim.workload.build import Workload
from hwsim.workload.ops import Conv2d, MatMul

FORMATS = ("scalesim", "zigzag")


def export_scalesim(workload: Workload, *, expand_count: bool = True) -> str:
    """SCALE-Sim GEMM topology CSV of every GEMM-like op (header ``Layer, M, N, K,``). With
    ``expand_count=False`` an op with several instances is one row (its per-instance shape): the
    caller then multiplies by ``count`` itself."""
    out = io.StringIO()
    out.write("Layer, M, N, K,\n")
    for op in workload.ops:
        if not isinstance(op, (MatMul, Conv2d)):
            continue
        g = op.gemm()
        copies = g.count if expand_count else 1
        for i in range(copies):
            name = op.name if copies == 1 else f"{op.name}#{i}"
            out.write(f"{name}, {g.m}, {g.n}, {g.k},\n")
    return out.getvalue()


def _zigzag_layer(op, lid: int, prev: int | None) -> dict:
    src = lid if prev is None else prev
    if isinstance(op, Conv2d):
        p = op.padding
        return {
            "id": lid, "name": op.name, "operator_type": "Conv",
            "equation": "O[b][g][k][oy][ox]+=W[g][k][c][fy][fx]*I[b][g][c][iy][ix]",
            "dimension_relations": [f"ix={op.stride}*ox+1*fx", f"iy={op.stride}*oy+1*fy"],
            "loop_dims": ["B", "K", "G", "OX", "OY", "C", "FX", "FY"],
            "loop_sizes": [op.count, op.out_ch // op.groups, op.groups, op.out_w, op.out_h, op.in_ch // op.groups,
                           op.kernel, op.kernel],
            "operand_precision": {"W": op.bits, "I": op.bits, "O": max(2 * op.bits, op.out_bits), "O_final": op.out_bits},
            "operand_source": {"I": src, "W": lid},
            "pr_loop_dims": ["IX", "IY"], "pr_loop_sizes": [op.in_w, op.in_h], "padding": [[p, p], [p, p]],
        }
    h = op.count > 1
    hb = "[h]" if h else ""
    w_idx = "" if op.static_weights else hb
    return {
        "id": lid, "name": op.name, "operator_type": "Gemm",
        "equation": f"O{hb}[d][k]+=I{hb}[d][c]*W{w_idx}[c][k]",
        "dimension_relations": [],
        "loop_dims": ["C", "D", "K"] + (["H"] if h else []),
        "loop_sizes": [op.k, op.m, op.n] + ([op.count] if h else []),
        "operand_precision": {"W": op.bits, "I": op.bits, "O": max(2 * op.bits, op.out_bits), "O_final": op.out_bits},
        "operand_source": {"I": src, "W": lid if op.static_weights else src},
    }


def export_zigzag(workload: Workload) -> str:
    """ZigZag 3.9.1 workload YAML of every GEMM-like op (see the module docstring). ``O`` (partial
    sums) is given twice the operand bits, the ``O_final`` the op's output bits."""
    layers, prev = [], None
    for op in workload.ops:
        if not isinstance(op, (MatMul, Conv2d)):
            continue
        layers.append(_zigzag_layer(op, len(layers), prev))
        prev = len(layers) - 1
    head = f"# ZigZag workload exported by hwsim from '{workload.model}' (batch {workload.batch}): GEMM/conv layers\n"
    return head + yaml.safe_dump(layers, sort_keys=False, default_flow_style=None, width=120)


def cmd_export(args) -> int:
    from hwsim.workload.load import load_workload
    workload = load_workload(args.model, batch=args.batch, image_size=args.image_size)
    text = export_scalesim(workload) if args.to == "scalesim" else export_zigzag(workload)
    if args.output in (None, "-"):
        print(text, end="")
        return 0
    try:
        Path(args.output).write_text(text)
    except OSError as exc:
        raise HwsimError(f"{args.output}: cannot write ({exc.strerror})") from None
    return 0
