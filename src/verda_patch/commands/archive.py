"""`verda-patch archive`."""

from __future__ import annotations

from pathlib import Path

import click

from verda_patch.cli import PROJECT, App, pass_app


@click.command()
@click.argument("project", type=PROJECT)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write here (default: dist/PROJECT-VERSION.tar.gz in the patch repo, ignored by git).",
)
@click.option(
    "--pkg-version",
    metavar="VERSION",
    help="Package version to record (default: <ref or describe>+verda.<N>.g<head>).",
)
@pass_app
def archive(app: App, project: str, output: Path | None, pkg_version: str | None) -> None:
    """Reproducible tarball of the patched tree for package builds, with a manifest.

    The series is applied in a scratch tree (no earlier 'apply' needed) and
    packed as PROJECT-VERSION/ with sorted entries, fixed owners and dates, and
    VERDA-PATCH.json (upstream, base commit, ref, every patch file's sha256).
    For pbr projects it adds PKG-INFO carrying VERSION, where pbr looks for the
    version when there is no git: 'pip install' the tarball as an sdist.
    Running it twice on the same patch files gives the same bytes.
    """
    from rich.markup import escape

    from verda_patch.apply import Hooks
    from verda_patch.archive import archive as build

    app.projects([project])
    with app.progress(f"applying {project}") as bar:
        result = build(
            app.config,
            project,
            output,
            version=pkg_version,
            hooks=Hooks(progress=bar, notify=app.say),
        )
    if app.json:
        app.emit_json(result.to_json())
        return
    pbr = f", PKG-INFO for pbr package '{result.pbr_name}'" if result.pbr_name else ""
    app.out.print(
        f"[green]{escape(str(result.path))}[/]: {result.files} files, version "
        f"{escape(result.version)}{escape(pbr)}\n  sha256 {result.sha256}",
        highlight=False,
    )
