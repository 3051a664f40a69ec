"""release: the tag records the base and every file of the patch set with its sha256."""

from __future__ import annotations

import hashlib
import re

import pytest

from tests.builders import git, write_series
from verda_patch import config, release
from verda_patch.errors import ConfigError, OperationFailed


@pytest.fixture
def repo(make_upstream, make_patch_repo):
    up = make_upstream()
    base = up.rev("1.0.0")
    repo = make_patch_repo()
    repo.set_base("sample", up, base, ref="1.0.0")
    fix = up.commit(
        "Fix api_3",
        {
            "sample/api.py": up.read("HEAD", "sample/api.py")
            .decode()
            .replace("return 3\n", "return 33\n")
        },
    )
    write_series(repo, up, "sample", "cherry-pick", [fix])
    repo.series("sample", "cherry-pick", ["# backports", "0001-Fix-api-3.patch"])
    (repo.path / "custom-source" / "sample").mkdir(parents=True)
    (repo.path / "custom-source" / "sample" / "site.conf").write_text("[x]\n")
    repo.commit_all("release")
    repo.up = up  # type: ignore[attr-defined]
    return repo


def _tag(repo, **kwargs):
    return release.tag(config.load(repo.path), "sample", **kwargs)


def test_message_records_base_and_every_file(repo):
    result = _tag(repo)
    assert result.name == "sample-1.0.0-verda.1"
    body = git(repo.path, "tag", "-l", "--format=%(contents)", result.name)
    assert f"Base-Commit: {repo.up.rev('1.0.0')}" in body
    assert "Ref: 1.0.0" in body and f"Upstream: {repo.up.path}" in body
    listed = dict(
        (path, digest) for digest, path in re.findall(r"^([0-9a-f]{64})  (\S+)$", body, re.M)
    )
    expected = [
        "patches/sample/cherry-pick/0001-Fix-api-3.patch",
        "patches/sample/cherry-pick/series",
        "custom-source/sample/site.conf",
    ]
    assert list(listed) == expected
    for path, digest in listed.items():
        assert hashlib.sha256((repo.path / path).read_bytes()).hexdigest() == digest
    assert [p.file for p in result.patches] == ["cherry-pick/0001-Fix-api-3.patch"]
    assert git(repo.path, "cat-file", "-t", result.name) == "tag"
    assert git(repo.path, "rev-parse", f"{result.name}^{{commit}}") == result.target


def test_number_goes_up_and_dry_run_creates_nothing(repo):
    assert _tag(repo).name == "sample-1.0.0-verda.1"
    git(repo.path, "tag", "sample-1.0.0-verda.7")
    git(repo.path, "tag", "sample-1.0.0-verda.x")  # not a number: ignored
    same = _tag(repo, dry_run=True)  # HEAD has its tags: the highest is named, none made
    assert same.name == "sample-1.0.0-verda.7" and same.already and not same.created
    (repo.path / "NOTES").write_text("next\n")
    repo.commit_all("next release")
    planned = _tag(repo, dry_run=True)
    assert planned.name == "sample-1.0.0-verda.8" and not planned.created
    assert "sample-1.0.0-verda.8" not in git(repo.path, "tag", "--list")


def test_describe_when_no_ref(repo):
    repo.set_base("sample", repo.up, repo.up.rev("HEAD"))  # one commit past 1.0.0, no ref
    repo.commit_all("unpinned ref")
    result = _tag(repo)
    assert result.ref.startswith("1.0.0-1-g") and result.name.startswith("sample-1.0.0-1-g")


def test_pattern_from_settings(repo):
    (repo.path / "verda-patch.yaml").write_text("tag_pattern: 'release/{project}/{ref}/{n}'\n")
    repo.commit_all("settings")
    result = _tag(repo)
    assert result.name == "release/sample/1.0.0/1"
    assert [f.path for f in result.files][-1] == "verda-patch.yaml"


@pytest.mark.parametrize(
    "pattern, problem",
    [
        ("{project}-{ref}", "must contain {n}"),
        ("{project}-{branch}-{n}", "unknown field {branch}"),
        ("{project}-{ref}-{n", "does not parse"),
        ("{project} {ref} {n}", "not a valid tag name"),
    ],
)
def test_bad_pattern(repo, pattern, problem):
    (repo.path / "verda-patch.yaml").write_text(f"tag_pattern: '{pattern}'\n")
    repo.commit_all("settings")
    with pytest.raises(ConfigError, match=re.escape(problem)):
        _tag(repo)


def test_refuses_uncommitted_and_untracked(repo):
    patch = repo.path / "patches/sample/cherry-pick/0001-Fix-api-3.patch"
    patch.write_bytes(patch.read_bytes() + b"\n")
    with pytest.raises(OperationFailed, match="uncommitted changes"):
        _tag(repo)
    git(repo.path, "checkout", "--", ".")
    (repo.path / "patches/sample/cherry-pick/0002-new.patch").write_text("x")
    with pytest.raises(OperationFailed, match=r"0002-new\.patch"):
        _tag(repo)
    assert git(repo.path, "tag", "--list") == ""


def test_own_state_directory_is_not_dirt(repo):
    (repo.path / ".verda" / "state").mkdir(parents=True)
    (repo.path / ".verda" / "state" / "x.json").write_text("{}")  # no .gitignore in this repo
    assert _tag(repo).created
