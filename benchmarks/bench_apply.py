#!/usr/bin/env python3
"""apply: ``verda-patch apply`` against raw ``git clone --mirror`` + ``worktree add`` + ``am``.

Builds a generated upstream (a few hundred files, some history) and a series of
100 / 400 / 1,000 ``git format-patch`` files on it, writes each as a patch repo,
then times, in the same run, best of ``--repeat`` with the two sides alternating:

  cold          verda: fresh $VERDA_PATCH_CACHE and no work tree
                git:   git clone --mirror UPSTREAM; git worktree add -b B WT BASE; git am FILES
  warm rebuild  verda: mirror cached, work tree present and clean (re-apply)
                git:   git reset --hard BASE; git am FILES          (in the existing work tree)
  warm new      verda: mirror cached, work tree removed
                git:   git worktree add -b B WT BASE; git am FILES  (from an existing mirror
                       that does not hold the series' objects yet, like verda's cache)

Raw git runs with the user's own config and defaults. Also timed: start-up
(``verda-patch --help``, ``import verda_patch.cli``, ``git --version``), and with
``--profile`` where the Python side of an apply spends its time.

``--real-upstream NOVA --real-base 31.0.0`` (NOVA: a clone of openstack/nova)
adds a series cut from real history (``format-patch --no-merges BASE..TIP``,
keeping the first ``--real-count`` that apply in order with plain ``git am``:
``nova_repos.applying_series``, the same series as nova_repos.py's scale repo); ``--real-repo DIR``
times an existing patch repo (copied first; the original is never touched).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    Case,
    alternate,
    git_out,
    machine_line,
    make_series,
    make_upstream,
    print_table,
    python_env,
    ratio_line,
    rmtree,
    save_results,
    seconds,
    target_line,
    user_git_env,
    verda,
    verda_argv,
    wait_for_gc,
    write_patch_repo,
)
from nova_repos import applying_series

PROJECT = "bench"
TARGET = 1.2
HELP_TARGET = 0.3


@dataclass
class Setup:
    """One patch repo and everything both sides need to apply it.

    Every timed run works in directories of its own under ``runs`` (a copy of
    the patch repo, a cache, a raw git dir), and nothing is deleted until the
    bench ends: on a journal-less ext4 (the benchmark machine's disk) creating files where
    thousands were just deleted is up to 10x slower for minutes (the kernel's
    ``recently_deleted()`` scan), so deleting and re-creating in place would
    time the file system, and unevenly.
    """

    label: str  # "n=400", "real nova n=400"
    repo: Path  # the patch repo as built; runs use copies
    project: str
    runs: Path
    upstream: str
    base: str
    files: list[Path]  # patch files in apply order, absolute
    count: int = 0
    cur_repo: Path | None = None
    cur_cache: Path | None = None
    cur_raw: Path | None = None

    def fresh(self, kind: str) -> Path:
        self.count += 1
        return self.runs / f"{kind}-{self.count}"

    @property
    def mirror(self) -> Path:
        assert self.cur_raw
        return self.cur_raw / "m.git"

    @property
    def wt(self) -> Path:
        assert self.cur_raw
        return self.cur_raw / "wt"

    @property
    def project_branch(self) -> str:
        return f"verda/{self.project}"

    @property
    def verda_tree(self) -> Path:
        assert self.cur_repo
        return self.cur_repo / ".verda" / "work" / self.project


# --- the two sides ----------------------------------------------------------------------


def raw_git(cwd: Path, *args: str) -> None:
    """Raw git as the user types it: user config, output thrown away like a terminal would."""
    proc = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env=user_git_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        check=False,
    )
    if proc.returncode:
        raise RuntimeError(
            f"git {' '.join(args[:3])} ... failed in {cwd}:\n"
            + proc.stderr.decode("utf-8", "replace")[-1500:]
        )


def raw_new(s: Setup) -> None:
    s.cur_raw = s.fresh("git")
    s.cur_raw.mkdir(parents=True)


def raw_clone(s: Setup) -> None:
    assert s.cur_raw
    raw_git(s.cur_raw, "clone", "--mirror", s.upstream, str(s.mirror))


def raw_worktree_am(s: Setup) -> None:
    raw_git(s.mirror, "worktree", "add", "-b", s.project_branch, str(s.wt), s.base)
    raw_git(s.wt, "am", *map(str, s.files))


def raw_rebuild(s: Setup) -> None:
    raw_git(s.wt, "reset", "--hard", "--quiet", s.base)
    raw_git(s.wt, "am", *map(str, s.files))


def verda_new_repo(s: Setup) -> None:
    s.cur_repo = s.fresh("verda")
    shutil.copytree(s.repo, s.cur_repo, ignore=shutil.ignore_patterns(".verda"))


def verda_apply(s: Setup) -> None:
    assert s.cur_repo and s.cur_cache
    verda(s.cur_repo, "apply", s.project, cache=s.cur_cache)


def verda_fresh(s: Setup) -> None:
    verda_new_repo(s)
    s.cur_cache = s.fresh("cache")


def cases(s: Setup) -> list[tuple[Case, Case]]:
    settle = lambda: wait_for_gc(s.mirror)  # noqa: E731 - raw am's detached gc --auto
    return [
        (
            Case("verda cold", lambda: verda_apply(s), setup=lambda: verda_fresh(s)),
            Case(
                "git cold",
                lambda: (raw_clone(s), raw_worktree_am(s)),
                setup=lambda: raw_new(s),
                after=settle,
            ),
        ),
        (
            Case("verda warm rebuild", lambda: verda_apply(s)),
            Case("git warm rebuild", lambda: raw_rebuild(s), after=settle),
        ),
        (
            # the cache of the cold run stays; the patch repo is a new copy without .verda/
            Case("verda warm new tree", lambda: verda_apply(s), setup=lambda: verda_new_repo(s)),
            # a mirror as fresh as verda's cache: without the series' objects from earlier
            # rounds, so git am has to write them just as verda's new work tree does
            Case(
                "git warm new tree",
                lambda: raw_worktree_am(s),
                setup=lambda: (raw_new(s), raw_clone(s)),
                after=settle,
            ),
        ),
    ]


def same_tree(s: Setup) -> None:
    """Both sides built the same tree (checked outside the timings)."""
    ours = git_out(s.verda_tree, "rev-parse", "HEAD^{tree}")
    theirs = git_out(s.wt, "rev-parse", "HEAD^{tree}")
    count = int(git_out(s.verda_tree, "rev-list", "--count", f"{s.base}..HEAD"))
    if ours != theirs or count != len(s.files):
        raise RuntimeError(
            f"{s.label}: verda tree {ours} ({count} commits) "
            f"!= git tree {theirs} ({len(s.files)} patches)"
        )


def measure(s: Setup, repeat: int) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """(wall seconds, children's CPU seconds) per case, one entry per round."""
    pairs = cases(s)
    # one untimed round first: bytecode cache, page cache of the upstream, both sides
    for ours, ref in pairs[:1]:
        ours.once()
        ref.once()
        ours.times.clear(), ours.cpu.clear(), ref.times.clear(), ref.cpu.clear()
    alternate(pairs, repeat)
    same_tree(s)
    every = [case for pair in pairs for case in pair]
    return {c.name: c.times for c in every}, {c.name: c.cpu for c in every}


# --- start-up ---------------------------------------------------------------------------


def startup(repeat: int) -> dict[str, list[float]]:
    null = subprocess.DEVNULL
    env, no_pyc = python_env(), python_env(bytecode=False)
    runs = [
        Case(
            "verda-patch --help",
            lambda: subprocess.run([*verda_argv(), "--help"], stdout=null, env=env, check=True),
        ),
        Case(
            "python -c 'import verda_patch.cli'",
            lambda: subprocess.run(
                [sys.executable, "-c", "import verda_patch.cli"], env=env, check=True
            ),
        ),
        Case(
            "python -c pass",
            lambda: subprocess.run([sys.executable, "-c", "pass"], env=env, check=True),
        ),
        Case(
            "git --version", lambda: subprocess.run(["git", "--version"], stdout=null, check=True)
        ),
        Case(
            "verda-patch --help, PYTHONDONTWRITEBYTECODE=1",
            lambda: subprocess.run([*verda_argv(), "--help"], stdout=null, env=no_pyc, check=True),
        ),
    ]
    runs[0].once()  # writes the bytecode cache; not counted
    runs[0].times.clear()
    runs[0].cpu.clear()
    for _ in range(repeat):
        for case in runs:
            case.once()
    return {case.name: case.times for case in runs}


HEAVY = ("rich", "git", "unidiff", "yaml", "verda_patch.patchfile", "verda_patch.apply")


def heavy_imports_for_help() -> list[str]:
    """Top-level packages of HEAVY that ``verda-patch --help`` imports (should be none)."""
    code = (
        "import sys\n"
        "from verda_patch.cli import cli\n"
        "try:\n"
        "    cli(['--help'], prog_name='verda-patch')\n"
        "except SystemExit:\n"
        "    pass\n"
        f"heavy = {HEAVY!r}\n"
        "found = sorted({m for m in sys.modules for h in heavy if m == h or m.startswith(h + '.')})\n"
        "sys.stderr.write(' '.join(found))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return proc.stderr.split()


# --- profile ----------------------------------------------------------------------------


def profile(s: Setup) -> dict[str, object]:
    """Where the Python side of a warm apply goes: parse (unidiff share), mailbox, git calls."""
    import cProfile
    import io
    import logging
    import pstats
    import time

    from verda_patch import apply as engine
    from verda_patch import config as vconfig
    from verda_patch import patchfile
    from verda_patch.store import Store

    assert s.cur_repo and s.cur_cache  # the last measured run's: mirror and work tree exist
    os.environ["VERDA_PATCH_CACHE"] = str(s.cur_cache)
    verda_apply(s)
    cfg = vconfig.load(s.cur_repo)

    # the diff's file list: unidiff in `_files` (first parser), `_scan_diff` (native one)
    spent = {"files": 0.0}
    scanner = next((n for n in ("_files", "_scan_diff") if hasattr(patchfile, n)), None)
    real_scan = getattr(patchfile, scanner) if scanner else None
    if scanner and real_scan:

        def timed_scan(*args: object, **kwargs: object) -> object:
            started = time.perf_counter()
            try:
                return real_scan(*args, **kwargs)
            finally:
                spent["files"] += time.perf_counter() - started

        setattr(patchfile, scanner, timed_scan)
    started = time.perf_counter()
    patches = Store(cfg).load(s.project)
    load = time.perf_counter() - started
    started = time.perf_counter()
    files_touched = sum(len(p.files) for p in patches)  # forces lazy parsing, if any
    lazy_files = time.perf_counter() - started
    if scanner and real_scan:
        setattr(patchfile, scanner, real_scan)
    started = time.perf_counter()
    size = sum(len(m) for m in engine.mailbox(patches))
    mailbox = time.perf_counter() - started

    calls: list[str] = []

    class Count(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            calls.append(str(record.args[0]).split()[0] if record.args else record.getMessage())

    logger = logging.getLogger("verda_patch.git")
    handler = Count(level=logging.DEBUG)
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.DEBUG)
    prof = cProfile.Profile()
    started = time.perf_counter()
    prof.enable()
    engine.apply_project(cfg, s.project)
    prof.disable()
    total = time.perf_counter() - started
    logger.removeHandler(handler)
    logger.setLevel(old_level)
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(18)
    by_cmd: dict[str, int] = {}
    for name in calls:
        by_cmd[name] = by_cmd.get(name, 0) + 1
    return {
        "patches": len(patches),
        "load_s": load,
        "file_list_s": spent["files"] + lazy_files,
        "file_list_parser": f"patchfile.{scanner}" if scanner else "?",
        "files_touched": files_touched,
        "mailbox_s": mailbox,
        "mailbox_bytes": size,
        "apply_in_process_s": total,
        "git_calls": by_cmd,
        "gitpython_loaded": "git" in sys.modules,
        "cprofile": out.getvalue(),
    }


# --- building the inputs ----------------------------------------------------------------


def fresh_dir(path: Path) -> Path:
    """An empty directory (what an earlier run with the same --workdir left goes first)."""
    rmtree(path)
    path.mkdir(parents=True)
    return path


def synthetic(work: Path, sizes: Sequence[int], files: int, history: int) -> list[Setup]:
    upstream = work / "upstream"
    base, tree = make_upstream(upstream, files=files, history=history)
    series = make_series(upstream, base, tree, work / "series", count=max(sizes))
    print(
        f"generated upstream: {files} files, {history} commits; series of {max(sizes)}: "
        + ", ".join(f"{v} {k}" for k, v in series.kinds.items()),
        flush=True,
    )
    out = []
    for n in sizes:
        repo = write_patch_repo(
            work / f"repo-{n}",
            project=PROJECT,
            upstream=str(upstream),
            base=base,
            patches=series.files[:n],
            ref="base",
        )
        out.append(
            Setup(
                f"n={n}",
                repo,
                PROJECT,
                fresh_dir(work / f"runs-{n}"),
                str(upstream),
                base,
                ordered_files(repo, PROJECT),
            )
        )
    return out


def ordered_files(repo: Path, project: str) -> list[Path]:
    """The patch files in verda-patch's apply order (raw git am gets the same list)."""
    from verda_patch import config as vconfig
    from verda_patch.store import Store

    return [e.path.resolve() for e in Store(vconfig.load(repo)).entries(project)]


def real_series(work: Path, upstream: Path, base: str, tip: str, count: int) -> Setup:
    """The first ``count`` non-merge commits of BASE..TIP that apply in order with plain am."""
    candidates, kept = applying_series(upstream, base, tip, count, work / "real")
    print(
        f"real series: {len(candidates)} non-merge commits in {base}..{tip}, "
        f"keeping the first {len(kept)} that apply in order",
        flush=True,
    )
    commit = git_out(upstream, "rev-parse", f"{base}^{{commit}}")
    repo = write_patch_repo(
        work / "repo-real",
        project="nova",
        upstream=str(upstream),
        base=commit,
        patches=kept,
        category="cherry-pick",
        ref=base,
    )
    # the filter clone stays until the end: deleting 4,600 files now would slow
    # down the file creation of the runs that follow (see Setup)
    return Setup(
        f"real nova n={len(kept)}",
        repo,
        "nova",
        fresh_dir(work / "runs-real"),
        str(upstream),
        commit,
        ordered_files(repo, "nova"),
    )


def real_repo(work: Path, source: Path) -> Setup:
    from verda_patch import config as vconfig

    repo = work / f"copy-{source.name}"
    rmtree(repo)
    shutil.copytree(source, repo, ignore=shutil.ignore_patterns(".verda"))
    cfg = vconfig.load(repo)
    (project,) = cfg.projects.values()
    files = ordered_files(repo, project.name)
    return Setup(
        f"{source.name} n={len(files)}",
        repo,
        project.name,
        fresh_dir(work / f"runs-{source.name}"),
        project.upstream_location(repo),
        project.commit,
        files,
    )


# --- main -------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--sizes", default="100,400,1000", help="series lengths (default %(default)s)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="best of N (default %(default)s)")
    parser.add_argument("--files", type=int, default=400, help="files in the upstream")
    parser.add_argument("--history", type=int, default=40, help="commits in the upstream")
    parser.add_argument("--workdir", type=Path, help="keep the generated repos here")
    parser.add_argument(
        "--results",
        type=Path,
        default=Path(__file__).resolve().parent / "results" / "apply.json",
        help="write the figures as JSON here (read by plot.py)",
    )
    parser.add_argument("--no-synthetic", action="store_true", help="only the real series")
    parser.add_argument("--real-upstream", type=Path, help="a local clone of a real upstream")
    parser.add_argument("--real-base", default="31.0.0")
    parser.add_argument("--real-tip", default="master")
    parser.add_argument("--real-count", type=int, default=398)
    parser.add_argument(
        "--real-repo",
        type=Path,
        action="append",
        default=[],
        help="an existing patch repo to time (copied; may repeat)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also profile the Python side of a warm apply of the largest series",
    )
    args = parser.parse_args(argv)
    sizes = sorted(int(n) for n in args.sizes.split(",") if n)

    work = args.workdir or Path(tempfile.mkdtemp(prefix="verda-bench-apply-"))
    work.mkdir(parents=True, exist_ok=True)
    print(machine_line())
    print(f"command: {' '.join(verda_argv())}; work dir {work}", flush=True)
    try:
        setups: list[Setup] = []
        if not args.no_synthetic:
            setups += synthetic(work, sizes, args.files, args.history)
        if args.real_upstream:
            setups.append(
                real_series(
                    work,
                    args.real_upstream.resolve(),
                    args.real_base,
                    args.real_tip,
                    args.real_count,
                )
            )
        for source in args.real_repo:
            setups.append(real_repo(work, source.resolve()))

        results: dict[str, object] = {}
        rows = []
        lines = []
        cpu_rows = []
        kinds = ("cold", "warm rebuild", "warm new tree")
        for s in setups:
            times, cpu = measure(s, args.repeat)
            results[s.label] = {"patches": len(s.files), "times": times, "cpu": cpu}
            b = {k: min(v) for k, v in times.items()}
            c = {k: min(v) for k, v in cpu.items()}
            row, cpu_row = [s.label], [s.label]
            for kind in kinds:
                v, g = b[f"verda {kind}"], b[f"git {kind}"]
                row += [seconds(v), seconds(g), f"{v / g:.2f}x"]
                v, g = c[f"verda {kind}"], c[f"git {kind}"]
                cpu_row += [seconds(v), seconds(g), f"{v / g:.2f}x"]
                lines.append(
                    ratio_line(
                        "apply", f"{s.label} {kind}", b[f"verda {kind}"], b[f"git {kind}"], TARGET
                    )
                )
            rows.append(row)
            cpu_rows.append(cpu_row)
            print(f"  {s.label}: done", flush=True)
        header = [
            "series",
            "verda cold",
            "git cold",
            "ratio",
            "verda rebuild",
            "git rebuild",
            "ratio",
            "verda new tree",
            "git new tree",
            "ratio",
        ]
        print_table(f"apply, wall clock, best of {args.repeat}", header, rows)
        print_table(
            f"apply, CPU time of the processes started (user+sys), best of {args.repeat}",
            header,
            cpu_rows,
        )

        up = startup(max(10, args.repeat))
        results["startup"] = up
        print_table(
            f"start-up, best of {max(10, args.repeat)}",
            ["command", "best", "median"],
            [[k, seconds(min(v)), seconds(sorted(v)[len(v) // 2])] for k, v in up.items()],
        )
        heavy = heavy_imports_for_help()
        print(f"heavy modules imported by --help: {', '.join(heavy) or 'none'}")
        print()
        for line in lines:
            print(line)
        help_best = min(up["verda-patch --help"])
        print(ratio_line("startup", "--help vs git --version", help_best, min(up["git --version"])))
        print(target_line("startup", "verda-patch --help", help_best, HELP_TARGET))

        if args.profile and setups:
            largest = max(setups, key=lambda x: len(x.files) if x.label.startswith("n=") else 0)
            prof = profile(largest)
            results["profile"] = {k: v for k, v in prof.items() if k != "cprofile"}
            print(f"\nprofile of a warm apply, {largest.label} (in-process):")
            print(
                f"  parse {prof['patches']} patches: {seconds(prof['load_s'])}, of which "
                f"file lists ({prof['file_list_parser']}): {seconds(prof['file_list_s'])}"
            )
            print(
                f"  mailbox for git am: {seconds(prof['mailbox_s'])} "
                f"({prof['mailbox_bytes'] / 1e6:.1f} MB)"
            )
            print(f"  apply_project in-process: {seconds(prof['apply_in_process_s'])}")
            print(
                f"  git processes: {sum(prof['git_calls'].values())} "
                f"({', '.join(f'{k} x{v}' for k, v in sorted(prof['git_calls'].items()))})"
            )
            print(f"  GitPython loaded: {prof['gitpython_loaded']}")
            print(prof["cprofile"])
        save_results(args.results, "apply", results)
        print(f"figures written to {args.results}")
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
