#!/usr/bin/env python3
"""check: ``verda-patch check --junit`` against the raw git a CI script would run.

For each series (generated: 100 and 400 ``git format-patch`` files on an
upstream of a few hundred files; or ``--real-repo DIR``, an existing patch repo,
copied first) the cache is warmed once, then, best of ``--repeat`` with the
sides alternating:

  verda   verda-patch check --junit FILE       (config, series, parse, invariants,
                                                 apply in a scratch tree, export no-op)
  git     git worktree add --detach WT BASE; git am --3way FILES;
          git format-patch BASE..HEAD -o OUT; git worktree remove --force WT
          (from a warm bare mirror, with the user's own git config)

and, for the issue's yardstick "about one apply plus one export":

  apply+export   rm -rf the work tree; verda-patch apply; verda-patch export

Prints one ``RATIO`` line per comparison (see ``common.ratio_line``).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

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
class Setup:
    label: str
    repo: Path
    project: str
    cache: Path
    mirror: Path
    base: str
    files: list[Path]
    scratch: Path


def _series_files(repo: Path, project: str) -> list[Path]:
    """The patch files in apply order, as verda-patch orders them."""
    from verda_patch.config import load
    from verda_patch.store import Store

    return [e.path for e in Store(load(repo)).entries(project)]


def generated(work: Path, count: int, upstream: Path, base: str, tree: object) -> Setup:
    series = make_series(
        upstream,
        base,
        tree,
        work / f"series-{count}",  # type: ignore[arg-type]
        count=count,
    )
    repo = write_patch_repo(
        work / f"repo-{count}",
        project=PROJECT,
        upstream=str(upstream),
        base=base,
        patches=list(series.files),
    )
    return _setup(f"n={count}", work / f"w-{count}", repo, PROJECT, str(upstream), base)


def real(work: Path, source: Path, project: str) -> Setup:
    repo = work / "real-repo"
    rmtree(repo)
    shutil.copytree(source, repo, symlinks=True, ignore=shutil.ignore_patterns(".verda"))
    from verda_patch.config import load

    config = load(repo)
    proj = config.project(project)
    upstream = proj.upstream_location(config.root)
    return _setup(
        f"real {project} n={len(_series_files(repo, project))}",
        work / "w-real",
        repo,
        project,
        upstream,
        proj.commit,
    )


def _setup(label: str, work: Path, repo: Path, project: str, upstream: str, base: str) -> Setup:
    rmtree(work)
    work.mkdir(parents=True)
    cache = work / "cache"
    mirror = work / "raw" / "m.git"
    mirror.parent.mkdir()
    # a local clone hardlinks objects, as verda-patch's own mirror does
    git(work, "clone", "-q", "--bare", upstream, str(mirror))
    setup = Setup(
        label, repo, project, cache, mirror, base, _series_files(repo, project), work / "scratch"
    )
    verda(repo, "check", cache=cache)  # warm verda's cache: both sides start from a mirror
    return setup


def verda_check(s: Setup) -> None:
    verda(s.repo, "check", "--junit", str(s.scratch.with_suffix(".xml")), cache=s.cache)


def raw_git(s: Setup) -> None:
    env = user_git_env()
    wt = s.scratch / "wt"
    git(s.mirror, "worktree", "add", "-q", "--detach", str(wt), s.base, env=env)
    git(wt, "am", "-q", "--3way", *map(str, s.files), env=env)
    git(wt, "format-patch", "-q", "-o", str(s.scratch / "out"), f"{s.base}..HEAD", env=env)
    git(s.mirror, "worktree", "remove", "--force", str(wt), env=env)
    wait_for_gc(s.mirror)


def raw_reset(s: Setup) -> None:
    rmtree(s.scratch)
    s.scratch.mkdir(parents=True)
    git(s.mirror, "worktree", "prune")


def apply_export(s: Setup) -> None:
    verda(s.repo, "apply", s.project, cache=s.cache)
    verda(s.repo, "export", s.project, cache=s.cache, check=False)  # absent: apply alone


def drop_tree(s: Setup) -> None:
    rmtree(s.repo / ".verda" / "work" / s.project)
    rmtree(s.repo / ".verda" / "state")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,400")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--real-repo", type=Path, help="an existing patch repo (copied)")
    parser.add_argument("--real-project", default="nova")
    parser.add_argument("--no-generated", action="store_true")
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-check-"))
    work.mkdir(parents=True, exist_ok=True)
    print(machine_line())

    setups: list[Setup] = []
    if not args.no_generated:
        upstream = work / "upstream"
        base, tree = make_upstream(upstream)
        for count in (int(n) for n in args.sizes.split(",") if n):
            setups.append(generated(work, count, upstream, base, tree))
    if args.real_repo:
        setups.append(real(work, args.real_repo, args.real_project))

    rows = []
    results = []
    for s in setups:
        ours = Case(f"verda check {s.label}", lambda s=s: verda_check(s))
        ref = Case(f"git {s.label}", lambda s=s: raw_git(s), setup=lambda s=s: raw_reset(s))
        yard = Case(
            f"verda apply+export {s.label}",
            lambda s=s: apply_export(s),
            setup=lambda s=s: drop_tree(s),
        )
        alternate([(ours, ref)], args.repeat)
        for _ in range(args.repeat):
            yard.once()
        print(ratio_line("check", s.label, ours.best, ref.best))
        print(
            ratio_line("check", f"{s.label} vs apply+export", ours.best, yard.best).replace(
                "/ git", "/ apply+export"
            )
        )
        rows.append(
            (
                s.label,
                seconds(ours.best),
                seconds(ref.best),
                seconds(yard.best),
                f"{ours.best / ref.best:.2f}x",
                f"{ours.best / yard.best:.2f}x",
            )
        )
        results.append(
            {
                "label": s.label,
                "verda_check": ours.times,
                "raw_git": ref.times,
                "apply_export": yard.times,
            }
        )
    print_table(
        f"check --junit (best of {args.repeat})",
        ("series", "verda check", "raw git", "apply+export", "vs git", "vs a+e"),
        rows,
    )
    save_results(Path(__file__).parent / "results" / "check.json", "check", results)
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
