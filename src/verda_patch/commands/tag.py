"""`verda-patch tag`."""

from __future__ import annotations

import click

from verda_patch.cli import PROJECT, App, pass_app


@click.command()
@click.argument("project", type=PROJECT)
@click.option("--dry-run", is_flag=True, help="Print the tag name and message; create nothing.")
@pass_app
def tag(app: App, project: str, dry_run: bool) -> None:
    """Tag the patch repo's HEAD as a release of PROJECT (annotated tag).

    The name follows tag_pattern in verda-patch.yaml (default
    '{project}-{ref}-verda.{n}', n the next free number; ref is the base's
    'ref:' or 'git describe' of the base commit). The message records the
    upstream, the base commit, the ref and every patch, series and
    custom-source file with its sha256, so the release can be rebuilt exactly.
    Refuses (exit 1) while the patch repo has uncommitted changes (files git
    ignores, the user's global excludes included, do not count). A HEAD that
    already carries this release's tag is said so, and no second tag is made.
    """
    from rich.markup import escape

    from verda_patch import release
    from verda_patch.worktree import repo_lock

    app.projects([project])
    with repo_lock(app.root, notify=app.say):
        result = release.tag(app.config, project, dry_run=dry_run, notify=app.say)
    if app.json:
        app.emit_json(result.to_json())
        return
    if result.already:
        app.out.print(
            escape(
                f"{result.target[:12]} is already tagged {result.name}; nothing created "
                "(commit a change to tag a new release)"
            ),
            highlight=False,
        )
        return
    if dry_run:
        app.out.print(
            escape(f"would create tag {result.name} at {result.target[:12]}:"), highlight=False
        )
        app.out.print(escape(result.message.rstrip("\n")), highlight=False)
        return
    app.out.print(
        escape(
            f"tagged {result.name} at {result.target[:12]}: {project} {result.ref} "
            f"({result.base[:12]}) + {len(result.patches)} patches"
        ),
        highlight=False,
    )
    app.say(escape(f"publish it with 'git push origin {result.name}'"))
