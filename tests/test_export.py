"""export: canonical rendering, "form is not meaning", and the apply → export round trip."""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.builders import AUTHOR, PatchRepo, Upstream, git, sample_upstream
from verda_patch import config as config_mod
from verda_patch.apply import apply_project
from verda_patch.errors import DirtyWorkTree
from verda_patch.export import (
    ExportResult,
    _text_verdict,
    add_trailer,
    export_project,
    export_tree,
    render_commit,
    strip_trailer,
)
from verda_patch.worktree import WorkTree

SAMPLES = Path(__file__).parent / "samples" / "export"
PROJECT = "sample"


# --- helpers shared by the other test modules of issue 5 ------------------------------


@dataclass
class Setup:
    up: Upstream
    repo: PatchRepo
    base: str
    feature: list[str]  # upstream commits on branch "feature", oldest first

    @property
    def work(self) -> Path:
        return self.repo.path / ".verda" / "work" / PROJECT

    def config(self) -> config_mod.RepoConfig:
        return config_mod.load(self.repo.path)

    def patch_dir(self, category: str = "general") -> Path:
        return self.repo.path / "patches" / PROJECT / category

    def snapshot(self) -> dict[str, bytes]:
        root = self.repo.path / "patches"
        return {
            str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
        }

    def status(self) -> str:
        return git(self.repo.path, "status", "--porcelain", "--untracked-files=all")

    def wgit(self, *args: str, env: dict[str, str] | None = None) -> str:
        """git in the work tree, as the developer runs it."""
        extra = {
            "GIT_AUTHOR_NAME": "Dev",
            "GIT_AUTHOR_EMAIL": "dev@example.org",
            "GIT_AUTHOR_DATE": "@1700100000 +0200",
            "GIT_COMMITTER_DATE": "@1700100000 +0200",
        }
        extra.update(env or {})
        return git(self.work, *args, env=extra)

    def apply(self, force: bool = False) -> None:
        apply_project(self.config(), PROJECT, force=force)

    def commits(self) -> list[str]:
        return self.wgit("log", "--format=%H", "--reverse", f"{self.base}..HEAD").split()

    def amend(
        self, index: int, files: dict[str, str] | None = None, message: str | None = None
    ) -> None:
        """Amend the ``index``-th patch commit (0-based) the way a developer does."""
        target = self.commits()[index]
        self.wgit("checkout", "--quiet", "-b", "tmp", target)
        for name, content in (files or {}).items():
            (self.work / name).write_text(content)
        args = ["commit", "-q", "-a", "--amend"]
        args += ["-m", message] if message is not None else ["--no-edit"]
        self.wgit(*args)
        self.wgit("rebase", "--quiet", "--onto", "tmp", target, f"verda/{PROJECT}")
        self.wgit("branch", "-q", "-D", "tmp")


def feature_upstream(up: Upstream) -> tuple[str, list[str]]:
    """Five upstream commits on branch ``feature`` off master's tip (the base)."""
    base = up.rev("HEAD")
    up.branch("feature")
    up.checkout("feature")
    shas = [
        up.commit(
            "Fix quota for cores",
            {"sample/quota.py": "LIMITS = {'cores': 40, 'ram': 51200}\n"},
            body="Cores were capped too low.\n\nCloses-Bug: #1",
        ),
        up.commit(
            "[doc] Explain the scheduler",
            {"README.rst": "Sample\n======\n\nThe scheduler weighs hosts.\n"},
        ),
        up.commit(
            "Add a RAM weigher",
            {"sample/weigher.py": "def weigh(host):\n    return host.ram\n"},
            author="Kenji Watanabe <kenji@example.org>",
        ),
        up.commit(
            "Tweak api_20",
            {
                "sample/api.py": (up.path / "sample/api.py")
                .read_text()
                .replace("return 20\n", "return 2000\n")
            },
        ),
        up.commit(
            "Tweak api_30",
            {
                "sample/api.py": (up.path / "sample/api.py")
                .read_text()
                .replace("return 30\n", "return 3000\n")
            },
            change_id=False,
        ),
    ]
    up.checkout("master")
    return base, shas


