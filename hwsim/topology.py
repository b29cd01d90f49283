"""Reading SCALE-Sim topology files: the GEMM format and the convolution format, both lowered to GEMMs.

SCALE-Sim 3.0 (``scalesim/topology_utils.py``) reads two CSV layouts, one row per layer, each line
ending in a comma, the first line a header it always skips:

* GEMM (``load_arrays_gemm``): header ``Layer, M, N, K,``, rows ``name,M,N,K,`` for
  ``ofmap[M x N] = ifmap[M x K] @ filter[K x N]``.
* convolution (``load_arrays_conv``): header ``Layer name, IFMAP Height, IFMAP Width, Filter Height,
  Filter Width, Channels, Num Filter, Strides,``, rows ``name,H,W,R,S,C,F,stride,`` (no padding: the
  ifmap is given padded; the stride applies to both directions). SCALE-Sim lowers a layer to the GEMM
  its compute model runs (``topo_calc_hyperparams``, ``calc_spatio_temporal_params``)::

      ofmap_h = ceil((H - R + stride) / stride),  ofmap_w = ceil((W - S + stride) / stride)
      M = ofmap_h * ofmap_w (output pixels),  N = F (filters),  K = R * S * C (window size)

  and a layer whose name contains ``DP`` is depthwise: SCALE-Sim runs it as ``C`` layers
  ``<name>Channel_<i>`` of one channel each (K = R * S).

Checked against SCALE-Sim itself: ``hwsim/data/reference/scalesim_conv_reference.json``
(``benchmarks/scalesim_conv_reference.py``). hwsim is stricter than SCALE-Sim: the format is detected
from the header (a file with no header must start with a valid GEMM row; SCALE-Sim would silently drop
it), and a row with an empty cell, a missing or extra column, a sparsity column (not modelled), a
non-integer or an out-of-range size is refused with one line naming the file, line and column.
"""
from __future__ import annotations

import re

from hwsim.config import read_text
from hwsim.errors import MAX_PATH_CHARS, HwsimError, elide, short_repr

MAX_GEMM_DIM = 1 << 24        # one GEMM dimension (16,777,216; a ViT's largest is batch x tokens)
MAX_GEMM_MACS = 1 << 50       # one GEMM's MACs: keeps the backends' int64 counts from overflowing
MAX_CONV_SIZE = 1 << 20       # any convolution parameter (ifmap edge, filter edge, channels, filters, stride)
MAX_LAYERS = 100_000          # GEMMs in one topology, depthwise layers expanded
MAX_NAME_CHARS = 256          # a layer name

GEMM_HEADER = ("m", "n", "k")
CONV_HEADER = ("ifmapheight", "ifmapwidth", "filterheight", "filterwidth", "channels", "numfilter", "strides")
CONV_COLUMNS = ("IFMAP height", "IFMAP width", "filter height", "filter width", "channels", "filters", "stride")
_DIGITS = re.compile(r"[0-9]+")


def positive_int(text: str, what: str, maximum: int = MAX_GEMM_DIM) -> int:
    """``text`` as an integer in ``1..maximum``; HwsimError ``"<what> = <text>: ..."`` otherwise.
    Accepts an optional sign so that ``-3`` is reported as "must be > 0"."""
    s = str(text).strip()
    if not re.fullmatch(r"[+-]?[0-9]+", s):
        raise HwsimError(f"{what} = {short_repr(text)}: expected a positive integer")
    if len(s.lstrip("+-0")) > 30:
        raise HwsimError(f"{what} = {short_repr(text, 40)}: must be <= {maximum:,}")
    value = int(s)
    if value <= 0:
        raise HwsimError(f"{what} = {value}: must be > 0")
    if value > maximum:
        raise HwsimError(f"{what} = {value}: must be <= {maximum:,}")
    return value


