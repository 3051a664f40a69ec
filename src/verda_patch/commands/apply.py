"""`verda-patch apply`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from verda_patch.cli import PROJECT, App, pass_app

if TYPE_CHECKING:
    from verda_patch import apply as engine


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

    Incremental: the longest unchanged prefix of the series built before (in
    this work tree, any tree using the same cache, or the prefix-remote) is
    reused and only the rest applied; with nothing changed it says "up to
    date" and runs no git am. Several projects are built in parallel.
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

    if abort:
        with repo_lock(app.root, notify=app.say):
            restored = engine.abort_apply(app.config, names[0])
        app.say(
            f"{names[0]}: aborted; work tree back at {restored[:12]}"
            if restored
            else f"{names[0]}: aborted; the new work tree was removed"
        )
        if app.json:
            app.emit_json({"project": names[0], "aborted": True, "head": restored})
        return

    with repo_lock(app.root, notify=app.say):
        if len(names) == 1:
            with app.progress(f"applying {names[0]}") as bar:
                hooks = engine.Hooks(progress=bar, notify=app.say)
                if continue_:
                    result = engine.continue_apply(app.config, names[0], hooks)
                else:
                    result = engine.apply_project(app.config, names[0], force=force, hooks=hooks)
            outcomes: list[engine.ApplyResult | BaseException] = [result]
        else:
            outcomes = _in_parallel(app, names, force)
    results = [o for o in outcomes if not isinstance(o, BaseException)]
    for result in results:
        _report(app, result)
    failed = [o for o in outcomes if isinstance(o, BaseException)]
    if failed:
        raise failed[0]  # the first one decides the exit status; the others were said
    if app.json:
        app.emit_json({"projects": [r.to_json() for r in results]})


def _in_parallel(
    app: App, names: list[str], force: bool
) -> list[engine.ApplyResult | BaseException]:
    """Every project at once, one per core; each line says which project it is about."""
    from verda_patch import apply as engine
    from verda_patch.parallel import run_each, workers

    app.say(f"applying {len(names)} projects, {workers(len(names))} at a time")

    def one(name: str) -> engine.ApplyResult:
        hooks = engine.Hooks(notify=lambda message: app.say(f"{name}: {message}"))
        return engine.apply_project(app.config, name, force=force, hooks=hooks)

    outcomes = run_each(names, one)
    failed = [(n, o) for n, o in zip(names, outcomes, strict=True) if isinstance(o, Exception)]
    for name, error in failed[1:]:  # the first one is reported as the command's error
        app.warn(f"{name}: {error}")
    return outcomes


def _report(app: App, result: engine.ApplyResult) -> None:
    name = result.project
    if result.backup_ref:
        app.say(f"{name}: the previous work tree is saved as {result.backup_ref}")
    if app.json:
        return
    extra = " + custom-source" if result.custom_source else ""
    if result.up_to_date:
        what = "up to date, "
    elif result.reused:
        what = f"{result.reused} reused + {len(result.applied) - result.reused} applied, "
    else:
        what = ""
    app.out.print(
        f"[green]{name}[/]: {what}{len(result.applied)} patches{extra} on "
        f"{result.base[:12]} → {result.work_tree} "
        f"(branch {result.branch}, head {result.head[:12]})",
        highlight=False,
    )
