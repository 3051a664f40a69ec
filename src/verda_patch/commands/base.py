"""`verda-patch base show|set|bump`."""

from __future__ import annotations

import click

from verda_patch.cli import PROJECT, App, pass_app


@click.group("base")
def base() -> None:
    """Inspect or move the pinned upstream base of a project.

    \b
    show PROJECT        the pinned commit, its ref, describe, and its branch
    set PROJECT REF     pin another commit; patch files stay as they are
    bump PROJECT REF    move to a new release: prune merged patches, re-apply
                        the rest on REF, refresh the patch files, pin REF
    """


@base.command("show")
@click.argument("project", type=PROJECT)
@click.option(
    "--no-fetch", is_flag=True, help="Use the cached mirror as it is (the branch tip may be stale)."
)
@pass_app
def show(app: App, project: str, no_fetch: bool) -> None:
    """Print the pinned commit (full id), its ref, 'git describe', and its branch.

    Fetches the upstream's branches and tags first, so 'ahead' counts the
    commits the branch tip has today that the pinned commit has not.
    """
    from rich.markup import escape

    from verda_patch import basefile

    app.projects([project])
    info = basefile.show(app.config, project, fetch=not no_fetch, notify=app.say)
    if app.json:
        app.emit_json(info.to_json())
        return
    rows = [
        ("project", info.project),
        ("upstream", info.upstream),
        ("commit", info.commit),
        ("subject", f"{info.subject} ({info.date})"),
        ("ref", info.ref or "(none)"),
        ("describe", info.describe or "(no tag reaches it)"),
        ("branch", info.branch),
    ]
    if info.branch_commit is None:
        rows.append(("branch tip", "(the upstream has no such branch)"))
    else:
        where = "on the branch" if info.on_branch else "NOT on the branch"
        rows.append(("branch tip", f"{info.branch_commit[:12]}, {info.ahead} commit(s) ahead"))
        rows.append(("pinned commit", where))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        app.out.print(f"[bold]{key:<{width}}[/]  {escape(value)}", highlight=False)
    if info.ref and info.ref_commit and info.ref_commit != info.commit:
        app.warn(
            escape(
                f"ref '{info.ref}' names {info.ref_commit[:12]} upstream now, not the pinned commit"
            )
        )
    if info.branch_commit and not info.on_branch:
        app.warn(escape(f"the pinned commit is not on '{info.branch}'; check 'branch:'"))


@base.command("set")
@click.argument("project", type=PROJECT)
@click.argument("ref")
@click.option(
    "--upstream",
    metavar="URL",
    help="The project's upstream (URL or path): adds a project base-commit does not "
    "list yet, or changes the upstream of one it does.",
)
@pass_app
def set_(app: App, project: str, ref: str, upstream: str | None) -> None:
    """Pin PROJECT to REF (a tag, branch or commit id of the upstream).

    After 'verda-patch init', 'base set nova 31.0.0 --upstream URL' adds the
    project: no commit id to look up and write by hand.

    REF is resolved in the cached mirror (fetched when missing); an annotated
    tag is peeled to its commit. base-commit gets the commit and REF as 'ref'
    (no 'ref' for a bare commit id); its comments, key order and the other
    projects stay byte for byte. Patch files are not touched: run
    'verda-patch apply PROJECT' to rebuild the work tree, or use 'base bump'
    to move to a new release with pruning and refreshed patches.
    """
    from rich.markup import escape

    from verda_patch import basefile, bump
    from verda_patch.worktree import repo_lock

    if upstream is None:
        app.projects([project])
    with repo_lock(app.root, notify=app.say):
        bump.refuse_if_bumping(app.config, project)
        result = basefile.move(app.config, project, ref, upstream=upstream, notify=app.say)
    if app.json:
        app.emit_json(result.to_json())
        return
    before = result.edit.before
    label = f" ({result.resolved.ref})" if result.resolved.ref else ""
    if not before.commit:
        app.out.print(
            escape(
                f"{project}: added, upstream {result.edit.after.shown_upstream}, "
                f"pinned to {result.resolved.commit}{label}"
            ),
            highlight=False,
        )
        return
    if not result.edit.changed:
        app.out.print(
            escape(f"{project}: already pinned to {result.resolved.commit}{label}"), highlight=False
        )
        return
    app.out.print(
        escape(
            f"{project}: {before.commit[:12]} ({before.ref or 'no ref'}) → "
            f"{result.resolved.commit}{label}"
        ),
        highlight=False,
    )
    if result.work_tree_stale:
        app.say(
            escape(
                f"the work tree is still on the old base; rebuild it with "
                f"'verda-patch apply {project}'"
            )
        )


