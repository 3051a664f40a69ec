"""`verda-patch review` as a user runs it."""

from __future__ import annotations

import json

import pytest

from tests.test_check import GENERAL, Scenario, build


@pytest.fixture
def scenario(make_upstream, make_patch_repo) -> Scenario:
    return build(make_upstream, make_patch_repo)


def test_review_then_check(scenario):
    stale = scenario.repo.run("review", "sample", "--check")
    assert stale.exit_code == 1
    assert "+ review/sample/sample/api.py" in stale.stdout
    assert "review sample" in stale.stderr  # says what to run
    assert not (scenario.repo.path / "review" / "sample").exists()

    written = scenario.repo.run("review", "sample")
    assert written.exit_code == 0, written.stderr
    assert "3 added" in written.stdout
    fresh = scenario.repo.run("review", "sample", "--check")
    assert fresh.exit_code == 0, fresh.stderr
    assert "up to date" in fresh.stdout


def test_removed_patch_shows_as_removed(scenario):
    assert scenario.repo.run("review", "sample").exit_code == 0
    (scenario.patches / GENERAL).unlink()
    result = scenario.repo.run("--json", "review", "sample", "--check")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["removed"] == ["sample/quota.py"] and doc["in_sync"] is False
    assert scenario.repo.run("review", "sample").exit_code == 0
    assert not (scenario.repo.path / "review/sample/sample/quota.py").exists()


def test_review_needs_a_known_project(scenario):
    result = scenario.repo.run("review", "neutron")
    assert result.exit_code == 2
    assert "unknown project" in result.stderr


def test_review_of_a_conflicting_series_is_exit_1(scenario):
    path = scenario.patches / GENERAL
    path.write_text(path.read_text().replace(" LIMITS = {'cores': 20", " LIMITS = {'cores': 99"))
    result = scenario.repo.run("review", "sample")
    assert result.exit_code == 1
    assert GENERAL in result.stderr
    assert not (scenario.repo.path / "review" / "sample").exists()