def check_gemm(m: int, n: int, k: int, where: str) -> tuple[int, int, int]:
    """``(m, n, k)`` if every dim is in ``1..MAX_GEMM_DIM`` and ``m*n*k <= MAX_GEMM_MACS``;
    HwsimError naming ``where`` otherwise."""
    for v, d in zip((m, n, k), "MNK"):
        if not 1 <= v <= MAX_GEMM_DIM:
            raise HwsimError(f"{where}: {d} = {v}: must be in 1..{MAX_GEMM_DIM:,}")
    if m * n * k > MAX_GEMM_MACS:
        raise HwsimError(f"{where}: GEMM {m} x {n} x {k} has {m * n * k:.3g} MACs; the limit is "
                         f"{MAX_GEMM_MACS:.3g} (2^50)")
    return m, n, k


def gemm_dims(texts, where: str = "gemm") -> tuple[int, int, int]:
    """Command-line ``M N K`` strings -> checked ``(m, n, k)`` (:func:`positive_int`, :func:`check_gemm`)."""
    m, n, k = (positive_int(t, d) for t, d in zip(texts, "MNK"))
    return check_gemm(m, n, k, where)


def _norm(cell: str) -> str:
    return re.sub(r"[\s_\-]+", "", cell).lower()


def _cells(line: str) -> list[str]:
    """SCALE-Sim splits on commas (``row.split(',')[:-1]``: one trailing comma ends a row)."""
    cells = [c.strip() for c in line.split(",")]
    if len(cells) > 1 and cells[-1] == "":
        cells.pop()
    return cells


def _header_kind(cells: list[str]) -> str | None:
    norm = [_norm(c) for c in cells[1:]]
    if tuple(norm) == GEMM_HEADER:
        return "gemm"
    if len(norm) == len(CONV_HEADER) and all(n.startswith(h[:6]) for n, h in zip(norm, CONV_HEADER)):
        return "conv"
    if len(norm) > 3 and tuple(norm[:3]) == GEMM_HEADER:
        return "gemm+"          # extra header columns (e.g. a sparsity column): refused below
    if len(norm) > len(CONV_HEADER) and all(n.startswith(h[:6]) for n, h in zip(norm, CONV_HEADER)):
        return "conv+"
    return None


def _int_cell(cell: str, where: str, column: str, maximum: int) -> int:
    """A topology cell as a positive integer: digits only (no sign, no separators), then as positive_int."""
    if not _DIGITS.fullmatch(cell):
        raise HwsimError(f"{where}: {column} = {short_repr(cell, 40)}: expected a positive integer")
    return positive_int(cell, f"{where}: {column}", maximum)


def _check_row(cells: list[str], where: str, columns: tuple[str, ...], fmt: str) -> None:
    expected = 1 + len(columns)
    if len(cells) > expected and re.fullmatch(r"\d+\s*:\s*\d+", cells[expected]):
        raise HwsimError(f"{where}: column {expected + 1} is a sparsity ratio ({short_repr(cells[expected], 20)}); "
                         "hwsim does not model sparsity: remove the column")
    if len(cells) != expected:
        raise HwsimError(f"{where}: expected {expected} values ({fmt}), got {len(cells)}: "
                         f"{short_repr(','.join(cells))}")
    for i, c in enumerate(cells):
        if c == "":
            name = "the layer name" if i == 0 else columns[i - 1]
            raise HwsimError(f"{where}: column {i + 1} ({name}) is empty ({fmt})")
    if len(cells[0]) > MAX_NAME_CHARS:
        raise HwsimError(f"{where}: layer name {short_repr(cells[0], 40)} is longer than {MAX_NAME_CHARS} characters")


def _gemm_row(cells, where) -> tuple[str, int, int, int]:
    _check_row(cells, where, ("M", "N", "K"), "name,M,N,K,")
    m, n, k = (_int_cell(c, where, d, MAX_GEMM_DIM) for c, d in zip(cells[1:4], "MNK"))
    return (cells[0], *check_gemm(m, n, k, where))


