"""`verda-patch init`."""

from __future__ import annotations

from pathlib import Path

import click

from verda_patch.cli import App, pass_app


@click.command()
@pass_app
def init(app: App) -> None:
    """Scaffold a patch repo in the current directory (or --repo).

    Creates base-commit (a commented example), patches/, custom-source/,
    review/, dockerfiles/, scripts/apply_patch.sh and a .gitignore for .verda/,
    and runs 'git init' unless the directory is already the top of a git
    repository: a patch repo is always a repository of its own, also when made
    inside another checkout. Files that already exist are kept untouched.
    """
    from verda_patch.scaffold import init as scaffold

    root = (app.repo_option or Path.cwd()).resolve()
    root.mkdir(parents=True, exist_ok=True)
    result = scaffold(root)
    if app.json:
        app.emit_json(
            {
                "root": str(root),
                "created": result.created,
                "kept": result.kept,
                "git_initialized": result.git_initialized,
                "enclosing_repository": str(result.enclosing) if result.enclosing else None,
            }
        )
        return
    for name in result.created:
        app.out.print(f"[green]created[/] {name}", highlight=False)
    for name in result.kept:
        app.out.print(f"[dim]kept[/]    {name} (exists)", highlight=False)
    if result.git_initialized:
        app.out.print(f"[green]initialized[/] git repository in {root}", highlight=False)
    if result.enclosing:
        app.out.print(
            f"[dim]note[/]    it sits inside the repository {result.enclosing}, which it "
            "leaves alone (git there sees an untracked folder)",
            highlight=False,
        )
    app.out.print(
        "\nNext: 'verda-patch base set <project> <tag> --upstream <URL>', then "
        "'verda-patch apply <project>'.",
        highlight=False,
    )
