"""`verda-patch import PROJECT --quilt DIR | --branch REF [--from DIR] | --mbox FILE`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from verda_patch.cli import CATEGORY, PROJECT, App, pass_app

if TYPE_CHECKING:
    from verda_patch.importer import ImportResult

_STYLE = {"cherry-pick": "cyan", "general": "green", "customs": "magenta"}


@click.command("import")
@click.argument("project", type=PROJECT)
@click.option(
    "--quilt",
    "quilt",
    metavar="DIR",
    type=click.Path(file_okay=False, path_type=Path),
    help="A quilt folder: its series and patch files (e.g. debian/patches).",
)
@click.option("--branch", metavar="REF", help="A fork branch: each commit of base..REF.")
@click.option(
    "--from",
    "from_dir",
    metavar="DIR",
    type=click.Path(file_okay=False, path_type=Path),
    help="Git repository holding --branch REF (default: the project's upstream).",
)
@click.option(
    "--mbox",
    metavar="FILE",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A mailbox of patch mails, split as git am splits it.",
)
@click.option(
    "-c", "--category", type=CATEGORY, help="Put every patch in this category (no sorting)."
)
@click.option("--yes", is_flag=True, help="Write the patch files (default: a dry run).")
@click.option(
    "--force",
    is_flag=True,
    help="With --yes, write even when the imported series builds another tree than the queue.",
)
@pass_app
def import_(
    app: App,
    project: str,
    quilt: Path | None,
    branch: str | None,
    from_dir: Path | None,
    mbox: Path | None,
    category: str | None,
    yes: bool,
    force: bool,
) -> None:
    """Adopt a patch queue kept elsewhere as patch files of PROJECT.

    SOURCE is one of: --quilt DIR (a series and its files, e.g. Debian's
    debian/patches: file names and bytes kept, commented-out lines left out,
    -pN options honoured), --branch REF [--from DIR] (a fork: each commit of
    base..REF becomes a 'git format-patch' file NNNN-<subject>.patch; merges
    and empty commits are skipped, and the rest must build REF's tree), or
    --mbox FILE (each mail with a diff becomes a patch file).

    Each patch goes to a category with the reason shown: cited or found
    upstream (cherry picked from, a Change-Id upstream has, DEP-3 Origin:
    upstream/backport) → cherry-pick; DEP-3 Forwarded: not-needed or Origin:
    vendor → customs; other DEP-3 → general; no DEP-3: general with a
    Change-Id, else customs. Upstream is the history of the project's branch
    and of upstream's default branch, reverts taken into account. -c puts
    them all in one category. Each category's series keeps the queue's order.

    Before writing, the queue is built in its own order and as imported
    (category order) in scratch trees; both must give the same tree. A dry run
    unless --yes; a file name already taken or a diff the project already
    carries refuses the import (exit 2, nothing written). Exit 1 when the
    imported series would not build the queue's tree.
    """
    from verda_patch.apply import Hooks
    from verda_patch.errors import OperationFailed, UserError
    from verda_patch.importer import Source, import_queue
    from verda_patch.worktree import repo_lock

    given = [
        (kind, value)
        for kind, value in (("quilt", quilt), ("branch", branch), ("mbox", mbox))
        if value
    ]
    if len(given) != 1:
        raise UserError(
            "give exactly one source: --quilt DIR, --branch REF or --mbox FILE",
            hint=f"e.g. 'verda-patch import {project} --quilt debian/patches'",
        )
    if from_dir is not None and branch is None:
        raise UserError("--from DIR goes with --branch REF")
    kind, value = given[0]
    app.projects([project])
    source = Source(kind, str(value), from_dir)
    with repo_lock(app.root, notify=app.say):
        result = import_queue(
            app.config,
            project,
            source,
            category=category,
            write=yes,
            force=force,
            hooks=Hooks(notify=app.say),
        )
    if app.json:
        app.emit_json(result.to_json())
    else:
        _render(app, result, yes)
    check = result.verification
    if check is not None and not check.ok:
        message = check.problem or "the imported series builds another tree than the queue"
        if result.written:
            app.warn(f"{message}; written anyway (--force)")
            return
        raise OperationFailed(
            message,
            hint="nothing was written; -c CATEGORY keeps the queue's order, "
            "--yes --force writes anyway",
        )


def _render(app: App, result: ImportResult, yes: bool) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(
        title=f"{result.project}: import from {escape(result.origin)}", title_justify="left"
    )
    # a quilt import keeps the names: the file column then says all the source column would
    kept = all(p.file == f"{p.category}/{p.source}" for p in result.patches)
    columns = ("file", "category", "reason", "subject", "author")
    for column in columns if kept else ("source", *columns):
        table.add_column(column, no_wrap=column not in ("subject", "author"))
    for p in result.patches:
        style = _STYLE.get(p.category, "")
        row = [
            escape(p.file),
            f"[{style}]{escape(p.category)}[/]" if style else escape(p.category),
            escape(p.reason),
            escape(p.subject),
            escape(p.author or ""),
        ]
        table.add_row(*(row if kept else [escape(p.source), *row]))
    app.out.print(table)
    for s in result.skipped:
        app.out.print(f"skipped {escape(s.source)}: {escape(s.reason)}", highlight=False)
    counts: dict[str, int] = {}
    for p in result.patches:
        counts[p.category] = counts.get(p.category, 0) + 1
    summary = ", ".join(f"{n} {c}" for c, n in counts.items())
    app.out.print(f"{len(result.patches)} patches: {summary}.", highlight=False)
    check = result.verification
    if check is not None and check.ok and check.tree:
        app.out.print(
            f"Built in the queue's order and as imported: same tree {check.tree[:12]}.",
            highlight=False,
        )
    if result.written:
        app.out.print(
            f"wrote {len(result.patches)} patch files under patches/{escape(result.project)}/ "
            "and their series.",
            highlight=False,
        )
    elif not yes:
        app.out.print("Dry run: nothing written; add --yes to write these files.", highlight=False)