def format_patches(up: Upstream, since: str, until: str, *flags: str) -> list[bytes]:
    """``git format-patch -o DIR since..until FLAGS`` as a user's git writes it."""
    out = Path(tempfile.mkdtemp(dir=up.path.parent))
    git(up.path, "format-patch", "-q", "-o", str(out), *flags, f"{since}..{until}")
    return [p.read_bytes() for p in sorted(out.iterdir())]


@dataclass
class Shared:
    """One upstream with a ``feature`` branch for a whole test session (never modified)."""

    up: Upstream
    base: str
    feature: list[str]
    _patches: dict[tuple[str, ...], list[bytes]]

    def patches(self, flags: tuple[str, ...]) -> list[bytes]:
        if flags not in self._patches:
            self._patches[flags] = format_patches(self.up, self.base, "feature", *flags)
        return self._patches[flags]


@pytest.fixture(scope="session", name="shared")
def shared_fixture(tmp_path_factory: pytest.TempPathFactory) -> Shared:
    up = sample_upstream(tmp_path_factory.mktemp("shared") / "upstream")
    base, shas = feature_upstream(up)
    return Shared(up, base, shas, {})


def make_setup(
    shared: Shared,
    make_patch_repo: Callable[..., PatchRepo],
    *,
    flags: tuple[str, ...] = (),
    category: str = "general",
    series: bool = False,
) -> Setup:
    repo = make_patch_repo()
    repo.set_base(PROJECT, shared.up, shared.base)
    (repo.path / ".gitignore").write_text(".verda/\n")
    names = []
    for i, data in enumerate(shared.patches(flags), 1):
        name = f"{i:04d}-p{i}.patch"
        repo.add_patch(PROJECT, category, name, data)
        names.append(name)
    if series:
        repo.series(PROJECT, category, ["# order", *names])
    repo.commit_all("patches")
    return Setup(shared.up, repo, shared.base, shared.feature)


@pytest.fixture(name="setup")
def setup_fixture(shared: Shared, make_patch_repo: Callable[..., PatchRepo]) -> Setup:
    return make_setup(shared, make_patch_repo)


# --- canonical rendering ------------------------------------------------------------------


def golden_upstream(path: Path) -> tuple[Upstream, str]:
    """A commit with an edit, a new file, a rename and a non-ASCII author: fixed bytes."""
    up = Upstream(path)
    up.commit(
        "Initial",
        {
            "a.py": "".join(f"line {i}\n" for i in range(20)),
            "old_name.txt": "".join(f"text {i}\n" for i in range(30)),
        },
    )
    git(up.path, "mv", "old_name.txt", "new_name.txt")
    sha = up.commit(
        "[doc] Rework the sample",
        {
            "a.py": "".join(f"line {i}\n" for i in range(20)).replace("line 7\n", "line seven\n"),
            "new.py": "print('hi')\n",
            "new_name.txt": "".join(f"text {i}\n" for i in range(30)) + "one more\n",
        },
        body="Explain why.\n\nCloses-Bug: #42",
        author=AUTHOR,
    )
    return up, sha


def test_render_commit_matches_golden(tmp_path: Path) -> None:
    up, sha = golden_upstream(tmp_path / "up")
    expected = (SAMPLES / "render-basic.patch").read_bytes()
    assert render_commit(up.path, sha) == expected


def test_repo_config_and_attributes_cannot_change_rendering(tmp_path: Path) -> None:
    up, sha = golden_upstream(tmp_path / "up")
    for key, value in [
        ("diff.noprefix", "true"),
        ("diff.mnemonicPrefix", "true"),
        ("diff.algorithm", "histogram"),
        ("diff.context", "7"),
        ("diff.renames", "false"),
        ("diff.statGraphWidth", "5"),
        ("diff.suppressBlankEmpty", "true"),
        ("format.signature", "ACME"),
        ("format.numbered", "always"),
        ("format.subjectPrefix", "ACME"),
        ("format.headers", "X-Acme: 1"),
        ("format.signOff", "true"),
        ("format.from", "true"),
        ("format.attach", "true"),
        ("format.thread", "deep"),
        ("format.useAutoBase", "true"),
        ("format.notes", "true"),
        ("core.abbrev", "5"),
        ("color.ui", "always"),
        ("diff.orderFile", "/dev/null"),
        ("i18n.logOutputEncoding", "ISO-8859-1"),
        ("log.showSignature", "true"),
    ]:
        git(up.path, "config", key, value)
    (up.path / ".git" / "info").mkdir(exist_ok=True)
    (up.path / ".git" / "info" / "attributes").write_text("*.py diff=weird\n*.txt -diff\n")
    (up.path / ".gitattributes").write_text("* binary\n")
    assert render_commit(up.path, sha) == (SAMPLES / "render-basic.patch").read_bytes()


