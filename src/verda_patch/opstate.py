"""Operation state (a stopped ``apply`` or ``base bump``): where it lives, what it may say.

A state file is read back by ``--continue`` / ``--abort``, which then reset work
trees, restore files and delete backups. Under ``.verda/state/`` of the patch
repo a commit could plant one (issue 18), so state lives where no checkout
writes: the apply state inside the work tree's own ``.git``, the bump state
inside the patch repo's ``.git`` (under the cache when the patch repo is not a
git repository). Every value read back is validated before it is used: ids are
40-hex, patch names ``category/name``, backed-up files ``base-commit`` or under
``patches/<project>/``; the backup folder is never read from the file.

The old location ``.verda/state/`` is not read any more; a bump stopped by an
older version is reported there with what to do (see ``docs/security.md``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path, PurePosixPath
from typing import Any

from verda_patch import git
from verda_patch.config import CATEGORY_RE, COMMIT_RE, PROJECT_RE
from verda_patch.errors import OperationFailed
from verda_patch.store import is_file_name, write_atomic

LEGACY_DIR = ".verda/state"
STATE_DIR = "verda-patch"  # inside a git dir
BACKUP_REF_RE = re.compile(r"refs/verda/backup/[A-Za-z0-9._-]+/[0-9]{8}-[0-9]{6}(-[0-9]+)?")


def repo_state_dir(root: Path) -> Path:
    """The patch repo's private state folder (inside its git dir, else under the cache)."""
    real = os.path.realpath(root)
    tag = hashlib.sha256(real.encode("utf-8", "surrogateescape")).hexdigest()[:16]
    res = git.run(["rev-parse", "--absolute-git-dir", "--show-toplevel"], cwd=root, ok=(0, 128))
    lines = res.text.splitlines()
    if res.returncode == 0 and len(lines) == 2:
        base = Path(lines[0]) / STATE_DIR
        return base if os.path.realpath(lines[1]) == real else base / f"repo-{tag}"
    from verda_patch.mirror import cache_root

    return cache_root() / "state" / f"{Path(real).name[:40]}-{tag}"


def read_json(path: Path) -> Any:
    """The JSON in ``path``; None when there is none; ``ValueError`` when unreadable."""
    try:
        return json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except UnicodeDecodeError as exc:
        raise ValueError(str(exc)) from None


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_atomic(path, json.dumps(data, indent=2).encode())


# --- validation ---------------------------------------------------------------------------


class BadState(ValueError):
    """A state file that does not have the shape verda-patch writes."""


def commit_id(value: object, what: str, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not COMMIT_RE.fullmatch(value):
        raise BadState(f"{what} is not a 40-hex commit id")
    return value


def patch_name(value: object) -> str:
    """``category/name.patch`` with both parts plain names."""
    if not isinstance(value, str):
        raise BadState("a patch entry is not a string")
    category, sep, name = value.partition("/")
    if not (sep and CATEGORY_RE.fullmatch(category) and is_file_name(name) and name.strip()):
        raise BadState(f"{value!r} is not a 'category/name' patch entry")
    if set(category) == {"."} or "\0" in name:
        raise BadState(f"{value!r} is not a 'category/name' patch entry")
    return value


def patch_names(value: object) -> list[str]:
    if not isinstance(value, list):
        raise BadState("a patch list is not a list")
    return [patch_name(item) for item in value]


def project_file(value: object, project: str) -> str:
    """A path the bump backed up: ``base-commit`` or a file under ``patches/<project>/``."""
    if not isinstance(value, str):
        raise BadState("a saved path is not a string")
    if value == "base-commit":
        return value
    parts = PurePosixPath(value).parts
    if (
        len(parts) < 3
        or parts[:2] != ("patches", project)
        or any(p in ("", ".", "..") or "\0" in p or "\\" in p for p in parts)
        or value != "/".join(parts)
    ):
        raise BadState(f"{value!r} is not a file under patches/{project}/")
    return value


def project_name(value: object, want: str) -> str:
    if value != want or not PROJECT_RE.fullmatch(want):
        raise BadState(f"the state is for project {value!r}, not {want!r}")
    return want


def damaged(path: Path, why: str, hint: str) -> OperationFailed:
    return OperationFailed(f"the state file is damaged: {why}", file=path, hint=hint)
