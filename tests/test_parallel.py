"""Several projects at once: apply --all builds them in parallel, each line names its project."""

from __future__ import annotations

import json
import threading

from tests.test_prefix import _patch
from verda_patch.parallel import run_each, workers


def _two_projects(make_upstream, make_patch_repo, broken: bool = False):
    up = make_upstream()
    repo = make_patch_repo()
    for name in ("alpha", "beta"):
        repo.set_base(name, up, up.rev("1.0.0"), ref="1.0.0")
        for i in range(3):
            repo.add_patch(
                name, "customs", f"{i + 1:04d}-{name}{i}.patch", _patch(f"{name}{i}", "x")
            )
    if broken:  # beta's last patch adds a file its first one already added
        repo.add_patch("beta", "customs", "0004-again.patch", _patch("beta0", "again"))
    return repo


def test_apply_all_builds_every_project(make_upstream, make_patch_repo):
    repo = _two_projects(make_upstream, make_patch_repo)
    result = repo.run("--json", "apply", "--all")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert [p["project"] for p in doc["projects"]] == ["alpha", "beta"]
    assert all(len(p["applied"]) == 3 for p in doc["projects"])
    again = repo.run("apply", "--all")
    assert again.exit_code == 0
    assert "alpha: up to date" in again.stdout and "beta: up to date" in again.stdout


def test_one_failing_project_does_not_stop_the_others(make_upstream, make_patch_repo):
    repo = _two_projects(make_upstream, make_patch_repo, broken=True)
    result = repo.run("apply", "--all")
    assert result.exit_code == 1
    assert "alpha: " in result.stdout  # built
    assert "0004-again.patch" in result.stderr
    assert (repo.path / ".verda" / "work" / "alpha" / "alpha2.txt").is_file()


def test_run_each_keeps_order_and_errors():
    seen = set()

    def work(item: str) -> str:
        seen.add(threading.current_thread().name)
        if item == "b":
            raise ValueError("bad b")
        return item.upper()

    out = run_each(["a", "b", "c"], work, threads=2)
    assert out[0] == "A" and out[2] == "C" and isinstance(out[1], ValueError)
    assert workers(1) == 1 and workers(100) >= 1


def test_check_without_project_checks_every_project(make_upstream, make_patch_repo):
    repo = _two_projects(make_upstream, make_patch_repo, broken=True)
    result = repo.run("--json", "check")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    failed = {r["project"] for r in doc["results"] if r["status"] == "fail"}
    assert failed == {"beta"}
    assert {r["project"] for r in doc["results"]} >= {"alpha", "beta"}
