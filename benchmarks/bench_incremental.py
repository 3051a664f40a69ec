#!/usr/bin/env python3
"""incremental: re-applying after a change against a raw full ``git am``, in one run.

For each series (a generated 1,000-patch one and, with ``--real-upstream``, the
first ``--real-count`` commits of BASE..TIP of a real upstream that apply in
order, cut exactly as ``bench_apply.py`` cuts them), after one untimed apply:

  unchanged     ``verda-patch apply`` with nothing changed
  edit last     after a new edit of the last patch's subject (each round another edit)
  edit middle   after a new edit of the patch in the middle
  edit first    after a new edit of the first patch
  git am        the reference: ``git reset --hard BASE; git am FILES`` in an existing
                work tree (raw git, the user's config), the whole series

and ``check`` right after ``apply`` (nothing changed) against ``check`` with
the prefix cache and the export memo emptied first (every commit built and
compared again, as before prefixes); also the first ``check`` of a state
(prefixes kept, the export memo emptied) against the same reference.
With ``--remote`` also: a second cache whose only source of prefixes is a
``prefix-remote`` the first one pushed to, building the series there (counts
the ``git am`` runs: the target is none).

    python benchmarks/bench_incremental.py --real-upstream ~/src/nova --real-base 31.0.0
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_apply import (
    Setup,
    raw_clone,
    raw_new,
    raw_rebuild,
    raw_worktree_am,
    real_series,
    synthetic,
    verda_apply,
    verda_fresh,
)
from common import (
    Case,
    alternate,
    git,
    git_out,
    machine_line,
    print_table,
    ratio_line,
    save_results,
    seconds,
    verda,
    verda_argv,
    wait_for_gc,
)

TARGETS = {"unchanged": 0.05, "edit last": 0.1, "edit middle": 0.6, "edit first": 1.1}
CHECK_TARGET = 0.2


class Edits:
    """A new edit of one patch file's subject each time (so nothing is cached for it)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, path: Path) -> None:
        self.count += 1
        data = path.read_bytes()
        data, n = re.subn(
            rb"^(Subject: .*?)(?: \(edit \d+\))?$",
            rb"\1 (edit %d)" % self.count,
            data,
            count=1,
            flags=re.MULTILINE,
        )
        if not n:
            raise RuntimeError(f"{path}: no Subject line to edit")
        path.write_bytes(data)


def patch_files(s: Setup) -> list[Path]:
    assert s.cur_repo
    folder = s.cur_repo / "patches" / s.project
    return sorted(folder.glob("*/*.patch"))


def ams_in(stderr: bytes) -> int:
    return sum(1 for line in stderr.decode().splitlines() if "verda_patch.git: git am " in line)


