"""`verda-patch apply`."""

from __future__ import annotations

import click

from verda_patch.cli import PROJECT, App, pass_app


@click.command()
@click.argument("projects", type=PROJECT, nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Apply every project of base-commit.")
@click.option(
    "--force",
    is_flag=True,
    help="Rebuild over unsaved work; the old tree is saved under refs/verda/backup/.",
)
@click.option(
    "--continue",
    "continue_",
    is_flag=True,
    help="Resume after resolving the conflict a patch stopped at.",
)
@click.option("--abort", is_flag=True, help="Undo a stopped apply: back to the tree before it.")
@pass_app
def apply(
    app: App, projects: tuple[str, ...], all_: bool, force: bool, continue_: bool, abort: bool
) -> None:
    """Build the work tree(s): base commit + one commit per patch + custom-source.

    The work tree is .verda/work/PROJECT on branch verda/PROJECT. The same base
    and patch files always give the same commit ids. A patch that does not
    apply exactly stops the run (exit 1) in git am's state, with conflict
    markers (or a clean merge staged for review) where a 3-way merge of that
    patch could make them: resolve, 'git add', 'apply --continue PROJECT',
    then 'export PROJECT' to refresh the patch file; or 'apply --abort PROJECT'.
    """
    from verda_patch import apply as engine
    from verda_patch.errors import UserError
    from verda_patch.worktree import repo_lock

    if sum((continue_, abort, force and (continue_ or abort))) > 1:
        raise UserError("--continue and --abort are alternatives; give one")
    if all_ and projects:
        raise UserError("give project names or --all, not both")
    names = list(app.config.projects) if all_ else app.projects(projects)
    if not names:
        raise UserError("no project given", hint="name one (see 'verda-patch list') or use --all")
    if (continue_ or abort) and len(names) != 1:
        raise UserError("--continue and --abort take exactly one project")

    results = []
    with repo_lock(app.root, notify=app.say):
        for name in names:
            if abort:
                restored = engine.abort_apply(app.config, name)
                app.say(
                    f"{name}: aborted; work tree back at {restored[:12]}"
                    if restored
                    else f"{name}: aborted; the new work tree was removed"
                )
                if app.json:
                    app.emit_json({"project": name, "aborted": True, "head": restored})
                return
            with app.progress(f"applying {name}") as bar:
                hooks = engine.Hooks(progress=bar, notify=app.say)
                if continue_:
                    result = engine.continue_apply(app.config, name, hooks)
                else:
                    result = engine.apply_project(app.config, name, force=force, hooks=hooks)
            results.append(result)
            if result.backup_ref:
                app.say(f"{name}: the previous work tree is saved as {result.backup_ref}")
            if not app.json:
                extra = " + custom-source" if result.custom_source else ""
                if result.up_to_date:
                    what = "up to date, "
                elif result.reused:
                    fresh = len(result.applied) - result.reused
                    what = f"{result.reused} reused + {fresh} applied, "
                else:
                    what = ""
                app.out.print(
                    f"[green]{name}[/]: {what}{len(result.applied)} patches{extra} on "
                    f"{result.base[:12]} → {result.work_tree} "
                    f"(branch {result.branch}, head {result.head[:12]})",
                    highlight=False,
                )
    if app.json:
        app.emit_json({"projects": [r.to_json() for r in results]})
