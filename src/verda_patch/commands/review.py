"""`verda-patch review`."""

from __future__ import annotations

import click

from verda_patch.cli import PROJECT, App, pass_app


@click.command()
@click.argument("project", type=PROJECT)
@click.option(
    "--check",
    "check_only",
    is_flag=True,
    help="Write nothing; exit 1 listing the out-of-date paths of review/PROJECT.",
)
@pass_app
def review(app: App, project: str, check_only: bool) -> None:
    """Regenerate review/PROJECT: the patched version of every file a patch touches.

    The files come from the current patch files (applied in a scratch tree of
    their own, never from your work tree, and with no earlier 'apply' needed):
    every file any patch or custom-source touches, as the patched tree has it.
    Files no longer touched are removed. Commit review/PROJECT with the patches
    so reviewers read the result like normal source in the pull request.
    """
    from rich.markup import escape

    from verda_patch.apply import Hooks
    from verda_patch.errors import CheckFailed
    from verda_patch.review import review as build
    from verda_patch.worktree import repo_lock

    app.projects([project])
    with app.progress(f"applying {project}") as bar:
        hooks = Hooks(progress=bar, notify=app.say)
        if check_only:
            result = build(app.config, project, check=True, hooks=hooks)
        else:
            with repo_lock(app.root, notify=app.say):
                result = build(app.config, project, hooks=hooks)
    rel = f"review/{project}"
    if app.json:
        app.emit_json(result.to_json())
    else:
        marks = (
            ("added", "+", result.added),
            ("changed", "~", result.changed),
            ("removed", "-", result.removed),
        )
        for _, mark, paths in marks:
            for path in paths:
                app.out.print(escape(f"{mark} {rel}/{path}"), highlight=False)
        if result.in_sync:
            app.out.print(
                f"[green]{escape(rel)}[/] is up to date ({result.unchanged} file(s))",
                highlight=False,
            )
        elif not check_only:
            app.out.print(
                f"[green]{escape(rel)}[/]: {len(result.added)} added, {len(result.changed)} "
                f"changed, {len(result.removed)} removed, {result.unchanged} unchanged",
                highlight=False,
            )
    if check_only and not result.in_sync:
        raise CheckFailed(
            f"{rel} is out of date: {len(result.stale)} path(s) differ from the patch files",
            hint=f"run 'verda-patch review {project}' and commit {rel}",
        )
