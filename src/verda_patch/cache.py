"""``cache list`` / ``cache prune``: what the upstream cache holds, and removing the unused.

The cache holds entries of several kinds; each kind is a :class:`Kind` in
:data:`KINDS` that lists its entries and removes one. Today there is one kind,
``mirror`` (a bare mirror of an upstream) and ``prefixes`` (the built-prefix
refs kept inside a mirror, issue 16); ``list``/``prune`` show and remove every
kind with the same options.

Pruning is a dry run unless asked; it holds the cache lock exclusively, so no
fetch or clone runs while an entry disappears, and it renames a mirror away
before deleting it, so a crash never leaves half a mirror under its real name.
A work tree that borrowed objects from a removed mirror works again once the
next ``apply`` has cloned the mirror back (same upstream, same path).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from verda_patch import git, mirror, prefix, upstreams
from verda_patch.errors import UserError

DAY = 86400.0


@dataclass(frozen=True)
class Entry:
    """One thing the cache holds."""

    kind: str
    name: str  # what ``cache prune NAME`` takes
    path: Path
    size: int  # bytes on disk
    upstream: str | None  # without credentials
    last_used: float | None  # seconds since the epoch
    last_fetch: float | None

    def to_json(self) -> dict[str, object]:
        def iso(stamp: float | None) -> str | None:
            if stamp is None:
                return None
            return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp))

        return {
            "kind": self.kind,
            "name": self.name,
            "path": str(self.path),
            "size": self.size,
            "upstream": self.upstream,
            "last_used": iso(self.last_used),
            "last_fetch": iso(self.last_fetch),
        }


class Kind(Protocol):
    """A kind of cache entry: how to find them and how to remove one."""

    name: str

    def entries(self, root: Path) -> Iterable[Entry]: ...

    def matches(self, entry: Entry, wanted: str) -> bool: ...

    def remove(self, entry: Entry) -> None: ...


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None


def disk_size(path: Path) -> int:
    """Bytes the files under ``path`` take (symlinks not followed)."""
    total = 0
    for folder, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                continue
    return total


def _mirrors(root: Path) -> Iterator[tuple[Path, str | None]]:
    """Each mirror under ``root`` with its upstream (credentials removed), if it names one."""
    for path in sorted(root.glob("*.git")):
        if not (path / "objects").is_dir() or path.is_symlink():
            continue
        url = git.run(
            ["config", "--get", "remote.origin.url"], cwd=path, ok=(0, 1, 128)
        ).text.strip()
        yield path, upstreams.redact(url) if url else None


class Mirrors:
    """``<key>.git``: a bare mirror of one upstream (see :mod:`verda_patch.mirror`)."""

    name = "mirror"

    def entries(self, root: Path) -> Iterable[Entry]:
        for path, upstream in _mirrors(root):
            fetched = _mtime(path / mirror.FETCHED_MARK) or _mtime(path / "packed-refs")
            yield Entry(
                kind=self.name,
                name=path.name.removesuffix(".git"),
                path=path,
                size=disk_size(path),
                upstream=upstream,
                last_used=_mtime(path / mirror.USED_MARK) or fetched or _mtime(path),
                last_fetch=fetched,
            )

    def matches(self, entry: Entry, wanted: str) -> bool:
        if wanted in (entry.name, entry.path.name):
            return True
        # an upstream location, spelled any way: the mirror it would use
        return "/" in wanted and mirror.key(wanted) == entry.name

    def remove(self, entry: Entry) -> None:
        gone = entry.path.with_name(f"{entry.path.name}.removing-{os.getpid()}")
        entry.path.rename(gone)  # atomic: the mirror is whole or absent
        shutil.rmtree(gone)
        entry.path.with_suffix(".lock").unlink(missing_ok=True)


class PrefixRefs:
    """``refs/verda/prefix/*`` of one mirror: the built prefixes (:mod:`verda_patch.prefix`).

    Removing them drops only the refs (the next build makes them again); the
    objects stay, so no work tree built from them breaks.
    """

    name = "prefixes"

    def entries(self, root: Path) -> Iterable[Entry]:
        for path, upstream in _mirrors(root):
            refs = git.run(
                ["for-each-ref", "--format=%(refname)", prefix.REF_PREFIX],
                cwd=path,
                ok=(0, 128),
            ).text.split()
            if not refs:
                continue
            yield Entry(
                kind=self.name,
                name=path.name.removesuffix(".git") + prefix.ENTRY_SUFFIX,
                path=path,
                size=sum(len(r) + 42 for r in refs),  # as a packed-refs line each
                upstream=upstream,
                last_used=_mtime(path / prefix.USED_MARK) or _mtime(path),
                last_fetch=None,
            )

    def matches(self, entry: Entry, wanted: str) -> bool:
        return wanted == entry.name

    def remove(self, entry: Entry) -> None:
        if entry.path.is_dir():  # not when its mirror went first
            prefix.Prefixes(entry.path).drop_all()


KINDS: list[Kind] = [Mirrors(), PrefixRefs()]


def list_entries(root: Path | None = None) -> list[Entry]:
    """Every entry of every kind in the cache at ``root`` (default: the user's cache)."""
    root = root or mirror.cache_root()
    if not root.is_dir():
        return []
    return [entry for kind in KINDS for entry in kind.entries(root)]


@dataclass(frozen=True)
class Pruned:
    entries: tuple[Entry, ...]  # what was (or, in a dry run, would be) removed
    dry_run: bool
    kept: int


def prune(
    *,
    names: Sequence[str] = (),
    unused_days: float | None = None,
    dry_run: bool = True,
    now: float | None = None,
    root: Path | None = None,
) -> Pruned:
    """Remove the named entries and those unused for ``unused_days``; only report if ``dry_run``."""
    if not names and unused_days is None:
        raise UserError(
            "say what to prune: entry names (see 'verda-patch cache list') or --unused-for DAYS"
        )
    root = root or mirror.cache_root()
    now = time.time() if now is None else now
    kinds = {kind.name: kind for kind in KINDS}
    with mirror.cache_lock(root, exclusive=True):
        entries = list_entries(root)
        chosen: dict[tuple[str, str], Entry] = {}
        for wanted in names:
            found = [e for e in entries if kinds[e.kind].matches(e, wanted)]
            if not found:
                raise UserError(
                    f"the cache has no entry named {upstreams.redact(wanted)!r}",
                    hint="see 'verda-patch cache list' for the names",
                )
            chosen.update(((e.kind, e.name), e) for e in found)
        if unused_days is not None:
            cutoff = now - unused_days * DAY
            chosen.update(
                ((e.kind, e.name), e)
                for e in entries
                if e.last_used is not None and e.last_used < cutoff
            )
        picked = tuple(e for e in entries if (e.kind, e.name) in chosen)
        if not dry_run:
            for entry in picked:
                kinds[entry.kind].remove(entry)
    return Pruned(picked, dry_run, len(entries) - len(picked))
