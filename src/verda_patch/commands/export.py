"""`verda-patch export`."""

from __future__ import annotations

import click

from verda_patch.cli import PROJECT, App, pass_app


@click.command()
@click.argument("project", type=PROJECT)
@click.option(
    "--check", is_flag=True, help="Write nothing; exit 1 when export would change a patch file."
)
@click.option(
    "--prune-missing",
    is_flag=True,
    help="Delete patch files whose commit is gone from the work tree (needs --yes).",
)
@click.option("--yes", is_flag=True, help="Confirm --prune-missing.")
@click.option(
    "--force",
    is_flag=True,
    help="Overwrite patch files that changed since the work tree was last synced.",
)
@pass_app
def export(
    app: App, project: str, check: bool, prune_missing: bool, yes: bool, force: bool
) -> None:
    """Write the work tree's commits back to their patch files.

    Each commit of branch verda/PROJECT names its file in a 'Verda-Patch:'
    trailer. A file is rewritten only when its meaning changed (message,
    author, date or the change the diff makes); a file written by any
    'git format-patch' stays byte for byte as it is otherwise. Reordered
    commits (git rebase -i) update the category's series file. Commits without
    a trailer are reported (turn them into patches with 'new'); files whose
    commit was dropped are reported, and deleted with --prune-missing --yes.

    A patch file that changed since the work tree was last synced (edited,
    or pulled from git after the last apply) is not overwritten: export
    stops (exit 1) naming it; --force overwrites it.

    Exit status: 0 when the patch files hold the whole branch, 1 when
    something is left unsaved, a changed file was not overwritten or, with
    --check, a file would change.
    """
    from rich.markup import escape

    from verda_patch.errors import CheckFailed, OperationFailed, UserError
    from verda_patch.export import export_project
    from verda_patch.worktree import repo_lock

    app.projects([project])
    if prune_missing and not yes:
        raise UserError(
            "--prune-missing deletes patch files; add --yes to confirm",
            hint=f"run 'verda-patch export {project}' first to see which files it would delete",
        )
    if check and prune_missing:
        raise UserError("--check writes nothing; it cannot be combined with --prune-missing")
    with repo_lock(app.root, notify=app.say), app.progress(f"exporting {project}") as bar:
        result = export_project(
            app.config,
            project,
            write=not check,
            prune_missing=prune_missing,
            progress=bar,
            force=force,
        )

    verb = "would write" if check else "wrote"
    if app.json:
        app.emit_json(result.to_json())
    else:
        for file in result.written:
            created = " (new file)" if file in result.created else ""
            app.out.print(f"[green]{verb}[/] {escape(file)}{created}", highlight=False)
        for file in result.removed:
            app.out.print(f"[red]deleted[/] {escape(file)}", highlight=False)
        for category in result.reordered:
            app.out.print(
                f"[green]{'would reorder' if check else 'reordered'}[/] {escape(category)}/series",
                highlight=False,
            )
        app.out.print(
            f"{escape(project)}: {len(result.written)} written, "
            f"{len(result.unchanged)} unchanged"
            + (f", {len(result.removed)} deleted" if result.removed else ""),
            highlight=False,
        )
    for line in result.untracked:
        app.warn(f"commit {escape(line)} has no Verda-Patch trailer; not exported")
    if result.untracked:
        app.say(
            f"  turn such commits into patches with 'verda-patch new {project} NAME -c CATEGORY'"
        )
    for file in result.missing:
        if file not in result.removed:
            app.warn(f"{escape(file)} has no commit in the work tree (dropped?)")
    if set(result.missing) - set(result.removed):
        app.say(
            f"  delete such files with 'verda-patch export {project} --prune-missing "
            f"--yes', or get them back with 'verda-patch apply --force {project}'"
        )
    for category in result.order_not_saved:
        app.warn(
            f"the order of {escape(category)}/ changed in the work tree but no file can hold it: "
            "without a series file the order is the file names (rename them, e.g. 0003 → "
            "0002, or add a series file); across categories the order of verda-patch.yaml wins"
        )
    if result.uncommitted:
        app.warn(
            f"{len(result.uncommitted)} uncommitted change(s) in the work tree were not exported "
            f"(first: {escape(result.uncommitted[0])}); use 'verda-patch new {project} NAME -c "
            "CATEGORY'"
        )
    if result.custom_source_changed:
        first = result.custom_source_changed[0]
        app.warn(
            f"the custom-source commit in the work tree differs from custom-source/{project} in "
            f"{escape(', '.join(result.custom_source_changed))}; export does not write "
            f"custom-source: copy the change to custom-source/{project}/{escape(first)}, or "
            "make it a patch"
        )
    if check and result.changed:
        raise CheckFailed(
            f"export would change {len(result.written) + len(result.reordered)} file(s) "
            f"of {project}",
            hint=f"run 'verda-patch export {project}'",
        )
    if result.unsaved:
        error = CheckFailed if check else OperationFailed
        raise error(
            f"the work tree of {project} holds work no patch file has yet",
            hint="see the warnings above",
        )