def test_trailer_is_stripped_and_cherry_line_added() -> None:
    text = (SAMPLES / "render-basic.patch").read_bytes()
    cid = b"Change-Id: Ic853276d3f8e72c69c1fa5fa52c28026789cf6c7\n"
    in_block = text.replace(cid, cid + b"Verda-Patch: general/x.patch\n")
    assert strip_trailer(in_block) == text
    own_paragraph = text.replace(cid, cid + b"\nVerda-Patch: general/x.patch\n")
    assert strip_trailer(own_paragraph) == text
    picked = add_trailer(text, "(cherry picked from commit " + "a" * 40 + ")")
    assert cid + b"(cherry picked from commit " + b"a" * 40 + b")\n---\n" in picked
    assert strip_trailer(text) == text


def test_subject_only_commit_renders_like_format_patch(tmp_path: Path) -> None:
    up = Upstream(tmp_path / "up")
    up.commit("Initial", {"a": "1\n"})
    sha = up.commit("Only a subject", {"a": "2\n"}, change_id=False)
    rendered = render_commit(up.path, sha)
    assert b"Subject: [PATCH] Only a subject\n\n---\n" in rendered
    assert rendered.startswith(b"From 0000000000000000000000000000000000000000 ")
    assert b"\n-- \n" not in rendered


# --- form is not meaning (export's text verdict) ----------------------------------------------


def same_meaning(old: bytes, new: bytes, *, name: str = "") -> bool:
    """What export decides from the text alone: same meaning (True), else changed or
    only an apply test can tell."""
    return _text_verdict(old, new, name)[0] is True


def test_form_is_not_meaning(tmp_path: Path) -> None:
    up = Upstream(tmp_path / "up")
    up.commit("Initial", {"a.py": "".join(f"x{i}\n" for i in range(30))})
    sha = up.commit(
        "Change a", {"a.py": "".join(f"x{i}\n" for i in range(30)).replace("x9", "y9")}, body="Why."
    )
    canonical = render_commit(up.path, sha)
    for flags in [
        (),
        ("--no-stat",),
        ("--numbered",),
        ("--signature=2.30.0",),
        ("--no-signature",),
        ("--stat=40",),
        ("-U3", "--full-index"),
        ("--zero-commit",),
    ]:
        other = up.format_patch(sha, *flags)
        assert same_meaning(other, canonical), flags
        assert same_meaning(canonical, other), flags
    assert same_meaning(canonical.replace(b"+0000", b"+0000 (UTC)"), canonical)


def _redate(text: bytes, seconds: int, zone: str = "+0000") -> bytes:
    import email.utils
    import re

    match = re.search(rb"^Date: (.*)$", text, re.MULTILINE)
    assert match
    stamp = email.utils.mktime_tz(email.utils.parsedate_tz(match.group(1).decode())) + seconds
    hours = int(zone[1:3]) * (1 if zone[0] == "+" else -1)
    new = email.utils.formatdate(stamp + hours * 3600, usegmt=False).rsplit(" ", 1)[0]
    return text.replace(match.group(0), b"Date: " + f"{new} {zone}".encode())


