#!/usr/bin/env python3
"""export: ``verda-patch export`` against raw ``git format-patch base..HEAD -o DIR``.

Builds a generated upstream and a series of N (default 400) ``git format-patch``
files, applies it once, then times, in the same run, best of ``--repeat`` with
the two sides alternating:

  idempotent   verda: export PROJECT on the freshly applied work tree (every file
                      is compared and none rewritten: the files came from the
                      user's format-patch, with [PATCH n/m], signature, short index)
               git:   git format-patch -q -o DIR BASE..verda/PROJECT (in the work tree)

The raw side only writes the files; verda-patch also renders them in a clean
room, compares each with the file on disk (text first, an apply test where the
text differs) and marks the work tree synced. ``--real-repo DIR`` adds the same
comparison on a copy of an existing patch repo (the original is never touched).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    Case,
    alternate,
    git,
    git_out,
    machine_line,
    make_series,
    make_upstream,
    print_table,
    ratio_line,
    rmtree,
    save_results,
    seconds,
    user_git_env,
    verda,
    write_patch_repo,
)

PROJECT = "bench"
TARGET = 3.0  # export does the raw format-patch plus a comparison per file


def compare(
    label: str, repo: Path, project: str, cache: Path, repeat: int, scratch: Path
) -> tuple[Case, Case]:
    """Apply once, then time verda export against raw format-patch of the same branch."""
    verda(repo, "apply", project, cache=cache)
    work = repo / ".verda" / "work" / project
    text = (repo / "base-commit").read_text()
    base = next(
        line.split(":", 1)[1].strip()
        for line in text.splitlines()
        if line.strip().startswith("commit:")
    )
    out = scratch / f"raw-{project}"
    before = git_out(repo, "status", "--porcelain")

    def ours() -> None:
        proc = verda(repo, "export", project, cache=cache)
        assert b" 0 written" in proc.stdout, proc.stdout

    def raw() -> None:
        git(
            work,
            "format-patch",
            "-q",
            "-o",
            str(out),
            f"{base}..verda/{project}",
            env=user_git_env(),
        )

    verda_case = Case(f"verda export {label}", ours)
    git_case = Case(f"git format-patch {label}", raw, setup=lambda: rmtree(out))
    alternate([(verda_case, git_case)], repeat)
    after = git_out(repo, "status", "--porcelain")
    if before != after:
        raise RuntimeError(f"export changed the patch repo:\n{after}")
    return verda_case, git_case


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--count", type=int, default=400, help="patches in the series")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--real-repo", type=Path, help="also time a copy of this patch repo")
    parser.add_argument("--real-project", default="nova")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    args = parser.parse_args(argv)

    print(machine_line())
    rows = []
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        root = Path(tmp)
        base, tree = make_upstream(root / "upstream")
        series = make_series(root / "upstream", base, tree, root / "series", count=args.count)
        repo = write_patch_repo(
            root / "repo",
            project=PROJECT,
            upstream=str(root / "upstream"),
            base=base,
            patches=series.files,
        )
        cases = [
            (
                f"n={args.count}",
                compare(f"n={args.count}", repo, PROJECT, root / "cache", args.repeat, root),
            )
        ]
        if args.real_repo:
            copy = root / "real"
            shutil.copytree(args.real_repo, copy, ignore=shutil.ignore_patterns(".verda"))
            label = f"real {args.real_project}"
            cases.append(
                (
                    label,
                    compare(label, copy, args.real_project, root / "cache-real", args.repeat, root),
                )
            )
        for label, (ours, ref) in cases:
            rows.append(
                [
                    label,
                    seconds(ours.best),
                    seconds(ref.best),
                    f"{ours.best / ref.best:.2f}x",
                    f"{sum(ours.cpu) / len(ours.cpu):.2f}s",
                ]
            )
            results[label] = {
                "verda": ours.times,
                "git": ref.times,
                "verda_cpu": ours.cpu,
                "git_cpu": ref.cpu,
            }
            print(ratio_line("export", f"{label} idempotent", ours.best, ref.best, TARGET))
    print_table(
        f"export (best of {args.repeat})",
        ["series", "verda export", "git format-patch", "ratio", "verda cpu"],
        rows,
    )
    if args.json:
        save_results(args.json, "export", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
