"""Op names and structure for imported graphs, from the module path that produced each op.

Blocks are the elements of a container named ``blocks`` (timm ViT/Swin/...) or ``layer<N>`` (ResNet),
numbered across the network in order of first execution (``layer0``, ``layer1``, ...), as the zoo
numbers them. Inside a block the op keeps its sub-path (``attn.qkv``, ``mlp.fc1``) with the zoo's
names for the pieces that have one: ``norm1`` -> ``ln1``, ``norm2`` -> ``ln2``, the MLP activation ->
``mlp.gelu``, attention score/normalise/value GEMMs -> ``attn.qk`` / ``attn.softmax`` / ``attn.av``,
the k-th residual add -> ``add<k>``. Outside blocks: ``patch_embed.proj`` -> ``patch_embed``,
``head``/``head.fc`` -> ``head``, anything else keeps its module path.
"""
from __future__ import annotations

import re

_BLOCK = re.compile(r"^(.*\.)?(blocks|layer\d+)\.\d+$")


class Namer:
    def __init__(self):
        self.layers: dict[str, int] = {}
        self.adds: dict[int, int] = {}
        self.attn_gemms: dict[tuple, int] = {}
        self.used: dict[str, int] = {}

    def block_of(self, path: str) -> tuple[str | None, str]:
        """(block module path, sub-path inside it) of the innermost enclosing block."""
        parts = path.split(".") if path else []
        for cut in range(len(parts), 0, -1):
            prefix = ".".join(parts[:cut])
            if _BLOCK.match(prefix):
                return prefix, ".".join(parts[cut:])
        return None, path

    def _unique(self, name: str) -> str:
        n = self.used.get(name, 0)
        self.used[name] = n + 1
        return name if n == 0 else f"{name}.{n}"

    def name(self, path: str, kind: str) -> tuple[str, int | None, str]:
        """(op name, layer, block) for an op of ``kind`` (matmul, conv, qk, av, softmax, gelu,
        layernorm, add, other) executed inside module ``path``."""
        blk, sub = self.block_of(path)
        if blk is None:
            if path in ("patch_embed.proj", "patch_embed", "conv_proj"):
                return self._unique("patch_embed"), None, "embed"
            if re.fullmatch(r"head(\.fc)?|fc|classifier", path) and kind == "matmul":
                return self._unique("head"), None, "head"
            base = path or kind
            return self._unique(base if kind in ("matmul", "conv", "layernorm") else f"{base}.{kind}" if path else kind), \
                None, path.split(".")[0] if path else ""
        layer = self.layers.setdefault(blk, len(self.layers))
        p = f"layer{layer}."
        top = sub.split(".")[0] if sub else ""
        if kind == "add":
            k = self.adds[layer] = self.adds.get(layer, 0) + 1
            return self._unique(f"{p}add{k}"), layer, {1: "attn", 2: "mlp"}.get(k, "block")
        m = re.fullmatch(r"norm(\d)", sub)
        if m and kind == "layernorm":
            return self._unique(f"{p}ln{m.group(1)}"), layer, {"1": "attn", "2": "mlp"}.get(m.group(1), "block")
        if kind in ("qk", "av", "softmax"):
            return self._unique(f"{p}{top or 'attn'}.{kind}"), layer, top or "attn"
        if kind == "gelu" and top == "mlp":
            return self._unique(f"{p}mlp.gelu"), layer, "mlp"
        return self._unique(f"{p}{sub or kind}"), layer, top if top in ("attn", "mlp") else "conv" \
            if kind == "conv" or not top else top
