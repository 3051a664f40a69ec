"""`verda-patch list [PROJECT]`: patches in apply order."""

from __future__ import annotations

import click

from verda_patch.cli import PROJECT, App, pass_app


@click.command("list")
@click.argument("project", type=PROJECT, required=False)
@pass_app
def list_(app: App, project: str | None) -> None:
    """List patches in apply order: category, subject, author, files, Change-Id.

    Without PROJECT, every project of base-commit is listed.
    """
    from verda_patch.listing import list_projects

    names = app.projects([project]) if project else list(app.config.projects)
    projects = list_projects(app.config, names)
    if app.json:
        app.emit_json({"projects": [p.to_json() for p in projects]})
        return
    from rich.markup import escape
    from rich.table import Table

    for listing in projects:
        base = listing.project
        count = len(listing.patches)
        title = escape(f"{base.name} @ {base.ref or base.commit[:12]}  ({count} patches)")
        table = Table(title=title, title_justify="left", show_lines=False)
        for column in ("#", "category", "file", "subject", "author", "Change-Id", "files"):
            table.add_column(column, justify="right" if column in ("#", "files") else "left")
        for i, patch in enumerate(listing.patches, 1):
            cells = (
                str(i),
                patch.category,
                patch.name,
                patch.subject,
                patch.author_name or patch.author_email or "",
                (patch.change_id or "")[:12],
                str(len(patch.files)),
            )
            table.add_row(*(escape(cell) for cell in cells))
        app.out.print(table)
