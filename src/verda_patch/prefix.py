"""The prefix cache: the commit built for the first k patches of a series, found again.

Commit ids are deterministic, so the same base and the same first k mails fed
to ``git am`` always give the same commit k. Each position of a series gets a
**chained key**: ``key[0]`` hashes the commit format and the base commit,
``key[i]`` hashes ``key[i-1]`` with the exact mail of patch i (its message,
author, date, ``Verda-Patch:`` trailer naming the file, and diff). The
custom-source commit on top is cheap and always made again. A key names the
commit built there as ``refs/verda/prefix/<key>`` in the upstream's cache mirror, so every work
tree and scratch tree using that cache shares them.

Builds write their objects straight into the mirror (``GIT_OBJECT_DIRECTORY``),
so a prefix ref never points at an object the mirror lacks. A ref is only a
hint: what it names is checked out and then verified like any build
(:func:`verda_patch.apply.verify_chain`); refs fetched from a ``prefix-remote``
are checked commit by commit first (:mod:`verda_patch.prefix_remote`).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from verda_patch import git
from verda_patch.errors import GitError

# Bump whenever what a commit is made of changes for the same mails; the key
# also carries a stamp of the code that runs git am (apply.py, git.py).
FORMAT = "verda-patch prefix v1"
REF_PREFIX = "refs/verda/prefix/"
USED_MARK = "verda-prefix-used"  # touched whenever a prefix is reused or recorded
ENTRY_SUFFIX = "/prefixes"  # how `cache list` names the prefixes of mirror X: X/prefixes


def chain(base: str, digests: Iterable[str], stamp: str = "") -> list[str]:
    """Keys of every position: ``[0]`` the base alone, ``[i]`` the base and the first i mails.

    ``digests`` are the sha256 of each mail; ``stamp`` names the code building commits.
    """
    key = hashlib.sha256(f"{FORMAT}\0{stamp}\0{base}".encode()).hexdigest()
    keys = [key]
    for mail_digest in digests:
        key = hashlib.sha256(f"{key}\0{mail_digest}".encode()).hexdigest()
        keys.append(key)
    return keys


def ref(key: str) -> str:
    return REF_PREFIX + key


@dataclass(frozen=True)
class Plan:
    """Where a build starts: the first ``start`` patches are already built, as ``commit``."""

    keys: tuple[str, ...]  # keys[i]: the base and the first i patches
    start: int
    commit: str

    @property
    def complete(self) -> bool:
        return self.start == len(self.keys) - 1


class Prefixes:
    """The prefix refs of one cache mirror (a bare repository)."""

    def __init__(self, mirror: Path) -> None:
        self.mirror = mirror

    def objects_env(self, work_git_dir: Path) -> dict[str, str]:
        """Environment for a build in a work tree: new objects go into the mirror.

        The work tree keeps reading its own objects (commits a user made there).
        """
        return {
            "GIT_OBJECT_DIRECTORY": str((self.mirror / "objects").resolve()),
            "GIT_ALTERNATE_OBJECT_DIRECTORIES": str((work_git_dir / "objects").resolve()),
        }

    def lookup(self, keys: Sequence[str]) -> dict[int, str]:
        """Position → commit for every key the cache has (one git call)."""
        if not keys:
            return {}
        query = "".join(f"{ref(k)}\n" for k in keys).encode()
        res = git.run(
            ["cat-file", "--batch-check=%(objectname) %(objecttype)"],
            cwd=self.mirror,
            input=query,
        )
        found = {}
        for i, line in enumerate(res.text.splitlines()):
            sha, _, kind = line.partition(" ")
            if kind == "commit":
                found[i] = sha
        if found:
            self._mark_used()
        return found

    def _mark_used(self) -> None:
        # `cache prune --unused-for DAYS` reads this
        with suppress(OSError):
            (self.mirror / USED_MARK).touch()

    def record(self, entries: Sequence[tuple[str, str]]) -> bool:
        """Point ``refs/verda/prefix/<key>`` at each commit; False if git refused.

        Best effort: another build writing the same ref at the same moment wins,
        and it writes the same commit.
        """
        if not entries:
            return True
        stdin = "".join(f"update {ref(key)} {sha}\n" for key, sha in entries).encode()
        try:
            git.run(["update-ref", "--stdin"], cwd=self.mirror, input=stdin)
        except GitError:
            return False
        self._mark_used()
        return True

    def drop_all(self) -> int:
        """Remove every prefix ref of this mirror (objects stay); how many went."""
        refs = git.run(
            ["for-each-ref", "--format=%(refname)", REF_PREFIX], cwd=self.mirror
        ).text.split()
        stdin = "".join(f"delete {r}\n" for r in refs).encode()
        git.run(["update-ref", "--stdin"], cwd=self.mirror, input=stdin)
        git.run(["pack-refs", "--all"], cwd=self.mirror, ok=(0, 1, 128))
        return len(refs)

    def drop(self, keys: Sequence[str]) -> None:
        """Remove refs found wrong (a tampered or stale hint)."""
        stdin = "".join(f"delete {ref(k)}\n" for k in keys).encode()
        git.run(["update-ref", "--stdin"], cwd=self.mirror, input=stdin, ok=(0, 128))


# --- verification ----------------------------------------------------------------


def _patch_id_args() -> list[str]:
    # --verbatim (git 2.39) keeps whitespace: a prefix differing only there is another prefix
    return ["patch-id", "--verbatim"] if git.version() >= (2, 39) else ["patch-id", "--stable"]


def mail_patch_ids(repo: Path, mails: Sequence[bytes]) -> list[str | None]:
    """The patch-id of each mail's diff, in order (None where git finds no diff)."""
    stream = bytearray()
    for i, data in enumerate(mails):
        # the diff alone: patch-id takes a message line that starts with a commit
        # id ("9908d87d… we observe …") for the start of another patch
        _message, separator, diff = data.partition(b"\n---\n")
        stream += b"From %040x Mon Sep 17 00:00:00 2001\n\n" % (i + 1)
        stream += diff if separator else data
        if not stream.endswith(b"\n"):
            stream += b"\n"
    res = git.run(_patch_id_args(), cwd=repo, input=bytes(stream))
    out: list[str | None] = [None] * len(mails)
    for line in res.text.splitlines():
        pid, _, tag = line.partition(" ")
        index = int(tag, 16) - 1
        if 0 <= index < len(out):
            out[index] = pid
    return out


