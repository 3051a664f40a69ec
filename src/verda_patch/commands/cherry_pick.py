"""`verda-patch cherry-pick`."""

from __future__ import annotations

import click

from verda_patch.cli import PROJECT, App, pass_app


@click.command("cherry-pick")
@click.argument("project", type=PROJECT)
@click.argument("rev")
@click.option(
    "--force", is_flag=True, help="Write the patch even if it does not apply on the current series."
)
@pass_app
def cherry_pick(app: App, project: str, rev: str, force: bool) -> None:
    """Add an upstream commit as cherry-pick/NNNN-<subject>.patch.

    REV is any sha, branch or tag of the upstream (its branches are fetched
    when REV is not known yet), or a Gerrit Change-Id (I + 40 hex), searched
    on every upstream branch: master's commit wins, then the project's branch.
    The patch keeps the author and date and ends with '(cherry picked from
    commit <sha>)' as 'git cherry-pick -x' writes it. It is written only when
    it applies on top of the current series (checked in a scratch tree), or
    with --force. REV unknown upstream: exit 2.
    """
    from rich.markup import escape

    from verda_patch.apply import Hooks
    from verda_patch.authoring import cherry_pick as pick
    from verda_patch.worktree import repo_lock

    app.projects([project])
    with repo_lock(app.root, notify=app.say), app.progress(f"checking on {project}") as bar:
        result = pick(
            app.config, project, rev, force=force, hooks=Hooks(progress=bar, notify=app.say)
        )
    if result.others:
        others = ", ".join(
            f"{sha[:12]} ({', '.join(branches) or 'no branch'})" for sha, branches in result.others
        )
        app.warn(
            f"Change-Id {rev} is also on: {escape(others)}; took {result.commit[:12]} "
            f"({escape(', '.join(result.branches))})"
        )
    for warning in result.warnings:
        app.warn(escape(warning))
    if app.json:
        app.emit_json(result.to_json())
        return
    app.out.print(
        f"[green]created[/] patches/{escape(project)}/{escape(result.file or '')} from "
        f"{result.commit[:12]} {escape(result.subject)}",
        highlight=False,
    )