@base.command("bump")
@click.argument("project", type=PROJECT)
@click.argument("ref", required=False)
@click.option(
    "--yes",
    is_flag=True,
    help="Carry it out: without it, only the report is printed and nothing changes.",
)
@click.option(
    "--continue",
    "continue_",
    is_flag=True,
    help="Carry on after resolving the conflict a patch stopped at (or after Ctrl-C).",
)
@click.option(
    "--abort",
    is_flag=True,
    help="Undo a stopped bump: base-commit, patch files, series and work tree as before.",
)
@click.option(
    "--include-customs",
    is_flag=True,
    help="Also remove customs patches that look merged (otherwise only reported).",
)
@pass_app
def bump(
    app: App,
    project: str,
    ref: str | None,
    yes: bool,
    continue_: bool,
    abort: bool,
    include_customs: bool,
) -> None:
    """Move PROJECT to the upstream release REF, dropping what REF already has.

    \b
    1. resolve REF (tag, branch or commit) in the upstream, fetching if needed;
    2. classify every patch against it (as 'prune --against REF') and report;
       without --yes stop here: nothing changes;
    3. with --yes remove the merged patches (never partial ones), apply the
       rest on REF in the work tree, write back the patch files whose meaning
       changed, pin REF in base-commit, and summarise: pruned, refreshed,
       unchanged, partial ones to review, and the requirements.txt / setup.cfg
       dependency lines that differ between the two bases.

    A patch that no longer applies stops the bump (exit 1) in git am's
    conflict state in the work tree: resolve the files there (editing is
    enough; 'git add' and 'git am --continue' work too), then
    'base bump --continue PROJECT'. 'base bump --abort PROJECT' restores
    base-commit, every patch file and series byte for byte, and the work tree.
    """
    from verda_patch import apply as engine
    from verda_patch import bump as bumping
    from verda_patch.errors import PatchConflict, UserError
    from verda_patch.worktree import repo_lock

    if continue_ and abort:
        raise UserError("--continue and --abort are alternatives; give one")
    if (continue_ or abort) and (ref or yes or include_customs):
        raise UserError(
            "--continue and --abort take only PROJECT",
            hint="the REF and options of the stopped bump are in its state file",
        )
    if not (continue_ or abort) and not ref:
        raise UserError("REF is missing", hint=f"e.g. 'verda-patch base bump {project} 32.0.0'")
    app.projects([project])
    with repo_lock(app.root, notify=app.say):
        if abort:
            aborted = bumping.abort(app.config, project)
            _render_abort(app, aborted)
            return
        with app.progress(f"applying {project}") as bar:
            hooks = engine.Hooks(progress=bar, notify=app.say)
            try:
                if continue_:
                    result = bumping.resume(app.config, project, hooks)
                else:
                    assert ref is not None
                    plan = bumping.plan(
                        app.config, project, ref, include_customs=include_customs, notify=app.say
                    )
                    if not yes:
                        _render_plan(app, plan)
                        return
                    result = bumping.start(app.config, plan, hooks)
            except PatchConflict as exc:
                _render_conflict(app, project, exc)
                raise
    _render_result(app, result)


def _short_ref(ref: str | None, commit: str) -> str:
    return f"{ref} ({commit[:12]})" if ref else commit[:12]


