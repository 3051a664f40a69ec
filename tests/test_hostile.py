"""Hostile and broken input: refused with exit 1 or 2, one clear message, nothing
written outside the patch repo, its .verda/ and the cache."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.builders import side_commit, write_series

OUTSIDE = """\
From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001
From: Eve <eve@example.org>
Date: Mon, 1 Jan 2024 00:00:00 +0000
Subject: [PATCH] innocent

---
diff --git a/{path} b/{path}
new file mode 100644
--- /dev/null
+++ b/{path}
@@ -0,0 +1 @@
+owned
"""


@pytest.fixture
def repo(make_upstream, make_patch_repo):
    up = make_upstream()
    repo = make_patch_repo()
    repo.set_base("sample", up, up.rev("HEAD"))
    repo.up = up  # type: ignore[attr-defined]
    return repo


@pytest.mark.parametrize(
    "path", ["../escape.txt", "sample/../../escape.txt", ".git/hooks/post-checkout"]
)
def test_diff_writing_outside_the_tree_is_refused(repo, tmp_path, path):
    repo.add_patch("sample", "customs", "0001-innocent.patch", OUTSIDE.format(path=path))
    result = repo.run("apply", "sample")
    assert result.exit_code == 2, result.stderr
    assert "0001-innocent.patch" in result.stderr
    assert "outside" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "escape.txt").exists()
    assert not (repo.path / ".verda/work/sample").exists()


def test_absolute_target_lands_inside_the_tree(repo, tmp_path):
    # git trusts the "diff --git a/X b/X" header, so "+++ /abs" cannot escape
    target = tmp_path / "abs-escape.txt"
    repo.add_patch(
        "sample",
        "customs",
        "0001-abs.patch",
        OUTSIDE.format(path=str(target).lstrip("/")).replace(
            "--- /dev/null\n+++ b/", "--- /dev/null\n+++ /"
        ),
    )
    result = repo.run("apply", "sample")
    assert result.exit_code in (0, 1, 2), result.stderr
    assert not target.exists()
    if result.exit_code:
        assert "0001-abs.patch" in result.stderr
    else:
        assert (repo.path / ".verda/work/sample" / str(target).lstrip("/")).exists()


def test_absolute_header_path_stays_inside_the_tree(repo):
    repo.add_patch(
        "sample",
        "customs",
        "0001-abs.patch",
        OUTSIDE.format(path="x")
        .replace("diff --git a/x b/x", "diff --git /etc/x /etc/x")
        .replace("+++ b/x", "+++ /etc/x"),
    )
    result = repo.run("apply", "sample")
    # git strips one leading component (-p1): "/etc/x" becomes "etc/x" in the tree
    assert result.exit_code == 0, result.stderr
    assert not os.path.exists("/etc/x")
    assert (repo.path / ".verda/work/sample/etc/x").read_text() == "owned\n"


def test_write_through_a_symlink_the_series_created_is_refused(repo, tmp_path):
    up = repo.up
    base = up.rev("HEAD")
    link = side_commit(up, base, "Add link", {})
    (up.path / "sample/out").symlink_to(tmp_path)
    subprocess.run(["git", "add", "sample/out"], cwd=up.path, check=True)
    up.tick += 1
    link = up.commit("Add link")
    through = OUTSIDE.format(path="sample/out/evil.txt")
    write_series(repo, up, "sample", "customs", [link])
    repo.add_patch("sample", "customs", "0002-through.patch", through)
    result = repo.run("apply", "sample")
    assert result.exit_code == 1, result.stderr
    assert "0002-through.patch" in result.stderr
    assert not (tmp_path / "evil.txt").exists()


@pytest.mark.parametrize(
    "upstream",
    [
        "ext::sh -c touch% /tmp/pwned",
        "fd::17",
        "--upload-pack=touch /tmp/pwned",
        "-oProxyCommand=touch /tmp/pwned",
    ],
)
def test_dangerous_upstreams_are_refused_before_git_runs(repo, upstream, tmp_path):
    (repo.path / "base-commit").write_text(
        f"sample:\n  upstream: '{upstream}'\n  commit: {'a' * 40}\n"
    )
    result = repo.run("apply", "sample")
    assert result.exit_code == 2
    assert "base-commit:2" in result.stderr
    assert not os.path.exists("/tmp/pwned")
    assert not (tmp_path / "cache").exists()


def test_series_naming_a_path_outside_is_refused(repo):
    repo.add_patch("sample", "customs", "0001-a.patch", OUTSIDE.format(path="a.txt"))
    repo.series("sample", "customs", ["0001-a.patch", "../../../etc/passwd"])
    result = repo.run("apply", "sample")
    assert result.exit_code == 2
    assert "series:2" in result.stderr


def test_symlinked_patch_file_is_refused(repo, tmp_path):
    outside = tmp_path / "elsewhere.patch"
    outside.write_text(OUTSIDE.format(path="a.txt"))
    folder = repo.path / "patches/sample/customs"
    folder.mkdir(parents=True)
    (folder / "0001-link.patch").symlink_to(outside)
    result = repo.run("list", "sample")
    assert result.exit_code == 2
    assert "0001-link.patch" in result.stderr


def test_custom_source_device_and_symlink_are_refused(repo):
    folder = repo.path / "custom-source/sample"
    folder.mkdir(parents=True)
    os.mkfifo(folder / "pipe")
    result = repo.run("apply", "sample")
    assert result.exit_code == 2
    assert "pipe" in result.stderr and "regular files" in result.stderr


def test_yaml_bomb_is_refused_quickly(repo):
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
        f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(9)
    )
    (repo.path / "base-commit").write_text(bomb)
    result = repo.run("list")
    assert result.exit_code == 2
    assert "base-commit" in result.stderr
    (repo.path / "base-commit").write_text("# " + "x" * (2 << 20) + "\n")
    result = repo.run("list")
    assert result.exit_code == 2
    assert "more than" in result.stderr


def test_latin1_header_crlf_and_no_final_newline_apply(repo):
    up = repo.up
    base = up.rev("HEAD")
    sha = side_commit(
        up,
        base,
        "Tweak quota",
        {"sample/quota.py": "LIMITS = {'cores': 3}\n"},
        author="Jos\u00e9 P\u00e9rez <jose@example.org>",
    )
    data = up.format_patch(sha).replace(
        b"=?UTF-8?q?Jos=C3=A9_P=C3=A9rez?=", "Jos\u00e9 P\u00e9rez".encode("latin-1")
    )
    data = data.replace(b"\n", b"\r\n").rstrip(b"\r\n")
    repo.add_patch("sample", "customs", "0001-latin1.patch", data)
    result = repo.run("apply", "sample")
    assert result.exit_code == 0, result.stderr
    log = subprocess.run(
        ["git", "log", "-1", "--format=%an"],
        cwd=repo.path / ".verda/work/sample",
        capture_output=True,
        check=True,
    ).stdout.decode()
    assert log.strip() == "Jos\u00e9 P\u00e9rez"


def test_big_patch_applies(repo):
    up = repo.up
    base = up.rev("HEAD")
    big = "".join(f"line {i} {'x' * 60}\n" for i in range(700_000))  # ~50 MB
    sha = side_commit(up, base, "Add big data", {"sample/big.txt": big})
    data = up.format_patch(sha)
    assert len(data) > 45_000_000
    repo.add_patch("sample", "customs", "0001-big.patch", data)
    result = repo.run("apply", "sample")
    assert result.exit_code == 0, result.stderr


def test_refs_that_look_like_options_are_refused(repo):
    from verda_patch.config import load
    from verda_patch.mirror import Mirror

    config = load(repo.path)
    mirror = Mirror.for_project(config, config.project("sample")).ensure(
        commits=(config.project("sample").commit,)
    )
    assert mirror.resolve("--upload-pack=touch /tmp/pwned") is None
    assert mirror.resolve("-x") is None
    assert not os.path.exists("/tmp/pwned")


def test_no_traceback_for_any_bad_input(repo):
    (repo.path / "base-commit").write_bytes(b"\xff\xfe garbage: [")
    proc = subprocess.run(
        [sys.executable, "-m", "verda_patch", "--repo", str(repo.path), "list"],
        capture_output=True,
        check=False,
    )
    assert proc.returncode == 2
    assert b"Traceback" not in proc.stderr
    assert b"base-commit" in proc.stderr
