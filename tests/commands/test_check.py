"""`verda-patch check` as CI runs it: exit codes, JSON on stdout, JUnit file, stderr."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from tests.test_check import CHERRY, GENERAL, Scenario, build


@pytest.fixture
def scenario(make_upstream, make_patch_repo) -> Scenario:
    return build(make_upstream, make_patch_repo)


def test_good_repo_exits_0_with_json_and_junit(scenario, tmp_path):
    junit = tmp_path / "out" / "check.xml"
    result = scenario.repo.run("--json", "check", "--junit", str(junit))
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["ok"] is True
    assert {r["check"] for r in doc["results"]} >= {"config", "parse", "apply", "export"}
    root = ET.parse(junit).getroot()
    assert root.get("failures") == "0"
    names = [c.get("name") for c in root.iter("testcase")]
    assert "0001-Fix-api-3.patch" in names


def test_human_output_lists_each_check(scenario):
    result = scenario.repo.run("check")
    assert result.exit_code == 0, result.stderr
    for check in ("config", "series", "parse", "apply", "export", "review"):
        assert check in result.stdout
    assert "all checks passed" in result.stdout


def test_conflict_is_exit_1_naming_file_and_path(scenario, tmp_path):
    path = scenario.patches / GENERAL
    path.write_text(path.read_text().replace(" LIMITS = {'cores': 20", " LIMITS = {'cores': 99"))
    junit = tmp_path / "check.xml"
    result = scenario.repo.run("check", "--junit", str(junit))
    assert result.exit_code == 1
    assert f"patches/sample/{GENERAL}" in result.stderr
    assert "sample/quota.py" in result.stderr
    assert "Traceback" not in result.stderr
    failed = [
        c for c in ET.parse(junit).getroot().iter("testcase") if c.find("failure") is not None
    ]
    assert [c.get("name") for c in failed] == [GENERAL.split("/")[1]]


def test_unparseable_patch_is_reported_not_crashed_on(scenario):
    (scenario.patches / CHERRY).write_bytes(b"\0binary junk")
    result = scenario.repo.run("--json", "check")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    (bad,) = [r for r in doc["results"] if not r["ok"]]
    assert (bad["check"], bad["file"]) == ("parse", CHERRY)
    assert "NUL" in bad["message"] or "binary" in bad["message"]


def test_broken_base_commit_is_exit_2_and_still_reported(scenario, tmp_path):
    (scenario.repo.path / "base-commit").write_text("sample:\n  upstream: x\n  commit: 123\n")
    junit = tmp_path / "check.xml"
    result = scenario.repo.run("--json", "check", "--junit", str(junit))
    assert result.exit_code == 2
    assert "base-commit:3" in result.stderr
    doc = json.loads(result.stdout)
    assert doc["ok"] is False
    assert doc["results"][0]["check"] == "config"
    assert doc["results"][0]["line"] == 3
    failure = next(ET.parse(junit).getroot().iter("failure"))
    assert "base-commit" in failure.get("message")


def test_unknown_project_is_exit_2(scenario):
    result = scenario.repo.run("check", "neutron")
    assert result.exit_code == 2
    assert "unknown project 'neutron'" in result.stderr


def test_one_project_and_against(scenario):
    scenario.up.commit("Unrelated upstream change", {"README.rst": "Sample\n=====\n\nMore.\n"})
    result = scenario.repo.run("--json", "check", "sample", "--against", "master")
    assert result.exit_code == 0, result.stderr
    forward = [r for r in json.loads(result.stdout)["results"] if r["check"] == "forward"]
    assert len(forward) == 4 and all(r["ok"] for r in forward)


def test_against_an_unknown_ref_fails_the_forward_check(scenario):
    result = scenario.repo.run("--json", "check", "--against", "no-such-branch")
    assert result.exit_code == 1
    (bad,) = [r for r in json.loads(result.stdout)["results"] if not r["ok"]]
    assert bad["check"] == "forward" and "no-such-branch" in bad["message"]


def test_markdown_report_for_a_pull_request(scenario, tmp_path):
    # issue 17: per project the patches by category, what failed and why, the forecast
    path = scenario.patches / GENERAL
    path.write_text(path.read_text().replace(" LIMITS = {'cores': 20", " LIMITS = {'cores': 99"))
    summary = tmp_path / "summary.md"
    result = scenario.repo.run("check", "--markdown", str(summary), "--against", "master")
    assert result.exit_code == 1
    text = summary.read_text()
    assert text.startswith("## verda-patch check: ❌ ")
    assert "### sample" in text
    assert "| category | patches | passed | failed |" in text
    assert "| general | 1 | 0 | 1 |" in text
    assert f"❌ **apply** `patches/sample/{GENERAL}`" in text
    assert "`sample/quota.py`" in text
    assert "**Forecast per release** (`--against`)" in text and "| patch | master |" in text
    assert "all checks passed" not in result.stdout  # the terminal report is printed too


def test_markdown_on_stdout(scenario):
    result = scenario.repo.run("check", "--markdown", "-")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("## verda-patch check: ✅ all checks passed\n")
    assert "| apply | ✅ | 3/3 patches |" in result.stdout
