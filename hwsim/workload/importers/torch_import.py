"""Lower a PyTorch ``nn.Module`` (or a timm model by name) to a :class:`Workload`.

The module runs one forward pass under a ``TorchDispatchMode`` that sees every ATen op after
autograd and composite decomposition (the level ``torch.utils.flop_counter`` counts at), with module
hooks telling which module each op runs in. Models built on the ``meta`` device (timm models here)
run without any data or weights. Lowering:

==================================================  ================================================
ATen op                                             op
==================================================  ================================================
``addmm``, ``mm`` (weight operand)                  MatMul(m = rows, k, n), static weights
``bmm``, ``mm`` (two activations)                   MatMul(count = batch dim), the attention GEMMs
``_scaled_dot_product_*_attention``                 qk MatMul, Softmax, av MatMul (count = B x H)
``convolution``                                     Conv2d (square kernels)
``_softmax``                                        Softmax (rows = size(-2), length = size(dim))
``gelu``                                            GELU; ``relu`` -> Eltwise(relu)
``native_layer_norm``                               LayerNorm; batch norm -> Eltwise(batchnorm)
``add.Tensor`` of two same-shape activations        Eltwise(add) (residuals)
max/avg pooling, ``mean``                           Pool / Eltwise(mean)
==================================================  ================================================

Adds and multiplies with a parameter, a constant or a broadcast operand (biases, position embeddings,
attention scaling, relative position bias, masks) are folded into the op that produced the
activation, as the zoo's ViT does; pure data movement (views, permutes, cat, roll, padding) is not an
op. So an imported timm ``vit_base_patch16_224`` gives exactly the zoo's ``vit-b16`` op list.

Data flow (``Op.reads``): every tensor remembers the ops that produced it; an op reads the producers of its
tensor inputs, and a call that emits no op (a view, a folded bias, a concatenation) passes its inputs'
producers on to its outputs. An attention call reads Q and K (Q.K^T), then its scores, then V (A.V). Producers
are kept by tensor id and dropped when the tensor is freed (a weak-reference finalizer), so a later tensor
that reuses the id never inherits them and no activation is kept alive.
"""
from __future__ import annotations

import difflib
import weakref
from dataclasses import replace
from math import prod

from hwsim.errors import HwsimError
from hwsim.workload.build import Workload
from hwsim.workload.importers import require
from hwsim.workload.importers.naming import Namer
from hwsim.workload.ops import GELU, Conv2d, Eltwise, LayerNorm, MatMul, Pool, Softmax

_VIEWS = {"t", "view", "transpose", "permute", "expand", "_unsafe_view", "unsqueeze", "reshape", "alias", "clone",
          "index", "select", "slice", "squeeze", "contiguous", "detach", "unbind", "split", "chunk", "repeat",
          "_to_copy", "flatten"}


def _base(func) -> str:
    return func.__name__.split(".")[0] if hasattr(func, "__name__") else str(func).split(".")[1]


