"""Build ``verda/<project>``: the base, one commit per patch, then custom-source.

The whole series goes through **one** ``git am`` fed a generated mailbox on
stdin; each message gets its ``Verda-Patch: <category>/<file>`` trailer in that
stream, so no commit is amended afterwards. Committer identity is fixed and the
committer date is the author date, so the same base and patch files give the
same commit ids anywhere. A conflict leaves the work tree in ``git am``'s state
with a state file under ``.verda/state/`` for ``--continue`` / ``--abort``.
"""

from __future__ import annotations

import email.header
import email.utils
import functools
import os
import re
import shutil
import stat
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from verda_patch import contain, git, opstate, patchfile, presence
from verda_patch import prefix as prefixes
from verda_patch.config import RepoConfig
from verda_patch.errors import (
    DirtyWorkTree,
    OperationFailed,
    PatchConflict,
    UserError,
)
from verda_patch.mirror import Mirror
from verda_patch.patchfile import TRAILER_KEY, Patch
from verda_patch.prefix_remote import Remote, take
from verda_patch.series import Series
from verda_patch.series import code_stamp as code_stamp_of
from verda_patch.store import Store
from verda_patch.worktree import Commit, WorkTree, unmerged_paths

Progress = Callable[[int, int], None]
Notify = Callable[[str], None]

CUSTOM_SOURCE = "custom-source"
MBOX_FROM = b"From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\n"
# A plain diff has no author or date; these make its commit reproducible.
FALLBACK_AUTHOR = (git.COMMITTER_NAME, git.COMMITTER_EMAIL)
FALLBACK_DATE = "Sat, 1 Jan 2000 00:00:00 +0000"
# mailinfo.c check_inbody_header(): what git am reads as a header at the top of a body
INBODY_HEADER_RE = re.compile(r"(?i:from|subject|date):|>From\s|\[PATCH\]\s")
_TRAILER_LINE_RE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9-]*:\s|\(cherry picked from commit )")

# No --3way (SPEC "Exact"): git am's 3-way fallback merges a patch onto whatever
# file the merge picks (a renamed one, say) and commits a clean merge as if the
# patch had applied. A patch that does not apply exactly stops the run; only
# then may a 3-way merge of that one patch leave conflict markers (see _stop).
AM_ARGS = (
    "am",
    "--keep-non-patch",  # strip only [PATCH...] from subjects, as the SPEC says
    "--committer-date-is-author-date",  # reproducible commit ids
    "--no-gpg-sign",
)


# git am does not remember --committer-date-is-author-date across a stop:
# without it here the resolved commits would carry today's date.
CONTINUE_ARGS = ("am", "--continue", "--committer-date-is-author-date", "--no-gpg-sign")


@dataclass(frozen=True)
class ApplyResult:
    project: str
    work_tree: Path
    branch: str
    base: str
    head: str
    applied: tuple[str, ...]
    custom_source: bool = False
    backup_ref: str | None = None
    reused: int = 0  # leading patches taken from the prefix cache, not applied again
    up_to_date: bool = False  # nothing changed: the work tree was already this build

    def to_json(self) -> dict[str, object]:
        return {
            "project": self.project,
            "work_tree": str(self.work_tree),
            "branch": self.branch,
            "head": self.head,
            "applied": list(self.applied),
            "base": self.base,
            "custom_source": self.custom_source,
            "backup_ref": self.backup_ref,
            "reused": self.reused,
            "up_to_date": self.up_to_date,
        }


@dataclass
class Hooks:
    """How the library reports progress; the CLI plugs rich in here."""

    progress: Progress | None = None
    notify: Notify | None = None
    current: Callable[[str], None] | None = None  # the patch file being applied
    fetch_progress: Callable[[str, int, int], None] | None = None

    def __post_init__(self) -> None:
        # a progress display that can show names (the CLI's) takes them too
        if self.current is None:
            self.current = getattr(self.progress, "current", None)

    def say(self, message: str) -> None:
        if self.notify:
            self.notify(message)

    def named(self, files: Sequence[str]) -> Progress | None:
        """``progress`` that also reports the name of the patch being applied."""
        progress, current = self.progress, self.current
        if progress is None:
            return None

        def update(done: int, total: int) -> None:
            progress(done, total)
            if current is not None:
                current(files[done] if done < len(files) else "")

        return update


# --- the mailbox -------------------------------------------------------------------


