"""`verda-patch tag` as a release engineer runs it."""

from __future__ import annotations

import json

import pytest

from tests.builders import git


@pytest.fixture
def repo(make_upstream, make_patch_repo):
    up = make_upstream()
    repo = make_patch_repo()
    repo.set_base("sample", up, up.rev("1.0.0"), ref="1.0.0")
    repo.add_patch("sample", "customs", "0001-readme.patch", up.format_patch("HEAD"))
    repo.commit_all("release")
    return repo


def test_tag_human_and_json(repo):
    result = repo.run("tag", "sample")
    assert result.exit_code == 0, result.stderr
    assert "tagged sample-1.0.0-verda.1" in result.stdout
    assert "git push origin sample-1.0.0-verda.1" in result.stderr
    (repo.path / "NOTES").write_text("next release\n")
    repo.commit_all("next")
    result = repo.run("--json", "tag", "sample")
    doc = json.loads(result.stdout)
    assert doc["tag"] == "sample-1.0.0-verda.2" and doc["created"] is True
    assert doc["base"]["ref"] == "1.0.0" and len(doc["base"]["commit"]) == 40
    (patch,) = doc["patches"]
    assert patch["file"] == "customs/0001-readme.patch"
    assert patch["path"] == "patches/sample/customs/0001-readme.patch"
    assert len(patch["sha256"]) == 64


def test_dry_run_prints_the_message(repo):
    result = repo.run("tag", "sample", "--dry-run")
    assert result.exit_code == 0
    assert "would create tag sample-1.0.0-verda.1" in result.stdout
    assert "Base-Commit: " in result.stdout
    assert git(repo.path, "tag", "--list") == ""


def test_dirty_repo_is_exit_1(repo):
    (repo.path / "base-commit").write_text((repo.path / "base-commit").read_text() + "# x\n")
    result = repo.run("tag", "sample")
    assert result.exit_code == 1
    assert "uncommitted changes (base-commit)" in result.stderr
    assert "commit them first" in result.stderr
    assert result.stdout == ""
    assert git(repo.path, "tag", "--list") == ""


def test_not_a_git_repo_is_exit_2(repo):
    import shutil

    shutil.rmtree(repo.path / ".git")
    result = repo.run("tag", "sample")
    assert result.exit_code == 2
    assert "not a git repository" in result.stderr


def test_a_commit_that_has_its_tag_says_so(repo):
    # issue 17: a second 'tag' on the same commit silently made sample-1.0.0-verda.2
    assert repo.run("tag", "sample").exit_code == 0
    again = repo.run("tag", "sample")
    assert again.exit_code == 0
    assert "is already tagged sample-1.0.0-verda.1; nothing created" in again.stdout
    dry = repo.run("--json", "tag", "sample", "--dry-run")
    doc = json.loads(dry.stdout)
    assert doc["already_tagged"] is True and doc["tag"] == "sample-1.0.0-verda.1"
    assert git(repo.path, "tag", "--list") == "sample-1.0.0-verda.1"


def test_ignored_files_do_not_block_tag(repo, tmp_path):
    # issue 17: an archive's tarball, or what the user's global excludes ignore
    excludes = tmp_path / "global-ignore"
    excludes.write_text("*.swp\n")
    git(
        repo.path,
        "config",
        "--file",
        str(tmp_path / "home" / ".gitconfig"),
        "core.excludesFile",
        str(excludes),
    )
    (repo.path / "base-commit.swp").write_text("editor swap\n")
    from verda_patch.archive import default_output

    default_output(repo.path, "sample-1.0.0.tar.gz").write_bytes(b"a tarball")
    for args in (("tag", "sample", "--dry-run"), ("tag", "sample")):
        result = repo.run(*args)
        assert result.exit_code == 0, result.output
