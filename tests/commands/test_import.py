"""`verda-patch import` on the command line: dry run, --yes, JSON, refusals."""

from __future__ import annotations

import json

from tests.builders import fork_of, git
from tests.test_import import OLD, PROJECT, QUOTA, _diff, _repo

KEYS = {"source", "file", "category", "reason", "subject", "author", "written"}


def test_dry_run_then_yes_then_refuses_a_second_import(make_upstream, make_patch_repo, tmp_path):
    up, repo = _repo(make_upstream, make_patch_repo)
    fork_of(up, tmp_path / "fork", up.rev("1.0.0"))
    args = ("import", PROJECT, "--branch", "corp", "--from", str(tmp_path / "fork"))
    result = repo.run(*args)
    assert result.exit_code == 0, result.output
    assert "cherry picked from" in result.stdout and "upstream has it" in result.stdout
    assert "3 patches: 1 cherry-pick, 1 general, 1 customs." in result.stdout
    assert "Dry run: nothing written" in result.stdout
    assert not (repo.path / "patches").exists()

    result = repo.run("--json", *args, "--yes")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["project"] == PROJECT and doc["same_tree"] is True
    assert [set(p) for p in doc["patches"]] == [KEYS] * 3
    assert all(p["written"] for p in doc["patches"])
    assert doc["patches"][2]["author"] == "Zoë Ångström <zoe@example.org>"
    assert (repo.path / "patches" / PROJECT / "general" / "series").read_text() == (
        "0001-Weigh-hosts-by-free-RAM.patch\n"
    )

    result = repo.run(*args, "--yes")
    assert result.exit_code == 2
    assert "3 of the imported patches clash with patches/sample" in result.stderr
    assert "is already cherry-pick/0001-Round-quota-limits-down.patch" in result.stderr
    assert "nothing was written" in result.stderr
    assert len(list((repo.path / "patches").rglob("*.patch"))) == 3


def _reordering_queue(tmp_path, origin: str):
    """A local change, then a backport on top of it: category order breaks it."""
    quilt = tmp_path / "patches"
    quilt.mkdir()
    mid = "LIMITS = {'cores': 22, 'ram': 51200}"
    (quilt / "local.patch").write_text(_diff(QUOTA, OLD, mid))
    (quilt / "backport.patch").write_text(
        f"Description: Upstream quota\nOrigin: {origin}\n\n"
        + _diff(QUOTA, mid, "LIMITS = {'cores': 30, 'ram': 51200}")
    )
    (quilt / "series").write_text("local.patch\nbackport.patch\n")
    return quilt


def test_category_order_that_breaks_the_queue_is_exit_1(make_upstream, make_patch_repo, tmp_path):
    _up, repo = _repo(make_upstream, make_patch_repo)
    quilt = _reordering_queue(tmp_path, "backport")
    result = repo.run("import", PROJECT, "--quilt", str(quilt), "--yes")
    assert result.exit_code == 1
    assert "in category order, cherry-pick/backport.patch does not apply" in result.stderr
    assert "-c CATEGORY keeps the queue's order" in result.stderr
    assert not (repo.path / "patches").exists()

    result = repo.run("import", PROJECT, "--quilt", str(quilt), "-c", "customs", "--yes")
    assert result.exit_code == 0, result.output
    assert "-c customs (else cherry-pick: DEP-3 Origin: backport)" in result.stdout
    assert (repo.path / "patches" / PROJECT / "customs" / "series").read_text() == (
        "local.patch\nbackport.patch\n"
    )


def test_force_writes_a_series_that_needs_reordering(make_upstream, make_patch_repo, tmp_path):
    _up, repo = _repo(make_upstream, make_patch_repo)
    quilt = _reordering_queue(tmp_path, "upstream")
    result = repo.run("import", PROJECT, "--quilt", str(quilt), "--yes", "--force")
    assert result.exit_code == 0, result.output
    assert "written anyway (--force)" in result.stderr
    assert len(list((repo.path / "patches").rglob("*.patch"))) == 2


def test_mbox_with_cover_letter(make_upstream, make_patch_repo, tmp_path):
    up, repo = _repo(make_upstream, make_patch_repo)
    fork_of(up, tmp_path / "fork", up.rev("1.0.0"))
    mbox = tmp_path / "q.mbox"
    out = git(tmp_path / "fork", "format-patch", "--stdout", "--cover-letter", "1.0.0..corp")
    mbox.write_text(out + "\n")
    result = repo.run("import", PROJECT, "--mbox", str(mbox), "--yes")
    assert result.exit_code == 0, result.output
    assert "skipped q.mbox:1: no diff" in result.stdout
    assert "wrote 3 patch files" in result.stdout