def measure(s: Setup, repeat: int) -> dict[str, list[float]]:
    verda_fresh(s)
    verda_apply(s)  # untimed: the series' prefixes are in the cache
    raw_new(s)
    raw_clone(s)
    raw_worktree_am(s)
    wait_for_gc(s.mirror)
    edit = Edits()
    files = patch_files(s)

    def edited(index: int) -> Case:
        return Case(
            f"edit {['first', 'middle', 'last'][index]}",
            lambda: verda_apply(s),
            setup=lambda: edit(files[[0, len(files) // 2, -1][index]]),
        )

    def reference(name: str) -> Case:
        return Case(name, lambda: raw_rebuild(s), after=lambda: wait_for_gc(s.mirror))

    pairs = [
        (Case("unchanged", lambda: verda_apply(s)), reference("git am (unchanged)")),
        (edited(2), reference("git am (edit last)")),
        (edited(1), reference("git am (edit middle)")),
        (edited(0), reference("git am (edit first)")),
    ]
    alternate(pairs, repeat)

    # no `git am` at all when nothing changed: counted from -v's log of git calls
    assert s.cur_repo and s.cur_cache
    proc = verda(s.cur_repo, "-v", "apply", s.project, cache=s.cur_cache)
    if ams_in(proc.stderr):
        raise RuntimeError(f"{s.label}: an unchanged re-apply ran git am")

    mirror = next(s.cur_cache.glob("*.git"))

    def empty_prefix_cache() -> None:
        refs = git_out(mirror, "for-each-ref", "--format=%(refname)", "refs/verda/prefix/")
        stdin = "".join(f"delete {r}\n" for r in refs.splitlines()).encode()
        git(mirror, "update-ref", "--stdin", input=stdin)
        assert s.cur_repo
        (s.cur_repo / ".verda" / "mail-digests.json").unlink(missing_ok=True)
        (mirror / "verda-export-memo").unlink(missing_ok=True)

    def apply_then_forget_export() -> None:
        # the first check of a series state: prefixes built, no export verdict yet
        verda_apply(s)
        (mirror / "verda-export-memo").unlink(missing_ok=True)

    def check() -> None:
        assert s.cur_repo and s.cur_cache
        verda(s.cur_repo, "check", s.project, cache=s.cur_cache)

    check_pair = (
        Case("check after apply", check, setup=lambda: verda_apply(s)),
        Case("check, prefixes emptied", check, setup=empty_prefix_cache),
    )
    first_pair = (
        Case("first check after apply", check, setup=apply_then_forget_export),
        check_pair[1],
    )
    alternate([check_pair, first_pair], repeat)
    out = {c.name: c.times for pair in [*pairs, check_pair, first_pair] for c in pair}
    return out


def remote_run(s: Setup) -> dict[str, object]:
    """A second cache fed only by a prefix-remote: how many git am runs it needs."""
    assert s.cur_repo and s.cur_cache
    # a remote that holds the upstream's history, as a CI fleet's would (an
    # internal mirror of the upstream): pushes then carry only the prefixes
    remote = s.fresh("prefix-remote.git")
    git(remote.parent, "clone", "-q", "--bare", s.upstream, str(remote))
    settings = s.cur_repo / "verda-patch.yaml"
    settings.write_text(f"prefix-remote: {remote}\n")
    # the first machine: its apply pushes what it has built
    verda(s.cur_repo, "apply", "--force", s.project, cache=s.cur_cache)
    pushed = len(git_out(remote, "for-each-ref", "refs/verda/prefix/").splitlines())
    second = s.fresh("second-machine")
    shutil.copytree(s.cur_repo, second, ignore=shutil.ignore_patterns(".verda"))
    cache2 = s.fresh("second-cache")
    import time

    started = time.perf_counter()
    proc = verda(second, "-v", "apply", s.project, cache=cache2)
    took = time.perf_counter() - started
    settings.unlink()
    head1 = git_out(s.verda_tree, "rev-parse", "HEAD")
    head2 = git_out(second / ".verda" / "work" / s.project, "rev-parse", "HEAD")
    return {
        "pushed_refs": pushed,
        "git_am_runs": ams_in(proc.stderr),
        "seconds": took,
        "same_head": head1 == head2,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=1000, help="generated series length")
    parser.add_argument("--repeat", type=int, default=3, help="best of N (default %(default)s)")
    parser.add_argument("--files", type=int, default=400, help="files in the generated upstream")
    parser.add_argument("--history", type=int, default=40, help="commits in the upstream")
    parser.add_argument("--workdir", type=Path, help="keep the generated repos here")
    parser.add_argument("--no-synthetic", action="store_true", help="only the real series")
    parser.add_argument("--real-upstream", type=Path, help="a local clone of a real upstream")
    parser.add_argument("--real-base", default="31.0.0")
    parser.add_argument("--real-tip", default="master")
    parser.add_argument("--real-count", type=int, default=398)
    parser.add_argument("--remote", action="store_true", help="also the prefix-remote run")
    parser.add_argument(
        "--results",
        type=Path,
        default=Path(__file__).resolve().parent / "results" / "incremental.json",
    )
    args = parser.parse_args(argv)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="verda-bench-incremental-"))
    work.mkdir(parents=True, exist_ok=True)
    print(machine_line())
    print(f"command: {' '.join(verda_argv())}; work dir {work}", flush=True)
    os.environ.pop("VERDA_PATCH_UNTRUSTED", None)
    setups: list[Setup] = []
    if not args.no_synthetic:
        setups += synthetic(work, [args.size], args.files, args.history)
    if args.real_upstream:
        setups.append(
            real_series(
                work, args.real_upstream.resolve(), args.real_base, args.real_tip, args.real_count
            )
        )
    results: dict[str, object] = {}
    rows, lines = [], []
    for s in setups:
        times = measure(s, args.repeat)
        b = {k: min(v) for k, v in times.items()}
        entry: dict[str, object] = {"patches": len(s.files), "times": times}
        row = [s.label]
        for kind, target in TARGETS.items():
            ref = b[f"git am ({kind})"]
            row += [seconds(b[kind]), seconds(ref), f"{b[kind] / ref:.2f}x"]
            lines.append(ratio_line("incremental", f"{s.label} {kind}", b[kind], ref, target))
        ours, cold = b["check after apply"], b["check, prefixes emptied"]
        row += [seconds(ours), seconds(cold), f"{ours / cold:.2f}x"]
        first = b["first check after apply"]
        lines.append(
            f"RATIO incremental {s.label} first check after apply (no export verdict "
            f"kept): verda {first:.3f}s / check-without-prefixes {cold:.3f}s = "
            f"{first / cold:.2f}x"
        )
        verdict = "ok" if ours / cold <= CHECK_TARGET else "MISSED"
        lines.append(
            f"RATIO incremental {s.label} check after apply: verda {ours:.3f}s / "
            f"check-without-prefixes {cold:.3f}s = {ours / cold:.2f}x "
            f"(target <= {CHECK_TARGET:g}x) {verdict}"
        )
        if args.remote:
            remote = remote_run(s)
            entry["remote"] = remote
            lines.append(
                f"REMOTE incremental {s.label}: second cache fed by prefix-remote built "
                f"{len(s.files)} patches with {remote['git_am_runs']} git am runs in "
                f"{remote['seconds']:.2f}s; same head: {remote['same_head']}"
            )
        results[s.label] = entry
        rows.append(row)
        print(f"  {s.label}: done", flush=True)
    header = ["series"]
    for kind in (*TARGETS, "check"):
        header += [kind, "reference", "ratio"]
    print_table(f"incremental re-apply, wall clock, best of {args.repeat}", header, rows)
    print()
    for line in lines:
        print(line)
    save_results(args.results, "incremental", results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
