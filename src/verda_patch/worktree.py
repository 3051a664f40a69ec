"""A project's work tree: where it is, what state it is in, and what a rebuild would lose.

The work tree is a git repository of its own under ``.verda/work/<project>``
that borrows the mirror's objects through ``objects/info/alternates`` (so
branches of two patch repos sharing one cache never collide). Its branch is
``verda/<project>``; ``refs/verda/synced`` marks the last commit whose content
the patch files hold (set by ``apply``, ``new`` and ``export``), so anything
past it is work a rebuild would lose.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from verda_patch import contain, git, opstate
from verda_patch.config import RepoConfig
from verda_patch.errors import UserError
from verda_patch.mirror import Mirror
from verda_patch.patchfile import TRAILER_KEY

SYNCED_REF = "refs/verda/synced"
BACKUP_PREFIX = "refs/verda/backup/"
# inside the work tree's .git, where no checkout can write: our marker and our state
META_DIR = git.OWN_MARKER
MARKER = "worktree"
APPLY_STATE = "apply.json"
# sha256 of every file under patches/<project>/ when the tree was last synced with them
SYNCED_FILES = "synced-files.json"


def branch_name(project: str) -> str:
    return f"verda/{project}"


@contextmanager
def repo_lock(root: Path, notify: Any = None) -> Iterator[None]:
    """One verda-patch writer per patch repo at a time; a second one waits, and says so.

    ``.verda/`` is made (and checked) here, and the lock is opened with
    ``O_NOFOLLOW``: a committed ``.verda/lock`` symlink cannot make us truncate
    the file it points to.
    """
    lock_path = contain.verda_dir(root) / "lock"
    with os.fdopen(contain.open_private(root, lock_path), "r+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read(200).strip() or "another process"
            if notify:
                notify(f"waiting for {holder} to finish with this patch repo")
            fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        handle.truncate()
        handle.write(f"verda-patch pid {os.getpid()}")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)


def unmerged_paths(repo: Path) -> list[str]:
    """Paths in conflict in ``repo``'s index (one ``git diff --diff-filter=U`` call)."""
    res = git.run(["diff", "--name-only", "--diff-filter=U", "-z"], cwd=repo)
    return git.zsplit(res.stdout)


APPLY_PHASES = ("applying", "conflict")
APPLY_OPERATIONS = ("apply", "base bump")


def _valid_apply_state(data: Any, project: str) -> dict[str, Any]:
    """``data`` when it has exactly the shape ``apply_project`` writes; else BadState."""
    if not isinstance(data, dict):
        raise opstate.BadState("not a JSON object")
    opstate.project_name(data.get("project"), project)
    if data.get("operation") not in APPLY_OPERATIONS:
        raise opstate.BadState(f"unknown operation {data.get('operation')!r}")
    if data.get("phase") not in APPLY_PHASES:
        raise opstate.BadState(f"unknown phase {data.get('phase')!r}")
    opstate.commit_id(data.get("base"), "base")
    opstate.commit_id(data.get("previous_head"), "previous_head", optional=True)
    opstate.commit_id(data.get("previous_synced"), "previous_synced", optional=True)
    opstate.patch_names(data.get("patches"))
    backup = data.get("backup_ref")
    if backup is not None and not (
        isinstance(backup, str)
        and opstate.BACKUP_REF_RE.fullmatch(backup)
        and backup.startswith(f"{BACKUP_PREFIX}{project}/")
    ):
        raise opstate.BadState(f"backup_ref {backup!r} is not a verda-patch backup ref")
    return data


@dataclass(frozen=True)
class Commit:
    sha: str
    subject: str
    message: str

    @property
    def trailer(self) -> str | None:
        """The ``Verda-Patch:`` value: the patch file this commit came from."""
        for line in reversed(self.message.rstrip("\n").split("\n")):
            if line.startswith(TRAILER_KEY + ": "):
                return line[len(TRAILER_KEY) + 2 :].strip()
            if not line.strip():
                break
        return None


