"""`verda-patch base show|set|bump` as a release engineer runs them."""

from __future__ import annotations

import json
import re

import pytest

from tests.builders import git
from tests.test_bump import FILES, build_template, copy_scenario

PROJECT = "sample"


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return build_template(tmp_path_factory)


@pytest.fixture
def scenario(template, tmp_path):
    return copy_scenario(template, tmp_path)


def _run(s, *args):
    return s.repo.run(*args)


# --- show --------------------------------------------------------------------------------------


def test_show_json_and_text(scenario):
    s = scenario
    result = _run(s, "--json", "base", "show", PROJECT)
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["commit"] == s.old and re.fullmatch(r"[0-9a-f]{40}", doc["commit"])
    assert (doc["ref"], doc["describe"], doc["branch"]) == ("1.0.0", "1.0.0", "master")
    assert doc["ahead"] == 7 and doc["on_branch"] is True
    assert doc["branch_commit"] == s.up.rev("master")
    text = _run(s, "base", "show", PROJECT).stdout
    assert s.old in text and "7 commit(s) ahead" in text and "on the branch" in text


# --- set ---------------------------------------------------------------------------------------


def test_set_keeps_comments_and_other_projects(scenario):
    s = scenario
    before = (s.root / "base-commit").read_text()
    patches = s.snapshot()
    result = _run(s, "base", "set", PROJECT, "2.0.0")
    assert result.exit_code == 0, result.stderr
    assert s.new in result.stdout
    after = (s.root / "base-commit").read_text()
    assert after == before.replace(s.old, s.new).replace("ref: 1.0.0 ", "ref: 2.0.0 ")
    assert {k: v for k, v in s.snapshot().items() if k != "base-commit"} == {
        k: v for k, v in patches.items() if k != "base-commit"
    }
    doc = json.loads(_run(s, "--json", "base", "set", PROJECT, s.old[:12]).stdout)
    assert (doc["commit"], doc["ref"], doc["kind"]) == (s.old, None, "commit")
    assert "ref:" not in (s.root / "base-commit").read_text().split("sample:")[1]
    assert "# Pinned upstream bases. Keep this comment!" in (s.root / "base-commit").read_text()


def test_set_refuses_bad_refs(scenario):
    s = scenario
    before = (s.root / "base-commit").read_bytes()
    for bad in ("--upload-pack=touch /tmp/x", "-x", "HEAD~1"):
        result = _run(s, "base", "set", PROJECT, "--", bad)
        assert result.exit_code == 2, (bad, result.stderr)
    result = _run(s, "base", "set", PROJECT, "9.9.9")
    assert result.exit_code == 2 and "no tag, branch or commit '9.9.9'" in result.stderr
    assert (s.root / "base-commit").read_bytes() == before


# --- bump --------------------------------------------------------------------------------------


def test_bump_without_yes_reports_and_changes_nothing(scenario):
    s = scenario
    before = s.snapshot()
    result = _run(s, "base", "bump", PROJECT, "2.0.0")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "would prune 2 merged (1 identical, 1 modified)" in out
    assert FILES["A"] in out and "same-commit" in out and "identical" in out
    assert "1 partial kept for review" in out
    assert "requirements.txt: oslo.config>=9.0 → oslo.config>=9.4.0" in out
    assert "Re-run with --yes" in out
    assert s.snapshot() == before
    doc = json.loads(_run(s, "--json", "base", "bump", PROJECT, "2.0.0").stdout)
    assert doc["status"] == "planned" and doc["would_prune"] == [FILES["A"], FILES["B"]]
    assert doc["prune"]["against"] == {"ref": "2.0.0", "commit": s.new}
    assert {p["file"]: p["status"] for p in doc["prune"]["patches"]}[FILES["C"]] == "partial"
    assert s.snapshot() == before


