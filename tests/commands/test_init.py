"""`verda-patch init`: the layout, idempotent, never overwriting, git init only when needed."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tests.builders import git
from verda_patch.cli import cli

DIRECTORIES = ["patches", "custom-source", "review", "dockerfiles", "scripts"]
FILES = ["base-commit", ".gitignore", "scripts/apply_patch.sh"]


def init(root: Path, *extra: str) -> Result:
    return CliRunner().invoke(cli, ["--repo", str(root), *extra, "init"], catch_exceptions=False)


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path under root (but .git) → its bytes, None for a directory."""
    out: dict[str, bytes | None] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if rel == ".git" or rel.startswith(".git/"):
            continue
        out[rel] = None if path.is_dir() else path.read_bytes()
    return out


def test_init_creates_the_layout_and_a_git_repo(tmp_path: Path) -> None:
    root = tmp_path / "patches-repo"
    result = init(root, "--json")
    assert result.exit_code == 0 and result.stderr == ""
    doc = json.loads(result.stdout)
    assert doc["root"] == str(root.resolve()) and doc["kept"] == []
    assert doc["git_initialized"] is True
    assert {d + "/" for d in DIRECTORIES} | set(FILES) <= set(doc["created"])
    for name in DIRECTORIES:
        assert (root / name).is_dir()
    assert ".verda/" in (root / ".gitignore").read_text().splitlines()
    script = root / "scripts" / "apply_patch.sh"
    assert script.stat().st_mode & stat.S_IXUSR and script.read_text().startswith("#!")
    assert (root / ".git").is_dir()
    assert git(root, "rev-parse", "--is-inside-work-tree") == "true"


def test_fresh_repo_is_usable_right_away(tmp_path: Path) -> None:
    root = tmp_path / "r"
    init(root)
    assert "nova:" in (root / "base-commit").read_text()  # the commented example
    listed = CliRunner().invoke(
        cli, ["--repo", str(root), "--json", "list"], catch_exceptions=False
    )
    assert listed.exit_code == 0 and json.loads(listed.stdout) == {"projects": []}


def test_second_run_keeps_everything_and_says_kept(tmp_path: Path) -> None:
    root = tmp_path / "r"
    first = json.loads(init(root, "--json").stdout)
    (root / "base-commit").write_text("# mine\n")
    before = snapshot(root)
    head_before = (root / ".git" / "HEAD").read_bytes()
    second = init(root)
    assert second.exit_code == 0 and second.stderr == ""
    for name in first["created"]:
        assert f"kept    {name} (exists)" in second.stdout
    assert "created" not in second.stdout and "initialized" not in second.stdout
    assert snapshot(root) == before
    assert (root / ".git" / "HEAD").read_bytes() == head_before
    again = json.loads(init(root, "--json").stdout)
    assert again["created"] == [] and again["git_initialized"] is False
    assert sorted(again["kept"]) == sorted(first["created"])


def test_existing_base_commit_is_never_overwritten(tmp_path: Path) -> None:
    root = tmp_path / "r"
    root.mkdir()
    mine = "nova:\n  upstream: /srv/nova\n  commit: " + "a" * 40 + "\n"
    (root / "base-commit").write_text(mine)
    doc = json.loads(init(root, "--json").stdout)
    assert "base-commit" in doc["kept"] and "base-commit" not in doc["created"]
    assert (root / "base-commit").read_text() == mine


def test_existing_files_are_kept_even_when_they_are_odd(tmp_path: Path) -> None:
    root = tmp_path / "r"
    (root / "scripts").mkdir(parents=True)
    (root / "scripts" / "apply_patch.sh").write_text("#!/bin/sh\necho ours\n")
    (root / "patches").write_text("a file where a folder would go\n")
    (root / ".gitignore").symlink_to(tmp_path / "nowhere")  # dangling
    result = init(root, "--json")
    # regression: the dangling .gitignore symlink crashed init (exit 1)
    assert result.exit_code == 0, result.stderr
    kept = json.loads(result.stdout)["kept"]
    assert {"scripts/apply_patch.sh", "patches/", ".gitignore"} <= set(kept)
    assert (root / "scripts" / "apply_patch.sh").read_text() == "#!/bin/sh\necho ours\n"
    assert (root / "patches").read_text() == "a file where a folder would go\n"
    assert (root / ".gitignore").is_symlink() and not (tmp_path / "nowhere").exists()


@pytest.mark.parametrize(
    ("existing", "appended"), [("*.pyc\n", True), ("*.pyc", True), ("*.pyc\n.verda/\n", False)]
)
def test_gitignore_gets_verda_added_once(tmp_path: Path, existing: str, appended: bool) -> None:
    root = tmp_path / "r"
    root.mkdir()
    (root / ".gitignore").write_text(existing)
    doc = json.loads(init(root, "--json").stdout)
    lines = (root / ".gitignore").read_text().splitlines()
    assert lines[0] == "*.pyc" and lines.count(".verda/") == 1
    assert (".gitignore (added .verda/)" in doc["created"]) is appended
    init(root)
    assert (root / ".gitignore").read_text().splitlines().count(".verda/") == 1


def test_git_init_only_when_not_in_a_repo(tmp_path: Path) -> None:
    root = tmp_path / "r"
    root.mkdir()
    git(root, "init", "-q")
    git(
        root,
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "mine",
        env={
            "GIT_AUTHOR_NAME": "a",
            "GIT_AUTHOR_EMAIL": "a@b",
            "GIT_COMMITTER_NAME": "a",
            "GIT_COMMITTER_EMAIL": "a@b",
        },
    )
    head = git(root, "rev-parse", "HEAD")
    doc = json.loads(init(root, "--json").stdout)
    assert doc["git_initialized"] is False
    assert git(root, "rev-parse", "HEAD") == head


def test_inside_another_repository_the_patch_repo_is_its_own(tmp_path: Path) -> None:
    # issue 17: made inside another checkout, the patch repo must never add
    # its files to that repository's index or history
    outer = tmp_path / "monorepo"
    outer.mkdir()
    git(outer, "init", "-q")
    root = outer / "ops" / "patches"
    doc = json.loads(init(root, "--json").stdout)
    assert doc["git_initialized"] is True
    assert doc["enclosing_repository"] == str(outer.resolve())
    assert (root / ".git").is_dir()
    assert git(root, "rev-parse", "--show-toplevel") == str(root.resolve())
    assert git(outer, "ls-files") == ""


def test_init_defaults_to_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["init"], catch_exceptions=False)
    assert result.exit_code == 0
    assert (tmp_path / "base-commit").is_file()
    assert "Next: 'verda-patch base set <project> <tag> --upstream <URL>'" in result.stdout


def test_init_ignores_a_broken_base_commit_it_keeps(tmp_path: Path) -> None:
    root = tmp_path / "r"
    root.mkdir()
    (root / "base-commit").write_text("nova: [unclosed\n")
    result = init(root)
    assert result.exit_code == 0
    assert (root / "base-commit").read_text() == "nova: [unclosed\n"


def test_created_files_are_not_world_writable(tmp_path: Path) -> None:
    root = tmp_path / "r"
    old = os.umask(0)
    try:
        init(root)
    finally:
        os.umask(old)
    for name in FILES:
        assert not (root / name).stat().st_mode & stat.S_IWOTH, name
