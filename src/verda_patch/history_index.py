"""An index of one mirror's whole history: Change-Ids, citations and reverts.

``prune`` asks whether a target's history (every commit reachable from it,
the base's own history included) holds an upstream change, and whether a later
commit reverts it. Reading nova's 70,000 messages for that on every run would
cost seconds; this index maps

- Change-Id (of a commit's trailer block) → commits carrying it,
- cited commit (``(cherry picked from commit X)``) → commits citing it,
- reverted commit (``This reverts commit X.``) → commits reverting it,

and is built once per mirror (``verda-history.sqlite`` inside the bare
mirror), then updated with only the commits that are new since: ``git log
NEW_TIPS --not OLD_TIPS``; each update also extends the mirror's commit-graph,
so the reachability walks a lookup makes read generation numbers instead of
every commit object. It records the refs it was built from and is never
trusted past them: a mirror whose refs changed is re-read (new commits only)
under the mirror's lock, the one every fetch holds; an index that is damaged,
of another format, or whose old tips the mirror no longer has is rebuilt.
Which hits the target actually reaches is not the index's business (see
:mod:`verda_patch.presence`): it answers "which commits anywhere", never
"which commits in REF".
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from verda_patch import git
from verda_patch.patchfile import CHERRY_RE, trailer_change_ids

if TYPE_CHECKING:
    from verda_patch.mirror import Mirror

FILE = "verda-history.sqlite"
FORMAT = "3"
REVERTS_RE = re.compile(r"^This reverts commit ([0-9a-f]{7,40})\b", re.MULTILINE)
_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE tips (sha TEXT PRIMARY KEY);
CREATE TABLE change_ids (change_id TEXT NOT NULL, sha TEXT NOT NULL);
CREATE TABLE cites (cited TEXT NOT NULL, sha TEXT NOT NULL);
CREATE TABLE reverts (reverted TEXT NOT NULL, sha TEXT NOT NULL);
CREATE INDEX change_ids_key ON change_ids (change_id);
CREATE INDEX cites_key ON cites (cited);
CREATE INDEX reverts_key ON reverts (reverted);
CREATE TABLE patch_ids (sha TEXT PRIMARY KEY, patch_id TEXT NOT NULL);
CREATE TABLE changed_lines (sha TEXT PRIMARY KEY, lines BLOB NOT NULL);
"""
_TABLES = {"change_ids": "change_id", "cites": "cited", "reverts": "reverted"}


def refs_state(repo: Path) -> tuple[str, list[str]]:
    """(digest of every branch and tag, the commits they point at) — one git call."""
    out = git.run(
        [
            "for-each-ref",
            "--format=%(objectname) %(*objectname) %(refname)",
            "refs/heads/",
            "refs/tags/",
        ],
        cwd=repo,
    ).stdout
    tips: dict[str, None] = {}
    for line in out.decode("utf-8", "surrogateescape").splitlines():
        sha, peeled, _ = line.split(" ", 2)
        tips[peeled or sha] = None
    return hashlib.sha256(out).hexdigest(), list(tips)


