"""``export``: write the work tree's commits back to their patch files, only where meaning changed.

Canonical text comes from ``git format-patch`` run in a *clean room*: an empty
bare repository that borrows the work tree's objects, so neither the user's nor
the repository's config, ``info/attributes`` or a ``.gitattributes`` in the tree
can change a byte; the options that shape the output are also spelled out, so
git's own defaults do not matter either.

SPEC "form is not meaning": a file is rewritten only when its subject, message,
author, date or the change its diff makes differ from its commit's. The
``From <sha>`` line, ``index`` lines, the diffstat, a signature and the
``[PATCH n/m]`` prefix are form. Diffs are compared as text first (index lines
and hunk-header context ignored); when that differs, the old file's diff is
applied to the commit's parent in a temporary index, and if that gives the
commit's tree the file is kept as it is.
"""

from __future__ import annotations

import email.utils
import itertools
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from verda_patch import export_memo, git
from verda_patch.apply import (
    CUSTOM_SOURCE,
    FALLBACK_AUTHOR,
    FALLBACK_DATE,
    INBODY_HEADER_RE,
    custom_files,
)
from verda_patch.config import RepoConfig
from verda_patch.errors import OperationFailed, PatchError, UserError
from verda_patch.export_memo import ExportMemo
from verda_patch.patchfile import (
    TRAILER_KEY,
    Patch,
    parse_bytes,
    strip_crud,
    subject_from_filename,
)
from verda_patch.store import SERIES, Store, is_patch_name, series_name, write_atomic
from verda_patch.worktree import Commit, WorkTree

Progress = Callable[[int, int], None]

ZERO_FROM = b"From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\n"

# Every option that shapes format-patch output, spelled out even where it is
# the default, so neither config nor a change of git's defaults moves a byte.
FORMAT_ARGS = (
    "format-patch",
    "--stdout",
    "--no-numbered",  # "[PATCH]", not "[PATCH 3/7]": a file must not depend on its neighbours
    "--subject-prefix=PATCH",
    "--no-signature",  # "-- \n2.39.5" would change with every git upgrade
    "--full-index",  # abbreviations grow with the object count
    "--find-renames",  # git's 50% default, explicit
    "--diff-algorithm=myers",
    "--unified=3",
    "--inter-hunk-context=0",
    "--stat=72",
    "--summary",
    "--no-color",
    "--no-ext-diff",
    "--no-textconv",
    "--no-notes",
    "--encoding=UTF-8",
)

_FROM_LINE_RE = re.compile(rb"^From ([0-9a-f]{40}) Mon Sep 17 00:00:00 2001\n", re.MULTILINE)
_TRAILER_PREFIX = (TRAILER_KEY + ": ").encode()
_HUNK_RE = re.compile(rb"^(@@ -\d+(?:,\d+)? \+\d+(?:,\d+)? @@).*$")
_FILE_NAME_RE = re.compile(r"[^/\\\s][^/\\]*")


# --- results -------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportResult:
    """What ``export`` did (or, with ``write=False``, would do) for one project."""

    project: str
    written: tuple[str, ...]  # patch files rewritten because their meaning changed
    unchanged: tuple[str, ...]
    missing: tuple[str, ...]  # patch files with no commit in the work tree
    removed: tuple[str, ...]  # of those, deleted (only with prune_missing)
    untracked: tuple[str, ...]  # "<short sha> <subject>" of commits without a trailer
    created: tuple[str, ...] = ()  # of ``written``, files that did not exist
    adopted: tuple[str, ...] = ()  # files matched to a commit that lost its trailer
    reordered: tuple[str, ...] = ()  # categories whose series file got the new order
    order_not_saved: tuple[str, ...] = ()  # categories whose new order no file can hold
    uncommitted: tuple[str, ...] = ()  # work-tree paths with changes no commit holds
    custom_source_changed: tuple[str, ...] = ()  # paths where the custom-source commit
    # differs from custom-source/<project> (export never writes custom-source)
    synced: bool = False  # the patch files now hold the work tree's branch

    @property
    def changed(self) -> bool:
        """Whether the patch repo was (or would be) modified."""
        return bool(self.written or self.removed or self.reordered)

    @property
    def unsaved(self) -> bool:
        """Whether the work tree holds something the patch files do not."""
        kept = set(self.missing) - set(self.removed)
        return bool(self.untracked or kept or self.order_not_saved or self.custom_source_changed)

    def to_json(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "written": list(self.written),
            "unchanged": list(self.unchanged),
            "missing": list(self.missing),
            "removed": list(self.removed),
            "untracked": list(self.untracked),
            "created": list(self.created),
            "adopted": list(self.adopted),
            "reordered": list(self.reordered),
            "order_not_saved": list(self.order_not_saved),
            "uncommitted": list(self.uncommitted),
            "custom_source_changed": list(self.custom_source_changed),
            "synced": self.synced,
        }


