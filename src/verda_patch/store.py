"""``patches/<project>/<category>/``: discovery, apply order, series files, writes.

Order: the categories of the settings in their order; inside one, the
``series`` file when present (blank lines and ``#`` comments allowed), else the
file names sorted. Every inconsistency is a :class:`PatchError` naming the file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from verda_patch import contain
from verda_patch.config import RepoConfig
from verda_patch.errors import PatchError, UnreadablePatches, UserError
from verda_patch.gitverdict import checked_file
from verda_patch.patchfile import Patch, parse_bytes, parse_file

PATCHES_DIR = "patches"
SERIES = "series"
PATCH_SUFFIXES = (".patch", ".diff")
_NUMBER_RE = re.compile(r"^(\d{4,})-")
_SLUG_RE = re.compile(r"[^A-Za-z0-9._]+")


@dataclass(frozen=True)
class Entry:
    """A patch file's place in the series, before parsing."""

    category: str
    name: str
    path: Path

    @property
    def file(self) -> str:
        """The SPEC's patch name: ``<category>/<file name>``."""
        return f"{self.category}/{self.name}"


@contextlib.contextmanager
def atomic_file(path: Path, mode: int | None = None) -> Iterator[BinaryIO]:
    """A temp file next to ``path`` that replaces it, synced, when the block ends well.

    A reader (or a crash) sees the old or the new bytes, never half; on an error
    the temp file goes and ``path`` is untouched. ``mode``: chmod before the rename.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        if mode is None:
            # keep the mode of the file we replace; a new one gets 0666 less the
            # umask, as open() would give it (mkstemp's 0600 would hide a patch
            # file from the group that reviews it)
            try:
                mode = stat.S_IMODE(path.stat().st_mode)
            except FileNotFoundError:
                umask = os.umask(0)
                os.umask(umask)
                mode = 0o666 & ~umask
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            Path(tmp).unlink()
        raise


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``path`` so a reader (or a crash) sees the old or the new bytes, never half."""
    with atomic_file(path) as handle:
        handle.write(data)


def is_patch_name(name: str) -> bool:
    """A file name the store takes for a patch (hidden files are editors' and ours)."""
    return name.endswith(PATCH_SUFFIXES) and not name.startswith(".")


def is_file_name(name: str) -> bool:
    """A series entry names a file of its own folder, never a path."""
    return not ("/" in name or "\\" in name or name in (".", ".."))


def series_name(line: str) -> str:
    """The file a ``series`` line names; ``""`` for a blank or comment line.

    A quilt series may carry options after the name (``foo.patch -p1``).
    """
    return (line.split("#", 1)[0].split() or [""])[0]


def read_series(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, name) of every line of a ``series`` file that names a file."""
    text = path.read_bytes().decode("utf-8", "replace")
    for lineno, line in enumerate(text.splitlines(), 1):
        if name := series_name(line):
            yield lineno, name


def sha256_file(path: Path) -> str:
    """The hex sha256 of a file's bytes, as ``sha256sum`` prints it (read in pieces)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 16):
            digest.update(chunk)
    return digest.hexdigest()


def slugify(text: str, limit: int = 52) -> str:
    """A file-name slug the way ``git format-patch`` makes one from a subject."""
    slug = _SLUG_RE.sub("-", text).strip("-.")
    slug = re.sub(r"\.{2,}", ".", slug)
    return slug[:limit].rstrip("-.") or "patch"


