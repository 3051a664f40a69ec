"""Real patch files written by others, read, applied and exported by verda-patch, with git as the judge.

    python benchmarks/third_party_corpus.py DEB_REPO... [--per-repo 8 | --all] [--keep DIR]
    python benchmarks/third_party_corpus.py --git-samples GIT_REPO

DEB_REPO is a clone (bare or not) of the Debian packaging of an OpenStack
project: ``git clone https://opendev.org/openstack-archive/deb-keystone``
(also deb-cinder, deb-neutron, deb-glance, deb-swift). Their tags keep the
upstream source and ``debian/`` side by side, with ``debian/patches``
unapplied (format 3.0 quilt), so the upstream tree of a tag is its tree
without ``debian/``.

1. Every distinct file under ``debian/patches/`` at any tag is parsed: it must
   read with a subject (its DEP-3 ``Description:``/``Subject:``, else the file
   name) and, where it names one, its ``Author:``/``From:``.
2. At ``--per-repo`` tags spread over the repo's history (``--all``: every tag
   with a distinct ``debian/patches``), the series is put in a patch repo
   (``customs/``, quilt's file names and ``series`` order; a name without
   ``.patch``/``.diff`` gets ``.patch``) on a scratch upstream commit holding
   the tag's tree without ``debian/``. Then:
   - git's answer: ``git apply --cached`` of each file in series order on that
     tree (exact, no fuzz; a series git cannot apply is counted, not judged);
   - ``verda-patch --json list`` shows every file with its subject and author;
   - ``verda-patch apply`` must give git's tree, one commit per file, none
     with an empty message;
   - ``verda-patch export`` must write nothing and leave every file
     byte-identical.

``--git-samples GIT_REPO`` (a clone of git/git) instead reads every mail of
``t/t5100``, ``t/t4256`` and ``t/t4258`` with verda-patch and with
``git mailinfo -b`` + ``git apply --numstat``, and counts the mails with a diff
read alike (subject, author, e-mail, date, message, files) or refused where git
refuses too.

Prints the counts; exits 1 when a file that git applies is not read, applied
or exported as described. Nothing is timed here (see bench_list.py).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from verda_patch.errors import PatchError
from verda_patch.patchfile import parse_bytes

PROJECT = "upstream"
SUFFIXES = (".patch", ".diff")


def git(
    repo: Path,
    *args: str,
    input: bytes | None = None,
    check: bool = True,
    index: Path | None = None,
) -> bytes:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    if index is not None:
        env["GIT_INDEX_FILE"] = str(index)
    env.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull, LC_ALL="C")
    env.update(GIT_AUTHOR_NAME="corpus", GIT_AUTHOR_EMAIL="corpus@example.org")
    env.update(GIT_COMMITTER_NAME="corpus", GIT_COMMITTER_EMAIL="corpus@example.org")
    env.update(GIT_AUTHOR_DATE="946684800 +0000", GIT_COMMITTER_DATE="946684800 +0000")
    proc = subprocess.run(
        ["git", *args], cwd=repo, input=input, capture_output=True, env=env, check=False
    )
    if check and proc.returncode:
        raise RuntimeError(f"git {' '.join(args)}: {proc.stderr.decode(errors='replace')}")
    return proc.stdout


def git_dir(repo: Path) -> Path:
    return Path(git(repo, "rev-parse", "--absolute-git-dir").decode().strip())


def verda(repo: Path, cache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, VERDA_PATCH_CACHE=str(cache))
    return subprocess.run(
        [sys.executable, "-m", "verda_patch", "--repo", str(repo), *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def series_names(text: str) -> list[str]:
    """quilt's series: one name a line, '#' comments, options (-p1) after the name."""
    names = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.append(line.split()[0])
    return names


@dataclass
class Counts:
    files: int = 0
    parsed: int = 0
    with_author: int = 0
    with_description: int = 0
    series: int = 0
    series_git_refuses: int = 0
    applied_files: int = 0
    tree_equal: int = 0
    listed_ok: int = 0
    empty_messages: int = 0
    exported_identical: int = 0
    problems: list[str] = field(default_factory=list)


