"""``hwsim sweep`` and ``hwsim pareto`` (registered by ``hwsim.cli`` through :func:`add_commands`)."""
from __future__ import annotations

import sys
from pathlib import Path

from hwsim.errors import HwsimError


def _positive(text: str) -> int:
    import argparse
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def cmd_sweep(args) -> int:
    from hwsim.sweep import load_spec, run_sweep
    spec = load_spec(args.spec, points=args.points, seed=args.seed)
    if args.chunk_size:
        import dataclasses
        spec = dataclasses.replace(spec, chunk_size=args.chunk_size)
    run = run_sweep(spec, args.output, workers=args.workers, dask=args.dask, resume=args.resume,
                    overwrite=args.overwrite, progress=not args.quiet)
    rate = run.evaluated / run.seconds if run.seconds else 0.0
    print(f"wrote {run.evaluated:,} points x {len(spec.models)} models ({run.rows:,} rows) to {args.output} "
          f"in {run.seconds:.2f} s ({rate:,.0f} points/s); {run.skipped:,} already present", file=sys.stderr)
    return 0


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def _table(df, columns: list[str], limit: int | None) -> str:
    shown = df[columns] if limit is None else df[columns].head(limit)
    cells = [[_fmt(v.item() if hasattr(v, "item") else v) for v in row] for row in shown.itertuples(index=False)]
    widths = [max(len(c), *(len(r[i]) for r in cells)) if cells else len(c) for i, c in enumerate(columns)]
    lines = ["  ".join(c.rjust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(v.rjust(w) for v, w in zip(r, widths)) for r in cells]
    if limit is not None and len(df) > limit:
        lines.append(f"... {len(df) - limit} more (use --limit 0 for all)")
    return "\n".join(lines)


def cmd_pareto(args) -> int:
    import yaml

    from hwsim.sweep import hardware_of, pareto, read_metadata
    meta = read_metadata(args.results)
    res = pareto(args.results, args.x, args.y, model=args.model, include_infeasible=args.all)
    axes = list(meta["axes"])
    cols = ["point", "model", *axes, res.x, res.y]
    print(f"Pareto front ({res.x} vs {res.y}, minimising both): {len(res.front)} of {res.considered:,} "
          f"{'' if args.all else 'feasible '}points")
    print(_table(res.front, cols, args.limit or None))
    written = []
    if args.best_dir:
        Path(args.best_dir).mkdir(parents=True, exist_ok=True)
    for objective, row in res.best.items():
        hw = hardware_of(row, meta)
        values = ", ".join(f"{c} = {_fmt(row[c].item() if hasattr(row[c], 'item') else row[c])}"
                           for c in meta.get("result_columns", ())[:-2] if c != "cycles")
        print(f"\n# best {objective} ({row['model']}): point {int(row['point'])}: {values}")
        text = yaml.safe_dump(hw, sort_keys=False)
        print(text, end="")
        if args.best_dir:
            path = Path(args.best_dir) / f"best-{objective}.yaml"
            path.write_text(text)
            written.append(str(path))
    if args.plot:
        _plot_front(res, args.plot)
        written.append(args.plot)
    if args.by_axis:
        _plot_by_axis(res, axes, args.by_axis)
        written.append(args.by_axis)
    if written:
        print("wrote " + ", ".join(written), file=sys.stderr)
    return 0


def _plot_front(res, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 5))
    ax.scatter(res.sample[res.x], res.sample[res.y], s=4, alpha=0.3, color="0.6", label=f"sample of {len(res.sample):,}")
    ax.plot(res.front[res.x], res.front[res.y], "o-", color="C3", ms=4, label=f"Pareto front ({len(res.front)})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(res.x)
    ax.set_ylabel(res.y)
    ax.legend()
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _plot_by_axis(res, axes: list[str], path: str) -> None:
    """Each objective (rows) against each axis (columns): sampled points and the best per axis value."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    n = max(1, len(axes))
    fig, grid = plt.subplots(2, n, figsize=(3.2 * n, 6), squeeze=False)
    for j, a in enumerate(axes):
        best = res.by_axis[a].sort_index()
        labels = [str(v) for v in best.index]
        pos = {v: i for i, v in enumerate(best.index)}
        for i, col in enumerate((res.x, res.y)):
            ax = grid[i][j]
            xs = res.sample[a].map(pos)
            ax.scatter(xs, res.sample[col], s=3, alpha=0.2, color="0.6")
            ax.plot(range(len(best)), best[col], "o-", color="C0", ms=3, label="best")
            ax.set_xticks(range(len(best)))
            ax.set_xticklabels(labels, rotation=90 if len(labels) > 6 else 0, fontsize=7)
            ax.set_yscale("log")
            if i == 1:
                ax.set_xlabel(a)
            if j == 0:
                ax.set_ylabel(col)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def add_commands(sub) -> None:
    s = sub.add_parser("sweep", help="design-space sweep: many hardware points x models, results to Parquet/CSV")
    s.add_argument("spec", help="sweep spec YAML (see docs/sweeps.md)")
    s.add_argument("-o", "--output", required=True, help="results: DIR.parquet (dataset of parts) or FILE.csv")
    s.add_argument("--workers", type=_positive, default=1, help="local worker processes (default 1: in this process)")
    s.add_argument("--dask", metavar="ADDRESS", help="run chunks on a Dask scheduler at ADDRESS, or 'local' for a LocalCluster")
    s.add_argument("--resume", action="store_true", help="continue: skip the points already in OUTPUT")
    s.add_argument("--overwrite", action="store_true", help="replace existing results")
    s.add_argument("--points", type=_positive, help="override the random/lhs sample size N")
    s.add_argument("--seed", type=int, help="override the sampler seed")
    s.add_argument("--chunk-size", type=_positive, help="points per task (default: spec chunk_size or 65536)")
    s.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_sweep)

    p = sub.add_parser("pareto", help="Pareto front and best points of sweep results")
    p.add_argument("results", help="results of 'hwsim sweep' (.parquet directory or .csv)")
    p.add_argument("--x", default="latency", help="objective on x: latency, energy, edp, area, cycles (default latency)")
    p.add_argument("--y", default="energy", help="objective on y (default energy)")
    p.add_argument("--model", help="one model's results (default: all models, latency and energy summed per point)")
    p.add_argument("--all", action="store_true", help="include points that violate the constraints")
    p.add_argument("--plot", metavar="PNG", help="plot the front over a sample of all points")
    p.add_argument("--by-axis", metavar="PNG", help="plot each objective against each axis")
    p.add_argument("--best-dir", metavar="DIR", help="write best-<objective>.yaml hardware files here")
    p.add_argument("--limit", type=int, default=40, help="front rows to print (0: all; default 40)")
    p.set_defaults(func=cmd_pareto)


__all__ = ["add_commands", "HwsimError"]
