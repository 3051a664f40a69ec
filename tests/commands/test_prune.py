"""`verda-patch prune`: dry run by default, --yes removes exactly the merged set, JSON shape."""

from __future__ import annotations

import json
from pathlib import Path

from tests.builders import PatchRepo, git, sample_upstream
from tests.test_merged import (  # noqa: F401 - fixtures
    CUS,
    EXPECTED,
    PROJECT,
    Scenario,
    built_scenario,
    scenario,
)

KINDS = {"same-commit", "cherry-picked-from", "change-id", "patch-id", "reverse-apply"}
HEX40 = set("0123456789abcdef")


def _files(repo: PatchRepo) -> set[str]:
    folder = repo.path / "patches" / PROJECT
    return {str(p.relative_to(folder)) for p in folder.rglob("*.patch")}


def _merged(target: str, customs: bool = False) -> set[str]:
    return {
        f
        for f, (status, _, _) in EXPECTED[target].items()
        if status == "merged" and (customs or not f.startswith(CUS))
    }


def test_dry_run_prints_a_table_and_deletes_nothing(scenario: Scenario) -> None:  # noqa: F811
    result = scenario.repo.run("prune", PROJECT, "--against", "stable/1")
    assert result.exit_code == 0, result.output
    out = result.stdout
    for file in EXPECTED["stable/1"]:
        assert file in out
    assert "cherry-picked-from" in out and "reverse-apply" in out
    assert "identical" in out and "modified: 1 line only here, 1 only upstream" in out
    assert "8 merged, 2 partial, 2 absent" in out
    assert "Forecast: nothing removed" in out
    assert "'verda-patch base bump svc stable/1' moves the base and drops the 7 merged" in out
    assert "kept customs/0002-Verda-add-helper.patch" in out
    assert _files(scenario.repo) == set(EXPECTED["stable/1"])
    assert git(scenario.repo.path, "status", "--porcelain") == ""
    assert not (scenario.repo.path / ".verda" / "work").exists()  # no work tree needed


def test_json_has_the_spec_shape(scenario: Scenario) -> None:  # noqa: F811
    result = scenario.repo.run("--json", "prune", PROJECT, "--against", "1.0.2")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["project"] == PROJECT
    assert doc["against"] == {"ref": "1.0.2", "commit": scenario.upstream.rev("1.0.2")}
    assert [p["file"] for p in doc["patches"]] == list(EXPECTED["1.0.2"])
    for record in doc["patches"]:
        assert {"file", "status", "match", "upstream", "identical", "removed"} <= set(record)
        assert record["status"] in {"merged", "partial", "absent"}
        assert record["match"] in KINDS | {None}
        assert all(len(c) == 40 and set(c) <= HEX40 for c in record["upstream"])
        assert isinstance(record["identical"], bool)
        assert record["removed"] is False
        expected = EXPECTED["1.0.2"][record["file"]]
        assert (record["status"], record["match"], record["identical"]) == expected
    assert doc["summary"] == {"merged": 8, "partial": 2, "absent": 2, "removable": 7, "removed": 0}


def test_json_flag_after_the_command(scenario: Scenario) -> None:  # noqa: F811
    result = scenario.repo.run("prune", PROJECT, "--against", "1.0.1", "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert {p["file"] for p in doc["patches"] if p["status"] == "merged"} == _merged("1.0.1")


def test_yes_removes_exactly_the_merged_set(scenario: Scenario) -> None:  # noqa: F811
    scenario.pin("stable/1")
    dry = scenario.repo.run("prune", PROJECT)
    assert "Dry run: nothing removed" in dry.stdout and "--yes' removes the 7 merged" in dry.stdout
    result = scenario.repo.run("prune", PROJECT, "--yes")
    assert result.exit_code == 0, result.output
    gone = _merged("stable/1")
    assert _files(scenario.repo) == set(EXPECTED["stable/1"]) - gone
    for file in gone:
        assert f"removed {file}" in result.stdout
    assert "7 patch files removed" in result.stdout
    folder = scenario.repo.path / "patches" / PROJECT
    assert (folder / "cherry-pick" / "series").read_text() == (
        "# backports\n0003-Fix-f2_1.patch\n0004-Fix-f3_1-and-f4_1.patch\n"
    )
    assert (folder / "general" / "series").read_text() == "0004-Fix-f0_20-and-f7_20.patch\n"
    # partial and customs stay; a second run finds nothing more to remove
    again = scenario.repo.run("--json", "prune", PROJECT, "--yes")
    assert json.loads(again.stdout)["summary"]["removed"] == 0


def test_yes_json_reports_removed_and_include_customs(scenario: Scenario) -> None:  # noqa: F811
    scenario.pin("stable/1")
    result = scenario.repo.run("--json", "prune", PROJECT, "--yes", "--include-customs")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    removed = {p["file"] for p in doc["patches"] if p["removed"]}
    assert removed == _merged("stable/1", customs=True)
    assert all(p["status"] == "merged" for p in doc["patches"] if p["removed"])
    assert _files(scenario.repo) == set(EXPECTED["stable/1"]) - removed


def test_yes_beyond_the_base_is_refused_and_touches_nothing(scenario: Scenario) -> None:  # noqa: F811
    before = _files(scenario.repo)
    result = scenario.repo.run("prune", PROJECT, "--against", "1.0.1", "--yes")
    assert result.exit_code == 2
    assert "forecast" in result.stderr and "nothing was removed" in result.stderr
    assert "'verda-patch base bump svc 1.0.1'" in result.stderr
    assert _files(scenario.repo) == before
    assert git(scenario.repo.path, "status", "--porcelain") == ""


def test_yes_against_a_ref_the_base_holds_removes_what_it_has(scenario: Scenario) -> None:  # noqa: F811
    scenario.pin("1.0.2")
    result = scenario.repo.run("prune", PROJECT, "--against", "1.0.1", "--yes")
    assert result.exit_code == 0, result.output
    assert _files(scenario.repo) == set(EXPECTED["1.0.1"]) - _merged("1.0.1")
    assert len(_merged("1.0.1")) == 2


def test_unknown_ref_is_exit_2_naming_ref_and_upstream(scenario: Scenario) -> None:  # noqa: F811
    result = scenario.repo.run("prune", PROJECT, "--against", "stable/9")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "'stable/9'" in result.stderr and str(scenario.upstream.path) in result.stderr
    assert _files(scenario.repo) == set(EXPECTED["stable/1"])


def test_unknown_project_is_exit_2(scenario: Scenario) -> None:  # noqa: F811
    result = scenario.repo.run("prune", "nova")
    assert result.exit_code == 2
    assert "unknown project 'nova'" in result.stderr


def test_project_without_patches(tmp_path: Path) -> None:
    up = sample_upstream(tmp_path / "up")
    repo = PatchRepo(tmp_path / "repo")
    repo.set_base("sample", up, up.rev("1.0.0"), ref="1.0.0")
    result = repo.run("--json", "prune", "sample")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["patches"] == [] and doc["against"] == {"ref": "1.0.0", "commit": up.rev("1.0.0")}