def tags_with_patches(repo: Path) -> list[tuple[str, str]]:
    """(tag, debian/patches tree) per distinct patches tree, oldest tag first."""
    out = git(repo, "for-each-ref", "--sort=creatordate", "--format=%(refname:short)", "refs/tags")
    seen: dict[str, str] = {}
    for tag in out.decode().split():
        tree = git(repo, "rev-parse", "-q", "--verify", f"{tag}:debian/patches", check=False)
        has_series = git(
            repo, "rev-parse", "-q", "--verify", f"{tag}:debian/patches/series", check=False
        )
        if tree.strip() and has_series.strip():
            seen.setdefault(tree.decode().strip(), tag)
    return [(tag, tree) for tree, tag in seen.items()]


def spread(items: list[tuple[str, str]], count: int) -> list[tuple[str, str]]:
    if count <= 0 or count >= len(items):
        return items
    step = (len(items) - 1) / (count - 1) if count > 1 else 0
    return [items[round(i * step)] for i in range(count)]


def parse_every_file(repo: Path, counts: Counts) -> None:
    blobs: dict[str, str] = {}
    for tag, _tree in tags_with_patches(repo):
        listing = git(repo, "ls-tree", f"{tag}:debian/patches").decode().splitlines()
        for line in listing:
            meta, name = line.split("\t", 1)
            _mode, kind, sha = meta.split()
            if kind == "blob" and name != "series":
                blobs.setdefault(sha, name)
    for sha, name in blobs.items():
        counts.files += 1
        data = git(repo, "cat-file", "blob", sha)
        try:
            patch = parse_bytes(data, source=Path(name))
        except PatchError as exc:
            counts.problems.append(f"{repo.name} {name} ({sha[:8]}): {exc}")
            continue
        counts.parsed += 1
        if patch.author_name or patch.author_email:
            counts.with_author += 1
        if re.search(rb"^(Description|Subject):", data, re.MULTILINE | re.IGNORECASE):
            counts.with_description += 1
            expect = patch.dep3.get("Description") or patch.dep3.get("Subject")
            if expect is not None and not patch.subject:
                counts.problems.append(f"{name}: no subject")
        if re.search(rb"^(Author|From):.*\S", data, re.MULTILINE) and not (
            patch.author_name or patch.author_email
        ):
            counts.problems.append(f"{repo.name} {name}: names an author, none read")


def upstream_commit(scratch: Path, repo: Path, tag: str) -> str:
    """A commit in ``scratch`` holding ``tag``'s tree without ``debian/``."""
    entries = git(repo, "ls-tree", f"{tag}^{{tree}}").decode().splitlines()
    kept = "".join(line + "\n" for line in entries if line.split("\t", 1)[1] != "debian")
    tree = git(scratch, "mktree", input=kept.encode()).decode().strip()
    return git(scratch, "commit-tree", tree, "-m", f"{tag} without debian/").decode().strip()


def git_apply_tree(scratch: Path, commit: str, datas: list[bytes]) -> str | None:
    """git's tree for the series, applied exactly in order; None when git refuses one."""
    index = scratch / "corpus-index"
    try:
        git(scratch, "read-tree", commit, index=index)
        for data in datas:
            try:
                git(scratch, "apply", "--cached", "-p1", "-", input=data, index=index)
            except RuntimeError:
                return None
        return git(scratch, "write-tree", index=index).decode().strip()
    finally:
        index.unlink(missing_ok=True)


