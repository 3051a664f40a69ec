"""`verda-patch list`: apply order, the SPEC's JSON shape, errors as exit 2."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.builders import PatchRepo, Upstream, change_id, git, side_commit, write_series
from verda_patch.cli import cli

# SPEC "JSON shapes": these keys, never renamed; extra keys are listed in
# docs/reference/json-output.md and pinned here so adding one is deliberate
PROJECT_KEYS = {"project", "base", "patches"}
BASE_KEYS = {"upstream", "commit", "ref", "branch"}
PATCH_KEYS = {
    "file",
    "category",
    "subject",
    "author",
    "date",
    "change_id",
    "cherry_picked_from",
    "files",
}
PATCH_EXTRA_KEYS = {"change_ids", "dep3"}
ISO_8601 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")


@pytest.fixture
def scene(make_upstream, make_patch_repo):
    """nova with a cherry-pick, two general fixes (series order) and a custom plain diff."""
    up: Upstream = make_upstream("nova-upstream")
    base = up.rev("1.0.0")
    upstream_fix = up.commit(
        "Fix the weigher", {"sample/scheduler.py": "def weigh(h):\n    return 0\n"}
    )
    picked = side_commit(
        up,
        base,
        "Fix the weigher",
        {"sample/scheduler.py": "def weigh(h):\n    return 0\n"},
        trailers=(f"(cherry picked from commit {upstream_fix})",),
    )
    second = side_commit(
        up,
        base,
        "[doc] Explain quotas",
        {"README.rst": "Quotas.\n"},
        author="Jörg Müller <joerg@example.org>",
    )
    first = side_commit(
        up, base, "Raise the core quota", {"sample/quota.py": "LIMITS = {'cores': 40}\n"}
    )
    repo: PatchRepo = make_patch_repo("repo")
    repo.set_base("nova", up, base, ref="1.0.0", branch="stable/1.0")
    repo.set_base("glance", "/srv/glance", "a" * 40)
    write_series(repo, up, "nova", "cherry-pick", [picked])
    names = write_series(repo, up, "nova", "general", [second, first])
    repo.series("nova", "general", ["# first the quota, then its docs", names[1], names[0]])
    repo.add_patch(
        "nova",
        "customs",
        "0001-local_branding.diff",
        "diff --git a/README.rst b/README.rst\n--- a/README.rst\n+++ b/README.rst\n"
        "@@ -1,2 +1,2 @@\n-Sample\n+Verda Sample\n ======\n",
    )
    return (
        up,
        repo,
        {
            "picked": picked,
            "upstream_fix": upstream_fix,
            "second": second,
            "first": first,
            "base": base,
        },
    )


SUBJECTS = ["Fix the weigher", "Raise the core quota", "[doc] Explain quotas", "local branding"]


def test_json_has_exactly_the_spec_shape(scene) -> None:
    up, repo, shas = scene
    result = repo.run("--json", "list", "nova")
    assert result.exit_code == 0 and result.stderr == ""
    doc = json.loads(result.stdout)
    assert set(doc) == {"projects"} and len(doc["projects"]) == 1
    project = doc["projects"][0]
    assert set(project) == PROJECT_KEYS
    assert project["project"] == "nova"
    assert project["base"] == {
        "upstream": str(up.path),
        "commit": shas["base"],
        "ref": "1.0.0",
        "branch": "stable/1.0",
    }
    for patch in project["patches"]:
        assert set(patch) == PATCH_KEYS | PATCH_EXTRA_KEYS
        assert isinstance(patch["file"], str) and patch["file"].startswith(patch["category"] + "/")
        assert isinstance(patch["subject"], str)
        assert patch["author"] is None or re.match(r"^.+ <[^>]+>$", patch["author"])
        assert patch["date"] is None or ISO_8601.match(patch["date"])
        assert patch["change_id"] is None or re.match(r"^I[0-9a-f]{40}$", patch["change_id"])
        assert all(isinstance(c, str) for c in patch["cherry_picked_from"])
        assert patch["files"] and all(isinstance(f, str) for f in patch["files"])


def test_json_values_come_from_the_patches_in_apply_order(scene) -> None:
    up, repo, shas = scene
    patches = json.loads(repo.run("--json", "list", "nova").stdout)["projects"][0]["patches"]
    assert [p["subject"] for p in patches] == SUBJECTS
    assert [p["file"] for p in patches] == [
        "cherry-pick/0001-Fix-the-weigher.patch",
        "general/0002-Raise-the-core-quota.patch",
        "general/0001-doc--Explain-quotas.patch",
        "customs/0001-local_branding.diff",
    ]
    picked, quota, docs, plain = patches
    assert picked["cherry_picked_from"] == [shas["upstream_fix"]]
    assert picked["change_id"] == change_id("Fix the weigher")
    assert picked["files"] == ["sample/scheduler.py"]
    assert docs["author"] == "Jörg Müller <joerg@example.org>"
    assert (
        docs["change_id"]
        == git(
            up.path, "log", "-1", "--format=%(trailers:key=Change-Id,valueonly)", shas["second"]
        ).strip()
    )
    when = git(up.path, "log", "-1", "--format=%aI", shas["first"])
    assert quota["date"] == when.replace("Z", "+00:00")
    assert (plain["author"], plain["date"], plain["change_id"]) == (None, None, None)
    assert plain["cherry_picked_from"] == [] and plain["files"] == ["README.rst"]


def test_list_without_project_lists_every_project_in_base_commit_order(scene) -> None:
    _, repo, _ = scene
    doc = json.loads(repo.run("--json", "list").stdout)
    assert [(p["project"], len(p["patches"])) for p in doc["projects"]] == [
        ("nova", 4),
        ("glance", 0),
    ]


def test_table_shows_subjects_in_apply_order(scene) -> None:
    _, repo, shas = scene
    result = repo.run("list", "nova")
    assert result.exit_code == 0 and result.stderr == ""
    out = result.stdout
    positions = [out.index(subject) for subject in SUBJECTS]
    assert positions == sorted(positions)
    assert "nova @ 1.0.0  (4 patches)" in out
    for column in ("category", "file", "subject", "author", "Change-Id", "files"):
        assert column in out
    assert "[doc] Explain quotas" in out  # a bracket tag is text, not rich markup
    assert "Jörg Müller" in out and change_id("Raise the core quota")[:12] in out


def test_unknown_project_is_exit_2_listing_the_known(scene) -> None:
    _, repo, _ = scene
    for args in (("list", "cinder"), ("--json", "list", "cinder")):
        result = repo.run(*args)
        assert result.exit_code == 2
        assert result.stdout == ""
        assert result.stderr.startswith("error: ")
        assert "unknown project 'cinder' (known: nova, glance)" in result.stderr
        assert "base-commit" in result.stderr and "Traceback" not in result.stderr


CORRUPT = (
    "diff --git a/README.rst b/README.rst\n--- a/README.rst\n+++ b/README.rst\n"
    "@@ -1,3 +1,3 @@\n-Sample\n+Verda\n"
)


def test_broken_patches_are_each_named_after_every_readable_one_is_listed(scene) -> None:
    # issue 15: one bad file used to hide the whole repo (exit 2, empty stdout)
    _, repo, _ = scene
    repo.add_patch("nova", "customs", "0002-notes.patch", "TODO: write the patch\n")
    repo.add_patch("nova", "customs", "0003-short-hunk.patch", CORRUPT)
    result = repo.run("--json", "list", "nova")
    assert result.exit_code == 2
    doc = json.loads(result.stdout)  # still one JSON document
    assert [p["subject"] for p in doc["projects"][0]["patches"]] == SUBJECTS
    errors = {e["file"]: e for e in doc["errors"]}
    assert set(errors) == {"customs/0002-notes.patch", "customs/0003-short-hunk.patch"}
    assert errors["customs/0002-notes.patch"]["message"] == "no diff found"
    short = errors["customs/0003-short-hunk.patch"]
    assert short["line"] == 7 and "ends early" in short["message"]
    # the claim about git was checked against git itself
    assert "git refuses it too (git apply: " in short["hint"]
    assert (
        "git refuses it too (git am: the patch is empty)"
        in errors["customs/0002-notes.patch"]["hint"]
    )
    assert "2 patch files cannot be read" in result.stderr
    assert "0002-notes.patch: no diff found" in result.stderr
    assert "0003-short-hunk.patch:7: corrupt patch" in result.stderr
    text = repo.run("list", "nova")
    assert text.exit_code == 2
    assert "nova @ 1.0.0  (4 patches, 2 unreadable)" in text.stdout
    assert "Raise the core quota" in text.stdout
    assert "0002-notes.patch" in text.stderr and "0003-short-hunk.patch" in text.stderr


def test_apply_names_every_unreadable_file_before_touching_anything(scene, monkeypatch) -> None:
    _, repo, _ = scene
    repo.add_patch("nova", "customs", "0002-notes.patch", "TODO: write the patch\n")
    repo.add_patch("nova", "customs", "0003-short-hunk.patch", CORRUPT)
    monkeypatch.chdir(repo.path)
    result = CliRunner().invoke(cli, ["apply", "nova"], catch_exceptions=False)
    assert result.exit_code == 2
    # each file named as the user sees it from where they typed the command
    assert "patches/nova/customs/0002-notes.patch: no diff found" in result.stderr
    assert "patches/nova/customs/0003-short-hunk.patch:7: corrupt patch" in result.stderr
    assert not (repo.path / ".verda" / "work" / "nova").exists()


def test_series_error_is_exit_2_naming_series_and_line(scene) -> None:
    _, repo, _ = scene
    series = repo.path / "patches" / "nova" / "general" / "series"
    series.write_text(series.read_text() + "0009-gone.patch\n")
    result = repo.run("list", "nova")
    assert result.exit_code == 2 and result.stdout == ""
    assert "general/series:4: series names '0009-gone.patch'" in result.stderr


def test_list_finds_the_repo_from_a_subdirectory(scene, monkeypatch) -> None:
    _, repo, _ = scene
    monkeypatch.chdir(repo.path / "patches" / "nova" / "general")
    result = CliRunner().invoke(cli, ["--json", "list", "nova"], catch_exceptions=False)
    assert result.exit_code == 0
    assert len(json.loads(result.stdout)["projects"][0]["patches"]) == 4


def test_list_outside_a_patch_repo_says_what_to_do(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["list"], catch_exceptions=False)
    assert result.exit_code == 2 and result.stdout == ""
    assert "no base-commit found" in result.stderr and "verda-patch init" in result.stderr
    other = CliRunner().invoke(cli, ["--repo", str(tmp_path), "list"], catch_exceptions=False)
    assert other.exit_code == 2 and "is not a patch repo: it has no base-commit" in other.stderr


def test_repo_from_environment_variable(scene, monkeypatch, tmp_path: Path) -> None:
    _, repo, _ = scene
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VERDA_PATCH_REPO", str(repo.path))
    result = CliRunner().invoke(cli, ["--json", "list"], catch_exceptions=False)
    assert result.exit_code == 0 and json.loads(result.stdout)["projects"][0]["project"] == "nova"


def test_list_does_not_touch_the_repo(scene) -> None:
    _, repo, _ = scene
    repo.commit_all("patches")
    assert repo.run("list").exit_code == 0
    assert git(repo.path, "status", "--porcelain", "--ignored") == ""


def test_list_at_80_columns_one_line_per_patch_file_whole(
    make_upstream, make_patch_repo, monkeypatch
):
    # issue 17: tables readable at 80 columns, list one line per patch
    from rich.console import Console

    from verda_patch import cli as cli_module

    # a terminal 80 columns wide (output that is not a terminal is always 200)
    monkeypatch.setattr(
        cli_module, "_console", lambda stream: Console(file=stream, width=80, soft_wrap=False)
    )

    up = make_upstream()
    repo = make_patch_repo()
    repo.set_base("sample", up, up.rev("1.0.0"), ref="1.0.0")
    names = [
        f"{i:04d}-{'Make-the-scheduler-prefer-hosts-with-free-RAM'[: 20 + i]}.patch"
        for i in range(1, 4)
    ]
    for name in names:
        repo.add_patch("sample", "general", name, up.format_patch("HEAD"))
    result = repo.run("list", "sample")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert all(len(line.rstrip()) <= 80 for line in lines), result.stdout
    for name in names:
        assert sum(name in line for line in lines) == 1, name
