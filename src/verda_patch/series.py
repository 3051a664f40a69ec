"""The series a build applies, parsed only where a build needs it.

Finding the longest built prefix (:mod:`verda_patch.prefix`) needs, for every
patch, the digest of the mail ``git am`` is fed — not the parsed patch. A memo
in the patch repo (``.verda/mail-digests.json``) maps each file's name and
bytes to that digest, under a stamp of the code that turns bytes into a mail
(the parser and the mail writer), so a file seen before is not parsed again:
re-applying an unchanged 400-patch series reads the files and parses none.
Whatever is parsed is parsed from the very bytes that were hashed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path

from verda_patch.config import RepoConfig
from verda_patch.errors import PatchError, UnreadablePatches
from verda_patch.patchfile import Patch
from verda_patch.store import Entry, Store, write_atomic

MEMO = ".verda/mail-digests.json"
MakeMail = Callable[[Patch], bytes]


def code_stamp(*modules: object) -> str:
    """A digest of the code in ``modules`` (what decides what mail a file becomes)."""
    h = hashlib.sha256(b"verda-patch code stamp v1\0")
    for module in modules:
        source = getattr(module, "__file__", None)
        try:
            h.update(Path(str(source)).read_bytes())
        except OSError:  # no source shipped: the version has to do
            from verda_patch import __version__

            h.update(__version__.encode())
    return h.hexdigest()


def digest(mail: bytes) -> str:
    return hashlib.sha256(mail).hexdigest()


class Series:
    """Names, paths and mail digests of a series; patches and mails on demand."""

    def __init__(
        self,
        files: Sequence[str],
        paths: Sequence[Path],
        make_mail: MakeMail,
        *,
        raw: Sequence[bytes] | None = None,
        parsed: dict[int, Patch] | None = None,
        store: Store | None = None,
        entries: Sequence[Entry] = (),
    ) -> None:
        self.files = list(files)
        self.paths = list(paths)
        self._make_mail = make_mail
        self._raw = raw
        self._store = store
        self._entries = list(entries)
        self._parsed: dict[int, Patch] = dict(parsed or {})
        self._mails: dict[int, bytes] = {}
        self.digests: list[str] = []

    def __len__(self) -> int:
        return len(self.files)

    @classmethod
    def of(cls, patches: Sequence[Patch], make_mail: MakeMail) -> Series:
        """A series a caller already parsed."""
        series = cls(
            [p.file for p in patches],
            [p.path for p in patches],
            make_mail,
            parsed=dict(enumerate(patches)),
        )
        series.digests = [digest(series.mail(i)) for i in range(len(patches))]
        return series

    @classmethod
    def load(cls, config: RepoConfig, project: str, make_mail: MakeMail, stamp: str) -> Series:
        """Every patch file of ``project``; only files the memo does not know are parsed.

        Every file is read before anything is refused: one error names each
        file that cannot be read (as :meth:`Store.load` does); untrusted mode's
        limits hold for every file parsed, and its size limit before reading.
        """
        store = Store(config)
        entries = store.entries(project)
        raw: list[bytes] = []
        errors: list[PatchError] = []
        policy = config.policy
        for entry in entries:
            try:
                if policy.untrusted and (
                    problem := policy.check(
                        "patch_bytes", entry.path.stat().st_size, "its size in bytes"
                    )
                ):
                    raise PatchError(problem, file=entry.path)
                raw.append(entry.path.read_bytes())
            except OSError as exc:
                errors.append(PatchError(f"cannot read: {exc.strerror}", file=entry.path))
                raw.append(b"")
            except PatchError as exc:
                errors.append(exc)
                raw.append(b"")
        if errors:
            raise UnreadablePatches(errors)
        series = cls(
            [e.file for e in entries],
            [e.path for e in entries],
            make_mail,
            raw=raw,
            store=store,
            entries=entries,
        )
        memo = _read_memo(config.root / MEMO, stamp)
        fresh: dict[str, list[str]] = {}
        for i, (name, data) in enumerate(zip(series.files, raw, strict=True)):
            data_digest = hashlib.sha256(data).hexdigest()
            known = memo.get(name)
            try:
                if known and known[0] == data_digest:
                    mail_digest = known[1]
                else:
                    mail_digest = digest(series.mail(i))
            except PatchError as exc:
                errors.append(store.with_git_verdict(exc, entries[i].path))
                continue
            fresh[name] = [data_digest, mail_digest]
            series.digests.append(mail_digest)
        if errors:
            raise UnreadablePatches(errors)
        if fresh != memo:
            _write_memo(config.root / MEMO, stamp, fresh)
        return series

    def parsed(self) -> list[Patch]:
        """The patches parsed so far (to path-check before anything is touched)."""
        return [self._parsed[i] for i in sorted(self._parsed)]

    def patch(self, i: int) -> Patch:
        if i not in self._parsed:
            assert self._raw is not None and self._store is not None
            self._parsed[i] = self._store.parse_data(self._entries[i], self._raw[i])
        return self._parsed[i]

    def mail(self, i: int) -> bytes:
        if i not in self._mails:
            self._mails[i] = self._make_mail(self.patch(i))
        return self._mails[i]

    def patches(self, start: int = 0) -> list[Patch]:
        return [self.patch(i) for i in range(start, len(self))]


def _read_memo(path: Path, stamp: str) -> dict[str, list[str]]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("stamp") != stamp:
        return {}
    files = data.get("files")
    if not isinstance(files, dict):
        return {}
    return {
        k: v
        for k, v in files.items()
        if isinstance(v, list) and len(v) == 2 and all(isinstance(x, str) for x in v)
    }


def _write_memo(path: Path, stamp: str, files: dict[str, list[str]]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps({"stamp": stamp, "files": files}).encode())
    except OSError:
        pass  # only a memo: the next run parses again
