"""Where verda-patch writes: inside the patch repo, through no symlink, in folders it made.

A patch repo under review is someone else's input: a committed symlink
``.verda/work/nova`` → ``$HOME`` would have ``apply`` run ``git clean`` in the
home folder (issue 18). So every folder verda-patch writes in is reached one
component at a time from the repo root with ``lstat``: a symlink or a non-folder
on the way is refused (exit 2, naming it), a missing folder is created. With no
symlink and no ``..`` on the way, the path is inside the repo by construction.
``.verda/`` carries its own ``.gitignore`` so ``git add -A`` never picks it up,
also in a patch repo ``init`` did not make.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path, PurePath, PurePosixPath

from verda_patch.errors import UserError

VERDA_DIR = ".verda"
# ignores everything in .verda/, itself included, in any patch repo
VERDA_GITIGNORE = b"# written by verda-patch: nothing in .verda/ belongs in git\n*\n"


def is_within(path: Path | str, parent: Path | str) -> bool:
    """Whether ``path`` really lies in ``parent`` (symlinks resolved, whole components).

    ``.verda/work/nova2`` is not inside ``.verda/work/nova``, which a string
    prefix test would say it is.
    """
    real = os.path.realpath(path)
    base = os.path.realpath(parent)
    return real == base or os.path.commonpath([real, base]) == base


def _display(root: Path, path: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def refuse(root: Path, path: Path, why: str) -> UserError:
    shown = _display(root, path)
    return UserError(
        f"{why}; verda-patch writes only to real files and folders inside the patch repo",
        file=path,
        hint=f"remove {shown} (a pull request must not carry it) and run the command again",
    )


def _parts(rel: PurePath | str) -> tuple[str, ...]:
    parts = PurePosixPath(str(rel).replace("\\", "/")).parts
    if parts[:1] == ("/",) or ".." in parts:
        raise UserError(f"{rel!s} is not a relative path inside the patch repo")
    return tuple(p for p in parts if p != ".")


def folder(root: Path, rel: PurePath | str, *, create: bool = False) -> Path:
    """``root/rel`` after checking every component that exists is a real folder.

    With ``create`` the missing ones are made; without, the check stops at the
    first missing one (nothing below it can be a symlink yet).
    """
    path = root
    for part in _parts(rel):
        path = path / part
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            if not create:
                return root.joinpath(*_parts(rel))
            with contextlib.suppress(FileExistsError):  # a racing run made it: check it
                os.mkdir(path)
            info = os.lstat(path)
        if stat.S_ISLNK(info.st_mode):
            raise refuse(root, path, "is a symlink")
        if not stat.S_ISDIR(info.st_mode):
            raise refuse(root, path, "is not a folder")
    return path


def file_in(root: Path, rel: PurePath | str) -> Path:
    """``root/rel`` for a file: its folders checked, the file itself no symlink."""
    parts = _parts(rel)
    if not parts:
        raise UserError(f"{rel!s} is not a file inside the patch repo")
    path = folder(root, PurePosixPath(*parts[:-1])) / parts[-1]
    if path.is_symlink():
        raise refuse(root, path, "is a symlink")
    return path


def verda_dir(root: Path, *sub: str) -> Path:
    """``.verda/<sub>`` of the patch repo, created and checked, with ``.verda`` ignored."""
    base = folder(root, VERDA_DIR, create=True)
    ensure_ignored(base)
    return folder(root, PurePosixPath(VERDA_DIR, *sub), create=True) if sub else base


def ensure_ignored(verda: Path) -> None:
    """Write ``.verda/.gitignore`` unless it already says exactly what we write."""
    path = verda / ".gitignore"
    try:
        info = os.lstat(path)
        if stat.S_ISREG(info.st_mode) and path.read_bytes() == VERDA_GITIGNORE:
            return
    except FileNotFoundError:
        pass
    fd, tmp = tempfile.mkstemp(prefix=".gitignore.", suffix=".tmp", dir=verda)
    with os.fdopen(fd, "wb") as handle:
        handle.write(VERDA_GITIGNORE)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)  # replaces a symlink itself, never what it points to


def open_private(root: Path, path: Path) -> int:
    """A read-write fd on ``path`` that is no symlink, FIFO or hard link (``O_NOFOLLOW``)."""
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    if path.is_symlink():
        raise refuse(root, path, "is a symlink")
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as exc:  # a symlink planted after the check above: ELOOP
        raise refuse(root, path, f"cannot be opened safely ({exc.strerror})") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
        os.close(fd)
        raise refuse(root, path, "is not a plain file")
    os.set_blocking(fd, True)
    return fd
