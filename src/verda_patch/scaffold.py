"""``init``: lay out a new patch repo without touching anything that exists."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from verda_patch import git
from verda_patch.config import BASE_FILE, load_projects
from verda_patch.errors import VerdaError

DIRECTORIES = ("patches", "custom-source", "review", "dockerfiles", "scripts")

# destination → template name under verda_patch/templates
FILES = {
    "base-commit": "base-commit",
    ".gitignore": "gitignore",
    "scripts/apply_patch.sh": "apply_patch.sh",
    ".dockerignore": "dockerignore",
}


DOCKERFILE_TEMPLATE = "Dockerfile"
EXAMPLE_PROJECT = "nova"  # the project base-commit's commented example names
EXAMPLE_DOCKERFILE = "dockerfiles/example/Dockerfile"


@dataclass(frozen=True)
class InitResult:
    root: Path
    created: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    git_initialized: bool = False
    # the repository ``root`` sits in, when it is not ``root`` itself (it now
    # holds the patch repo as a nested repository it does not track)
    enclosing: Path | None = None


def template(name: str) -> bytes:
    return resources.files("verda_patch").joinpath("templates", name).read_bytes()


def dockerfile(project: str, dest: str | None = None) -> bytes:
    """The image template for ``project``, to be kept at ``dest``."""
    dest = dest or f"dockerfiles/{project}/Dockerfile"
    text = template(DOCKERFILE_TEMPLATE).decode()
    if dest == EXAMPLE_DOCKERFILE:
        text = text.replace(
            "(made by 'verda-patch init').",
            "(made by 'verda-patch init').\n# An example for the project "
            f"'{project}': copy it to dockerfiles/<project>/Dockerfile and\n# "
            "replace the name, or re-run 'verda-patch init' once base-commit lists "
            "your projects.",
        )
    return text.replace("@DOCKERFILE@", dest).replace("@PROJECT@", project).encode()


def delivery_files(root: Path) -> dict[str, bytes]:
    """``dockerfiles/<project>/Dockerfile`` per project of base-commit, else one example."""
    try:
        projects = list(load_projects(root / BASE_FILE))
    except VerdaError:  # a broken base-commit is for 'check' to report, not for init
        projects = []
    if not projects:
        return {EXAMPLE_DOCKERFILE: dockerfile(EXAMPLE_PROJECT, EXAMPLE_DOCKERFILE)}
    return {f"dockerfiles/{name}/Dockerfile": dockerfile(name) for name in projects}


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
        _create(root, dest, name, template(name), result)
    # after base-commit exists: one Dockerfile per project it lists (never overwritten)
    for dest, data in delivery_files(root).items():
        _create(root, dest, DOCKERFILE_TEMPLATE, data, result)
    # A patch repo is always a repository of its own: made inside another one
    # (the demo run in a checkout, init in a subfolder) it must never add its
    # files or commits to that one.
    top = git.run(["rev-parse", "--show-toplevel"], cwd=root, ok=(0, 128))
    enclosing = Path(top.text.strip()).resolve() if top.returncode == 0 else None
    if enclosing == root.resolve():
        return result
    git.run(["init", "--quiet"], cwd=root)
    return InitResult(root, result.created, result.kept, git_initialized=True, enclosing=enclosing)


def _create(root: Path, dest: str, name: str, data: bytes, result: InitResult) -> None:
    """Write ``dest`` unless it exists (then only a .gitignore gets .verda/ added)."""
    path = root / dest
    if path.exists() or path.is_symlink():
        # a symlinked or dangling .gitignore is the user's business: keep it as it is
        if (
            dest == ".gitignore"
            and path.is_file()
            and not path.is_symlink()
            and (b".verda/" not in path.read_bytes())
        ):
            with path.open("ab") as handle:
                handle.write(b"\n" + template(name))
            result.created.append(".gitignore (added .verda/)")
        else:
            result.kept.append(dest)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    # O_EXCL: never clobber a file that appeared since we looked
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    if data.startswith(b"#!"):
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    result.created.append(dest)