def run_series(
    repo: Path, tag: str, scratch: Path, work: Path, cache: Path, counts: Counts
) -> None:
    names = series_names(git(repo, "show", f"{tag}:debian/patches/series").decode())
    present = set(git(repo, "ls-tree", "--name-only", f"{tag}:debian/patches").decode().split())
    names = [n for n in names if n in present]
    if not names:
        return
    counts.series += 1
    datas = [git(repo, "show", f"{tag}:debian/patches/{name}") for name in names]
    commit = upstream_commit(scratch, repo, tag)
    git(scratch, "update-ref", f"refs/tags/corpus-{len(names)}-{commit[:12]}", commit)
    want = git_apply_tree(scratch, commit, datas)
    if want is None:
        counts.series_git_refuses += 1
        return
    patch_repo = work / f"{repo.name}-{tag.replace('/', '_')}"
    shutil.rmtree(patch_repo, ignore_errors=True)
    folder = patch_repo / "patches" / PROJECT / "customs"
    folder.mkdir(parents=True)
    files = [n if n.endswith(SUFFIXES) else n + ".patch" for n in names]
    for file, data in zip(files, datas, strict=True):
        (folder / file).write_bytes(data)
    (folder / "series").write_text("".join(f + "\n" for f in files))
    (patch_repo / "base-commit").write_text(
        yaml.safe_dump({PROJECT: {"upstream": str(scratch), "commit": commit}})
    )
    where = f"{repo.name} {tag}"
    listed = verda(patch_repo, cache, "--json", "list", PROJECT)
    if listed.returncode:
        counts.problems.append(f"{where}: list exit {listed.returncode}: {listed.stderr[-300:]}")
        return
    records = json.loads(listed.stdout)["projects"][0]["patches"]
    counts.listed_ok += sum(1 for r in records if r["subject"])
    applied = verda(patch_repo, cache, "--json", "apply", PROJECT)
    if applied.returncode:
        counts.problems.append(f"{where}: apply exit {applied.returncode}: {applied.stderr[-300:]}")
        return
    tree_path = patch_repo / ".verda" / "work" / PROJECT
    counts.applied_files += len(files)
    bodies = git(tree_path, "log", "--format=%s%x00", f"{commit}..HEAD").decode().split("\0")
    counts.empty_messages += sum(1 for s in bodies[:-1] if not s.strip("\n"))
    got = git(tree_path, "rev-parse", "HEAD^{tree}").decode().strip()
    if got == want:
        counts.tree_equal += len(files)
    else:
        counts.problems.append(f"{where}: tree {got[:12]} is not git apply's {want[:12]}")
    before = {f: (folder / f).read_bytes() for f in files}
    exported = verda(patch_repo, cache, "--json", "export", PROJECT)
    if exported.returncode:
        counts.problems.append(f"{where}: export exit {exported.returncode}: {exported.stderr}")
        return
    written = json.loads(exported.stdout).get("written", [])
    same = [f for f in files if (folder / f).read_bytes() == before[f]]
    counts.exported_identical += len(same)
    if written or len(same) != len(files):
        counts.problems.append(f"{where}: export wrote {written}")


def run_deb(args: argparse.Namespace) -> int:
    counts = Counts()
    work = Path(args.keep or tempfile.mkdtemp(prefix="verda-corpus-"))
    work.mkdir(parents=True, exist_ok=True)
    cache = work / "cache"
    try:
        for raw in args.repos:
            repo = Path(raw).resolve()
            parse_every_file(repo, counts)
            scratch = work / f"upstream-{repo.parent.name}-{repo.name}"
            if not scratch.exists():
                git(work, "init", "-q", "--bare", str(scratch))
                (scratch / "objects" / "info" / "alternates").write_text(
                    str(git_dir(repo) / "objects") + "\n"
                )
            tags = tags_with_patches(repo)
            chosen = tags if args.all else spread(tags, args.per_repo)
            for tag, _tree in chosen:
                run_series(repo, tag, scratch, work, cache, counts)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(
        f"files {counts.files}  parsed {counts.parsed}  "
        f"with Description/Subject {counts.with_description}  with author {counts.with_author}"
    )
    print(
        f"series {counts.series} (git apply refuses {counts.series_git_refuses})  "
        f"applied files {counts.applied_files}  listed with subject {counts.listed_ok}  "
        f"tree equal {counts.tree_equal}  empty messages {counts.empty_messages}  "
        f"exported identical {counts.exported_identical}"
    )
    for problem in counts.problems:
        print("PROBLEM", problem)
    return 1 if counts.problems else 0


# --- git's own mail samples -----------------------------------------------------------------


def _mails(git_repo: Path, out: Path) -> list[Path]:
    """Every mail of t5100/t4256/t4258, one file each (mboxes split by git mailsplit)."""
    tree = git(git_repo, "archive", "HEAD", "t/t5100", "t/t4256", "t/t4258")
    subprocess.run(["tar", "x"], cwd=out, input=tree, check=True)
    data = out / "t"
    mails = out / "mails"
    mails.mkdir()
    for box, opts in (
        ("t5100/sample.mbox", []),
        ("t5100/quoted-cr.mbox", []),
        ("t5100/rfc2047-samples.mbox", []),
        ("t5100/sample.mboxrd", ["--mboxrd"]),
    ):
        target = mails / box.replace("/", "-")
        target.mkdir()
        git(out, "mailsplit", *opts, f"-o{target}", str(data / box))
    for single in ("info-from.in", "embed-from.in", "quoted-from.in", "quoted-string.in"):
        shutil.copy(data / "t5100" / single, mails / single)
    for single in ("comment.in", "nul-b64.in", "nul-plain"):
        shutil.copy(data / "t5100" / single, mails / single)
    shutil.copy(data / "t4256" / "1" / "patch", mails / "t4256-patch")
    shutil.copy(data / "t4258" / "mbox", mails / "t4258-mbox")
    return sorted(p for p in mails.rglob("*") if p.is_file())