# --- the clean room -----------------------------------------------------------------


def _objects_dir(repo: Path) -> Path:
    for candidate in (repo / ".git" / "objects", repo / "objects"):
        if candidate.is_dir() and (candidate.parent / "HEAD").is_file():
            return candidate.resolve()
    common = git.out(["rev-parse", "--path-format=absolute", "--git-common-dir"], cwd=repo)
    return Path(common) / "objects"


@contextmanager
def clean_room(repo: Path) -> Iterator[Path]:
    """An empty bare repository that reads ``repo``'s objects and nothing else of it.

    Git run there (with ``GIT_DIR`` set to it) sees no repo-level config, no
    attributes and no hooks: format-patch output depends on the commits alone.
    """
    room = Path(tempfile.mkdtemp(prefix="verda-clean-"))
    try:
        (room / "objects" / "info").mkdir(parents=True)
        (room / "refs").mkdir()
        (room / "HEAD").write_text("ref: refs/heads/master\n")
        (room / "config").write_text("[core]\n\trepositoryformatversion = 0\n\tbare = true\n")
        (room / "objects" / "info" / "alternates").write_text(f"{_objects_dir(repo)}\n")
        yield room
    finally:
        shutil.rmtree(room, ignore_errors=True)


def _format_patch(room: Path, revs: Sequence[str]) -> bytes:
    return git.run([*FORMAT_ARGS, *revs], cwd=room, env={"GIT_DIR": str(room)}).stdout


# --- canonical text -----------------------------------------------------------------


def _split_mbox(data: bytes, shas: Sequence[str]) -> dict[str, bytes]:
    """format-patch's stream → one message per commit, each starting with the zero From line.

    ``shas`` are all the commits in the stream: only their From lines split it.
    """
    wanted = set(shas)
    starts = [(m.start(), m.end(), m.group(1).decode()) for m in _FROM_LINE_RE.finditer(data)]
    starts = [s for s in starts if s[2] in wanted]
    out: dict[str, bytes] = {}
    for i, (_start, end, sha) in enumerate(starts):
        stop = starts[i + 1][0] if i + 1 < len(starts) else len(data)
        body = data[end:stop]
        if i + 1 < len(starts):
            body = body[:-1]  # the blank line format-patch puts between two messages
        out.setdefault(sha, ZERO_FROM + body)
    return out


def _message_span(lines: list[bytes]) -> tuple[int, int] | None:
    """[start, end) of the commit message body in one format-patch message.

    The body starts after the blank line ending the headers and stops at the
    ``---`` line format-patch writes before the diffstat (the last one before
    the first ``diff --git``).
    """
    try:
        start = lines.index(b"\n") + 1
    except ValueError:
        return None
    diff_at = next(
        (i for i in range(start, len(lines)) if lines[i].startswith(b"diff --git ")), len(lines)
    )
    for end in range(diff_at - 1, start - 1, -1):
        if lines[end] == b"---\n":
            return start, end
    return None


def strip_trailer(text: bytes) -> bytes:
    """Remove the ``Verda-Patch:`` trailer from a format-patch message (as if never there)."""
    lines = text.splitlines(keepends=True)
    span = _message_span(lines)
    if span is None:
        return text
    start, end = span
    for i in range(end - 1, start - 1, -1):
        if not lines[i].strip():
            break  # only the last paragraph holds trailers
        if lines[i].startswith(_TRAILER_PREFIX):
            del lines[i]
            end -= 1
            # the trailer had a paragraph of its own: drop the blank line before it too
            while end > start and not lines[end - 1].strip():
                del lines[end - 1]
                end -= 1
            break
    return b"".join(lines)