@pytest.mark.parametrize(
    "change",
    [
        lambda t: t.replace(b"\nWhy.\n", b"\nWhy not.\n"),
        lambda t: t.replace(b"Subject: [PATCH] Change a", b"Subject: [PATCH] Change b"),
        lambda t: _redate(t, 1),
        lambda t: _redate(t, 0, "+0200"),  # same instant as text, another zone: a different date
        lambda t: t.replace(b"<zoe@example.org>", b"<zoe@example.net>"),
        lambda t: t.replace(b"+y9", b"+z9"),
    ],
    ids=["message", "subject", "date", "zone", "author", "diff"],
)
def test_meaning_changes_are_seen(tmp_path: Path, change: Callable[[bytes], bytes]) -> None:
    up = Upstream(tmp_path / "up")
    up.commit("Initial", {"a.py": "".join(f"x{i}\n" for i in range(30))})
    sha = up.commit(
        "Change a",
        {"a.py": "".join(f"x{i}\n" for i in range(30)).replace("x9", "y9")},
        body="Why.",
        change_id=False,
    )
    canonical = render_commit(up.path, sha)
    changed = change(canonical)
    assert changed != canonical
    assert not same_meaning(canonical, changed)
    assert same_meaning(canonical, _redate(canonical, 0))  # re-spelled date, same meaning


def test_plain_diff_meaning_uses_the_file_name(tmp_path: Path) -> None:
    up = Upstream(tmp_path / "up")
    up.commit("Initial", {"a": "1\n"})
    sha = up.commit("Change", {"a": "2\n"})
    diff = git(up.path, "diff", f"{sha}^", sha).encode() + b"\n"
    assert same_meaning(diff, diff)
    assert not same_meaning(diff, render_commit(up.path, sha), name="0001-Change.diff")


# --- the round trip ---------------------------------------------------------------------------


THIRD_PARTY = [
    (),  # git's defaults: From <real sha>, [PATCH n/m], abbreviated index, stat, signature
    ("--no-stat",),
    ("--no-numbered", "--signature=2.30.0"),
    ("--no-signature", "--zero-commit", "--full-index"),
    ("-k", "--no-stat"),  # no [PATCH] at all; [doc] stays
    ("-U5", "--stat=50"),  # other context: the diff text differs, its effect does not
    ("--histogram",),
]


@pytest.mark.parametrize("flags", THIRD_PARTY, ids=lambda f: " ".join(f) or "defaults")
def test_third_party_files_stay_byte_for_byte(
    shared: Shared,
    make_patch_repo: Callable[..., PatchRepo],
    flags: tuple[str, ...],
) -> None:
    s = make_setup(shared, make_patch_repo, flags=flags)
    before = s.snapshot()
    s.apply()
    result = export_project(s.config(), PROJECT)
    assert result.written == ()
    assert len(result.unchanged) == 5
    assert result.synced
    assert s.snapshot() == before
    assert s.status() == ""


def test_crlf_latin1_and_no_final_newline_stay_untouched(setup: Setup) -> None:
    folder = setup.patch_dir()
    p1 = folder / "0001-p1.patch"
    p1.write_bytes(p1.read_bytes().replace(b"\n", b"\r\n"))
    p2 = folder / "0002-p2.patch"
    p2.write_bytes(
        re.sub(
            rb"(?m)^From: .*$",
            "From: José Ñandú <jose@example.org>".encode("latin-1"),
            p2.read_bytes(),
            count=1,
        )
    )
    p3 = folder / "0003-p3.patch"
    p3.write_bytes(p3.read_bytes().rstrip(b"\n"))
    setup.repo.commit_all("odd but valid")
    before = setup.snapshot()
    setup.apply()
    assert "José Ñandú" in setup.wgit("log", "-1", "--format=%an", "HEAD~3")
    result = export_project(setup.config(), PROJECT)
    assert result.written == ()
    assert setup.snapshot() == before


def test_export_is_idempotent(setup: Setup) -> None:
    before = setup.snapshot()
    for _ in range(2):
        setup.apply()
        assert export_project(setup.config(), PROJECT).written == ()
        assert setup.status() == ""
    assert setup.snapshot() == before


def test_canonical_files_round_trip(setup: Setup) -> None:
    setup.apply()
    # write every file the canonical way, then apply and export twice: no byte moves
    tree = WorkTree(setup.config(), PROJECT)
    for commit in tree.commits(setup.base):
        name = commit.trailer
        assert name
        path = setup.repo.path / "patches" / PROJECT / name
        path.write_bytes(render_commit(setup.work, commit.sha))
    setup.repo.commit_all("canonical")
    for _ in range(2):
        setup.apply()
        assert export_project(setup.config(), PROJECT).written == ()
        assert setup.status() == ""


