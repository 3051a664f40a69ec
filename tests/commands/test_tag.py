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
