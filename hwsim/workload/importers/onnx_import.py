"""Lower an ONNX graph (``*.onnx``) to a :class:`Workload` with the ``onnx`` package (no runtime).

Shapes come from ONNX shape inference; a node's module path is read from its name as the PyTorch
exporter writes it (``/blocks.0/attn/qkv/MatMul`` -> ``blocks.0.attn.qkv``), so ops get the same
names as the PyTorch importer. Lowering: ``MatMul``/``Gemm`` -> MatMul (static when the second operand
is an initializer or derived from one by Transpose/Reshape), ``Conv`` -> Conv2d, ``Softmax`` -> Softmax,
``LayerNormalization`` -> LayerNorm, ``Gelu`` or the exporter's ``Erf`` form -> GELU, ``Relu`` ->
Eltwise(relu), ``BatchNormalization`` -> Eltwise(batchnorm), ``Add`` of two same-shape activations ->
Eltwise(add), pooling -> Pool, ``ReduceMean`` -> Eltwise(mean). Other nodes move data or fold into
their producer (as in :mod:`hwsim.workload.importers.torch_import`). Data flow (``Op.reads``): an op reads the
ops that produced its node's inputs; a node that emits no op passes its inputs' producers on to its outputs.
"""
from __future__ import annotations

from dataclasses import replace
from math import prod
from pathlib import Path

from hwsim.errors import HwsimError
from hwsim.workload.build import Workload
from hwsim.workload.importers import require
from hwsim.workload.importers.naming import Namer
from hwsim.workload.ops import GELU, Conv2d, Eltwise, LayerNorm, MatMul, Pool, Softmax

_PASS_WEIGHT = {"Transpose", "Reshape", "Unsqueeze", "Squeeze", "Cast", "Identity", "Expand", "Gather", "Slice",
                "Split", "Flatten", "Concat"}


def _path(node) -> str:
    parts = [p for p in node.name.split("/") if p]
    return ".".join(parts[:-1])


def _attr(node, name, default=None):
    from onnx import helper
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def _run_shapes(onnx, model, b: int) -> dict[str, tuple]:
    """Shapes of every tensor from one run of the graph on zeros with onnx's reference evaluator
    (numpy), for graphs whose shapes static inference cannot resolve (PyTorch exports of
    ``x.shape``-dependent reshapes). Symbolic input dims become ``b``."""
    import numpy as np
    from onnx import helper, numpy_helper
    from onnx.reference import ReferenceEvaluator
    m = onnx.ModelProto()
    m.CopyFrom(model)
    inits = {i.name for i in m.graph.initializer}
    names = [o for n in m.graph.node for o in n.output if o]
    del m.graph.output[:]
    m.graph.output.extend(helper.make_empty_tensor_value_info(n) for n in names)
    feeds = {}
    for inp in m.graph.input:
        if inp.name in inits:
            continue
        tt = inp.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else b for d in tt.shape.dim]
        feeds[inp.name] = np.zeros(dims, dtype=helper.tensor_dtype_to_np_dtype(tt.elem_type))
    try:
        values = ReferenceEvaluator(m).run(None, feeds)
    except Exception as exc:
        raise HwsimError(f"ONNX graph: shapes are not static and running it to find them failed "
                         f"({type(exc).__name__}: {str(exc).splitlines()[0][:120]})") from None
    del numpy_helper
    return {n: tuple(int(x) for x in np.shape(v)) for n, v in zip(names, values)}


