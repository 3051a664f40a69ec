"""`verda-patch prune PROJECT [--against REF] [--yes] [--include-customs]`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from verda_patch.cli import PROJECT, App, pass_app

if TYPE_CHECKING:
    from verda_patch.merged import Report, Verdict
    from verda_patch.tables import Column

_STYLE = {"merged": "green", "partial": "yellow", "absent": "dim"}


@click.command()
@click.argument("project", type=PROJECT)
@click.option(
    "--against",
    metavar="REF",
    help="Upstream branch, tag or commit to compare with (default: the pinned base). "
    "One the base does not contain is a forecast: --yes is refused there.",
)
@click.option("--yes", is_flag=True, help="Remove the merged patches (default: a dry run).")
@click.option(
    "--include-customs",
    is_flag=True,
    help="Let --yes also remove customs patches that look merged.",
)
@pass_app
def prune(app: App, project: str, against: str | None, yes: bool, include_customs: bool) -> None:
    """Find the patches upstream already has; remove them with --yes.

    Each patch is merged (every upstream change it carries is in REF's whole
    history and not reverted there), partial (some are: never removed) or
    absent (a revert is named), with the evidence: same-commit,
    cherry-picked-from, change-id, patch-id or reverse-apply, and whether
    upstream's diff is identical or modified. Without --against, REF is the
    pinned base: --yes removes what the build already holds. A REF the base
    does not contain is a forecast: --yes is refused (exit 2, nothing removed);
    'base bump PROJECT REF' moves the base and drops them in one step. A dry
    run unless --yes; customs patches that look merged are only reported
    unless --include-customs.
    """
    from verda_patch import merged

    app.projects([project])
    report = merged.detect(
        app.config, project, against, include_customs=include_customs, notify=app.say
    )
    if yes:
        from verda_patch.worktree import repo_lock

        merged.refuse_forecast(report)  # before anything, the lock file included, is written

        with repo_lock(app.root, notify=app.say):
            report = merged.remove(app.config, report)
    if app.json:
        app.emit_json(report.to_json())
        return
    _render(app, report)


def _evidence(verdict: Verdict) -> str:
    from rich.markup import escape

    return "\n".join(f"{c.sha[:12]} {escape(c.subject)}" for c in verdict.upstream[:3]) + (
        f"\n… {len(verdict.upstream) - 3} more" if len(verdict.upstream) > 3 else ""
    )


def _diff_note(verdict: Verdict) -> str:
    """identical / modified, for merges found through upstream commits (not reverse-apply)."""
    if verdict.status != "merged" or not verdict.upstream:
        return ""
    if verdict.identical:
        return "identical"
    if verdict.changed_lines:
        c = verdict.changed_lines
        lines = "line" if c.patch_only == 1 else "lines"
        return f"modified: {c.patch_only} {lines} only here, {c.upstream_only} only upstream"
    return "modified"


def _note(verdict: Verdict) -> str:
    from rich.markup import escape

    if verdict.removed:
        return "[bold]removed[/]"
    if verdict.missing:
        return "missing: " + escape(", ".join(verdict.missing))
    if verdict.warning:
        return f"[yellow]{escape(verdict.warning)}[/]"
    return ""


def columns() -> tuple[Column, ...]:
    """The prune table: the file and the verdict are never cut; 'diff' saying the same
    on every row is said once below; at 80 columns match and diff give way first."""
    from verda_patch.tables import KEEP, Column

    return (
        Column("patch", priority=KEEP),
        Column("verdict", priority=KEEP),
        Column("match", priority=30),
        Column("upstream", priority=50, wrap=True, elastic=True, min_width=20),
        Column("diff", priority=20, uniform_note=True),
        Column("note", priority=60, wrap=True, elastic=True),
    )


def _render(app: App, report: Report) -> None:
    from rich.markup import escape

    from verda_patch.tables import build

    title = (
        f"{report.project}: {report.base[:12]}..{escape(report.ref)} "
        f"({report.commit[:12]}, {report.range_commits} upstream commits)"
    )
    rows = [
        (
            escape(v.file),
            f"[{_STYLE.get(v.status, '')}]{v.status}[/]",
            v.match or "",
            _evidence(v),
            _diff_note(v),
            _note(v),
        )
        for v in report.verdicts
    ]
    table, notes = build(columns(), rows, app.out.width, title=title)
    app.out.print(table)
    for line in notes:
        app.out.print(line, highlight=False)

    counts = {s: report.count(s) for s in ("merged", "partial", "absent")}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items())
    app.out.print(f"{len(report.verdicts)} patches: {summary}.", highlight=False)
    removed = [v for v in report.verdicts if v.removed]
    if report.applied:
        for v in removed:
            app.out.print(f"removed {escape(v.file)}", highlight=False)
        app.out.print(f"{len(removed)} patch files removed; series files updated.", highlight=False)
    elif report.forecast and report.removable:
        app.out.print(
            f"Forecast: nothing removed; {escape(report.ref)} holds changes the pinned base "
            f"lacks. 'verda-patch base bump {escape(report.project)} {escape(report.ref)}' "
            f"moves the base and drops the {len(report.removable)} merged.",
            highlight=False,
        )
    elif report.removable:
        again = f" --against {report.ref}" if report.against_given else ""
        app.out.print(
            f"Dry run: nothing removed; 'verda-patch prune {escape(report.project)}{escape(again)}"
            f" --yes' removes the {len(report.removable)} merged.",
            highlight=False,
        )
    for v in report.kept_customs:
        app.out.print(
            f"[yellow]kept[/] {escape(v.file)}: customs patch looks merged; "
            "check it, then --include-customs --yes removes it",
            highlight=False,
        )
    if counts["partial"]:
        app.out.print(
            f"{counts['partial']} partial: never removed; drop what upstream has "
            "by hand and keep the rest.",
            highlight=False,
        )
