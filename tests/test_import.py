"""importer.py: quilt folders, fork branches and mailboxes sorted into categories."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.builders import PatchRepo, Upstream, change_id, fork_of, git
from verda_patch import config
from verda_patch.errors import PatchError
from verda_patch.importer import (
    OnUpstream,
    Source,
    classify,
    dep3_fields,
    import_queue,
    read_quilt,
    restrip,
)
from verda_patch.patchfile import parse_bytes

PROJECT = "sample"

QUOTA = "sample/quota.py"
OLD = "LIMITS = {'cores': 20, 'ram': 51200}\n"


def _diff(path: str, old: str, new: str, prefix: tuple[str, str] = ("a/", "b/")) -> str:
    return f"--- {prefix[0]}{path}\n+++ {prefix[1]}{path}\n@@ -1 +1 @@\n-{old.rstrip()}\n+{new.rstrip()}\n"


def _new_file(path: str, text: str, prefix: str = "b/") -> str:
    return f"--- /dev/null\n+++ {prefix}{path}\n@@ -0,0 +1 @@\n+{text}\n"


def _repo(make_upstream, make_patch_repo) -> tuple[Upstream, PatchRepo]:
    up = make_upstream("up")
    repo = make_patch_repo("repo")
    repo.set_base(PROJECT, up, up.rev("1.0.0"), ref="1.0.0")
    return up, repo


def _tree_of_applied(repo: PatchRepo) -> str:
    result = repo.run("apply", PROJECT)
    assert result.exit_code == 0, result.output
    return git(repo.path / ".verda/work" / PROJECT, "rev-parse", "HEAD^{tree}")


# --- quilt -------------------------------------------------------------------------------


def quilt_dir(path: Path, up: Upstream) -> Path:
    """A Debian-style debian/patches: DEP-3 headers, quilt prefixes, -p0, a comment."""
    path.mkdir(parents=True)
    files = {
        "upstream-fix.patch": "Description: Raise the core quota\n"
        "Origin: upstream, https://opendev.org/openstack/sample/commit/abc1234\n"
        "Last-Update: 2024-01-02\n\n" + _diff(QUOTA, OLD, "LIMITS = {'cores': 24, 'ram': 51200}"),
        "debian-paths.patch": "Description: Use Debian paths\n Only for the package.\n"
        "Author: Pkg Maint <pkg@debian.org>\nForwarded: not-needed\n\n"
        "Index: sample-1.0/setup.cfg\n"
        + "=" * 67
        + "\n"
        + "--- sample-1.0.orig/setup.cfg\n+++ sample-1.0/setup.cfg\n@@ -1,2 +1,3 @@\n"
        " [metadata]\n name = sample\n+data_files = /usr/share/sample\n",
        "fix-docs.patch": "Description: Fix the README title\nForwarded: no\n\n"
        + "--- a/README.rst\n+++ b/README.rst\n@@ -1,2 +1,2 @@\n-Sample\n+Sample project\n ======\n",
        "git-diff.diff": _new_file("sample/local.py", "LOCAL = True"),
        "p0.patch": _new_file("sample/p0.py", "P0 = 1", prefix=""),
        "dropped.patch": _new_file("sample/dropped.py", "X = 1"),
    }
    for name, text in files.items():
        (path / name).write_text(text)
    (path / "series").write_text(
        "# Debian patches\nupstream-fix.patch\ndebian-paths.patch\n"
        "fix-docs.patch\n#dropped.patch\ngit-diff.diff\np0.patch -p0\n"
    )
    return path


def test_quilt_keeps_names_and_bytes_and_sorts_by_dep3(make_upstream, make_patch_repo, tmp_path):
    up, repo = _repo(make_upstream, make_patch_repo)
    quilt = quilt_dir(tmp_path / "debian" / "patches", up)
    cfg = config.load(repo.path)
    result = import_queue(cfg, PROJECT, Source("quilt", str(quilt)), write=True)
    got = {p.source: (p.file, p.reason) for p in result.patches}
    assert got == {
        "upstream-fix.patch": ("cherry-pick/upstream-fix.patch", "DEP-3 Origin: upstream"),
        "debian-paths.patch": ("customs/debian-paths.patch", "DEP-3 Forwarded: not-needed"),
        "fix-docs.patch": ("general/fix-docs.patch", "DEP-3 Forwarded: no"),
        "git-diff.diff": ("customs/git-diff.diff", "no DEP-3, no Change-Id, not upstream"),
        "p0.patch": (
            "customs/p0.patch",
            "no DEP-3, no Change-Id, not upstream; paths rewritten from -p0 to -p1",
        ),
    }
    assert result.written and result.verification and result.verification.ok
    by_source = {p.source: p for p in result.patches}
    assert by_source["upstream-fix.patch"].subject == "Raise the core quota"
    assert by_source["debian-paths.patch"].author == "Pkg Maint <pkg@debian.org>"
    assert by_source["git-diff.diff"].subject == "git diff"
    patches = repo.path / "patches" / PROJECT
    for name in ("upstream-fix.patch", "fix-docs.patch", "debian-paths.patch"):
        [written] = patches.glob(f"*/{name}")
        assert written.read_bytes() == (quilt / name).read_bytes()
    assert (
        patches / "customs/series"
    ).read_text() == "debian-paths.patch\ngit-diff.diff\np0.patch\n"
    assert not list(patches.glob("*/dropped.patch"))

    # the oracle: the series applied with `git apply` in its own order, on a clone of the base
    oracle = tmp_path / "oracle"
    git(tmp_path, "clone", "-q", str(up.path), "oracle")
    git(oracle, "checkout", "-q", "1.0.0")
    for line in (quilt / "series").read_text().splitlines():
        if line and not line.startswith("#"):
            name, *opts = line.split()
            git(oracle, "apply", *(opts or ["-p1"]), str(quilt / name))
    git(oracle, "add", "-A")
    want = git(oracle, "write-tree")
    assert result.verification.source_tree == want
    assert _tree_of_applied(repo) == want


def test_quilt_series_errors_name_the_line(tmp_path):
    quilt = tmp_path / "patches"
    quilt.mkdir()
    (quilt / "series").write_text("a.patch\nmissing.patch\n")
    (quilt / "a.patch").write_text(_new_file("x", "1"))
    with pytest.raises(PatchError, match=r"series names .missing\.patch.") as info:
        read_quilt(quilt)
    assert info.value.line == 2
    (quilt / "link.patch").symlink_to(quilt / "a.patch")
    (quilt / "series").write_text("link.patch\n")
    with pytest.raises(PatchError, match="is a symlink"):
        read_quilt(quilt)
    (quilt / "series").write_text("a.patch -R\n")
    with pytest.raises(PatchError, match="option '-R' is not supported"):
        read_quilt(quilt)


def test_quilt_subfolder_entries_are_flattened_and_suffixed(tmp_path):
    quilt = tmp_path / "patches"
    (quilt / "upstream").mkdir(parents=True)
    (quilt / "upstream" / "0001-fix").write_text(_new_file("x", "1"))
    (quilt / "series").write_text("upstream/0001-fix\n")
    [item] = read_quilt(quilt)
    assert item.name == "upstream-0001-fix.patch"
    assert item.note == "renamed from upstream/0001-fix; named upstream-0001-fix.patch"


def test_restrip_rewrites_only_file_headers(tmp_path):
    data = b"--- x/sample/a.py\t2020-01-01\n+++ y/sample/a.py\t2020-01-02\n@@ -1 +1 @@\n-a\n+b\n"
    out = restrip(data, 2, source=tmp_path / "p")
    assert out.startswith(b"--- a/a.py\t2020-01-01\n+++ b/a.py\t2020-01-02\n@@")
    with pytest.raises(PatchError, match="fewer than 3 leading folders"):
        restrip(data, 3, source=tmp_path / "p")


# --- categories --------------------------------------------------------------------------


def _patch(text: str):
    return parse_bytes(text.encode(), source=Path("x.patch"))


def test_classify_rules():
    nothing = OnUpstream({}, {})
    cid = change_id("x")
    mail = f"From: A <a@b>\nSubject: fix\n\nbody\n\nChange-Id: {cid}\n---\n" + _new_file("x", "1")
    assert classify(_patch(mail), {}, OnUpstream({}, {cid: "f" * 40}), "o/s")[0] == "cherry-pick"
    assert classify(_patch(mail), {}, nothing, "o/s")[0] == "general"
    plain = _new_file("x", "1")
    assert classify(_patch(plain), {}, nothing, "o/s") == (
        "customs",
        "no DEP-3, no Change-Id, not upstream",
    )
    vendor = "Description: d\nOrigin: vendor, https://example.com\n\n" + plain
    assert classify(_patch(vendor), dep3_fields(_patch(vendor)), nothing, "o/s") == (
        "customs",
        "DEP-3 Origin: vendor",
    )
    url = "Description: d\nOrigin: https://opendev.org/o/s/commit/1234567\n\n" + plain
    assert classify(_patch(url), dep3_fields(_patch(url)), nothing, "o/s") == (
        "cherry-pick",
        "DEP-3 Origin is an upstream URL",
    )
    found = OnUpstream({"1234567": "1234567" + "0" * 33}, {})
    assert classify(_patch(url), dep3_fields(_patch(url)), found, "x/y")[1] == (
        "DEP-3 Origin names upstream 123456700000"
    )
    applied = "Description: d\nApplied-Upstream: 2.0\n\n" + plain
    assert classify(_patch(applied), dep3_fields(_patch(applied)), nothing, "o/s")[0] == (
        "cherry-pick"
    )


def test_dep3_fields_ignore_mail_headers_and_the_diff():
    diff = _new_file("x", "1")
    assert dep3_fields(_patch("From: A <a@b>\nSubject: s\n\nbody\n---\n" + diff)) == {}
    gbp = "From: A <a@b>\nSubject: s\n\nbody\n\nForwarded: not-needed\n---\n" + diff
    assert dep3_fields(_patch(gbp)) == {"forwarded": "not-needed"}
    header = "Description: d\nAuthor: A\nForwarded: no\n\n" + diff
    assert dep3_fields(_patch(header))["forwarded"] == "no"


# --- fork branch and mailbox --------------------------------------------------------------


def test_branch_sorts_backport_fix_and_inhouse(make_upstream, make_patch_repo, tmp_path):
    up, repo = _repo(make_upstream, make_patch_repo)
    shas = fork_of(up, tmp_path / "fork", up.rev("1.0.0"))
    cfg = config.load(repo.path)
    result = import_queue(cfg, PROJECT, Source("branch", "corp", tmp_path / "fork"), write=True)
    got = [(p.source, p.file, p.reason) for p in result.patches]
    assert got == [
        (
            shas["backport"][:12],
            "cherry-pick/0001-Round-quota-limits-down.patch",
            f"cherry picked from {shas['upstream'][:12]}, upstream has it",
        ),
        (
            shas["fix"][:12],
            "general/0001-Weigh-hosts-by-free-RAM.patch",
            f"Change-Id {change_id('weigh-ram')[:9]}… not upstream (proposed)",
        ),
        (
            shas["inhouse"][:12],
            "customs/0001-Add-corporate-branding.patch",
            "no DEP-3, no Change-Id, not upstream",
        ),
    ]
    assert _tree_of_applied(repo) == git(tmp_path / "fork", "rev-parse", "corp^{tree}")
    # the files are what export writes: an export right after apply changes nothing
    before = {p: p.read_bytes() for p in (repo.path / "patches").rglob("*") if p.is_file()}
    export = repo.run("export", PROJECT)
    assert export.exit_code == 0, export.output
    assert before == {p: p.read_bytes() for p in (repo.path / "patches").rglob("*") if p.is_file()}
    assert len(before) == 6  # three patches, three series


def test_branch_in_the_upstream_itself_does_not_count_as_upstream(
    make_upstream, make_patch_repo, tmp_path
):
    up, repo = _repo(make_upstream, make_patch_repo)
    fork_of(up, tmp_path / "fork", up.rev("1.0.0"))
    git(tmp_path / "fork", "push", "-q", str(up.path), "corp")
    result = import_queue(config.load(repo.path), PROJECT, Source("branch", "corp"))
    assert [p.category for p in result.patches] == ["cherry-pick", "general", "customs"]
    assert not result.written and not list((repo.path).glob("patches/*/*/*"))


def test_branch_the_project_follows_is_upstream(make_upstream, make_patch_repo, tmp_path):
    up, repo = _repo(make_upstream, make_patch_repo)
    fork_of(up, tmp_path / "fork", up.rev("1.0.0"))
    git(tmp_path / "fork", "push", "-q", str(up.path), "corp")
    repo.set_base(PROJECT, up, up.rev("1.0.0"), ref="1.0.0", branch="corp")
    result = import_queue(config.load(repo.path), PROJECT, Source("branch", "corp"))
    assert [(p.category, p.reason) for p in result.patches] == [
        ("cherry-pick", "upstream commit (on corp)")
    ] * 3


def test_mbox_like_git_am(make_upstream, make_patch_repo, tmp_path):
    up, repo = _repo(make_upstream, make_patch_repo)
    fork_of(up, tmp_path / "fork", up.rev("1.0.0"))
    mbox = tmp_path / "queue.mbox"
    mbox.write_bytes(
        subprocess_out(
            tmp_path / "fork", "format-patch", "--stdout", "--cover-letter", "1.0.0..corp"
        )
    )
    result = import_queue(config.load(repo.path), PROJECT, Source("mbox", str(mbox)), write=True)
    assert [(p.source, p.category) for p in result.patches] == [
        ("queue.mbox:2", "cherry-pick"),
        ("queue.mbox:3", "general"),
        ("queue.mbox:4", "customs"),
    ]
    assert [(s.source, s.reason) for s in result.skipped] == [
        ("queue.mbox:1", "no diff (a cover letter or a reply)")
    ]
    assert _tree_of_applied(repo) == git(tmp_path / "fork", "rev-parse", "corp^{tree}")


def subprocess_out(cwd: Path, *args: str) -> bytes:
    import subprocess

    from tests.builders import _env

    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, check=True, env=_env()
    ).stdout