def _mailinfo(data: bytes, scratch: Path) -> tuple[bool, dict[str, str], str, bytes]:
    (scratch / "msg").unlink(missing_ok=True)
    (scratch / "patch").unlink(missing_ok=True)
    proc = subprocess.run(
        ["git", "mailinfo", "-b", "msg", "patch"],
        cwd=scratch,
        input=data,
        capture_output=True,
        check=False,
    )
    info = {}
    for line in proc.stdout.decode("utf-8", "surrogateescape").splitlines():
        key, sep, value = line.partition(": ")
        if sep:
            info[key] = value
    msg = (scratch / "msg").read_bytes() if (scratch / "msg").exists() else b""
    message = subprocess.run(
        ["git", "stripspace"], input=msg, capture_output=True, check=False
    ).stdout
    patch = (scratch / "patch").read_bytes() if (scratch / "patch").exists() else b""
    return proc.returncode == 0, info, message.decode("utf-8", "replace").rstrip("\n"), patch


def _numstat(patch: bytes, scratch: Path) -> list[tuple[str, str, str]] | None:
    proc = subprocess.run(
        ["git", "apply", "--numstat", "-"], cwd=scratch, input=patch, capture_output=True
    )
    if proc.returncode:
        return None
    rows = []
    for line in proc.stdout.decode("utf-8", "surrogateescape").splitlines():
        added, removed, path = line.split("\t", 2)
        rows.append((added, removed, path))
    return rows


def run_git_samples(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="verda-t5100-") as tmp:
        out = Path(tmp)
        scratch = out / "scratch"
        scratch.mkdir()
        verdicts: Counter[str] = Counter()
        problems = []
        for path in _mails(Path(args.git_samples), out):
            data = path.read_bytes()
            ok, info, message, patch_bytes = _mailinfo(data, scratch)
            rows = _numstat(patch_bytes, scratch) if patch_bytes.strip() else None
            name = path.relative_to(out / "mails").as_posix()
            if not rows:
                verdicts["no diff for git"] += 1
                continue
            verdicts["with a diff"] += 1
            try:
                patch = parse_bytes(data, source=path)
            except PatchError as exc:
                git_refuses = not ok or not info.get("Author")
                verdicts["refused, git refuses too" if git_refuses else "REFUSED"] += 1
                if not git_refuses:
                    problems.append(f"{name}: refused ({exc}) but git reads it")
                continue
            ours = (patch.subject, patch.author_name, patch.author_email, patch.date)
            theirs = (
                info.get("Subject"),
                info.get("Author"),
                info.get("Email"),
                (info.get("Date") or "").strip(" ") or None,
            )
            files = [
                ("-", "-", f.path) if f.binary else (str(f.added), str(f.removed), f.path)
                for f in patch.files
            ]
            if ours == theirs and patch.message == message and files == rows:
                verdicts["read as git reads it"] += 1
            else:
                verdicts["DIFFERENT"] += 1
                problems.append(f"{name}: ours {ours} git {theirs}")
        print("  ".join(f"{k} {v}" for k, v in sorted(verdicts.items())))
        for problem in problems:
            print("PROBLEM", problem)
        return 1 if problems else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("repos", nargs="*", type=Path, help="clones of openstack-archive/deb-*")
    parser.add_argument("--per-repo", type=int, default=8, help="tags per repo (default 8)")
    parser.add_argument("--all", action="store_true", help="every tag with distinct patches")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    parser.add_argument("--git-samples", type=Path, help="a clone of git/git: its mail samples")
    args = parser.parse_args()
    if args.git_samples:
        return run_git_samples(args)
    if not args.repos:
        parser.error("give clones of openstack-archive/deb-* or --git-samples")
    return run_deb(args)


if __name__ == "__main__":
    sys.exit(main())