def add_trailer(text: bytes, line: str) -> bytes:
    """Append ``line`` to a format-patch message's trailer block (or a new one), as
    ``git cherry-pick -x`` does."""
    from verda_patch.apply import with_trailer

    lines = text.splitlines(keepends=True)
    span = _message_span(lines)
    if span is None:
        raise PatchError("no commit message found in the rendered patch")
    start, end = span
    body = b"".join(lines[start:end]).decode("utf-8", "surrogateescape")
    encoded = (with_trailer(body, line) + "\n").encode("utf-8", "surrogateescape")
    return b"".join(lines[:start]) + encoded + b"".join(lines[end:])


def keep_message_whole(text: bytes) -> bytes:
    """A format-patch message whose body starts like an in-body header ("From: the
    config") gets an in-body ``From:`` first, as apply's mail does, so ``git am``
    and verda-patch read the whole message back instead of an author from it."""
    head, sep, body = text.partition(b"\n\n")
    if not sep or not INBODY_HEADER_RE.match(body.decode("utf-8", "surrogateescape")):
        return text
    sender = re.search(rb"^From: .*(?:\n[ \t].*)*", head, re.MULTILINE)
    if sender is None:
        return text
    inbody = re.sub(rb"\n[ \t]+", b" ", sender.group(0))
    return head + sep + inbody + b"\n\n" + body


def render_commits(repo: Path, base: str, shas: Sequence[str]) -> dict[str, bytes]:
    """Canonical patch text of each of ``shas`` (all in ``base..``), with one format-patch."""
    if not shas:
        return {}
    span = f"{base}..{shas[-1]}"
    in_range = git.out(["rev-list", span, "--"], cwd=repo).split()
    with clean_room(repo) as room:
        data = _format_patch(room, [span])
    rendered = _split_mbox(data, in_range)
    missing = [sha for sha in shas if sha not in rendered]
    if missing:
        raise OperationFailed(
            f"git format-patch wrote nothing for commit {missing[0][:12]} "
            "(a merge, or a commit that changes nothing)",
            hint="verda-patch keeps a linear series of non-empty commits; drop or squash it",
        )
    return {sha: keep_message_whole(strip_trailer(rendered[sha])) for sha in shas}


def render_commit(repo: Path, sha: str) -> bytes:
    """Canonical patch text of one commit, its ``Verda-Patch`` trailer stripped."""
    full = git.out(["rev-parse", "--verify", "--end-of-options", f"{sha}^{{commit}}"], cwd=repo)
    with clean_room(repo) as room:
        data = _format_patch(room, ["-1", full])
    rendered = _split_mbox(data, [full])
    if full not in rendered:
        raise OperationFailed(
            f"git format-patch wrote nothing for commit {sha[:12]} "
            "(a merge, or a commit that changes nothing)"
        )
    return keep_message_whole(strip_trailer(rendered[full]))


def diff_part(text: bytes) -> bytes:
    """The diff of a canonical rendering (what a plain-diff patch file holds)."""
    at = text.find(b"\ndiff --git ")
    return text[at + 1 :] if at >= 0 else text


# --- meaning --------------------------------------------------------------------------


@dataclass(frozen=True)
class Meaning:
    """What a patch file says, with every formatting choice taken out."""

    subject: str
    message: str
    author: tuple[str, str]
    date: tuple[int, int] | str
    diff: bytes
    has_header: bool = True


def _date_key(value: str | None) -> tuple[int, int] | str:
    value = value or FALLBACK_DATE
    parsed = email.utils.parsedate_tz(value)
    if parsed is None:
        return " ".join(value.split())
    return email.utils.mktime_tz(parsed), parsed[9] or 0


def _without_trailer(message: str) -> str:
    lines = message.split("\n")
    for i in range(len(lines) - 1, -1, -1):
        if not lines[i].strip():
            break
        if lines[i].startswith(TRAILER_KEY + ":"):
            del lines[i]
            break
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines)


