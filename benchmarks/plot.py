#!/usr/bin/env python3
"""Time vs number of patches, from the figures ``bench_apply.py`` wrote.

    python benchmarks/plot.py                       # benchmarks/results/apply.json
    python benchmarks/plot.py results.json -o apply.png

With matplotlib installed (``pip install -e '.[plot]'``) it draws a PNG; without,
it prints a table. Either way it fits ``time = a + b * patches`` to every
series by least squares and prints the fixed cost ``a``, the cost per patch
``b`` and R² — an R² near 1 is the linear growth the benchmark should show.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SERIES = (
    "verda cold",
    "git cold",
    "verda warm rebuild",
    "git warm rebuild",
    "verda warm new tree",
    "git warm new tree",
)


def load(path: Path, metric: str) -> tuple[dict[str, str], dict[str, list[tuple[int, float]]]]:
    """(machine, {series: [(patches, best seconds), ...]}) for the generated series only."""
    doc = json.loads(path.read_text())
    points: dict[str, list[tuple[int, float]]] = {name: [] for name in SERIES}
    for label, entry in doc["data"].items():
        if not label.startswith("n=") or not isinstance(entry, dict):
            continue  # start-up figures, the real-history rows
        for name in SERIES:
            values = entry.get(metric, {}).get(name)
            if values:
                points[name].append((int(entry["patches"]), min(values)))
    return doc.get("machine", {}), {k: sorted(v) for k, v in points.items() if v}


def fit(points: list[tuple[int, float]]) -> tuple[float, float, float]:
    """Least squares ``y = a + b x``: (a, b, R²)."""
    n = len(points)
    xs = [float(x) for x, _ in points]
    ys = [y for _, y in points]
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if n < 2 or sxx == 0:
        return my, 0.0, 1.0
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    a = my - b * mx
    ss_tot = sum((y - my) ** 2 for y in ys)
    ss_res = sum((y - (a + b * x)) ** 2 for x, y in zip(xs, ys, strict=True))
    return a, b, 1.0 - ss_res / ss_tot if ss_tot else 1.0


def table(points: dict[str, list[tuple[int, float]]], title: str) -> None:
    sizes = sorted({x for pts in points.values() for x, _ in pts})
    header = ["series", *(f"n={n}" for n in sizes), "fixed a", "per patch b", "R²"]
    rows = []
    for name, pts in points.items():
        by_n = dict(pts)
        a, b, r2 = fit(pts)
        rows.append(
            [
                name,
                *(f"{by_n[n]:.3f}s" if n in by_n else "" for n in sizes),
                f"{a * 1000:.0f} ms",
                f"{b * 1000:.2f} ms",
                f"{r2:.3f}",
            ]
        )
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        sys.path.insert(0, str(HERE))
        from common import print_table

        print_table(title, header, rows)
        return
    rich_table = Table(title=title, title_justify="left")
    for i, column in enumerate(header):
        rich_table.add_column(column, justify="left" if i == 0 else "right")
    for row in rows:
        rich_table.add_row(*row)
    console = Console()
    if not console.is_terminal:
        console = Console(width=120)  # a pipe or a file: do not wrap at 80 columns
    console.print(rich_table)


def plot(points: dict[str, list[tuple[int, float]]], title: str, out: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(8, 5))
    for name, pts in points.items():
        xs, ys = [x for x, _ in pts], [y for _, y in pts]
        style = "-" if name.startswith("verda") else "--"
        ax.plot(xs, ys, style, marker="o", label=name)
    ax.set_xlabel("patches in the series")
    ax.set_ylabel("seconds (best of N)")
    ax.set_title(title, fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120, bbox_inches="tight")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", nargs="?", type=Path, default=HERE / "results" / "apply.json")
    parser.add_argument("-o", "--output", type=Path, help="PNG to write (default: next to JSON)")
    parser.add_argument("--cpu", action="store_true", help="CPU time instead of wall clock")
    parser.add_argument("--table", action="store_true", help="table only, even with matplotlib")
    args = parser.parse_args(argv)
    if not args.results.is_file():
        print(f"{args.results}: no figures yet; run benchmarks/bench_apply.py", file=sys.stderr)
        return 2
    metric = "cpu" if args.cpu else "times"
    machine, points = load(args.results, metric)
    if not points:
        print(f"{args.results}: no generated series in it", file=sys.stderr)
        return 2
    what = "CPU time" if args.cpu else "wall clock"
    title = (
        f"verda-patch apply vs raw git, {what} — nproc {machine.get('nproc', '?')}, "
        f"{machine.get('cpu', '?')}, git {machine.get('git', '?')}, "
        f"python {machine.get('python', '?')}"
    )
    table(points, title)
    if not args.table:
        out = args.output or args.results.with_suffix(".cpu.png" if args.cpu else ".png")
        if plot(points, title, out):
            print(f"plot written to {out}")
        else:
            print("matplotlib is not installed (pip install -e '.[plot]'): table only")
    return 0


if __name__ == "__main__":
    sys.exit(main())
