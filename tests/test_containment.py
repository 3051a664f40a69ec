"""Issue 18, containment and state: a patch repo under review is someone else's input.

Each test plants what a pull request can carry (a committed symlink, a folder,
a state file) and runs the commands a CI job or a colleague would. The files
outside the patch repo — a fake home with .bashrc and .gitconfig, a secret, a
second mirror in the shared cache — must be byte-identical afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.builders import git, side_commit, write_series
from tests.test_bump import _applied, _to_conflict, build_template, copy_scenario
from verda_patch import bump
from verda_patch.config import load
from verda_patch.worktree import WorkTree

BASHRC = b"# the victim's shell setup\nexport PATH=/usr/bin\n"
GITCONFIG = b"[user]\n\tname = Victim\n"
SECRET = b"build-token-do-not-leak\n"


class Outside:
    """Files verda-patch must never touch, and a byte-exact snapshot of them."""

    def __init__(self, tmp_path: Path) -> None:
        self.home = tmp_path / "victim"
        self.home.mkdir()
        (self.home / ".bashrc").write_bytes(BASHRC)
        (self.home / ".gitconfig").write_bytes(GITCONFIG)
        (self.home / "notes").mkdir()
        (self.home / "notes" / "todo.txt").write_text("keep me\n")
        (self.home / "sample.json").write_text('{"mine": true}\n')
        self.secret_dir = tmp_path / "secrets"
        (self.secret_dir / "sample").mkdir(parents=True)
        (self.secret_dir / "sample" / "token").write_bytes(SECRET)
        self.mirror = tmp_path / "cache" / "other-team-0123456789abcdef.git"
        self.mirror.parent.mkdir(parents=True, exist_ok=True)
        git(self.mirror.parent, "init", "-q", "--bare", self.mirror.name)
        (self.mirror / "refs" / "tags").mkdir(parents=True, exist_ok=True)
        (self.mirror / "refs" / "tags" / "2.0.0").write_text("1" * 40 + "\n")
        self.before = self.snapshot()

    def snapshot(self) -> dict[str, tuple[str, bytes]]:
        out: dict[str, tuple[str, bytes]] = {}
        for top in (self.home, self.secret_dir, self.mirror):
            for dirpath, dirnames, filenames in os.walk(top):
                for name in dirnames + filenames:
                    path = Path(dirpath) / name
                    if path.is_symlink():
                        out[str(path)] = ("link", os.readlink(path).encode())
                    elif path.is_file():
                        out[str(path)] = (oct(path.stat().st_mode), path.read_bytes())
                    else:
                        out[str(path)] = ("dir", b"")
        return out

    def assert_untouched(self) -> None:
        assert self.snapshot() == self.before


@pytest.fixture
def outside(tmp_path):
    return Outside(tmp_path)


@pytest.fixture
def repo(make_upstream, make_patch_repo):
    up = make_upstream()
    base = up.rev("1.0.0")
    fix = side_commit(
        up, base, "Raise core quota", {"sample/quota.py": "LIMITS = {'cores': 40, 'ram': 51200}\n"}
    )
    repo = make_patch_repo()
    repo.set_base("sample", up, base, ref="1.0.0")
    write_series(repo, up, "sample", "customs", [fix])
    repo.up = up  # type: ignore[attr-defined]
    return repo


def _refused(result, name: str) -> None:
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    assert name in result.stderr
    assert "Traceback" not in result.stderr


# --- symlinks where verda-patch writes -------------------------------------------------------


@pytest.mark.parametrize("link", [".verda", ".verda/work", ".verda/work/sample"])
@pytest.mark.parametrize("target", ["home", "mirror"])
def test_apply_never_resets_a_folder_a_symlink_points_to(repo, outside, link, target):
    where = repo.path / link
    where.parent.mkdir(parents=True, exist_ok=True)
    # the victim's home, or another team's mirror in the shared cache
    where.symlink_to(outside.home if target == "home" else outside.mirror)
    _refused(repo.run("apply", "sample"), link)
    outside.assert_untouched()
    _refused(repo.run("apply", "--force", "sample"), link)
    outside.assert_untouched()


def test_a_work_dir_that_is_a_symlink_is_refused(repo, outside):
    (repo.path / "verda-patch.yaml").write_text("work_dir: build\n")
    (repo.path / "build").symlink_to(outside.home)
    _refused(repo.run("apply", "sample"), "build")
    outside.assert_untouched()


def test_a_work_dir_inside_git_is_refused(repo):
    (repo.path / "verda-patch.yaml").write_text("work_dir: .git/x\n")
    result = repo.run("list")
    assert result.exit_code == 2
    assert "verda-patch.yaml:1" in result.stderr


@pytest.mark.parametrize("command", [["apply", "sample"], ["review", "sample"], ["tag", "sample"]])
def test_the_lock_is_never_opened_through_a_symlink(repo, outside, command):
    (repo.path / ".verda").mkdir()
    (repo.path / ".verda" / "lock").symlink_to(outside.home / ".gitconfig")
    _refused(repo.run(*command), ".verda/lock")
    outside.assert_untouched()


def test_the_lock_is_never_a_hard_link(repo, outside):
    (repo.path / ".verda").mkdir()
    os.link(outside.home / ".gitconfig", repo.path / ".verda" / "lock")
    _refused(repo.run("apply", "sample"), ".verda/lock")
    outside.assert_untouched()


def test_a_symlinked_state_folder_is_never_written(repo, outside):
    (repo.path / ".verda").mkdir()
    (repo.path / ".verda" / "state").symlink_to(outside.home)
    result = repo.run("apply", "sample")
    assert result.exit_code == 0, result.stderr  # .verda/state is not used any more
    outside.assert_untouched()


def _patches_linked_out(repo, outside) -> Path:
    real = repo.path / "patches" / "sample"
    victim = outside.home / "notes"
    for path in sorted(real.rglob("*")):
        target = victim / path.relative_to(real)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    outside.before = outside.snapshot()
    return real


def test_patch_folder_symlink_is_refused_by_every_writer(repo, outside):
    assert repo.run("apply", "sample").exit_code == 0
    tree = repo.path / ".verda/work/sample"
    (tree / "sample" / "new.py").write_text("x = 1\n")
    real = _patches_linked_out(repo, outside)
    shutil.rmtree(real)
    real.symlink_to(outside.home / "notes")
    for command in (
        ["new", "sample", "more", "-c", "customs", "-m", "More"],
        ["export", "sample"],
        ["prune", "sample", "--yes"],
        ["list", "sample"],
        ["check", "sample"],
    ):
        result = repo.run(*command)
        assert result.exit_code == 2, (command, result.stderr)
        assert "patches/sample" in result.stderr, command
        outside.assert_untouched()


@pytest.mark.parametrize("link", ["custom-source", "custom-source/sample"])
def test_custom_source_from_outside_never_reaches_review_or_archive(repo, outside, link):
    where = repo.path / link
    where.parent.mkdir(parents=True, exist_ok=True)
    where.symlink_to(
        outside.secret_dir / "sample" if link.endswith("sample") else outside.secret_dir
    )
    for command in (["review", "sample"], ["archive", "sample", "-o", "out.tar.gz"]):
        _refused(repo.run(*command), link)
    result = repo.run("check", "sample")
    assert result.exit_code != 0
    assert link in result.stderr + result.stdout
    assert not (repo.path / "review" / "sample" / "token").exists()
    assert not (repo.path / "out.tar.gz").exists()
    outside.assert_untouched()


@pytest.mark.parametrize("link", ["review", "review/sample"])
def test_review_never_writes_through_a_symlink(repo, outside, link):
    where = repo.path / link
    where.parent.mkdir(parents=True, exist_ok=True)
    where.symlink_to(outside.home / "notes")
    _refused(repo.run("review", "sample"), link)
    outside.assert_untouched()


def test_containment_is_by_component_not_by_string_prefix(repo):
    # the series makes sample/out a link to ../../sample2 (a neighbour work tree);
    # custom-source then writes through it: ".../work/sample2" starts with ".../work/sample"
    up = repo.up
    base = up.rev("1.0.0")
    side = side_commit(up, base, "placeholder", {})
    git(up.path, "checkout", "-q", "--detach", base)
    (up.path / "sample" / "out").symlink_to("../../sample2")
    git(up.path, "add", "sample/out")
    up.tick += 1
    link = up.commit("Add link")
    git(up.path, "checkout", "-q", "-")
    del side
    (repo.path / "patches" / "sample" / "customs" / "0002-link.patch").write_bytes(
        up.format_patch(link)
    )
    neighbour = repo.path / ".verda" / "work" / "sample2"
    neighbour.mkdir(parents=True)
    (repo.path / "custom-source" / "sample" / "sample" / "out").mkdir(parents=True)
    (repo.path / "custom-source" / "sample" / "sample" / "out" / "planted").write_text("x\n")
    result = repo.run("apply", "sample")
    assert list(neighbour.iterdir()) == []
    assert result.exit_code == 2, result.stderr
    assert "symlink" in result.stderr


def test_is_within_compares_whole_components(tmp_path):
    from verda_patch.contain import is_within

    (tmp_path / "nova").mkdir()
    (tmp_path / "nova2").mkdir()
    (tmp_path / "nova" / "link").symlink_to(tmp_path / "nova2")
    assert is_within(tmp_path / "nova" / "a", tmp_path / "nova")
    assert is_within(tmp_path / "nova", tmp_path / "nova")
    assert not is_within(tmp_path / "nova2", tmp_path / "nova")
    assert not is_within(tmp_path / "nova" / "link" / "x", tmp_path / "nova")


# --- folders verda-patch did not make ---------------------------------------------------------


def test_apply_never_cleans_a_folder_it_did_not_create(repo, outside):
    planted = repo.path / ".verda" / "work" / "sample"
    planted.mkdir(parents=True)
    (planted / "keep.txt").write_text("committed by someone\n")
    repo.commit_all("carry a work tree folder")  # as 'git add -f' would
    for command in (["apply", "sample"], ["apply", "--force", "sample"]):
        _refused(repo.run(*command), ".verda/work/sample")
        assert (planted / "keep.txt").read_text() == "committed by someone\n"
    outside.assert_untouched()


def test_verda_ignores_itself_in_a_repo_init_did_not_make(repo):
    assert not (repo.path / ".gitignore").exists()
    assert repo.run("apply", "sample").exit_code == 0
    status = git(repo.path, "status", "--porcelain", "--untracked-files=all")
    assert ".verda" not in status
    git(repo.path, "add", "-A")
    staged = git(repo.path, "diff", "--cached", "--name-only")
    assert ".verda" not in staged


def test_a_planted_verda_gitignore_is_rewritten(repo):
    (repo.path / ".verda").mkdir()
    (repo.path / ".verda" / ".gitignore").write_text("!*\n")
    assert repo.run("apply", "sample").exit_code == 0
    assert ".verda" not in git(repo.path, "status", "--porcelain", "--untracked-files=all")


# --- operation state a checkout cannot plant ----------------------------------------------------


@pytest.fixture(scope="module")
def release_template(tmp_path_factory):
    return build_template(tmp_path_factory)


@pytest.fixture
def scenario(release_template, tmp_path):
    return copy_scenario(release_template, tmp_path)


def _bump_to_conflict(s):
    _applied(s)
    _to_conflict(s)
    return bump.state_path(s.root, "sample")


def test_a_bump_state_naming_a_backup_outside_deletes_nothing(scenario, outside):
    path = _bump_to_conflict(scenario)
    state = json.loads(path.read_text())
    state["backup"] = str(outside.home)  # --abort used to restore from and rmtree it
    state["files"] = {}
    path.write_text(json.dumps(state))
    result = scenario.repo.run("base", "bump", "--abort", "sample")
    outside.assert_untouched()
    assert result.exit_code in (0, 1), result.stderr
    assert "Traceback" not in result.stderr


def test_a_bump_state_removing_a_path_outside_deletes_nothing(scenario, outside):
    path = _bump_to_conflict(scenario)
    state = json.loads(path.read_text())
    state["phase"] = bump.PRUNING
    state["remove"] = ["customs/../../../../../victim/.bashrc"]
    path.write_text(json.dumps(state))
    result = scenario.repo.run("base", "bump", "--continue", "sample")
    outside.assert_untouched()
    assert result.exit_code == 1, result.stderr
    assert "damaged" in result.stderr and "Traceback" not in result.stderr


def test_a_bump_state_from_a_commit_is_not_read(scenario, outside):
    # what an older verda-patch kept under .verda/state/: a pull request can carry it
    s = scenario
    planted = s.root / ".verda" / "state" / "sample.bump.json"
    planted.parent.mkdir(parents=True)
    planted.write_text(
        json.dumps(
            {
                "version": 1,
                "operation": "bump",
                "project": "sample",
                "phase": "conflict",
                "from": {"commit": s.old, "ref": "1.0.0"},
                "to": {"commit": s.new, "ref": "2.0.0"},
                "backup": str(outside.home),
                "files": {},
                "dirs": [],
                "work_tree": {"existed": False, "head": None, "synced": None},
                "remove": [],
                "verdicts": [],
                "prune": {},
                "requirements": [],
            }
        )
    )
    s.repo.commit_all("carry a state file")
    before = s.snapshot()
    for action in ("--abort", "--continue"):
        result = s.repo.run("base", "bump", action, "sample")
        _refused(result, ".verda/state/sample.bump.json")
        assert "older verda-patch" in result.stderr
    outside.assert_untouched()
    assert s.snapshot() == before


def test_a_planted_apply_state_never_discards_uncommitted_work(repo):
    assert repo.run("apply", "sample").exit_code == 0
    quota = repo.path / ".verda/work/sample/sample/quota.py"
    quota.write_text("mine = True\n")
    planted = repo.path / ".verda" / "state" / "sample.json"
    planted.parent.mkdir(parents=True, exist_ok=True)
    base = repo.bases["sample"]["commit"]
    planted.write_text(
        json.dumps(
            {
                "operation": "apply",
                "phase": "applying",  # "an interrupted run": would skip the unsaved-work check
                "project": "sample",
                "base": base,
                "previous_head": None,
                "previous_synced": None,
                "patches": [],
                "backup_ref": None,
            }
        )
    )
    result = repo.run("apply", "sample")
    assert result.exit_code == 1, result.stderr
    assert "uncommitted changes" in result.stderr
    assert quota.read_text() == "mine = True\n"


def test_a_state_base_is_never_an_option_to_git(repo, tmp_path):
    assert repo.run("apply", "sample").exit_code == 0
    state = {
        "operation": "apply",
        "phase": "conflict",
        "project": "sample",
        "base": f"--output={tmp_path / 'pwned'}",
        "previous_head": None,
        "previous_synced": None,
        "patches": ["customs/0001-Raise-core-quota.patch"],
        "backup_ref": None,
    }
    for where in (
        WorkTree(load(repo.path), "sample").state_file,
        repo.path / ".verda" / "state" / "sample.json",
    ):
        where.parent.mkdir(parents=True, exist_ok=True)
        where.write_text(json.dumps(state))
    result = repo.run("apply", "--continue", "sample")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("pwned")]
    assert result.exit_code == 1, result.stderr
    assert "damaged" in result.stderr and "Traceback" not in result.stderr


def test_apply_and_bump_state_never_share_a_file(repo):
    up = repo.up
    repo.set_base("sample.bump", up, up.rev("1.0.0"))
    config = load(repo.path)
    apply_state = WorkTree(config, "sample.bump").state_file
    assert apply_state != bump.state_path(repo.path, "sample")
    assert apply_state != bump.backup_dir(repo.path, "sample")


# --- git's ownership check stays on for the patch repo ------------------------------------------


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a folder to another user")
def test_a_git_dir_of_another_user_above_the_patch_repo_runs_nothing(make_upstream, tmp_path):
    up = make_upstream()
    outer = tmp_path / "shared"
    outer.mkdir()
    git(outer, "init", "-q")
    pwned = tmp_path / "pwned"
    hook = tmp_path / "fsmonitor.sh"
    hook.write_text(f"#!/bin/sh\ntouch {pwned}\n")
    hook.chmod(0o755)
    repo = outer / "patches-here"  # a folder of its own, not a repository
    repo.mkdir()
    (repo / "base-commit").write_text(
        f"sample:\n  upstream: {up.path}\n  commit: {up.rev('1.0.0')}\n  ref: 1.0.0\n"
    )
    git(outer, "add", "-A")
    git(outer, "-c", "user.name=o", "-c", "user.email=o@example.org", "commit", "-qm", "o")
    git(outer, "config", "core.fsmonitor", str(hook))
    for path in (outer, outer / ".git", *(outer / ".git").rglob("*")):
        os.lchown(path, 65534, 65534)
    from click.testing import CliRunner

    from verda_patch.cli import cli

    for command in (["tag", "sample"], ["apply", "sample"], ["check"]):
        result = CliRunner().invoke(cli, ["--repo", str(repo), *command])
        assert "Traceback" not in result.stderr, command
    assert not pwned.exists()


# --- export never overwrites a patch file it has not seen -------------------------------------


def test_export_keeps_a_patch_file_changed_since_the_last_apply(repo):
    assert repo.run("apply", "sample").exit_code == 0
    patch = repo.path / "patches/sample/customs/0001-Raise-core-quota.patch"
    pulled = patch.read_bytes().replace(b"Raise core quota", b"Raise the core quota (reviewed)")
    patch.write_bytes(pulled)  # a colleague's change, pulled after the apply
    result = repo.run("export", "sample")
    assert result.exit_code == 1, result.stderr
    assert "customs/0001-Raise-core-quota.patch" in result.stderr
    assert "--force" in result.stderr
    assert patch.read_bytes() == pulled
    forced = repo.run("export", "--force", "sample")
    assert forced.exit_code == 0, forced.stderr
    assert b"Raise core quota" in patch.read_bytes()
    assert repo.run("export", "sample").exit_code == 0  # synced again


def test_export_writes_what_changed_in_the_tree_when_the_file_did_not_change(repo):
    assert repo.run("apply", "sample").exit_code == 0
    tree = repo.path / ".verda/work/sample"
    git(
        tree,
        "commit",
        "--amend",
        "-q",
        "-m",
        "Raise core quota to 40\n\nVerda-Patch: customs/0001-Raise-core-quota.patch",
    )
    result = repo.run("export", "sample")
    assert result.exit_code == 0, result.stderr
    assert (
        b"Raise core quota to 40"
        in (repo.path / "patches/sample/customs/0001-Raise-core-quota.patch").read_bytes()
    )


# --- what reaches the terminal; patterns and names matched whole --------------------------------

HIDDEN_LINK = "\x1b]8;;https://evil.example/\x07click\x1b]8;;\x07"


def test_control_characters_in_subjects_and_file_names_are_shown_escaped(repo):
    up = repo.up
    sha = side_commit(
        up,
        up.rev("1.0.0"),
        f"Fix {HIDDEN_LINK}\x1b[2Kquota\u202e",
        {"sample/api.py": "x = 1\n"},
    )
    repo.add_patch("sample", "customs", "0002-\x1b[2Kerase.patch", up.format_patch(sha))
    for command in (["list", "sample"], ["apply", "sample"], ["check", "sample"]):
        result = repo.run(*command)
        shown = result.stdout + result.stderr
        assert "\x1b" not in shown and "\u202e" not in shown, command
        assert "Traceback" not in shown
    listed = repo.run("list", "sample").stdout
    assert "\\x1b]8;;https://evil.example/\\x07click" in listed
    assert "0002-\\x1b[2Kerase.patch" in listed


def test_an_error_naming_a_file_shows_its_control_characters_escaped(repo):
    repo.add_patch("sample", "customs", "0002-\x1b]0;owned\x07.patch", b"not a patch at all\n")
    result = repo.run("apply", "sample")
    assert result.exit_code == 2, result.stderr
    assert "\x1b" not in result.stderr
    assert "0002-\\x1b]0;owned\\x07.patch" in result.stderr


@pytest.mark.parametrize(
    "pattern",
    ["{project:>1000000000}-{n}", "{project}-{n:03}", "{project!r}-{n}", "{n}-{n}", "{ref}"],
)
def test_a_bad_tag_pattern_is_refused_by_check_and_tag(repo, pattern):
    (repo.path / "verda-patch.yaml").write_text(f"tag_pattern: '{pattern}'\n")
    repo.commit_all("settings")
    for command in (["check"], ["tag", "sample"], ["list"]):
        result = repo.run(*command)
        assert result.exit_code == 2, (command, result.stderr)
        assert "verda-patch.yaml:1" in result.stderr and "tag_pattern" in result.stderr


@pytest.mark.parametrize(
    "text, where",
    [
        ('"sample\\n":\n  upstream: UP\n  commit: C\n', "base-commit:1"),
        ('sample:\n  upstream: UP\n  commit: "C\\n"\n', "base-commit:3"),
    ],
)
def test_a_trailing_newline_never_passes_validation(repo, text, where):
    up = repo.up
    (repo.path / "base-commit").write_text(
        text.replace("UP", str(up.path)).replace("C", up.rev("1.0.0"))
    )
    result = repo.run("list")
    assert result.exit_code == 2, result.stderr
    assert where in result.stderr


def test_a_category_with_a_trailing_newline_is_refused(repo):
    (repo.path / "verda-patch.yaml").write_text('categories: ["customs\\n"]\n')
    result = repo.run("list")
    assert result.exit_code == 2, result.stderr
    assert "verda-patch.yaml:1" in result.stderr


def test_continue_names_an_apply_state_an_older_version_left(repo):
    assert repo.run("apply", "sample").exit_code == 0
    old = repo.path / ".verda" / "state" / "sample.json"
    old.parent.mkdir(parents=True)
    old.write_text("{}")
    for action in ("--continue", "--abort"):
        result = repo.run("apply", action, "sample")
        _refused(result, ".verda/state/sample.json")
        assert "older verda-patch" in result.stderr


@pytest.mark.parametrize("name", ["base-commit", "verda-patch.yaml"])
def test_a_config_file_that_is_a_symlink_is_never_read(repo, outside, name):
    secret = outside.secret_dir / "sample" / "token"
    target = repo.path / name
    target.unlink(missing_ok=True)
    target.symlink_to(secret)
    result = repo.run("--repo", str(repo.path), "list")
    assert result.exit_code == 2, result.stderr
    assert name in result.stderr and "symlink" in result.stderr
    assert "build-token" not in result.stdout + result.stderr