def test_bump_conflict_continue_refreshes_with_the_resolution(scenario):
    s = scenario
    result = _run(s, "base", "bump", PROJECT, "2.0.0", "--yes")
    assert result.exit_code == 1
    # the partial squash does not apply exactly: its 3-way merge waits for review
    assert FILES["C"] in result.stderr and "staged for review" in result.stderr
    assert "pruned 2 (1 identical, 1 modified)" in result.stdout
    result = _run(s, "base", "bump", "--continue", PROJECT)
    assert result.exit_code == 1
    assert FILES["E"] in result.stderr and "sample/api.py" in result.stderr
    assert "base bump --continue sample" in result.stderr
    # the bump holds the lock on base-commit and the other commands know it
    assert _run(s, "base", "set", PROJECT, "2.0.0").exit_code == 1
    again = _run(s, "base", "bump", PROJECT, "2.0.0", "--yes")
    assert again.exit_code == 1 and "--continue" in again.stderr
    applying = _run(s, "apply", PROJECT)
    assert applying.exit_code == 1
    assert "'verda-patch base bump --continue sample'" in applying.stderr

    resolved = s.resolve_conflict()
    tree = s.root / ".verda/work/sample"
    git(tree, "add", "sample/api.py")
    result = _run(s, "base", "bump", "--continue", PROJECT)
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "bumped 1.0.0" in out and "→ 2.0.0" in out
    assert "pruned 2 (1 identical, 1 modified)" in out
    assert "refreshed 2" in out and "unchanged 2" in out
    assert "partial, to review: 1" in out and FILES["C"] in out
    assert "requirements.txt: + oslo.db>=16.0.0" in out
    assert "setup.cfg: + python_requires = >=3.10" in out

    # the refreshed files rebuild exactly the resolved tree, with the same commit ids
    head = git(tree, "rev-parse", "HEAD")
    rebuilt = _run(s, "apply", PROJECT)
    assert rebuilt.exit_code == 0, rebuilt.stderr
    assert git(tree, "rev-parse", "HEAD") == head
    assert (tree / "sample/api.py").read_text() == resolved
    assert "VERDA_FACTOR" in s.patch("E").read_text()


def test_bump_abort_restores_byte_for_byte(scenario):
    s = scenario
    assert _run(s, "apply", PROJECT).exit_code == 0
    tree = s.root / ".verda/work/sample"
    head = git(tree, "rev-parse", "HEAD")
    before = s.snapshot()
    assert _run(s, "base", "bump", PROJECT, "2.0.0", "--yes").exit_code == 1
    result = _run(s, "--json", "base", "bump", "--abort", PROJECT)
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["status"] == "aborted" and doc["head"] == head
    assert s.snapshot() == before
    assert git(s.root, "status", "--porcelain") == ""
    assert git(tree, "rev-parse", "HEAD") == head


def test_bump_json_when_done(scenario):
    s = scenario
    s.patch("E").unlink()
    (s.root / "patches/sample/customs/series").write_text("")
    result = _run(s, "--json", "base", "bump", PROJECT, "2.0.0", "--yes")
    assert result.exit_code == 1  # the partial squash's 3-way merge waits for review
    assert json.loads(result.stdout)["conflict"]["patch"] == FILES["C"]
    result = _run(s, "--json", "base", "bump", "--continue", PROJECT)
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["status"] == "done"
    assert doc["from"] == {"commit": s.old, "ref": "1.0.0"}
    assert doc["to"] == {"commit": s.new, "ref": "2.0.0"}
    assert doc["summary"] == {
        "pruned": 2,
        "pruned_identical": 1,
        "pruned_modified": 1,
        "refreshed": 1,
        "unchanged": 2,
        "partial": 1,
        "dropped": 0,
    }
    assert [p["file"] for p in doc["pruned"]] == [FILES["A"], FILES["B"]]
    assert doc["pruned"][0]["match"] and doc["pruned"][0]["upstream"]
    assert {r["name"] for r in doc["requirements"]} == {
        "oslo-config",
        "oslo-db",
        "python",
        "stestr",
    }
    assert all(p["removed"] for p in doc["prune"]["patches"] if p["status"] == "merged")


def test_bump_conflict_json(scenario):
    s = scenario
    result = _run(s, "--json", "base", "bump", PROJECT, "2.0.0", "--yes")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["status"] == "conflict"
    assert doc["conflict"]["patch"] == FILES["C"]
    assert doc["conflict"]["paths"] == ["sample/scheduler.py"]
    result = _run(s, "--json", "base", "bump", "--continue", PROJECT)
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["conflict"]["patch"] == FILES["E"] and doc["conflict"]["paths"] == ["sample/api.py"]


