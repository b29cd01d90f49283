"""Model-spec features that change a ViT's workload: token reduction, mixture of experts, early exit,
attention kinds per layer/head, precision and GEMM arithmetic per op class/role and layer.

Each feature is a frozen dataclass built from a YAML mapping by :func:`hwsim.config.build` (so an
unknown or ill-typed field is reported like every other config field), then checked against the
model it belongs to by its ``check`` method, which returns problem strings naming the field, the
bad value and what is allowed (collected into one :class:`hwsim.errors.ConfigError` by the loader).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from hwsim.config import field
from hwsim.errors import HwsimError
from hwsim.lazy import numpy
from hwsim.workload.ops import ATTENTION_KINDS, GELU_VARIANTS, GEMM_ARITH

np = numpy()

OP_CLASSES = ("matmul", "conv2d", "softmax", "gelu", "layernorm", "eltwise")
"""Keys of ``precision`` by op class (the op's ``kind``)."""
ROLES = ("patch_embed", "qkv", "qk", "av", "proj", "fc1", "fc2", "gate", "head", "select", "exit")
"""Keys of ``precision`` / ``arith`` by role: the last part of a GEMM's name (``layer3.attn.qkv`` ->
``qkv``); a role key wins over the op-class key."""
TOKEN_METHODS = ("evit", "tome", "ppt")
ROUTINGS = ("token", "image", "task")
EXIT_HEADS = ("linear", "lgvit")


def prefix_problems(problems: list[str], label: str) -> list[str]:
    """Problems of a nested mapping with the field names qualified: ``field 'keep'`` -> ``field 'moe.keep'``."""
    return [re.sub(r"\bfield '", f"field '{label}.", p, count=1) for p in problems]


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _layer_list(value, depth: int, name: str, problems: list[str]) -> tuple[int, ...]:
    """``value``: list of 0-based layer indices, or 'all' / 'odd' / 'even'."""
    if isinstance(value, str):
        sel = {"all": range(depth), "odd": range(1, depth, 2), "even": range(0, depth, 2)}.get(value)
        if sel is None:
            problems.append(f"field '{name}' = {value!r}: allowed: a list of layer indices, all, odd, even")
            return ()
        return tuple(sel)
    bad = [v for v in value if not _is_int(v) or not 0 <= v < depth]
    if bad:
        problems.append(f"field '{name}' = {bad[0]!r}: layer indices must be integers in 0..{depth - 1}")
        return ()
    if len(set(value)) != len(value):
        problems.append(f"field '{name}': layer indices repeat")
    return tuple(sorted(value))


def per_layer(value, layers: tuple[int, ...], name: str, check, allowed: str, problems: list[str]) -> dict:
    """A scalar applied to every listed layer, or a list with one entry per listed layer."""
    if isinstance(value, (list, tuple)):
        if len(value) != len(layers):
            problems.append(f"field '{name}': has {len(value)} entries, expected one per layer ({len(layers)})")
            return {}
        vals = list(value)
    else:
        vals = [value] * len(layers)
    bad = [v for v in vals if not check(v)]
    if bad:
        problems.append(f"field '{name}' = {bad[0]!r}: {allowed}")
        return {}
    return dict(zip(layers, vals))


@dataclass(frozen=True, kw_only=True)
class TokenReduction:
    """Token reduction with the selection costed as ops.

    - ``evit`` (Liang et al. ICLR 2022, "Not All Patches are What You Need"; code youweiliang/evit
      ``evit.py``): at each of ``layers``, after attention, keep ``ceil(keep * (N - 1))`` patch tokens
      with the highest class-token attention (mean over heads) and fuse the rest into one token
      (attention-weighted sum), so the MLP and later layers see 1 + kept + 1 tokens.
    - ``tome`` (Bolya et al. ICLR 2023, "Token Merging"): at each of ``layers`` (default all),
      after attention, bipartite soft matching of keys merges ``r`` tokens (``r`` a number or a list).
    - ``ppt`` (Wu et al. 2023, "PPT: Token Pruning and Pooling"): at each of ``layers``, ``r``
      tokens are removed, by pruning the least attentive (``policy: prune``) or by ToMe-style pooling
      (``policy: pool``); ``policy`` is one value or a list per layer.
    """
    method: str = field(choices=TOKEN_METHODS)
    layers: tuple | str = field("all", doc="0-based layer indices, or all/odd/even")
    keep: float | tuple | None = field(None, doc="evit: fraction of patch tokens kept, (0, 1]")
    r: int | tuple | None = field(None, doc="tome/ppt: tokens removed per layer")
    policy: str | tuple = field("prune", doc="ppt: prune or pool, per layer")

    def resolve(self, depth: int, problems: list[str]) -> dict[int, tuple[str, float | int]]:
        """{layer: (action, amount)}, action in evit/prune/pool (pool = ToMe merge)."""
        layers = _layer_list(self.layers, depth, "token_reduction.layers", problems)
        if self.method == "evit":
            if self.keep is None:
                problems.append("field 'token_reduction.keep': required for method evit (fraction in (0, 1])")
                return {}
            keep = per_layer(self.keep, layers, "token_reduction.keep", lambda v: _is_num(v) and 0 < v <= 1,
                             "keep ratios must be fractions in (0, 1]", problems)
            return {i: ("evit", k) for i, k in keep.items()}
        if self.r is None:
            problems.append(f"field 'token_reduction.r': required for method {self.method} (tokens per layer)")
            return {}
        r = per_layer(self.r, layers, "token_reduction.r", lambda v: _is_int(v) and v >= 0,
                      "r must be a non-negative integer", problems)
        if self.method == "tome":
            return {i: ("pool", v) for i, v in r.items()}
        pol = per_layer(self.policy, layers, "token_reduction.policy", lambda v: v in ("prune", "pool"),
                        "allowed: prune, pool", problems)
        return {i: (pol[i], v) for i, v in r.items()} if pol else {}


@dataclass(frozen=True, kw_only=True)
class MoESpec:
    """Mixture-of-experts MLPs (the MLP of each listed layer becomes ``experts`` expert MLPs).

    ``routing``: ``token`` (V-MoE, Riquelme et al. NeurIPS 2021: each token picks ``top_k`` experts),
    ``image`` (Mobile V-MoEs, Daxberger et al. 2023: one router decision per image, from the mean
    token, all tokens of the image go to its experts), ``task`` (M^3ViT, Liang et al. NeurIPS 2022:
    one gate per task, token-level top-k; the build's ``task`` picks the gate). ``shared_router``:
    one router, at the first MoE layer, whose choice every MoE layer reuses (Mobile V-MoE, Fig. 2c).
    ``loads``: how the routed rows spread over the experts: ``uniform``; a list of per-expert weights
    (normalised; rounded by largest remainder); or ``{skew: s, seed: n}`` (multinomial draw from a
    Zipf(s) distribution over a seeded random expert order). ``capacity_factor``: each expert takes
    at most ceil(cf * rows * top_k / experts) rows (token routing; the rest are dropped, as in
    V-MoE); None = no cap. ``task_names`` (routing task): one name per task, so a task is picked by
    name (``hwsim estimate --task NAME``); ``task_loads``: {task name: loads} for tasks whose routing
    differs (a task's gate sends tokens to other experts); tasks not listed use ``loads``.
    """
    layers: tuple | str = field("odd", doc="0-based layer indices, or all/odd/even")
    experts: int = field(positive=True)
    top_k: int = field(1, positive=True)
    hidden: int | None = field(None, positive=True, doc="expert MLP hidden width (default: the dense MLP's)")
    routing: str = field("token", choices=ROUTINGS)
    tasks: int = field(1, positive=True, doc="routing task: number of tasks, one gate each")
    loads: str | tuple | dict = field("uniform", doc="uniform, a list of per-expert weights, or {skew, seed}")
    capacity_factor: float | None = field(None, positive=True)
    expert_arith: tuple | None = field(None, doc="GEMM arithmetic per expert (ShiftAddViT mul/shift experts)")
    shared_router: bool = field(False, doc="one router decision reused by every MoE layer (Mobile V-MoE)")
    task_names: tuple | None = field(None, doc="routing task: one name per task (default task0, task1, ...)")
    task_loads: dict | None = field(None, doc="routing task: {task name: loads} overriding loads for that task")

    def check(self, depth: int, problems: list[str]) -> tuple[int, ...]:
        layers = _layer_list(self.layers, depth, "moe.layers", problems)
        if self.top_k > self.experts:
            problems.append(f"field 'moe.top_k' = {self.top_k}: must be <= moe.experts ({self.experts})")
        problems += _check_loads(self.loads, self.experts)
        if self.expert_arith is not None:
            if len(self.expert_arith) != self.experts:
                problems.append(f"field 'moe.expert_arith': has {len(self.expert_arith)} entries, "
                                f"expected experts = {self.experts}")
            elif any(a not in GEMM_ARITH for a in self.expert_arith):
                bad = next(a for a in self.expert_arith if a not in GEMM_ARITH)
                problems.append(f"field 'moe.expert_arith' = {bad!r}: allowed: {', '.join(GEMM_ARITH)}")
        if self.routing != "task" and self.tasks != 1:
            problems.append(f"field 'moe.tasks' = {self.tasks}: only routing: task has several gates")
        if self.task_names is not None:
            if len(self.task_names) != self.tasks or len(set(self.task_names)) != len(self.task_names) \
                    or not all(isinstance(n, str) and n for n in self.task_names):
                problems.append(f"field 'moe.task_names' = {list(self.task_names)!r}: expected {self.tasks} "
                                "distinct names (one per task)")
        for name, loads in (self.task_loads or {}).items():
            if name not in self.names():
                problems.append(f"field 'moe.task_loads' key {name!r}: not a task (allowed: {', '.join(self.names())})")
            else:
                problems += [p.replace("'moe.loads'", f"'moe.task_loads.{name}'")
                             for p in _check_loads(loads, self.experts)]
        return layers

    def names(self) -> tuple[str, ...]:
        """Task names, in gate order (``task_names``, or task0, task1, ...)."""
        return tuple(self.task_names) if self.task_names else tuple(f"task{i}" for i in range(self.tasks))

    def task_index(self, name: str | int | None) -> int:
        """Gate index of task ``name`` (a name, or an index as int or digit string); None -> 0.
        Raises HwsimError naming the task and the allowed names."""
        names = self.names()
        if name is None:
            return 0
        if name in names:
            return names.index(name)
        if isinstance(name, int) or (isinstance(name, str) and name.isdigit()):
            if 0 <= int(name) < len(names):
                return int(name)
        raise HwsimError(f"task {name!r}: not a task of this model (allowed: {', '.join(names)})")

    def loads_for(self, rows: int, layer: int, task: int | None = None) -> list[int]:
        """Rows (tokens, or images for image routing) each expert receives, summing to rows * top_k
        before the capacity cap. Deterministic: the skewed draw is seeded by (seed, layer).
        ``task``: gate index (task routing); its ``task_loads`` entry wins over ``loads``."""
        total = rows * self.top_k
        e = self.experts
        loads = self.loads
        if task is not None and self.task_loads and self.names()[task] in self.task_loads:
            loads = self.task_loads[self.names()[task]]
            loads = tuple(loads) if isinstance(loads, list) else loads
        if loads == "uniform":
            w = np.ones(e)
        elif isinstance(loads, tuple):
            w = np.asarray(loads, dtype=float)
        else:
            rng = np.random.default_rng([int(loads.get("seed", 0)), layer])
            zipf = 1.0 / np.arange(1, e + 1) ** float(loads["skew"])
            p = zipf[rng.permutation(e)]
            return [int(x) for x in rng.multinomial(total, p / p.sum())]
        share = w / w.sum() * total
        out = np.floor(share).astype(int)
        for i in np.argsort(-(share - out), kind="stable")[: total - out.sum()]:
            out[i] += 1
        return [int(x) for x in out]


def _check_loads(loads, experts: int) -> list[str]:
    """Problems of a ``loads`` value: uniform, a list of per-expert weights, or {skew, seed}."""
    if isinstance(loads, list):
        loads = tuple(loads)
    if isinstance(loads, str) and loads != "uniform":
        return [f"field 'moe.loads' = {loads!r}: allowed: uniform, a list, {{skew, seed}}"]
    if isinstance(loads, tuple):
        if len(loads) != experts:
            return [f"field 'moe.loads': has {len(loads)} entries, expected experts = {experts}"]
        if any(not _is_num(v) or v < 0 for v in loads) or not sum(loads) > 0:
            return ["field 'moe.loads': entries must be non-negative numbers with a positive sum"]
    elif isinstance(loads, dict):
        extra = set(loads) - {"skew", "seed"}
        if extra or not _is_num(loads.get("skew")) or loads["skew"] < 0 or not _is_int(loads.get("seed", 0)):
            return [f"field 'moe.loads' = {loads!r}: expected {{skew: number >= 0, seed: integer}}"]
    elif not isinstance(loads, str):
        return [f"field 'moe.loads' = {loads!r}: allowed: uniform, a list, {{skew, seed}}"]
    return []


@dataclass(frozen=True, kw_only=True)
class EarlyExit:
    """Exit heads after ``layers`` (0-based); ``probability[i]``: fraction of all images that leave at
    exit i (the rest run to the final head). ``head``: ``linear`` (LayerNorm + classifier on the class
    token, as DeeBERT/ViT-EE) or ``lgvit`` (LGViT, Xu et al. ACM MM 2023, code lostsword/LGViT
    ``models/deit_highway/highway.py``: local perception heads (convolutions) on the first half of
    the exits, global aggregation heads (pooled attention) on the second half)."""
    layers: tuple = field()
    probability: tuple = field()
    head: str = field("linear", choices=EXIT_HEADS)

    def check(self, depth: int, problems: list[str]) -> tuple[int, ...]:
        layers = _layer_list(self.layers, depth, "early_exit.layers", problems)
        if len(self.probability) != len(self.layers):
            problems.append(f"field 'early_exit.probability': has {len(self.probability)} entries, "
                            f"expected one per exit ({len(self.layers)})")
        elif any(not _is_num(p) or not 0 <= p <= 1 for p in self.probability) or sum(self.probability) > 1 + 1e-9:
            problems.append(f"field 'early_exit.probability' = {list(self.probability)!r}: "
                            "fractions in [0, 1] summing to at most 1")
        return layers


def read_head_mask(path: str | Path, depth: int, heads: int, kinds: tuple[str, str]) -> list[list[str]]:
    """A layer x head attention mask file: ``depth`` lines of ``heads`` entries (whitespace or comma
    separated), each a kind name or 0/1 (0 -> ``kinds[0]``, 1 -> ``kinds[1]``; MPCViT's learned mask,
    1 = ReLU-softmax head). Errors name the file, the line and what is allowed."""
    path = Path(path)
    try:
        lines = [ln for ln in path.read_text().splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    except OSError as exc:
        raise HwsimError(f"{path}: cannot read attention mask file ({exc.strerror})") from None
    if len(lines) != depth:
        raise HwsimError(f"{path}: attention mask has {len(lines)} rows, expected depth = {depth} (one per layer)")
    out = []
    for i, ln in enumerate(lines):
        cells = ln.replace(",", " ").split()
        if len(cells) != heads:
            raise HwsimError(f"{path}: line {i + 1} has {len(cells)} entries, expected heads = {heads}")
        row = []
        for c in cells:
            kind = kinds[int(c)] if c in ("0", "1") else c
            if kind not in ATTENTION_KINDS:
                raise HwsimError(f"{path}: line {i + 1}: entry {c!r}: allowed: 0, 1, {', '.join(ATTENTION_KINDS)}")
            row.append(kind)
        out.append(row)
    return out


def check_attention(value, depth: int, heads: int, problems: list[str]) -> list[list[str]] | None:
    """``attention``: one kind for all heads of all layers, or a list (one entry per layer) of a kind or
    a list of ``heads`` kinds. Returns per layer, per head kinds."""
    def ok(k):
        return isinstance(k, str) and k in ATTENTION_KINDS
    if isinstance(value, str):
        if not ok(value):
            problems.append(f"field 'attention' = {value!r}: allowed: {', '.join(ATTENTION_KINDS)}")
            return None
        return [[value] * heads for _ in range(depth)]
    if len(value) != depth:
        problems.append(f"field 'attention': has {len(value)} entries, expected depth = {depth}")
        return None
    out = []
    for i, entry in enumerate(value):
        row = [entry] * heads if isinstance(entry, str) else list(entry) if isinstance(entry, (list, tuple)) else None
        if row is None or len(row) != heads:
            n = len(row) if row is not None else "not a list"
            problems.append(f"field 'attention[{i}]': has {n} head kinds, expected heads = {heads}")
            return None
        bad = [k for k in row if not ok(k)]
        if bad:
            problems.append(f"field 'attention[{i}]' = {bad[0]!r}: allowed: {', '.join(ATTENTION_KINDS)}")
            return None
        whole = {"hilo", "shared_dwconv"} & set(row)
        if whole and len(set(row)) > 1:
            problems.append(f"field 'attention[{i}]': {sorted(whole)[0]} is a whole-layer kind (its own projections), "
                            "it cannot be mixed with other head kinds")
            return None
        out.append(row)
    return out


def check_bits_map(mapping, name: str, problems: list[str]) -> None:
    for key, bits in (mapping or {}).items():
        if key not in OP_CLASSES + ROLES:
            problems.append(f"field '{name}.{key}': unknown op class or role (allowed: {', '.join(OP_CLASSES + ROLES)})")
        elif not _is_int(bits) or not 1 <= bits <= 64:
            problems.append(f"field '{name}.{key}' = {bits!r}: expected an integer bit width 1..64")


def check_arith_map(mapping, name: str, problems: list[str]) -> None:
    for key, arith in (mapping or {}).items():
        if key not in ("matmul", "conv2d") + ROLES:
            problems.append(f"field '{name}.{key}': unknown GEMM class or role (allowed: matmul, conv2d, "
                            f"{', '.join(ROLES)})")
        elif arith not in GEMM_ARITH:
            problems.append(f"field '{name}.{key}' = {arith!r}: allowed: {', '.join(GEMM_ARITH)}")


def check_layer_maps(mapping, depth: int, name: str, each, problems: list[str]) -> None:
    """``{layer: {key: value}}`` with 0-based integer layer keys."""
    for layer, inner in (mapping or {}).items():
        if not _is_int(layer) or not 0 <= layer < depth:
            problems.append(f"field '{name}' key {layer!r}: layer indices must be integers in 0..{depth - 1}")
        elif not isinstance(inner, dict):
            problems.append(f"field '{name}.{layer}' = {inner!r}: expected a mapping")
        else:
            each(inner, f"{name}.{layer}", problems)


__all__ = ["TokenReduction", "MoESpec", "EarlyExit", "read_head_mask", "check_attention", "GELU_VARIANTS"]