def _encode_header(value: str) -> str:
    if value.isascii():
        return value
    return email.header.Header(value, "utf-8", maxlinelen=998).encode()


def with_trailer(message: str, trailer: str) -> str:
    """``message`` with ``trailer`` appended to its trailer block (or a new one)."""
    message = message.rstrip("\n")
    if not message:
        return trailer
    last = message.rsplit("\n\n", 1)[-1].split("\n")
    in_block = all(_TRAILER_LINE_RE.match(line) or line[:1] in (" ", "\t") for line in last)
    return f"{message}\n{trailer}" if in_block else f"{message}\n\n{trailer}"


def _date_for_git(date: str | None) -> str:
    """The date without RFC 2822 comments: git would take gitweb's "+0000 (+0100)"
    for +0100, an hour off what the header says (and what export compares)."""
    if not date:
        return FALLBACK_DATE
    return re.sub(r"\([^()]*\)", " ", date).strip() or FALLBACK_DATE


def mail(patch: Patch, trailer: str | None = None) -> bytes:
    """One mailbox message for ``git am``: canonical headers, message, trailer, diff."""
    name, address = (patch.author_name or "", patch.author_email or "")
    if not name and not address:
        name, address = FALLBACK_AUTHOR
    if address:
        sender = email.utils.formataddr((_encode_header(name), address)) if name else address
    else:
        sender = f"{_encode_header(name)} <>"  # a DEP-3 bare name: git am keeps it, no address
    headers = [
        f"From: {sender}",
        f"Date: {_date_for_git(patch.date)}",
        f"Subject: {_encode_header(patch.subject)}",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=UTF-8",
        "Content-Transfer-Encoding: 8bit",
    ]
    body = with_trailer(patch.message, trailer) if trailer else patch.message
    if INBODY_HEADER_RE.match(body):
        # git am would take the message's first line for an in-body header (a DEP-3
        # description line "From: the config"); one in-body From: it reads first,
        # then a blank line, ends that stage and keeps the message as it is
        body = f"From: {sender}\n\n{body}"
    text = "\n".join(headers) + "\n\n" + (body + "\n" if body else "") + "---\n\n"
    data = MBOX_FROM + text.encode("utf-8", "surrogateescape") + patch.diff
    return data if data.endswith(b"\n") else data + b"\n"


def trailer_for(patch: Patch) -> str:
    return f"{TRAILER_KEY}: {patch.file}"


def mailbox(patches: Sequence[Patch]) -> Iterator[bytes]:
    for patch in patches:
        yield _mail(patch)


def _mail(patch: Patch) -> bytes:
    return mail(patch, trailer_for(patch))


# --- running git am ----------------------------------------------------------------


@dataclass(frozen=True)
class AmOutcome:
    ok: bool
    applied: int
    output: str


def run_am(
    repo: Path,
    messages: Iterator[bytes] | None,
    total: int,
    progress: Progress | None = None,
    *,
    args: Sequence[str] = AM_ARGS,
    env: dict[str, str] | None = None,
    done: int = 0,
) -> AmOutcome:
    """Feed ``messages`` to one ``git am`` (or continue one when ``messages`` is None).

    ``done`` patches of ``total`` were built before (a reused prefix): progress
    counts on from there.
    """
    writer = None
    output = []
    applied = 0
    counter = _Counter(progress, total, done)
    with (
        git.streaming(
            list(args),
            cwd=repo,
            env=env,
            stdin=subprocess.PIPE if messages is not None else subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        ) as proc,
        _watching(repo, counter),
    ):
        assert proc.stdout is not None
        try:
            if messages is not None:
                stdin = proc.stdin
                assert stdin is not None

                def feed() -> None:
                    try:
                        for chunk in messages:
                            stdin.write(chunk)
                    except (BrokenPipeError, ValueError):
                        pass  # am stopped early (a conflict); it says why on stdout
                    finally:
                        with suppress(BrokenPipeError):
                            stdin.close()

                writer = threading.Thread(target=feed, daemon=True)
                writer.start()
            for raw in proc.stdout:
                line = raw.decode("utf-8", "replace")
                output.append(line)
                if line.startswith("Applying: "):
                    applied += 1
                    counter(applied)
            code = proc.wait()
        finally:
            if writer is not None and writer.ident is not None:  # started, even if interrupted
                if proc.poll() is None:
                    git.kill_group(proc)  # interrupted: unblock the writer, then join it
                writer.join()
    return AmOutcome(code == 0, applied, "".join(output))