def commit_patch_ids(repo: Path, since: str, until: str) -> dict[str, str]:
    """Commit → patch-id of its change, for every commit of ``since..until``."""
    log = git.run(
        ["log", "-p", "--no-color", "--format=commit %H", f"{since}..{until}", "--"], cwd=repo
    )
    res = git.run(_patch_id_args(), cwd=repo, input=log.stdout)
    ids = {}
    for line in res.text.splitlines():
        pid, _, sha = line.partition(" ")
        ids[sha] = pid
    return ids


@dataclass(frozen=True)
class Link:
    sha: str
    parents: tuple[str, ...]
    trailer: str | None


def links(repo: Path, since: str, until: str) -> list[Link]:
    """Commits of ``since..until``, oldest first, with parents and ``Verda-Patch`` trailer."""
    res = git.run(
        [
            "log",
            "--reverse",
            "-z",
            "--format=%H %P%x00%(trailers:key=Verda-Patch,valueonly,separator=%x01)",
            f"{since}..{until}",
            "--",
        ],
        cwd=repo,
    )
    fields = git.zsplit(res.stdout)
    out = []
    for i in range(0, len(fields) - 1, 2):
        ids = fields[i].strip("\n").split()
        values = [v.strip() for v in fields[i + 1].split("\x01") if v.strip()]
        out.append(Link(ids[0], tuple(ids[1:]), values[-1] if values else None))
    return out


@dataclass(frozen=True)
class Rejection:
    """Why a prefix is not what its key says; ``position``: its first wrong commit (0: all)."""

    position: int
    reason: str

    def __str__(self) -> str:
        return self.reason


