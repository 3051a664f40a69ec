#!/usr/bin/env python3
"""prune: ``verda-patch prune --json`` against ``git cherry`` on the same series and target.

Builds, with ``git fast-import`` (a few seconds), a generated upstream: a base
tag with history behind it, ``--commits`` master commits after it (small edits
across ~1,500 files in nested folders, each with a Change-Id), and a stable
branch from the base that backports a subset with ``cherry-pick -x`` messages —
most unchanged, some with a conflict resolution (another diff, same Change-Id) —
plus stable-only fixes, tagged half-way. Then a ``--series`` patch series on the
base: backports of master commits (some the stable branch took, some not),
general fixes whose Change-Id upstream merged in another form, and customs.

For ``git cherry`` the series is applied as commits on the base with ``git am``
in a scratch clone, and ``git cherry TARGET HEAD`` marks the ones it finds
upstream with ``-``. Both sides are timed in the same run, alternating, best of
``--repeat``; precision and recall of "merged" are computed against the truth
the generator knows. prune is given the target the way a user types it (a
branch: one fetch from the local upstream included) and as a commit id.

    python benchmarks/bench_prune.py [--commits 3000] [--series 200] [--repeat 5]

With ``--nova CLONE`` (a clone of openstack/nova, e.g. ``git clone
https://opendev.org/openstack/nova``) it measures real history instead: the
backports repo ``nova_repos.py`` cuts from the clone (nova pinned at 31.0.0,
the 69 non-merge commits of 31.0.0..stable/2025.1 as cherry-pick patches) is
pruned against 32.0.0, 33.0.0 and master with a warm cache and history index,
side by side with ``git cherry TARGET HEAD`` of the same series (``git am`` on
31.0.0 in a scratch clone); and the one-time index build over the clone's
whole history is reported (seconds, size):

    python benchmarks/bench_prune.py --nova nova [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path


def verda_argv() -> list[str]:
    """The console script next to this Python (a pyenv shim would add ~40 ms not ours)."""
    script = Path(sys.executable).parent / "verda-patch"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "verda_patch"]


def git_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("GIT_DIR", "GIT_WORK_TREE")}
    env.setdefault("GIT_AUTHOR_NAME", "Bench")
    env.setdefault("GIT_AUTHOR_EMAIL", "bench@example.org")
    env.setdefault("GIT_COMMITTER_NAME", "Bench")
    env.setdefault("GIT_COMMITTER_EMAIL", "bench@example.org")
    return env


def git(cwd: Path, *args: str, input: bytes | None = None) -> str:
    proc = subprocess.run(
        ["git", *args], cwd=cwd, input=input, capture_output=True, env=git_env(), check=False
    )
    if proc.returncode:
        raise SystemExit(f"git {' '.join(args[:3])} failed in {cwd}: {proc.stderr.decode()}")
    return proc.stdout.decode("utf-8", "replace").strip()


def prune_json(repo: Path, project: str, env: dict[str, str], *args: str) -> dict:
    """``verda-patch --repo REPO --json prune PROJECT ARGS...`` → its JSON document."""
    res = subprocess.run(
        [*verda_argv(), "--repo", str(repo), "--json", "prune", project, *args],
        env=env,
        capture_output=True,
        check=True,
    )
    return json.loads(res.stdout)


def cherry_found(scratch: Path, ref: str) -> list[str]:
    """The series commits ``git cherry REF HEAD`` marks as upstream (``-``)."""
    res = subprocess.run(
        ["git", "cherry", ref, "HEAD"],
        cwd=scratch,
        capture_output=True,
        text=True,
        check=True,
        env=git_env(),
    )
    return [line.split()[1] for line in res.stdout.splitlines() if line.startswith("-")]


def change_id(rng: random.Random) -> str:
    return "I" + "".join(rng.choice("0123456789abcdef") for _ in range(40))


# --- the generated upstream ------------------------------------------------------------


@dataclass
class Tree:
    """One branch's files while it is generated: per file, what each function returns."""

    files: dict[str, list[str]]

    def copy(self) -> Tree:
        return Tree({k: list(v) for k, v in self.files.items()})

    def render(self, path: str) -> str:
        return "".join(f"def f{i}():\n    return {v}\n\n" for i, v in enumerate(self.files[path]))


