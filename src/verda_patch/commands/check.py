"""`verda-patch check`: the CI gate."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

import click

from verda_patch.cli import PROJECT, App, pass_app

if TYPE_CHECKING:
    from verda_patch.check import Report

_MARK = {"pass": "[green]✓[/]", "fail": "[red]✗[/]", "skip": "[dim]-[/]"}


@click.command()
@click.argument("project", type=PROJECT, required=False)
@click.option(
    "--junit",
    "junit",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write JUnit XML here: one testcase per patch, one per repo check.",
)
@click.option(
    "--markdown",
    "markdown",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the report as Markdown here, for a PR comment or "
    "$GITHUB_STEP_SUMMARY ('-': on stdout instead of the table).",
)
@click.option(
    "--against",
    metavar="REF",
    multiple=True,
    help="Forecast for upstream release REF (repeatable): per patch merged, partial, "
    "applies, or stops applying (with the first conflicting path).",
)
@pass_app
def check(
    app: App,
    project: str | None,
    junit: Path | None,
    markdown: Path | None,
    against: tuple[str, ...],
) -> None:
    """CI gate: config, series, parsing, invariants, clean apply, export no-op, review/.

    Without PROJECT every project of base-commit is checked. Every check is
    reported on its own and a failure does not hide the others. The series is
    applied in a scratch tree: your work tree is never touched. Exit 0 when
    everything passes, 1 when a check fails, 2 when base-commit or
    verda-patch.yaml itself is invalid. --json prints {"ok", "results": [...]}.

    With --against REF (repeatable, e.g. --against 32.0.0 --against 33.0.0)
    each release gets a forecast per patch, printed as one table: merged
    (moving there drops it), partial, applies, or stops applying at the
    first conflicting path (that one fails the check).
    """
    from verda_patch import check as gate
    from verda_patch.apply import Hooks
    from verda_patch.errors import ConfigError, UserError

    try:
        config = app.config
    except ConfigError as exc:
        # still write the JUnit/JSON, so CI shows the broken config as a failed test
        report = gate.config_failed(exc, app.repo_option)
        _emit(app, report, junit, markdown)
        raise
    if project is not None:
        app.projects([project])
    with app.progress("checking") as bar:
        report = gate.run(
            config,
            [project] if project else [],
            against=against,
            hooks=Hooks(progress=bar, notify=app.say),
        )
    _emit(app, report, junit, markdown)
    if report.ok:
        return
    failures = report.failures
    first = failures[0]
    where = f"{first.where}: " if first.where else ""
    text = f"{len(failures)} check(s) failed; first: {where}{first.message}"
    if report.bad_input:
        raise UserError(text)
    from verda_patch.errors import CheckFailed

    raise CheckFailed(text)


def _emit(app: App, report: Report, junit: Path | None, markdown: Path | None = None) -> None:
    from verda_patch import check as gate
    from verda_patch.store import write_atomic

    if junit is not None:
        write_atomic(junit, gate.junit_xml(report))
        app.say(f"wrote {junit}")
    if markdown is not None:
        from verda_patch.check_markdown import render

        text = render(report)
        if str(markdown) == "-" and not app.json:
            click.echo(text, nl=False)
            return
        write_atomic(markdown, text.encode("utf-8"))
        app.say(f"wrote {markdown}")
    if app.json:
        app.emit_json(report.to_json())
        return
    _render(app, report)


def _render(app: App, report: Report) -> None:
    """Per project: one line per check (how many subjects passed), then every failure."""
    from rich.markup import escape

    from verda_patch import check as gate

    by_project: dict[str, dict[str, list[gate.Result]]] = defaultdict(lambda: defaultdict(list))
    for result in report.results:
        by_project[result.project or "(repo)"][result.check].append(result)
    out = app.out
    for project, checks in by_project.items():
        out.print(f"[bold]{escape(project)}[/]", highlight=False)
        for name, results in checks.items():
            statuses = {r.status for r in results}
            status = "fail" if "fail" in statuses else "pass" if "pass" in statuses else "skip"
            per_patch = [r for r in results if r.per_patch]
            rest = [r for r in results if not r.per_patch]
            if per_patch:
                counts = {s: sum(1 for r in per_patch if r.status == s) for s in _MARK}
                summary = f"{counts['pass']}/{len(per_patch)} patches"
                summary += f", {counts['fail']} failed" if counts["fail"] else ""
                summary += f", {counts['skip']} skipped" if counts["skip"] else ""
                if rest:
                    summary += f": {rest[-1].message}"
            elif len(results) > 1 and status == "pass":
                summary = f"{len(results)} ok: " + ", ".join(r.file or "?" for r in results)
            else:
                shown = next((r for r in results if r.status == status), results[-1])
                summary = shown.message
            out.print(f"  {_MARK[status]} {name:<18} {escape(summary)}", highlight=False)
    _render_forecast(app, report)
    failures = report.failures
    if failures:
        out.print(f"\n[red bold]{len(failures)} failed:[/]", highlight=False)
        for r in failures:
            where = f"{r.where}: " if r.where else ""
            out.print(f"  [red]✗[/] {escape(f'[{r.check}] {where}{r.message}')}", highlight=False)
    else:
        out.print("\n[green bold]all checks passed[/]", highlight=False)


_FORECAST_STYLE = {
    "merged": "green",
    "partial": "yellow",
    "applies": "",
    "stops-applying": "red",
}


def _render_forecast(app: App, report: Report) -> None:
    """One table per project: a row per patch, a column per --against release."""
    from rich.markup import escape

    from verda_patch import check as gate
    from verda_patch.tables import KEEP, Column, build

    by_project: dict[str, dict[str, dict[str, gate.Result]]] = defaultdict(dict)
    refs: dict[str, dict[str, None]] = defaultdict(dict)
    for r in report.results:
        if r.check == gate.FORWARD and r.against and r.file:
            by_project[r.project or ""].setdefault(r.file, {})[r.against] = r
            refs[r.project or ""][r.against] = None
    for project, rows in by_project.items():
        # the patch and every release's verdict are never cut (a long one folds)
        columns = [Column("patch", priority=KEEP)]
        columns += [Column(escape(ref), priority=KEEP) for ref in refs[project]]
        lines = []
        for file, cells in rows.items():
            values = []
            for ref in refs[project]:
                cell = cells.get(ref)
                kind = (cell.forecast or cell.status) if cell else ""
                text = kind + (f" at {cell.paths[0]}" if cell and cell.paths else "")
                style = _FORECAST_STYLE.get(kind, "dim")
                values.append(f"[{style}]{escape(text)}[/]" if style else escape(text))
            lines.append((escape(file), *values))
        title = f"{project}: forecast per release"
        table, _ = build(columns, lines, app.out.width, title=title)
        app.out.print(table)