def _evidence(verdict: object) -> str:
    from verda_patch.bump import PatchVerdict

    assert isinstance(verdict, PatchVerdict)
    first = verdict.upstream[0] if verdict.upstream else None
    where = f"{first[0][:12]} {first[1]}" if first else ""
    more = f" +{len(verdict.upstream) - 1} more" if len(verdict.upstream) > 1 else ""
    text = f"{verdict.match or '-'}: {where}{more}"
    if verdict.status != "merged":
        return text
    kind = "identical" if verdict.identical else "modified"
    if not verdict.identical and verdict.changed_lines:
        c = verdict.changed_lines
        kind += (
            f" ({c.get('patch_only', 0)} changed lines only here, "
            f"{c.get('upstream_only', 0)} only upstream)"
        )
    return f"{text}; {kind}"


def _render_verdicts(
    app: App, verdicts: tuple[object, ...], removable: tuple[str, ...], *, planned: bool
) -> None:
    from rich.markup import escape

    from verda_patch.bump import PatchVerdict
    from verda_patch.tables import KEEP, Column, build

    shown = [v for v in verdicts if isinstance(v, PatchVerdict) and v.status != "absent"]
    if not shown:
        return
    # the file and the verdict are never cut; evidence gives way before the action
    columns = (
        Column("patch", priority=KEEP),
        Column("verdict", priority=KEEP),
        Column("evidence", priority=30, wrap=True, elastic=True, min_width=16),
        Column("action", priority=60, wrap=True, elastic=True),
    )
    rows = []
    gone = set(removable)
    for v in shown:
        if v.file in gone:
            action = "[green]would prune[/]" if planned else "[green]prune[/]"
        elif v.status == "partial":
            action = "[yellow]keep: review[/] " + escape(
                ("missing " + ", ".join(v.missing)) if v.missing else ""
            )
        else:
            action = "[yellow]keep[/] " + escape(v.warning or "")
        style = "green" if v.status == "merged" else "yellow"
        rows.append((escape(v.file), f"[{style}]{v.status}[/]", escape(_evidence(v)), action))
    table, _ = build(columns, rows, app.out.width)
    app.out.print(table)


def _render_requirements(app: App, changes: tuple[object, ...], old: str, new: str) -> None:
    from rich.markup import escape

    from verda_patch.bump import RequirementChange

    if not changes:
        app.out.print(
            escape(f"dependencies: no requirement line changed from {old} to {new}"),
            highlight=False,
        )
        return
    app.out.print(escape(f"dependencies, {old} → {new}:"), highlight=False)
    for change in changes:
        assert isinstance(change, RequirementChange)
        if change.old and change.new:
            text = f"  {change.file}: {change.old} → {change.new}"
        elif change.new:
            text = f"  {change.file}: + {change.new}"
        else:
            text = f"  {change.file}: - {change.old}"
        app.out.print(escape(text), highlight=False)


def _render_plan(app: App, plan: object) -> None:
    from rich.markup import escape

    from verda_patch import bump as bumping

    assert isinstance(plan, bumping.Plan)
    if app.json:
        app.emit_json(bumping.plan_json(plan))
        return
    old = _short_ref(plan.old_ref, plan.old_commit)
    new = _short_ref(plan.target.ref or plan.target.given, plan.target.commit)
    app.out.print(
        escape(f"{plan.project}: {old} → {new}, {plan.range_commits} upstream commits"),
        highlight=False,
    )
    _render_verdicts(app, plan.verdicts, plan.removable, planned=True)
    gone = [v for v in plan.verdicts if v.file in set(plan.removable)]
    identical = sum(1 for v in gone if v.identical)
    partial = [v for v in plan.verdicts if v.status == "partial"]
    app.out.print(
        f"would prune {len(gone)} merged ({identical} identical, {len(gone) - identical} "
        f"modified); {len(partial)} partial kept for review; {len(plan.kept)} to re-apply "
        f"on {escape(plan.target.given)}.",
        highlight=False,
    )
    _render_requirements(app, plan.requirements, old, new)
    if plan.blocked:
        app.warn(escape(f"--yes will refuse until this is settled: {plan.blocked}"))
    app.out.print(
        escape(
            f"Nothing changed. Re-run with --yes to carry it out: "
            f"'verda-patch base bump {plan.project} {plan.target.given} --yes'"
        ),
        highlight=False,
    )