def normalize_diff(diff: bytes) -> bytes:
    """A diff without its form: no ``index`` lines, no hunk-header context, no trailing blanks."""
    out: list[bytes] = []
    in_header = False
    for line in diff.replace(b"\r\n", b"\n").split(b"\n"):
        if line.startswith(b"diff --git "):
            in_header = True
        elif in_header and line.startswith(
            (b"--- ", b"+++ ", b"@@ ", b"Binary files ", b"GIT binary patch")
        ):
            in_header = line.startswith((b"--- ", b"+++ "))
        if in_header and line.startswith(b"index "):
            continue
        if line.startswith(b"@@ ") and (m := _HUNK_RE.match(line)):
            line = m.group(1)
        out.append(line)
    while out and not out[-1]:
        out.pop()
    return b"\n".join(out) + b"\n"


def meaning_of(data: bytes, name: str = "") -> Meaning:
    """Parse ``data`` (a patch file named ``name``) into its :class:`Meaning`."""
    patch = parse_bytes(data, source=Path(name or "patch.patch"))
    return _meaning(patch)


def _meaning(patch: Patch) -> Meaning:
    if patch.author_name is None and patch.author_email is None:
        author = FALLBACK_AUTHOR  # what apply gives a file without an author
    else:
        # quotes and dots around a name are form: git records the name without them
        author = (strip_crud(patch.author_name or ""), strip_crud(patch.author_email or ""))
    return Meaning(
        subject=" ".join(patch.subject.split()),
        message=_without_trailer(patch.message),
        author=author,
        date=_date_key(patch.date),
        diff=normalize_diff(patch.diff),
        has_header=patch.has_header,
    )


def _same_header(old: Meaning, new: Meaning, *, check_subject: bool = True) -> bool:
    return (
        (old.subject == new.subject or not check_subject)
        and old.message == new.message
        and old.author == new.author
        and old.date == new.date
    )


def _applies_to(repo: Path, commit: str, tree: str, diff: bytes) -> bool:
    """Does ``diff`` applied to ``commit``'s parent give ``tree`` (the commit's)?"""
    fd, index = tempfile.mkstemp(prefix="verda-index-")
    os.close(fd)
    os.unlink(index)
    env = {"GIT_INDEX_FILE": index}
    try:
        git.run(["read-tree", "--end-of-options", f"{commit}^"], cwd=repo, env=env)
        res = git.run(
            ["apply", "--cached", "--whitespace=nowarn", "-"],
            cwd=repo,
            env=env,
            input=diff,
            ok=(0, 1, 128),
        )
        if res.returncode:
            return False
        return git.out(["write-tree"], cwd=repo, env=env) == tree
    finally:
        Path(index).unlink(missing_ok=True)


def _text_verdict(old: bytes, new: bytes, name: str) -> tuple[bool | None, Patch | None]:
    """(True: same meaning, False: changed, None: only an apply test can tell; old parsed)."""
    if old == new:
        return True, None
    try:
        old_patch = parse_bytes(old, source=Path(name))
    except PatchError:
        return False, None
    a = _meaning(old_patch)
    b = meaning_of(new, name)
    if not _same_header(a, b):
        return False, old_patch
    return (True if a.diff == b.diff else None), old_patch


def _plain_defaults(meaning: Meaning, name: str) -> bool:
    """Whether a commit says no more than a plain diff named ``name`` can."""
    return (
        meaning.message == ""
        and meaning.author == FALLBACK_AUTHOR
        and meaning.date == _date_key(FALLBACK_DATE)
        and meaning.subject == subject_from_filename(name)
    )


# --- the chain ----------------------------------------------------------------------


@dataclass(frozen=True)
class ChainCommit:
    """One commit of ``base..HEAD`` with its parents and authorship."""

    commit: Commit
    parents: tuple[str, ...]
    author: tuple[str, str] = ("", "")
    date: tuple[int, int] = (0, 0)  # epoch, offset in seconds
    tree: str = ""

    @property
    def sha(self) -> str:
        return self.commit.sha