def test_amend_rewrites_only_that_file(setup: Setup) -> None:
    setup.apply()
    before = setup.snapshot()
    setup.amend(2, {"sample/weigher.py": "def weigh(host):\n    return host.ram * 2\n"})
    result = export_project(setup.config(), PROJECT)
    assert result.written == ("general/0003-p3.patch",)
    after = setup.snapshot()
    assert [n for n in before if before[n] != after[n]] == ["sample/general/0003-p3.patch"]
    text = after["sample/general/0003-p3.patch"]
    assert b"+    return host.ram * 2\n" in text
    assert b"From: Kenji Watanabe <kenji@example.org>" in text
    assert b"Verda-Patch" not in text
    # the amended branch is saved: apply rebuilds without calling it unsaved
    setup.apply()
    assert export_project(setup.config(), PROJECT).written == ()
    assert setup.status() == " M patches/sample/general/0003-p3.patch"


def test_message_amend_keeps_bracket_subject(setup: Setup) -> None:
    setup.apply()
    old = setup.wgit("log", "-1", "--format=%B", setup.commits()[1])
    setup.amend(
        1, message=old.replace("[doc] Explain the scheduler", "[doc] Explain the scheduler better")
    )
    result = export_project(setup.config(), PROJECT)
    assert result.written == ("general/0002-p2.patch",)
    text = (setup.patch_dir() / "0002-p2.patch").read_bytes()
    assert b"Subject: [PATCH] [doc] Explain the scheduler better\n" in text
    setup.apply()
    assert (
        setup.wgit("log", "-1", "--format=%s", setup.commits()[1])
        == "[doc] Explain the scheduler better"
    )


def test_earlier_amend_shifting_lines_leaves_later_files(setup: Setup) -> None:
    # patches 4 and 5 edit sample/api.py; lines added at its top by patch 1 move their hunks
    setup.apply()
    before = setup.snapshot()
    api = (setup.work / "sample" / "api.py").read_text()
    setup.wgit("checkout", "-q", setup.commits()[0], "--", "sample/api.py")
    original = (setup.work / "sample" / "api.py").read_text()
    setup.wgit("checkout", "-q", "HEAD", "--", "sample/api.py")
    assert api != original
    setup.amend(0, {"sample/api.py": "# header\n# lines\n" + original})
    result = export_project(setup.config(), PROJECT)
    assert result.written == ("general/0001-p1.patch",)
    after = setup.snapshot()
    assert [n for n in before if before[n] != after[n]] == ["sample/general/0001-p1.patch"]


def test_plain_diff_round_trip(shared: Shared, make_patch_repo: Callable[..., PatchRepo]) -> None:
    up, base = shared.up, shared.base
    repo = make_patch_repo()
    repo.set_base(PROJECT, up, base)
    diff = (
        b"--- a/sample/quota.py\n+++ b/sample/quota.py\n@@ -1 +1 @@\n"
        b"-LIMITS = {'cores': 20, 'ram': 51200}\n+LIMITS = {'cores': 64, 'ram': 51200}\n"
    )
    repo.add_patch(PROJECT, "customs", "0001-raise-cores.diff", diff)
    s = Setup(up, repo, base, [])
    s.apply()
    result = export_project(s.config(), PROJECT)
    assert result.written == ()
    assert (s.patch_dir("customs") / "0001-raise-cores.diff").read_bytes() == diff
    # change the diff only: it stays a plain diff
    (s.work / "sample" / "quota.py").write_text("LIMITS = {'cores': 96, 'ram': 51200}\n")
    s.wgit(
        "commit",
        "-q",
        "-a",
        "--amend",
        "--no-edit",
        env={
            "GIT_AUTHOR_NAME": "verda-patch",
            "GIT_AUTHOR_EMAIL": "verda-patch@localhost",
            "GIT_AUTHOR_DATE": "Sat, 1 Jan 2000 00:00:00 +0000",
        },
    )
    result = export_project(s.config(), PROJECT)
    assert result.written == ("customs/0001-raise-cores.diff",)
    text = (s.patch_dir("customs") / "0001-raise-cores.diff").read_bytes()
    assert text.startswith(b"diff --git a/sample/quota.py b/sample/quota.py\n")
    assert b"+LIMITS = {'cores': 96, 'ram': 51200}\n" in text
    s.apply()
    assert export_project(s.config(), PROJECT).written == ()


