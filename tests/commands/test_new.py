"""`verda-patch new` on the command line, and the whole author loop."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys

from tests.builders import git
from tests.test_export import PROJECT, Setup, setup_fixture, shared_fixture  # noqa: F401


def test_full_loop_apply_edit_new_apply(setup: Setup) -> None:
    assert setup.repo.run("apply", PROJECT).exit_code == 0
    quota = setup.work / "sample" / "quota.py"
    quota.write_text(quota.read_text().replace("'cores': 40", "'cores': 64"))
    result = setup.repo.run("new", PROJECT, "more-cores", "-c", "customs", "-m", "More cores")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"created patches/{PROJECT}/customs/0001-more-cores.patch")
    again = setup.repo.run("apply", PROJECT)
    assert again.exit_code == 0, again.output  # no "unsaved work" refusal
    assert "'cores': 64" in quota.read_text()
    assert setup.wgit("status", "--porcelain") == ""
    assert setup.repo.run("export", PROJECT).stdout == f"{PROJECT}: 0 written, 6 unchanged\n"
    assert setup.status() == f"?? patches/{PROJECT}/customs/0001-more-cores.patch"


def test_same_second_same_size_edit_after_apply_is_not_missed(setup: Setup) -> None:
    # issue 17: a same-size edit within the second the index was written is
    # "racily clean" to git, which then compares contents; new copied the index
    # to a fresh mtime, so git trusted the stale stat data and saw nothing
    assert setup.repo.run("apply", PROJECT).exit_code == 0
    # ctime cannot be set; with it ignored (a common setting) the edit below
    # matches the index's stat data exactly, as a real same-second edit does
    setup.wgit("config", "core.trustctime", "false")
    quota = setup.work / "sample" / "quota.py"
    then = quota.stat().st_mtime_ns - 10**10  # ten seconds ago: the copy is surely later
    os.utime(quota, ns=(then, then))
    setup.wgit("update-index", "--refresh")  # the index records that mtime
    index = setup.work / ".git" / "index"
    os.utime(index, ns=(then, then))  # ... and was written in the same second
    size = quota.stat().st_size
    quota.write_text(quota.read_text().replace("'cores': 40", "'cores': 64"))
    os.utime(quota, ns=(then, then))
    assert quota.stat().st_size == size
    result = setup.repo.run("new", PROJECT, "more-cores", "-c", "customs", "-m", "More cores")
    assert result.exit_code == 0, result.output
    text = (setup.patch_dir("customs") / "0001-more-cores.patch").read_text()
    assert "'cores': 64" in text


def test_closed_stdin_takes_name_as_message(setup: Setup) -> None:
    setup.repo.run("apply", PROJECT)
    (setup.work / "NOTES").write_text("n\n")
    result = setup.repo.run("new", PROJECT, "add-notes", "-c", "customs", input="")
    assert result.exit_code == 0, result.output
    text = (setup.patch_dir("customs") / "0001-add-notes.patch").read_text()
    assert "Subject: [PATCH] add-notes\n" in text


def test_json_warnings_and_author(setup: Setup) -> None:
    setup.repo.run("apply", PROJECT)
    git(setup.work, "config", "user.name", "Rita Repo")
    git(setup.work, "config", "user.email", "rita@example.org")
    (setup.work / "NOTES").write_text("n\n")
    result = setup.repo.run("--json", "new", PROJECT, "notes", "-c", "general", "-m", "Notes")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["files"] == ["general/0006-notes.patch"] and doc["source"] == "uncommitted"
    assert "has no Change-Id" in result.stderr
    text = (setup.patch_dir() / "0006-notes.patch").read_text()
    assert "From: Rita Repo <rita@example.org>" in text


def test_nothing_to_do_exits_1(setup: Setup) -> None:
    setup.repo.run("apply", PROJECT)
    result = setup.repo.run("new", PROJECT, "x", "-c", "customs")
    assert result.exit_code == 1
    assert "nothing to turn into a patch" in result.stderr
    assert not (setup.repo.path / "patches" / PROJECT / "customs").exists()


def test_bad_category_and_m_with_commits_exit_2(setup: Setup) -> None:
    setup.repo.run("apply", PROJECT)
    (setup.work / "NOTES").write_text("n\n")
    result = setup.repo.run("new", PROJECT, "x", "-c", "hotfix")
    assert result.exit_code == 2 and "unknown category 'hotfix'" in result.stderr
    setup.wgit("add", "NOTES")
    setup.wgit("commit", "-q", "-m", "Notes")
    result = setup.repo.run("new", PROJECT, "x", "-c", "customs", "-m", "other")
    assert result.exit_code == 2 and "-m is for uncommitted changes" in result.stderr


def _spawn_new(setup: Setup, *args: str, **kwargs) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "verda_patch", "--repo", str(setup.repo.path), "new", *args],
        capture_output=True,
        timeout=120,
        check=False,
        **kwargs,
    )


def test_closed_stdin_is_not_a_crash(setup: Setup) -> None:
    # issue 17: `verda-patch new ... <&-` died with exit 3, 'NoneType' has no 'isatty'
    setup.repo.run("apply", PROJECT)
    (setup.work / "NOTES").write_text("n\n")
    proc = _spawn_new(setup, PROJECT, "add-notes", "-c", "customs", preexec_fn=lambda: os.close(0))
    assert proc.returncode == 0, proc.stderr.decode()
    text = (setup.patch_dir("customs") / "0001-add-notes.patch").read_text()
    assert "Subject: [PATCH] add-notes\n" in text


def test_the_editor_is_gits(setup: Setup) -> None:
    # issue 17: the editor is `git var GIT_EDITOR` (here core.editor), not $EDITOR
    setup.repo.run("apply", PROJECT)
    (setup.work / "NOTES").write_text("n\n")
    setup.wgit("config", "core.editor", "sh -c 'echo Written by core.editor > \"$0\"'")
    env = {k: v for k, v in os.environ.items() if k not in ("GIT_EDITOR", "VISUAL")}
    env["EDITOR"] = "false"
    primary, secondary = pty.openpty()
    try:
        proc = _spawn_new(setup, PROJECT, "notes", "-c", "customs", stdin=secondary, env=env)
    finally:
        os.close(primary)
        os.close(secondary)
    assert proc.returncode == 0, proc.stderr.decode()
    text = (setup.patch_dir("customs") / "0001-notes.patch").read_text()
    assert "Subject: [PATCH] Written by core.editor\n" in text