def conv_gemms(name: str, h: int, w: int, r: int, s: int, c: int, f: int, stride: int,
               where: str = "conv") -> list[tuple[str, int, int, int]]:
    """The GEMMs SCALE-Sim runs for one convolution layer (see the module docstring): one
    ``(name, M, N, K)``, or ``c`` of them named ``<name>Channel_<i>`` for a depthwise (``DP``) layer.
    HwsimError if the filter is larger than the ifmap or a lowered GEMM is out of range."""
    if r > h or s > w:
        raise HwsimError(f"{where}: filter {r} x {s} is larger than the ifmap {h} x {w} "
                         "(SCALE-Sim does no padding: give the padded ifmap size)")
    # ceil((H - R + stride) / stride) = ceil((H - R) / stride) + 1, in exact integer arithmetic. SCALE-Sim
    # counts a last partial window (224 px, 7x7, stride 2: 110 rows, where PyTorch's floor gives 109).
    oh, ow = -(-(h - r) // stride) + 1, -(-(w - s) // stride) + 1
    m = oh * ow
    if "DP" in name:                # depthwise: topology_utils.load_arrays_conv
        check_gemm(m, f, r * s, where)
        return [(f"{name}Channel_{i}", m, f, r * s) for i in range(c)]
    return [(name, *check_gemm(m, f, r * s * c, where))]


def _conv_row(cells, where) -> list[tuple[str, int, int, int]]:
    _check_row(cells, where, CONV_COLUMNS, "name,H,W,R,S,C,F,stride,")
    vals = [_int_cell(c, where, col, MAX_CONV_SIZE) for c, col in zip(cells[1:], CONV_COLUMNS)]
    return conv_gemms(cells[0], *vals, where=where)


def read_topology(path: str) -> list[tuple[str, int, int, int]]:
    """The GEMMs of a SCALE-Sim topology CSV, in file order, as ``(name, M, N, K)``.

    The format is taken from the header line (GEMM ``Layer, M, N, K,`` or convolution ``Layer name,
    IFMAP Height, ...``); a file without a header must start with a GEMM row ``name,M,N,K,``. Blank
    lines and lines starting with ``#`` are skipped. Convolutions are lowered as SCALE-Sim lowers them
    (module docstring). Raises HwsimError (one line naming file, line, column and value) for anything
    else: unreadable, non-UTF-8 or oversized files (``hwsim.config.read_text``), neither format, empty
    cells, missing or extra columns, sizes outside their range, more than ``MAX_LAYERS`` GEMMs."""
    text = read_text(path, "topology")
    where_file = elide(str(path), MAX_PATH_CHARS)
    kind = None
    rows: list[tuple[str, int, int, int]] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        where = f"{where_file}:{lineno}"
        cells = _cells(line)
        if kind is None:
            kind = _header_kind(cells)
            if kind in ("gemm+", "conv+"):
                raise HwsimError(f"{where}: header has {len(cells)} columns; expected "
                                 + ("'Layer, M, N, K,'" if kind == "gemm+" else
                                    "'Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, "
                                    "Channels, Num Filter, Strides,'") + " (sparsity columns are not modelled)")
            if kind is not None:
                continue
            if len(cells) >= 2 and _norm(cells[1]).startswith(("m", "ifmap")):
                raise HwsimError(f"{where}: unrecognised header {short_repr(line.strip())}; expected "
                                 "'Layer, M, N, K,' or 'Layer name, IFMAP Height, IFMAP Width, Filter Height, "
                                 "Filter Width, Channels, Num Filter, Strides,'")
            kind = "gemm"           # no header: the first line must be a GEMM row
            try:
                rows.append(_gemm_row(cells, where))
            except HwsimError as exc:
                raise HwsimError(f"{exc} (line {lineno} is neither a SCALE-Sim header nor a GEMM row)") from None
            continue
        rows.extend([_gemm_row(cells, where)] if kind == "gemm" else _conv_row(cells, where))
        if len(rows) > MAX_LAYERS:
            raise HwsimError(f"{where}: more than {MAX_LAYERS:,} GEMMs in one topology")
    if not rows:
        raise HwsimError(f"{where_file}: no layers (expected 'name,M,N,K,' or convolution rows after the header)")
    return rows