@dataclass
class Change:
    """One generated change: the functions it changes, its message and Change-Id."""

    subject: str
    cid: str | None
    edits: list[tuple[str, int, str]]
    body: str = ""
    sha: str = ""


@dataclass
class FastImport:
    """Builds one ``git fast-import`` stream (blobs by mark, so merges cost nothing)."""

    chunks: list[bytes] = field(default_factory=list)
    mark: int = 0
    when: int = 1_600_000_000

    def data(self, text: str) -> None:
        raw = text.encode()
        self.chunks.append(b"data %d\n" % len(raw) + raw + b"\n")

    def blob(self, content: str) -> int:
        self.mark += 1
        self.chunks.append(b"blob\nmark :%d\n" % self.mark)
        self.data(content)
        return self.mark

    def commit(
        self,
        ref: str,
        message: str,
        blobs: dict[str, int],
        *,
        parent: str | None = None,
        merge: str | None = None,
    ) -> int:
        self.mark += 1
        self.when += 60
        self.chunks.append(f"commit {ref}\nmark :{self.mark}\n".encode())
        self.chunks.append(f"author Dev <dev@example.org> {self.when} +0000\n".encode())
        self.chunks.append(f"committer Zuul <zuul@example.org> {self.when} +0000\n".encode())
        self.data(message)
        if parent:
            self.chunks.append(f"from {parent}\n".encode())
        if merge:
            self.chunks.append(f"merge {merge}\n".encode())
        self.chunks += [f"M 100644 :{mark} {path}\n".encode() for path, mark in blobs.items()]
        return self.mark

    def land(
        self,
        ref: str,
        tree: Tree,
        message: str,
        edits: list[tuple[str, int, str]],
        prev: str | None,
        *,
        gate: bool = True,
    ) -> tuple[int, int]:
        """A change, and (``gate``) the CI system's merge commit of it: (change, tip) marks."""
        for path, func, value in edits:
            tree.files[path][func] = value
        blobs = {path: self.blob(tree.render(path)) for path in dict.fromkeys(e[0] for e in edits)}
        change = self.commit(ref, message, blobs, parent=prev)
        if not gate:
            return change, change
        subject = message.split("\n", 1)[0]
        tip = self.commit(ref, f'Merge "{subject}"\n', blobs, parent=prev, merge=f":{change}")
        return change, tip

    def run(self, repo: Path) -> dict[int, str]:
        marks = repo / "marks"
        subprocess.run(
            ["git", "fast-import", "--quiet", f"--export-marks={marks}"],
            cwd=repo,
            input=b"".join(self.chunks),
            check=True,
            env=git_env(),
        )
        out = {}
        for line in marks.read_text().splitlines():
            mark, sha = line.split()
            out[int(mark[1:])] = sha
        marks.unlink()
        return out


def message(change: Change, extra: str = "") -> str:
    text = change.subject + "\n\n" + (change.body or "Generated change.") + "\n"
    trailers = ([f"Change-Id: {change.cid}"] if change.cid else []) + ([extra] if extra else [])
    return text + ("\n" + "\n".join(trailers) + "\n" if trailers else "")


@dataclass
class World:
    upstream: Path
    base: str
    base_tree: Tree
    patches: list[tuple[str, str, Change, str]]  # (category, kind, change, cited sha)
    truth: dict[str, dict[int, bool]]  # target → patch index → merged