class _Counter:
    """Progress that only moves forward, fed by am's output and by its state file."""

    def __init__(self, progress: Progress | None, total: int, done: int) -> None:
        self.progress = progress
        self.total = total
        self.done = done
        self._lock = threading.Lock()
        self._best = -1

    def __call__(self, applied: int) -> None:
        if self.progress is None:
            return
        with self._lock:
            if applied <= self._best:
                return
            self._best = applied
        self.progress(min(self.done + applied, self.total), self.total)


@contextmanager
def _watching(repo: Path, counter: _Counter) -> Iterator[None]:
    """Follow ``rebase-apply/next`` while am runs (issue 17, item 14).

    In a pipe git's stdout is block-buffered, so its "Applying:" lines arrive
    all at once at the end; the state file moves with every patch.
    """
    if counter.progress is None:
        yield
        return
    stop = threading.Event()
    state = repo / ".git" / "rebase-apply" / "next"

    def watch() -> None:
        while not stop.wait(0.1):
            with suppress(OSError, ValueError):
                counter(int(state.read_text()) - 1)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield
    finally:
        stop.set()
        watcher.join()


def _failed_paths(repo: Path, output: str) -> tuple[str, ...]:
    found = unmerged_paths(repo)
    for pattern in (
        r"^error: patch failed: (.+):\d+$",
        r"^error: (.+): does not exist in index$",
        r"^error: (.+): already exists in (?:index|working directory)$",
        r"^error: (.+): patch does not apply$",
        r"^CONFLICT \([^)]*\): Merge conflict in (.+)$",
    ):
        found += re.findall(pattern, output, re.MULTILINE)
    return tuple(dict.fromkeys(found))