def chain(repo: Path, base: str, until: str = "HEAD") -> list[ChainCommit]:
    """``base..until`` oldest first, with parents and messages (one git call)."""
    res = git.run(
        [
            "log",
            "--reverse",
            "--topo-order",
            "--date=raw",
            "--format=%H%x1f%T%x1f%P%x1f%an%x1f%ae%x1f%ad%x1f%s%x1f%B%x1e",
            f"{base}..{until}",
            "--",
        ],
        cwd=repo,
    )
    out = []
    for record in res.stdout.decode("utf-8", "surrogateescape").split("\x1e"):
        record = record.lstrip("\n")
        if not record:
            continue
        sha, tree, parents, name, mail, date, subject, message = record.split("\x1f", 7)
        stamp, _, zone = date.partition(" ")
        offset = int(zone[1:3] or 0) * 3600 + int(zone[3:5] or 0) * 60
        out.append(
            ChainCommit(
                Commit(sha, subject, message),
                tuple(parents.split()),
                (name, mail),
                (int(stamp or 0), -offset if zone.startswith("-") else offset),
                tree,
            )
        )
    return out


def _adopt(orphans: Sequence[ChainCommit], missing: Sequence[Any]) -> dict[str, str]:
    """Pair trailer-less commits with trailer-less files by author and author date.

    ``git commit --amend -m`` drops the ``Verda-Patch`` trailer but keeps the
    author and date; a commit and a file that match each other and nothing
    else are the same patch. Returns sha → file.
    """
    keys: dict[tuple[Any, ...], list[str]] = {}
    for entry in missing:
        try:
            meaning = meaning_of(entry.path.read_bytes(), entry.name)
        except PatchError:
            continue
        keys.setdefault((meaning.author, meaning.date), []).append(entry.file)
    commits: dict[tuple[Any, ...], list[str]] = {}
    for item in orphans:
        commits.setdefault((item.author, item.date), []).append(item.sha)
    return {
        shas[0]: keys[key][0]
        for key, shas in commits.items()
        if len(shas) == 1 and len(keys.get(key, ())) == 1
    }


def _changed_paths(repo: Path, item: ChainCommit) -> list[str]:
    res = git.run(
        ["diff-tree", "-r", "--no-renames", "--name-only", "-z", item.parents[0], item.sha],
        cwd=repo,
    )
    return git.zsplit(res.stdout)


def _looks_like_custom_source(repo: Path, item: ChainCommit, custom: dict[str, Path]) -> bool:
    """A trailer-less commit by verda-patch that touches only custom-source paths."""
    if item.commit.trailer is not None or item.author != (git.COMMITTER_NAME, git.COMMITTER_EMAIL):
        return False
    changed = _changed_paths(repo, item)
    return bool(changed) and set(changed) <= set(custom)


def _custom_drift(repo: Path, item: ChainCommit, custom: dict[str, Path]) -> tuple[str, ...]:
    """Paths where the custom-source commit differs from ``custom-source/<project>``."""
    drift = {path for path in _changed_paths(repo, item) if path not in custom}
    if custom:
        names = sorted(custom)
        listed = git.run(["ls-tree", "-r", "-z", item.sha, "--", *names], cwd=repo).stdout
        in_tree = {}
        for entry in git.zsplit(listed):
            meta, _, path = entry.partition("\t")
            in_tree[path] = meta.split()[2]
        hashes = git.out(
            ["hash-object", "--no-filters", "--stdin-paths"],
            cwd=repo,
            input="".join(f"{custom[name]}\n" for name in names).encode(),
        ).split()
        drift |= {name for name, sha in zip(names, hashes, strict=True) if in_tree.get(name) != sha}
    return tuple(sorted(drift))


def _check_file_name(file: str, categories: Sequence[str]) -> bool:
    category, _, name = file.partition("/")
    return category in categories and bool(_FILE_NAME_RE.fullmatch(name)) and is_patch_name(name)


def _reorder_series(text: str, desired: Sequence[str]) -> str:
    """``series`` text with the lines of ``desired``'s names in that order.

    Comments, blank lines and names not in ``desired`` keep their places; names
    of ``desired`` the file does not list yet are appended.
    """
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    wanted = set(desired)
    slots = [i for i, line in enumerate(lines) if series_name(line) in wanted]
    by_name = {series_name(lines[i]): lines[i] for i in slots}
    ordered = [name for name in desired if name in by_name]
    for slot, name in zip(slots, ordered, strict=True):
        lines[slot] = by_name[name]
    lines += [name + "\n" for name in desired if name not in by_name]
    return "".join(lines)


