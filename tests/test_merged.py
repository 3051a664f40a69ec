"""merged.py: verdicts, match kinds and evidence on a generated upstream with real history.

The scenario (``build_scenario``) is an upstream whose master moved on after the
1.0.0 base and whose stable/1 branch took some of it — unchanged picks, a
conflict-resolved pick, a pick whose lines were edited again, changes merged in
another form — and a patch repo on 1.0.0 holding every kind of patch the issue
names. EXPECTED is the truth per target, written by hand from how the history
was built.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.builders import PatchRepo, Upstream, change_id, git
from verda_patch import config, merged
from verda_patch.errors import UpstreamError
from verda_patch.patchfile import parse_bytes

PROJECT = "svc"


def _module(k: int) -> str:
    return "".join(f"def f{k}_{i}():\n    return {i}\n\n" for i in range(30))


@dataclass
class Scenario:
    upstream: Upstream
    repo: PatchRepo
    base: str
    commits: dict[str, str]

    def config(self) -> config.RepoConfig:
        return config.load(self.repo.path)

    def copy(self, root: Path) -> Scenario:
        """A private copy under ``root`` (building takes ~0.7 s, copying a few ms)."""
        shutil.copytree(self.upstream.path, root / "upstream", symlinks=True)
        shutil.copytree(self.repo.path, root / "patches", symlinks=True)
        up = Upstream.__new__(Upstream)
        up.path, up.tick = root / "upstream", self.upstream.tick
        repo = PatchRepo.__new__(PatchRepo)
        repo.path, repo.bases = root / "patches", {}
        repo.set_base(PROJECT, up, self.base, ref="1.0.0", branch="stable/1")
        repo.commit_all("point base-commit at the copied upstream")
        return Scenario(up, repo, self.base, dict(self.commits))

    def pin(self, ref: str) -> None:
        """Pin the base at ``ref`` (as ``base set`` does): what prune --yes may remove."""
        self.repo.set_base(
            PROJECT, self.upstream, self.upstream.rev(ref), ref=ref, branch="stable/1"
        )
        self.repo.commit_all(f"pin {ref}")


def _edit(up: Upstream, path: str, old: str, new: str) -> dict[str, str]:
    text = (up.path / path).read_text()
    assert old in text, (path, old)
    return {path: text.replace(old, new, 1)}


def _ret(up: Upstream, k: int, i: int, new: str) -> dict[str, str]:
    """Make ``f<k>_<i>`` return ``new`` (in the checked-out tree)."""
    path = f"svc/mod{k}.py"
    text = (up.path / path).read_text()
    head = f"def f{k}_{i}():\n    return "
    start = text.index(head) + len(head)
    end = text.index("\n", start)
    return {path: text[:start] + new + text[end:]}


QUOTED = """Bad rounding in f6_20, seen in review as

    diff --git a/svc/mod6.py b/svc/mod6.py
    --- a/svc/mod6.py
    +++ b/svc/mod6.py
    @@ -1 +1 @@
    -    return 20
    +    return 20.0
