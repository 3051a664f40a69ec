"""`verda-patch list [PROJECT]`: patches in apply order."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from verda_patch.cli import PROJECT, App, pass_app

if TYPE_CHECKING:
    from verda_patch.listing import ProjectListing


@click.command("list")
@click.argument("project", type=PROJECT, required=False)
@pass_app
def list_(app: App, project: str | None) -> None:
    """List patches in apply order: category, subject, author, files, Change-Id.

    Without PROJECT, every project of base-commit is listed.
    """
    from verda_patch.errors import UnreadablePatches
    from verda_patch.listing import error_json, list_projects

    names = app.projects([project]) if project else list(app.config.projects)
    projects = list_projects(app.config, names)
    errors = [error for listing in projects for error in listing.errors]
    if app.json:
        document: dict[str, object] = {"projects": [p.to_json() for p in projects]}
        if errors:
            document["errors"] = [
                error_json(app.config, listing.project.name, error)
                for listing in projects
                for error in listing.errors
            ]
        app.emit_json(document)
    else:
        _table(app, projects)
    if errors:  # after the listing: every readable file shown, each unreadable one named
        raise UnreadablePatches(errors)


def _table(app: App, projects: list[ProjectListing]) -> None:
    from rich.markup import escape

    from verda_patch.tables import KEEP, Column, build

    # one line per patch: the file is never cut; at 80 columns the subject
    # shrinks and files, #, Change-Id and author give way, in that order
    columns = (
        Column("#", priority=10, justify="right"),
        Column("category", priority=80),
        Column("file", priority=KEEP),
        Column("subject", priority=70, elastic=True, min_width=16),
        Column("author", priority=40, elastic=True, min_width=8),
        Column("Change-Id", priority=30),
        Column("files", priority=20, justify="right"),
    )
    out = app.out
    for listing in projects:
        base = listing.project
        count = len(listing.patches)
        unreadable = f", {len(listing.errors)} unreadable" if listing.errors else ""
        title = escape(
            f"{base.name} @ {base.ref or base.commit[:12]}  ({count} patches{unreadable})"
        )
        rows = [
            tuple(
                escape(cell)
                for cell in (
                    str(i),
                    patch.category,
                    patch.name,
                    patch.subject,
                    patch.author_name or patch.author_email or "",
                    (patch.change_id or "")[:12],
                    str(len(patch.files)),
                )
            )
            for i, patch in enumerate(listing.patches, 1)
        ]
        table, _ = build(columns, rows, out.width, title=title)
        out.print(table)