def _reason(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in lines:
        if line.startswith(("error: ", "CONFLICT")):
            return line.removeprefix("error: ")
    useful = [line for line in lines if not line.startswith(("Applying: ", "hint: "))]
    return useful[0] if useful else "git am stopped"


def _stopped_at(repo: Path) -> int:
    """The 1-based number of the message ``git am`` stopped at."""
    try:
        return int((repo / ".git" / "rebase-apply" / "next").read_text().strip())
    except (OSError, ValueError):
        return 0


# --- custom-source -----------------------------------------------------------------


def custom_files(root: Path, project: str) -> list[tuple[str, Path]]:
    """Regular files under ``custom-source/<project>``; anything else is refused."""
    # custom-source and custom-source/<project>: real folders of the repo, never links
    base = contain.folder(root, Path(CUSTOM_SOURCE, project))
    if not base.is_dir():
        return []
    out = []
    for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
        for name in list(dirnames) + filenames:
            path = Path(dirpath) / name
            mode = path.lstat().st_mode
            rel = path.relative_to(base).as_posix()
            if stat.S_ISLNK(mode):
                raise UserError(
                    "custom-source may hold only regular files; this is a symlink",
                    file=path,
                    hint="copy the file it points to instead",
                )
            if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
                raise UserError("custom-source may hold only regular files", file=path)
            if name == ".git" or rel.split("/")[0] == ".git":
                raise UserError("custom-source may not write into .git", file=path)
            if stat.S_ISREG(mode):
                out.append((rel, path))
    return sorted(out)


def commit_custom_source(
    config: RepoConfig, project: str, tree: Path, objects_env: dict[str, str] | None = None
) -> bool:
    """Copy custom-source over the tree and commit it; False when there is none."""
    files = custom_files(config.root, project)
    if not files:
        return False
    real_tree = tree.resolve()
    for rel, source in files:
        target = tree / rel
        # a symlink the patch series created must not carry our copy outside the tree
        if not contain.is_within(target.parent, real_tree) or target.is_symlink():
            raise UserError(
                f"custom-source path '{rel}' would be written through a symlink in the tree",
                file=source,
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        target.chmod(0o755 if source.stat().st_mode & stat.S_IXUSR else 0o644)
    git.run(["add", "--force", "--", *[rel for rel, _ in files]], cwd=tree, env=objects_env)
    if git.run(["diff", "--cached", "--quiet"], cwd=tree, ok=(0, 1)).returncode == 0:
        return False
    date = git.out(["log", "-1", "--format=%cd", "--date=raw"], cwd=tree)
    env = {
        **(objects_env or {}),
        "GIT_AUTHOR_NAME": git.COMMITTER_NAME,
        "GIT_AUTHOR_EMAIL": git.COMMITTER_EMAIL,
        "GIT_AUTHOR_DATE": date,
        "GIT_COMMITTER_DATE": date,
    }
    message = f"Add {CUSTOM_SOURCE}/{project}\n\n{TRAILER_KEY}: {CUSTOM_SOURCE}/{project}\n"
    git.run(["commit", "--quiet", "--no-verify", "-m", message], cwd=tree, env=env)
    return True


# --- the engine --------------------------------------------------------------------


def verify_chain(tree: WorkTree, base: str, patches: Sequence[Patch]) -> list[Commit]:
    """One commit per patch with the right trailer, in order: ``git am`` can skip one."""
    commits = tree.commits(base)
    got = [c.trailer for c in commits]
    want = [patch.file for patch in patches]
    if got == want:
        return commits
    for i, patch in enumerate(patches):
        if i >= len(got) or got[i] != patch.file:
            raise PatchConflict(
                f"{patch.file} made no commit: its change is already in the tree "
                "(upstream or an earlier patch has it)",
                patch=patch.file,
                file=patch.path,
                hint=f"remove it (see 'verda-patch prune {tree.project}') or fix the series",
            )
    raise OperationFailed(
        f"the work tree has {len(got)} patch commits, expected {len(want)}",
        hint=f"re-run 'verda-patch apply --force {tree.project}'",
    )


def _stop(
    tree: WorkTree,
    patches: Sequence[Patch],
    output: str,
    operation: str,
    *,
    three_way: bool = True,
    done_before: int | None = None,
) -> PatchConflict:
    """The conflict a stopped ``git am`` is at, with the hint that fits what happened.

    With ``three_way`` (a work tree the user resolves in), the patch that did
    not apply exactly is merged 3-way (``git apply --3way``: same path only,
    never another file) to leave conflict markers — and the run stops even when
    that merge is clean, so a merged result is never taken for the patch.
    """
    index = _stopped_at(tree.path) - 1
    patch = patches[index] if 0 <= index < len(patches) else None
    name = patch.file if patch else "(unknown patch)"
    paths = _failed_paths(tree.path, output)
    reason = _reason(output)
    command = "apply" if operation == "apply" else "base bump"
    refresh = (
        f" and 'verda-patch export {tree.project}' to refresh the patch file"
        if command == "apply"
        else " (it refreshes the patch files)"
    )
    then = (
        f"then 'verda-patch {command} --continue {tree.project}'{refresh}; or "
        f"'verda-patch {command} --abort {tree.project}'"
    )
    if done_before is not None and index == done_before:
        return PatchConflict(
            f"still unresolved: {reason}",
            patch=name,
            paths=paths,
            git_message=output,
            file=patch.path if patch else None,
            hint=f"'git add' the resolved files in {tree.path} (or 'git am --skip' it), {then}",
        )
    merged = _three_way(tree, patch) if three_way and patch else None
    where = f" in {', '.join(paths)}" if paths else ""
    if merged is not None:
        conflicted = unmerged_paths(tree.path)
        if conflicted:
            message = f"does not apply exactly{where}; conflict markers left in " + ", ".join(
                conflicted
            )
            hint = f"resolve them in {tree.path}, 'git add' the files, {then}"
            paths = tuple(dict.fromkeys((*paths, *conflicted)))
        elif _nothing_staged(tree.path):
            message = (
                f"does not apply{where}: its change is already in the tree "
                "(upstream or an earlier patch has it)"
            )
            hint = (
                f"remove it (see 'verda-patch prune {tree.project}') or fix the series, "
                f"then 'verda-patch {command} --abort {tree.project}' and run it again"
            )
        else:
            message = (
                f"does not apply exactly{where}: {reason}; a 3-way merge of it is staged "
                "for review, not taken as the patch"
            )
            hint = f"check the merged result in {tree.path} ('git diff --cached'), {then}"
        output = output + merged
    else:
        message = f"does not apply{where}: {reason}"
        hint = f"{_refresh_hint(output, tree.path)}, {then}"
    return PatchConflict(
        message,
        patch=name,
        paths=paths,
        git_message=output,
        file=patch.path if patch else None,
        hint=hint,
    )


def _three_way(tree: WorkTree, patch: Patch) -> str | None:
    """``git apply --3way`` of the stopped patch; its output, or None when no merge was made."""
    if not tree.am_in_progress():
        return None
    res = git.run(
        ["apply", "--3way", "-"],
        cwd=tree.path,
        input=patch.diff if patch.diff.endswith(b"\n") else patch.diff + b"\n",
        ok=(0, 1, 128),
    )
    if res.returncode == 0 or unmerged_paths(tree.path):
        return res.err
    return None  # no 3-way possible (a path the base lacks, blobs it lacks): nothing changed


def _nothing_staged(repo: Path) -> bool:
    return git.run(["diff", "--cached", "--quiet"], cwd=repo, ok=(0, 1)).returncode == 0


def _refresh_hint(output: str, where: Path) -> str:
    """Which file and hunk did not fit, and how to redo it by hand."""
    missing = re.findall(r"^error: (.+): does not exist in index$", output, re.MULTILINE)
    hunks = re.findall(r"^error: patch failed: (.+):(\d+)$", output, re.MULTILINE)
    if missing:
        what = f"the base has no {missing[0]}: point the patch at the file that holds it now"
    elif hunks:
        path, line = hunks[0]
        what = (
            f"the hunk at {path}:{line} no longer matches the base: redo it by hand "
            f"('git am --show-current-patch=diff' shows it; 'git apply --reject' keeps the "
            "hunks that fit)"
        )
    else:
        what = "redo the change by hand ('git am --show-current-patch=diff' shows it)"
    return f"{what} in {where}, 'git add' the files"


@functools.cache
def code_stamp() -> str:
    """What builds commits from mails: part of every prefix key."""
    return code_stamp_of(sys.modules[__name__], git)


@dataclass(frozen=True)
class Job:
    """A series to build and where its build starts (the longest cached prefix)."""

    cache: prefixes.Prefixes
    plan: prefixes.Plan
    series: Series
    rest: list[Patch]  # the patches after the reused prefix, parsed and path-checked
    remote: Remote | None = None


def plan(
    config: RepoConfig,
    mirror: Mirror,
    base: str,
    series: Series,
    hooks: Hooks,
    trusted: str | None = None,
) -> Job:
    """The longest prefix of ``series`` built before (this cache, else the prefix-remote).

    ``trusted``: the commit the work tree holds, built and checked by an earlier run.
    """
    cache = prefixes.Prefixes(mirror.path)
    keys = prefixes.chain(base, series.digests, code_stamp())
    found = prefixes.find(cache, base, series.files, keys, series.mail, hooks.notify, trusted)
    remote = Remote.for_config(config, mirror, hooks.notify)
    if remote is not None:
        found = take(remote, cache, base, series.files, keys, series.mail, found)
    rest = series.patches(found.start)
    check_paths(rest)
    return Job(cache, found, series, rest, remote)


def build(
    config: RepoConfig,
    tree: WorkTree,
    base: str,
    hooks: Hooks,
    job: Job,
    operation: str = "apply",
    *,
    three_way: bool = True,
) -> str:
    """Apply the patches after the reused prefix; ``tree`` is checked out at ``job.plan.commit``.

    Each commit ``git am`` makes is recorded as the prefix of its position.
    ``three_way``: on a stop, leave conflict markers for the user (not in a
    scratch tree nobody resolves in).
    """
    start, total = job.plan.start, len(job.series)
    env = job.cache.objects_env(tree.git_dir())
    progress = hooks.named(job.series.files)
    if progress is not None:
        progress(start, total)  # where the reused prefix leaves off, before am says a word
    if job.rest:
        outcome = run_am(
            tree.path,
            (job.series.mail(i) for i in range(start, total)),
            total,
            progress,
            env=env,
            done=start,
        )
        if not outcome.ok:
            built = tree.commits(job.plan.commit)[: _stopped_at(tree.path) - 1]
            _record(job, built)
            raise _stop(tree, job.rest, outcome.output, operation, three_way=three_way)
    elif progress is not None:
        progress(total, total)
    head, commits = finish(config, tree, job.plan.commit, job.rest, env)
    _record(job, commits)
    if job.remote is not None:
        _share(job.remote, job, base, commits[-1].sha if commits else job.plan.commit)
    return head


def _record(job: Job, commits: Sequence[Commit]) -> None:
    """Remember ``commits``, made by ``git am`` after the reused prefix, as built prefixes."""
    start = job.plan.start
    job.cache.record([(job.plan.keys[start + i + 1], c.sha) for i, c in enumerate(commits)])


def _share(remote: Remote, job: Job, base: str, tip: str) -> None:
    """Push every prefix of the series the prefix-remote lacks (never in untrusted mode)."""
    if remote.policy.untrusted:
        return
    chain = prefixes.links(job.cache.mirror, base, tip)
    keys = job.plan.keys
    remote.push([(keys[i], c.sha) for i, c in enumerate(chain, 1) if i not in remote.has])


def finish(
    config: RepoConfig,
    tree: WorkTree,
    base: str,
    patches: Sequence[Patch],
    objects_env: dict[str, str] | None = None,
) -> tuple[str, list[Commit]]:
    """Verify the patch commits ``base..HEAD``, add custom-source; (head, those commits)."""
    commits = verify_chain(tree, base, patches)
    commit_custom_source(config, tree.project, tree.path, objects_env)
    tree.mark_synced()
    tree.clear_state()
    head = tree.head()
    assert head is not None
    return head, commits


def check_paths(patches: Sequence[Patch]) -> None:
    """Refuse a patch that names a path outside the tree before git sees it.

    git refuses these too, but only once ``git am`` runs; checking here makes
    it a clear input error (exit 2) naming the patch, with nothing touched.
    """
    for patch in patches:
        for change in patch.files:
            for path in (change.path, change.old_path):
                if path and _unsafe(path):
                    raise UserError(
                        f"the diff writes outside the project tree: {path!r}",
                        file=patch.path,
                        hint="a patch may only touch paths inside the upstream tree",
                    )


def _unsafe(path: str) -> bool:
    parts = path.replace("\\", "/").split("/")
    return (
        path.startswith("/")
        or ".." in parts
        or parts[0].lower() == ".git"
        or any(part.lower() == ".git" for part in parts)
    )


def prepare(
    config: RepoConfig,
    project: str,
    hooks: Hooks,
    *,
    base: str | None = None,
    patches: Sequence[Patch] | None = None,
) -> tuple[WorkTree, Mirror, str, Series]:
    """The series to build, checked before anything is touched, and a warm mirror.

    ``patches`` is a series the caller already parsed (check, bump, archive);
    without it the project's patch files are read, and parsed where the memo
    of :mod:`verda_patch.series` has not seen them.
    """
    proj = config.project(project)
    if patches is not None:
        series = Series.of(patches, _mail)
    else:
        stamp = code_stamp_of(patchfile, sys.modules[__name__])
        series = Series.load(config, project, _mail, stamp)
    check_paths(series.parsed())  # before the mirror or the work tree is touched
    commit = base or proj.commit
    mirror = Mirror.for_project(
        config, proj, notify=hooks.notify, progress=hooks.fetch_progress
    ).ensure(commits=(commit,))
    return WorkTree(config, project), mirror, commit, series


def refuse_if_unsaved(tree: WorkTree, base: str) -> None:
    changed = tree.status()
    if changed:
        more = f" and {len(changed) - 1} more" if len(changed) > 1 else ""
        raise DirtyWorkTree(
            f"{tree.path} has uncommitted changes ({changed[0]}{more})",
            hint=(
                f"keep them with 'verda-patch new {tree.project} NAME -c CATEGORY', "
                "or discard them with --force (a backup ref is saved first)"
            ),
        )
    unsaved = tree.unsaved_commits(base)
    if unsaved:
        raise DirtyWorkTree(
            f"{tree.path} has {len(unsaved)} commit(s) no patch file holds yet "
            f"(first: {unsaved[0].sha[:12]} {unsaved[0].subject})",
            hint=(
                f"keep them with 'verda-patch export {tree.project}' or "
                f"'verda-patch new {tree.project} NAME -c CATEGORY', or discard them with "
                "--force (a backup ref is saved first)"
            ),
        )


def apply_project(
    config: RepoConfig,
    project: str,
    *,
    force: bool = False,
    hooks: Hooks | None = None,
    base: str | None = None,
    operation: str = "apply",
    patches: Sequence[Patch] | None = None,
) -> ApplyResult:
    """Rebuild the work tree of ``project`` from its base and patch files."""
    hooks = hooks or Hooks()
    tree, mirror, commit, series = prepare(config, project, hooks, base=base, patches=patches)
    backup_ref = None
    previous = None
    state = None
    if tree.exists():
        state = tree.read_state()
        if state and state.get("phase") == "conflict" and not force:
            raise OperationFailed(
                f"a '{state.get('operation', 'apply')}' of {project} stopped at a conflict",
                hint=(
                    f"finish it with 'verda-patch {state.get('operation', 'apply')} --continue "
                    f"{project}' or undo it with '--abort'"
                ),
            )
        previous = tree.head()
        lost = previous is None and _commits_lost(tree)
        if lost and not force:
            raise OperationFailed(
                f"the commits of {tree.path} are gone: builds keep them in the cache "
                "mirror, and that mirror was removed",
                hint=f"rebuild it with 'verda-patch apply --force {project}' (changes made "
                "in the work tree since cannot be checked or saved)",
            )
        if lost:
            hooks.say(f"{tree.path} lost its commits with a removed cache mirror; rebuilding")
        elif not force and not (state and state.get("phase") == "applying"):
            refuse_if_unsaved(tree, commit)
        if force and previous and (tree.status() or tree.unsaved_commits(commit)):
            backup_ref = tree.backup()
            hooks.say(f"saved the old work tree as {backup_ref}")
        if state and state.get("previous_head"):
            previous = state["previous_head"]  # an interrupted run: keep the real "before"
    else:
        tree.create(mirror)
    # the tree as an earlier run left it: its HEAD was checked when it was built
    trusted = previous if previous and not state and previous == tree.synced() else None
    job = plan(config, mirror, commit, series, hooks, trusted)
    if base is None and job.rest:
        # the pinned base: say which patches repeat what it already holds (those
        # applied now; the reused ones were said when they were built on it)
        for held in presence.held_by_base(config, project, job.rest, hooks.notify, build=False):
            hooks.say(f"warning: {held.warning(project)}")
    if (
        job.plan.complete
        and trusted == job.plan.commit
        and backup_ref is None
        and not custom_files(config.root, project)
        and tree.on_branch()
    ):
        # nothing changed: no state file, no checkout, no git am
        if job.remote is not None:
            _share(job.remote, job, commit, job.plan.commit)
        if hooks.progress:
            hooks.progress(len(series), len(series))
        return ApplyResult(
            project,
            tree.path,
            tree.branch,
            commit,
            job.plan.commit,
            tuple(series.files),
            reused=len(series),
            up_to_date=True,
        )
    tree.write_state(
        {
            "operation": operation,
            "phase": "applying",
            "project": project,
            "base": commit,
            "previous_head": previous,
            "previous_synced": tree.synced(),
            "patches": series.files,
            "backup_ref": backup_ref,
            "am_from": job.plan.start,
        }
    )
    tree.reset_to(job.plan.commit)  # one checkout, from wherever the tree was
    try:
        head = build(config, tree, commit, hooks, job, operation)
    except PatchConflict:
        state = tree.read_state() or {}
        state["phase"] = "conflict"
        tree.write_state(state)
        raise
    return _result(
        tree,
        commit,
        head,
        series.files,
        backup_ref,
        reused=job.plan.start,
        up_to_date=job.plan.complete and head == previous,
    )


def _commits_lost(tree: WorkTree) -> bool:
    """HEAD names a commit the tree cannot read (it lived in a removed cache mirror)."""
    named = git.run(["rev-parse", "--verify", "--quiet", "HEAD"], cwd=tree.path, ok=(0, 1, 128))
    return named.returncode == 0


def _state_or_fail(tree: WorkTree, action: str) -> dict[str, object]:
    state = tree.read_state() if tree.exists() else None
    if not state:
        old = tree.config.root / opstate.LEGACY_DIR / f"{tree.project}.json"
        if old.is_file() and not old.is_symlink():
            raise UserError(
                f"{opstate.LEGACY_DIR}/{tree.project}.json was written by an older "
                "verda-patch; state under .verda/ is no longer read, because a commit can "
                "plant it",
                file=old,
                hint=f"finish in the work tree with 'git am --continue' or 'git am --abort', "
                f"or rebuild it with 'verda-patch apply --force {tree.project}' (a backup ref "
                "is saved first)",
            )
        raise UserError(
            f"no apply of {tree.project} is in progress; nothing to {action}",
            hint=f"run 'verda-patch apply {tree.project}'",
        )
    return state


def continue_apply(config: RepoConfig, project: str, hooks: Hooks | None = None) -> ApplyResult:
    """Resume after the user resolved a conflict (``git am --continue`` for them)."""
    hooks = hooks or Hooks()
    tree = WorkTree(config, project)
    state = _state_or_fail(tree, "continue")
    base = str(state["base"])
    by_file = {p.file: p for p in Store(config).load(project)}
    names = [str(n) for n in state.get("patches", [])]  # type: ignore[attr-defined]
    missing = [n for n in names if n not in by_file]
    if missing:
        raise UserError(
            f"{missing[0]} was removed while the apply was stopped",
            hint=f"run 'verda-patch apply --abort {project}' and apply again",
        )
    series = [by_file[n] for n in names]
    am_from = int(str(state.get("am_from") or 0))  # patches reused from the cache before am ran
    if tree.am_in_progress():
        done_before = am_from + _stopped_at(tree.path) - 1
        outcome = run_am(
            tree.path,
            None,
            len(series),
            hooks.named(names),
            args=CONTINUE_ARGS,
            done=am_from,
        )
        if not outcome.ok:
            rest = series[am_from:]  # _stop counts in what this am session was fed
            raise _stop(
                tree,
                rest,
                outcome.output,
                str(state.get("operation")),
                done_before=done_before - am_from if tree.am_in_progress() else None,
            )
    head, _commits = finish(config, tree, base, series)
    backup = state.get("backup_ref")
    return _result(tree, base, head, names, str(backup) if backup else None)


def _result(
    tree: WorkTree,
    base: str,
    head: str,
    files: Sequence[str],
    backup_ref: str | None,
    *,
    reused: int = 0,
    up_to_date: bool = False,
) -> ApplyResult:
    # only the tip's trailer matters: read one commit, not the whole branch again
    # (verify_chain already logged it; this was a second `git log` of N commits)
    last = tree.commits(f"{head}^", head)[-1] if head != base else None
    return ApplyResult(
        project=tree.project,
        work_tree=tree.path,
        branch=tree.branch,
        base=base,
        head=head,
        applied=tuple(files),
        custom_source=bool(last and last.trailer == f"{CUSTOM_SOURCE}/{tree.project}"),
        backup_ref=backup_ref,
        reused=reused,
        up_to_date=up_to_date,
    )


def abort_apply(config: RepoConfig, project: str) -> str | None:
    """Return the work tree to where it was before the stopped run."""
    tree = WorkTree(config, project)
    state = _state_or_fail(tree, "abort")
    if tree.am_in_progress():
        git.run(["am", "--abort"], cwd=tree.path, ok=(0, 1, 128))
    previous = state.get("previous_head")
    if previous:
        tree.reset_to(str(previous))
        synced = state.get("previous_synced")
        if synced:
            git.run(
                ["update-ref", "--end-of-options", "refs/verda/synced", str(synced)],
                cwd=tree.path,
            )
        tree.clear_state()
        return str(previous)
    tree.clear_state()
    tree.remove()
    return None


@contextmanager
def scratch_tree(
    config: RepoConfig,
    project: str,
    *,
    base: str | None = None,
    patches: Sequence[Patch] | None = None,
    hooks: Hooks | None = None,
    keep_on_conflict: bool = False,
) -> Iterator[tuple[WorkTree, str]]:
    """A throw-away work tree with the series applied; the user's is never touched.

    Yields (tree, head). Used by check, review, archive and cherry-pick, which
    read its commits, not its files: when the whole series comes from the
    prefix cache, the files are not checked out at all.
    """
    import tempfile

    hooks = hooks or Hooks()
    _tree0, mirror, commit, series = prepare(config, project, hooks, base=base, patches=patches)
    scratch_root = contain.verda_dir(config.root, "tmp")
    path = Path(tempfile.mkdtemp(prefix=f"{project}-", dir=scratch_root))
    shutil.rmtree(path)
    tree = WorkTree(config, project)
    tree.path = path  # its apply state lives in its own .git and goes with it
    ok = False
    try:
        tree.create(mirror)
        job = plan(config, mirror, commit, series, hooks)
        if job.rest:
            git.run(["checkout", "--quiet", "-B", tree.branch, job.plan.commit], cwd=path)
        else:
            # nothing to apply: the readers (check, review, archive) read git objects,
            # so the branch and an index (for custom-source) do without a checkout
            git.run(["update-ref", f"refs/heads/{tree.branch}", job.plan.commit], cwd=path)
            git.run(["symbolic-ref", "HEAD", f"refs/heads/{tree.branch}"], cwd=path)
            git.run(["read-tree", "HEAD"], cwd=path)
        head = build(config, tree, commit, hooks, job, three_way=False)
        ok = True
        yield tree, head
    finally:
        if ok or not keep_on_conflict:
            shutil.rmtree(path, ignore_errors=True)