@dataclass
class _Plan:
    writes: dict[str, bytes] = field(default_factory=dict)  # file → bytes
    created: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    series: dict[str, str] = field(default_factory=dict)  # category → new series text


def export_tree(
    config: RepoConfig,
    project: str,
    tree_path: Path,
    base: str,
    *,
    write: bool = True,
    prune_missing: bool = False,
    progress: Progress | None = None,
    guard: Callable[[Sequence[str]], None] | None = None,
    memo: ExportMemo | None = None,
) -> ExportResult:
    """Write the commits of ``base..HEAD`` in ``tree_path`` back to ``project``'s patch files.

    Every problem that would stop the export is found before the first write;
    ``guard`` sees the files about to be written and may refuse (raise).
    ``memo``: the leading patches it knows unchanged are neither rendered nor
    compared again, and what this run finds unchanged is added to it.
    """
    store = Store(config)
    categories = config.settings.categories
    entries = store.entries(project)
    by_file = {entry.file: entry for entry in entries}
    custom = f"{CUSTOM_SOURCE}/{project}"

    items: list[ChainCommit] = []
    seen: dict[str, str] = {}
    custom_commit: ChainCommit | None = None
    for item in chain(tree_path, base):
        trailer = item.commit.trailer
        if len(item.parents) > 1:
            raise UserError(
                f"commit {item.sha[:12]} ({item.commit.subject}) in {tree_path} is a merge",
                hint="a patch series is linear: rebase or squash it away, then export",
            )
        if trailer == custom:
            custom_commit = item
            continue
        items.append(item)
        if trailer is None:
            continue
        if not _check_file_name(trailer, categories):
            raise UserError(
                f"commit {item.sha[:12]} carries '{TRAILER_KEY}: {trailer}', which is no "
                f"patch file name (known categories: {', '.join(categories)})",
                hint="fix or remove the trailer with 'git commit --amend' / 'git rebase -i'",
            )
        if trailer in seen:
            raise UserError(
                f"commits {seen[trailer][:12]} and {item.sha[:12]} both carry "
                f"'{TRAILER_KEY}: {trailer}'",
                hint="keep the trailer on one of them (git rebase -i, reword); turn the other "
                f"into a patch of its own with 'verda-patch new {project} NAME -c CATEGORY'",
            )
        seen[trailer] = item.sha
    custom_paths = dict(custom_files(config.root, project))
    if custom_commit is None and custom_paths:
        # the custom-source commit reworded (`commit --amend -m`) has lost its trailer
        custom_commit = next(
            (i for i in items if _looks_like_custom_source(tree_path, i, custom_paths)), None
        )
        items = [i for i in items if i is not custom_commit]
    drift = _custom_drift(tree_path, custom_commit, custom_paths) if custom_commit else ()
    orphans = [item for item in items if item.commit.trailer is None]
    adopted = _adopt(orphans, [e for e in entries if e.file not in seen]) if orphans else {}
    tracked: list[tuple[ChainCommit, str]] = []
    untracked: list[str] = []
    for item in items:
        file = item.commit.trailer or adopted.get(item.sha)
        if file is None:
            untracked.append(f"{item.sha[:12]} {item.commit.subject}")
            continue
        seen[file] = item.sha
        tracked.append((item, file))

    # each file read once: what is compared is what the memo's key names
    held = {file: by_file[file].path.read_bytes() for _, file in tracked if file in by_file}
    positions = [(item.sha, file, held.get(file)) for item, file in tracked]
    memo_keys = export_memo.keys(base, positions) if memo else []
    skip = memo.known(memo_keys) if memo else 0
    since = tracked[skip - 1][0].sha if skip else base
    rendered = render_commits(tree_path, since, [item.sha for item, _ in tracked[skip:]])
    plan = _Plan()
    verdicts: dict[str, bool] = {file: True for _, file in tracked[:skip]}
    doubtful: list[tuple[ChainCommit, str, Patch]] = []
    for item, file in tracked[skip:]:
        if file not in held:
            continue
        verdict, old_patch = _text_verdict(held[file], rendered[item.sha], file.partition("/")[2])
        if verdict is None and old_patch is not None:
            doubtful.append((item, file, old_patch))
        else:
            verdicts[file] = bool(verdict)
    if doubtful:
        # the diffs differ as text: does the old one still make this commit? (in parallel:
        # each test is a read-tree, an apply and a write-tree in a temporary index)
        workers = min(len(doubtful), os.cpu_count() or 1, 8)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            outcomes = pool.map(
                lambda job: _applies_to(tree_path, job[0].sha, job[0].tree, job[2].diff),
                doubtful,
            )
            for (_item, file, _patch), same in zip(doubtful, outcomes, strict=True):
                verdicts[file] = same
    if memo:
        changed = next((i for i, (_, f) in enumerate(tracked) if not verdicts.get(f)), None)
        covered = min(len(tracked) if changed is None else changed, len(memo_keys))
        memo.remember(memo_keys, skip, covered)
    for done, (item, file) in enumerate(tracked, 1):
        entry = by_file.get(file)
        name = file.partition("/")[2]
        if entry is not None and verdicts[file]:
            plan.unchanged.append(file)
        elif entry is None:
            new = rendered[item.sha]
            plan.writes[file] = new
            plan.created.append(file)
        else:
            new = rendered[item.sha]
            try:
                was_plain = not parse_bytes(entry.path.read_bytes(), source=entry.path).has_header
            except PatchError:
                was_plain = False
            if was_plain and _plain_defaults(meaning_of(new, name), name):
                new = diff_part(new)
            plan.writes[file] = new
        if progress:
            progress(done, len(tracked))

    order = [file for _, file in tracked]
    missing = [entry.file for entry in entries if entry.file not in seen]
    reordered, not_saved = _plan_order(store, project, entries, order, missing, prune_missing, plan)

    removed: list[str] = missing if prune_missing else []
    if write and guard is not None:
        guard([*plan.writes, *(f"{category}/{SERIES}" for category in plan.series)])
    if write:
        for file, data in plan.writes.items():
            category, _, name = file.partition("/")
            write_atomic(store.category_dir(project, category) / name, data)
        for category, text in plan.series.items():
            write_atomic(store.category_dir(project, category) / SERIES, text.encode())
        if removed:
            store.remove(project, removed)
    return ExportResult(
        project=project,
        written=tuple(plan.writes),
        unchanged=tuple(plan.unchanged),
        missing=tuple(missing),
        removed=tuple(removed),
        untracked=tuple(untracked),
        created=tuple(plan.created),
        adopted=tuple(adopted[item.sha] for item, _ in tracked if item.sha in adopted),
        reordered=tuple(reordered),
        order_not_saved=tuple(not_saved),
        custom_source_changed=drift,
    )


