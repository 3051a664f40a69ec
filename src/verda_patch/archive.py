"""``archive``: a reproducible ``.tar.gz`` of the patched tree for package builds.

The tree is ``git archive`` of a scratch tree's HEAD (so ``export-ignore`` and
``export-subst`` work as upstream meant them), re-packed with every entry under
``<project>-<version>/``, sorted by name, owned by 0/0 ``root``, dated with the
HEAD commit's (fixed) committer date, and gzip'd with header mtime 0 and no file
name. The same base and patch files give the same bytes on any machine with the
same zlib.

Two files are added at the top: ``VERDA-PATCH.json`` (upstream, base commit,
ref, the patch files with their sha256) and, for pbr projects, ``PKG-INFO``:
pbr takes the version from ``PBR_VERSION``, else from a ``PKG-INFO`` whose
``Name:`` is the project's ``[metadata] name``, else from git, which an
unpacked archive does not have.
"""

from __future__ import annotations

import configparser
import gzip
import hashlib
import io
import json
import os
import re
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO

from verda_patch import __version__, git
from verda_patch.apply import CUSTOM_SOURCE, Hooks, custom_files, scratch_tree
from verda_patch.config import Project, RepoConfig
from verda_patch.errors import OperationFailed, UserError
from verda_patch.mirror import Mirror
from verda_patch.patchfile import Patch
from verda_patch.store import Store, atomic_file, sha256_file

MANIFEST = "VERDA-PATCH.json"
PKG_INFO = "PKG-INFO"
GZIP_LEVEL = 6  # what `git archive --format=tar.gz` uses; 9 costs twice the time for ~2%

# PEP 440 public versions, as OpenStack tags them (31.0.0, 31.0.0.0rc1, 2.1.0.post1)
_PUBLIC_RE = re.compile(r"^(\d+(?:\.\d+)*)((?:a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?$")
# PEP 440 (appendix B), the whole grammar, for a version the user gives
_PEP440_RE = re.compile(
    r"^v?(?:[0-9]+!)?[0-9]+(?:\.[0-9]+)*"
    r"(?:[-_.]?(?:a|b|c|rc|alpha|beta|pre|preview)[-_.]?[0-9]*)?"
    r"(?:-[0-9]+|[-_.]?(?:post|rev|r)[-_.]?[0-9]*)?"
    r"(?:[-_.]?dev[-_.]?[0-9]*)?"
    r"(?:\+[a-z0-9]+(?:[-_.][a-z0-9]+)*)?$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ArchiveResult:
    project: str
    path: Path
    sha256: str
    version: str
    prefix: str
    head: str
    files: int
    pbr_name: str | None  # the package name pbr reads PKG-INFO for, when a pbr project
    manifest: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "archive": str(self.path),
            "sha256": self.sha256,
            "version": self.version,
            "prefix": self.prefix,
            "head": self.head,
            "files": self.files,
            "pbr": self.pbr_name is not None,
            "manifest": self.manifest,
        }


# --- versions ------------------------------------------------------------------------


def is_pep440(version: str) -> bool:
    return bool(_PEP440_RE.match(version))


def base_version(mirror: Path, project: Project) -> str:
    """The upstream version of the base: ``ref`` when it is one, else like pbr's describe."""
    if project.ref and _PUBLIC_RE.match(project.ref):
        return project.ref
    res = git.run(
        [
            "describe",
            "--tags",
            "--long",
            "--match=[0-9]*",
            "--exclude=*-eol",
            "--end-of-options",
            project.commit,
        ],
        cwd=mirror,
        ok=(0, 128),
    )
    match = re.match(r"^(.*)-(\d+)-g[0-9a-f]+$", res.text.strip())
    if res.returncode or not match or not _PUBLIC_RE.match(match.group(1)):
        count = git.out(["rev-list", "--count", project.commit], cwd=mirror)
        return f"0.0.0.dev{count}"
    tag, distance = match.group(1), int(match.group(2))
    if not distance:
        return tag
    parts = _PUBLIC_RE.match(tag)
    assert parts is not None
    if parts.group(2) or parts.group(3) or parts.group(4):
        return f"{tag}.post{distance}"
    # pbr: commits after X.Y.Z are X.Y.(Z+1).devN
    numbers = parts.group(1).split(".")
    numbers[-1] = str(int(numbers[-1]) + 1)
    return ".".join(numbers) + f".dev{distance}"


