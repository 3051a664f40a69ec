"""bump: a release move on a generated upstream — prune, re-apply, refresh, pin, undo.

The upstream (``release_scenario``) has releases 1.0.0 and 2.0.0, a stable
branch ``stable/1.x`` and a patch series on 1.0.0 where, against 2.0.0:

- cherry-pick/0001 is merged identical (a ``cherry-pick -x`` of master's fix);
- cherry-pick/0002 is merged modified (a backport with its own conflict resolution);
- cherry-pick/0003 is partial (a squash of two master commits; 2.0.0 has one);
- general/0001 applies cleanly, general/0002 applies with an offset;
- customs/0001 conflicts with 2.0.0's rework of the same function.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.builders import PatchRepo, Upstream, git, sample_upstream, side_commit
from verda_patch import bump, config
from verda_patch.apply import Hooks
from verda_patch.errors import OperationFailed, PatchConflict, UserError

BASE_COMMIT = """\
# Pinned upstream bases. Keep this comment!
other:   # a second project the bump must not touch
  upstream: /nonexistent/other
  commit: {other}

sample:
  upstream: ../upstream   # a local path in tests
  commit: {commit}  # 1.0.0
  ref: 1.0.0                # the release we ship
  branch: master
"""

FILES = {
    "A": "cherry-pick/0001-Fix-api_3-return-value.patch",
    "B": "cherry-pick/0002-Raise-the-default-RAM-limit.patch",
    "C": "cherry-pick/0003-Scheduler-and-API-fixes.patch",
    "D": "general/0001-Document-the-sample.patch",
    "H": "general/0002-Fix-api_35.patch",
    "E": "customs/0001-Apply-the-Verda-factor.patch",
}


@dataclass
class Scenario:
    up: Upstream
    repo: PatchRepo
    old: str
    new: str

    @property
    def root(self) -> Path:
        return self.repo.path

    def patch(self, key: str) -> Path:
        return self.root / "patches" / "sample" / FILES[key]

    def config(self) -> config.RepoConfig:
        return config.load(self.root)

    def snapshot(self) -> dict[str, str]:
        """sha256 of base-commit and every file under patches/ (what --abort must restore)."""
        files = [self.root / "base-commit", *sorted((self.root / "patches").rglob("*"))]
        return {
            str(p.relative_to(self.root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in files
            if p.is_file()
        }

    def resolve_conflict(self) -> str:
        """Resolve customs/0001 in the work tree the way a developer would (edit + add)."""
        tree = self.root / ".verda" / "work" / "sample"
        api = (tree / "sample" / "api.py").read_text()
        start = api.index("<<<<<<<")
        end = api.index(">>>>>>>")
        end = api.index("\n", end) + 1
        resolved = "def api_20():\n    return compute(20) * VERDA_FACTOR\n"
        api = api[:start] + resolved + api[end:]
        api = api.replace("def api_20():\ndef api_20():\n", "def api_20():\n")
        (tree / "sample" / "api.py").write_text(api)
        return api


def _api(up: Upstream, ref: str) -> str:
    return up.read(ref, "sample/api.py").decode()


def _replace(up: Upstream, path: str, old: str, new: str, ref: str = "HEAD") -> dict[str, str]:
    text = up.read(ref, path).decode()
    assert old in text, (path, old)
    return {path: text.replace(old, new, 1)}


def release_scenario(where: Path) -> Scenario:
    """Build the scenario in ``where`` (``upstream/`` and ``repo/``, base-commit relative)."""
    up = sample_upstream(where / "upstream")  # 1.0.0 tagged
    old = up.rev("1.0.0")
    up.branch("stable/1.x")

    # --- master towards 2.0.0 ---
    fix_a = up.commit(
        "Fix api_3 return value", _replace(up, "sample/api.py", "return 3\n", "return 303\n")
    )
    fix_b = up.commit(
        "Raise the default RAM limit",
        _replace(up, "sample/quota.py", "'ram': 51200}", "'ram': 65536}\nLIMITS_VERSION = 2"),
    )
    fix_c1 = up.commit(
        "Weigh hosts by cores",
        _replace(up, "sample/scheduler.py", "return host.free * 5\n", "return host.cores * 5\n"),
    )
    up.commit(
        "Rework api_20 to compute",
        _replace(
            up,
            "sample/api.py",
            "def api_20():\n    return 20\n",
            "def api_20():\n    return compute(20)\n",
        ),
    )
    up.commit(
        "Add a module docstring",
        _replace(
            up,
            "sample/api.py",
            "def api_0():",
            '"""The sample API.\n\nEvery call\nreturns a number.\n"""\n\n\ndef api_0():',
        ),
    )
    up.commit(
        "Update requirements",
        {
            "requirements.txt": "oslo.config>=9.4.0  # Apache-2.0\nrequests>=2.25\n"
            "oslo.db>=16.0.0\n",
            "test-requirements.txt": "stestr>=3.0  # Apache-2.0\n",
            "setup.cfg": "[metadata]\nname = sample\npython_requires = >=3.10\n",
        },
    )
    up.tag("2.0.0")
    new = up.rev("2.0.0")
    fix_c2 = up.commit(
        "Fix api_30 return value", _replace(up, "sample/api.py", "return 30\n", "return 3030\n")
    )

    # --- stable/1.x: the backports, as the stable team made them ---
    up.checkout("stable/1.x")
    back_a = up.cherry_pick(fix_a)
    up.checkout("master")
    # B backported with a different resolution: the RAM change without LIMITS_VERSION
    back_b = side_commit(
        up,
        old,
        "Raise the default RAM limit",
        _replace(up, "sample/quota.py", "'ram': 51200}", "'ram': 65536}", ref=old),
        trailers=(f"(cherry picked from commit {fix_b})",),
    )
    # a downstream squash of C1 + C2, citing both
    squash = side_commit(
        up,
        old,
        "Scheduler and API fixes",
        {
            **_replace(
                up,
                "sample/scheduler.py",
                "return host.free * 5\n",
                "return host.cores * 5\n",
                ref=old,
            ),
            **_replace(up, "sample/api.py", "return 30\n", "return 3030\n", ref=old),
        },
        change_id=False,
        trailers=(f"(cherry picked from commit {fix_c1})", f"(cherry picked from commit {fix_c2})"),
    )
    doc = side_commit(
        up,
        old,
        "Document the sample",
        {"README.rst": "Sample\n======\n\nDocs.\n"},
        change_id="I" + "d" * 40,
    )
    api35 = side_commit(
        up,
        old,
        "Fix api_35",
        _replace(up, "sample/api.py", "return 35\n", "return 3535\n", ref=old),
        change_id="I" + "e" * 40,
    )
    factor = side_commit(
        up,
        old,
        "Apply the Verda factor",
        _replace(
            up,
            "sample/api.py",
            "def api_20():\n    return 20\n",
            "def api_20():\n    return 20 * VERDA_FACTOR\n",
            ref=old,
        ),
        change_id=False,
    )

    repo = PatchRepo(where / "repo")
    other = hashlib.sha1(b"other").hexdigest()
    (repo.path / "base-commit").write_text(BASE_COMMIT.format(other=other, commit=old))
    for key, sha in (
        ("A", back_a),
        ("B", back_b),
        ("C", squash),
        ("D", doc),
        ("H", api35),
        ("E", factor),
    ):
        category, _, name = FILES[key].partition("/")
        repo.add_patch("sample", category, name, up.format_patch(sha))
    repo.series(
        "sample",
        "cherry-pick",
        [
            "# backports from master",
            FILES["A"].split("/")[1],
            FILES["B"].split("/")[1],
            FILES["C"].split("/")[1],
        ],
    )
    repo.series("sample", "customs", [FILES["E"].split("/")[1]])
    (repo.path / ".gitignore").write_text(".verda/\n")
    repo.commit_all("sample on 1.0.0")
    return Scenario(up, repo, old, new)


def build_template(tmp_path_factory) -> tuple[Path, str, str]:
    where = tmp_path_factory.mktemp("release-scenario")
    s = release_scenario(where)
    return where, s.old, s.new


def copy_scenario(template: tuple[Path, str, str], tmp_path: Path) -> Scenario:
    """A private copy of the scenario (building it once saves ~1 s a test)."""
    template_dir, old, new = template
    where = tmp_path / "scenario"
    shutil.copytree(template_dir, where, symlinks=True)
    up = Upstream.__new__(Upstream)
    up.path, up.tick = where / "upstream", 100
    repo = PatchRepo.__new__(PatchRepo)
    repo.path, repo.bases = where / "repo", {}
    return Scenario(up, repo, old, new)


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> tuple[Path, str, str]:
    return build_template(tmp_path_factory)


@pytest.fixture
def scenario(template, tmp_path) -> Scenario:
    return copy_scenario(template, tmp_path)


def _to_conflict(s: Scenario, plan: bump.Plan | None = None) -> PatchConflict:
    """Start the bump and run it to its conflict in customs/0001.

    It stops first at the partial squash: 2.0.0 already has its scheduler half,
    so the patch does not apply exactly; the 3-way merge is staged for review,
    never taken in the patch's place, and --continue takes it.
    """
    with pytest.raises(PatchConflict) as first:
        bump.start(s.config(), plan or bump.plan(s.config(), "sample", "2.0.0"))
    assert first.value.patch == FILES["C"]
    assert first.value.paths == ("sample/scheduler.py",)
    assert "3-way merge of it is staged for review" in first.value.message
    with pytest.raises(PatchConflict) as second:
        bump.resume(s.config(), "sample")
    return second.value


def _applied(s: Scenario) -> None:
    from verda_patch.apply import apply_project

    apply_project(s.config(), "sample")


# --- planning ---------------------------------------------------------------------------------


def test_plan_classifies_and_changes_nothing(scenario):
    s = scenario
    _applied(s)
    before = s.snapshot()
    plan = bump.plan(s.config(), "sample", "2.0.0")
    verdicts = {v.file: v for v in plan.verdicts}
    assert (verdicts[FILES["A"]].status, verdicts[FILES["A"]].identical) == ("merged", True)
    assert (verdicts[FILES["B"]].status, verdicts[FILES["B"]].identical) == ("merged", False)
    assert verdicts[FILES["C"]].status == "partial"
    assert {verdicts[FILES[k]].status for k in "DHE"} == {"absent"}
    assert plan.removable == (FILES["A"], FILES["B"])
    assert plan.kept == (FILES["C"], FILES["D"], FILES["H"], FILES["E"])
    assert plan.target.commit == s.new and plan.blocked is None
    assert s.snapshot() == before
    assert not bump.state_path(s.root, "sample").exists()


def test_requirements_diff_pairs_old_and_new_lines(scenario):
    s = scenario
    plan = bump.plan(s.config(), "sample", "2.0.0")
    assert [(r.file, r.name, r.old, r.new) for r in plan.requirements] == [
        ("requirements.txt", "oslo-config", "oslo.config>=9.0", "oslo.config>=9.4.0"),
        ("requirements.txt", "oslo-db", None, "oslo.db>=16.0.0"),
        ("setup.cfg", "python", None, "python_requires = >=3.10"),
        ("test-requirements.txt", "stestr", None, "stestr>=3.0"),
    ]


def test_requirement_line_filter():
    assert bump._requirement("requirements.txt", "pbr!=2.1.0,>=2.0.0 # Apache-2.0") == (
        "pbr",
        "pbr!=2.1.0,>=2.0.0",
    )
    assert bump._requirement("requirements.txt", "oslo.i18n") == ("oslo-i18n", "oslo.i18n")
    assert bump._requirement("requirements.txt", "# comment") is None
    assert bump._requirement("requirements.txt", "-r other.txt") is None
    assert bump._requirement("setup.cfg", "    PyMySQL>=0.8.0 # MIT") == (
        "pymysql",
        "PyMySQL>=0.8.0",
    )
    assert bump._requirement("setup.cfg", "name = nova") is None
    assert bump._requirement("setup.cfg", "    nova-api = nova.cmd.api:main") is None
    assert bump._requirement("setup.cfg", "[extras]") is None


# --- running ---------------------------------------------------------------------------------


def test_end_to_end(scenario):
    s = scenario
    _applied(s)
    stopped = _to_conflict(s)
    assert stopped.patch == FILES["E"] and stopped.paths == ("sample/api.py",)
    assert not s.patch("A").exists() and not s.patch("B").exists()
    series = (s.root / "patches/sample/cherry-pick/series").read_text()
    assert series == f"# backports from master\n{FILES['C'].split('/')[1]}\n"
    assert config.load(s.root).projects["sample"].commit == s.old, "not pinned before the end"

    s.resolve_conflict()  # edited, not 'git add'ed: --continue stages it
    result = bump.resume(s.config(), "sample")
    assert result.new_commit == s.new and result.new_ref == "2.0.0"
    assert [v.file for v in result.pruned] == [FILES["A"], FILES["B"]]
    assert [v.file for v in result.partial] == [FILES["C"]]
    assert set(result.refreshed) == {FILES["C"], FILES["E"]}
    assert set(result.unchanged) == {FILES["D"], FILES["H"]}

    text = (s.root / "base-commit").read_text()
    assert text == BASE_COMMIT.format(
        other=hashlib.sha1(b"other").hexdigest(), commit=s.new
    ).replace("ref: 1.0.0 ", "ref: 2.0.0 ")
    # the partial squash now carries only what 2.0.0 lacks; its provenance stays
    squash = s.patch("C").read_text()
    assert "host.cores" not in squash and "+    return 3030" in squash
    assert f"(cherry picked from commit {s.up.rev('master')})" in squash
    # the resolution is the refreshed patch
    factor = s.patch("E").read_text()
    assert "-    return compute(20)\n+    return compute(20) * VERDA_FACTOR\n" in factor
    assert not bump.state_path(s.root, "sample").exists()
    assert not bump.backup_dir(s.root, "sample").exists()
    tree = s.root / ".verda/work/sample"
    assert git(tree, "rev-parse", "refs/verda/synced") == git(tree, "rev-parse", "HEAD")
    assert git(tree, "merge-base", "--is-ancestor", s.new, "HEAD") == ""


def test_abort_restores_every_byte(scenario):
    s = scenario
    _applied(s)
    tree = s.root / ".verda/work/sample"
    head = git(tree, "rev-parse", "HEAD")
    before = s.snapshot()
    _to_conflict(s)
    assert s.snapshot() != before
    s.resolve_conflict()
    (s.root / "patches/sample/general/9999-stray.patch").write_text("x")  # made meanwhile
    aborted = bump.abort(s.config(), "sample")
    assert s.snapshot() == before
    assert FILES["A"] in {r.split("patches/sample/")[-1] for r in aborted.restored}
    assert aborted.deleted == ("patches/sample/general/9999-stray.patch",)
    assert git(tree, "rev-parse", "HEAD") == head
    assert git(tree, "status", "--porcelain") == ""
    assert not (tree / ".git" / "rebase-apply").exists()
    assert not bump.state_path(s.root, "sample").exists()
    with pytest.raises(UserError, match="no 'base bump' of sample is in progress"):
        bump.abort(s.config(), "sample")


class _Interrupt:
    """Progress callback that raises KeyboardInterrupt at the n-th applied patch."""

    def __init__(self, at: int) -> None:
        self.at = at

    def __call__(self, done: int, total: int) -> None:
        if done == self.at:
            raise KeyboardInterrupt


def test_interrupted_while_applying_then_continue_and_abort(scenario):
    s = scenario
    _applied(s)
    before = s.snapshot()
    with pytest.raises(KeyboardInterrupt):
        bump.start(
            s.config(), bump.plan(s.config(), "sample", "2.0.0"), Hooks(progress=_Interrupt(1))
        )
    assert bump.read_state(s.root, "sample")["phase"] == bump.APPLYING
    with pytest.raises(OperationFailed, match="in progress"):
        bump.plan(s.config(), "sample", "2.0.0")
    with pytest.raises(PatchConflict):  # --continue picks the apply up and meets the conflict
        bump.resume(s.config(), "sample")
    bump.abort(s.config(), "sample")
    assert s.snapshot() == before


def test_interrupted_while_finishing_then_continue(scenario, monkeypatch):
    s = scenario
    real = bump._export
    calls = []

    def flaky(cfg, project):
        calls.append(project)
        if len(calls) == 1:
            raise KeyboardInterrupt
        return real(cfg, project)

    monkeypatch.setattr(bump, "_export", flaky)
    # a series without the conflicting patch, so the apply goes through
    s.patch("E").unlink()
    (s.root / "patches/sample/customs/series").write_text("")
    with pytest.raises(PatchConflict):  # the partial squash's staged 3-way merge
        bump.start(s.config(), bump.plan(s.config(), "sample", "2.0.0"))
    with pytest.raises(KeyboardInterrupt):
        bump.resume(s.config(), "sample")
    assert bump.read_state(s.root, "sample")["phase"] == bump.FINISHING
    result = bump.resume(s.config(), "sample")
    assert result.new_commit == s.new and set(result.refreshed) == {FILES["C"]}


def test_refuses_unsaved_work_before_touching_anything(scenario):
    s = scenario
    _applied(s)
    (s.root / ".verda/work/sample/sample/api.py").write_text("edited\n")
    before = s.snapshot()
    plan = bump.plan(s.config(), "sample", "2.0.0")
    assert plan.blocked and "uncommitted changes" in plan.blocked
    with pytest.raises(OperationFailed, match="uncommitted changes"):
        bump.start(s.config(), plan)
    assert s.snapshot() == before
    assert not bump.state_path(s.root, "sample").exists()


def test_without_a_work_tree(scenario):
    """A fresh clone of the patch repo: the bump makes the work tree; --abort removes it."""
    s = scenario
    before = s.snapshot()
    with pytest.raises(PatchConflict):
        bump.start(s.config(), bump.plan(s.config(), "sample", "2.0.0"))
    bump.abort(s.config(), "sample")
    assert s.snapshot() == before
    assert not (s.root / ".verda/work/sample").exists()


def test_a_patch_dropped_with_am_skip(scenario):
    """Upstream made customs/0001 obsolete: 'git am --skip' drops it; --abort brings it back."""
    s = scenario
    before = s.snapshot()
    _to_conflict(s)
    tree = s.root / ".verda/work/sample"
    git(tree, "am", "--skip")
    result = bump.resume(s.config(), "sample")
    assert result.dropped == (FILES["E"],)
    assert not s.patch("E").exists()
    assert (s.root / "patches/sample/customs/series").read_text() == ""
    assert config.load(s.root).projects["sample"].commit == s.new
    assert "VERDA_FACTOR" not in (tree / "sample/api.py").read_text()
    assert before != s.snapshot()


def test_abort_after_am_skip(scenario):
    s = scenario
    before = s.snapshot()
    _to_conflict(s)
    git(s.root / ".verda/work/sample", "am", "--skip")
    bump.abort(s.config(), "sample")
    assert s.snapshot() == before


def test_interrupted_while_pruning(scenario, monkeypatch):
    """Ctrl-C between two deletions: --continue finishes the pruning, --abort undoes it."""
    from verda_patch.store import Store

    s = scenario
    before = s.snapshot()
    real = Store.remove

    def half(self, project, files):
        files = list(files)
        real(self, project, files[:1])
        raise KeyboardInterrupt

    monkeypatch.setattr(Store, "remove", half)
    with pytest.raises(KeyboardInterrupt):
        bump.start(s.config(), bump.plan(s.config(), "sample", "2.0.0"))
    assert not s.patch("A").exists() and s.patch("B").exists()
    monkeypatch.setattr(Store, "remove", real)
    with pytest.raises(PatchConflict):
        bump.resume(s.config(), "sample")
    assert not s.patch("B").exists()
    bump.abort(s.config(), "sample")
    assert s.snapshot() == before
