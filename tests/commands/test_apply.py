"""`verda-patch apply` as a user runs it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.builders import git, side_commit, write_series


@pytest.fixture
def repo(make_upstream, make_patch_repo):
    up = make_upstream()
    base = up.rev("1.0.0")
    a = side_commit(
        up, base, "Raise core quota", {"sample/quota.py": "LIMITS = {'cores': 40, 'ram': 51200}\n"}
    )
    clash = side_commit(
        up, base, "Lower core quota", {"sample/quota.py": "LIMITS = {'cores': 8, 'ram': 51200}\n"}
    )
    repo = make_patch_repo()
    repo.set_base("sample", up, base, ref="1.0.0")
    write_series(repo, up, "sample", "customs", [a])
    repo.clash = up.format_patch(clash)  # type: ignore[attr-defined]
    return repo


def test_apply_json_shape(repo):
    result = repo.run("--json", "apply", "sample")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    (entry,) = doc["projects"]
    assert {"project", "work_tree", "branch", "head", "applied"} <= set(entry)
    assert entry["branch"] == "verda/sample"
    assert entry["applied"] == ["customs/0001-Raise-core-quota.patch"]
    assert len(entry["head"]) == 40


def test_apply_all_and_human_output(repo):
    result = repo.run("apply", "--all")
    assert result.exit_code == 0, result.stderr
    assert "sample: 1 patches" in result.stdout


def test_unknown_project_is_exit_2(repo):
    result = repo.run("apply", "neutron")
    assert result.exit_code == 2
    assert "unknown project 'neutron'" in result.stderr
    assert "sample" in result.stderr
    assert "Traceback" not in result.stderr


def test_no_project_is_exit_2(repo):
    result = repo.run("apply")
    assert result.exit_code == 2
    assert "--all" in result.stderr


def test_conflict_then_continue(repo):
    repo.add_patch("sample", "customs", "0002-clash.patch", repo.clash)
    result = repo.run("apply", "sample")
    assert result.exit_code == 1
    assert "customs/0002-clash.patch" in result.stderr
    assert "sample/quota.py" in result.stderr
    assert "apply --continue sample" in result.stderr
    tree = repo.path / ".verda/work/sample"
    (tree / "sample/quota.py").write_text("LIMITS = {'cores': 8, 'ram': 51200}\n")
    git(tree, "add", "sample/quota.py")
    result = repo.run("apply", "--continue", "sample")
    assert result.exit_code == 0, result.stderr
    assert git(tree, "log", "-1", "--format=%s") == "Lower core quota"


def test_conflict_then_abort(repo):
    assert repo.run("apply", "sample").exit_code == 0
    head = git(repo.path / ".verda/work/sample", "rev-parse", "HEAD")
    repo.add_patch("sample", "customs", "0002-clash.patch", repo.clash)
    assert repo.run("apply", "sample").exit_code == 1
    result = repo.run("apply", "--abort", "sample")
    assert result.exit_code == 0, result.stderr
    assert head[:12] in result.stderr
    assert git(repo.path / ".verda/work/sample", "rev-parse", "HEAD") == head


def test_continue_without_apply_is_exit_2(repo):
    result = repo.run("apply", "--continue", "sample")
    assert result.exit_code == 2
    assert "nothing to continue" in result.stderr


def test_force_names_backup_ref(repo):
    assert repo.run("apply", "sample").exit_code == 0
    (repo.path / ".verda/work/sample/README.rst").write_text("mine\n")
    refused = repo.run("apply", "sample")
    assert refused.exit_code == 1
    assert "uncommitted changes" in refused.stderr
    forced = repo.run("apply", "--force", "sample")
    assert forced.exit_code == 0
    assert "refs/verda/backup/sample/" in forced.stderr


def test_broken_patch_is_exit_2_before_touching_anything(repo):
    repo.add_patch("sample", "customs", "0002-broken.patch", "this is not a patch\n")
    result = repo.run("apply", "sample")
    assert result.exit_code == 2
    assert "0002-broken.patch" in result.stderr
    assert not (repo.path / ".verda/work/sample").exists()


def test_apply_patch_script_runs_verda_patch(repo):
    script = repo.path / "scripts/apply_patch.sh"
    script.parent.mkdir()
    from verda_patch.scaffold import template

    script.write_bytes(template("apply_patch.sh"))
    script.chmod(0o755)
    bindir = os.path.dirname(sys.executable)
    env = {**os.environ, "PATH": bindir + os.pathsep + os.environ["PATH"]}
    env["VERDA_PATCH_UNTRUSTED"] = "0"  # a local upstream: the script is untrusted by default
    proc = subprocess.run([str(script), "sample"], capture_output=True, env=env, check=False)
    assert proc.returncode == 0, proc.stderr.decode()
    assert (repo.path / ".verda/work/sample/sample/quota.py").exists()
    # without verda-patch on PATH it says what to install
    env["PATH"] = "/usr/bin:/bin"
    proc = subprocess.run([str(script), "sample"], capture_output=True, env=env, check=False)
    assert proc.returncode == 127
    assert b"not installed" in proc.stderr


def _new_file_patch(i: int) -> str:
    return (
        "From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\n"
        "From: Dev <dev@example.org>\n"
        f"Date: Mon, 1 Jan 2024 00:{i // 60 % 60:02d}:{i % 60:02d} +0000\n"
        f"Subject: [PATCH] Add extra module {i}\n\n---\n"
        f"diff --git a/sample/extra_{i}.py b/sample/extra_{i}.py\n"
        "new file mode 100644\n--- /dev/null\n"
        f"+++ b/sample/extra_{i}.py\n@@ -0,0 +1 @@\n+X = {i}\n"
    )


def test_interrupted_apply_recovers_on_plain_rerun(make_upstream, make_patch_repo):
    up = make_upstream()
    repo = make_patch_repo()
    repo.set_base("sample", up, up.rev("1.0.0"))
    for i in range(400):
        repo.add_patch("sample", "customs", f"{i + 1:04d}-extra-{i}.patch", _new_file_patch(i))
    argv = [sys.executable, "-m", "verda_patch", "--repo", str(repo.path), "apply", "sample"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    state = repo.path / ".verda/work/sample/.git/verda-patch/apply.json"
    deadline = time.monotonic() + 60
    while not (repo.path / ".verda/work/sample/.git/rebase-apply").exists():
        assert time.monotonic() < deadline, "apply never started git am"
        if proc.poll() is not None:
            pytest.skip("apply finished before the interrupt could land")
        time.sleep(0.005)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    if proc.returncode == 0:
        pytest.skip("apply finished before the interrupt landed")
    assert proc.returncode == 130, err.decode()
    assert b"Traceback" not in err
    assert state.exists()
    rerun = repo.run("--json", "apply", "sample")
    assert rerun.exit_code == 0, rerun.stderr
    assert len(json.loads(rerun.stdout)["projects"][0]["applied"]) == 400
    assert not state.exists()