def local_version(base: str, patches: int, head: str) -> str:
    """``<base>+verda.<N>.g<head>``: N patches, and the patched commit that names them all."""
    return f"{base}+verda.{patches}.g{head[:10]}"


# --- pbr ---------------------------------------------------------------------------------


def pbr_package_name(read: dict[str, bytes]) -> str | None:
    """The name pbr looks up in ``PKG-INFO``, when the tree is a pbr project; else None."""
    setup_py = read.get("setup.py", b"").decode("utf-8", "replace")
    setup_cfg = read.get("setup.cfg", b"").decode("utf-8", "replace")
    uses_pbr = bool(re.search(r"\bpbr\b", setup_py)) or bool(
        re.search(r"^\[pbr\]", setup_cfg, re.MULTILINE)
    )
    if not uses_pbr or not setup_cfg:
        return None
    parser = configparser.RawConfigParser(strict=False)
    try:
        parser.read_string(setup_cfg)
        name = parser.get("metadata", "name", fallback=None)
    except configparser.Error:
        return None
    return name.strip() if name and name.strip() else None


def pkg_info(name: str, version: str) -> bytes:
    # Metadata 1.1 is what pbr's own sdists carry; pbr reads only Name and Version.
    return f"Metadata-Version: 1.1\nName: {name}\nVersion: {version}\n".encode()


# --- the manifest ------------------------------------------------------------------------


def manifest(
    config: RepoConfig, project: Project, patches: Sequence[Patch], head: str, version: str
) -> dict[str, Any]:
    custom = custom_files(config.root, project.name)
    return {
        "project": project.name,
        "upstream": project.shown_upstream,
        "base": {"commit": project.commit, "ref": project.ref, "branch": project.branch},
        "head": head,
        "version": version,
        "patches": [{"file": p.file, "sha256": sha256_file(p.path)} for p in patches],
        "custom_source": [
            {"path": f"{CUSTOM_SOURCE}/{project.name}/{rel}", "sha256": sha256_file(src)}
            for rel, src in custom
        ],
        "generator": f"verda-patch {__version__}",
    }


# --- the tarball ---------------------------------------------------------------------------


@contextmanager
def _git_archive(tree: Path) -> Iterator[tarfile.TarFile]:
    """``git archive HEAD`` spooled to a temporary file, open for reading in any order.

    Members are copied from it in pieces, so no blob is ever whole in memory
    (issue 18: a 2 GB file took 4.2 GB of RSS when every member was read).
    """
    with tempfile.TemporaryFile(prefix="verda-patch-archive.") as spool:
        with git.streaming(
            ["archive", "--format=tar", "HEAD"],
            cwd=tree,
            stdin=subprocess.DEVNULL,
            stdout=spool.fileno(),
        ) as proc:  # killed and reaped on any error or interrupt
            assert proc.stderr is not None
            err = proc.stderr.read()
            code = proc.wait()
        if code:
            raise OperationFailed(f"git archive failed: {err.decode('utf-8', 'replace').strip()}")
        spool.seek(0)
        with tarfile.open(fileobj=spool, mode="r:") as source:  # pax headers read, not listed
            yield source


def _top_files(source: tarfile.TarFile, names: Sequence[str]) -> dict[str, bytes]:
    """The content of the top-level files ``names`` (small: setup.py, setup.cfg), if any."""
    found: dict[str, bytes] = {}
    for name in names:
        try:
            info = source.getmember(name)
        except KeyError:
            continue
        handle = source.extractfile(info) if info.isfile() else None
        if handle is not None:
            found[name] = handle.read(1 << 20)
    return found


def _normalized(info: tarfile.TarInfo, name: str, mtime: int) -> tarfile.TarInfo:
    out = tarfile.TarInfo(name)
    out.type = info.type
    out.linkname = info.linkname
    out.size = info.size if info.isfile() else 0
    executable = bool(info.mode & 0o100)
    out.mode = 0o755 if info.isdir() or executable else 0o644
    if info.issym():
        out.mode = 0o777
    out.mtime = mtime
    out.uid = out.gid = 0
    out.uname = out.gname = "root"
    return out