def test_untracked_commit_is_reported_not_synced(setup: Setup) -> None:
    setup.apply()
    (setup.work / "extra.txt").write_text("x\n")
    setup.wgit("add", "extra.txt")
    setup.wgit("commit", "-q", "-m", "Extra file")
    before = setup.snapshot()
    result = export_project(setup.config(), PROJECT)
    assert len(result.untracked) == 1 and result.untracked[0].endswith(" Extra file")
    assert not result.synced and result.unsaved
    assert setup.snapshot() == before
    with pytest.raises(DirtyWorkTree):
        setup.apply()


def test_reorder_updates_series(shared: Shared, make_patch_repo: Callable[..., PatchRepo]) -> None:
    s = make_setup(shared, make_patch_repo, series=True)
    s.apply()
    # swap patches 2 and 3 (independent files)
    commits = s.wgit("log", "--format=%H", "--reverse", f"{s.base}..HEAD").split()
    s.wgit("reset", "-q", "--hard", commits[0])
    for sha in (commits[2], commits[1], commits[3], commits[4]):
        s.wgit("cherry-pick", "--quiet", "--allow-empty", sha)
    result = export_project(s.config(), PROJECT)
    assert result.reordered == ("general",)
    assert result.synced
    series = (s.patch_dir() / "series").read_text()
    assert series.splitlines() == [
        "# order",
        "0001-p1.patch",
        "0003-p3.patch",
        "0002-p2.patch",
        "0004-p4.patch",
        "0005-p5.patch",
    ]
    s.apply()
    assert export_project(s.config(), PROJECT).written == ()


def test_reorder_without_series_is_reported(setup: Setup) -> None:
    setup.apply()
    commits = setup.wgit("log", "--format=%H", "--reverse", f"{setup.base}..HEAD").split()
    setup.wgit("reset", "-q", "--hard", commits[0])
    for sha in (commits[2], commits[1], commits[3], commits[4]):
        setup.wgit("cherry-pick", "--quiet", sha)
    before = setup.snapshot()
    result = export_project(setup.config(), PROJECT)
    assert result.order_not_saved == ("general",)
    assert not result.synced
    assert setup.snapshot() == before  # moved commits, same content: no file rewritten


def test_dropped_commit_is_missing_then_pruned(
    shared: Shared, make_patch_repo: Callable[..., PatchRepo]
) -> None:
    s = make_setup(shared, make_patch_repo, series=True)
    s.apply()
    commits = s.wgit("log", "--format=%H", "--reverse", f"{s.base}..HEAD").split()
    s.wgit("rebase", "--quiet", "--onto", commits[1], commits[2])  # drop patch 3
    result = export_project(s.config(), PROJECT)
    assert result.missing == ("general/0003-p3.patch",)
    assert result.removed == () and not result.synced
    assert (s.patch_dir() / "0003-p3.patch").exists()
    result = export_project(s.config(), PROJECT, prune_missing=True)
    assert result.removed == ("general/0003-p3.patch",)
    assert result.synced
    assert not (s.patch_dir() / "0003-p3.patch").exists()
    assert "0003-p3.patch" not in (s.patch_dir() / "series").read_text()
    s.apply()


def test_custom_source_commit_is_not_exported(setup: Setup) -> None:
    custom = setup.repo.path / "custom-source" / PROJECT / "etc" / "sample.conf"
    custom.parent.mkdir(parents=True)
    custom.write_text("[DEFAULT]\n")
    setup.apply()
    result = export_project(setup.config(), PROJECT)
    assert result.written == () and result.untracked == () and result.synced
    assert setup.wgit("log", "-1", "--format=%s") == f"Add custom-source/{PROJECT}"