def _plan_order(
    store: Store,
    project: str,
    entries: Sequence[Any],
    order: Sequence[str],
    missing: Sequence[str],
    prune_missing: bool,
    plan: _Plan,
) -> tuple[list[str], list[str]]:
    """Which series files get the work tree's order, and where no file can hold it."""
    categories = store.categories
    reordered: list[str] = []
    not_saved: list[str] = []
    rank = [categories.index(file.partition("/")[0]) for file in order]
    if rank != sorted(rank):
        # a commit moved across categories: the category order in settings wins
        for a, b in itertools.pairwise(order):
            ca, cb = a.partition("/")[0], b.partition("/")[0]
            if categories.index(ca) > categories.index(cb) and cb not in not_saved:
                not_saved.append(cb)
    for category in categories:
        desired = [f.partition("/")[2] for f in order if f.partition("/")[0] == category]
        current = [e.name for e in entries if e.category == category]
        gone = {f.partition("/")[2] for f in missing if f.partition("/")[0] == category}
        wanted = set(desired)  # once: a set per name made this quadratic (issue 18)
        series = store.project_dir(project) / category / SERIES
        if series.is_file():
            text = series.read_text(encoding="utf-8")
            new_text = _reorder_series(text, desired)
            if new_text != text:
                plan.series[category] = new_text
                reordered.append(category)
            listed = [series_name(line) for line in new_text.splitlines()]
            if [name for name in listed if name in wanted] != desired:
                not_saved.append(category)
            continue
        # no series: the order is the file names sorted
        after = sorted(set(current) - (gone if prune_missing else set()) | set(desired))
        kept = [name for name in after if name in wanted]
        if kept != desired and category not in not_saved:
            not_saved.append(category)
    return reordered, not_saved


