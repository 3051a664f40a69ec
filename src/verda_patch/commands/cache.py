"""`verda-patch cache list|prune`."""

from __future__ import annotations

import time

import click

from verda_patch.cli import App, pass_app


def _size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover - the loop always returns


def _age(stamp: float | None) -> str:
    if stamp is None:
        return "never"
    days = (time.time() - stamp) / 86400
    return "today" if days < 1 else f"{days:.0f} days ago"


@click.group()
def cache() -> None:
    """Inspect and prune the upstream cache ($VERDA_PATCH_CACHE).

    The cache keeps one bare mirror per upstream (one upstream spelled several
    ways is one mirror) and, inside each, the prefixes builds made (kind
    'prefixes', named MIRROR/prefixes: the refs incremental apply reuses).
    Nothing is removed unless you ask.
    """


@cache.command("list")
@pass_app
def list_(app: App) -> None:
    """Every cache entry: kind, name, size, upstream (no credentials), last use and fetch."""
    from rich.markup import escape
    from rich.table import Table

    from verda_patch import cache as cache_lib
    from verda_patch.mirror import cache_root

    entries = cache_lib.list_entries()
    if app.json:
        app.emit_json({"cache": str(cache_root()), "entries": [e.to_json() for e in entries]})
        return
    if not entries:
        app.say(escape(f"the cache {cache_root()} is empty"))
        return
    table = Table(box=None, pad_edge=False)
    for column in ("kind", "name", "size", "last used", "last fetch", "upstream"):
        table.add_column(column)
    for e in entries:
        table.add_row(
            e.kind,
            escape(e.name),
            _size(e.size),
            _age(e.last_used),
            _age(e.last_fetch),
            escape(e.upstream or "?"),
        )
    app.out.print(table)
    app.say(
        escape(f"{len(entries)} entries, {_size(sum(e.size for e in entries))} in {cache_root()}")
    )


@cache.command()
@click.argument("names", nargs=-1)
@click.option(
    "--unused-for",
    "unused_days",
    type=click.FloatRange(min=0),
    metavar="DAYS",
    help="Also every entry not used for DAYS days.",
)
@click.option("--yes", is_flag=True, help="Remove them (without it: only say what would go).")
@pass_app
def prune(app: App, names: tuple[str, ...], unused_days: float | None, yes: bool) -> None:
    """Remove cache entries: the NAMES 'cache list' shows (or an upstream URL) and,
    with --unused-for DAYS, those unused that long.

    A dry run unless --yes; it waits for running fetches (the cache lock) and
    says what it removed. A work tree that borrowed objects from a removed
    mirror works again after the next 'apply' clones the mirror back.
    """
    from rich.markup import escape

    from verda_patch import cache as cache_lib

    result = cache_lib.prune(names=names, unused_days=unused_days, dry_run=not yes)
    if app.json:
        app.emit_json(
            {
                "dry_run": result.dry_run,
                "entries": [{**e.to_json(), "removed": not result.dry_run} for e in result.entries],
                "kept": result.kept,
            }
        )
        return
    verb = "would remove" if result.dry_run else "removed"
    for e in result.entries:
        app.out.print(
            escape(
                f"{verb} {e.kind} {e.name} ({_size(e.size)}, last used {_age(e.last_used)}"
                f"{', ' + e.upstream if e.upstream else ''})"
            ),
            highlight=False,
        )
    freed = _size(sum(e.size for e in result.entries))
    if not result.entries:
        app.say("nothing to prune")
    elif result.dry_run:
        app.say(f"dry run: nothing removed ({freed} would be freed); re-run with --yes")
    else:
        app.say(f"freed {freed}; {result.kept} entries kept")