def build(root: Path, commits: int, series: int, seed: int) -> World:
    """Files sized like an OpenStack service's (median ~200 lines, a few hot ones of
    thousands that most changes touch) and Zuul-style history: every change lands
    with a merge commit, on master and on the stable branch."""
    rng = random.Random(seed)
    up = root / "upstream"
    up.mkdir()
    git(up, "init", "-q", "-b", "master")
    paths = [
        f"svc/area{a}/part{b}/mod{m}.py" for a in range(12) for b in range(16) for m in range(20)
    ]
    sizes = {
        p: rng.choice(
            [rng.randint(20, 100)] * 15 + [rng.randint(150, 500)] * 4 + [rng.randint(600, 2000)]
        )
        for p in paths
    }
    hot = [p for p in paths if sizes[p] >= 600]
    tree = Tree({p: [str(i) for i in range(sizes[p])] for p in paths})

    def random_change(n: int, where: str) -> Change:
        files = dict.fromkeys(
            rng.choice(hot) if rng.random() < 0.35 else rng.choice(paths)
            for _ in range(rng.choice((1, 1, 2, 2, 3, 4)))
        )  # ordered: seeded
        edits = [
            (path, rng.randrange(sizes[path]), f"{rng.randrange(10**6)}  # {where}{n}")
            for path in files
            for _ in range(rng.choice((1, 1, 2, 3)))
        ]
        return Change(f"Fix {where} issue {n}", change_id(rng), edits)

    fi = FastImport()
    blobs = {p: fi.blob(tree.render(p)) for p in paths}
    first = fi.commit("refs/heads/master", "Initial import\n", blobs)
    tip = f":{first}"
    for n in range(200):
        ch = random_change(n, "early")
        _, mark = fi.land("refs/heads/master", tree, message(ch), ch.edits, tip, gate=False)
        tip = f":{mark}"
    base_mark = int(tip[1:])
    base_tree = tree.copy()
    master: list[Change] = []
    change_marks: list[int] = []
    for n in range(commits):
        ch = random_change(n, "master")
        ch.body = f"Closes-Bug: #{1000000 + n}"
        change, merge = fi.land("refs/heads/master", tree, message(ch), ch.edits, tip)
        tip = f":{merge}"
        master.append(ch)
        change_marks.append(change)
    marks = fi.run(up)
    base = marks[base_mark]
    for ch, mark in zip(master, change_marks, strict=True):
        ch.sha = marks[mark]
    git(up, "tag", "1.0.0", base)

    # the stable branch: unchanged picks, conflict-resolved picks, stable-only fixes
    picked = sorted(rng.sample(range(commits), min(300, commits // 3)))
    conflict = set(rng.sample(picked, len(picked) // 8))
    stable = base_tree.copy()
    fi2 = FastImport(mark=0, when=fi.when)
    tip = base
    half = len(picked) // 2
    tag_mark = 0
    for k, idx in enumerate(picked):
        ch = master[idx]
        edits = ch.edits
        msg = message(ch, f"(cherry picked from commit {ch.sha})")
        if idx in conflict:  # the same change, another diff
            edits = [(p, f, v.split("  #")[0] + " + 0  # resolved") for p, f, v in edits]
            msg = msg.replace("\nChange-Id:", f"\nConflicts:\n\t{edits[0][0]}\n\nChange-Id:")
        _, mark = fi2.land("refs/heads/stable/1", stable, msg, edits, tip)
        tip = f":{mark}"
        if k % 6 == 5:
            only = random_change(k, "stable")
            _, mark = fi2.land("refs/heads/stable/1", stable, message(only), only.edits, tip)
            tip = f":{mark}"
        if k == half:
            tag_mark = mark
    # general fixes merged upstream in another form (on the stable branch)
    general_up: list[Change] = []
    for _ in range(series // 20):
        path = rng.choice(paths)
        ch = Change(f"Harden {path}", change_id(rng), [(path, rng.randrange(sizes[path]), "None")])
        _, mark = fi2.land("refs/heads/stable/1", stable, message(ch), ch.edits, tip)
        tip = f":{mark}"
        general_up.append(ch)
    marks2 = fi2.run(up)
    git(up, "tag", "1.0.1", marks2[tag_mark])
    at_tag = set(picked[: half + 1])

    # the downstream series, and the truth: which patches each target carries
    patches: list[tuple[str, str, Change, str]] = []
    truth: dict[str, dict[int, bool]] = {"stable/1": {}, "1.0.1": {}, "master": {}}
    n_back = series * 6 // 10
    taken = rng.sample(picked, min(len(picked), n_back * 2 // 3))
    others = [i for i in range(commits) if i not in set(picked)]
    backports = sorted(taken + rng.sample(others, n_back - len(taken)))
    for idx in backports:
        truth["stable/1"][len(patches)] = idx in set(picked)
        truth["1.0.1"][len(patches)] = idx in at_tag
        truth["master"][len(patches)] = True
        patches.append(("cherry-pick", "backport", master[idx], master[idx].sha))
    for up_change in general_up:
        path, func, _ = up_change.edits[0]
        ch = Change(
            f"Harden {path} downstream",
            up_change.cid,
            [(path, func, "None if False else None")],
            body="Our take on it.",
        )
        truth["stable/1"][len(patches)] = True
        truth["1.0.1"][len(patches)] = False
        truth["master"][len(patches)] = False
        patches.append(("general", "general", ch, ""))
    while len(patches) < series:
        n = len(patches)
        ch = random_change(n, "verda")
        ch.cid = None
        ch.subject = f"Verda: tune {ch.edits[0][0]} ({n})"
        ch.edits = [(p, f, f"'verda-{n}'") for p, f, _ in ch.edits]
        for target in truth:
            truth[target][n] = False
        patches.append(("customs", "customs", ch, ""))
    return World(up, base, base_tree, patches, truth)


def write_series(world: World, root: Path) -> tuple[Path, list[str], Path]:
    """Patch files via format-patch from a dev clone; then a scratch clone with them am'd."""
    dev = root / "dev"
    git(root, "clone", "-q", "--shared", "--no-checkout", str(world.upstream), str(dev))
    fi = FastImport()
    tree = world.base_tree.copy()
    tip: str | None = world.base
    for _category, kind, ch, cited in world.patches:
        extra = f"(cherry picked from commit {cited})" if kind == "backport" else ""
        _, mark = fi.land(
            "refs/heads/downstream", tree, message(ch, extra), ch.edits, tip, gate=False
        )
        tip = f":{mark}"
    fi.run(dev)
    out = root / "formatted"
    git(dev, "format-patch", "-q", "-o", str(out), f"{world.base}..downstream")
    formatted = sorted(out.iterdir())
    assert len(formatted) == len(world.patches)

    repo = root / "patchrepo"
    names: list[str] = []
    numbers: dict[str, int] = {}
    for (category, _, _, _), src in zip(world.patches, formatted, strict=True):
        numbers[category] = numbers.get(category, 0) + 1
        name = f"{numbers[category]:04d}-{src.name[5:]}"
        folder = repo / "patches" / "svc" / category
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, folder / name)
        names.append(f"{category}/{name}")
    (repo / "base-commit").write_text(
        f"svc:\n  upstream: {world.upstream}\n  commit: {world.base}\n  ref: 1.0.0\n"
        "  branch: stable/1\n"
    )

    scratch = root / "cherry"
    git(root, "clone", "-q", "--shared", str(world.upstream), str(scratch))
    git(scratch, "checkout", "-q", "-b", "series", world.base)
    git(scratch, "am", "-q", "--keep-non-patch", *(str(p) for p in formatted))
    return repo, names, scratch


# --- timing ------------------------------------------------------------------------------


def best(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return min(times), result


def precision_recall(said: set[int], real: set[int]) -> tuple[float, float]:
    hit = len(said & real)
    return (hit / len(said) if said else 1.0), (hit / len(real) if real else 1.0)


def nova(clone: Path, root: Path, repeat: int, targets: list[str]) -> None:
    """Real history: the nova backports repo against later releases, warm index vs git cherry."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from common import machine_line, ratio_line

    from verda_patch import history_index

    print(machine_line())
    env = dict(os.environ, VERDA_PATCH_CACHE=str(root / "cache"))
    cut = str(Path(__file__).with_name("nova_repos.py"))
    subprocess.run(
        [sys.executable, cut, str(clone), str(root), "--only", "backports"], env=env, check=True
    )
    repo = root / "backports"
    # the first prune clones the mirror and builds its index; then time a build alone
    prune_json(repo, "nova", env)
    (mirror,) = (root / "cache").glob("*.git")
    fresh = root / "index-build.sqlite"
    started = time.perf_counter()
    commits = history_index.update(mirror, fresh)
    built = time.perf_counter() - started
    with history_index.opened(mirror, fresh) as index:
        rows = index.size()
    print(
        f"index build over the whole history: {commits} commits in {built:.2f} s, "
        f"{fresh.stat().st_size / 1e6:.1f} MB ({rows['change_ids']} Change-Ids, "
        f"{rows['cites']} citations, {rows['reverts']} reverts)"
    )

    scratch = root / "cherry"
    git(root, "clone", "-q", "--shared", str(clone), str(scratch))
    git(scratch, "checkout", "-q", "-b", "series", "31.0.0")
    patches = sorted((repo / "patches" / "nova" / "cherry-pick").glob("*.patch"))
    git(scratch, "am", "-q", "--keep-non-patch", *(str(p) for p in patches))

    for target in targets:

        def prune(ref: str = target) -> int:
            doc = prune_json(repo, "nova", env, "--against", ref)
            return sum(1 for p in doc["patches"] if p["status"] == "merged")

        def cherry(ref: str = target) -> int:
            return len(cherry_found(scratch, ref))

        prune()  # warm: the patch-ids and changed lines this target needs are indexed
        t_prune = t_cherry = float("inf")
        said = found = 0
        for round_ in range(repeat):  # alternate who goes first
            for side in (prune, cherry) if round_ % 2 == 0 else (cherry, prune):
                started = time.perf_counter()
                n = side()
                took = time.perf_counter() - started
                if side is prune:
                    t_prune, said = min(t_prune, took), n
                else:
                    t_cherry, found = min(t_cherry, took), n
        print(f"\n{target}: prune says {said} of {len(patches)} merged, git cherry {found}")
        print(ratio_line("prune", f"nova {target} warm index", t_prune, t_cherry, 1.0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commits", type=int, default=3000, help="master commits after the base")
    parser.add_argument("--series", type=int, default=200, help="patches in the series")
    parser.add_argument("--repeat", type=int, default=5, help="best of N, alternating")
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--keep", type=Path, help="build here and keep it (default: a temp dir)")
    parser.add_argument("--nova", type=Path, help="a clone of openstack/nova: real history")
    parser.add_argument(
        "--targets", default="32.0.0,33.0.0,master", help="with --nova: releases to prune against"
    )
    args = parser.parse_args()
    if args.nova:
        root = args.keep or Path(tempfile.mkdtemp(prefix="bench-prune-nova-"))
        root.mkdir(parents=True, exist_ok=True)
        try:
            nova(args.nova.resolve(), root, args.repeat, args.targets.split(","))
        finally:
            if not args.keep:
                shutil.rmtree(root, ignore_errors=True)
        return

    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-prune-"))
    root.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    world = build(root, args.commits, args.series, args.seed)
    repo, names, scratch = write_series(world, root)
    print(
        f"built in {time.perf_counter() - started:.1f}s: {args.commits} master commits after "
        f"the base, {len(names)} patches ({sum(1 for p in world.patches if p[0] == 'customs')}"
        f" customs) in {root}"
    )
    env = dict(os.environ, VERDA_PATCH_CACHE=str(root / "cache"))
    series_commits = git(scratch, "rev-list", "--reverse", f"{world.base}..HEAD").split()
    index_of = {sha: i for i, sha in enumerate(series_commits)}
    prune_json(repo, "svc", env)  # fill the cache once

    for target in ("stable/1", "1.0.1", "master"):
        sha = git(world.upstream, "rev-parse", f"{target}^{{commit}}")
        size = git(world.upstream, "rev-list", "--count", f"{world.base}..{sha}")
        real = {i for i, merged in world.truth[target].items() if merged}

        def prune(ref: str = target) -> set[int]:
            doc = prune_json(repo, "svc", env, "--against", ref)
            return {names.index(p["file"]) for p in doc["patches"] if p["status"] == "merged"}

        def cherry(ref: str = sha) -> set[int]:
            return {index_of[commit] for commit in cherry_found(scratch, ref)}

        t_prune = t_prune_id = t_cherry = float("inf")
        said = said_id = found = set()
        for _ in range(args.repeat):  # alternate, so machine noise hits both sides
            t, said = best(prune, 1)
            t_prune = min(t_prune, t)
            t, said_id = best(lambda ref=sha: prune(ref), 1)
            t_prune_id = min(t_prune_id, t)
            t, found = best(cherry, 1)
            t_cherry = min(t_cherry, t)
        assert said == said_id
        p1, r1 = precision_recall(said, real)
        p2, r2 = precision_recall(found, real)
        print(
            f"\n{target} ({size} upstream commits since the base, {len(real)} of "
            f"{len(names)} patches merged)"
        )
        print(
            f"  verda-patch prune --json   {t_prune:6.3f} s   precision {p1:.3f}  recall {r1:.3f}"
            f"   (by commit id, no fetch: {t_prune_id:.3f} s)"
        )
        print(
            f"  git cherry TARGET HEAD     {t_cherry:6.3f} s   precision {p2:.3f}  recall {r2:.3f}"
        )
        print(
            f"RATIO prune/{target} {t_prune / t_cherry:.2f}x git cherry "
            f"({t_prune_id / t_cherry:.2f}x without the fetch)"
        )
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