def test_bump_usage_errors(scenario):
    s = scenario
    cases = [
        (("base", "bump", PROJECT), "REF is missing"),
        (("base", "bump", "--continue", PROJECT, "2.0.0"), "take only PROJECT"),
        (("base", "bump", "--continue", "--abort", PROJECT), "alternatives"),
        (("base", "bump", "--continue", PROJECT), "no 'base bump' of sample is in progress"),
        (("base", "bump", "--abort", PROJECT), "nothing to abort"),
        (("base", "bump", "neutron", "2.0.0"), "unknown project 'neutron'"),
    ]
    for args, message in cases:
        result = _run(s, *args)
        assert result.exit_code == 2, (args, result.stderr)
        assert message in result.stderr, (args, result.stderr)


def test_bump_refuses_unsaved_work(scenario):
    s = scenario
    assert _run(s, "apply", PROJECT).exit_code == 0
    (s.root / ".verda/work/sample/README.rst").write_text("mine\n")
    before = s.snapshot()
    dry = _run(s, "base", "bump", PROJECT, "2.0.0")
    assert dry.exit_code == 0 and "--yes will refuse" in dry.stderr
    result = _run(s, "base", "bump", PROJECT, "2.0.0", "--yes")
    assert result.exit_code == 1 and "uncommitted changes (README.rst)" in result.stderr
    assert s.snapshot() == before


def test_a_tag_object_id_as_commit_is_refused_with_the_fix(make_upstream, make_patch_repo):
    # issue 17: base-commit 'commit:' holding an annotated tag's own id was
    # accepted by check and apply (git peeled it) and reported as the base
    from tests.builders import git as tgit

    up = make_upstream()
    tag_object = tgit(up.path, "rev-parse", "1.0.0")
    commit = up.rev("1.0.0")
    assert tag_object != commit
    repo = make_patch_repo()
    repo.set_base("sample", up, tag_object)
    for args in (("apply", "sample"), ("check", "sample")):
        result = repo.run(*args)
        assert result.exit_code == 2, (args, result.output)
        assert "base-commit:" in result.stderr and "is an annotated tag" in result.stderr
        assert f"write 'commit: {commit}'" in result.stderr


def test_init_then_base_set_with_upstream_adds_the_project(make_upstream, tmp_path):
    # issue 17: getting-started's 'init' then 'base set nova 31.0.0 --upstream URL'
    # needed a placeholder commit written by hand first
    from click.testing import CliRunner

    from verda_patch.cli import cli

    up = make_upstream()
    root = tmp_path / "cloud-patches"

    def run(*args):
        return CliRunner().invoke(cli, ["--repo", str(root), *args], catch_exceptions=False)

    assert run("init").exit_code == 0
    comments = (root / "base-commit").read_text()
    result = run("base", "set", "sample", "1.0.0", "--upstream", str(up.path))
    assert result.exit_code == 0, result.output
    assert f"sample: added, upstream {up.path}, pinned to {up.rev('1.0.0')} (1.0.0)" in (
        result.stdout
    )
    text = (root / "base-commit").read_text()
    assert text.startswith(comments)  # the commented example stays as it was
    assert text[len(comments) :] == (
        f"sample:\n  upstream: {up.path}\n  commit: {up.rev('1.0.0')}\n  ref: 1.0.0\n"
    )
    assert run("apply", "sample").exit_code == 0
    again = run("--json", "base", "set", "sample", "1.0.0", "--upstream", str(up.path))
    assert again.exit_code == 0 and json.loads(again.stdout)["changed"] is False


def test_base_set_without_upstream_names_the_option_for_a_new_project(make_patch_repo):
    repo = make_patch_repo()
    (repo.path / "base-commit").write_text("# nothing yet\n")
    result = repo.run("base", "set", "nova", "31.0.0")
    assert result.exit_code == 2 and "unknown project 'nova'" in result.stderr
    assert "'verda-patch base set nova REF --upstream URL'" in result.stderr