def write_tarball(
    output: Path,
    prefix: str,
    source: tarfile.TarFile,
    extra: dict[str, bytes],
    mtime: int,
) -> str:
    """Write the reproducible ``.tar.gz`` of ``source``'s members and ``extra``
    atomically, copying contents in pieces; return its sha256."""
    entries: dict[str, tuple[tarfile.TarInfo, IO[bytes] | None]] = {}
    top = tarfile.TarInfo(prefix.rstrip("/"))
    top.type = tarfile.DIRTYPE
    entries[top.name] = (top, None)
    for info in source.getmembers():
        if info.type not in (tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE):
            continue
        name = f"{prefix}{info.name.rstrip('/')}"
        entries[name] = (info, source.extractfile(info) if info.isfile() else None)
    for rel, data in extra.items():
        info = tarfile.TarInfo(rel)
        info.size = len(data)
        info.mode = 0o644
        entries[f"{prefix}{rel}"] = (info, io.BytesIO(data))

    digest = hashlib.sha256()
    with atomic_file(output, mode=0o644) as raw:
        hashing = _HashingWriter(raw, digest)
        # filename="" and mtime=0: the gzip header names no file and no time
        with (
            gzip.GzipFile(
                filename="", mode="wb", fileobj=hashing, compresslevel=GZIP_LEVEL, mtime=0
            ) as gz,
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT, encoding="utf-8") as tar,
        ):
            for name in sorted(entries):
                info, content = entries[name]
                member = _normalized(info, name, mtime)
                tar.addfile(member, content if member.isfile() else None)
    return digest.hexdigest()


class _HashingWriter:
    """A write-only file object that hashes what passes through it."""

    def __init__(self, raw: BinaryIO, digest: Any) -> None:
        self.raw = raw
        self.digest = digest

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        return int(self.raw.write(data))

    def flush(self) -> None:
        self.raw.flush()


# --- the command -------------------------------------------------------------------------


def default_name(project: str, version: str) -> str:
    return f"{project}-{version}.tar.gz"


DIST_DIR = "dist"
# a dist/ that archive makes ignores itself, also in a repo init did not make
DIST_GITIGNORE = b"# written by verda-patch: archives are build output, not patch files\n*\n"


def default_output(root: Path, name: str) -> Path:
    """``dist/<name>`` in the patch repo: out of what git tracks, so a ``tag`` after an
    ``archive`` is not blocked by the tarball (init's .gitignore lists dist/)."""
    from verda_patch import contain

    existed = os.path.lexists(root / DIST_DIR)
    dist = contain.folder(root, DIST_DIR, create=True)
    if not existed:
        (dist / ".gitignore").write_bytes(DIST_GITIGNORE)
    return dist / name


def archive(
    config: RepoConfig,
    project: str,
    output: Path | None = None,
    *,
    version: str | None = None,
    hooks: Hooks | None = None,
) -> ArchiveResult:
    """Build the series in a scratch tree and write it as a reproducible tarball.

    ``output`` None: ``dist/<project>-<version>.tar.gz`` in the patch repo.
    ``version`` None: ``<ref or describe>+verda.<N>.g<head>`` (see :func:`local_version`).
    """
    proj = config.project(project)
    if version is not None and not is_pep440(version):
        raise UserError(
            f"version {version!r} is not a PEP 440 version",
            hint="use e.g. 31.0.0+verda.3 (public part, then '+' and dot-separated letters/digits)",
        )
    patches = Store(config).load(project)
    mirror = Mirror.for_project(config, proj)
    with scratch_tree(config, project, patches=patches, hooks=hooks) as (tree, head):
        version = version or local_version(base_version(mirror.path, proj), len(patches), head)
        mtime = int(git.out(["log", "-1", "--format=%ct", "HEAD"], cwd=tree.path))
        prefix = f"{project}-{version}/"
        target = output or default_output(config.root, default_name(project, version))
        data = manifest(config, proj, patches, head, version)
        with _git_archive(tree.path) as source:
            members = source.getmembers()
            pbr_name = pbr_package_name(_top_files(source, ("setup.py", "setup.cfg")))
            extra = {MANIFEST: (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode()}
            if pbr_name:
                extra[PKG_INFO] = pkg_info(pbr_name, version)
            digest = write_tarball(target, prefix, source, extra, mtime)
    return ArchiveResult(
        project=project,
        path=target,
        sha256=digest,
        version=version,
        prefix=prefix,
        head=head,
        files=sum(1 for info in members if not info.isdir()) + len(extra),
        pbr_name=pbr_name,
        manifest=data,
    )