def _render_conflict(app: App, project: str, exc: object) -> None:
    from rich.markup import escape

    from verda_patch import bump as bumping
    from verda_patch.errors import PatchConflict

    assert isinstance(exc, PatchConflict)
    state = bumping.read_state(app.root, project) or {}
    removed = list(state.get("remove", []))
    if app.json:
        app.emit_json(
            {
                "project": project,
                "status": "conflict",
                "from": state.get("from"),
                "to": state.get("to"),
                "pruned": removed,
                "conflict": {
                    "patch": exc.patch,
                    "paths": list(exc.paths),
                    "work_tree": str(app.config.work_tree(project)),
                },
            }
        )
        return
    verdicts = [bumping.PatchVerdict.from_json(v, removed) for v in state.get("verdicts", [])]
    _render_pruned(app, tuple(verdicts))
    app.out.print(
        escape(
            f"{project}: stopped applying at {exc.patch} "
            f"({', '.join(exc.paths) or 'see the work tree'}); base-commit is not moved yet"
        ),
        highlight=False,
    )
    app.say(
        escape(
            f"to drop {exc.patch} instead (upstream made it obsolete): 'git am --skip' in the "
            f"work tree, then 'verda-patch base bump --continue {project}'"
        )
    )


def _render_pruned(app: App, verdicts: tuple[object, ...]) -> None:
    from rich.markup import escape

    from verda_patch.bump import PatchVerdict

    pruned = [v for v in verdicts if isinstance(v, PatchVerdict) and v.removed]
    identical = sum(1 for v in pruned if v.identical)
    app.out.print(
        f"  pruned {len(pruned)} ({identical} identical, {len(pruned) - identical} modified)",
        highlight=False,
    )
    for v in pruned:
        app.out.print(escape(f"    {v.file}  [{_evidence(v)}]"), highlight=False)


def _render_result(app: App, result: object) -> None:
    from rich.markup import escape

    from verda_patch import bump as bumping

    assert isinstance(result, bumping.Result)
    if app.json:
        app.emit_json(bumping.result_json(result))
        return
    old = _short_ref(result.old_ref, result.old_commit)
    new = _short_ref(result.new_ref, result.new_commit)
    say = app.out.print
    say(escape(f"{result.project}: bumped {old} → {new}"), highlight=False)
    _render_pruned(app, result.verdicts)
    say(f"  refreshed {len(result.refreshed)}", highlight=False)
    for file in result.refreshed:
        say(escape(f"    {file}"), highlight=False)
    say(f"  unchanged {len(result.unchanged)}", highlight=False)
    if result.dropped:
        say(f"  dropped {len(result.dropped)} (skipped with 'git am --skip')", highlight=False)
        for file in result.dropped:
            say(escape(f"    {file}"), highlight=False)
    if result.partial:
        say(f"  [yellow]partial, to review: {len(result.partial)}[/]", highlight=False)
        for v in result.partial:
            missing = f" (missing {', '.join(v.missing)})" if v.missing else ""
            say(escape(f"    {v.file}{missing}"), highlight=False)
    for v in result.kept_merged:
        say(
            escape(
                f"  kept {v.file}: looks merged ({v.warning or v.match}); check it, then "
                f"'verda-patch prune {result.project} --include-customs --yes'"
            ),
            highlight=False,
        )
    _render_requirements(app, result.requirements, old, new)
    for warning in result.warnings:
        app.warn(escape(warning))
    app.say(
        escape(
            f"work tree {result.work_tree} at {result.head[:12]}; review with "
            f"'git diff', commit, then 'verda-patch tag {result.project}'"
        )
    )


def _render_abort(app: App, aborted: object) -> None:
    from rich.markup import escape

    from verda_patch import bump as bumping

    assert isinstance(aborted, bumping.AbortResult)
    if app.json:
        app.emit_json(
            {
                "project": aborted.project,
                "status": "aborted",
                "restored": list(aborted.restored),
                "deleted": list(aborted.deleted),
                "head": aborted.work_tree_head,
            }
        )
        return
    app.out.print(
        escape(
            f"{aborted.project}: bump aborted; {len(aborted.restored)} file(s) restored, "
            f"{len(aborted.deleted)} removed; base-commit and patches are as before"
        ),
        highlight=False,
    )
