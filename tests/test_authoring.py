"""new and cherry-pick as a library: what becomes a patch, where it goes, what is refused."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.builders import PatchRepo, Upstream, change_id, git
from tests.test_export import PROJECT, Setup, Shared, make_setup, shared_fixture  # noqa: F401
from verda_patch import config as config_mod
from verda_patch.apply import apply_project
from verda_patch.authoring import (
    cherry_pick,
    clean_message,
    new_patch,
    pending,
    user_identity,
)
from verda_patch.errors import (
    DirtyWorkTree,
    NothingToDo,
    OperationFailed,
    UpstreamError,
    UserError,
)
from verda_patch.export import export_project
from verda_patch.patchfile import parse_file

ME = ("Dev Eloper", "dev@example.org")
WHEN = "@1700500000 +0100"


@pytest.fixture
def applied(shared: Shared, make_patch_repo: Callable[..., PatchRepo]) -> Setup:
    """Five general patches applied; a customs patch after them (own file)."""
    s = make_setup(shared, make_patch_repo)
    s.repo.add_patch(
        PROJECT,
        "customs",
        "0001-vendor.patch",
        (
            "From: Ops <ops@example.org>\nDate: Mon, 1 Jan 2024 00:00:00 +0000\n"
            "Subject: [PATCH] Vendor string\n\n---\n"
            "diff --git a/setup.cfg b/setup.cfg\n--- a/setup.cfg\n+++ b/setup.cfg\n"
            "@@ -1,2 +1,3 @@\n [metadata]\n name = sample\n+vendor = verda\n"
        ),
    )
    s.repo.commit_all("customs")
    s.apply()
    return s


def new(s: Setup, name: str = "my-fix", category: str = "customs", **kw: object):  # type: ignore[no-untyped-def]
    kw.setdefault("author", ME)
    kw.setdefault("date", WHEN)
    return new_patch(s.config(), PROJECT, name, category, **kw)  # type: ignore[arg-type]


def test_uncommitted_change_becomes_one_patch(applied: Setup) -> None:
    (applied.work / "sample" / "quota.py").write_text("LIMITS = {'cores': 80, 'ram': 51200}\n")
    result = new(applied, message="Raise cores to 80\n\nBecause.")
    assert result.files == ("customs/0002-my-fix.patch",)
    assert result.source == "uncommitted"
    patch = parse_file(applied.patch_dir("customs") / "0002-my-fix.patch")
    assert patch.subject == "Raise cores to 80" and patch.message == "Because."
    assert (patch.author_name, patch.author_email) == ME
    assert patch.date == "Mon, 20 Nov 2023 18:06:40 +0100"
    # the work tree: clean, synced, the commit carries its trailer, apply agrees
    assert applied.wgit("status", "--porcelain") == ""
    assert (
        applied.wgit("log", "-1", "--format=%(trailers:key=Verda-Patch,valueonly)").strip()
        == "customs/0002-my-fix.patch"
    )
    head = applied.wgit("rev-parse", "HEAD")
    applied.apply()
    assert applied.wgit("rev-parse", "HEAD") == head  # same ids as a fresh apply
    assert export_project(applied.config(), PROJECT).written == ()


def test_staged_and_untracked_files_are_taken(applied: Setup) -> None:
    (applied.work / "sample" / "quota.py").write_text("LIMITS = {}\n")
    applied.wgit("add", "sample/quota.py")
    (applied.work / "sample" / "extra.py").write_text("EXTRA = 1\n")
    (applied.work / "README.rst").write_text("changed, not staged\n")
    result = new(applied, "three-files", message="Three files")
    text = (applied.patch_dir("customs") / "0002-three-files.patch").read_text()
    for path in ("sample/quota.py", "sample/extra.py", "README.rst"):
        assert f"diff --git a/{path} b/{path}" in text
    assert result.left_untracked == ()
    assert applied.wgit("status", "--porcelain") == ""


def test_no_untracked_leaves_new_files_alone(applied: Setup) -> None:
    (applied.work / "sample" / "quota.py").write_text("LIMITS = {}\n")
    (applied.work / "scratch.txt").write_text("notes\n")
    result = new(applied, include_untracked=False)
    assert result.left_untracked == ("scratch.txt",)
    assert "scratch.txt" not in (applied.patch_dir("customs") / "0002-my-fix.patch").read_text()
    assert (applied.work / "scratch.txt").read_text() == "notes\n"
    assert applied.wgit("status", "--porcelain") == "?? scratch.txt"


def test_message_defaults_to_name(applied: Setup) -> None:
    (applied.work / "sample" / "quota.py").write_text("LIMITS = {}\n")
    new(applied, "empty-limits")
    assert (
        parse_file(applied.patch_dir("customs") / "0002-empty-limits.patch").subject
        == "empty-limits"
    )


def test_two_commits_become_two_patches_in_series(applied: Setup) -> None:
    applied.repo.series(PROJECT, "customs", ["0001-vendor.patch"])
    applied.repo.commit_all("series")
    applied.apply()
    (applied.work / "a.txt").write_text("a\n")
    applied.wgit("add", "a.txt")
    applied.wgit("commit", "-q", "-m", "Add a.txt\n\nChange-Id: " + change_id("a"))
    (applied.work / "b.txt").write_text("b\n")
    applied.wgit("add", "b.txt")
    applied.wgit("commit", "-q", "-m", "[ops] Add b.txt")
    result = new(applied, "ignored-name")
    assert result.source == "commits"
    assert result.files == ("customs/0002-Add-a.txt.patch", "customs/0003-ops-Add-b.txt.patch")
    assert (applied.patch_dir("customs") / "series").read_text().splitlines() == [
        "0001-vendor.patch",
        "0002-Add-a.txt.patch",
        "0003-ops-Add-b.txt.patch",
    ]
    b = parse_file(applied.patch_dir("customs") / "0003-ops-Add-b.txt.patch")
    assert b.subject == "[ops] Add b.txt" and b.author_name == "Dev"  # the commit's own author
    head = applied.wgit("rev-parse", "HEAD")
    applied.apply()
    assert applied.wgit("rev-parse", "HEAD") == head


def test_one_commit_takes_name(applied: Setup) -> None:
    (applied.work / "a.txt").write_text("a\n")
    applied.wgit("add", "a.txt")
    applied.wgit("commit", "-q", "-m", "Add a.txt")
    assert new(applied, "add-a").files == ("customs/0002-add-a.patch",)


def test_general_patch_goes_before_customs(applied: Setup) -> None:
    (applied.work / "sample" / "weigher.py").write_text("def weigh(host):\n    return 0\n")
    result = new(applied, "zero-weigher", "general", message="Zero weigher")
    assert result.files == ("general/0006-zero-weigher.patch",)
    assert result.warnings == (
        "general/0006-zero-weigher.patch has no Change-Id; add one when you propose it upstream",
    )
    subjects = applied.wgit("log", "--format=%s", "-3").splitlines()
    assert subjects == ["Vendor string", "Zero weigher", "Tweak api_30"]
    assert applied.wgit("status", "--porcelain") == ""


def test_change_that_needs_later_patch_is_refused(applied: Setup) -> None:
    # edit the line the customs patch added: as a general patch it cannot apply before it
    setup_cfg = applied.work / "setup.cfg"
    setup_cfg.write_text(setup_cfg.read_text().replace("vendor = verda", "vendor = other"))
    before = applied.snapshot()
    with pytest.raises(OperationFailed, match="does not apply at its place"):
        new(applied, "vendor", "general", message="Other vendor")
    assert applied.snapshot() == before
    assert "setup.cfg" in applied.wgit("status", "--porcelain")  # the edit is still there
    assert new(applied, "vendor", "customs", message="Other vendor").files == (
        "customs/0002-vendor.patch",
    )


def test_nothing_to_do(applied: Setup) -> None:
    with pytest.raises(NothingToDo, match="nothing to turn into a patch"):
        new(applied)
    (applied.work / "only-untracked.txt").write_text("x\n")
    with pytest.raises(NothingToDo, match="1 untracked files left out"):
        new(applied, include_untracked=False)


def test_commits_and_uncommitted_changes_together_are_refused(applied: Setup) -> None:
    (applied.work / "a.txt").write_text("a\n")
    applied.wgit("add", "a.txt")
    applied.wgit("commit", "-q", "-m", "Add a.txt")
    (applied.work / "a.txt").write_text("changed\n")
    with pytest.raises(DirtyWorkTree, match="new commits and uncommitted changes"):
        new(applied)


def test_custom_source_paths_are_refused(applied: Setup) -> None:
    custom = applied.repo.path / "custom-source" / PROJECT / "etc" / "s.conf"
    custom.parent.mkdir(parents=True)
    custom.write_text("[DEFAULT]\n")
    applied.apply()
    (applied.work / "etc" / "s.conf").write_text("[DEFAULT]\ndebug = true\n")
    with pytest.raises(UserError, match="comes from custom-source"):
        new(applied)


def test_takes_the_next_free_number_and_never_overwrites(applied: Setup) -> None:
    taken = applied.patch_dir("customs") / "0002-my-fix.patch"
    taken.write_text(
        "From: Ops <ops@example.org>\nDate: Mon, 1 Jan 2024 00:00:00 +0000\n"
        "Subject: [PATCH] Owner\n\n---\n"
        "diff --git a/OWNER b/OWNER\nnew file mode 100644\n--- /dev/null\n+++ b/OWNER\n"
        "@@ -0,0 +1 @@\n+ops\n"
    )
    applied.repo.commit_all("another customs patch")
    before = taken.read_bytes()
    (applied.work / "sample" / "quota.py").write_text("LIMITS = {}\n")
    # the work tree predates 0002: `new` refuses rather than mixing the two
    with pytest.raises(OperationFailed, match="changed since"):
        new(applied)
    applied.wgit("stash", "-q")
    applied.apply()
    applied.wgit("stash", "pop", "-q")
    assert new(applied).files == ("customs/0003-my-fix.patch",)
    assert taken.read_bytes() == before


def test_rewritten_branch_needs_export_first_then_works(applied: Setup) -> None:
    # amend patch 1 and add a commit: `new` wants the amend saved first ...
    applied.amend(0, message="Reworded")
    (applied.work / "a.txt").write_text("a\n")
    applied.wgit("add", "a.txt")
    applied.wgit("commit", "-q", "-m", "Add a.txt")
    with pytest.raises(OperationFailed, match="rewritten since the last apply/export"):
        new(applied)
    # ... export saves it and reports the new commit, `new` then takes it: no loop
    result = export_project(applied.config(), PROJECT)
    assert result.written == ("general/0001-p1.patch",)
    assert [u.split(" ", 1)[1] for u in result.untracked] == ["Add a.txt"]
    assert new(applied, "add-a").files == ("customs/0002-add-a.patch",)
    assert applied.wgit("status", "--porcelain") == ""
    applied.apply()  # no unsaved-work refusal
    assert (applied.work / "a.txt").exists()
    assert applied.wgit("log", "-1", "--format=%s", applied.commits()[0]) == "Reworded"


def test_new_after_reworded_custom_source_commit(applied: Setup) -> None:
    custom = applied.repo.path / "custom-source" / PROJECT / "etc" / "s.conf"
    custom.parent.mkdir(parents=True)
    custom.write_text("[DEFAULT]\n")
    applied.apply()
    applied.wgit("commit", "-q", "--amend", "-m", "Reworded")  # the custom-source commit
    assert export_project(applied.config(), PROJECT).synced
    (applied.work / "a.txt").write_text("a\n")
    applied.wgit("add", "a.txt")
    applied.wgit("commit", "-q", "-m", "Add a.txt")
    assert new(applied, "add-a").files == ("customs/0002-add-a.patch",)
    head = applied.wgit("rev-parse", "HEAD")
    applied.apply()
    assert applied.wgit("rev-parse", "HEAD") == head


def test_unknown_category_is_usage_error(applied: Setup) -> None:
    with pytest.raises(UserError, match="unknown category"):
        new(applied, category="hotfixes")


def test_identity_from_env_then_config(applied: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    # with no config, git either guesses (a host with a domain) or refuses: then ours
    guess = subprocess.run(
        ["git", "var", "GIT_AUTHOR_IDENT"], cwd=applied.work, capture_output=True, text=True
    )
    if guess.returncode:
        assert user_identity(applied.work) == ("verda-patch", "verda-patch@localhost")
    else:
        assert guess.stdout.startswith("{} <{}> ".format(*user_identity(applied.work)))
    git(applied.work, "config", "user.name", "Repo User")
    git(applied.work, "config", "user.email", "repo@example.org")
    assert user_identity(applied.work) == ("Repo User", "repo@example.org")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Env User")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "env@example.org")
    assert user_identity(applied.work) == ("Env User", "env@example.org")


def test_clean_message() -> None:
    assert clean_message("Subject  \n\n\n# comment\nBody\n\n") == "Subject\n\nBody"
    assert clean_message("# only comments\n") == ""


def test_pending_reports_mode(applied: Setup) -> None:
    (applied.work / "x.txt").write_text("x\n")
    todo = pending(applied.config(), PROJECT)
    assert todo.mode == "uncommitted" and todo.untracked == ("x.txt",)


# --- cherry-pick ----------------------------------------------------------------------------


@pytest.fixture(name="picks")
def picks_fixture(
    make_upstream: Callable[..., Upstream], make_patch_repo: Callable[..., PatchRepo]
) -> tuple[Upstream, PatchRepo, dict[str, str]]:
    """Upstream with master fixes backported to stable/1.x; a patch repo on 1.0.0."""
    up = make_upstream()
    base = up.rev("1.0.0")
    shas: dict[str, str] = {}
    shas["quota"] = up.commit(
        "Fix the quota check",
        {"sample/quota.py": "LIMITS = {'cores': 20, 'ram': 51200, 'disk': 100}\n"},
        body="Disk was missing.",
        change_id=change_id("quota"),
    )
    shas["readme"] = up.commit("Document the API", {"README.rst": "Sample\n======\n\nAPI.\n"})
    up.branch("stable/1.x", "1.0.0")
    up.checkout("stable/1.x")
    shas["quota-stable"] = up.cherry_pick(shas["quota"])
    up.checkout("master")
    shas["clash"] = up.commit("Rewrite quota", {"sample/quota.py": "LIMITS = None\n"})
    up.checkout("stable/1.x")
    git(
        up.path,
        "merge",
        "-q",
        "--no-ff",
        "-m",
        "Merge a topic",
        "master~1",
        env={"GIT_AUTHOR_NAME": "CI", "GIT_AUTHOR_EMAIL": "ci@example.org"},
    )
    shas["merge"] = up.rev("HEAD")
    up.checkout("master")
    repo = make_patch_repo()
    repo.set_base(PROJECT, up, base, branch="stable/1.x")
    (repo.path / ".gitignore").write_text(".verda/\n")
    repo.commit_all("base")
    return up, repo, shas


def test_cherry_pick_by_sha(picks: tuple[Upstream, PatchRepo, dict[str, str]]) -> None:
    up, repo, shas = picks
    config = config_mod.load(repo.path)
    result = cherry_pick(config, PROJECT, shas["readme"][:10])
    assert result.file == "cherry-pick/0001-Document-the-API.patch"
    assert result.commit == shas["readme"] and result.applies
    patch = parse_file(repo.path / "patches" / PROJECT / result.file)
    assert patch.cherry_picked_from == (shas["readme"],)
    assert patch.author_name == "Zoë Ångström"
    assert patch.message.endswith(
        f"Change-Id: {change_id('Document the API')}\n(cherry picked from commit {shas['readme']})"
    )
    apply_project(config_mod.load(repo.path), PROJECT)


def test_cherry_pick_by_change_id_prefers_master(
    picks: tuple[Upstream, PatchRepo, dict[str, str]],
) -> None:
    _up, repo, shas = picks
    result = cherry_pick(config_mod.load(repo.path), PROJECT, change_id("quota"))
    assert result.matched_by == "change-id"
    assert result.commit == shas["quota"]
    assert "master" in result.branches
    assert result.others == ((shas["quota-stable"], ("stable/1.x",)),)


def test_cherry_pick_refuses_conflicts_and_duplicates(
    picks: tuple[Upstream, PatchRepo, dict[str, str]],
) -> None:
    _up, repo, shas = picks
    config = config_mod.load(repo.path)
    folder = repo.path / "patches" / PROJECT / "cherry-pick"
    # "Rewrite quota" needs master's quota fix, which the series does not carry yet
    with pytest.raises(OperationFailed, match=r"does not apply .* in sample/quota.py") as info:
        cherry_pick(config, PROJECT, shas["clash"])
    assert "--force" in str(info.value)
    assert not folder.exists()
    forced = cherry_pick(config, PROJECT, shas["clash"], force=True)
    assert forced.applies is False and forced.conflicts == ("sample/quota.py",)
    assert (repo.path / "patches" / PROJECT / str(forced.file)).exists()
    (folder / "0001-Rewrite-quota.patch").unlink()
    cherry_pick(config, PROJECT, shas["quota"])
    with pytest.raises(OperationFailed, match="already carries it"):
        cherry_pick(config, PROJECT, change_id("quota"))
    assert sorted(p.name for p in folder.iterdir()) == ["0001-Fix-the-quota-check.patch"]


def test_cherry_pick_unknown_and_merge(picks: tuple[Upstream, PatchRepo, dict[str, str]]) -> None:
    _up, repo, shas = picks
    config = config_mod.load(repo.path)
    with pytest.raises(UpstreamError, match="no commit, branch or tag") as info:
        cherry_pick(config, PROJECT, "deadbeef" * 5)
    assert info.value.exit_code == 2
    with pytest.raises(UpstreamError, match=r"searched 2 branches: master, stable/1.x"):
        cherry_pick(config, PROJECT, "I" + "0" * 40)
    with pytest.raises(UserError, match="merge commit"):
        cherry_pick(config, PROJECT, shas["merge"])
    with pytest.raises(OperationFailed, match="already in the base"):
        cherry_pick(config, PROJECT, "1.0.0")
    assert not (repo.path / "patches").exists()


def test_cherry_pick_appends_to_series(picks: tuple[Upstream, PatchRepo, dict[str, str]]) -> None:
    _up, repo, shas = picks
    repo.add_patch(
        PROJECT,
        "cherry-pick",
        "0007-earlier.patch",
        git(_up.path, "format-patch", "-1", "--stdout", shas["readme"]) + "\n",
    )
    repo.series(PROJECT, "cherry-pick", ["0007-earlier.patch"])
    result = cherry_pick(config_mod.load(repo.path), PROJECT, shas["quota"])
    assert result.file == "cherry-pick/0008-Fix-the-quota-check.patch"
    series = (repo.path / "patches" / PROJECT / "cherry-pick" / "series").read_text()
    assert series == "0007-earlier.patch\n0008-Fix-the-quota-check.patch\n"
    assert (
        Path(repo.path / "patches" / PROJECT / "cherry-pick" / "0008-Fix-the-quota-check.patch")
        .read_text()
        .count("(cherry picked from commit")
        == 1
    )


def test_identity_is_gits_author_name_before_user_name(
    applied: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    # issue 17: with author.name set, git said one name and new wrote another
    git(applied.work, "config", "user.name", "User Name")
    git(applied.work, "config", "user.email", "user@example.org")
    git(applied.work, "config", "author.name", "Author Name")
    git(applied.work, "config", "author.email", "author@example.org")
    said = subprocess.run(
        ["git", "var", "GIT_AUTHOR_IDENT"], cwd=applied.work, capture_output=True, text=True
    ).stdout
    assert said.startswith("Author Name <author@example.org> ")
    assert user_identity(applied.work) == ("Author Name", "author@example.org")
    monkeypatch.setenv("EMAIL", "ignored@example.org")  # config wins over EMAIL, as in git
    assert user_identity(applied.work) == ("Author Name", "author@example.org")