class HistoryIndex:
    """Lookups over one repository's indexed history (a mirror, or any repo for tests)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    # --- lookups (full ids in, full ids out; an abbreviated citation still matches) ---

    def _lookup(self, table: str, keys: Iterable[str]) -> dict[str, list[str]]:
        column = _TABLES[table]
        out: dict[str, list[str]] = {}
        for key in dict.fromkeys(keys):
            rows = self.db.execute(
                f"SELECT sha FROM {table} WHERE {column} = ?", (key,)
            ).fetchall()  # table, column: from _TABLES
            if len(key) == 40:
                # a message citing or reverting an abbreviated id (rare): its prefixes
                rows += self.db.execute(
                    f"SELECT sha FROM {table} WHERE length({column}) < 40 "
                    f"AND substr(?, 1, length({column})) = {column}",
                    (key,),
                ).fetchall()
            else:
                rows += self.db.execute(
                    f"SELECT sha FROM {table} WHERE {column} > ? AND {column} < ?",
                    (key, key + "g"),
                ).fetchall()
            shas = list(dict.fromkeys(r[0] for r in rows))
            if shas:
                out[key] = shas
        return out

    def with_change_ids(self, change_ids: Iterable[str]) -> dict[str, list[str]]:
        """Change-Id → commits whose trailer block carries it."""
        return self._lookup("change_ids", change_ids)

    def citing(self, commits: Iterable[str]) -> dict[str, list[str]]:
        """Commit → commits whose message says ``(cherry picked from commit <it>)``."""
        return self._lookup("cites", commits)

    def reverting(self, commits: Iterable[str]) -> dict[str, list[str]]:
        """Commit → commits whose message says ``This reverts commit <it>.``"""
        return self._lookup("reverts", commits)

    def patch_ids(self, commits: Iterable[str]) -> dict[str, str]:
        """Commit → its ``git patch-id --stable``, for the commits already hashed once."""
        out = {}
        for sha in dict.fromkeys(commits):
            row = self.db.execute("SELECT patch_id FROM patch_ids WHERE sha = ?", (sha,)).fetchone()
            if row:
                out[sha] = row[0]
        return out

    def remember_patch_ids(self, found: dict[str, str]) -> None:
        """Keep patch-ids for the next run (a commit's never changes); best effort."""
        if not found:
            return
        with contextlib.suppress(sqlite3.Error):  # a read-only cache still works
            self.db.executemany(
                "INSERT OR REPLACE INTO patch_ids VALUES (?, ?)", list(found.items())
            )

    def changed_lines(self, commits: Iterable[str]) -> dict[str, bytes]:
        """Commit → the lines its diff adds and removes (``+``/``-`` lines, one per line),
        for the commits compared once already."""
        out = {}
        for sha in dict.fromkeys(commits):
            row = self.db.execute(
                "SELECT lines FROM changed_lines WHERE sha = ?", (sha,)
            ).fetchone()
            if row:
                out[sha] = bytes(row[0])
        return out

    def remember_changed_lines(self, found: dict[str, bytes]) -> None:
        if not found:
            return
        with contextlib.suppress(sqlite3.Error):
            self.db.executemany(
                "INSERT OR REPLACE INTO changed_lines VALUES (?, ?)", list(found.items())
            )

    def size(self) -> dict[str, int]:
        return {
            table: self.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in (*_TABLES, "tips", "patch_ids", "changed_lines")
        }


def _connect(path: Path | str) -> sqlite3.Connection:
    return sqlite3.connect(str(path), timeout=60, isolation_level=None)


def _meta(db: sqlite3.Connection, key: str) -> str | None:
    row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return row[0] if row else None


def _readable(db: sqlite3.Connection) -> bool:
    try:
        return _meta(db, "format") == FORMAT
    except sqlite3.DatabaseError:
        return False


def _records(data: bytes) -> Iterator[tuple[str, str]]:
    """``git log -z --format=%H%x00%B`` → (commit, message)."""
    tokens = data.split(b"\0")
    for i in range(0, len(tokens) - 1, 2):
        sha = tokens[i].strip().decode("ascii")
        if sha:
            yield sha, tokens[i + 1].decode("utf-8", "surrogateescape")


def _read_commits(repo: Path, tips: list[str], old: list[str]) -> Iterator[tuple[str, str]]:
    """Every commit reachable from ``tips`` and not from ``old`` (one ``git log``)."""
    if not tips:
        return iter(())
    stdin = "".join(f"{t}\n" for t in tips) + "".join(f"^{t}\n" for t in old)
    data = git.run(
        ["log", "-z", "--format=%H%x00%B", "--stdin"], cwd=repo, input=stdin.encode()
    ).stdout
    return _records(data)


def _add(db: sqlite3.Connection, commits: Iterable[tuple[str, str]]) -> int:
    rows: dict[str, list[tuple[str, str]]] = {table: [] for table in _TABLES}
    count = 0
    for sha, message in commits:
        count += 1
        rows["change_ids"] += [(cid, sha) for cid in trailer_change_ids(message)]
        if "cherry picked from" in message:
            rows["cites"] += [(c, sha) for c in dict.fromkeys(CHERRY_RE.findall(message))]
        if "This reverts commit" in message:
            rows["reverts"] += [(r, sha) for r in dict.fromkeys(REVERTS_RE.findall(message))]
    for table, values in rows.items():
        db.executemany(f"INSERT INTO {table} VALUES (?, ?)", values)
    return count


def _missing(repo: Path, shas: list[str]) -> bool:
    if not shas:
        return False
    res = git.run(
        ["cat-file", "--batch-check"], cwd=repo, input="".join(f"{s}\n" for s in shas).encode()
    )
    return b" missing" in res.stdout


def update(repo: Path, db_path: Path | str) -> int:
    """Bring the index at ``db_path`` up to ``repo``'s refs; the number of commits read.

    The caller holds the mirror's lock. Only commits new since the recorded tips
    are read; a damaged index, another format, or recorded tips the repository
    no longer has (a re-cloned or rewritten mirror) make it rebuild from scratch.
    """
    digest, tips = refs_state(repo)
    if Path(db_path).is_file():
        with closing(_connect(db_path)) as db:
            damaged = not _readable(db)
        if damaged:  # another format or not a database at all: start again
            Path(db_path).unlink()
    with closing(_connect(db_path)) as db:
        if _readable(db) and _meta(db, "refs") == digest:
            return 0
        old = [r[0] for r in db.execute("SELECT sha FROM tips")] if _readable(db) else []
        fresh = not _readable(db) or _missing(repo, old)
        db.execute("BEGIN IMMEDIATE")
        try:
            if fresh:
                for (name,) in db.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table'"
                ).fetchall():
                    db.execute(f'DROP TABLE "{name}"')
                for statement in filter(str.strip, _SCHEMA.split(";")):
                    db.execute(statement)
                old = []
            count = _add(db, _read_commits(repo, tips, old))
            db.execute("DELETE FROM tips")
            db.executemany("INSERT INTO tips VALUES (?)", [(t,) for t in tips])
            db.execute("INSERT OR REPLACE INTO meta VALUES ('format', ?)", (FORMAT,))
            db.execute("INSERT OR REPLACE INTO meta VALUES ('refs', ?)", (digest,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    if count:
        # the walks a lookup makes (rev-list, merge-base) read generation numbers
        # from here instead of every commit object; --split: new commits only
        git.run(
            ["commit-graph", "write", "--reachable", "--split", "--no-progress"],
            cwd=repo,
            ok=(0, 1, 128),
        )
    return count


def current(repo: Path, db_path: Path | str) -> bool:
    """Whether the index at ``db_path`` describes ``repo``'s refs as they are now."""
    if not Path(db_path).is_file():
        return False
    with closing(_connect(db_path)) as db:
        return _readable(db) and _meta(db, "refs") == refs_state(repo)[0]


@contextmanager
def opened(repo: Path, db_path: Path | str | None = None) -> Iterator[HistoryIndex]:
    """The index of ``repo`` (a mirror's own file, else a throw-away one), up to date.

    For a mirror, use :func:`for_mirror`: it updates under the mirror's lock.
    """
    if db_path is None:
        with closing(_connect(":memory:")) as db:
            for statement in filter(str.strip, _SCHEMA.split(";")):
                db.execute(statement)
            _, tips = refs_state(repo)
            # a plain repository (tests, a local upstream): its HEAD counts too
            head = git.resolve(repo, "HEAD")
            _add(db, _read_commits(repo, [*tips, *([head] if head else [])], []))
            yield HistoryIndex(db)
        return
    with closing(_connect(db_path)) as db:
        yield HistoryIndex(db)


def after_fetch(repo: Path) -> None:
    """Keep an existing index in step with a fetch (the caller holds the mirror's lock)."""
    if (repo / FILE).is_file():
        update(repo, repo / FILE)


@contextmanager
def for_mirror(
    mirror: Mirror, notify: Callable[[str], None] | None = None
) -> Iterator[HistoryIndex]:
    """The mirror's index, built on first use and brought up to its refs, read under its lock.

    The lock is the one every fetch takes, so the refs the index was checked
    against cannot move while it is read.
    """
    path = mirror.path / FILE
    with mirror.lock():
        if not current(mirror.path, path):
            if notify and not path.is_file():
                notify(f"indexing the history of {mirror.location} (once)")
            update(mirror.path, path)
        with opened(mirror.path, path) as index:
            yield index
