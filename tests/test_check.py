"""`check` on good and broken patch repos: each check its own result, real git, no mocks."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.builders import PatchRepo, Upstream, git, side_commit, write_series
from verda_patch import check as gate
from verda_patch.apply import apply_project
from verda_patch.config import load


@dataclass
class Scenario:
    up: Upstream
    repo: PatchRepo
    base: str
    shas: tuple[str, ...]

    @property
    def patches(self) -> Path:
        return self.repo.path / "patches" / "sample"

    def run(self, **kwargs: object) -> gate.Report:
        return gate.run(load(self.repo.path), **kwargs)  # type: ignore[arg-type]


def build(make_upstream, make_patch_repo) -> Scenario:
    """Upstream 1.0.0 and one patch per category: a backport, a general fix, a custom one."""
    up = make_upstream()
    base = up.rev("1.0.0")
    api = up.read(base, "sample/api.py").decode()
    a = side_commit(
        up, base, "Fix api 3", {"sample/api.py": api.replace("return 3\n", "return 33\n")}
    )
    b = side_commit(
        up,
        a,
        "Reject negative cores",
        {"sample/quota.py": "LIMITS = {'cores': 20, 'ram': 51200}\nMIN = 0\n"},
    )
    c = side_commit(
        up,
        b,
        "Add GPU quota",
        {"sample/gpu.py": "def count(flavor):\n    return flavor.get('gpus', 0)\n"},
        change_id=False,
    )
    repo = make_patch_repo()
    repo.set_base("sample", up, base, ref="1.0.0")
    write_series(repo, up, "sample", "cherry-pick", [a])
    write_series(repo, up, "sample", "general", [b])
    (name,) = write_series(repo, up, "sample", "customs", [c])
    repo.series("sample", "customs", [name])
    repo.commit_all("patches")
    return Scenario(up, repo, base, (a, b, c))


@pytest.fixture
def scenario(make_upstream, make_patch_repo) -> Scenario:
    return build(make_upstream, make_patch_repo)


CHERRY = "cherry-pick/0001-Fix-api-3.patch"
GENERAL = "general/0001-Reject-negative-cores.patch"
CUSTOM = "customs/0001-Add-GPU-quota.patch"


def _by(report: gate.Report, check: str, file: str | None = None) -> list[gate.Result]:
    return [r for r in report.results if r.check == check and (file is None or r.file == file)]


def _summary(report: gate.Report, check: str) -> list[gate.Result]:
    return [r for r in report.results if r.check == check and not r.per_patch and r.file is None]


def _failed(report: gate.Report) -> list[tuple[str, str | None]]:
    return [(r.check, r.file) for r in report.failures]


def test_good_repo_passes_every_check(scenario):
    report = scenario.run()
    assert report.ok, _failed(report)
    assert report.exit_code == 0
    checks = {r.check for r in report.results}
    assert {
        "config",
        "series",
        "parse",
        "cherry-pick-origin",
        "unique-change-id",
        "unique-name",
        "apply",
        "export",
        "review",
    } <= checks
    assert [r.file for r in _by(report, "parse")] == [CHERRY, GENERAL, CUSTOM]
    assert all(r.status == "pass" for r in _by(report, "apply"))
    (review,) = _by(report, "review")
    assert review.status == "skip" and "not kept" in review.message


def test_json_has_the_spec_keys(scenario):
    doc = scenario.run().to_json()
    assert set(doc) == {"ok", "results"}
    assert doc["ok"] is True
    for result in doc["results"]:
        assert {"project", "check", "file", "ok", "message"} <= set(result)
        assert isinstance(result["ok"], bool)


def test_check_never_touches_the_work_tree(scenario):
    config = load(scenario.repo.path)
    tree = apply_project(config, "sample").work_tree
    (tree / "sample" / "api.py").write_text("edited\n")
    head = git(tree, "rev-parse", "HEAD")
    assert gate.run(config).ok
    assert (tree / "sample" / "api.py").read_text() == "edited\n"
    assert git(tree, "rev-parse", "HEAD") == head
    assert not list((scenario.repo.path / ".verda" / "tmp").glob("sample-*"))


def test_unparseable_patches_fail_each_its_own_parse(scenario):
    (scenario.patches / GENERAL).write_text("this is not a patch\n")
    (scenario.patches / CUSTOM).write_text(
        "--- a/README.rst\n+++ b/README.rst\n@@ -1,3 +1,3 @@\n-Sample\n+Verda\n"
    )
    report = scenario.run()
    assert report.exit_code == 1
    assert _failed(report) == [("parse", GENERAL), ("parse", CUSTOM)]
    (bad,) = _by(report, "parse", GENERAL)
    assert bad.path == f"patches/sample/{GENERAL}"
    assert "no diff" in bad.message
    # what git says was asked of git (issue 15), not assumed
    assert "git refuses it too (git am: the patch is empty)" in bad.message
    (short,) = _by(report, "parse", CUSTOM)
    assert "ends early" in short.message and "git refuses it too (git apply: " in short.message
    # apply cannot run on a half-parsed series: skipped, not passed
    assert {r.status for r in _by(report, "apply")} == {"skip"}


def test_series_mismatch_is_reported_with_every_problem(scenario):
    scenario.repo.series("sample", "customs", ["0009-gone.patch", "0009-gone.patch"])
    report = scenario.run()
    assert report.exit_code == 1
    (series,) = [r for r in _by(report, "series") if not r.ok]
    assert series.file == "customs/series"
    assert series.line == 1
    assert "'0009-gone.patch' does not exist" in series.message
    assert "listed twice" in series.message
    assert "0001-Add-GPU-quota.patch is not listed" in series.message
    # every patch file is still parsed and reported
    assert [r.status for r in _by(report, "parse")] == ["pass"] * 3
    assert {r.status for r in _by(report, "apply")} == {"skip"}


def test_stray_folder_and_patch_outside_a_category(scenario):
    (scenario.patches / "backports").mkdir()
    (scenario.patches / "0001-loose.patch").write_bytes((scenario.patches / GENERAL).read_bytes())
    report = scenario.run()
    failed = [r.file for r in _by(report, "series") if not r.ok]
    assert failed == ["0001-loose.patch", "backports/"]


def test_duplicate_change_id_fails_both_patches(scenario, make_upstream):
    cherry = (scenario.patches / CHERRY).read_text()
    change_id = next(line for line in cherry.splitlines() if line.startswith("Change-Id:"))
    general = scenario.patches / GENERAL
    text = general.read_text()
    old = next(line for line in text.splitlines() if line.startswith("Change-Id:"))
    general.write_text(
        text.replace(old, change_id.lower().replace("change-id", "Change-Id").replace(": i", ": I"))
    )
    report = scenario.run()
    assert sorted(_failed(report)) == [("unique-change-id", CHERRY), ("unique-change-id", GENERAL)]
    (one,) = _by(report, "unique-change-id", CHERRY)
    assert GENERAL in one.message


def test_cherry_pick_without_origin_fails(scenario):
    path = scenario.patches / CHERRY
    path.write_text(
        "".join(
            line + "\n"
            for line in path.read_text().splitlines()
            if not line.startswith("Change-Id:")
        )
    )
    report = scenario.run()
    assert _failed(report) == [("cherry-pick-origin", CHERRY)]
    assert "cherry picked from commit" in report.failures[0].message


def test_cherry_picked_from_line_is_an_origin(scenario):
    path = scenario.patches / CHERRY
    text = "".join(
        line + "\n" for line in path.read_text().splitlines() if not line.startswith("Change-Id:")
    )
    path.write_text(text.replace("\n---\n", f"\n(cherry picked from commit {'a' * 40})\n---\n", 1))
    report = scenario.run()
    (origin,) = _by(report, "cherry-pick-origin", CHERRY)
    assert origin.status == "pass" and "aaaaaaaaaaaa" in origin.message


def test_same_file_name_in_two_categories(scenario):
    name = GENERAL.split("/")[1]
    scenario.repo.add_patch("sample", "customs", name, (scenario.patches / GENERAL).read_bytes())
    scenario.repo.series("sample", "customs", [CUSTOM.split("/")[1], name])
    report = scenario.run()
    failed = {(c, f) for c, f in _failed(report) if c == "unique-name"}
    assert failed == {("unique-name", GENERAL), ("unique-name", f"customs/{name}")}


def test_conflicting_patch_fails_alone_with_paths_and_git_message(scenario):
    path = scenario.patches / GENERAL
    path.write_text(path.read_text().replace(" LIMITS = {'cores': 20", " LIMITS = {'cores': 99"))
    report = scenario.run()
    assert report.exit_code == 1
    assert _failed(report) == [("apply", GENERAL)]
    statuses = {r.file: r.status for r in _by(report, "apply")}
    assert statuses == {CHERRY: "pass", GENERAL: "fail", CUSTOM: "skip", None: "skip"}
    (bad,) = _by(report, "apply", GENERAL)
    assert bad.paths == ("sample/quota.py",)
    assert "sample/quota.py" in bad.message and "verda-patch apply sample" in bad.message
    assert "patch does not apply" in bad.detail
    assert "Applying: Fix api 3" not in bad.detail  # only the failing patch's part of git's output
    assert {r.status for r in _by(report, "export")} == {"skip"}


def test_patch_without_author_passes_export(scenario):
    # SPEC "Patch files": no author means the fixed verda-patch identity, so a file
    # without From: (a quilt or DEP-3 file) is what export would write back (issue 15)
    path = scenario.patches / GENERAL
    path.write_text(
        "".join(
            line + "\n" for line in path.read_text().splitlines() if not line.startswith("From: ")
        )
    )
    report = scenario.run()
    assert _failed(report) == []
    assert {r.status for r in _by(report, "export")} == {"pass"}


def test_custom_source_is_applied_and_reviewed(scenario):
    custom = scenario.repo.path / "custom-source" / "sample" / "etc" / "sample.conf"
    custom.parent.mkdir(parents=True)
    custom.write_text("[DEFAULT]\nvendor = verda\n")
    (scenario.repo.path / "review" / "sample").mkdir(parents=True)
    report = scenario.run()
    (review,) = _by(report, "review")
    assert review.status == "fail"
    assert "etc/sample.conf" in review.paths


def test_stale_review_fails_and_fresh_review_passes(scenario):
    from verda_patch.review import review

    config = load(scenario.repo.path)
    review(config, "sample")
    assert scenario.run().ok
    target = scenario.repo.path / "review" / "sample" / "sample" / "quota.py"
    target.write_text("stale\n")
    (scenario.repo.path / "review" / "sample" / "old.py").write_text("gone upstream\n")
    report = scenario.run()
    assert _failed(report) == [("review", "review/sample")]
    (stale,) = _by(report, "review")
    assert stale.paths == ("old.py", "sample/quota.py")
    assert "verda-patch review sample" in stale.message


def test_orphan_patch_folder_is_a_config_failure(scenario):
    scenario.repo.add_patch(
        "neutron", "general", "0001-x.patch", (scenario.patches / GENERAL).read_bytes()
    )
    report = scenario.run()
    assert _failed(report) == [("config", "patches/neutron/")]
    assert report.exit_code == 2


def test_missing_base_commit_upstream_is_config(scenario):
    scenario.repo.set_base("sample", scenario.up, "f" * 40, ref="1.0.0")
    report = scenario.run()
    assert report.exit_code == 2
    assert [c for c, _ in _failed(report)] == ["config"]
    assert {r.status for r in _by(report, "apply") if r.file} == {"skip"}


def test_config_failed_report():
    from verda_patch.errors import ConfigError

    report = gate.config_failed(
        ConfigError("bad key", file=Path("/r/base-commit"), line=3), Path("/r")
    )
    (only,) = report.results
    assert (only.check, only.file, only.line, only.ok) == ("config", "base-commit", 3, False)
    assert report.exit_code == 2


# --- JUnit ----------------------------------------------------------------------------


def _junit(report: gate.Report) -> ET.Element:
    return ET.fromstring(gate.junit_xml(report))


def test_junit_one_testcase_per_patch_and_per_repo_check(scenario):
    root = _junit(scenario.run())
    cases = {(c.get("classname"), c.get("name")) for c in root.iter("testcase")}
    assert {
        ("sample/cherry-pick", "0001-Fix-api-3.patch"),
        ("sample/general", "0001-Reject-negative-cores.patch"),
        ("sample/customs", "0001-Add-GPU-quota.patch"),
    } <= cases
    assert {
        ("verda-patch", "config"),
        ("sample", "series"),
        ("sample", "apply"),
        ("sample", "export"),
        ("sample", "review"),
    } <= cases
    assert root.get("failures") == "0"
    assert int(root.get("tests")) == len(cases)


def test_junit_failure_names_the_file_path_and_git_message(scenario):
    path = scenario.patches / GENERAL
    path.write_text(path.read_text().replace(" LIMITS = {'cores': 20", " LIMITS = {'cores': 99"))
    root = _junit(scenario.run())
    failed = [c for c in root.iter("testcase") if c.find("failure") is not None]
    assert [(c.get("classname"), c.get("name")) for c in failed] == [
        ("sample/general", "0001-Reject-negative-cores.patch")
    ]
    failure = failed[0].find("failure")
    assert f"patches/sample/{GENERAL}" in failure.get("message")
    assert f"file: patches/sample/{GENERAL}" in failure.text
    assert "paths: sample/quota.py" in failure.text
    assert "patch does not apply" in failure.text
    skipped = [c.get("name") for c in root.iter("testcase") if c.find("skipped") is not None]
    assert "0001-Add-GPU-quota.patch" in skipped
    assert root.get("failures") == "1"


def test_junit_strips_characters_xml_cannot_carry():
    report = gate.Report(
        (gate.Result("p", "apply", None, "fail", "bad \x1b[31mred\x00", detail="git \x07 said"),)
    )
    root = _junit(report)
    failure = next(root.iter("failure"))
    assert "\x1b" not in failure.get("message") and "red" in failure.get("message")


# --- forward check ----------------------------------------------------------------------


def test_forward_check_reports_merged_conflicting_and_applying(scenario):
    up = scenario.up
    a, b, _c = scenario.shas
    # upstream master: backports the cherry-pick, and rewrites quota.py so the general fix clashes
    up.cherry_pick(a)
    up.commit("Rework quota limits", {"sample/quota.py": "LIMITS = {'cores': 64}\n"})
    report = scenario.run(against=["master"])
    forward = {r.file: r for r in _by(report, "forward")}
    assert forward[CHERRY].status == "pass" and "merged in master" in forward[CHERRY].message
    assert forward[GENERAL].status == "fail"
    assert forward[GENERAL].paths == ("sample/quota.py",)
    assert forward[CUSTOM].status == "pass" and "applies on master" in forward[CUSTOM].message
    assert "stops applying on master" in forward[GENERAL].message
    assert "at sample/quota.py" in forward[GENERAL].message
    # the summary counts; the failure belongs to the patch alone
    assert forward[None].status == "pass"
    assert "1 merged there, 1 apply, 1 stop applying" in forward[None].message
    # the checks against the pinned base still pass
    assert _failed(report) == [("forward", GENERAL)]
    assert report.exit_code == 1


def test_forward_check_passes_when_everything_applies(scenario):
    scenario.up.commit("Unrelated upstream change", {"README.rst": "Sample\n======\n\nMore.\n"})
    report = scenario.run(against=["master"])
    assert report.ok, _failed(report)
    (summary,) = _summary(report, "forward")
    assert "0 merged there, 3 apply, 0 stop applying" in summary.message


def test_one_forecast_per_release_as_json_table_and_junit(scenario, tmp_path):
    up = scenario.up
    a, _b, _c = scenario.shas
    up.commit("Unrelated upstream change", {"README.rst": "Sample\n======\n\nMore.\n"})
    up.tag("1.1.0")
    up.cherry_pick(a)
    up.commit("Rework quota limits", {"sample/quota.py": "LIMITS = {'cores': 64}\n"})
    report = scenario.run(against=["1.1.0", "master"])
    got = {(r.against, r.file): (r.forecast, r.paths[:1]) for r in _by(report, "forward") if r.file}
    assert got == {
        ("1.1.0", CHERRY): ("applies", ()),
        ("1.1.0", GENERAL): ("applies", ()),
        ("1.1.0", CUSTOM): ("applies", ()),
        ("master", CHERRY): ("merged", ()),
        ("master", GENERAL): ("stops-applying", ("sample/quota.py",)),
        ("master", CUSTOM): ("applies", ()),
    }
    junit = tmp_path / "junit.xml"
    result = scenario.repo.run(
        "check", "--against", "1.1.0", "--against", "master", "--junit", str(junit)
    )
    assert result.exit_code == 1
    out = " ".join(result.stdout.split())
    assert "forecast per release" in out and "stops-applying at sample/quota.py" in out
    assert "[forward master]" in junit.read_text()
    doc = scenario.repo.run("--json", "check", "--against", "1.1.0", "--against", "master")
    records = [r for r in json.loads(doc.stdout)["results"] if r["check"] == "forward"]
    assert {(r["against"], r["forecast"]) for r in records if r["file"] == CHERRY} == {
        ("1.1.0", "applies"),
        ("master", "merged"),
    }
