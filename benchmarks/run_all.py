#!/usr/bin/env python3
"""Run every ``benchmarks/bench_*.py`` and collect their ratio lines into one table.

    python benchmarks/run_all.py                 # everything, default settings
    python benchmarks/run_all.py --repeat 5      # passed on to benches that take --repeat
    python benchmarks/run_all.py --only apply list -- --sizes 100,400 --workdir bench-work

Options after ``--`` go to each bench whose ``--help`` lists them (only those).

Each bench's own output streams through as it runs. Collected afterwards:
``RATIO …`` and ``TARGET …`` lines (the format of ``common.ratio_line``), and,
from benches that print their own format, any other line that states a ratio
(``1.12x``, ``ratio``). A bench that exits non-zero is reported and makes the
exit status 1; a missed target does so only with ``--strict``.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import RATIO_RE, machine_line, print_table  # noqa: E402

TARGET_RE = re.compile(
    r"^TARGET (?P<bench>\S+) (?P<label>.*?): (?P<value>[\d.]+)s "
    r"\(target (?P<target>[^)]*)\) (?P<verdict>\S+)$"
)
LOOSE_RE = re.compile(r"(\bratio\b|\d\s*[x×](?:\s|$|\)|,))", re.IGNORECASE)


def benches(only: list[str]) -> list[Path]:
    found = sorted(HERE.glob("bench_*.py"))
    if only:
        wanted = {name.removeprefix("bench_").removesuffix(".py") for name in only}
        found = [p for p in found if p.stem.removeprefix("bench_") in wanted]
    return found


def help_text(script: Path) -> str:
    proc = subprocess.run(
        [sys.executable, str(script), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return proc.stdout


def accepted(extra: list[str], help: str) -> list[str]:
    """The options of ``extra`` (with their values) that a bench's ``--help`` mentions.

    Benches are written by several people and take different options: of
    ``-- --workdir bench-work --sizes 100``, each bench gets the options it knows.
    """
    groups: list[list[str]] = []
    for token in extra:
        if token.startswith("-") or not groups:
            groups.append([token])
        else:
            groups[-1].append(token)
    known = set(re.findall(r"(?<![\w-])(--?\w[\w-]*)", help))
    return [t for g in groups if g[0].split("=", 1)[0] in known for t in g]


def run(script: Path, args: list[str]) -> tuple[int, list[str], float]:
    """Run one bench, echoing its output; return (exit status, its lines, seconds)."""
    print(f"\n=== {script.name} {' '.join(args)}", flush=True)
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, str(script), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        sys.stdout.write(line)
        lines.append(line.rstrip("\n"))
    return proc.wait(), lines, time.perf_counter() - started


def collect(
    bench: str,
    lines: list[str],
    ratio_rows: list[list[str]],
    target_rows: list[list[str]],
    loose: list[str],
) -> int:
    """Sort one bench's output lines into the tables; return how many targets it missed.

    ``RATIO``/``TARGET`` lines in the common format become table rows; a ``RATIO``
    line in another format, and any line stating a ratio from a bench that prints
    no ``RATIO``/``TARGET`` line at all, is kept as it is.
    """
    missed = 0
    structured = any(line.startswith(("RATIO ", "TARGET ")) for line in lines)
    for line in lines:
        if m := RATIO_RE.match(line):
            verdict = m["verdict"] or ""
            missed += verdict == "MISSED"
            ratio_rows.append(
                [
                    m["bench"],
                    m["label"],
                    f"{float(m['ours']):.3f}s",
                    f"{float(m['ref']):.3f}s ({m['refname']})",
                    f"{m['ratio']}x",
                    f"<= {m['target']}x" if m["target"] else "",
                    verdict,
                ]
            )
        elif m := TARGET_RE.match(line):
            missed += m["verdict"] == "MISSED"
            target_rows.append(
                [m["bench"], m["label"], f"{m['value']}s", m["target"], m["verdict"]]
            )
        elif line.startswith("RATIO ") or (not structured and LOOSE_RE.search(line)):
            loose.append(f"{bench}: {line.strip()}")
    return missed


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1 :]
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--only",
        nargs="+",
        default=[],
        metavar="NAME",
        help="run only these benches (apply, list, bench_prune.py, ...)",
    )
    parser.add_argument("--repeat", type=int, help="best of N, for benches that take --repeat")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)

    scripts = benches(args.only)
    if not scripts:
        print("no benchmarks/bench_*.py matched", file=sys.stderr)
        return 2
    print(machine_line())
    ratio_rows: list[list[str]] = []
    target_rows: list[list[str]] = []
    loose: list[str] = []
    failed: list[str] = []
    missed = 0
    for script in scripts:
        help = help_text(script)
        script_args = accepted(extra, help)
        if args.repeat is not None and "--repeat" in help:
            script_args = ["--repeat", str(args.repeat), *script_args]
        code, lines, took = run(script, script_args)
        if code:
            failed.append(f"{script.name} (exit {code})")
        missed += collect(script.stem, lines, ratio_rows, target_rows, loose)
        print(f"=== {script.name}: exit {code}, {took:.0f} s", flush=True)

    print("\n" + machine_line())
    if ratio_rows:
        print_table(
            "ratios (verda-patch / reference, same run)",
            ["bench", "case", "verda", "reference", "ratio", "target", ""],
            ratio_rows,
            left=2,
        )
    if target_rows:
        print_table(
            "absolute targets", ["bench", "what", "measured", "target", ""], target_rows, left=2
        )
    if loose:
        print("\nother ratio lines:")
        for line in loose:
            print(f"  {line}")
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    if missed:
        print(f"\n{missed} target(s) missed")
    return 1 if failed or (args.strict and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
