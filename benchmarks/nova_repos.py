#!/usr/bin/env python3
"""Build the two real-history patch repos the benchmarks use, from a clone of openstack/nova.

    git clone https://opendev.org/openstack/nova nova
    python benchmarks/nova_repos.py nova OUT            # both repos
    python benchmarks/nova_repos.py nova OUT --only backports

writes

  OUT/backports   the "backports repo": a patch repo pinned at 31.0.0 (with
                  ``verda-patch base set``) whose ``cherry-pick`` category holds
                  every non-merge commit of 31.0.0..stable/2025.1 (69 of them)
                  as ``git format-patch`` files, in order
  OUT/scale       the "scale repo": the same pin, and in ``cherry-pick`` the
                  first ``--scale-count`` (default 398) non-merge commits of
                  31.0.0..master that apply in sequence with plain ``git am``
                  (a commit that does not apply on the ones before it is left
                  out, as a downstream team would drop it)

Each is a git repository of its own with one commit, made with verda-patch's
own ``init`` and ``base set``; its ``upstream`` is the clone's absolute path,
so nothing touches the network. Run ``verda-patch --repo OUT/scale check`` to
see it is whole. The clone is only read (``format-patch``); filtering happens in
a scratch clone under OUT that is removed at the end. Commits of stable/2025.1
carry ``(cherry picked from commit …)`` lines, so the backports repo is also
what ``prune`` and ``check --against`` are measured on.

``applying_series`` is the filter ``bench_apply.py --real-upstream`` uses too.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import git, rmtree, verda

BASE = "31.0.0"
BACKPORTS_TIP = "stable/2025.1"
SCALE_TIP = "master"
SCALE_COUNT = 398
PROJECT = "nova"
CATEGORY = "cherry-pick"


def format_patches(upstream: Path, base: str, tip: str, out: Path) -> list[Path]:
    """Every non-merge commit of BASE..TIP as a ``git format-patch`` file, oldest first."""
    rmtree(out)
    git(upstream, "format-patch", "-q", "--no-merges", "-o", str(out), f"{base}..{tip}")
    return sorted(out.glob("*.patch"))


def applying_series(
    upstream: Path, base: str, tip: str, count: int | None, work: Path
) -> tuple[list[Path], list[Path]]:
    """(candidates, kept): the non-merge commits of BASE..TIP, and the first ``count``
    of them that apply in order with plain ``git am`` (all that do when ``count`` is None).

    The files live under ``work/series``; the scratch clone that tries them
    (``work/filter``, sharing the upstream's objects) is left for the caller to
    delete when it suits it (see bench_apply's Setup on deleting many files).
    """
    candidates = format_patches(upstream, base, tip, work / "series")
    scratch = work / "filter"
    rmtree(scratch)
    git(work, "clone", "-q", "--shared", "--no-checkout", str(upstream), str(scratch))
    git(scratch, "checkout", "-q", "--detach", f"{base}^{{commit}}")
    skipped: set[int] = set()
    proc = git(scratch, "am", "--keep-non-patch", *map(str, candidates), check=False)
    while proc.returncode:
        stopped = int((scratch / ".git" / "rebase-apply" / "next").read_text())
        skipped.add(stopped - 1)
        proc = git(scratch, "am", "--skip", check=False)
    kept = [p for i, p in enumerate(candidates) if i not in skipped]
    return candidates, kept if count is None else kept[:count]


def build_repo(root: Path, upstream: Path, base: str, patches: Sequence[Path], cache: Path) -> Path:
    """A patch repo at ``root`` pinned at ``base`` with ``patches`` in cherry-pick/, committed."""
    rmtree(root)
    root.mkdir(parents=True)
    git(root, "init", "-q")
    verda(root, "init", cache=cache)
    verda(root, "base", "set", PROJECT, base, "--upstream", str(upstream), cache=cache)
    folder = root / "patches" / PROJECT / CATEGORY
    folder.mkdir(parents=True, exist_ok=True)
    width = max(4, len(str(len(patches))))
    for i, source in enumerate(patches, 1):
        # renumbered: a filtered series stays 0001..N
        slug = re.sub(r"^\d+-", "", source.name)
        shutil.copyfile(source, folder / f"{i:0{width}d}-{slug}")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", f"{PROJECT} {base} with {len(patches)} patches")
    return root


def user_cache() -> Path:
    """verda-patch's cache as the user has it: $VERDA_PATCH_CACHE, else the XDG default."""
    if os.environ.get("VERDA_PATCH_CACHE"):
        return Path(os.environ["VERDA_PATCH_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "verda-patch"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("nova", type=Path, help="a clone of openstack/nova (only read)")
    parser.add_argument("out", type=Path, help="where to write backports/ and scale/")
    parser.add_argument("--only", choices=("backports", "scale"), help="build only this one")
    parser.add_argument("--base", default=BASE, help="the pinned tag (default %(default)s)")
    parser.add_argument("--backports-tip", default=BACKPORTS_TIP)
    parser.add_argument("--scale-tip", default=SCALE_TIP)
    parser.add_argument("--scale-count", type=int, default=SCALE_COUNT)
    parser.add_argument(
        "--cache",
        type=Path,
        help="verda-patch's cache for base set (default: $VERDA_PATCH_CACHE or the usual one)",
    )
    args = parser.parse_args(argv)
    upstream = args.nova.resolve()
    out = args.out.resolve()
    cache = args.cache.resolve() if args.cache else user_cache()
    out.mkdir(parents=True, exist_ok=True)
    work = out / ".build"
    rmtree(work)
    work.mkdir()
    try:
        if args.only in (None, "backports"):
            files = format_patches(upstream, args.base, args.backports_tip, work / "backports")
            repo = build_repo(out / "backports", upstream, args.base, files, cache)
            print(f"{repo}: {len(files)} patches ({args.base}..{args.backports_tip})")
        if args.only in (None, "scale"):
            candidates, kept = applying_series(
                upstream, args.base, args.scale_tip, args.scale_count, work
            )
            repo = build_repo(out / "scale", upstream, args.base, kept, cache)
            print(
                f"{repo}: {len(kept)} patches, the first that apply in order of "
                f"{len(candidates)} non-merge commits in {args.base}..{args.scale_tip}"
            )
    finally:
        rmtree(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
