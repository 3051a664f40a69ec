"""`verda-patch new`."""

from __future__ import annotations

import sys

import click

from verda_patch.cli import CATEGORY, PROJECT, App, pass_app

TEMPLATE = """\
{name}

# Describe the change for patches/{project}/{category}/NNNN-{name}.patch.
# The first line is the subject; lines starting with '#' are dropped.
# An empty message aborts.
#
# Changes going into it:
{paths}
"""


@click.command()
@click.argument("project", type=PROJECT)
@click.argument("name")
@click.option(
    "-c",
    "--category",
    type=CATEGORY,
    required=True,
    help="Category folder: cherry-pick, general, customs (or verda-patch.yaml's).",
)
@click.option(
    "-m",
    "--message",
    help="Commit message for uncommitted changes (default: git's editor, "
    "'git var GIT_EDITOR', when stdin is a terminal, else NAME).",
)
@click.option("--no-untracked", is_flag=True, help="Leave untracked files out of the patch.")
@pass_app
def new(
    app: App, project: str, name: str, category: str, message: str | None, no_untracked: bool
) -> None:
    """Turn work-tree changes into a patch file NNNN-NAME.patch in CATEGORY.

    Uncommitted changes (staged or not, and untracked files unless
    --no-untracked) become one patch; or, if you committed in the work tree
    since the last apply/export, each commit becomes one patch (named after
    its subject; NAME when there is exactly one). The file gets the next free
    number and is appended to the category's series file when it has one. The
    work-tree commits then carry their Verda-Patch trailer, placed where
    'apply' will put them, so 'apply' rebuilds the same branch.
    """
    from rich.markup import escape

    from verda_patch.authoring import clean_message, new_patch, pending, user_editor
    from verda_patch.errors import NothingToDo
    from verda_patch.worktree import WorkTree, repo_lock

    app.projects([project])
    with repo_lock(app.root, notify=app.say):
        # stdin may be closed (`<&-`: sys.stdin is None); never wait on it then
        interactive = sys.stdin is not None and sys.stdin.isatty()
        if message is None and interactive and not app.json:
            todo = pending(app.config, project)
            if todo.mode == "uncommitted" and (todo.changed or todo.untracked):
                paths = [*todo.changed, *([] if no_untracked else todo.untracked)]
                text = click.edit(
                    TEMPLATE.format(
                        name=name,
                        project=project,
                        category=category,
                        paths="\n".join(f"#   {p}" for p in paths[:30]),
                    ),
                    editor=user_editor(WorkTree(app.config, project).path),
                )
                message = clean_message(text or "")
                if not message:
                    raise NothingToDo("empty message; nothing was written")
        result = new_patch(
            app.config,
            project,
            name,
            category,
            message=message,
            include_untracked=not no_untracked,
        )
    for warning in result.warnings:
        app.warn(escape(warning))
    if result.left_untracked:
        app.say(
            f"left {len(result.left_untracked)} untracked file(s) out of the patch "
            f"(first: {escape(result.left_untracked[0])})"
        )
    if app.json:
        app.emit_json(result.to_json())
        return
    for file, commit in zip(result.files, result.commits, strict=True):
        app.out.print(
            f"[green]created[/] patches/{escape(project)}/{escape(file)} (commit {commit[:12]})",
            highlight=False,
        )
