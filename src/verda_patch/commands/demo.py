"""`verda-patch demo`."""

from __future__ import annotations

from pathlib import Path

import click

from verda_patch.cli import App, pass_app

TOUR = """\
[bold]What just happened[/]
  {upstream}  a generated upstream: tags 1.0.0, 1.1.0, 2.0.0 and branch stable/1.x
  {repo}  the patch repo, pinned to nova 1.0.0:
      patches/nova/cherry-pick/  2 backports of upstream master fixes
      patches/nova/general/      1 fix meant to go upstream
      patches/nova/customs/      2 in-house changes (GPU quota, ACL check), with a series file
      custom-source/nova/        a config file copied over the tree
  {work}  the patched work tree, branch verda/nova ({count} patch commits + custom-source)

[bold]Try next[/] (in {repo_rel})
  verda-patch list nova                        the patches in apply order
  git -C .verda/work/nova log --oneline        one commit per patch, on the pinned base
  verda-patch prune nova --against stable/1.x  which backports stable/1.x already has (a forecast)
  verda-patch new nova my-fix -c general       after editing .verda/work/nova, turn it into a patch
  verda-patch base bump nova 2.0.0             move to the next release, dropping merged patches
  verda-patch check                            what CI runs on every pull request

[bold]Left behind[/] (remove it all with: rm -rf {root} {mirror})
  {root}  upstream/, and patch-repo/: a git repository of its own
      with one commit, its work tree under patch-repo/.verda/ (ignored by git)
  {mirror}  the upstream's mirror in verda-patch's cache
      ($VERDA_PATCH_CACHE, default ~/.cache/verda-patch); 'apply' reuses it
"""


@click.command()
@click.argument("directory", required=False, type=click.Path(path_type=Path))
@pass_app
def demo(app: App, directory: Path | None) -> None:
    """Offline end-to-end tour on a generated sample upstream.

    Creates DIRECTORY (default ./verda-patch-demo) with a sample upstream and a
    patch repo, applies it, and prints what to try next. Needs no network.

    Left behind: DIRECTORY (upstream/ and patch-repo/, a git repository of its
    own, never part of a repository DIRECTORY sits in) and the upstream's
    mirror in the cache ($VERDA_PATCH_CACHE); the tour's last lines name both.
    """
    from verda_patch.apply import Hooks, apply_project
    from verda_patch.config import load
    from verda_patch.demo import generate
    from verda_patch.mirror import Mirror

    root = (directory or Path("verda-patch-demo")).resolve()
    app.say(f"generating a sample upstream and patch repo in {root}")
    repos = generate(root)
    config = load(repos.patch_repo)
    with app.progress("applying nova") as bar:
        result = apply_project(config, "nova", hooks=Hooks(progress=bar, notify=app.say))
    mirror = Mirror.for_project(config, config.project("nova")).path
    if app.json:
        app.emit_json(
            {
                "root": str(root),
                "upstream": str(repos.upstream),
                "patch_repo": str(repos.patch_repo),
                "mirror": str(mirror),
                "apply": result.to_json(),
            }
        )
        return
    try:
        rel = repos.patch_repo.relative_to(Path.cwd())
    except ValueError:
        rel = repos.patch_repo
    app.out.print(
        TOUR.format(
            upstream=repos.upstream,
            repo=repos.patch_repo,
            work=result.work_tree,
            count=len(result.applied),
            repo_rel=rel,
            root=root,
            mirror=mirror,
        ),
        highlight=False,
    )