def verify(
    repo: Path,
    base: str,
    commit: str,
    files: Sequence[str],
    mails: Sequence[bytes],
    *,
    diff_from: int,
    through: str | None = None,
) -> Rejection | None:
    """None when ``commit`` is what applying the patches ``files`` on ``base`` builds.

    Every commit must sit on a straight line from ``base`` and carry its patch's
    ``Verda-Patch`` trailer; positions after ``diff_from`` must make exactly
    their patch's change, ``mails`` being theirs: the same patch-id (whitespace
    kept), or, where git's diff of the commit groups the hunks otherwise, the
    same tree when the patch is applied again on the commit's parent. With
    ``through``, commit ``diff_from`` must be that one.
    """
    chain = links(repo, base, commit)
    if len(chain) != len(files):
        return Rejection(0, f"it has {len(chain)} commits on the base, not {len(files)}")
    parent = base
    for i, (link, want) in enumerate(zip(chain, files, strict=True), 1):
        if link.parents != (parent,):
            return Rejection(i, f"commit {i} ({link.sha[:12]}) is not in line from the base")
        if link.trailer != want:
            return Rejection(i, f"commit {i} ({link.sha[:12]}) is for {link.trailer}, not {want}")
        parent = link.sha
    if through and chain[diff_from - 1].sha != through:
        return Rejection(0, f"it does not build on this cache's commit for {files[diff_from - 1]}")
    if diff_from < len(chain):
        since = chain[diff_from - 1].sha if diff_from else base
        theirs = commit_patch_ids(repo, since, commit)
        ours = mail_patch_ids(repo, mails)
        for i, (link, pid, mail) in enumerate(
            zip(chain[diff_from:], ours, mails, strict=False), diff_from + 1
        ):
            if pid is not None and theirs.get(link.sha) == pid:
                continue
            if not _applies_to(repo, link.parents[0], link.sha, mail):
                return Rejection(
                    i, f"commit {i} ({link.sha[:12]}) does not make the change of {files[i - 1]}"
                )
    return None


def _applies_to(repo: Path, parent: str, commit: str, mail: bytes) -> bool:
    """Applying ``mail``'s diff on ``parent`` gives ``commit``'s tree (a temporary index)."""
    _message, separator, diff = mail.partition(b"\n---\n")
    index = repo / f"verda-verify-{os.getpid()}-{threading.get_ident()}.index"
    env = {"GIT_INDEX_FILE": str(index)}
    try:
        git.run(["read-tree", parent], cwd=repo, env=env)
        res = git.run(
            ["apply", "--cached", "-"],
            cwd=repo,
            env=env,
            input=diff if separator else mail,
            ok=(0, 1, 128),
        )
        if res.returncode:
            return False
        tree = git.out(["write-tree"], cwd=repo, env=env)
    finally:
        index.unlink(missing_ok=True)
    return tree == git.out(["rev-parse", f"{commit}^{{tree}}"], cwd=repo)


Notify = Callable[[str], None]


def find(
    prefixes: Prefixes,
    base: str,
    files: Sequence[str],
    keys: Sequence[str],
    mail_of: Callable[[int], bytes],
    notify: Notify | None = None,
    trusted: str | None = None,
) -> Plan:
    """The longest verified prefix of the series in this cache.

    The commit a ref names is checked (straight line, trailers, the tip's own
    change) before it is used; a ref that fails is dropped with a warning and
    the next shorter one is tried, down to the base. ``trusted`` is a commit
    checked before (the one the work tree holds): found again, it is taken as is.
    """
    found = {i + 1: sha for i, sha in prefixes.lookup(keys[1:]).items()}
    while found:
        start = max(found)
        commit = found[start]
        if commit == trusted:
            return Plan(tuple(keys), start, commit)
        why = verify(
            prefixes.mirror,
            base,
            commit,
            files[:start],
            [mail_of(start - 1)],
            diff_from=start - 1,
        )
        if why is None:
            return Plan(tuple(keys), start, commit)
        if notify:
            notify(
                f"warning: cached prefix {ref(keys[start])[:30]}… for {files[start - 1]} "
                f"is wrong ({why}); dropped it, building from an earlier point"
            )
        prefixes.drop([keys[start]])
        del found[start]
    return Plan(tuple(keys), 0, base)