def test_custom_source_commit_reworded_or_edited(setup: Setup) -> None:
    custom = setup.repo.path / "custom-source" / PROJECT / "etc" / "sample.conf"
    custom.parent.mkdir(parents=True)
    custom.write_text("[DEFAULT]\n")
    setup.apply()
    # `commit --amend -m` on HEAD rewords the custom-source commit: still recognised
    setup.wgit(
        "commit",
        "-q",
        "--amend",
        "-m",
        "Reworded",
        "--reset-author",
        env={"GIT_AUTHOR_NAME": "verda-patch", "GIT_AUTHOR_EMAIL": "verda-patch@localhost"},
    )
    result = export_project(setup.config(), PROJECT)
    assert result.untracked == () and result.custom_source_changed == () and result.synced
    # an edit amended into it is not lost silently: export says where it belongs
    (setup.work / "etc" / "sample.conf").write_text("[DEFAULT]\ndebug = true\n")
    setup.wgit("commit", "-q", "-a", "--amend", "--no-edit")
    result = export_project(setup.config(), PROJECT)
    assert result.custom_source_changed == ("etc/sample.conf",)
    assert not result.synced and result.unsaved


def test_dry_run_writes_nothing(setup: Setup) -> None:
    setup.apply()
    setup.wgit("commit", "-q", "--amend", "--no-edit", "--date=@1700200000 +0000")
    before = setup.snapshot()
    result = export_project(setup.config(), PROJECT, write=False)
    assert result.written == ("general/0005-p5.patch",) and not result.synced
    assert setup.snapshot() == before


def test_amend_that_drops_the_trailer_is_matched_by_author_and_date(setup: Setup) -> None:
    setup.apply()
    setup.wgit("commit", "-q", "--amend", "-m", "Tweak api_30 differently")  # trailer gone
    result = export_project(setup.config(), PROJECT)
    assert result.adopted == ("general/0005-p5.patch",)
    assert result.written == ("general/0005-p5.patch",)
    assert result.untracked == () and result.missing == () and result.synced
    assert (
        b"Subject: [PATCH] Tweak api_30 differently\n"
        in (setup.patch_dir() / "0005-p5.patch").read_bytes()
    )
    assert export_project(setup.config(), PROJECT).written == ()  # stable until the next apply
    setup.apply()
    assert (
        setup.wgit("log", "-1", "--format=%(trailers:key=Verda-Patch,valueonly)").strip()
        == "general/0005-p5.patch"
    )


def test_export_tree_on_any_tree_and_json(setup: Setup) -> None:
    setup.apply()
    result = export_tree(setup.config(), PROJECT, setup.work, setup.base, write=False)
    assert isinstance(result, ExportResult)
    doc = result.to_json()
    assert {"project", "written", "unchanged", "missing", "removed", "untracked"} <= set(doc)
    assert doc["unchanged"] == [f"general/000{i}-p{i}.patch" for i in range(1, 6)]


def test_renders_with_users_git_config_hidden(setup: Setup, tmp_path: Path) -> None:
    # a global config full of output settings must not reach the files
    home_config = Path.home() / ".gitconfig"
    home_config.write_text(
        "[diff]\n\tnoprefix = true\n[format]\n\tsignature = ACME\n[core]\n\tabbrev = 4\n"
    )
    setup.apply()
    setup.wgit("commit", "-q", "--amend", "-m", "Tweak api_30 once more")
    export_project(setup.config(), PROJECT)
    text = (setup.patch_dir() / "0005-p5.patch").read_bytes()
    assert b"diff --git a/sample/api.py b/sample/api.py" in text
    assert b"ACME" not in text


def test_git_version_does_not_matter_for_kept_files() -> None:
    # the golden file was written by this git; a file from another version only
    # differs in form (signature), which export never rewrites
    golden = (SAMPLES / "render-basic.patch").read_bytes()
    older = golden.rstrip(b"\n") + b"\n-- \n2.17.1\n\n"
    assert same_meaning(older, golden)
    assert subprocess.run(["git", "--version"], capture_output=True).returncode == 0
