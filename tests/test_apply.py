"""The apply engine on generated upstreams: real git, no mocks."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.builders import Upstream, git, side_commit, write_series
from verda_patch import apply as engine
from verda_patch.config import load
from verda_patch.errors import DirtyWorkTree, PatchConflict, UpstreamError, UserError


def _api(up: Upstream, ref: str = "HEAD") -> str:
    return up.read(ref, "sample/api.py").decode()


@pytest.fixture
def scenario(make_upstream, make_patch_repo):
    """An upstream at 1.0.0 and a patch repo with three chained downstream patches."""
    up = make_upstream()
    base = up.rev("1.0.0")
    a = side_commit(
        up, base, "Fix api 3", {"sample/api.py": _api(up).replace("return 3\n", "return 33\n")}
    )
    b = side_commit(
        up,
        a,
        "[pci] Raise core quota",
        {"sample/quota.py": "LIMITS = {'cores': 40, 'ram': 51200}\n"},
    )
    c = side_commit(
        up,
        b,
        "Add GPU quota",
        {
            "sample/quota.py": "LIMITS = {'cores': 40, 'ram': 51200, 'gpus': 0}\n",
            "sample/gpu.py": "def count(flavor):\n    return flavor.get('gpus', 0)\n",
        },
    )
    repo = make_patch_repo()
    repo.set_base("sample", up, base, ref="1.0.0")
    write_series(repo, up, "sample", "cherry-pick", [a])
    write_series(repo, up, "sample", "customs", [b, c])
    return up, repo, base, (a, b, c)


def test_apply_builds_one_commit_per_patch_with_trailers(scenario):
    up, repo, base, shas = scenario
    result = engine.apply_project(load(repo.path), "sample")
    tree = result.work_tree
    assert tree == repo.path / ".verda" / "work" / "sample"
    assert git(tree, "rev-parse", "--abbrev-ref", "HEAD") == "verda/sample"
    log = git(
        tree,
        "log",
        "--reverse",
        "--format=%s%x00%(trailers:key=Verda-Patch,valueonly)",
        f"{base}..HEAD",
    ).splitlines()
    pairs = [line.split("\0") for line in log if line]
    assert [p[0] for p in pairs] == ["Fix api 3", "[pci] Raise core quota", "Add GPU quota"]
    assert [p[1] for p in pairs] == [
        "cherry-pick/0001-Fix-api-3.patch",
        "customs/0001-pci--Raise-core-quota.patch",
        "customs/0002-Add-GPU-quota.patch",
    ]
    assert result.applied == tuple(p[1] for p in pairs)
    # authorship survives; the committer is verda-patch
    assert git(tree, "log", "-1", "--format=%an|%cn", "HEAD") == "Zoë Ångström|verda-patch"


def test_tree_equals_plain_git_am(scenario, tmp_path):
    up, repo, base, shas = scenario
    result = engine.apply_project(load(repo.path), "sample")
    plain = tmp_path / "plain"
    git(tmp_path, "clone", "-q", str(up.path), str(plain))
    git(plain, "checkout", "-q", base)
    files = sorted((repo.path / "patches/sample/cherry-pick").glob("*.patch")) + sorted(
        (repo.path / "patches/sample/customs").glob("*.patch")
    )
    git(
        plain,
        "am",
        "-q",
        *map(str, files),
        env={"GIT_COMMITTER_NAME": "x", "GIT_COMMITTER_EMAIL": "x@example.org"},
    )
    assert git(plain, "rev-parse", "HEAD^{tree}") == git(
        result.work_tree, "rev-parse", "HEAD^{tree}"
    )


def test_same_inputs_give_same_commit_ids_across_homes(scenario, tmp_path, monkeypatch):
    up, repo, base, shas = scenario
    first = engine.apply_project(load(repo.path), "sample").head
    # a second machine: another HOME with a hostile global config, another cache, a copy
    home = tmp_path / "hostile-home"
    hooks = home / "hooks"
    hooks.mkdir(parents=True)
    (hooks / "applypatch-msg").write_text('#!/bin/sh\necho tampered >> "$1"\n')
    (hooks / "pre-applypatch").write_text("#!/bin/sh\nexit 1\n")
    for hook in hooks.iterdir():
        hook.chmod(0o755)
    (home / ".gitconfig").write_text(
        "[user]\n\tname = Mallory\n\temail = m@evil.example\n"
        "[commit]\n\tgpgSign = true\n"
        "[core]\n\tautocrlf = true\n\thooksPath = " + str(hooks) + "\n"
        "[am]\n\tthreeWay = false\n\tkeepcr = true\n\tmessageid = true\n"
        "[apply]\n\twhitespace = error\n"
        "[format]\n\tsignature = evil\n"
        "[i18n]\n\tcommitEncoding = ISO-8859-1\n"
    )
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("VERDA_PATCH_CACHE", str(tmp_path / "other-cache"))
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Someone Else")
    monkeypatch.setenv("GIT_AUTHOR_DATE", "@1 +0000")
    copy = tmp_path / "copy"
    shutil.copytree(repo.path, copy, ignore=shutil.ignore_patterns(".verda"))
    second = engine.apply_project(load(copy), "sample").head
    assert second == first
    # and a rebuild in place gives the same ids again
    assert engine.apply_project(load(copy), "sample", force=True).head == first


def test_warm_reapply_needs_no_upstream(scenario, tmp_path):
    up, repo, base, shas = scenario
    first = engine.apply_project(load(repo.path), "sample").head
    shutil.rmtree(repo.path / ".verda")
    up.path.rename(tmp_path / "gone")
    assert engine.apply_project(load(repo.path), "sample").head == first


def test_missing_upstream_path_is_exit_2(scenario, tmp_path, monkeypatch):
    up, repo, base, shas = scenario
    up.path.rename(tmp_path / "gone")
    with pytest.raises(UpstreamError, match="does not exist") as info:
        engine.apply_project(load(repo.path), "sample")
    assert info.value.exit_code == 2


def test_warm_reapply_makes_no_fetch(scenario, tmp_path, monkeypatch):
    up, repo, base, shas = scenario
    first = engine.apply_project(load(repo.path), "sample").head
    # forbid every transport: any fetch or clone would now fail
    monkeypatch.setenv("GIT_ALLOW_PROTOCOL", "none")
    shutil.rmtree(repo.path / ".verda")
    assert engine.apply_project(load(repo.path), "sample").head == first


def test_conflict_continue_keeps_trailer(scenario):
    up, repo, base, shas = scenario
    clash = side_commit(
        up, base, "Lower core quota", {"sample/quota.py": "LIMITS = {'cores': 8, 'ram': 51200}\n"}
    )
    write_series(repo, up, "sample", "customs", [clash], start=3)
    config = load(repo.path)
    with pytest.raises(PatchConflict) as info:
        engine.apply_project(config, "sample")
    err = info.value
    assert err.patch == "customs/0003-Lower-core-quota.patch"
    assert err.paths == ("sample/quota.py",)
    assert err.exit_code == 1
    tree = config.work_tree("sample")
    assert (tree / ".git/rebase-apply").is_dir()
    assert "<<<<<<<" in (tree / "sample/quota.py").read_text()
    # a plain re-run refuses instead of destroying the half-resolved state
    with pytest.raises(Exception, match="stopped at a conflict"):
        engine.apply_project(config, "sample")
    (tree / "sample/quota.py").write_text("LIMITS = {'cores': 8, 'ram': 51200, 'gpus': 0}\n")
    git(tree, "add", "sample/quota.py")
    result = engine.continue_apply(config, "sample")
    assert result.applied[-1] == "customs/0003-Lower-core-quota.patch"
    msg = git(tree, "log", "-1", "--format=%B")
    assert msg.rstrip().endswith("Verda-Patch: customs/0003-Lower-core-quota.patch")
    assert not (repo.path / ".verda/work/sample/.git/verda-patch/apply.json").exists()


def test_continued_commits_are_as_reproducible_as_applied_ones(scenario, monkeypatch):
    up, repo, base, _shas = scenario
    clash = side_commit(
        up, base, "Lower core quota", {"sample/quota.py": "LIMITS = {'cores': 8, 'ram': 51200}\n"}
    )
    write_series(repo, up, "sample", "customs", [clash], start=3)
    config = load(repo.path)
    with pytest.raises(PatchConflict):
        engine.apply_project(config, "sample")
    tree = config.work_tree("sample")
    (tree / "sample/quota.py").write_text("LIMITS = {'cores': 8, 'ram': 51200, 'gpus': 0}\n")
    git(tree, "add", "sample/quota.py")
    engine.continue_apply(config, "sample")
    dates = git(tree, "log", "-4", "--format=%ad|%cd", "--date=raw").splitlines()
    assert all(a == c for a, c in (line.split("|") for line in dates)), dates


def test_conflict_abort_restores_previous_tree(scenario):
    up, repo, base, shas = scenario
    config = load(repo.path)
    before = engine.apply_project(config, "sample").head
    clash = side_commit(
        up, base, "Lower core quota", {"sample/quota.py": "LIMITS = {'cores': 8, 'ram': 51200}\n"}
    )
    write_series(repo, up, "sample", "customs", [clash], start=3)
    with pytest.raises(PatchConflict):
        engine.apply_project(config, "sample")
    assert engine.abort_apply(config, "sample") == before
    tree = config.work_tree("sample")
    assert git(tree, "rev-parse", "HEAD") == before
    assert git(tree, "status", "--porcelain") == ""
    assert not (tree / ".git/rebase-apply").exists()


def test_abort_of_first_apply_removes_the_new_tree(scenario):
    up, repo, base, shas = scenario
    clash = side_commit(
        up, base, "Lower core quota", {"sample/quota.py": "LIMITS = {'cores': 8, 'ram': 51200}\n"}
    )
    write_series(repo, up, "sample", "customs", [clash], start=3)
    config = load(repo.path)
    with pytest.raises(PatchConflict):
        engine.apply_project(config, "sample")
    assert engine.abort_apply(config, "sample") is None
    assert not config.work_tree("sample").exists()
    with pytest.raises(UserError, match="nothing to abort"):
        engine.abort_apply(config, "sample")


def test_already_applied_patch_is_an_error_naming_it(scenario):
    up, repo, base, shas = scenario
    # the same change twice: git am -3 would silently skip the second copy
    repo.add_patch("sample", "customs", "0003-again.patch", up.format_patch(shas[2]))
    with pytest.raises(PatchConflict) as info:
        engine.apply_project(load(repo.path), "sample")
    assert info.value.patch == "customs/0003-again.patch"
    assert "already in the tree" in str(info.value)


def test_dirty_tree_is_refused_then_backed_up_with_force(scenario):
    up, repo, base, shas = scenario
    config = load(repo.path)
    engine.apply_project(config, "sample")
    tree = config.work_tree("sample")
    (tree / "README.rst").write_text("local edit\n")
    (tree / "notes.txt").write_text("untracked work\n")
    with pytest.raises(DirtyWorkTree) as info:
        engine.apply_project(config, "sample")
    assert info.value.exit_code == 1
    assert "new sample" in str(info.value) and "--force" in str(info.value)
    result = engine.apply_project(config, "sample", force=True)
    assert result.backup_ref and result.backup_ref.startswith("refs/verda/backup/sample/")
    assert git(tree, "show", f"{result.backup_ref}:README.rst") == "local edit"
    assert git(tree, "show", f"{result.backup_ref}:notes.txt") == "untracked work"
    assert not (tree / "notes.txt").exists()


def test_staged_rename_is_reported_once(scenario):
    _up, repo, _base, _shas = scenario
    config = load(repo.path)
    engine.apply_project(config, "sample")
    tree = config.work_tree("sample")
    git(tree, "mv", "README.rst", "README.txt")
    from verda_patch.worktree import WorkTree

    assert WorkTree(config, "sample").status() == ["README.txt"]


def test_unsaved_commit_is_refused(scenario):
    up, repo, base, shas = scenario
    config = load(repo.path)
    engine.apply_project(config, "sample")
    tree = config.work_tree("sample")
    (tree / "README.rst").write_text("committed but not exported\n")
    git(
        tree,
        "commit",
        "-qam",
        "my work",
        env={"GIT_AUTHOR_NAME": "d", "GIT_AUTHOR_EMAIL": "d@example.org"},
    )
    with pytest.raises(DirtyWorkTree, match="1 commit"):
        engine.apply_project(config, "sample")
    # amending a patch commit is unsaved work too
    git(tree, "reset", "-q", "--hard", "HEAD~1")
    git(tree, "commit", "-q", "--amend", "-m", "reworded\n\nVerda-Patch: customs/x.patch")
    with pytest.raises(DirtyWorkTree):
        engine.apply_project(config, "sample")


def test_custom_source_is_committed_last(scenario):
    up, repo, base, shas = scenario
    conf = repo.path / "custom-source/sample/etc/sample/verda.conf"
    conf.parent.mkdir(parents=True)
    conf.write_text("[verda]\n")
    tool = repo.path / "custom-source/sample/bin/tool"
    tool.parent.mkdir(parents=True)
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    result = engine.apply_project(load(repo.path), "sample")
    assert result.custom_source
    tree = result.work_tree
    assert git(tree, "log", "-1", "--format=%s") == "Add custom-source/sample"
    assert (tree / "etc/sample/verda.conf").read_text() == "[verda]\n"
    assert git(tree, "ls-files", "-s", "bin/tool").startswith("100755")


def test_custom_source_symlink_is_refused(scenario):
    up, repo, base, shas = scenario
    folder = repo.path / "custom-source/sample"
    folder.mkdir(parents=True)
    (folder / "passwd").symlink_to("/etc/passwd")
    with pytest.raises(UserError, match="symlink") as info:
        engine.apply_project(load(repo.path), "sample")
    assert info.value.exit_code == 2


def test_crlf_and_binary_patches_apply(make_upstream, make_patch_repo):
    up = make_upstream()
    base = up.rev("HEAD")
    blob = bytes(range(256)) * 4
    a = side_commit(up, base, "Add logo", {"sample/logo.png": blob})
    b = side_commit(up, a, "Tweak quota", {"sample/quota.py": "LIMITS = {'cores': 1}\n"})
    repo = make_patch_repo()
    repo.set_base("sample", up, base)
    repo.add_patch("sample", "customs", "0001-logo.patch", up.format_patch(a, "--binary"))
    crlf = up.format_patch(b).replace(b"\n", b"\r\n")
    repo.add_patch("sample", "customs", "0002-quota.patch", crlf)
    result = engine.apply_project(load(repo.path), "sample")
    assert (result.work_tree / "sample/logo.png").read_bytes() == blob
    assert (result.work_tree / "sample/quota.py").read_text() == "LIMITS = {'cores': 1}\n"


def test_plain_diff_applies_with_reproducible_identity(make_upstream, make_patch_repo):
    up = make_upstream()
    base = up.rev("HEAD")
    repo = make_patch_repo()
    repo.set_base("sample", up, base)
    repo.add_patch(
        "sample",
        "customs",
        "0001-bump-ram.patch",
        (
            "--- a/sample/quota.py\n+++ b/sample/quota.py\n@@ -1 +1 @@\n"
            "-LIMITS = {'cores': 20, 'ram': 51200}\n+LIMITS = {'cores': 20, 'ram': 1}\n"
        ),
    )
    result = engine.apply_project(load(repo.path), "sample")
    out = git(result.work_tree, "log", "-1", "--format=%s|%an|%ad", "--date=unix")
    assert out == "bump ram|verda-patch|946684800"


def test_unknown_base_commit_is_exit_2(make_upstream, make_patch_repo):
    up = make_upstream()
    repo = make_patch_repo()
    repo.set_base("sample", up, "0" * 40)
    with pytest.raises(UpstreamError) as info:
        engine.apply_project(load(repo.path), "sample")
    assert info.value.exit_code == 2
    assert "0" * 40 in str(info.value)


def test_concurrent_applies_share_one_cache(scenario, tmp_path):
    up, repo, base, shas = scenario
    copies = []
    for i in range(4):
        copy = tmp_path / f"copy{i}"
        shutil.copytree(repo.path, copy)
        copies.append(copy)
    env = dict(os.environ)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "verda_patch", "--repo", str(c), "--json", "apply", "sample"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        for c in copies
    ]
    heads = set()
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
        heads.add(json.loads(out)["projects"][0]["head"])
    assert len(heads) == 1
    mirrors = [p for p in Path(os.environ["VERDA_PATCH_CACHE"]).iterdir() if p.suffix == ".git"]
    assert len(mirrors) == 1
