#!/usr/bin/env python3
"""check at scale: ``verda-patch check`` on 1,000 and 5,000 (``--huge``: 20,000)
generated patches, against the raw git of the same work, in the same run.

One series of the largest size is generated (``common.make_series``) and each
size is a prefix of it. Per size, the cache is warmed once, then, best of
``--repeat`` with the sides alternating:

  verda   verda-patch check --junit FILE
  git     git worktree add --detach WT BASE; git am < MBOX (the same files);
          git format-patch BASE..HEAD -o OUT; git worktree remove --force WT

Growth is shown as seconds per 1,000 patches for each size: linear time keeps
that figure flat as the series grows (issue 18 measured 2.5k: 30 s, 5k: 80 s,
20k: > 580 s before). Prints one ``RATIO`` line per size.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_check import raw_reset  # the same scratch/mirror reset
from common import (
    Case,
    alternate,
    git,
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
    wait_for_gc,
    write_patch_repo,
)

PROJECT = "bench"


@dataclass
class Size:
    count: int
    repo: Path
    cache: Path
    mirror: Path
    mbox: Path
    scratch: Path
    base: str


def prepare(work: Path, count: int, upstream: Path, base: str, files: list[Path]) -> Size:
    repo = write_patch_repo(
        work / f"repo-{count}", project=PROJECT, upstream=str(upstream), base=base, patches=files
    )
    side = work / f"w-{count}"
    rmtree(side)
    side.mkdir(parents=True)
    mirror = side / "raw.git"
    git(side, "clone", "-q", "--bare", str(upstream), str(mirror))
    mbox = side / "series.mbox"
    with mbox.open("wb") as out:  # 20,000 file names overflow an argument list
        for path in files:
            out.write(path.read_bytes())
    size = Size(count, repo, side / "cache", mirror, mbox, side / "scratch", base)
    verda(repo, "check", cache=size.cache)  # warm: both sides start from a local mirror
    return size


def verda_check(s: Size) -> None:
    verda(s.repo, "check", "--junit", str(s.scratch.with_suffix(".xml")), cache=s.cache)


def raw_git(s: Size) -> None:
    env = user_git_env()
    wt = s.scratch / "wt"
    git(s.mirror, "worktree", "add", "-q", "--detach", str(wt), s.base, env=env)
    git(wt, "am", "-q", "--keep-non-patch", input=s.mbox.read_bytes(), env=env)
    git(wt, "format-patch", "-q", "-o", str(s.scratch / "out"), f"{s.base}..HEAD", env=env)
    git(s.mirror, "worktree", "remove", "--force", str(wt), env=env)
    wait_for_gc(s.mirror)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,5000", help="comma-separated patch counts")
    parser.add_argument("--huge", action="store_true", help="add 20,000 patches (minutes)")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    sizes = sorted({int(n) for n in args.sizes.split(",") if n} | ({20000} if args.huge else set()))
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-check-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    print(machine_line())

    upstream = work / "upstream"
    base, tree = make_upstream(upstream)
    series = make_series(upstream, base, tree, work / "series", count=max(sizes))
    rows, results = [], []
    for count in sizes:
        s = prepare(work, count, upstream, base, list(series.files[:count]))
        ours = Case(f"verda check n={count}", lambda s=s: verda_check(s))
        ref = Case(f"git n={count}", lambda s=s: raw_git(s), setup=lambda s=s: raw_reset(s))
        alternate([(ours, ref)], args.repeat)
        print(ratio_line("check-scale", f"n={count}", ours.best, ref.best), flush=True)
        rows.append(
            (
                f"n={count}",
                seconds(ours.best),
                seconds(ref.best),
                f"{ours.best / ref.best:.2f}x",
                f"{ours.best / count * 1000:.1f} s",
                f"{ref.best / count * 1000:.1f} s",
            )
        )
        results.append({"count": count, "verda_check": ours.times, "raw_git": ref.times})
        rmtree(s.repo)
        rmtree(s.scratch.parent)
    print_table(
        f"check --junit at scale (best of {args.repeat})",
        ("series", "verda check", "raw git", "vs git", "verda /1k", "git /1k"),
        rows,
    )
    save_results(Path(__file__).parent / "results" / "check_scale.json", "check-scale", results)
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
