"""`verda-patch export` on the command line: exit codes, JSON, messages."""

from __future__ import annotations

import json

from tests.test_export import PROJECT, Setup, setup_fixture, shared_fixture  # noqa: F401


def test_export_round_trip_is_silent_and_clean(setup: Setup) -> None:
    assert setup.repo.run("apply", PROJECT).exit_code == 0
    result = setup.repo.run("export", PROJECT)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{PROJECT}: 0 written, 5 unchanged\n"
    assert setup.status() == ""


def test_export_json(setup: Setup) -> None:
    setup.repo.run("apply", PROJECT)
    setup.amend(4, message="Tweak api_30 again\n\nVerda-Patch: general/0005-p5.patch")
    result = setup.repo.run("--json", "export", PROJECT)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["written"] == ["general/0005-p5.patch"]
    assert doc["synced"] is True and doc["untracked"] == [] and doc["missing"] == []


def test_check_exits_1_when_a_file_would_change(setup: Setup) -> None:
    setup.repo.run("apply", PROJECT)
    assert setup.repo.run("export", "--check", PROJECT).exit_code == 0
    setup.amend(4, message="Tweak api_30 again\n\nVerda-Patch: general/0005-p5.patch")
    before = setup.snapshot()
    result = setup.repo.run("export", "--check", PROJECT)
    assert result.exit_code == 1
    assert "would write general/0005-p5.patch" in result.stdout
    assert "export would change 1 file(s)" in result.stderr
    assert setup.snapshot() == before


def test_untracked_commit_exits_1_and_names_new(setup: Setup) -> None:
    setup.repo.run("apply", PROJECT)
    (setup.work / "x.txt").write_text("x\n")
    setup.wgit("add", "x.txt")
    setup.wgit("commit", "-q", "-m", "Stray commit")
    result = setup.repo.run("export", PROJECT)
    assert result.exit_code == 1
    assert "Stray commit has no Verda-Patch trailer" in result.stderr
    assert f"verda-patch new {PROJECT} NAME -c CATEGORY" in result.stderr
    assert "holds work no patch file has yet" in result.stderr
    assert setup.repo.run("export", "--check", PROJECT).exit_code == 1


def test_prune_missing_needs_yes(setup: Setup) -> None:
    setup.repo.run("apply", PROJECT)
    commits = setup.commits()
    setup.wgit("rebase", "--quiet", "--onto", commits[3], commits[4])  # drop patch 5
    result = setup.repo.run("export", PROJECT)
    assert result.exit_code == 1
    assert "general/0005-p5.patch has no commit in the work tree" in result.stderr
    result = setup.repo.run("export", "--prune-missing", PROJECT)
    assert result.exit_code == 2 and "add --yes" in result.stderr
    result = setup.repo.run("export", "--prune-missing", "--yes", PROJECT)
    assert result.exit_code == 0, result.output
    assert "deleted general/0005-p5.patch" in result.stdout
    assert not (setup.patch_dir() / "0005-p5.patch").exists()
    assert setup.repo.run("apply", PROJECT).exit_code == 0


def test_errors_name_the_next_step(setup: Setup) -> None:
    result = setup.repo.run("export", PROJECT)
    assert result.exit_code == 2
    assert f"run 'verda-patch apply {PROJECT}' first" in result.stderr
    assert setup.repo.run("export", "nope").exit_code == 2
    setup.repo.run("apply", PROJECT)
    setup.wgit("checkout", "-q", "--detach")
    result = setup.repo.run("export", PROJECT)
    assert result.exit_code == 1 and f"not on branch verda/{PROJECT}" in result.stderr