class WorkTree:
    """The work tree of one project of one patch repo."""

    def __init__(self, config: RepoConfig, project: str) -> None:
        self.config = config
        self.project = project
        # refused here (exit 2) when a component is a symlink or not a folder
        self.path = contain.folder(config.root, Path(config.settings.work_dir, project))
        self.branch = branch_name(project)

    @property
    def state_file(self) -> Path:
        """The apply state: inside our own ``.git``, never in the patch repo's files."""
        return self.git_dir() / META_DIR / APPLY_STATE

    # --- reading -----------------------------------------------------------------

    def exists(self) -> bool:
        return (self.path / ".git" / "HEAD").is_file()

    def git_dir(self) -> Path:
        return self.path / ".git"

    def head(self) -> str | None:
        return git.resolve(self.path, "HEAD") if self.exists() else None

    def synced(self) -> str | None:
        return git.resolve(self.path, SYNCED_REF) if self.exists() else None

    def on_branch(self) -> bool:
        """HEAD is the branch ``verda/<project>`` (not detached, not another branch)."""
        res = git.run(["symbolic-ref", "--quiet", "HEAD"], cwd=self.path, ok=(0, 1, 128))
        return res.text.strip() == f"refs/heads/{self.branch}"

    def am_in_progress(self) -> bool:
        return (self.git_dir() / "rebase-apply").is_dir()

    def status(self) -> list[str]:
        """Uncommitted changes and untracked files, as ``git status --porcelain`` paths."""
        res = git.run(
            ["status", "--porcelain", "-z", "--untracked-files=all", "--ignore-submodules"],
            cwd=self.path,
        )
        entries = iter(git.zsplit(res.stdout))
        paths = []
        for entry in entries:
            paths.append(entry[3:])
            if entry[:1] in ("R", "C"):
                next(entries, None)  # -z gives a rename's source as its own field
        return paths

    def unmerged(self) -> list[str]:
        """Paths a stopped patch's 3-way merge left in conflict."""
        return unmerged_paths(self.path)

    def commits(self, since: str, until: str = "HEAD") -> list[Commit]:
        """Commits ``since..until`` oldest first, with full messages (one git call)."""
        res = git.run(
            [
                "log",
                "--reverse",
                "-z",
                "--format=%H%x00%s%x00%B",
                "--end-of-options",
                f"{since}..{until}",
                "--",
            ],
            cwd=self.path,
        )
        fields = res.stdout.decode("utf-8", "surrogateescape").split("\0")
        out = []
        for i in range(0, len(fields) - 2, 3):
            sha = fields[i].strip("\n")
            if sha:
                out.append(Commit(sha, fields[i + 1], fields[i + 2]))
        return out

    def unsaved_commits(self, base: str) -> list[Commit]:
        """Commits on the branch that no patch file holds yet.

        New commits on top of the last sync are unsaved; so is every commit of a
        rewritten branch (amend, rebase -i). With no sync record (a work tree
        from elsewhere) only commits lacking a ``Verda-Patch`` trailer count.
        """
        head = self.head()
        synced = self.synced()
        if head is None or synced == head:
            return []
        if (
            synced
            and git.run(
                ["merge-base", "--is-ancestor", "--end-of-options", synced, head],
                cwd=self.path,
                ok=(0, 1),
            ).returncode
            == 0
        ):
            return self.commits(synced, head)
        if not git.is_commit(self.path, base):
            return []
        since_base = self.commits(base, head)
        return since_base if synced else [c for c in since_base if c.trailer is None]

    # --- writing -----------------------------------------------------------------

    def owned(self) -> bool:
        """Whether verda-patch made this work tree (its marker is in ``.git``).

        A checkout cannot write under ``.git``; a work tree an older version made
        (no marker yet, but the alternates file only we write) is adopted.
        """
        git_dir = self.git_dir()
        if git_dir.is_symlink() or not git_dir.is_dir():
            return False
        marker = git_dir / META_DIR / MARKER
        if marker.is_file() and not marker.is_symlink():
            return True
        if (git_dir / "objects" / "info" / "alternates").is_file():
            self._mark()
            return True
        return False

    def _mark(self) -> None:
        meta = self.git_dir() / META_DIR
        meta.mkdir(exist_ok=True)
        (meta / MARKER).write_text(f"work tree of {self.project}, made by verda-patch\n")

    def refuse_unless_owned(self) -> None:
        if not self.owned():
            raise UserError(
                "this folder was not made by verda-patch; it resets and cleans only "
                "work trees it made",
                file=self.path,
                hint="move the folder away (or remove it) and run the command again",
            )

    def create(self, mirror: Mirror) -> None:
        """An empty repository borrowing the mirror's objects, in a folder we make."""
        root = self.config.root
        if contain.is_within(self.path, root / contain.VERDA_DIR):
            contain.verda_dir(root)  # .verda/ ignores itself
        rel = self.path.relative_to(root)
        parent = contain.folder(root, rel.parent, create=True)
        contain.folder(root, rel)  # no symlink planted since we were made
        if self.path.exists() and any(self.path.iterdir()):
            self.refuse_unless_owned()  # something else already lives there
        git.run(["init", "--quiet", "--", str(self.path)], cwd=parent)
        self._mark()
        alternates = self.git_dir() / "objects" / "info" / "alternates"
        alternates.write_text(str((mirror.path / "objects").resolve()) + "\n")
        # our work trees are rebuilt, not maintained: never let a gc touch them
        git.run(["config", "gc.auto", "0"], cwd=self.path)

    def remove(self) -> None:
        """Delete the work tree, only when verda-patch made it."""
        self.refuse_unless_owned()
        shutil.rmtree(self.path)

    def mark_synced(self) -> None:
        """The patch files now hold the branch: remember the commit and the files' bytes."""
        git.run(["update-ref", SYNCED_REF, "HEAD"], cwd=self.path)
        opstate.write_json(self.git_dir() / META_DIR / SYNCED_FILES, self._patch_files())

    def _patch_files(self, only: Iterable[str] | None = None) -> dict[str, str]:
        """sha256 of the regular files under ``patches/<project>/`` (or of ``only``)."""
        from verda_patch.store import PATCHES_DIR, sha256_file

        folder = contain.folder(self.config.root, Path(PATCHES_DIR, self.project))
        if only is not None:
            paths = [folder / rel for rel in only]
        elif folder.is_dir():
            paths = [p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()]
        else:
            paths = []
        return {
            p.relative_to(folder).as_posix(): sha256_file(p)
            for p in paths
            if p.is_file() and not p.is_symlink()
        }

    def changed_since_sync(self, files: Iterable[str]) -> list[str]:
        """Which of ``files`` (``category/name``) differ from what the last sync saw.

        A file edited, added or deleted since (by hand, or pulled from git) is one
        ``export`` must not overwrite. A tree synced by an older version has no
        record: nothing can be said, so nothing is reported.
        """
        try:
            record = opstate.read_json(self.git_dir() / META_DIR / SYNCED_FILES)
        except ValueError:
            record = None
        if not isinstance(record, dict):
            return []
        wanted = list(dict.fromkeys(files))
        now = self._patch_files(wanted)
        return [f for f in wanted if now.get(f) != record.get(f)]

    def backup(self) -> str:
        """Save the branch *and* every uncommitted or untracked change as one ref."""
        head = self.head()
        assert head is not None
        index = self.git_dir() / "verda-backup.index"
        env = {"GIT_INDEX_FILE": str(index)}
        try:
            git.run(["read-tree", "--end-of-options", head], cwd=self.path, env=env)
            git.run(["add", "-A", "--", "."], cwd=self.path, env=env)
            tree = git.out(["write-tree"], cwd=self.path, env=env)
        finally:
            index.unlink(missing_ok=True)
        commit = head
        if tree != git.out(["rev-parse", "--end-of-options", f"{head}^{{tree}}"], cwd=self.path):
            commit = git.out(
                ["commit-tree", tree, "-p", head, "-m", "verda-patch: work tree before --force"],
                cwd=self.path,
                env={
                    "GIT_AUTHOR_NAME": git.COMMITTER_NAME,
                    "GIT_AUTHOR_EMAIL": git.COMMITTER_EMAIL,
                },
            )
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        ref = f"{BACKUP_PREFIX}{self.project}/{stamp}"
        n = 1
        while git.resolve(self.path, ref):
            n += 1
            ref = f"{BACKUP_PREFIX}{self.project}/{stamp}-{n}"
        git.run(["update-ref", "--end-of-options", ref, commit], cwd=self.path)
        return ref

    def reset_to(self, commit: str) -> None:
        """Check ``commit`` out on the branch, dropping every local change."""
        self.refuse_unless_owned()
        if self.am_in_progress():
            shutil.rmtree(self.git_dir() / "rebase-apply", ignore_errors=True)
        # checkout reads a revision after --end-of-options as a path: pass a full id
        sha = git.resolve(self.path, commit)
        if sha is None:
            raise UserError(f"{commit!r} is not a commit in {self.path}")
        git.run(["checkout", "--quiet", "--force", "-B", self.branch, sha], cwd=self.path)
        git.run(["clean", "-fdq"], cwd=self.path)

    # --- the operation state file ------------------------------------------------

    def read_state(self) -> dict[str, Any] | None:
        """The state of a stopped apply, validated; a damaged one is an error (exit 1)."""
        if not self.owned():
            return None
        try:
            data = opstate.read_json(self.state_file)
            return None if data is None else _valid_apply_state(data, self.project)
        except ValueError as exc:
            raise opstate.damaged(
                self.state_file,
                str(exc),
                f"remove it and run 'verda-patch apply --force {self.project}'",
            ) from None

    def write_state(self, state: dict[str, Any]) -> None:
        opstate.write_json(self.state_file, state)

    def clear_state(self) -> None:
        self.state_file.unlink(missing_ok=True)
