"""``init``: lay out a new patch repo without touching anything that exists."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from verda_patch import git

DIRECTORIES = ("patches", "custom-source", "review", "dockerfiles", "scripts")

# destination → template name under verda_patch/templates
FILES = {
    "base-commit": "base-commit",
    ".gitignore": "gitignore",
    "scripts/apply_patch.sh": "apply_patch.sh",
}


@dataclass(frozen=True)
class InitResult:
    root: Path
    created: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    git_initialized: bool = False


def template(name: str) -> bytes:
    return resources.files("verda_patch").joinpath("templates", name).read_bytes()


def init(root: Path, extra_files: dict[str, str] | None = None) -> InitResult:
    """Create the layout in ``root``; existing files and folders are kept as they are."""
    result = InitResult(root=root)
    for name in DIRECTORIES:
        path = root / name
        if path.exists():
            result.kept.append(name + "/")
        else:
            path.mkdir(parents=True)
            result.created.append(name + "/")
    for dest, name in {**FILES, **(extra_files or {})}.items():
        path = root / dest
        if path.exists() or path.is_symlink():
            if dest == ".gitignore" and b".verda/" not in path.read_bytes():
                with path.open("ab") as handle:
                    handle.write(b"\n" + template(name))
                result.created.append(".gitignore (added .verda/)")
            else:
                result.kept.append(dest)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        data = template(name)
        # O_EXCL: never clobber a file that appeared since we looked
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        if data.startswith(b"#!"):
            path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        result.created.append(dest)
    inside = git.run(["rev-parse", "--is-inside-work-tree"], cwd=root, ok=(0, 128))
    if inside.returncode != 0:
        git.run(["init", "--quiet"], cwd=root)
        return InitResult(root, result.created, result.kept, git_initialized=True)
    return result
