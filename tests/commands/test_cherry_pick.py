"""`verda-patch cherry-pick` on the command line."""

from __future__ import annotations

import json

from tests.builders import PatchRepo, Upstream, change_id
from tests.test_authoring import PROJECT, picks_fixture  # noqa: F401


def test_by_change_id_json_names_the_others(
    picks: tuple[Upstream, PatchRepo, dict[str, str]],
) -> None:
    _up, repo, shas = picks
    result = repo.run("--json", "cherry-pick", PROJECT, change_id("quota"))
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["commit"] == shas["quota"] and doc["matched_by"] == "change-id"
    assert doc["others"] == [{"commit": shas["quota-stable"], "branches": ["stable/1.x"]}]
    assert f"is also on: {shas['quota-stable'][:12]} (stable/1.x)" in result.stderr
    assert repo.run("apply", PROJECT).exit_code == 0


def test_conflict_exits_1_and_force_writes(
    picks: tuple[Upstream, PatchRepo, dict[str, str]],
) -> None:
    _up, repo, shas = picks
    result = repo.run("cherry-pick", PROJECT, shas["clash"])
    assert result.exit_code == 1
    assert "does not apply on top of the current series in sample/quota.py" in result.stderr
    assert "add --force" in result.stderr
    assert not (repo.path / "patches").exists()
    result = repo.run("cherry-pick", "--force", PROJECT, shas["clash"])
    assert result.exit_code == 0, result.output
    assert "created patches/sample/cherry-pick/0001-Rewrite-quota.patch" in result.stdout


def test_unknown_rev_exits_2(picks: tuple[Upstream, PatchRepo, dict[str, str]]) -> None:
    _up, repo, _shas = picks
    result = repo.run("cherry-pick", PROJECT, "no-such-branch")
    assert result.exit_code == 2
    assert "'no-such-branch' is no commit, branch or tag of upstream" in result.stderr
    result = repo.run("cherry-pick", PROJECT, "I" + "1" * 40)
    assert result.exit_code == 2 and "carries Change-Id" in result.stderr
