"""What ``list`` reports: each project's base and parsed patches in apply order."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from verda_patch.config import Project, RepoConfig
from verda_patch.errors import PatchError
from verda_patch.patchfile import Patch
from verda_patch.store import Store


@dataclass(frozen=True)
class ProjectListing:
    project: Project
    patches: tuple[Patch, ...]
    errors: tuple[PatchError, ...] = ()  # the files that cannot be read, each named

    def to_json(self) -> dict[str, Any]:
        p = self.project
        return {
            "project": p.name,
            "base": {
                "upstream": p.shown_upstream,
                "commit": p.commit,
                "ref": p.ref,
                "branch": p.branch,
            },
            "patches": [patch_json(patch) for patch in self.patches],
        }


def patch_json(patch: Patch) -> dict[str, Any]:
    """The SPEC's patch record."""
    return {
        "file": patch.file,
        "category": patch.category,
        "subject": patch.subject,
        "author": patch.author,
        "date": patch.iso_date,
        "change_id": patch.change_id,
        "cherry_picked_from": list(patch.cherry_picked_from),
        "files": [f.path for f in patch.files],
        "change_ids": list(patch.change_ids),
        "dep3": dict(patch.dep3),
    }


def error_json(config: RepoConfig, project: str, error: PatchError) -> dict[str, Any]:
    """An unreadable file as ``list --json`` names it (``file`` as for a patch)."""
    file = str(error.file) if error.file is not None else None
    if file is not None:
        base = config.root / "patches" / project
        with contextlib.suppress(ValueError):
            file = Path(file).relative_to(base).as_posix()
    return {
        "project": project,
        "file": file,
        "line": error.line,
        "message": error.message,
        "hint": error.hint,
    }


def list_projects(config: RepoConfig, names: list[str]) -> list[ProjectListing]:
    """Every readable patch of each project, and each file that cannot be read."""
    store = Store(config)
    out = []
    for name in names:
        patches, errors = store.read(name)
        out.append(ProjectListing(config.project(name), tuple(patches), tuple(errors)))
    return out