def test_usage_errors_are_exit_2(make_upstream, make_patch_repo, tmp_path):
    up, repo = _repo(make_upstream, make_patch_repo)
    result = repo.run("import", PROJECT)
    assert result.exit_code == 2 and "give exactly one source" in result.stderr
    result = repo.run("import", PROJECT, "--quilt", str(tmp_path), "--mbox", str(tmp_path / "m"))
    assert result.exit_code == 2 and "give exactly one source" in result.stderr
    result = repo.run("import", PROJECT, "--quilt", str(tmp_path))
    assert result.exit_code == 2 and "no 'series' file" in result.stderr
    result = repo.run("import", PROJECT, "--branch", "nope", "--from", str(up.path))
    assert result.exit_code == 2 and "'nope' is no commit, branch or tag" in result.stderr


WHO = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org"}


def _fork_with_side_branch(make_upstream, make_patch_repo, tmp_path):
    """The fork of ``fork_of`` plus a branch ``side`` at the base, checked out."""
    up, repo = _repo(make_upstream, make_patch_repo)
    fork = tmp_path / "fork"
    fork_of(up, fork, up.rev("1.0.0"))
    git(fork, "checkout", "-q", "-b", "side", "1.0.0")
    return repo, fork


def test_merges_and_empty_commits_are_skipped(make_upstream, make_patch_repo, tmp_path):
    repo, fork = _fork_with_side_branch(make_upstream, make_patch_repo, tmp_path)
    who = WHO
    git(fork, "commit", "-q", "--allow-empty", "-m", "Nothing", env=who)
    (fork / "side.txt").write_text("side\n")
    git(fork, "add", "side.txt")
    git(fork, "commit", "-q", "-m", "Side file", env=who)
    git(fork, "checkout", "-q", "corp")
    git(fork, "merge", "-q", "--no-edit", "side", env=who)
    result = repo.run("--json", "import", PROJECT, "--branch", "corp", "--from", str(fork))
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert [s["reason"].split(":")[0] for s in doc["skipped"]] == ["empty commit", "merge commit"]
    assert len(doc["patches"]) == 4 and doc["same_tree"] is True
    assert doc["source_tree"] == git(fork, "rev-parse", "corp^{tree}")


def test_a_merge_that_resolved_a_conflict_is_exit_1(make_upstream, make_patch_repo, tmp_path):
    repo, fork = _fork_with_side_branch(make_upstream, make_patch_repo, tmp_path)
    who = WHO
    (fork / "README.rst").write_text("Side\n")
    git(fork, "commit", "-q", "-am", "Side title", env=who)
    git(fork, "checkout", "-q", "corp")
    git(fork, "merge", "-q", "--no-edit", "side", env=who, check=False)
    (fork / "README.rst").write_text("Resolved\n")
    git(fork, "commit", "-q", "-am", "Merge side", env=who)
    result = repo.run("import", PROJECT, "--branch", "corp", "--from", str(fork), "--yes")
    assert result.exit_code == 1
    assert "not the tip's tree" in result.stderr or "does not apply" in result.stderr
    assert not (repo.path / "patches").exists()


def test_renamed_categories_need_c(make_upstream, make_patch_repo, tmp_path):
    up, repo = _repo(make_upstream, make_patch_repo)
    fork_of(up, tmp_path / "fork", up.rev("1.0.0"))
    (repo.path / "verda-patch.yaml").write_text("categories: [backports, local]\n")
    args = ("import", PROJECT, "--branch", "corp", "--from", str(tmp_path / "fork"))
    result = repo.run(*args)
    assert result.exit_code == 2
    assert "no category 'cherry-pick'" in result.stderr and "-c CATEGORY" in result.stderr
    result = repo.run(*args, "-c", "local", "--yes")
    assert result.exit_code == 0, result.output
    assert repo.run("apply", PROJECT).exit_code == 0


def test_adds_after_present_patches_and_creates_their_series(
    make_upstream, make_patch_repo, tmp_path
):
    up, repo = _repo(make_upstream, make_patch_repo)
    fork_of(up, tmp_path / "fork", up.rev("1.0.0"))
    present = "--- /dev/null\n+++ b/sample/site.py\n@@ -0,0 +1 @@\n+SITE = 'x'\n"
    repo.add_patch(PROJECT, "customs", "0007-site.patch", present)
    result = repo.run("import", PROJECT, "--branch", "corp", "--from", str(tmp_path / "fork"))
    assert result.exit_code == 0, result.output
    assert "customs/0008-Add-corporate-branding.patch" in result.stdout
    result = repo.run(
        "import", PROJECT, "--branch", "corp", "--from", str(tmp_path / "fork"), "--yes"
    )
    assert result.exit_code == 0, result.output
    assert (repo.path / "patches" / PROJECT / "customs" / "series").read_text() == (
        "0007-site.patch\n0008-Add-corporate-branding.patch\n"
    )
    assert repo.run("apply", PROJECT).exit_code == 0


def test_project_and_category_complete(make_upstream, make_patch_repo):
    from tests.test_cli_completion import _complete

    _up, repo = _repo(make_upstream, make_patch_repo)
    assert "plain,sample" in _complete(repo.path, "import sa")
    assert "plain,general" in _complete(repo.path, "import sample --mbox x -c gen")
