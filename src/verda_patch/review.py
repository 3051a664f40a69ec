"""``review/<project>/``: the patched version of every file a patch or custom-source touches.

The files come from a tree built from the current patch files (a scratch tree
made by :func:`verda_patch.apply.scratch_tree`, never the user's work tree,
which may be stale). "Touched" is what git says the commits ``base..HEAD``
touch (``git log --name-only``), custom-source commit included, limited to the
paths the patched tree still has: a file a patch deletes has no patched
version, so it is not in ``review/``.

Regular files keep their bytes and executable bit; a symlink is written as a
small file holding its target (what git checks out where symlinks are off), so
nothing under ``review/`` ever points elsewhere; submodules are left out.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
from collections.abc import Generator, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from verda_patch import contain, git
from verda_patch.apply import Hooks, scratch_tree
from verda_patch.config import RepoConfig
from verda_patch.errors import UserError
from verda_patch.store import atomic_file

REVIEW_DIR = "review"


@dataclass(frozen=True)
class ReviewFile:
    """The patched version of one file: a blob of the tree, read in pieces when
    compared or written, so a huge file is never whole in memory (issue 18)."""

    tree: Path
    sha: str
    size: int
    executable: bool = False

    def chunks(self) -> Generator[bytes, None, None]:
        return git.blob_chunks(self.tree, self.sha)


@dataclass(frozen=True)
class ReviewResult:
    """How ``review/<project>`` compares with the patched tree (and whether it was written)."""

    project: str
    directory: Path
    added: tuple[str, ...] = ()  # touched files missing from review/
    changed: tuple[str, ...] = ()  # present, but with other bytes or mode
    removed: tuple[str, ...] = ()  # in review/ but no longer touched
    unchanged: int = 0
    written: bool = False

    @property
    def stale(self) -> tuple[str, ...]:
        """Every out-of-date path, sorted (relative to ``review/<project>``)."""
        return tuple(sorted({*self.added, *self.changed, *self.removed}))

    @property
    def in_sync(self) -> bool:
        return not self.stale

    def to_json(self) -> dict[str, object]:
        return {
            "project": self.project,
            "directory": str(self.directory),
            "in_sync": self.in_sync,
            "written": self.written,
            "added": list(self.added),
            "changed": list(self.changed),
            "removed": list(self.removed),
            "unchanged": self.unchanged,
        }


def review_dir(config: RepoConfig, project: str, *, create: bool = False) -> Path:
    """``review/<project>``: refused (exit 2) when it or ``review`` is a symlink."""
    return contain.folder(config.root, Path(REVIEW_DIR, project), create=create)


def touched_paths(tree: Path, base: str) -> set[str]:
    """Every path a commit in ``base..HEAD`` adds, modifies or deletes (renames split)."""
    res = git.run(
        [
            "log",
            "--format=",
            "--name-only",
            "--no-renames",
            "-z",
            "--end-of-options",
            f"{base}..HEAD",
            "--",
        ],
        cwd=tree,
    )
    return {p.strip("\n") for p in git.zsplit(res.stdout) if p.strip("\n")}


def patched_files(tree: Path, base: str) -> dict[str, ReviewFile]:
    """The touched files as the patched tree (``HEAD`` of ``tree``) has them."""
    touched = touched_paths(tree, base)
    if not touched:
        return {}
    listing = git.run(["ls-tree", "-r", "-z", "-l", "--full-tree", "HEAD"], cwd=tree).stdout
    out: dict[str, ReviewFile] = {}
    for entry in git.zsplit(listing):
        meta, _, path = entry.partition("\t")
        if path not in touched:
            continue
        mode, kind, sha, size = meta.split()
        if kind == "blob":
            out[path] = ReviewFile(tree, sha, int(size), executable=mode == "100755")
    return out


def _on_disk(directory: Path) -> dict[str, Path]:
    """Every entry under ``directory`` that is not a directory, by relative path."""
    found: dict[str, Path] = {}
    if not directory.is_dir():
        return found
    for dirpath, dirnames, filenames in os.walk(directory, followlinks=False):
        here = Path(dirpath)
        for name in [*filenames, *(d for d in dirnames if (here / d).is_symlink())]:
            path = here / name
            found[path.relative_to(directory).as_posix()] = path
    return found


def _same(path: Path, want: ReviewFile) -> bool:
    try:
        info = path.lstat()
    except OSError:
        return False
    if not stat.S_ISREG(info.st_mode) or info.st_size != want.size:
        return False
    if bool(info.st_mode & stat.S_IXUSR) != want.executable:
        return False
    with path.open("rb") as handle, contextlib.closing(want.chunks()) as chunks:
        return all(handle.read(len(chunk)) == chunk for chunk in chunks) and not handle.read(1)


def compare(config: RepoConfig, project: str, expected: Mapping[str, ReviewFile]) -> ReviewResult:
    """What writing ``expected`` into ``review/<project>`` would add, change and remove."""
    directory = review_dir(config, project)
    _refuse_symlinked(config, project)
    disk = _on_disk(directory)
    added = sorted(p for p in expected if p not in disk)
    changed = sorted(p for p in expected if p in disk and not _same(disk[p], expected[p]))
    removed = sorted(p for p in disk if p not in expected)
    unchanged = len(expected) - len(added) - len(changed)
    return ReviewResult(project, directory, tuple(added), tuple(changed), tuple(removed), unchanged)


def _refuse_symlinked(config: RepoConfig, project: str) -> None:
    for path in (config.root / REVIEW_DIR, review_dir(config, project)):
        if path.is_symlink():
            raise UserError(
                f"{path.relative_to(config.root)} is a symlink; verda-patch writes review "
                "files only into a real folder of the patch repo",
                file=path,
                hint="replace the symlink with a folder",
            )


def _clear_way(directory: Path, rel: str) -> Path:
    """``directory/rel`` with every parent a real folder (stale symlinks/files removed)."""
    target = directory
    for part in rel.split("/")[:-1]:
        target = target / part
        if target.is_symlink() or (target.exists() and not target.is_dir()):
            target.unlink()
        target.mkdir(exist_ok=True)
    target = target / rel.split("/")[-1]
    if target.is_symlink():
        target.unlink()
    elif target.is_dir():
        shutil.rmtree(target)
    return target


def _prune_empty(directory: Path, paths: Iterable[str]) -> None:
    parents = {Path(p).parent for p in paths}
    for parent in sorted(parents, key=lambda p: len(p.parts), reverse=True):
        folder = directory / parent
        while folder != directory and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
            folder = folder.parent


def write(config: RepoConfig, project: str, expected: Mapping[str, ReviewFile]) -> ReviewResult:
    """Make ``review/<project>`` hold exactly ``expected``; untouched files are not rewritten."""
    result = compare(config, project, expected)
    directory = review_dir(config, project, create=True)
    # removals first: a stale symlink or file may stand where a folder has to go
    for rel in result.removed:
        path = directory / rel
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path.exists():
            shutil.rmtree(path)
    for rel in (*result.added, *result.changed):
        want = expected[rel]
        target = _clear_way(directory, rel)
        with atomic_file(target, mode=0o755 if want.executable else 0o644) as handle:
            for chunk in want.chunks():
                handle.write(chunk)
    _prune_empty(directory, result.removed)
    return ReviewResult(
        result.project,
        directory,
        result.added,
        result.changed,
        result.removed,
        result.unchanged,
        written=True,
    )


def review_tree(
    config: RepoConfig, project: str, tree: Path, base: str, *, check: bool = False
) -> ReviewResult:
    """Compare (``check``) or write ``review/<project>`` from an already built tree."""
    expected = patched_files(tree, base)
    if check:
        return compare(config, project, expected)
    return write(config, project, expected)


def review(
    config: RepoConfig,
    project: str,
    *,
    check: bool = False,
    hooks: Hooks | None = None,
) -> ReviewResult:
    """Build the series in a scratch tree, then compare or write ``review/<project>``."""
    base = config.project(project).commit
    with scratch_tree(config, project, hooks=hooks) as (tree, _head):
        return review_tree(config, project, tree.path, base, check=check)