# --- the user's work tree -----------------------------------------------------------


def check_idle(tree: WorkTree) -> None:
    """Refuse while an apply, am or rebase is stopped in ``tree``, or HEAD is off the branch."""
    project = tree.project
    state = tree.read_state()
    if state:
        # stopped at a conflict, or interrupted: the branch is half built
        operation = state.get("operation", "apply")
        if state.get("phase") == "conflict":
            how = "stopped at a conflict"
            hint = (
                f"finish it with 'verda-patch {operation} --continue {project}' "
                "or undo it with '--abort'"
            )
        else:
            how = "did not finish"
            hint = f"run 'verda-patch {operation} {project}' again, or undo it with '--abort'"
        raise OperationFailed(f"a '{operation}' of {project} {how} in {tree.path}", hint=hint)
    for name, what in (("rebase-merge", "rebase"), ("rebase-apply", "rebase or am")):
        if (tree.git_dir() / name).is_dir():
            raise OperationFailed(
                f"a {what} is in progress in {tree.path}",
                hint="finish it ('git rebase --continue') or abort it, then run this again",
            )
    head_ref = git.run(["symbolic-ref", "--quiet", "HEAD"], cwd=tree.path, ok=(0, 1))
    if head_ref.text.strip() != f"refs/heads/{tree.branch}":
        raise OperationFailed(
            f"{tree.path} is not on branch {tree.branch}",
            hint=f"'git -C {tree.path} checkout {tree.branch}' (or 'git switch'), then run "
            "this again",
        )


def open_work_tree(config: RepoConfig, project: str) -> tuple[WorkTree, str]:
    """The project's work tree, checked to be idle and built on the pinned base."""
    proj = config.project(project)
    tree = WorkTree(config, project)
    if not tree.exists():
        raise UserError(
            f"{project} has no work tree yet ({tree.path})",
            hint=f"run 'verda-patch apply {project}' first",
        )
    check_idle(tree)
    if git.run(
        ["merge-base", "--is-ancestor", proj.commit, "HEAD"], cwd=tree.path, ok=(0, 1, 128)
    ).returncode:
        raise OperationFailed(
            f"{tree.path} is not built on the pinned base {proj.commit[:12]}",
            hint=f"re-run 'verda-patch apply {project}' (add --force to discard the old tree; "
            "a backup ref is saved)",
        )
    return tree, proj.commit


def export_project(
    config: RepoConfig,
    project: str,
    *,
    write: bool = True,
    prune_missing: bool = False,
    progress: Progress | None = None,
    force: bool = False,
) -> ExportResult:
    """Export the user's work tree; mark it synced when the files now hold all of it.

    A patch file changed since the tree was synced (edited, or pulled from git
    after the last apply) is not overwritten unless ``force`` (issue 18).
    """
    tree, base = open_work_tree(config, project)

    def refuse_changed(files: Sequence[str]) -> None:
        changed = tree.changed_since_sync(files)
        if changed:
            more = f" (and {len(changed) - 1} more)" if len(changed) > 1 else ""
            raise OperationFailed(
                f"{changed[0]}{more} changed since {tree.path} was last synced with the "
                "patch files; export would overwrite that change",
                file=Store(config).project_dir(project) / changed[0],
                hint=f"run 'verda-patch apply {project}' to build the tree from the files "
                "(keep your commits with 'new' first), or add --force to overwrite",
            )

    result = export_tree(
        config,
        project,
        tree.path,
        base,
        write=write,
        prune_missing=prune_missing,
        progress=progress,
        guard=None if force else refuse_changed,
    )
    synced = write and not result.unsaved
    if synced:
        tree.mark_synced()
    return replace(result, uncommitted=tuple(tree.status()), synced=synced)