"""


def build_scenario(root: Path) -> Scenario:
    up = Upstream(root / "upstream")
    up.commit(
        "Initial import",
        {f"svc/mod{k}.py": _module(k) for k in range(8)} | {"README.rst": "svc\n===\n"},
    )
    up.tag("1.0.0")
    base = up.rev("HEAD")
    c: dict[str, str] = {}

    # master after the base
    c["M1"] = up.commit("Fix f0_3", _ret(up, 0, 3, "3 + 1"))
    c["M2"] = up.commit("Fix f1_5", _ret(up, 1, 5, "5 * 2  # was off by half"))
    c["M3"] = up.commit("Fix f2_1", _ret(up, 2, 1, "1 - 1"))
    c["M4"] = up.commit("Fix f3_1", _ret(up, 3, 1, "-1"))
    c["M5"] = up.commit("Fix f4_1", _ret(up, 4, 1, "-4"))
    c["MG"] = up.commit("Clamp f5_2", _ret(up, 5, 2, "max(2, 0)"), change_id=change_id("gen"))
    c["M6"] = up.commit("Fix f6_1", _ret(up, 6, 1, "1 + 1"))
    c["MQ"] = up.commit("Round f6_20", _ret(up, 6, 20, "20.0"), change_id=change_id("quoted"))
    up.branch("stable/2", "HEAD")  # a newer stable branch: the chain's middle link
    c["M7"] = up.commit("Fix f2_20", _ret(up, 2, 20, "20 + 7"))
    up.checkout("stable/2")
    c["S7b"] = up.cherry_pick(c["M7"])
    up.checkout("master")

    # stable/1 from the base: what it took, and when
    up.branch("stable/1", base)
    up.checkout("stable/1")
    c["S1"] = up.cherry_pick(c["M1"])
    c["S2"] = up.commit(  # conflict resolution: the backport's diff differs
        "Fix f1_5",
        _ret(up, 1, 5, "5 * 2"),
        change_id=change_id("Fix f1_5"),
        body="Conflicts:\n    svc/mod1.py",
        trailers=(f"(cherry picked from commit {c['M2']})",),
    )
    up.tag("1.0.1")
    c["S4"] = up.cherry_pick(c["M4"])
    c["SG"] = up.cherry_pick(c["MG"])
    c["S6"] = up.cherry_pick(c["M6"])
    c["E6"] = up.commit("Rework f6_1 again", _ret(up, 6, 1, "1 + 2"))
    c["SQ"] = up.cherry_pick(c["MQ"])
    c["S7"] = up.cherry_pick(c["M7"])
    c["UC2"] = up.commit(
        "Add helper to mod7",
        _edit(
            up,
            "svc/mod7.py",
            "    return 29\n",
            "    return 29\n\n\ndef helper():\n    return 42\n",
        ),
        change_id=False,
    )
    c["UN1"] = up.commit(
        "Harden f5_20 and say so",
        _ret(up, 5, 20, "abs(20)") | {"README.rst": "svc\n===\n\nHardened.\n"},
    )
    c["UN2"] = up.commit("Fix f0_20", _ret(up, 0, 20, "20 + 0"))
    up.tag("1.0.2")
    up.checkout("master")

    # the downstream series, made on the base as a developer would
    up.checkout(base)
    git(up.path, "checkout", "-q", "-b", "downstream")
    made: list[tuple[str, str, str]] = []  # (category, file name, commit)

    def keep(category: str, name: str) -> None:
        made.append((category, name, up.rev("HEAD")))

    up.cherry_pick(c["M1"])
    keep("cherry-pick", "0001-Fix-f0_3.patch")
    up.cherry_pick(c["M2"])
    keep("cherry-pick", "0002-Fix-f1_5.patch")
    up.cherry_pick(c["M3"])
    keep("cherry-pick", "0003-Fix-f2_1.patch")
    up.commit(
        "Fix f3_1 and f4_1",
        _ret(up, 3, 1, "-1") | _ret(up, 4, 1, "-4"),
        body="Squash of two master fixes.",
        change_id=False,
        trailers=(
            f"Change-Id: {change_id('Fix f3_1')}",
            f"(cherry picked from commit {c['M4']})",
            f"Change-Id: {change_id('Fix f4_1')}",
            f"(cherry picked from commit {c['M5']})",
        ),
    )
    keep("cherry-pick", "0004-Fix-f3_1-and-f4_1.patch")
    up.cherry_pick(c["M6"])
    keep("cherry-pick", "0005-Fix-f6_1.patch")
    up.commit(
        "Fix f2_20",
        _ret(up, 2, 20, "20 + 7"),
        change_id=change_id("Fix f2_20"),
        trailers=(
            f"(cherry picked from commit {c['M7']})",
            f"(cherry picked from commit {c['S7b']})",
        ),
    )
    keep("cherry-pick", "0006-Fix-f2_20.patch")
    up.commit("Clamp f5_2 at zero", _ret(up, 5, 2, "2 if 2 > 0 else 0"), change_id=change_id("gen"))
    keep("general", "0001-Clamp-f5_2.patch")
    up.commit(
        "Round f6_20",
        _ret(up, 6, 20, "20.0"),
        body=QUOTED,
        change_id=False,
        trailers=(f"Change-Id:  {change_id('quoted')}",),
    )
    keep("general", "0002-Round-f6_20.patch")
    up.commit("Harden f5_20", _ret(up, 5, 20, "abs(20)"), change_id=False)
    keep("general", "0003-Harden-f5_20.patch")
    up.commit(
        "Fix f0_20 and f7_20",
        _ret(up, 0, 20, "20 + 0") | _ret(up, 7, 20, "20 + 0"),
        change_id=False,
    )
    keep("general", "0004-Fix-f0_20-and-f7_20.patch")
    up.commit("Verda: tune f7_1", _ret(up, 7, 1, "'verda'"), change_id=False)
    keep("customs", "0001-Verda-tune-f7_1.patch")
    up.commit(
        "Verda: add helper",
        _edit(
            up,
            "svc/mod7.py",
            "    return 29\n",
            "    return 29\n\n\ndef helper():\n    return 42\n",
        ),
        change_id=False,
    )
    keep("customs", "0002-Verda-add-helper.patch")

    repo = PatchRepo(root / "patches")
    repo.set_base(PROJECT, up, base, ref="1.0.0", branch="stable/1")
    for category, name, rev in made:
        repo.add_patch(PROJECT, category, name, up.format_patch(rev))
    repo.series(
        PROJECT, "cherry-pick", ["# backports", *(n for cat, n, _ in made if cat == "cherry-pick")]
    )
    repo.series(PROJECT, "general", [n for cat, n, _ in made if cat == "general"])
    repo.commit_all("patches on 1.0.0")
    up.checkout("master")
    git(up.path, "branch", "-D", "downstream")
    return Scenario(up, repo, base, c)


# verdict, match, identical per patch and target (None: absent)
CP = "cherry-pick/"
GEN = "general/"
CUS = "customs/"
EXPECTED: dict[str, dict[str, tuple[str, str | None, bool]]] = {
    "stable/1": {
        CP + "0001-Fix-f0_3.patch": ("merged", "cherry-picked-from", True),
        CP + "0002-Fix-f1_5.patch": ("merged", "cherry-picked-from", False),
        CP + "0003-Fix-f2_1.patch": ("absent", None, False),
        CP + "0004-Fix-f3_1-and-f4_1.patch": ("partial", "cherry-picked-from", False),
        CP + "0005-Fix-f6_1.patch": ("merged", "cherry-picked-from", True),
        CP + "0006-Fix-f2_20.patch": ("merged", "cherry-picked-from", True),
        GEN + "0001-Clamp-f5_2.patch": ("merged", "change-id", False),
        GEN + "0002-Round-f6_20.patch": ("merged", "change-id", True),
        GEN + "0003-Harden-f5_20.patch": ("merged", "reverse-apply", False),
        GEN + "0004-Fix-f0_20-and-f7_20.patch": ("partial", "reverse-apply", False),
        CUS + "0001-Verda-tune-f7_1.patch": ("absent", None, False),
        CUS + "0002-Verda-add-helper.patch": ("merged", "patch-id", True),
    },
    "1.0.1": {
        CP + "0001-Fix-f0_3.patch": ("merged", "cherry-picked-from", True),
        CP + "0002-Fix-f1_5.patch": ("merged", "cherry-picked-from", False),
        CP + "0003-Fix-f2_1.patch": ("absent", None, False),
        CP + "0004-Fix-f3_1-and-f4_1.patch": ("absent", None, False),
        CP + "0005-Fix-f6_1.patch": ("absent", None, False),
        CP + "0006-Fix-f2_20.patch": ("absent", None, False),
        GEN + "0001-Clamp-f5_2.patch": ("absent", None, False),
        GEN + "0002-Round-f6_20.patch": ("absent", None, False),
        GEN + "0003-Harden-f5_20.patch": ("absent", None, False),
        GEN + "0004-Fix-f0_20-and-f7_20.patch": ("absent", None, False),
        CUS + "0001-Verda-tune-f7_1.patch": ("absent", None, False),
        CUS + "0002-Verda-add-helper.patch": ("absent", None, False),
    },
    "master": {
        CP + "0001-Fix-f0_3.patch": ("merged", "same-commit", True),
        CP + "0002-Fix-f1_5.patch": ("merged", "same-commit", True),
        CP + "0003-Fix-f2_1.patch": ("merged", "same-commit", True),
        CP + "0004-Fix-f3_1-and-f4_1.patch": ("merged", "same-commit", False),
        CP + "0005-Fix-f6_1.patch": ("merged", "same-commit", True),
        CP + "0006-Fix-f2_20.patch": ("merged", "same-commit", True),
        GEN + "0001-Clamp-f5_2.patch": ("merged", "change-id", False),
        GEN + "0002-Round-f6_20.patch": ("merged", "change-id", True),
        GEN + "0003-Harden-f5_20.patch": ("absent", None, False),
        GEN + "0004-Fix-f0_20-and-f7_20.patch": ("absent", None, False),
        CUS + "0001-Verda-tune-f7_1.patch": ("absent", None, False),
        CUS + "0002-Verda-add-helper.patch": ("absent", None, False),
    },
}
EXPECTED["1.0.2"] = EXPECTED["stable/1"]


def precision_recall(
    report: merged.Report, truth: dict[str, tuple[str, str | None, bool]]
) -> tuple[float, float]:
    said = {v.file for v in report.verdicts if v.status == "merged"}
    real = {f for f, (status, _, _) in truth.items() if status == "merged"}
    hit = len(said & real)
    return (hit / len(said) if said else 1.0), (hit / len(real) if real else 1.0)


@pytest.fixture(scope="session")
def built_scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    return build_scenario(tmp_path_factory.mktemp("scenario"))


@pytest.fixture
def scenario(built_scenario: Scenario, tmp_path: Path) -> Scenario:
    return built_scenario.copy(tmp_path / "scenario")


@pytest.mark.parametrize("target", ["stable/1", "1.0.1", "1.0.2", "master"])
def test_verdicts_per_target(scenario: Scenario, target: str) -> None:
    report = merged.detect(scenario.config(), PROJECT, target)
    got = {v.file: (v.status, v.match, v.identical) for v in report.verdicts}
    assert got == EXPECTED[target]
    assert precision_recall(report, EXPECTED[target]) == (1.0, 1.0)
    assert report.commit == scenario.upstream.rev(target)
    assert not any(v.removed for v in report.verdicts)


def test_default_target_is_the_pinned_base(scenario: Scenario) -> None:
    report = merged.detect(scenario.config(), PROJECT)
    assert (report.ref, report.commit, report.forecast) == ("1.0.0", scenario.base, False)
    assert {v.status for v in report.verdicts} == {"absent"}
    assert merged.detect(scenario.config(), PROJECT, "stable/1").forecast
    # a commit id works too, and needs no fetch once the mirror has it
    again = merged.detect(scenario.config(), PROJECT, scenario.commits["S2"])
    assert again.commit == scenario.commits["S2"]
    assert {v.file: (v.status, v.match, v.identical) for v in again.verdicts} == EXPECTED["1.0.1"]


def test_evidence_names_the_upstream_commits(scenario: Scenario) -> None:
    c = scenario.commits
    by_file = {v.file: v for v in merged.detect(scenario.config(), PROJECT, "stable/1").verdicts}

    picked = by_file[CP + "0001-Fix-f0_3.patch"]
    assert [u.sha for u in picked.upstream] == [c["S1"]]
    assert picked.upstream[0].subject == "Fix f0_3"
    assert picked.changed_lines is None

    conflict = by_file[CP + "0002-Fix-f1_5.patch"]
    assert [u.sha for u in conflict.upstream] == [c["S2"]]
    assert conflict.changed_lines == merged.ChangedLines(patch_only=1, upstream_only=1)

    squash = by_file[CP + "0004-Fix-f3_1-and-f4_1.patch"]
    assert [u.sha for u in squash.upstream] == [c["S4"]]
    assert len(squash.origins) == 2
    assert [o.present for o in squash.origins] == [True, False]
    assert squash.origins[1].commits == (c["M5"],)
    assert squash.missing and c["M5"][:12] in squash.missing[0]

    chain = by_file[CP + "0006-Fix-f2_20.patch"]
    assert len(chain.origins) == 1  # M7 and its stable/2 pick share a Change-Id: one change
    assert set(chain.origins[0].commits) >= {c["M7"], c["S7b"]}
    assert [u.sha for u in chain.upstream] == [c["S7"]]

    general = by_file[GEN + "0001-Clamp-f5_2.patch"]
    assert [u.sha for u in general.upstream] == [c["SG"]]
    assert general.changed_lines == merged.ChangedLines(patch_only=1, upstream_only=1)

    partial = by_file[GEN + "0004-Fix-f0_20-and-f7_20.patch"]
    assert partial.missing == ("svc/mod7.py",)

    customs = by_file[CUS + "0002-Verda-add-helper.patch"]
    assert [u.sha for u in customs.upstream] == [c["UC2"]]
    assert customs.warning and "--include-customs" in customs.warning
    assert not customs.removable()
    assert customs.removable(include_customs=True)


def test_quoted_diff_and_two_space_change_id_parse(scenario: Scenario) -> None:
    path = scenario.repo.path / "patches" / PROJECT / GEN / "0002-Round-f6_20.patch"
    patch = parse_bytes(path.read_bytes(), source=path)
    assert patch.change_ids == (change_id("quoted"),)
    assert [f.path for f in patch.files] == ["svc/mod6.py"]
    assert b"20.0" in patch.diff and b"review" not in patch.diff


def test_remove_deletes_exactly_the_merged_set(scenario: Scenario) -> None:
    scenario.pin("stable/1")
    cfg = scenario.config()
    report = merged.remove(cfg, merged.detect(cfg, PROJECT))
    removed = {v.file for v in report.verdicts if v.removed}
    assert removed == {
        f
        for f, (s, _, _) in EXPECTED["stable/1"].items()
        if s == "merged" and not f.startswith(CUS)
    }
    folder = scenario.repo.path / "patches" / PROJECT
    left = {str(p.relative_to(folder)) for p in folder.rglob("*.patch")}
    assert left == set(EXPECTED["stable/1"]) - removed
    series = (folder / "cherry-pick" / "series").read_text().splitlines()
    assert series == ["# backports", "0003-Fix-f2_1.patch", "0004-Fix-f3_1-and-f4_1.patch"]
    # what is left still loads, and nothing is merged any more but the kept customs
    after = merged.detect(config.load(scenario.repo.path), PROJECT)
    assert [v.file for v in after.verdicts if v.status == "merged"] == [
        CUS + "0002-Verda-add-helper.patch"
    ]


def test_include_customs_removes_merged_customs_too(scenario: Scenario) -> None:
    scenario.pin("stable/1")
    cfg = scenario.config()
    report = merged.remove(cfg, merged.detect(cfg, PROJECT, include_customs=True))
    assert CUS + "0002-Verda-add-helper.patch" in {v.file for v in report.verdicts if v.removed}
    assert not (
        scenario.repo.path / "patches" / PROJECT / CUS / "0002-Verda-add-helper.patch"
    ).exists()


def test_unknown_ref_is_a_user_error_naming_it(scenario: Scenario) -> None:
    with pytest.raises(UpstreamError) as info:
        merged.detect(scenario.config(), PROJECT, "no-such-branch")
    assert "no-such-branch" in str(info.value)
    assert str(scenario.upstream.path) in str(info.value)
    assert info.value.exit_code == 2


def test_revert_in_the_range_means_not_merged(tmp_path: Path) -> None:
    up = Upstream(tmp_path / "up")
    up.commit("Initial import", {"svc/mod0.py": _module(0)})
    base = up.rev("HEAD")
    fix = up.commit("Fix f0_3", _ret(up, 0, 3, "3 + 1"))
    patch_text = up.format_patch(fix)
    stamp = "@1700009999 +0000"
    git(
        up.path,
        "revert",
        "--no-edit",
        fix,
        env={
            "GIT_AUTHOR_NAME": "Upstream Dev",
            "GIT_AUTHOR_EMAIL": "dev@upstream.example.org",
            "GIT_AUTHOR_DATE": stamp,
            "GIT_COMMITTER_DATE": stamp,
        },
    )
    patch = parse_bytes(
        patch_text, source=Path("0001.patch"), file="general/0001.patch", category="general"
    )
    count, (verdict,) = merged.classify(up.path, base, up.rev("HEAD"), [patch])
    assert count == 2
    assert (verdict.status, verdict.match) == ("absent", None)
    assert verdict.origins[0].reverted_by == (up.rev("HEAD"),)


def test_parse_log_handles_renames_modes_and_odd_names() -> None:
    a, b, c = "a" * 40, "b" * 40, "c" * 40
    data = (
        f"{a}\0{b}\0Subject\n\nchange-id:  I{'AB' * 20}\nChange-Id: Ishort\n"
        f"(cherry picked from commit {c})\n\0"
        f"\n:100644 100755 {'1' * 40} {'1' * 40} M\0mode-only\0"
        f":100644 100644 {'1' * 40} {'2' * 40} M\0sp ace/\u00e9.py\0"
        f":000000 100644 {'0' * 40} {'3' * 40} A\0{'d' * 40}\0"
        f"{b}\0{c} {a}\0Merge\n\0"
    ).encode()
    first, second = merged._parse_log(data)
    assert first.change_ids == ("I" + "ab" * 20,)
    assert first.cited == (c,)
    assert first.paths == frozenset({"sp ace/\u00e9.py", "d" * 40})
    assert (second.sha, second.merge, second.paths) == (b, True, frozenset())


def test_reverse_apply_batches_trust_only_a_clean_exit() -> None:
    """One git apply per batch; a failed batch is split by the files stderr names, and
    checked one by one when it names none: a piece only passes on an exit 0."""
    pieces = [merged._Piece((i, 0), frozenset({f"f{i}"}), f"diff {i}\n".encode()) for i in range(4)]
    good = {b"diff 0\n", b"diff 2\n"}
    calls: list[bytes] = []

    def check(diff: bytes) -> tuple[int, str]:
        calls.append(diff)
        bad = [chunk for chunk in diff.splitlines(keepends=True) if chunk not in good]
        named = "".join(
            f"error: f{chunk.split()[1].decode()}: patch does not apply\n" for chunk in bad
        )
        return (1, named) if bad else (0, "")

    assert merged._check_batch(check, pieces) == {(0, 0), (2, 0)}
    assert len(calls) == 2  # the batch, then the two it did not name

    def mute(diff: bytes) -> tuple[int, str]:
        calls.append(diff)
        return (0, "") if diff in good else (128, "fatal: corrupt patch")

    calls.clear()
    assert merged._check_batch(mute, pieces) == {(0, 0), (2, 0)}
    assert len(calls) == 1 + 4
    # a file changed by two patches never shares a batch (git apply would chain them)
    same = [
        merged._Piece((0, 0), frozenset({"a"}), b""),
        merged._Piece((1, 0), frozenset({"a"}), b""),
        merged._Piece((2, 0), frozenset({"b"}), b""),
    ]
    assert [[p.key for p in batch] for batch in merged._rounds(same)] == [
        [(0, 0), (2, 0)],
        [(1, 0)],
    ]


def test_cited_commits_the_mirror_lacks_or_abbreviated(tmp_path: Path) -> None:
    up = Upstream(tmp_path / "up")
    up.commit("Initial import", {"svc/mod0.py": _module(0)})
    base = up.rev("HEAD")
    up.branch("stable/1")
    fix = up.commit("Fix f0_3", _ret(up, 0, 3, "3 + 1"))
    other = up.commit("Fix f0_9", _ret(up, 0, 9, "9 + 1"))
    up.checkout("stable/1")
    up.cherry_pick(fix)
    target = up.rev("HEAD")
    unknown = "ab" * 20  # a fork's commit this upstream never had

    def patch(name: str, cites: list[str], cid: str | None, diff_from: str) -> object:
        text = up.format_patch(diff_from).decode()
        lines = "".join(f"(cherry picked from commit {c})\n" for c in cites)
        text = text.replace(f"Change-Id: {change_id('Fix f0_3')}\n", "")
        text = text.replace(f"Change-Id: {change_id('Fix f0_9')}\n", "")
        head, _, rest = text.partition("\n---\n")
        head += "\n" + lines + (f"Change-Id: {cid}\n" if cid else "")
        return parse_bytes(
            (head + "\n---\n" + rest).encode(),
            source=Path(name),
            file=f"cherry-pick/{name}",
            category="cherry-pick",
        )

    patches = [
        # master's fix, abbreviated, plus a fork's pick of it: one change, merged
        patch("1.patch", [fix[:12], unknown], change_id("Fix f0_3"), fix),
        # the fork's commit alone, no Change-Id: nothing upstream cites it, but the
        # stable pick has the very same diff
        patch("2.patch", [unknown], None, fix),
        # a fix stable/1 does not have, cited in full
        patch("3.patch", [other], change_id("Fix f0_9"), other),
    ]
    _, verdicts = merged.classify(up.path, base, target, patches)
    got = [(v.status, v.match, len(v.origins)) for v in verdicts]
    assert got == [
        ("merged", "cherry-picked-from", 1),
        ("merged", "patch-id", 1),
        ("absent", None, 1),
    ]
    assert verdicts[0].origins[0].commits[:2] == (fix, unknown)


def test_user_git_config_cannot_change_verdicts(scenario: Scenario) -> None:
    hostile = (
        "[diff]\n\tnoprefix = true\n\talgorithm = histogram\n\trenames = copies\n"
        "\tcontext = 7\n[color]\n\tui = always\n[log]\n\tshowSignature = true\n"
        "\tdecorate = full\n[core]\n\tquotePath = false\n[format]\n\tpretty = oneline\n"
    )
    (Path.home() / ".gitconfig").write_text(hostile)
    report = merged.detect(scenario.config(), PROJECT, "stable/1")
    got = {v.file: (v.status, v.match, v.identical) for v in report.verdicts}
    assert got == EXPECTED["stable/1"]


def test_malformed_change_ids_are_ignored_not_fatal(tmp_path: Path) -> None:
    up = Upstream(tmp_path / "up")
    up.commit("Initial import", {"svc/mod0.py": _module(0)})
    base = up.rev("HEAD")
    fix = up.commit(
        "Fix f0_3",
        _ret(up, 0, 3, "3 + 1"),
        change_id=False,
        trailers=("Change-Id: I1234", "change-id:\tI" + "AB" * 20 + "  "),
    )
    text = up.format_patch(fix)
    patch = parse_bytes(text, source=Path("1.patch"), file="general/1.patch", category="general")
    # one reading everywhere, as lenient as upstream's messages; "I1234" is no Change-Id
    assert patch.change_ids == ("I" + "ab" * 20,)
    count, (verdict,) = merged.classify(up.path, base, fix, [patch])
    assert (count, verdict.status, verdict.match, verdict.identical) == (
        1,
        "merged",
        "change-id",
        True,
    )
    assert verdict.origins[0].change_ids == ("I" + "ab" * 20,)
    body = git(up.path, "log", "-1", "--format=%B", fix)
    (indexed,) = merged._parse_log(f"{fix}\0{base}\0{body}\0".encode())
    assert indexed.change_ids == ("I" + "ab" * 20,)
