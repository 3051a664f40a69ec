"""`verda-patch demo`: offline, deterministic, leaves a real patch repo."""

from __future__ import annotations

import json

from click.testing import CliRunner

from tests.builders import git
from verda_patch.cli import cli


def test_demo_builds_and_applies_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_ALLOW_PROTOCOL", "file")
    result = CliRunner().invoke(cli, ["demo", str(tmp_path / "d")])
    assert result.exit_code == 0, result.stderr
    assert "verda-patch list nova" in result.stdout
    repo = tmp_path / "d/patch-repo"
    listing = CliRunner().invoke(cli, ["--repo", str(repo), "--json", "list", "nova"])
    patches = json.loads(listing.stdout)["projects"][0]["patches"]
    assert [p["category"] for p in patches] == [
        "cherry-pick",
        "cherry-pick",
        "general",
        "customs",
        "customs",
    ]
    assert patches[0]["cherry_picked_from"]
    tree = repo / ".verda/work/nova"
    assert git(tree, "log", "-1", "--format=%s") == "Add custom-source/nova"
    assert git(repo, "status", "--porcelain") == ""


def test_demo_is_deterministic(tmp_path):
    heads = []
    for name in ("one", "two"):
        result = CliRunner().invoke(cli, ["--json", "demo", str(tmp_path / name)])
        assert result.exit_code == 0, result.stderr
        heads.append(json.loads(result.stdout)["apply"]["head"])
    assert heads[0] == heads[1]


def test_demo_never_writes_over_a_directory(tmp_path):
    target = tmp_path / "taken"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    result = CliRunner().invoke(cli, ["demo", str(target)])
    assert result.exit_code == 2
    assert "not empty" in result.stderr
    assert (target / "keep.txt").read_text() == "mine"


def test_demo_inside_a_checkout_never_commits_to_it(tmp_path, monkeypatch):
    # issue 17: README's first command runs the demo inside the verda-patch
    # checkout; it added a commit and a gitlink to that checkout
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    git(checkout, "init", "-q")
    ident = {"GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@b"}
    git(checkout, "commit", "-q", "--allow-empty", "-m", "mine", env=ident)
    head = git(checkout, "rev-parse", "HEAD")
    monkeypatch.chdir(checkout)
    result = CliRunner().invoke(cli, ["demo"])
    assert result.exit_code == 0, result.stderr
    assert git(checkout, "rev-parse", "HEAD") == head
    assert git(checkout, "ls-files") == ""
    repo = checkout / "verda-patch-demo" / "patch-repo"
    assert git(repo, "rev-parse", "--show-toplevel") == str(repo.resolve())
    assert git(repo, "log", "--format=%s") == "Demo patch repo for nova 1.0.0"
    assert "Left behind" in result.stdout and "rm -rf" in result.stdout