class _Lowering:
    def __init__(self, torch, weights):
        self.torch = torch
        self.weight_ids = {id(w) for w in weights}
        self.keep = list(weights)
        self.stack: list[str] = [""]
        self.namer = Namer()
        self.ops = []
        self.attn_gemm: dict[str, int] = {}
        self.src: dict[int, tuple[str, ...]] = {}     # id(tensor) -> the ops that produced it

    def tensors(self, tree) -> list:
        from torch.utils._pytree import tree_flatten
        return [t for t in tree_flatten(tree)[0] if isinstance(t, self.torch.Tensor)]

    def producers(self, tree) -> tuple[str, ...]:
        return tuple(dict.fromkeys(n for t in self.tensors(tree) for n in self.src.get(id(t), ())))

    def on(self, func, args, kwargs, out):
        """Lower one ATen call and record its data flow."""
        before = len(self.ops)
        self.lower(func, args, kwargs, out)
        new = range(before, len(self.ops))
        reads = self.producers((args, kwargs))
        base = _base(func)
        sdpa = base.startswith("_scaled_dot_product") or base == "scaled_dot_product_attention"
        for i in new:                     # an attention call: qk reads Q and K, softmax qk, av the scores and V
            r = (self.producers(args[:2]) if sdpa else reads) if i == before else (self.ops[i - 1].name,)
            if sdpa and i == before + 2:
                r += self.producers(args[2])
            self.ops[i] = replace(self.ops[i], reads=r)
        made = (self.ops[-1].name,) if len(new) else reads
        for t in self.tensors(out):
            if id(t) not in self.src:
                weakref.finalize(t, self.src.pop, id(t), None)
            self.src[id(t)] = made

    def is_weight(self, t) -> bool:
        return isinstance(t, self.torch.Tensor) and id(t) in self.weight_ids

    def emit(self, cls, kind: str, **kw):
        name, layer, block = self.namer.name(self.stack[-1], kind)
        self.ops.append(cls(name=name, layer=layer, block=block, weight=name if kw.get("static_weights") else "",
                            **kw))

    def lower(self, func, args, kwargs, out):
        T = self.torch.Tensor
        base = _base(func)
        if base in _VIEWS:
            if any(self.is_weight(a) for a in args if isinstance(a, T)):
                outs = out if isinstance(out, (tuple, list)) else (out,)
                for o in outs:
                    if isinstance(o, T):
                        self.weight_ids.add(id(o))
                        self.keep.append(o)
            return
        shape = lambda t: tuple(int(s) for s in t.shape)  # noqa: E731
        if base == "addmm":
            _, a, b = args[:3]
            self.gemm(a, b)
        elif base == "mm":
            self.gemm(args[0], args[1])
        elif base == "bmm":
            a, b = args[:2]
            (c, m, k), n = shape(a), shape(b)[-1]
            static = self.is_weight(b)
            self.emit(MatMul, self.attn_kind() if not static else "matmul", m=m, k=k, n=n, count=c,
                      static_weights=static)
        elif base.startswith("_scaled_dot_product") or base == "scaled_dot_product_attention":
            q, k = args[0], args[1]
            *bh, n_q, dh = shape(q)
            n_k = shape(k)[-2]
            c = prod(bh)
            self.emit(MatMul, "qk", m=n_q, k=dh, n=n_k, count=c, static_weights=False)
            self.emit(Softmax, "softmax", rows=n_q, length=n_k, count=c)
            self.emit(MatMul, "av", m=n_q, k=n_k, n=shape(args[2])[-1], count=c, static_weights=False)
        elif base == "convolution":
            x, w = args[0], args[1]
            stride, padding, dilation, transposed, _, groups = args[3:9]
            (bsz, cin, h, wd), (cout, _, kh, kw) = shape(x), shape(w)
            if kh != kw or len(set(stride)) != 1 or len(set(padding)) != 1 or transposed or set(dilation) != {1}:
                raise HwsimError(f"import: convolution in '{self.stack[-1]}' (kernel {kh}x{kw}, stride {stride}, "
                                 f"padding {padding}, dilation {dilation}) is not a square 2-D convolution")
            self.emit(Conv2d, "conv", in_ch=cin, out_ch=cout, in_h=h, in_w=wd, kernel=kh, stride=stride[0],
                      padding=padding[0], groups=groups, count=bsz)
        elif base in ("_softmax", "softmax", "_safe_softmax"):
            s = shape(args[0])
            dim = args[1] % len(s)
            rows = s[-2] if len(s) >= 2 and dim == len(s) - 1 else 1
            self.emit(Softmax, "softmax", rows=rows, length=s[dim], count=prod(s) // (rows * s[dim]))
        elif base == "gelu":
            self.emit(GELU, "gelu", n=args[0].numel())
        elif base in ("relu", "relu_"):
            self.emit(Eltwise, "relu", n=args[0].numel(), op="relu")
        elif base == "native_layer_norm":
            s, width = shape(args[0]), prod(args[1])
            self.emit(LayerNorm, "layernorm", rows=prod(s) // width, width=width)
        elif base in ("_native_batch_norm_legit_no_training", "native_batch_norm", "batch_norm"):
            self.emit(Eltwise, "batchnorm", n=args[0].numel(), op="batchnorm")
        elif base in ("add", "add_"):
            a, b = args[0], args[1]
            if isinstance(a, T) and isinstance(b, T) and shape(a) == shape(b) and not self.is_weight(a) \
                    and not self.is_weight(b):
                self.emit(Eltwise, "add", n=a.numel(), op="add")
        elif base in ("max_pool2d_with_indices", "max_pool2d", "avg_pool2d"):
            x = args[0]
            kernel, stride = args[1], (args[2] if len(args) > 2 and args[2] else args[1])
            pad = args[3] if len(args) > 3 else [0]
            bsz, c, h, w = shape(x)
            o = out[0] if isinstance(out, (tuple, list)) else out
            self.emit(Pool, "pool", channels=c, in_h=h, in_w=w, kernel=kernel[0], stride=stride[0],
                      padding=pad[0], op="max" if "max" in base else "avg", n=o.numel() * kernel[0] ** 2, count=1)
        elif base in ("_adaptive_avg_pool2d", "adaptive_avg_pool2d"):
            bsz, c, h, w = shape(args[0])
            if (h, w) != tuple(shape(out)[-2:]):
                self.emit(Pool, "pool", channels=c, in_h=h, in_w=w, kernel=h // shape(out)[-2],
                          stride=h // shape(out)[-2], op="avg", n=args[0].numel(), count=1)
        elif base == "mean":
            self.emit(Eltwise, "mean", n=args[0].numel(), op="mean")

    def attn_kind(self) -> str:
        path = self.stack[-1]
        k = self.attn_gemm[path] = self.attn_gemm.get(path, 0) + 1
        return "qk" if k % 2 == 1 else "av"

    def gemm(self, a, b):
        shape = lambda t: tuple(int(s) for s in t.shape)  # noqa: E731
        (m, k), n = shape(a), shape(b)[-1]
        static = self.is_weight(b) or self.is_weight(a)
        self.emit(MatMul, "matmul" if static else self.attn_kind(), m=m, k=k, n=n, static_weights=static)


def from_module(module, input_shape=(3, 224, 224), *, batch: int = 1, name: str | None = None,
                example_input=None) -> Workload:
    """The workload of one forward pass of ``module`` on ``batch`` inputs of ``input_shape``
    (C, H, W), or on ``example_input``. A module on the ``meta`` device runs without data. Raises
    HwsimError if torch is missing or an op cannot be lowered."""
    torch = require("torch", "torch", "importing a PyTorch module")
    from torch.utils._python_dispatch import TorchDispatchMode

    params = list(module.parameters()) + list(module.buffers())
    device = params[0].device if params else torch.device("cpu")
    low = _Lowering(torch, params)
    hooks = []
    for path, mod in module.named_modules():
        hooks.append(mod.register_forward_pre_hook(lambda m, a, p=path: low.stack.append(p)))
        hooks.append(mod.register_forward_hook(lambda m, a, o: low.stack.pop() and None))

    class _Mode(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            low.on(func, args, kwargs or {}, out)
            return out

    x = example_input if example_input is not None else torch.zeros((batch, *input_shape), device=device)
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad(), _Mode():
            module(x)
    finally:
        for h in hooks:
            h.remove()
        module.train(was_training)
    return Workload(model=name or type(module).__name__, ops=tuple(low.ops), batch=int(x.shape[0]))


def from_timm(model_name: str, *, batch: int = 1, image_size: int | None = None, **_ignored) -> Workload:
    """A timm model created without weights on the meta device (offline, no data), lowered by
    :func:`from_module`. Unknown names raise HwsimError listing close matches."""
    require("torch", "timm", f"timm:{model_name}")
    timm = require("timm", "timm", f"timm:{model_name}")
    import torch
    names = timm.list_models()
    if model_name not in names:
        close = difflib.get_close_matches(model_name, names, n=5, cutoff=0.6)
        hint = f"; close matches: {', '.join(close)}" if close else ""
        raise HwsimError(f"unknown timm model '{model_name}'{hint}")
    kwargs = {"img_size": image_size} if image_size else {}
    with torch.device("meta"):
        model = timm.create_model(model_name, pretrained=False, **kwargs)
    cfg = getattr(model, "pretrained_cfg", {}) or {}
    c, h, w = cfg.get("input_size", (3, 224, 224))
    if image_size:
        h = w = image_size
    return from_module(model, (c, h, w), batch=batch, name=f"timm:{model_name}")


# ------------------------------------------------------------------ cross-check (hwsim validate)

#: The timm models whose imported MACs the cross-check compares: (timm name, zoo name).
TIMM_CASES = (("vit_base_patch16_224", "vit-b16"), ("swin_tiny_patch4_window7_224", "swin-t"),
              ("resnet18", "resnet18"))


def flop_counter_macs(model_name: str) -> int:
    """MACs of one forward pass of the timm model ``model_name`` (created on the meta device, batch 1,
    3 x 224 x 224) as PyTorch's own FLOP counter (``torch.utils.flop_counter.FlopCounterMode``) counts
    them: its FLOPs / 2. Needs torch and timm."""
    import timm
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    with torch.device("meta"):
        model = timm.create_model(model_name)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.zeros(1, 3, 224, 224, device="meta"))
    return counter.get_total_flops() // 2


def register_checks() -> None:
    from hwsim.validation import Tally, check

    @check("workload/timm-import", reference="PyTorch's own FLOP counter (torch.utils.flop_counter), timm models",
           compares="MACs of timm:vit_base_patch16_224, swin_tiny, resnet18 = FLOP counter / 2 = the zoo model",
           full=True, requires=("torch", "timm"))
    def timm_import():
        from hwsim.workload.load import load_workload
        t = Tally()
        for name, zoo in TIMM_CASES:
            imported = load_workload(f"timm:{name}").macs
            t.exact(name, imported, flop_counter_macs(name), "MACs vs FLOP counter / 2")
            t.exact(name, imported, load_workload(zoo).macs, f"MACs vs the zoo's {zoo}")
        return t.outcome()
