"""What ``list`` reports: each project's base and parsed patches in apply order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from verda_patch.config import Project, RepoConfig
from verda_patch.patchfile import Patch
from verda_patch.store import Store


@dataclass(frozen=True)
class ProjectListing:
    project: Project
    patches: tuple[Patch, ...]

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
    }


def list_projects(config: RepoConfig, names: list[str]) -> list[ProjectListing]:
    store = Store(config)
    return [ProjectListing(config.project(name), tuple(store.load(name))) for name in names]