def from_onnx(path: str | Path, *, batch: int | None = None, **_ignored) -> Workload:
    """The workload of the ONNX model at ``path``. ``batch`` replaces a symbolic batch dimension (1 if
    not given). Raises HwsimError for a missing file, a file that is not ONNX, or an unlowerable node."""
    onnx = require("onnx", "onnx", f"importing {path}")
    path = Path(path)
    if not path.exists():
        raise HwsimError(f"{path}: no such ONNX file")
    try:
        model = onnx.load(str(path))
        model = onnx.shape_inference.infer_shapes(model, data_prop=True)
    except Exception as exc:  # onnx raises DecodeError / ValidationError / others for a non-ONNX file
        raise HwsimError(f"{path}: not a readable ONNX model ({type(exc).__name__})") from None
    g = model.graph
    if not g.node:
        raise HwsimError(f"{path}: not a readable ONNX model (empty graph)")
    b = batch or 1
    shapes: dict[str, tuple] = {}
    static = True
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        dims = vi.type.tensor_type.shape.dim
        shapes[vi.name] = tuple(d.dim_value if d.HasField("dim_value") else b for d in dims)
        static &= vi in g.input or all(d.HasField("dim_value") for d in dims)
    if not static or any(o not in shapes for n in g.node for o in n.output if o):
        shapes.update(_run_shapes(onnx, model, b))
    weights = {init.name for init in g.initializer}
    for init in g.initializer:
        shapes[init.name] = tuple(init.dims)
    for node in g.node:
        if node.op_type == "Constant":
            weights.update(node.output)
    namer, ops = Namer(), []
    attn_gemm: dict[str, int] = {}

    def shape(name):
        if name not in shapes:
            raise HwsimError(f"{path}: shape of '{name}' unknown after shape inference")
        return shapes[name]

    def emit(cls, node, kind, **kw):
        name, layer, block = namer.name(_path(node), kind)
        ops.append(cls(name=name, layer=layer, block=block, weight=name if kw.get("static_weights") else "", **kw))

    def lower(node):
        t, ins = node.op_type, list(node.input)
        data_ins = ins if t == "Concat" else ins[:1]
        if t in _PASS_WEIGHT and data_ins and all(i in weights for i in data_ins):
            weights.update(node.output)
            return
        if t in ("MatMul", "Gemm"):
            a, w = shape(ins[0]), shape(ins[1])
            static = ins[1] in weights
            if t == "Gemm":
                m, k = (a[1], a[0]) if _attr(node, "transA", 0) else a
                n = w[0] if _attr(node, "transB", 0) else w[1]
                emit(MatMul, node, "matmul" if static else "qk", m=m, k=k, n=n, static_weights=static)
                return
            k, n = w[-2], w[-1]
            if static:
                emit(MatMul, node, "matmul", m=prod(a[:-1]), k=k, n=n, static_weights=True)
            else:
                p = _path(node)
                c = attn_gemm[p] = attn_gemm.get(p, 0) + 1
                emit(MatMul, node, "qk" if c % 2 else "av", m=a[-2], k=k, n=n, count=prod(a[:-2]),
                     static_weights=False)
        elif t == "Conv":
            x, w = shape(ins[0]), shape(ins[1])
            ks = _attr(node, "kernel_shape", list(w[2:]))
            strides, pads = _attr(node, "strides", [1, 1]), _attr(node, "pads", [0, 0, 0, 0])
            if len(set(ks)) != 1 or len(set(strides)) != 1 or len(set(pads)) != 1:
                raise HwsimError(f"{path}: node '{node.name}': only square 2-D convolutions are lowered")
            emit(Conv2d, node, "conv", in_ch=x[1], out_ch=w[0], in_h=x[2], in_w=x[3], kernel=ks[0], stride=strides[0],
                 padding=pads[0], groups=_attr(node, "group", 1), count=x[0])
        elif t == "Softmax":
            s = shape(ins[0])
            axis = _attr(node, "axis", -1) % len(s)
            rows = s[-2] if len(s) >= 2 and axis == len(s) - 1 else 1
            emit(Softmax, node, "softmax", rows=rows, length=s[axis], count=prod(s) // (rows * s[axis]))
        elif t == "LayerNormalization":
            s = shape(ins[0])
            axis = _attr(node, "axis", -1) % len(s)
            width = prod(s[axis:])
            emit(LayerNorm, node, "layernorm", rows=prod(s) // width, width=width)
        elif t in ("Gelu", "Erf"):
            emit(GELU, node, "gelu", n=prod(shape(ins[0])))
        elif t == "Relu":
            emit(Eltwise, node, "relu", n=prod(shape(ins[0])), op="relu")
        elif t == "BatchNormalization":
            emit(Eltwise, node, "batchnorm", n=prod(shape(ins[0])), op="batchnorm")
        elif t == "Add":
            if ins[0] not in weights and ins[1] not in weights and shape(ins[0]) == shape(ins[1]):
                emit(Eltwise, node, "add", n=prod(shape(ins[0])), op="add")
        elif t in ("MaxPool", "AveragePool"):
            x = shape(ins[0])
            ks = _attr(node, "kernel_shape")
            strides, pads = _attr(node, "strides", ks), _attr(node, "pads", [0, 0, 0, 0])
            out = shape(node.output[0])
            emit(Pool, node, "pool", channels=x[1], in_h=x[2], in_w=x[3], kernel=ks[0], stride=strides[0],
                 padding=pads[0], op="max" if t == "MaxPool" else "avg", n=prod(out) * ks[0] ** 2)
        elif t == "GlobalAveragePool":
            x = shape(ins[0])
            emit(Pool, node, "pool", channels=x[1], in_h=x[2], in_w=x[3], kernel=x[2], stride=x[2], op="avg",
                 n=prod(x))
        elif t == "ReduceMean":
            emit(Eltwise, node, "mean", n=prod(shape(ins[0])), op="mean")
    src: dict[str, tuple[str, ...]] = {}     # tensor name -> the ops that produced it (Op.reads)
    erf_gelu: dict[str, tuple[str, ...]] = {}   # GELU lowered from an Erf node -> what it reads
    for node in g.node:
        before = len(ops)
        lower(node)
        reads = tuple(dict.fromkeys(n for i in node.input for n in src.get(i, ())))
        if node.op_type == "Mul":   # x * 0.5 * (1 + erf(x / sqrt 2)): the product reads the GELU, not x as well
            gelu_in = {n for r in reads for n in erf_gelu.get(r, ())}
            reads = tuple(n for n in reads if n not in gelu_in)
        if len(ops) > before:
            ops[-1] = replace(ops[-1], reads=reads)
            if node.op_type == "Erf":
                erf_gelu[ops[-1].name] = reads
            reads = (ops[-1].name,)
        for o in node.output:
            src[o] = reads
    return Workload(model=path.stem, ops=tuple(ops), batch=b)