class Store:
    """The patch files of one patch repo."""

    def __init__(self, config: RepoConfig) -> None:
        self.config = config
        self.root = config.root
        self.categories = config.settings.categories

    def project_dir(self, project: str, *, create: bool = False) -> Path:
        """``patches/<project>``: refused (exit 2) when it or ``patches`` is a symlink."""
        return contain.folder(self.root, Path(PATCHES_DIR, project), create=create)

    def category_dir(self, project: str, category: str, *, create: bool = False) -> Path:
        if category not in self.categories:
            raise UserError(
                f"unknown category '{category}' (known: {', '.join(self.categories)})",
                hint="set 'categories' in verda-patch.yaml to add one",
            )
        return contain.folder(self.root, Path(PATCHES_DIR, project, category), create=create)

    def entries(self, project: str) -> list[Entry]:
        """Every patch file of ``project`` in apply order (not parsed)."""
        base = self.project_dir(project)
        if not base.is_dir():
            return []
        for child in sorted(base.iterdir()):
            if child.name.endswith(PATCH_SUFFIXES) and not child.is_dir():
                # it would silently never apply: say where it has to go
                raise PatchError(
                    "patch file outside a category folder",
                    file=child,
                    hint=f"move it into one of {', '.join(self.categories)}",
                )
            if child.is_dir() and child.name not in self.categories:
                raise PatchError(
                    f"folder '{child.name}' is not a category "
                    f"(known: {', '.join(self.categories)})",
                    file=child,
                    hint="move its patches into a category or add it in verda-patch.yaml",
                )
        out: list[Entry] = []
        for category in self.categories:
            out += self._category_entries(project, category)
        policy = self.config.policy
        if problem := policy.check("patches", len(out), f"the number of patches of {project}"):
            raise PatchError(problem, file=base)
        return out

    def parse(self, entry: Entry) -> Patch:
        """Parse one patch file, within the limits of untrusted mode (issue 18)."""
        policy = self.config.policy
        if policy.untrusted:
            size = entry.path.stat().st_size  # before reading it
            if problem := policy.check("patch_bytes", size, "its size in bytes"):
                raise PatchError(problem, file=entry.path)
        patch = parse_file(entry.path, file=entry.file, category=entry.category)
        return self._within_hunk_limit(entry, patch)

    def parse_data(self, entry: Entry, data: bytes) -> Patch:
        """:meth:`parse` of bytes already read (the same limits)."""
        if problem := self.config.policy.check("patch_bytes", len(data), "its size in bytes"):
            raise PatchError(problem, file=entry.path)
        patch = parse_bytes(data, source=entry.path, file=entry.file, category=entry.category)
        return self._within_hunk_limit(entry, patch)

    def _within_hunk_limit(self, entry: Entry, patch: Patch) -> Patch:
        # hunk headers are the diff's lines starting "@@ " (body lines never do)
        hunks = patch.diff.count(b"\n@@ ") + patch.diff.startswith(b"@@ ")
        if problem := self.config.policy.check("hunks", hunks, "its number of hunks"):
            raise PatchError(problem, file=entry.path)
        return patch

    def with_git_verdict(self, error: PatchError, path: Path) -> PatchError:
        """``error`` with what git says of the same file, except in untrusted mode,
        where a refused file (perhaps over a size limit) is not handed to git."""
        return error if self.config.policy.untrusted else checked_file(error, path)

    def _category_entries(self, project: str, category: str) -> list[Entry]:
        folder = self.project_dir(project) / category
        if not folder.is_dir():
            return []
        if folder.is_symlink():
            raise PatchError("category folder is a symlink", file=folder)
        on_disk = {}
        for child in folder.iterdir():
            if is_patch_name(child.name):
                if child.is_symlink() or not child.is_file():
                    raise PatchError(
                        "not a regular file", file=child, hint="patch files must be plain files"
                    )
                on_disk[child.name] = child
        series = folder / SERIES
        if not series.exists():
            return [Entry(category, name, on_disk[name]) for name in sorted(on_disk)]
        if series.is_symlink() or not series.is_file():
            raise PatchError("not a regular file", file=series)
        listed: list[Entry] = []
        seen: dict[str, int] = {}
        for lineno, name in read_series(series):
            if not is_file_name(name):
                raise PatchError(
                    f"series entry {name!r} must be a file name in {category}/",
                    file=series,
                    line=lineno,
                )
            if name in seen:
                raise PatchError(
                    f"'{name}' is listed twice (first on line {seen[name]})",
                    file=series,
                    line=lineno,
                )
            seen[name] = lineno
            path = folder / name
            if name not in on_disk:
                if not path.exists():
                    raise PatchError(
                        f"series names '{name}' but {category}/{name} does not exist",
                        file=series,
                        line=lineno,
                        hint="remove the line or restore the file",
                    )
                if path.is_symlink() or not path.is_file():
                    raise PatchError("not a regular file", file=path)
            listed.append(Entry(category, name, path))
        missing = sorted(set(on_disk) - set(seen))
        if missing:
            raise PatchError(
                f"{category}/{missing[0]} is not listed in {category}/series"
                + (f" (nor {len(missing) - 1} more)" if len(missing) > 1 else ""),
                file=series,
                hint=f"add '{missing[0]}' to the series file or remove the file",
            )
        return listed

    def load(
        self,
        project: str,
        on_patch: Callable[[int, int], None] | None = None,
    ) -> list[Patch]:
        """Parse every patch of ``project``, in apply order.

        Every file is read before anything is refused: one error names each
        file that cannot be read (:class:`UnreadablePatches`).
        """
        patches, errors = self.read(project, on_patch)
        if errors:
            raise UnreadablePatches(errors)
        return patches

    def read(
        self,
        project: str,
        on_patch: Callable[[int, int], None] | None = None,
    ) -> tuple[list[Patch], list[PatchError]]:
        """Every readable patch of ``project`` in apply order, and an error per other file.

        Each error's hint says what git answered for the same bytes.
        """
        entries = self.entries(project)
        patches: list[Patch] = []
        errors: list[PatchError] = []
        for i, entry in enumerate(entries, 1):
            try:
                patches.append(self.parse(entry))  # untrusted mode's limits apply
            except PatchError as exc:
                errors.append(self.with_git_verdict(exc, entry.path))
            if on_patch:
                on_patch(i, len(entries))
        return patches, errors

    def projects_with_patches(self) -> list[str]:
        base = self.root / PATCHES_DIR
        if not base.is_dir():
            return []
        return sorted(p.name for p in base.iterdir() if p.is_dir())

    # --- writing -------------------------------------------------------------

    def next_number(self, project: str, category: str) -> int:
        folder = self.category_dir(project, category)
        numbers = [0]
        if folder.is_dir():
            for child in folder.iterdir():
                if m := _NUMBER_RE.match(child.name):
                    numbers.append(int(m.group(1)))
        return max(numbers) + 1

    def add(self, project: str, category: str, slug: str, data: bytes) -> Entry:
        """Write a new patch as ``NNNN-<slug>.patch``; never overwrites a file."""
        folder = self.category_dir(project, category, create=True)
        number = self.next_number(project, category)
        name = f"{number:04d}-{slugify(slug)}.patch"
        path = folder / name
        try:
            # O_EXCL: a file that appeared meanwhile is kept, never overwritten
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            raise PatchError("already exists; not overwriting it", file=path) from None
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        series = folder / SERIES
        if series.exists():
            text = series.read_text(encoding="utf-8")
            if text and not text.endswith("\n"):
                text += "\n"
            write_atomic(series, (text + name + "\n").encode())
        return Entry(category, name, path)

    def remove(self, project: str, files: Iterable[str]) -> list[Path]:
        """Delete patch files (``<category>/<name>``) and their series lines."""
        removed: list[Path] = []
        by_category: dict[str, set[str]] = {}
        for file in files:
            category, _, name = file.partition("/")
            by_category.setdefault(category, set()).add(name)
        for category, names in by_category.items():
            folder = self.category_dir(project, category)
            series = folder / SERIES
            if series.exists():
                kept = [
                    line
                    for line in series.read_text(encoding="utf-8").splitlines(keepends=True)
                    if series_name(line) not in names
                ]
                write_atomic(series, "".join(kept).encode())
            for name in sorted(names):
                path = folder / name
                path.unlink(missing_ok=True)
                removed.append(path)
        return removed
