"""`verda-patch archive` as a package job runs it."""

from __future__ import annotations

import json

import pytest

from tests.test_check import Scenario, build


@pytest.fixture
def scenario(make_upstream, make_patch_repo) -> Scenario:
    return build(make_upstream, make_patch_repo)


def test_archive_json_and_output(scenario, tmp_path):
    out = tmp_path / "dist" / "sample.tar.gz"
    result = scenario.repo.run("--json", "archive", "sample", "-o", str(out))
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["archive"] == str(out) and out.is_file()
    assert doc["version"].startswith("1.0.0+verda.3.g")
    assert len(doc["sha256"]) == 64
    assert doc["manifest"]["base"]["commit"] == scenario.base


def test_archive_twice_same_sha(scenario, tmp_path):
    first = scenario.repo.run("archive", "sample", "-o", str(tmp_path / "a.tgz"))
    second = scenario.repo.run("archive", "sample", "-o", str(tmp_path / "b.tgz"))
    assert first.exit_code == second.exit_code == 0
    assert (tmp_path / "a.tgz").read_bytes() == (tmp_path / "b.tgz").read_bytes()
    assert "sha256" in first.stdout


def test_bad_version_is_exit_2(scenario, tmp_path):
    result = scenario.repo.run(
        "archive", "sample", "--pkg-version", "v1 final", "-o", str(tmp_path / "a.tgz")
    )
    assert result.exit_code == 2
    assert "PEP 440" in result.stderr
